//! The layer kit: each layer on its own, and `FullyConnectedNet` as nothing
//! more than a composition of them (same bits from the same seeds).

use gradtape_core::{rng_from_seed, Mode, Rng, RngExt, Tape, Tensor, Var};
use gradtape_nn::{
    BatchNorm, Dropout, FcConfig, FullyConnectedNet, Layer, LayerNorm, Linear, Model, Normalization,
};
use gradtape_optim::{build, UpdateRule};

/// The net's seed offset for its dropout stream (see fc_net.rs).
const DROPOUT_STREAM: u64 = 0x9E37_79B9_7F4A_7C15;

/// The notebook's net, assembled by hand from layers on a user's tape.
struct HandNet {
    tape: Tape,
    hidden: Vec<(Linear, Box<dyn Layer>)>,
    output: Linear,
    dropout: Dropout,
}

impl HandNet {
    fn new(c: &FcConfig) -> HandNet {
        let mut rng: Rng = rng_from_seed(c.seed);
        let mut tape = Tape::new();
        let mut hidden: Vec<(Linear, Box<dyn Layer>)> = Vec::new();
        let mut d_in = c.input_dim;
        for &d in &c.hidden_dims {
            let linear = Linear::new(&mut tape, d_in, d, c.weight_scale, &mut rng).unwrap();
            let norm: Box<dyn Layer> = match c.normalization {
                Normalization::BatchNorm => Box::new(BatchNorm::new(&mut tape, d).unwrap()),
                Normalization::LayerNorm => Box::new(LayerNorm::new(&mut tape, d).unwrap()),
                Normalization::None => Box::new(Identity),
            };
            hidden.push((linear, norm));
            d_in = d;
        }
        let output = Linear::new(&mut tape, d_in, c.num_classes, c.weight_scale, &mut rng).unwrap();
        let dropout = Dropout::new(c.dropout, rng_from_seed(c.seed ^ DROPOUT_STREAM)).unwrap();
        HandNet {
            tape,
            hidden,
            output,
            dropout,
        }
    }

    fn train_loss(&mut self, x: &Tensor, y: &[usize]) -> f64 {
        let t = &mut self.tape;
        t.reset();
        let mut h = t.input_from(x);
        for (linear, norm) in &mut self.hidden {
            h = linear.forward(t, h, Mode::Train).unwrap();
            h = norm.forward(t, h, Mode::Train).unwrap();
            h = t.relu(h).unwrap();
            h = self.dropout.forward(t, h, Mode::Train).unwrap();
        }
        let scores = self.output.forward(t, h, Mode::Train).unwrap();
        let loss = t.softmax_cross_entropy(scores, y).unwrap();
        t.backward(loss).unwrap();
        t.value(loss).unwrap().item().unwrap()
    }
}

/// A layer that passes its input through (no normalisation).
struct Identity;

impl Layer for Identity {
    fn forward(&mut self, _: &mut Tape, x: Var, _: Mode) -> gradtape_core::Result<Var> {
        Ok(x)
    }

    fn params(&self) -> Vec<(&'static str, Var)> {
        Vec::new()
    }
}

#[test]
fn the_net_is_the_layers_composed_bit_for_bit() {
    let mut rng = rng_from_seed(5);
    let x = Tensor::randn(&[8, 12], &mut rng);
    let y: Vec<usize> = (0..8).map(|_| rng.random_range(0..4)).collect();
    for normalization in [
        Normalization::None,
        Normalization::BatchNorm,
        Normalization::LayerNorm,
    ] {
        let c = FcConfig {
            hidden_dims: vec![10, 7],
            input_dim: 12,
            num_classes: 4,
            dropout: 0.7,
            normalization,
            weight_scale: 0.1,
            seed: 3,
            ..FcConfig::default()
        };
        let mut net = FullyConnectedNet::new(c.clone()).unwrap();
        let mut hand = HandNet::new(&c);
        let mut opt_net = build(UpdateRule::Adam, 1e-2).unwrap();
        let mut opt_hand = build(UpdateRule::Adam, 1e-2).unwrap();
        for _ in 0..4 {
            let a = net.train_loss(&x, &y).unwrap();
            let b = hand.train_loss(&x, &y);
            assert_eq!(a.to_bits(), b.to_bits(), "{normalization:?}");
            net.step(opt_net.as_mut()).unwrap();
            opt_hand.step(&mut hand.tape).unwrap();
        }
    }
}

#[test]
fn layers_list_their_parameters_in_creation_order() {
    let mut tape = Tape::new();
    let mut rng = rng_from_seed(0);
    let linear = Linear::new(&mut tape, 3, 2, 1.0, &mut rng).unwrap();
    let bn = BatchNorm::new(&mut tape, 2).unwrap();
    let ln = LayerNorm::new(&mut tape, 2).unwrap();
    let roles = |l: &dyn Layer| l.params().into_iter().map(|(r, _)| r).collect::<Vec<_>>();
    assert_eq!(roles(&linear), ["W", "b"]);
    assert_eq!(roles(&bn), ["gamma", "beta"]);
    assert_eq!(roles(&ln), ["gamma", "beta"]);
    assert_eq!(linear.params()[0].1, linear.weight());
    assert_eq!(bn.params()[1].1, bn.beta());
    assert_eq!(ln.params()[0].1, ln.gamma());
    assert_eq!(tape.num_params(), 6);
    assert_eq!(tape.value(ln.gamma()).unwrap().data(), &[1.0, 1.0]);
    assert_eq!(ln.eps(), 1e-5);
}

#[test]
fn bad_layer_settings_are_errors_that_say_what_is_wrong() {
    let mut tape = Tape::new();
    let mut rng = rng_from_seed(0);
    let msg = |e: gradtape_core::Error| e.to_string();
    assert_eq!(
        msg(Linear::new(&mut tape, 0, 2, 1.0, &mut rng).unwrap_err()),
        "Linear: in_dim 0 and out_dim 2 must be positive"
    );
    assert_eq!(
        msg(Linear::new(&mut tape, 2, 2, f64::NAN, &mut rng).unwrap_err()),
        "Linear: weight_scale NaN must be finite and >= 0"
    );
    assert_eq!(
        msg(BatchNorm::new(&mut tape, 0).unwrap_err()),
        "BatchNorm: dim must be positive"
    );
    assert_eq!(
        msg(LayerNorm::new(&mut tape, 0).unwrap_err()),
        "LayerNorm: dim must be positive"
    );
    for keep in [0.0, -0.5, 1.5, f64::NAN] {
        let e = Dropout::new(keep, rng_from_seed(0)).unwrap_err();
        assert!(msg(e).starts_with("Dropout: keep probability"));
    }
    // A layer fed a wrong shape fails in the op, naming both shapes.
    let mut linear = Linear::new(&mut tape, 3, 2, 1.0, &mut rng).unwrap();
    let x = tape.input(Tensor::ones(&[4, 5]));
    let e = msg(linear.forward(&mut tape, x, Mode::Train).unwrap_err());
    assert!(e.starts_with("affine"), "{e}");
    assert!(e.contains("(4, 5)") && e.contains("(3, 2)"), "{e}");
}

#[test]
fn one_dropout_draws_successive_masks_from_its_stream() {
    let mut tape = Tape::new();
    let mut d = Dropout::new(0.5, rng_from_seed(9)).unwrap();
    let x = tape.input(Tensor::ones(&[4, 4]));
    let a = d.forward(&mut tape, x, Mode::Train).unwrap();
    let b = d.forward(&mut tape, x, Mode::Train).unwrap();
    assert_ne!(tape.value(a).unwrap(), tape.value(b).unwrap());
    // Restarting the stream repeats the first mask.
    d.set_rng(rng_from_seed(9));
    let c = d.forward(&mut tape, x, Mode::Train).unwrap();
    assert_eq!(tape.value(a).unwrap(), tape.value(c).unwrap());
    assert_eq!(d.keep(), 0.5);
    assert_eq!(d.forward(&mut tape, x, Mode::Test).unwrap(), x);
}
