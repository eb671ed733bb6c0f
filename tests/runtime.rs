//! The LR and momentum each scheduler computes are the ones libtorch applies.
//!
//! Each parameter group holds one `f64` scalar. Before every optimizer step the
//! scalars are reset to 0 and get a gradient of 1, so SGD moves each one by
//! exactly `-lr` (no momentum) or `-lr * buf` with `buf = momentum * buf + 1`
//! (momentum): the parameter change reveals, group by group, what libtorch
//! used. Nothing here reads the scheduler's own bookkeeping to decide what
//! libtorch did.

mod common;

use common::*;
use tch_lr::config::Config;

const STEPS: usize = 12;

/// Schedules that keep the optimizer's LRs by definition (transformers'
/// `constant`): the test checks that they stay.
const NEVER_CHANGE: &[&str] = &["transformers.constant"];

fn config(optimizer: &str, scheduler: &str) -> Config {
    Config::from_yaml(&format!("optimizer: {optimizer}\nscheduler: {scheduler}\n")).expect("test config")
}

#[test]
fn every_scheduler_sets_the_lr_libtorch_applies_per_group() {
    for &tch_lr::ScheduleInfo { name, example: scheduler, .. } in tch_lr::REGISTRY {
        let config = config("{name: sgd, lr: [0.1, 0.02]}", scheduler);
        let (vs, ws) = probe_vs(2);
        let mut sched = config.build(config.build_optim(&vs).unwrap()).unwrap();
        let mut distinct = std::collections::BTreeSet::new();
        for step in 0..STEPS {
            let lrs = sched.groups().lrs();
            let moved = probe_step(sched.optimizer_mut(), &ws);
            for g in 0..2 {
                // 0 - lr * 1 is exact in f64: the bits must agree.
                assert_eq!(
                    moved[g], -lrs[g],
                    "{name}: step {step}: group {g}: libtorch applied {}, scheduler {}",
                    -moved[g], lrs[g]
                );
                distinct.insert((g, lrs[g].to_bits()));
            }
            sched.step_with(sched.schedule().takes_metric().then_some(1.0)).unwrap();
        }
        if NEVER_CHANGE.contains(&name) {
            assert_eq!(distinct.len(), 2, "{name}: one LR per group throughout (saw {distinct:?})");
        } else {
            assert!(distinct.len() > 3, "{name}: the test must see the LR change (saw {distinct:?})");
        }
    }
}

/// SGD with momentum: libtorch's buffer is `buf = momentum * buf + grad`
/// (dampening 0), and the step is `-lr * buf`.
fn check_sgd_momentum(name: &str, scheduler: &str, momentum: f64) {
    let config = config(&format!("{{name: sgd, lr: [0.1, 0.02], momentum: {momentum}}}"), scheduler);
    let (vs, ws) = probe_vs(2);
    let mut sched = config.build(config.build_optim(&vs).unwrap()).unwrap();
    let mut buf = [0.0f64; 2];
    let mut momenta_seen = std::collections::BTreeSet::new();
    for step in 0..STEPS {
        let (lrs, ms) = (sched.groups().lrs(), sched.groups().momenta());
        let moved = probe_step(sched.optimizer_mut(), &ws);
        for g in 0..2 {
            buf[g] = if step == 0 { 1.0 } else { ms[g] * buf[g] + 1.0 };
            let want = -lrs[g] * buf[g];
            assert!(close(moved[g], want), "{name}: step {step}: group {g}: moved {} want {want}", moved[g]);
            momenta_seen.insert((g, ms[g].to_bits()));
        }
        sched.step_with(sched.schedule().takes_metric().then_some(1.0)).unwrap();
    }
    if sched.schedule().cycles_momentum() {
        assert!(momenta_seen.len() > 4, "{name}: momentum must change (saw {momenta_seen:?})");
    }
}

#[test]
fn sgd_with_momentum_follows_the_scheduler_lr() {
    for &tch_lr::ScheduleInfo { name, example: scheduler, .. } in tch_lr::REGISTRY {
        check_sgd_momentum(name, scheduler, 0.9);
    }
}

#[test]
fn cycled_momentum_reaches_libtorch_per_group() {
    check_sgd_momentum(
        "CyclicLR",
        "{name: CyclicLR, base_lr: [0.01, 0.001], max_lr: [0.1, 0.02], step_size_up: 3, \
         base_momentum: [0.8, 0.5], max_momentum: [0.9, 0.7]}",
        0.9,
    );
    check_sgd_momentum(
        "OneCycleLR",
        "{name: OneCycleLR, max_lr: [0.1, 0.05], total_steps: 13, base_momentum: [0.85, 0.6], max_momentum: [0.95, 0.8]}",
        0.9,
    );
}

/// Adam's beta1 cycled by OneCycleLR (tch sets it for all groups at once).
/// With gradient 1: `m = b1 * m + (1 - b1)`, `v = 1 - b2^t`, and the step is
/// `-lr * (m / (1 - b1^t)) / (sqrt(v / (1 - b2^t)) + eps)`.
#[test]
fn cycled_beta1_reaches_libtorch_adam() {
    let config = config(
        "{name: adam, lr: [0.1, 0.02], betas: [0.9, 0.999]}",
        "{name: OneCycleLR, max_lr: [0.1, 0.05], total_steps: 13}",
    );
    let (vs, ws) = probe_vs(2);
    let mut sched = config.build(config.build_optim(&vs).unwrap()).unwrap();
    let (b2, eps) = (0.999f64, 1e-8);
    let mut m = [0.0f64; 2];
    let mut v = [0.0f64; 2];
    for step in 1..=STEPS as i32 {
        let (lrs, b1s) = (sched.groups().lrs(), sched.groups().momenta());
        let moved = probe_step(sched.optimizer_mut(), &ws);
        for g in 0..2 {
            let b1 = b1s[g];
            m[g] = b1 * m[g] + (1.0 - b1);
            v[g] = b2 * v[g] + (1.0 - b2);
            let denom = (v[g] / (1.0 - b2.powi(step))).sqrt() + eps;
            let want = -lrs[g] * (m[g] / (1.0 - b1.powi(step))) / denom;
            assert!(
                (moved[g] - want).abs() <= 1e-9 * want.abs(),
                "step {step}: group {g}: moved {} want {want}",
                moved[g]
            );
        }
        sched.step().unwrap();
    }
}

/// A scheduler built for a different number of groups than the `VarStore`
/// has is an error, never a libtorch panic.
#[test]
fn group_count_mismatch_is_an_error() {
    let config = config("{name: sgd, lr: [0.1, 0.02, 0.3]}", "{name: StepLR, step_size: 2}");
    let (vs, _) = probe_vs(2);
    let err = config.build_optim(&vs).unwrap_err();
    assert!(matches!(err, tch_lr::Error::GroupCount { expected: 2, got: 3, .. }), "{err:?}");
}
