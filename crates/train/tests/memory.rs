//! The memory a training run will need, estimated from its configuration
//! before anything is allocated: the parts add up, a configuration larger
//! than the machine is refused with the estimate and what is available,
//! and sizes that overflow are an error, never a panic.

use gradtape_nn::{FcConfig, Normalization};
use gradtape_optim::UpdateRule;
use gradtape_train::{available_memory, MemoryEstimate};

fn final_net() -> FcConfig {
    FcConfig {
        hidden_dims: vec![500, 500, 500],
        dropout: 0.5,
        normalization: Normalization::BatchNorm,
        ..FcConfig::default()
    }
}

#[test]
fn the_final_nets_estimate_counts_every_parameter_and_adams_two_buffers() {
    let e = MemoryEstimate::fc_training(&final_net(), 100, UpdateRule::Adam).unwrap();
    // W1 b1 gamma1 beta1, W2 b2 gamma2 beta2, W3 ..., W4 b4.
    let params: u64 = 3072 * 500 + 500 * 3 + 2 * (500 * 500 + 500 * 3) + 500 * 10 + 10;
    assert_eq!(e.parameters, 8 * params);
    assert_eq!(e.gradients, 8 * params);
    assert_eq!(e.optimizer, 2 * 8 * params);
    let sgd = MemoryEstimate::fc_training(&final_net(), 100, UpdateRule::Sgd).unwrap();
    assert_eq!(sgd.optimizer, 0);
    assert!(e.activations > 8 * 100 * 3072, "{e:?}");
    assert_eq!(e.pool, e.activations);
    assert_eq!(
        e.total(),
        e.parameters + e.gradients + e.optimizer + e.snapshots + e.activations + e.pool
    );
    // The README's measured peak for the whole notebook is 279 MB, of which
    // about 151 MB are the CIFAR-10 bytes.
    let mb = e.total() as f64 / 1e6;
    assert!((80.0..200.0).contains(&mb), "{mb} MB");
    println!("final net, batch 100, Adam: {e}");
}

#[test]
fn a_configuration_larger_than_memory_is_refused_with_the_estimate_and_what_is_available() {
    let huge = FcConfig {
        hidden_dims: vec![100_000, 100_000],
        ..FcConfig::default()
    };
    let e = MemoryEstimate::fc_training(&huge, 100, UpdateRule::Adam).unwrap();
    assert!(e.parameters > 80_000_000_000, "{e:?}");
    let err = e
        .check_against(Some(8_000_000_000))
        .unwrap_err()
        .to_string();
    assert!(err.contains("needs about 496.1 GB"), "{err}");
    assert!(err.contains("8.0 GB is available"), "{err}");
    assert!(err.contains("parameters 82.5 GB"), "{err}");
    println!("{err}");
    // Where the available memory is unknown, nothing is refused.
    e.check_against(None).unwrap();
    // The final net fits in 8 GB.
    MemoryEstimate::fc_training(&final_net(), 100, UpdateRule::Adam)
        .unwrap()
        .check_against(Some(8_000_000_000))
        .unwrap();
}

#[test]
fn sizes_that_overflow_are_an_error_not_a_panic() {
    for hidden in [
        vec![usize::MAX],
        vec![1 << 32, 1 << 32],
        vec![usize::MAX / 8 + 1],
    ] {
        let c = FcConfig {
            hidden_dims: hidden.clone(),
            ..FcConfig::default()
        };
        let err = MemoryEstimate::fc_training(&c, 100, UpdateRule::Adam)
            .unwrap_err()
            .to_string();
        assert!(err.contains("too large to count"), "{hidden:?}: {err}");
    }
    let err = MemoryEstimate::fc_training(&final_net(), usize::MAX, UpdateRule::Adam)
        .unwrap_err()
        .to_string();
    assert!(err.contains("too large to count"), "{err}");
}

#[cfg(target_os = "linux")]
#[test]
fn available_memory_is_read_from_proc_meminfo_on_linux() {
    let bytes = available_memory().expect("MemAvailable in /proc/meminfo");
    assert!(bytes > 1_000_000, "{bytes}");
}

/// Examples of 2^40 values each: no minibatch of them fits in memory.
struct Enormous;

impl gradtape_train::Dataset for Enormous {
    fn len(&self) -> usize {
        100
    }
    fn example_dims(&self) -> Vec<usize> {
        vec![1 << 40]
    }
    fn fill_batch(
        &self,
        _: &[usize],
        _: &mut [f64],
        _: &mut Vec<usize>,
    ) -> gradtape_core::Result<()> {
        unreachable!("no buffer can be allocated")
    }
}

#[test]
fn a_minibatch_too_large_for_memory_is_an_error_not_an_abort() {
    let net = gradtape_nn::FullyConnectedNet::new(FcConfig {
        hidden_dims: vec![4],
        input_dim: 3,
        ..FcConfig::default()
    })
    .unwrap();
    let options = gradtape_train::SolverOptions {
        batch_size: 10,
        verbose: false,
        ..Default::default()
    };
    let mut s = gradtape_train::Solver::new(net, Enormous, Enormous, options).unwrap();
    let err = s.train().unwrap_err().to_string();
    assert!(err.contains("cannot allocate a minibatch"), "{err}");
}
