//! Schedules of weight decay and momentum against their oracle:
//! `tests/fixtures/hyper/*.json` (written by `scripts/fixtures/gen_hyper.py`)
//! hold what the reference library's own scheduler (PyTorch 2.13, transformers,
//! timm) does on an optimizer whose LRs are the groups' weight decays
//! (momenta): each case is replayed from its YAML config through a real tch
//! optimizer, row by row to 1e-9 relative, errors included; then stopped
//! half-way, saved, loaded into a fresh scheduler and continued: bit for bit
//! the uninterrupted run. And the conflicts are clear errors.

use crate::common;

use std::path::Path;

use common::*;
use serde::Deserialize;
use tch::nn;
use tch_lr::config::Config;
use tch_lr::hyper::HyperParam;
use tch_lr::{Error, ExponentialLR, LinearLR, OneCycleLR, Optim, Schedule, Scheduler, StepLR};

#[derive(Deserialize)]
struct HyperCase {
    name: String,
    config: serde_json::Value,
    steps: usize,
    #[serde(default)]
    metrics: Option<Vec<f64>>,
    #[serde(default)]
    epochs: Option<Vec<f64>>,
    expected: HyperExpected,
}

#[derive(Deserialize)]
struct HyperExpected {
    lr: Vec<Vec<Num>>,
    momentum: Vec<Vec<Num>>,
    #[serde(default)]
    weight_decay: Option<Vec<Vec<Num>>>,
    error: Option<PyError>,
}

#[derive(Deserialize)]
struct HyperFixture {
    torch_version: String,
    cases: Vec<HyperCase>,
}

fn cases(file: &str) -> Vec<HyperCase> {
    let path = root().join("tests/fixtures/hyper").join(file);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let f: HyperFixture = serde_json::from_str(&text).unwrap();
    assert_eq!(f.torch_version, "2.13.0");
    f.cases
}

fn all_cases() -> Vec<HyperCase> {
    let mut all = cases("weight_decay.json");
    all.extend(cases("momentum.json"));
    all
}

fn config_of(case: &HyperCase) -> Config {
    let yaml = serde_yaml::to_value(&case.config).unwrap();
    Config::from_value(yaml).unwrap_or_else(|e| panic!("{}: config: {e}", case.name))
}

fn build(config: &Config) -> tch_lr::Result<Scheduler<Box<dyn Schedule>>> {
    let vs = tiny_vs(config.optimizer.as_ref().unwrap().lrs().unwrap().len());
    config.build(config.build_optim(&vs, tch_lr::optim::Backend::Tch)?)
}

/// The step the reference took before row `k + 1`.
fn step(s: &mut Scheduler<Box<dyn Schedule>>, case: &HyperCase, k: usize) -> tch_lr::Result<()> {
    match &case.epochs {
        Some(e) => s.step_to(e[k]),
        None => s.step_with(case.metrics.as_ref().map(|m| m[k])),
    }
}

/// One row: each group's LR, momentum and weight decay.
fn row(s: &Scheduler<Box<dyn Schedule>>) -> [Vec<f64>; 3] {
    let g = s.groups();
    [g.lrs(), g.momenta(), g.weight_decays()]
}

fn check_row(case: &HyperCase, k: usize, got: &[Vec<f64>; 3]) {
    let want = &case.expected;
    assert_row("lr", &case.name, k, &got[0], &want.lr[k]);
    assert_row("momentum", &case.name, k, &got[1], &want.momentum[k]);
    if let Some(wd) = &want.weight_decay {
        assert_row("weight_decay", &case.name, k, &got[2], &wd[k]);
    }
}

fn check_case(case: &HyperCase) {
    let config = config_of(case);
    let mut error = None;
    let mut rows = 0;
    match build(&config) {
        Err(e) => error = Some((0, e)),
        Ok(mut s) => {
            check_row(case, 0, &row(&s));
            rows = 1;
            for k in 0..case.steps {
                if let Err(e) = step(&mut s, case, k) {
                    error = Some((k + 1, e));
                    break;
                }
                check_row(case, k + 1, &row(&s));
                rows += 1;
            }
        }
    }
    assert_eq!(rows, case.expected.lr.len(), "{}: {rows} rows, the reference {}", case.name, case.expected.lr.len());
    match (&error, &case.expected.error) {
        (None, None) => {}
        (Some((row, e)), Some(py)) => {
            assert_eq!(*row, py.row, "{}: error at row {row}, the reference at {}", case.name, py.row);
            assert_eq!(py_type(e), py.kind, "{}: {e:?}, the reference {} {}", case.name, py.kind, py.message);
            if py.kind == "ValueError" {
                assert_eq!(e.to_string(), py.message, "{}", case.name);
            }
        }
        (got, want) => {
            panic!("{}: error {:?}, the reference {want:?}", case.name, got.as_ref().map(|(r, e)| (r, e.to_string())))
        }
    }
}

/// `torch.optim.lr_scheduler.<X>(shadow)`, where `shadow`'s LRs are the weight
/// decays (momenta), for every case: the same values, row by row.
#[test]
fn every_weight_decay_and_momentum_schedule_matches_its_oracle() {
    let all = all_cases();
    assert!(all.len() >= 150, "{} cases", all.len());
    let pytorch: std::collections::BTreeSet<String> = all
        .iter()
        .filter_map(|c| c.config.get("weight_decay_scheduler")?.get("name")?.as_str().map(String::from))
        .filter(|n| !n.contains('.'))
        .collect();
    assert_eq!(pytorch.len(), 15, "every PyTorch scheduler schedules the weight decay: {pytorch:?}");
    let mut failures = Vec::new();
    for case in &all {
        if let Err(p) = std::panic::catch_unwind(|| check_case(case)) {
            let msg = p.downcast_ref::<String>().cloned().unwrap_or_else(|| format!("{}: panicked", case.name));
            failures.push(msg);
        }
    }
    assert!(failures.is_empty(), "{} of {} cases differ:\n{}", failures.len(), all.len(), failures.join("\n"));
}

/// Every case that runs without an error, stopped half-way, saved (one state
/// file: the LR, weight decay and momentum schedules), loaded into a freshly
/// built scheduler and continued: every row bit for bit the uninterrupted
/// run's, and still the reference's.
#[test]
fn every_case_resumes_half_way_bit_identically() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("scheduler.yaml");
    let mut n = 0;
    for case in all_cases().iter().filter(|c| c.expected.error.is_none()) {
        let config = config_of(case);
        let mut reference = build(&config).unwrap();
        let mut want = vec![row(&reference)];
        for k in 0..case.steps {
            step(&mut reference, case, k).unwrap();
            want.push(row(&reference));
        }
        let stop = case.steps / 2;
        let mut first = build(&config).unwrap();
        for k in 0..stop {
            step(&mut first, case, k).unwrap();
        }
        first.save(&path).unwrap();
        drop(first);
        let mut resumed = build(&config).unwrap();
        resumed.load(&path).unwrap();
        for (k, want) in want.iter().enumerate().skip(stop) {
            if k > stop {
                step(&mut resumed, case, k - 1).unwrap();
            }
            let got = row(&resumed);
            let bits = |r: &[Vec<f64>; 3]| r.iter().flatten().map(|v| v.to_bits()).collect::<Vec<_>>();
            assert_eq!(bits(&got), bits(want), "{}: resumed at {stop}: row {k}", case.name);
            check_row(case, k, &got);
        }
        n += 1;
    }
    assert!(n >= 150, "only {n} cases resumed");
}

fn yaml_error(text: &str) -> String {
    Config::from_yaml(text).map(|_| ()).expect_err(text).to_string()
}

#[test]
fn a_momentum_schedule_beside_cycled_momentum_is_refused_naming_both() {
    let opt = "optimizer: {name: sgd, lr: 0.1, momentum: 0.9}\n";
    let err = yaml_error(&format!(
        "{opt}scheduler: {{name: OneCycleLR, max_lr: 0.1, total_steps: 10}}\nmomentum_scheduler:\n  name: ExponentialLR\n  gamma: 0.9\n"
    ));
    for w in ["momentum_scheduler", "ExponentialLR", "OneCycleLR", "cycle_momentum", "line 3"] {
        assert!(err.contains(w), "{err:?} should mention {w:?}");
    }
    // Inside a composite too.
    let err = yaml_error(&format!(
        "{opt}scheduler:\n  name: SequentialLR\n  milestones: [2]\n  schedulers:\n    - {{name: ConstantLR}}\n    - {{name: CyclicLR, base_lr: 0.01, max_lr: 0.1}}\nmomentum_scheduler: {{name: StepLR, step_size: 2}}\n"
    ));
    assert!(err.contains("StepLR") && err.contains("SequentialLR") && err.contains("line 8"), "{err}");
    // Without the cycling: fine.
    let ok = format!(
        "{opt}scheduler: {{name: OneCycleLR, max_lr: 0.1, total_steps: 10, cycle_momentum: false}}\nmomentum_scheduler: {{name: ExponentialLR, gamma: 0.9}}\n"
    );
    Config::from_yaml(&ok).unwrap().validate().unwrap();

    // The Rust API says the same.
    let vs = tiny_vs(1);
    let optim = Optim::new(nn::Sgd { momentum: 0.9, ..Default::default() }, &vs, 0.1).unwrap();
    let sched = OneCycleLR::new(0.1).total_steps(10).build(optim).unwrap();
    let err = sched.with_schedule(HyperParam::Momentum, ExponentialLR::new(0.9)).unwrap_err();
    assert!(matches!(err, Error::Unsupported(_)), "{err:?}");
    assert!(err.to_string().contains("ExponentialLR") && err.to_string().contains("OneCycleLR"), "{err}");
}

#[test]
fn the_lr_and_a_second_schedule_of_one_target_are_refused() {
    let vs = tiny_vs(1);
    let optim = Optim::new(nn::AdamW::default(), &vs, 0.1).unwrap();
    let sched = StepLR::new(2).build(optim).unwrap();
    let err = sched.with_schedule(HyperParam::Lr, StepLR::new(3)).unwrap_err();
    assert!(matches!(err, Error::Unsupported(_)) && err.to_string().contains("ChainedScheduler"), "{err}");
    let optim = Optim::new(nn::AdamW::default(), &vs, 0.1).unwrap();
    let sched = StepLR::new(2).build(optim).unwrap().with_schedule(HyperParam::WeightDecay, StepLR::new(3)).unwrap();
    let err = sched.with_schedule(HyperParam::WeightDecay, LinearLR::new()).unwrap_err();
    assert!(err.to_string().contains("weight_decay is already scheduled by StepLR"), "{err}");
}

/// tch sets beta1 for all groups at once: a momentum schedule that gives
/// AdamW groups different values stops at that step, saying so.
#[test]
fn different_beta1_per_group_is_unsupported_and_said() {
    let config = Config::from_yaml(
        "optimizer: {name: adamw, lr: [0.1, 0.01]}\nscheduler: {name: StepLR, step_size: 2}\n\
         momentum_scheduler: {name: LambdaLR, lr_lambda: ['1', '0.99 ** epoch']}\n",
    )
    .unwrap();
    let mut s = build(&config).unwrap(); // both 0.9 at epoch 0
    let err = s.step().unwrap_err();
    assert!(matches!(err, Error::Unsupported(_)), "{err:?}");
    for w in ["adamw", "beta1", "momentum schedule"] {
        assert!(err.to_string().contains(w), "{err} should mention {w}");
    }
}

/// A metric goes to each schedule that takes one; a step without one fails
/// before anything moves.
#[test]
fn a_metric_reaches_the_schedule_that_takes_it() {
    let config = Config::from_yaml(
        "optimizer: {name: sgd, lr: 0.1, weight_decay: 0.001}\nscheduler: {name: StepLR, step_size: 1, gamma: 0.5}\n\
         weight_decay_scheduler: {name: ReduceLROnPlateau, patience: 0, factor: 0.1}\n",
    )
    .unwrap();
    assert!(config.takes_metric());
    let mut s = build(&config).unwrap();
    let err = s.step().unwrap_err();
    assert!(err.to_string().contains("ReduceLROnPlateau needs a metric"), "{err}");
    assert_eq!(s.last_epoch(), 0, "nothing stepped");
    s.step_with(Some(1.0)).unwrap();
    s.step_with(Some(1.0)).unwrap();
    assert_eq!(s.last_lr(), [0.025]);
    assert!(close(s.last_weight_decay().unwrap()[0], 1e-4));
}

/// The optimizer section's `weight_decay`, one per group: PyTorch's message
/// for a bad one, at its place; a list of the wrong length.
#[test]
fn per_group_weight_decay_is_checked_at_its_place() {
    let err = yaml_error("optimizer:\n  name: adamw\n  lr: [0.1, 0.01]\n  weight_decay: [0.01, -0.1]\nscheduler: {name: StepLR, step_size: 2}\n");
    for w in ["optimizer.weight_decay[1]", "Invalid weight_decay value: -0.1", "line 4"] {
        assert!(err.contains(w), "{err:?} should mention {w:?}");
    }
    let err = yaml_error("optimizer: {name: sgd, lr: [0.1, 0.01], weight_decay: [0.01, .nan]}\nscheduler: {name: StepLR, step_size: 2}\n");
    assert!(err.contains("optimizer.weight_decay[1]") && err.contains("finite"), "{err}");
    let err = yaml_error(
        "optimizer: {name: sgd, lr: [0.1, 0.01], weight_decay: [0.01]}\nscheduler: {name: StepLR, step_size: 2}\n",
    );
    assert!(err.contains("optimizer.weight_decay") && err.contains("2 parameter group"), "{err}");
    // And the Rust API.
    let vs = tiny_vs(2);
    let err = Optim::new(nn::Sgd::default(), &vs, 0.1).unwrap().weight_decay([0.1, -1.0]).unwrap_err();
    assert_eq!(err.to_string(), "Invalid weight_decay value: -1.0");
    let err = Optim::new(nn::Sgd::default(), &vs, 0.1).unwrap().weight_decay([0.1]).unwrap_err();
    assert!(matches!(err, Error::GroupCount { expected: 2, got: 1, .. }), "{err:?}");
}

/// A state of a scheduler with other schedules is not loaded.
#[test]
fn a_state_with_other_schedules_is_refused() {
    let text = |extra: &str| {
        format!("optimizer: {{name: adamw, lr: 0.1}}\nscheduler: {{name: StepLR, step_size: 2}}\n{extra}")
    };
    let with = Config::from_yaml(&text("weight_decay_scheduler: {name: ExponentialLR, gamma: 0.9}\n")).unwrap();
    let other = Config::from_yaml(&text("weight_decay_scheduler: {name: StepLR, step_size: 3}\n")).unwrap();
    let without = Config::from_yaml(&text("")).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let saved = |config: &Config, name: &str| {
        let path = dir.path().join(name);
        let mut s = build(config).unwrap();
        s.step().unwrap();
        s.save(&path).unwrap();
        path
    };
    let load = |config: &Config, path: &Path| build(config).unwrap().load(path);
    let (p_with, p_without) = (saved(&with, "with.yaml"), saved(&without, "without.yaml"));
    load(&with, &p_with).unwrap();
    load(&without, &p_without).unwrap();
    for (config, path) in [(&without, &p_with), (&with, &p_without), (&other, &p_with)] {
        let err = load(config, path).unwrap_err();
        assert!(matches!(err, Error::State(_)) && err.to_string().contains("weight_decay by"), "{err}");
    }
    // An LR-only state is written as before: no `hypers` key.
    assert!(!std::fs::read_to_string(&p_without).unwrap().contains("hypers"));
}

/// A weight decay that overflows to infinity (PyTorch would write it) is not
/// written: the step fails and the optimizer keeps its last weight decays.
#[test]
fn a_non_finite_weight_decay_is_not_written() {
    let config = Config::from_yaml(
        "optimizer: {name: sgd, lr: 0.1, weight_decay: 0.01}\nscheduler: {name: StepLR, step_size: 2}\n\
         weight_decay_scheduler: {name: MultiplicativeLR, lr_lambda: '1e300'}\n",
    )
    .unwrap();
    let mut s = build(&config).unwrap();
    s.step().unwrap();
    let last = s.groups().weight_decays();
    assert!(close(last[0], 1e298), "{last:?}");
    let err = s.step().unwrap_err();
    assert!(matches!(err, Error::NonFinite { what: "weight_decay", group: 0, .. }), "{err:?}");
    assert_eq!(s.groups().weight_decays(), last, "the last weight decay written stays");
}

/// A state saved before groups had a weight decay loads, keeping the
/// optimizer's weight decay.
#[test]
fn a_state_without_weight_decays_keeps_the_optimizers() {
    let config =
        Config::from_yaml("optimizer: {name: sgd, lr: [0.1, 0.01], weight_decay: [5.0e-4, 0.0]}\nscheduler: {name: StepLR, step_size: 2}\n")
            .unwrap();
    let mut s = build(&config).unwrap();
    s.step().unwrap();
    let text = serde_yaml::to_string(&s.state().unwrap()).unwrap();
    let old: String = text.lines().filter(|l| !l.contains("weight_decay")).map(|l| format!("{l}\n")).collect();
    assert_ne!(old, text);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("old.yaml");
    std::fs::write(&path, old).unwrap();
    let mut fresh = build(&config).unwrap();
    fresh.load(&path).unwrap();
    assert_eq!(fresh.groups().weight_decays(), [5.0e-4, 0.0]);
    assert_eq!(fresh.last_epoch(), 1);
}
