//! Section 2: dropout's backward against finite differences, as in the
//! notebook (x = randn(10, 10) + 10, keep probability 0.8, mask seed 123).

use gradtape_core::gradcheck::{eval_numerical_gradient_array, rel_error};
use gradtape_core::{rng_from_seed, Mode, Result, Tape, Tensor};

/// Relative error between dropout's analytic and numeric `dx`. Every
/// forward re-seeds the mask generator with `mask_seed`, as the notebook's
/// `dropout_param['seed']` does, so each probe sees the same mask.
///
/// ```
/// let err = gradtape_notebook::dropout_backward::run(0.8, 123, 231, false).unwrap();
/// assert!(err < 1e-9);
/// ```
pub fn run(p: f64, mask_seed: u64, data_seed: u64, print: bool) -> Result<f64> {
    let mut rng = rng_from_seed(data_seed);
    let mut x = Tensor::randn(&[10, 10], &mut rng).map(|v| v + 10.0);
    let dout = Tensor::randn(&[10, 10], &mut rng);

    let forward = |tape: &mut Tape, x: &Tensor| -> Result<_> {
        let xv = tape.leaf(x.clone());
        let out = tape.dropout(xv, p, Mode::Train, &mut rng_from_seed(mask_seed))?;
        Ok((xv, out))
    };
    // Analytic: back-propagate sum(out * dout).
    let mut tape = Tape::new();
    let (xv, out) = forward(&mut tape, &x)?;
    let d = tape.input(dout.clone());
    let weighted = tape.mul(out, d)?;
    let loss = tape.sum(weighted)?;
    tape.backward(loss)?;
    let dx = tape.grad(xv).cloned().unwrap_or_default();

    let dx_num = eval_numerical_gradient_array(
        |xx| {
            let mut t = Tape::new();
            let (_, out) = forward(&mut t, xx)?;
            Ok(t.value(out)?.clone())
        },
        &mut x,
        &dout,
        1e-5,
    )?;
    let err = rel_error(&dx, &dx_num)?;
    if print {
        println!("dx relative error: {err:e}");
    }
    Ok(err)
}
