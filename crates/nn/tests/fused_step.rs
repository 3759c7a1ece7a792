//! The fingerprint of the fused update: the notebook's final net trained a
//! few steps with Adam applied during backward (`Model::train_step`, what
//! the Solver runs) has the bits of the same steps with Adam in a pass of
//! its own after backward (`train_loss` then `step`, or the name-keyed
//! `update_params`): every parameter, batchnorm statistic, loss and Adam
//! moment, compared with `f64::to_bits`.

use gradtape_core::{rng_from_seed, RngExt, Tensor};
use gradtape_nn::{FcConfig, FullyConnectedNet, Model, NetState, Normalization};
use gradtape_optim::{build, OptimState, UpdateRule};

/// How the update is applied.
#[derive(Clone, Copy, Debug)]
enum Path {
    /// `train_step`: Adam during backward.
    Fused,
    /// `train_loss` (backward), then `step` (Adam over the tape).
    AfterBackward,
    /// `train_loss`, then the name-keyed `update` per parameter.
    ByName,
}

/// Everything a run leaves, as bits.
#[derive(Debug, PartialEq)]
struct Fingerprint {
    losses: Vec<u64>,
    params: Vec<(String, Vec<u64>)>,
    batchnorm: Vec<Vec<u64>>,
    adam: Vec<(String, u64, Vec<u64>, Vec<u64>)>,
}

fn bits(xs: &[f64]) -> Vec<u64> {
    xs.iter().map(|v| v.to_bits()).collect()
}

fn fingerprint(losses: &[f64], net: &NetState, opt: &OptimState) -> Fingerprint {
    Fingerprint {
        losses: bits(losses),
        params: net
            .params
            .iter()
            .map(|(n, t)| (n.clone(), bits(t.data())))
            .collect(),
        batchnorm: net
            .batchnorm
            .iter()
            .flat_map(|s| [bits(s.running_mean.data()), bits(s.running_var.data())])
            .collect(),
        adam: opt
            .params
            .iter()
            .map(|(n, p)| {
                let (m, v) = (p.buffer("m").unwrap(), p.buffer("v").unwrap());
                (n.clone(), p.step, bits(m), bits(v))
            })
            .collect(),
    }
}

/// `steps` iterations of batch `batch` on synthetic CIFAR-shaped data, with
/// a learning-rate decay after every other step.
fn train(config: &FcConfig, batch: usize, steps: usize, path: Path) -> Fingerprint {
    let mut net = FullyConnectedNet::new(config.clone()).unwrap();
    let mut opt = build(UpdateRule::Adam, 1e-3).unwrap();
    let mut rng = rng_from_seed(7);
    let dims = match config.input_dim {
        3072 => vec![batch, 3, 32, 32],
        d => vec![batch, d],
    };
    let mut losses = Vec::new();
    for step in 0..steps {
        let x = Tensor::randn(&dims, &mut rng);
        let y: Vec<usize> = (0..batch).map(|_| rng.random_range(0..10)).collect();
        let loss = match path {
            Path::Fused => net.train_step(&x, &y, opt.as_mut()).unwrap(),
            Path::AfterBackward => {
                let loss = net.train_loss(&x, &y).unwrap();
                net.step(opt.as_mut()).unwrap();
                loss
            }
            Path::ByName => {
                let loss = net.train_loss(&x, &y).unwrap();
                net.update_params(&mut |n, w, g| opt.update(n, w, g))
                    .unwrap();
                loss
            }
        };
        losses.push(loss);
        if step % 2 == 1 {
            opt.decay_learning_rate(0.9).unwrap();
        }
    }
    fingerprint(&losses, &net.snapshot(), &opt.export_state())
}

#[test]
fn the_final_net_trains_to_the_same_bits_with_adam_during_backward() {
    // The notebook's final net: [500, 500, 500], batchnorm, dropout 0.5,
    // weight scale 1e-2, Adam 1e-3, batch 100.
    let config = FcConfig {
        hidden_dims: vec![500, 500, 500],
        input_dim: 3072,
        dropout: 0.5,
        normalization: Normalization::BatchNorm,
        weight_scale: 1e-2,
        seed: 0,
        ..FcConfig::default()
    };
    let fused = train(&config, 100, 4, Path::Fused);
    assert_eq!(fused.adam.len(), 14); // W, b, gamma, beta x 3, then W4, b4
    assert!(fused.adam.iter().all(|(_, t, ..)| *t == 4));
    assert_eq!(fused, train(&config, 100, 4, Path::AfterBackward));
    assert_eq!(fused, train(&config, 100, 4, Path::ByName));
}

#[test]
fn smaller_nets_with_l2_layernorm_or_no_norm_train_to_the_same_bits() {
    for normalization in [
        Normalization::None,
        Normalization::LayerNorm,
        Normalization::BatchNorm,
    ] {
        let config = FcConfig {
            hidden_dims: vec![7, 5],
            input_dim: 6,
            dropout: 0.75,
            normalization,
            reg: 0.3, // every weight used twice: affine and the L2 term
            seed: 3,
            ..FcConfig::default()
        };
        let fused = train(&config, 1, 5, Path::Fused);
        assert_eq!(
            fused,
            train(&config, 1, 5, Path::AfterBackward),
            "{normalization:?}"
        );
        let fused = train(&config, 9, 5, Path::Fused);
        assert_eq!(
            fused,
            train(&config, 9, 5, Path::ByName),
            "{normalization:?}"
        );
    }
}
