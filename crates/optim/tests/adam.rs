//! Adam and AdamW against hand-computed values and an independent scalar
//! re-implementation of `optim.py`'s `adam`.

use gradtape_optim::{build, Adam, AdamConfig, Optimizer, UpdateRule};

fn close(actual: &[f64], expected: &[f64], tol: f64) {
    assert_eq!(actual.len(), expected.len());
    for (i, (a, e)) in actual.iter().zip(expected).enumerate() {
        assert!(
            (a - e).abs() <= tol,
            "element {i}: got {a:e}, expected {e:e} (diff {:e})",
            (a - e).abs()
        );
    }
}

fn adam(lr: f64) -> Adam {
    Adam::new(AdamConfig {
        learning_rate: lr,
        ..AdamConfig::default()
    })
    .unwrap()
}

#[test]
fn one_step_moves_each_weight_by_about_lr_times_sign() {
    let mut opt = adam(1e-3);
    let mut w = vec![1.0, -2.0, 0.5];
    opt.update("W1", &mut w, &[0.1, -0.2, 0.3]).unwrap();
    // t = 1: m = 0.1 * dw, v = 0.001 * dw², so mt = dw and vt = dw², and
    // w -= 1e-3 * dw / (|dw| + 1e-8).
    let expected = [
        1.0 - 1e-3 * 0.1 / (0.1 + 1e-8),
        -2.0 + 1e-3 * 0.2 / (0.2 + 1e-8),
        0.5 - 1e-3 * 0.3 / (0.3 + 1e-8),
    ];
    close(&w, &expected, 1e-15);
    // The same numbers as decimals.
    close(
        &w,
        &[0.9990000001, -1.99900000005, 0.499_000_000_033_333_34],
        1e-15,
    );
    // ~ lr * sign(dw)
    close(&w, &[1.0 - 1e-3, -2.0 + 1e-3, 0.5 - 1e-3], 1e-9);

    let (m, v) = opt.moments("W1").unwrap();
    close(m, &[0.01, -0.02, 0.03], 1e-17);
    close(v, &[0.001 * 0.01, 0.001 * 0.04, 0.001 * 0.09], 1e-19);
    assert_eq!(opt.step_count("W1"), Some(1));
}

#[test]
fn two_steps_by_hand() {
    let mut opt = adam(1e-3);
    let mut w = vec![1.0, -2.0];
    opt.update("W1", &mut w, &[0.1, -0.2]).unwrap();
    opt.update("W1", &mut w, &[0.2, 0.1]).unwrap();
    // Step 2, element 0:
    //   m  = 0.9 * 0.01 + 0.1 * 0.2              = 0.029
    //   v  = 0.999 * 1e-5 + 0.001 * 0.04          = 4.999e-5
    //   mt = 0.029 / (1 - 0.81)                   = 0.029 / 0.19
    //   vt = 4.999e-5 / (1 - 0.998001)            = 4.999e-5 / 0.001999
    // Element 1:
    //   m  = 0.9 * -0.02 + 0.1 * 0.1              = -0.008
    //   v  = 0.999 * 4e-5 + 0.001 * 0.01          = 4.996e-5
    let w0 = 1.0 - 1e-3 * 0.1 / (0.1 + 1e-8);
    let w1 = -2.0 + 1e-3 * 0.2 / (0.2 + 1e-8);
    let step0 = 1e-3 * (0.029 / 0.19) / ((4.999e-5f64 / 0.001999).sqrt() + 1e-8);
    let step1 = 1e-3 * (-0.008 / 0.19) / ((4.996e-5f64 / 0.001999).sqrt() + 1e-8);
    close(&w, &[w0 - step0, w1 - step1], 1e-15);
    let (m, v) = opt.moments("W1").unwrap();
    close(m, &[0.029, -0.008], 1e-16);
    close(v, &[4.999e-5, 4.996e-5], 1e-19);
    assert_eq!(opt.step_count("W1"), Some(2));
}

/// `optim.py`'s adam written out independently, one scalar at a time, with
/// its own moment vectors and step count.
struct Reference {
    lr: f64,
    m: Vec<f64>,
    v: Vec<f64>,
    t: i32,
}

impl Reference {
    fn new(lr: f64, n: usize) -> Self {
        Reference {
            lr,
            m: vec![0.0; n],
            v: vec![0.0; n],
            t: 0,
        }
    }

    fn step(&mut self, w: &mut [f64], dw: &[f64]) {
        let (beta1, beta2, eps) = (0.9f64, 0.999f64, 1e-8);
        self.t += 1;
        for i in 0..w.len() {
            self.m[i] = beta1 * self.m[i] + (1.0 - beta1) * dw[i];
            self.v[i] = beta2 * self.v[i] + (1.0 - beta2) * (dw[i] * dw[i]);
            let m_hat = self.m[i] / (1.0 - beta1.powf(f64::from(self.t)));
            let v_hat = self.v[i] / (1.0 - beta2.powf(f64::from(self.t)));
            w[i] -= self.lr * m_hat / (v_hat.sqrt() + eps);
        }
    }
}

/// A deterministic pseudo-random gradient sequence (no RNG dependency).
fn grad(step: usize, n: usize) -> Vec<f64> {
    (0..n)
        .map(|i| {
            let x = ((step * 7919 + i * 104_729) % 1000) as f64 / 1000.0 - 0.5;
            x * (1.0 + (i % 3) as f64)
        })
        .collect()
}

#[test]
fn many_steps_match_the_reference_bit_for_bit() {
    let n = 37;
    let mut w: Vec<f64> = (0..n).map(|i| (i as f64 - 18.0) / 7.0).collect();
    let mut w_ref = w.clone();
    let mut opt = adam(3e-3);
    let mut reference = Reference::new(3e-3, n);
    for step in 0..50 {
        let g = grad(step, n);
        opt.update("W", &mut w, &g).unwrap();
        reference.step(&mut w_ref, &g);
        for (a, b) in w.iter().zip(&w_ref) {
            assert_eq!(a.to_bits(), b.to_bits(), "step {step}: {a:e} vs {b:e}");
        }
    }
    // And a rearranged form (precomputed step size, powi) agrees to 1e-15.
    let mut w2: Vec<f64> = (0..n).map(|i| (i as f64 - 18.0) / 7.0).collect();
    let (mut m, mut v) = (vec![0.0; n], vec![0.0; n]);
    for step in 0..50 {
        let g = grad(step, n);
        let t = step as i32 + 1;
        let alpha = 3e-3 / (1.0 - 0.9f64.powi(t));
        let c2 = 1.0 / (1.0 - 0.999f64.powi(t));
        for i in 0..n {
            m[i] += (1.0 - 0.9) * (g[i] - m[i]);
            v[i] += (1.0 - 0.999) * (g[i] * g[i] - v[i]);
            w2[i] -= alpha * m[i] / ((v[i] * c2).sqrt() + 1e-8);
        }
    }
    close(&w, &w2, 1e-15);
}

#[test]
fn step_count_is_per_parameter() {
    let mut opt = adam(1e-2);
    let mut w = vec![0.3, -0.7, 1.1];
    let mut b = vec![0.05, -0.05];
    for step in 0..3 {
        opt.update("W1", &mut w, &grad(step, 3)).unwrap();
    }
    opt.update("b1", &mut b, &grad(9, 2)).unwrap();
    assert_eq!(opt.step_count("W1"), Some(3));
    assert_eq!(opt.step_count("b1"), Some(1));
    assert_eq!(opt.step_count("W2"), None);

    // b1's first update used t = 1 even though W1 had three: identical to a
    // fresh optimizer seeing only b1.
    let mut alone = adam(1e-2);
    let mut b_alone = vec![0.05, -0.05];
    alone.update("b1", &mut b_alone, &grad(9, 2)).unwrap();
    assert_eq!(b, b_alone);

    // And W1 is unaffected by b1.
    let mut w_ref = vec![0.3, -0.7, 1.1];
    let mut reference = Reference::new(1e-2, 3);
    for step in 0..3 {
        reference.step(&mut w_ref, &grad(step, 3));
    }
    assert_eq!(w, w_ref);
    opt.update("b1", &mut b, &grad(10, 2)).unwrap();
    assert_eq!(opt.step_count("b1"), Some(2));
    assert_eq!(opt.step_count("W1"), Some(3));
}

#[test]
fn learning_rate_decay_scales_later_steps() {
    let mut opt = adam(1e-3);
    let mut reference = Reference::new(1e-3, 3);
    let mut w = vec![1.0, 2.0, 3.0];
    let mut w_ref = w.clone();
    for epoch in 0..4 {
        for step in 0..3 {
            let g = grad(epoch * 3 + step, 3);
            opt.update("W", &mut w, &g).unwrap();
            reference.step(&mut w_ref, &g);
        }
        opt.decay_learning_rate(0.95).unwrap();
        reference.lr *= 0.95;
    }
    assert_eq!(w, w_ref);
    assert_eq!(opt.learning_rate(), 1e-3 * 0.95 * 0.95 * 0.95 * 0.95);
    assert_eq!(opt.config().learning_rate, opt.learning_rate());
}

#[test]
fn adamw_shrinks_weights_before_the_adam_step() {
    let lr = 1e-2;
    let wd = 0.1;
    let mut opt = Adam::new(AdamConfig {
        learning_rate: lr,
        weight_decay: wd,
        ..AdamConfig::default()
    })
    .unwrap();
    // A zero gradient gives a zero Adam step (0 / (0 + eps)): only the decay.
    let mut w = vec![2.0, -4.0, 0.5];
    opt.update("W", &mut w, &[0.0, 0.0, 0.4]).unwrap();
    // keep = 1 - 0.01 * 0.1 = 0.999
    close(
        &w,
        &[
            1.998,
            -3.996,
            0.5 * 0.999 - 1e-2 * 0.4 / (0.4 + 1e-8), // shrink, then the Adam step
        ],
        1e-15,
    );
    // The decay never enters the moments: they equal plain Adam's.
    let mut plain = adam(lr);
    let mut w_plain = vec![2.0, -4.0, 0.5];
    plain.update("W", &mut w_plain, &[0.0, 0.0, 0.4]).unwrap();
    assert_eq!(opt.moments("W"), plain.moments("W"));

    // Step 2: w = w * (1 - lr * wd) - lr * mt / (sqrt(vt) + eps).
    let before = w.clone();
    let g = [0.1, -0.2, 0.3];
    opt.update("W", &mut w, &g).unwrap();
    let mut w_plain2 = before.clone();
    let mut shrunk: Vec<f64> = before.iter().map(|x| x * (1.0 - lr * wd)).collect();
    plain.update("W", &mut w_plain2, &g).unwrap();
    // plain's step from `before` applied to the shrunk weights:
    for i in 0..3 {
        shrunk[i] -= before[i] - w_plain2[i];
    }
    close(&w, &shrunk, 1e-15);
}

#[test]
fn zero_weight_decay_is_exactly_plain_adam() {
    let mut a = adam(1e-3);
    let mut b = build(UpdateRule::Adam, 1e-3).unwrap();
    let mut wa = vec![0.1, 0.2, 0.3];
    let mut wb = wa.clone();
    for step in 0..5 {
        let g = grad(step, 3);
        a.update("W", &mut wa, &g).unwrap();
        b.update("W", &mut wb, &g).unwrap();
    }
    assert_eq!(wa, wb);
    assert_eq!(a.export_state(), b.export_state());
}

#[test]
fn defaults_follow_optim_py() {
    let c = AdamConfig::default();
    assert_eq!(
        (c.learning_rate, c.beta1, c.beta2, c.epsilon, c.weight_decay),
        (1e-3, 0.9, 0.999, 1e-8, 0.0)
    );
    assert_eq!(Adam::default().config(), &c);
    assert_eq!(Adam::default().rule(), UpdateRule::Adam);
}

#[test]
fn empty_parameter_is_fine() {
    let mut opt = adam(1e-3);
    opt.update("empty", &mut [], &[]).unwrap();
    assert_eq!(opt.step_count("empty"), Some(1));
}
