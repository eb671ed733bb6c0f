//! Property tests: random valid arguments give finite LRs that stay inside the
//! bounds the schedule promises; random (often invalid) arguments give an
//! error or a schedule, never a panic. These run on the pure state machines
//! (no libtorch), thousands of schedules per second.

use proptest::prelude::*;
use tch_lr::config::Config;
use tch_lr::groups::OptimizerKind;
use tch_lr::groups::ParamGroups;
use tch_lr::internals::Protocol as _;
use tch_lr::schedulers::REGISTRY;
use tch_lr::Schedule;

const STEPS: usize = 60;

/// Steps `schedule` over groups with base LRs `lrs`, checking after every step
/// that each LR is finite and inside `[lo(base), hi(base)]` (with rounding slack).
fn check_bounds(
    mut schedule: Box<dyn Schedule>,
    lrs: &[f64],
    steps: usize,
    lo: impl Fn(f64) -> f64,
    hi: impl Fn(f64) -> f64,
) -> Result<(), TestCaseError> {
    let mut groups = ParamGroups::new(OptimizerKind::Sgd, lrs, 0.9).unwrap();
    schedule.init(&mut groups).map_err(|e| TestCaseError::fail(format!("init: {e}")))?;
    for k in 0..=steps {
        if k > 0 {
            if schedule.takes_metric() { schedule.step_metric(&mut groups, 1.0) } else { schedule.step(&mut groups) }
                .map_err(|e| TestCaseError::fail(format!("step {k}: {e}")))?;
        }
        for (lr, base) in groups.lrs().iter().zip(lrs) {
            let (l, h) = (lo(*base), hi(*base));
            let slack = 1e-12 * h.abs().max(l.abs()).max(1e-300);
            prop_assert!(lr.is_finite(), "step {}: lr {} is not finite", k, lr);
            prop_assert!(*lr >= l - slack && *lr <= h + slack, "step {}: lr {} outside [{}, {}]", k, lr, l, h);
        }
    }
    Ok(())
}

fn schedule(yaml: &str) -> Box<dyn Schedule> {
    Config::from_yaml(yaml).unwrap_or_else(|e| panic!("{yaml}: {e}")).schedule().unwrap()
}

fn base_lrs() -> impl Strategy<Value = Vec<f64>> {
    prop::collection::vec(1e-6f64..10.0, 1..4)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn step_and_exponential_decay_stay_below_base(lrs in base_lrs(), step in 1i64..20, gamma in 0.0f64..=1.0) {
        check_bounds(schedule(&format!("scheduler: {{name: StepLR, step_size: {step}, gamma: {gamma:?}}}")), &lrs, STEPS, |_| 0.0, |b| b)?;
        check_bounds(schedule(&format!("scheduler: {{name: ExponentialLR, gamma: {gamma:?}}}")), &lrs, STEPS, |_| 0.0, |b| b)?;
        check_bounds(schedule(&format!("scheduler: {{name: MultiStepLR, milestones: [{step}, {}], gamma: {gamma:?}}}", step * 2)), &lrs, STEPS, |_| 0.0, |b| b)?;
    }

    #[test]
    fn warmups_stay_between_their_factors(lrs in base_lrs(), start in 1e-3f64..=1.0, end in 0.0f64..=1.0, total in 1i64..30) {
        let (lo, hi) = (start.min(end), start.max(end));
        check_bounds(schedule(&format!("scheduler: {{name: LinearLR, start_factor: {start:?}, end_factor: {end:?}, total_iters: {total}}}")),
            &lrs, STEPS, |b| b * lo, |b| b * hi)?;
        let f = start;
        check_bounds(schedule(&format!("scheduler: {{name: ConstantLR, factor: {f:?}, total_iters: {total}}}")), &lrs, STEPS, |b| b * f, |b| b)?;
        check_bounds(schedule(&format!("scheduler: {{name: PolynomialLR, total_iters: {total}, power: {:?}}}", end * 3.0)), &lrs, STEPS, |_| 0.0, |b| b)?;
    }

    #[test]
    fn cosines_stay_between_eta_min_and_base(lrs in base_lrs(), t in 1i64..40, mult in 1i64..4, frac in 0.0f64..1.0) {
        let eta_min = lrs.iter().cloned().fold(f64::INFINITY, f64::min) * frac;
        check_bounds(schedule(&format!("scheduler: {{name: CosineAnnealingLR, T_max: {t}, eta_min: {eta_min:?}}}")), &lrs, STEPS, |_| eta_min, |b| b)?;
        check_bounds(schedule(&format!("scheduler: {{name: CosineAnnealingWarmRestarts, T_0: {t}, T_mult: {mult}, eta_min: {eta_min:?}}}")), &lrs, STEPS, |_| eta_min, |b| b)?;
    }

    #[test]
    fn cyclic_stays_between_base_lr_and_max_lr(base in 1e-5f64..0.1, span in 0.0f64..1.0, up in 1i64..20, down in 1i64..20, mode in 0usize..3) {
        let mode = ["triangular", "triangular2", "exp_range"][mode];
        let max = base + span;
        let s = schedule(&format!("scheduler: {{name: CyclicLR, base_lr: {base:?}, max_lr: {max:?}, step_size_up: {up}, step_size_down: {down}, mode: {mode}, gamma: 0.99}}"));
        check_bounds(s, &[0.1, 0.2], 4 * (up + down) as usize, |_| base, |_| max)?;
    }

    #[test]
    fn one_cycle_stays_between_its_floor_and_max_lr(max in 1e-4f64..10.0, total in 8i64..300, pct in 0.1f64..0.9, div in 1.0f64..100.0, three in any::<bool>(), linear in any::<bool>()) {
        let anneal = if linear { "linear" } else { "cos" };
        let s = schedule(&format!("scheduler: {{name: OneCycleLR, max_lr: {max:?}, total_steps: {total}, pct_start: {pct:?}, div_factor: {div:?}, three_phase: {three}, anneal_strategy: {anneal}}}"));
        let floor = max / div / 1e4;
        // Phases of zero length divide by zero in PyTorch too: skip those draws.
        let mut g = ParamGroups::new(OptimizerKind::Sgd, &[0.1], 0.9).unwrap();
        let mut probe = s;
        prop_assume!(probe.init(&mut g).is_ok() && (0..total - 1).all(|_| probe.step(&mut g).is_ok()));
        let s = schedule(&format!("scheduler: {{name: OneCycleLR, max_lr: {max:?}, total_steps: {total}, pct_start: {pct:?}, div_factor: {div:?}, three_phase: {three}, anneal_strategy: {anneal}}}"));
        check_bounds(s, &[0.1], (total - 1) as usize, |_| floor, |_| max)?;
    }

    #[test]
    fn plateau_never_goes_below_min_lr_or_above_base(lrs in base_lrs(), factor in 0.0f64..0.99, patience in 0i64..5, cooldown in 0i64..5, frac in 0.0f64..1.0) {
        let min_lr = lrs.iter().cloned().fold(f64::INFINITY, f64::min) * frac;
        let s = schedule(&format!("scheduler: {{name: ReduceLROnPlateau, factor: {factor:?}, patience: {patience}, cooldown: {cooldown}, min_lr: {min_lr:?}}}"));
        check_bounds(s, &lrs, STEPS, |_| min_lr, |b| b)?;
    }

    #[test]
    fn composites_of_bounded_schedules_stay_bounded(lrs in base_lrs(), warm in 1i64..10, t in 1i64..50, start in 0.01f64..=1.0) {
        let seq = format!("scheduler: {{name: SequentialLR, milestones: [{warm}], schedulers: [{{name: LinearLR, start_factor: {start:?}, total_iters: {warm}}}, {{name: CosineAnnealingLR, T_max: {t}}}]}}");
        check_bounds(schedule(&seq), &lrs, STEPS, |_| 0.0, |b| b)?;
        let chain = format!("scheduler: {{name: ChainedScheduler, schedulers: [{{name: LinearLR, start_factor: {start:?}, total_iters: {warm}}}, {{name: CosineAnnealingLR, T_max: {t}}}]}}");
        // Chained recursive forms can overshoot the base LR (PyTorch does too:
        // LinearLR(0.01, 5) + CosineAnnealingLR(2) reaches 1.33 x base at step 4).
        check_bounds(schedule(&chain), &lrs, STEPS, |_| 0.0, |_| f64::MAX)?;
    }
}

/// Any number, including NaN, infinities, zero and negatives.
fn any_number() -> impl Strategy<Value = f64> {
    prop_oneof![
        Just(f64::NAN),
        Just(f64::INFINITY),
        Just(f64::NEG_INFINITY),
        Just(0.0),
        Just(-1.0),
        Just(1.0),
        Just(f64::MAX),
        Just(f64::MIN_POSITIVE),
        -1e3f64..1e3,
    ]
}

fn any_int() -> impl Strategy<Value = i64> {
    prop_oneof![Just(0i64), Just(-1), Just(1), Just(i64::MAX), Just(i64::MIN), -100i64..100]
}

fn yaml_num(v: f64) -> String {
    if v.is_nan() {
        ".nan".into()
    } else if v == f64::INFINITY {
        ".inf".into()
    } else if v == f64::NEG_INFINITY {
        "-.inf".into()
    } else {
        format!("{v:?}")
    }
}

/// Builds the schedule from any arguments and steps it: errors are fine, panics are not.
fn run_anything(yaml: &str, lrs: &[f64]) {
    let Ok(config) = Config::from_yaml(yaml) else { return };
    let Ok(mut s) = config.schedule() else { return };
    let Ok(mut groups) = ParamGroups::new(OptimizerKind::Sgd, lrs, 0.9) else { return };
    if s.init(&mut groups).is_err() {
        return;
    }
    for k in 0..40 {
        let r = if s.takes_metric() { s.step_metric(&mut groups, k as f64) } else { s.step(&mut groups) };
        if r.is_err() {
            return;
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    /// Every registered schedule, from its registry example with each number,
    /// integer and flag replaced by a random (often invalid) one: an error or a
    /// schedule, never a panic.
    #[test]
    fn any_arguments_give_an_error_or_a_schedule_never_a_panic(
        nums in prop::collection::vec(any_number(), 16), ints in prop::collection::vec(any_int(), 16),
        flags in prop::collection::vec(any::<bool>(), 16), keep in prop::collection::vec(any::<bool>(), 16),
        lrs in prop::collection::vec(any_number(), 1..4),
    ) {
        let lrs: Vec<f64> = lrs.iter().map(|v| if v.is_nan() { 0.1 } else { *v }).collect();
        for s in REGISTRY {
            let mut args: serde_yaml::Mapping = serde_yaml::from_str(s.example).unwrap();
            for (k, kw) in (s.kwargs)().iter().enumerate() {
                if keep[k % keep.len()] {
                    continue;
                }
                let v = match kw.ty {
                    "int" => ints[k % ints.len()].to_string(),
                    "float" | "float | list[float]" => yaml_num(nums[k % nums.len()]),
                    "bool" => flags[k % flags.len()].to_string(),
                    "list[int]" => format!("[{}, {}]", ints[k % ints.len()], ints[(k + 1) % ints.len()]),
                    "str | list[str]" => format!("'{} / (epoch - {})'", yaml_num(nums[k % nums.len()]), ints[k % ints.len()]),
                    _ => continue,
                };
                args.insert(kw.name.into(), serde_yaml::from_str(&v).unwrap());
            }
            let yaml = serde_yaml::to_string(&serde_yaml::Value::Mapping(
                [("scheduler".into(), serde_yaml::Value::Mapping(args))].into_iter().collect(),
            ))
            .unwrap();
            run_anything(&yaml, &lrs);
        }
    }

    #[test]
    fn pytorch_rejects_and_so_do_we(factor in prop_oneof![-10.0f64..-1e-9, 1.0f64 + 1e-9..10.0], t in -100i64..=0) {
        let errs = [
            format!("{{name: ConstantLR, factor: {factor:?}}}"),
            format!("{{name: LinearLR, start_factor: {factor:?}}}"),
            format!("{{name: LinearLR, end_factor: {factor:?}}}"),
            format!("{{name: OneCycleLR, max_lr: 0.1, total_steps: {t}}}"),
            format!("{{name: OneCycleLR, max_lr: 0.1, total_steps: 10, pct_start: {factor:?}}}"),
            format!("{{name: CosineAnnealingWarmRestarts, T_0: {t}}}"),
            format!("{{name: CosineAnnealingWarmRestarts, T_0: 3, T_mult: {t}}}"),
            format!("{{name: ReduceLROnPlateau, factor: {:?}}}", factor.abs() + 1.0),
        ];
        for s in errs {
            let config = Config::from_yaml(&format!("scheduler: {s}")).unwrap();
            prop_assert!(config.validate().is_err(), "{} was accepted", s);
        }
    }
}
