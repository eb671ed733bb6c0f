//! The examples of the blog post this crate grew from
//! (`../shared/seed/lr-decay-strategies-pytorch.md`), one test per claim.
//!
//! Each claim is checked twice: against PyTorch's own output (the `seed.json`
//! fixture, written by `scripts/fixtures/gen_pytorch.py`) and against tch-lr. Where the
//! post is wrong, the test pins PyTorch's value and says what the post wrote.

use crate::common;

use common::*;
use tch_lr::config::Config;

/// Group 0's LR per row: (PyTorch's, tch-lr's) for the seed case `name`.
fn rows(name: &str) -> (Vec<f64>, Vec<f64>) {
    let cases = load_cases(&root().join("tests/fixtures/parity/seed.json"));
    let case = cases.iter().find(|c| c.name == name).unwrap_or_else(|| panic!("no seed case {name:?}"));
    let torch: Vec<f64> = case.expected.lr.iter().map(|r| r[0].get()).collect();
    let config = Config::from_value(serde_yaml::to_value(&case.config).unwrap()).unwrap();
    let vs = tiny_vs(1);
    let mut s = config.build(config.build_optim(&vs, tch_lr::optim::Backend::Tch).unwrap()).unwrap();
    let mut ours = vec![s.groups().lrs()[0]];
    for k in 0..case.steps {
        match (&case.metrics, &case.epochs) {
            (Some(m), _) => s.step_metric(m[k].get()).unwrap(),
            (_, Some(e)) => s.step_to(e[k]).unwrap(),
            _ => s.step().unwrap(),
        }
        ours.push(s.groups().lrs()[0]);
    }
    (torch, ours)
}

/// Asserts that row `row` is `want` for PyTorch and for tch-lr.
fn claim(name: &str, row: usize, want: f64) {
    let (torch, ours) = rows(name);
    assert!(close(torch[row], want), "{name}: row {row}: PyTorch gives {}, the claim is {want}", torch[row]);
    assert!(close(ours[row], want), "{name}: row {row}: tch-lr gives {}, PyTorch {want}", ours[row]);
}

fn claims(name: &str, want: &[f64]) {
    for (row, w) in want.iter().enumerate() {
        claim(name, row, *w);
    }
}

#[test]
fn step_lr_decays_tenfold_every_30_epochs() {
    let name = "StepLR step_size=30 (the 0.05 / 0.005 / 0.0005 example)";
    for (epochs, lr) in [(0..30, 0.05), (30..60, 0.005), (60..90, 0.0005)] {
        for e in epochs {
            claim(name, e, lr);
        }
    }
    claims("StepLR step_size=3 gamma=0.1", &[0.05, 0.05, 0.05, 0.005, 0.005, 0.005, 0.0005]);
}

#[test]
fn multi_step_lr_decays_at_milestones() {
    let name = "MultiStepLR milestones=[30,80]";
    for (epochs, lr) in [(0..30, 0.05), (30..80, 0.005), (80..95, 0.0005)] {
        for e in epochs {
            claim(name, e, lr);
        }
    }
    // bisect_right([2, 5, 8], e): 0 for e = 1, 1 for e = 3, 2 for e = 6.
    claim("MultiStepLR milestones=[2,5,8]", 1, 0.05);
    claim("MultiStepLR milestones=[2,5,8]", 3, 0.005);
    claim("MultiStepLR milestones=[2,5,8]", 6, 0.0005);
}

#[test]
fn exponential_lr_multiplies_by_gamma() {
    claims("ExponentialLR gamma=0.1", &[0.05, 0.005, 0.0005, 0.00005]);
}

#[test]
fn linear_lr_example_with_the_slip_corrected() {
    let name = "LinearLR start_factor=0.5 total_iters=4";
    claim(name, 0, 0.025);
    // The post writes 0.05 * (0.5 + 0.5 * 0.25) = 0.3125; it is 0.03125.
    claim(name, 1, 0.03125);
    let (torch, _) = rows(name);
    assert!(!close(torch[1], 0.3125));
    for e in 4..10 {
        claim(name, e, 0.05);
    }
}

#[test]
fn constant_lr_example() {
    let name = "ConstantLR factor=0.5 total_iters=4";
    claims(name, &[0.025, 0.025, 0.025, 0.025, 0.05]);
}

#[test]
fn lambda_and_multiplicative_examples() {
    claims("LambdaLR epoch/30", &[0.0, 0.05 / 30.0, 0.05 * 2.0 / 30.0]);
    claims("MultiplicativeLR 0.95", &[0.05, 0.05 * 0.95, 0.05 * 0.95 * 0.95]);
}

#[test]
fn cosine_reaches_eta_min_at_odd_multiples_of_t_max() {
    let name = "CosineAnnealingLR T_max=3";
    for (row, lr) in [(0, 0.01), (3, 0.0), (6, 0.01), (9, 0.0), (12, 0.01)] {
        claim(name, row, lr);
    }
}

/// The post copies PyTorch's docstring: 0.09, 0.081, 0.729, 0.6561, 0.59049
/// for epochs 0 to 4. PyTorch 2.13 gives 0.1 after construction (ExponentialLR's
/// initial step does not multiply), then 0.09, then 0.81 when ConstantLR's
/// factor ends, and 0.729, 0.6561, 0.59049 a row later than the post says.
#[test]
fn chained_scheduler_example_as_pytorch_runs_it() {
    let name = "ChainedScheduler ConstantLR+ExponentialLR";
    claims(name, &[0.1, 0.09, 0.81, 0.729, 0.6561, 0.59049]);
    let (torch, _) = rows(name);
    assert!(!close(torch[0], 0.09) && !close(torch[1], 0.081), "the post's numbers");
}

/// The post: 0.1, 0.1, 0.9, 0.81, 0.729. PyTorch 2.13 restarts ExponentialLR at
/// the milestone with `_update_lr(0)`, which gives 1.0, not 0.9.
#[test]
fn sequential_lr_example_as_pytorch_runs_it() {
    let name = "SequentialLR ConstantLR then ExponentialLR at 2";
    claims(name, &[0.1, 0.1, 1.0, 0.9, 0.81, 0.729]);
}

/// patience 2, cooldown 2, a flat metric: the first cut after the 4th step
/// (3 bad epochs > patience), 2 cooldown steps, then 3 more bad epochs.
#[test]
fn plateau_example_cuts_then_cools_down() {
    let name = "ReduceLROnPlateau patience=2 cooldown=2";
    claims(name, &[0.05, 0.05, 0.05, 0.05, 0.005, 0.005, 0.005, 0.005, 0.005, 0.0005]);
}

#[test]
fn cyclic_one_cycle_and_warm_restarts_match_pytorch() {
    for name in [
        "CyclicLR base_lr=0.01 max_lr=0.1",
        "OneCycleLR max_lr=0.01 steps_per_epoch=10 epochs=10",
        "CosineAnnealingWarmRestarts T_0=3 T_mult=2 step(epoch + i / iters)",
        "PolynomialLR total_iters=4 power=1",
    ] {
        let (torch, ours) = rows(name);
        assert_eq!(torch.len(), ours.len());
        for (row, (a, b)) in torch.iter().zip(&ours).enumerate() {
            assert!(close(*a, *b), "{name}: row {row}: tch-lr {b}, PyTorch {a}");
        }
    }
    // CyclicLR: base_lr at the start, max_lr after step_size_up (2000) steps, base_lr again after 4000.
    claim("CyclicLR base_lr=0.01 max_lr=0.1", 0, 0.01);
    claim("CyclicLR base_lr=0.01 max_lr=0.1", 2000, 0.1);
    claim("CyclicLR base_lr=0.01 max_lr=0.1", 4000, 0.01);
    // OneCycleLR: max_lr / div_factor at the start, max_lr at 30% of the steps.
    claim("OneCycleLR max_lr=0.01 steps_per_epoch=10 epochs=10", 0, 0.01 / 25.0);
    claim("OneCycleLR max_lr=0.01 steps_per_epoch=10 epochs=10", 29, 0.01);
}
