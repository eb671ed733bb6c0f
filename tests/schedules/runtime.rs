//! The LR, momentum and weight decay each scheduler computes are the ones
//! libtorch applies.
//!
//! Each parameter group holds one `f64` scalar. Before every optimizer step the
//! scalars are reset to 0 and get a gradient of 1, so SGD moves each one by
//! exactly `-lr` (no momentum) or `-lr * buf` with `buf = momentum * buf + 1`
//! (momentum): the parameter change reveals, group by group, what libtorch
//! used. For weight decay the scalars are reset to 1 with a gradient of 0, so
//! that the decay alone moves them. Nothing here reads the scheduler's own
//! bookkeeping to decide what libtorch did.

use crate::common;

use common::*;
use tch_lr::config::Config;

const STEPS: usize = 12;

/// Schedules that keep the optimizer's LRs by definition (transformers'
/// `constant`): the test checks that they stay.
const NEVER_CHANGE: &[&str] = &["transformers.constant"];

fn config(optimizer: &str, scheduler: &str) -> Config {
    Config::from_yaml(&format!("optimizer: {optimizer}\nscheduler: {scheduler}\n")).expect("test config")
}

/// Plain SGD (two groups): before every step, each group's parameter moves by
/// exactly the LR the scheduler set, and the LR changes (unless `NEVER_CHANGE`).
fn check_lr_per_group(name: &str, scheduler: &str) {
    let config = config("{name: sgd, lr: [0.1, 0.02]}", scheduler);
    let (vs, ws) = probe_vs(2);
    let mut sched = config.build(config.build_optim(&vs, tch_lr::optim::Backend::Tch).unwrap()).unwrap();
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

/// A schedule's registry example: the LR per group with plain SGD, and with
/// SGD with momentum 0.9 ([`check_sgd_momentum`]).
fn check_schedule(name: &str) {
    let scheduler = tch_lr::schedulers::registry::info(name).expect("a registered schedule").example;
    check_cases(
        name,
        [
            (
                "example, LR per group with SGD".to_string(),
                Box::new(|| check_lr_per_group(name, scheduler)) as Box<dyn FnOnce()>,
            ),
            ("example, SGD with momentum 0.9".to_string(), Box::new(|| check_sgd_momentum(name, scheduler, 0.9))),
        ],
    );
}

/// Every registered schedule (`TCH_LR_SCHEDULES=StepLR` runs one).
#[test]
fn every_registered_schedule() {
    common::for_each_schedule("runtime", check_schedule);
}

/// SGD with momentum: libtorch's buffer is `buf = momentum * buf + grad`
/// (dampening 0), and the step is `-lr * buf`.
fn check_sgd_momentum(name: &str, scheduler: &str, momentum: f64) {
    check_sgd_momentum_of(name, &config(&format!("{{name: sgd, lr: [0.1, 0.02], momentum: {momentum}}}"), scheduler));
}

/// [`check_sgd_momentum`] for a whole config (two SGD groups).
fn check_sgd_momentum_of(name: &str, config: &Config) {
    let (vs, ws) = probe_vs(2);
    let mut sched = config.build(config.build_optim(&vs, tch_lr::optim::Backend::Tch).unwrap()).unwrap();
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
    if sched.last_momentum().is_some() {
        assert!(momenta_seen.len() > 4, "{name}: momentum must change (saw {momenta_seen:?})");
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
    let mut sched = config.build(config.build_optim(&vs, tch_lr::optim::Backend::Tch).unwrap()).unwrap();
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
    let err = config.build_optim(&vs, tch_lr::optim::Backend::Tch).unwrap_err();
    assert!(matches!(err, tch_lr::Error::GroupCount { expected: 2, got: 3, .. }), "{err:?}");
}

/// A `momentum_scheduler:` reaches libtorch's SGD, group by group.
#[test]
fn scheduled_momentum_reaches_libtorch_per_group() {
    let config = Config::from_yaml(
        "optimizer: {name: sgd, lr: [0.1, 0.02], momentum: 0.9}\nscheduler: {name: StepLR, step_size: 3}\n\
         momentum_scheduler: {name: LambdaLR, lr_lambda: ['1 - epoch / 20', '0.9 ** epoch']}\n",
    )
    .unwrap();
    check_sgd_momentum_of("momentum_scheduler", &config);
}

/// Sets every probe parameter to 1 and runs one optimizer step with gradient
/// 0: only the weight decay moves them. Returns the parameters.
fn decay_step(opt: &mut tch_lr::Optim, ws: &[tch::Tensor]) -> Vec<f64> {
    tch::no_grad(|| {
        for w in ws {
            let _ = w.shallow_clone().fill_(1.0);
        }
    });
    let loss = ws.iter().map(|w| (w * 0.0).sum(tch::Kind::Double)).reduce(|a, b| a + b).expect("a group");
    opt.backward_step(&loss);
    ws.iter().map(|w| w.double_value(&[0])).collect()
}

/// A `weight_decay_scheduler:` is what libtorch applies, bit for bit, per
/// group. With the parameter at 1 and a zero gradient, libtorch's SGD does
/// `p -= lr * (0 + wd * p)` and its AdamW `p *= 1 - lr * wd` (then an Adam
/// step of exactly 0): both leave `1 - lr * wd`, computed here in `f64` from
/// the scheduler's values. The LRs stay powers of two (StepLR, gamma 0.5), so
/// `lr * wd` is exact and the one rounding is the same on both sides.
#[test]
fn scheduled_weight_decay_is_what_libtorch_applies() {
    for optimizer in [
        "{name: sgd, lr: [0.5, 0.25], weight_decay: [0.1, 0.02]}",
        "{name: adamw, lr: [0.5, 0.25], weight_decay: [0.1, 0.02]}",
    ] {
        let config = Config::from_yaml(&format!(
            "optimizer: {optimizer}\nscheduler: {{name: StepLR, step_size: 4, gamma: 0.5}}\n\
             weight_decay_scheduler: {{name: CosineAnnealingLR, T_max: 8, eta_min: 0.001}}\n"
        ))
        .unwrap();
        let (vs, ws) = probe_vs(2);
        let mut sched = config.build(config.build_optim(&vs, tch_lr::optim::Backend::Tch).unwrap()).unwrap();
        let mut seen = std::collections::BTreeSet::new();
        for step in 0..STEPS {
            let (lrs, wds) = (sched.groups().lrs(), sched.last_weight_decay().unwrap());
            let after = decay_step(sched.optimizer_mut(), &ws);
            for g in 0..2 {
                let want = 1.0 - lrs[g] * wds[g];
                assert_eq!(
                    after[g].to_bits(),
                    want.to_bits(),
                    "{optimizer}: step {step}: group {g}: libtorch left {:e}, weight decay {:e} gives {want:e}",
                    after[g],
                    wds[g]
                );
                seen.insert((g, wds[g].to_bits()));
            }
            sched.step().unwrap();
        }
        assert!(seen.len() > 10, "{optimizer}: the weight decay must change (saw {seen:?})");
    }
}

/// Adam's and RMSprop's weight decay (added to the gradient) reaches libtorch
/// per group too: with a zero gradient a parameter moves exactly when its
/// scheduled weight decay is not 0 (`LambdaLR`: 0 at epoch 0, then the
/// group's own; group 1 stays at 0 throughout).
#[test]
fn scheduled_weight_decay_reaches_adam_and_rmsprop() {
    for name in ["adam", "rmsprop"] {
        let config = Config::from_yaml(&format!(
            "optimizer: {{name: {name}, lr: 0.1, groups: 2, weight_decay: [0.1, 0.0]}}\nscheduler: {{name: ConstantLR, factor: 1.0}}\n\
             weight_decay_scheduler: {{name: LambdaLR, lr_lambda: 'min(epoch, 1)'}}\n"
        ))
        .unwrap();
        let (vs, ws) = probe_vs(2);
        let mut sched = config.build(config.build_optim(&vs, tch_lr::optim::Backend::Tch).unwrap()).unwrap();
        for step in 0..4 {
            let wds = sched.last_weight_decay().unwrap();
            let after = decay_step(sched.optimizer_mut(), &ws);
            for g in 0..2 {
                assert_eq!(after[g] != 1.0, wds[g] != 0.0, "{name}: step {step}: group {g}: {after:?} with {wds:?}");
            }
            sched.step().unwrap();
        }
    }
}
