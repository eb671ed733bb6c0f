//! Save, load into a freshly built scheduler, continue: the run goes on bit for
//! bit as if it had never stopped, for every scheduler and several stop points.
//! Broken state files are errors, never panics, and saving is atomic.

use crate::common;

use common::*;
use tch_lr::config::Config;
use tch_lr::{Error, Schedule, Scheduler};

const STEPS: usize = 14;
const STOPS: [usize; 5] = [0, 1, 3, 7, 13];

/// A varied metric, so that plateau state (best, bad epochs, cooldown) matters.
fn metric(k: usize) -> f64 {
    [1.0, 0.9, 0.9, 0.95, 0.9, 0.7, 0.7, 0.71, 0.7, 0.7, 0.69, 0.7, 0.7, 0.7][k % 14]
}

fn build(config: &Config) -> Scheduler<Box<dyn Schedule>> {
    let vs = tiny_vs(config.optimizer.as_ref().unwrap().lrs().unwrap().len());
    config.build(config.build_optim(&vs, tch_lr::optim::Backend::Tch).unwrap()).unwrap()
}

/// One row: the bits of every group's LR, last LR and momentum.
fn row(s: &Scheduler<Box<dyn Schedule>>) -> Vec<u64> {
    let g = s.groups();
    g.lrs().into_iter().chain(s.last_lr().iter().copied()).chain(g.momenta()).map(f64::to_bits).collect()
}

fn step(s: &mut Scheduler<Box<dyn Schedule>>, k: usize, fractional: bool) {
    if fractional {
        s.step_to(k as f64 / 3.0 + 0.25).unwrap();
    } else {
        s.step_with(s.schedule().takes_metric().then(|| metric(k))).unwrap();
    }
}

fn check_resume(name: &str, config: &Config, fractional: bool) {
    let mut reference = build(config);
    let mut want = vec![row(&reference)];
    for k in 0..STEPS {
        step(&mut reference, k, fractional);
        want.push(row(&reference));
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("scheduler.yaml");
    for stop in STOPS {
        let mut first = build(config);
        for k in 0..stop {
            step(&mut first, k, fractional);
        }
        first.save(&path).unwrap();
        drop(first);
        let mut resumed = build(config);
        resumed.load(&path).unwrap();
        assert_eq!(row(&resumed), want[stop], "{name}: stopped at {stop}: state after load");
        for k in stop..STEPS {
            step(&mut resumed, k, fractional);
            assert_eq!(row(&resumed), want[k + 1], "{name}: stopped at {stop}: row {}", k + 1);
        }
    }
}

/// A schedule's resume cases: its registry example with SGD (momentum) and
/// with Adam, and, for transformers' schedules, its fixture cases resumed half
/// way (see [`resume_fixture_case_half_way`]).
fn check_schedule(name: &str) {
    let example = tch_lr::schedulers::registry::info(name).expect("a registered schedule").example;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("scheduler.yaml");
    let fixture = if name.starts_with("transformers.") {
        load_cases(&root().join(format!("tests/fixtures/parity/{name}.json")))
    } else {
        vec![]
    };
    let mut cases: Vec<(String, Box<dyn FnOnce() + '_>)> = Vec::new();
    for optimizer in ["{name: sgd, lr: [0.1, 0.02], momentum: 0.9}", "{name: adam, lr: [0.1, 0.02]}"] {
        cases.push((
            format!("example, optimizer {optimizer}"),
            Box::new(move || {
                let config = Config::from_yaml(&format!("optimizer: {optimizer}\nscheduler: {example}")).unwrap();
                check_resume(name, &config, false)
            }),
        ));
    }
    for case in fixture.iter().filter(|c| resumes_half_way(c)) {
        let path = &path;
        cases.push((
            format!("fixture case `{}` resumed half way", case.name),
            Box::new(move || resume_fixture_case_half_way(case, path)),
        ));
    }
    let n = check_cases(name, cases);
    println!("{name}: {n} resume cases");
}

/// Every registered schedule (`TCH_LR_SCHEDULES=StepLR` runs one).
#[test]
fn every_registered_schedule() {
    common::for_each_schedule("resume", check_schedule);
}

#[test]
fn cycled_momentum_and_fractional_epochs_resume_bit_identically() {
    let cases = [
        ("{name: sgd, lr: [0.1, 0.02], momentum: 0.9}", "{name: CyclicLR, base_lr: 0.01, max_lr: [0.1, 0.05], step_size_up: 3, base_momentum: [0.8, 0.6], mode: triangular2}", false),
        ("{name: adamw, lr: 0.1}", "{name: CyclicLR, base_lr: 0.01, max_lr: 0.1, step_size_up: 2, mode: exp_range, gamma: 0.9}", false),
        ("{name: sgd, lr: [0.1, 0.02], momentum: 0.9}", "{name: OneCycleLR, max_lr: [0.1, 0.05], total_steps: 20, three_phase: true}", false),
        ("{name: rmsprop, lr: 0.1, momentum: 0.5}", "{name: OneCycleLR, max_lr: 0.3, total_steps: 15, anneal_strategy: linear}", false),
        ("{name: sgd, lr: [0.1, 0.02]}", "{name: CosineAnnealingWarmRestarts, T_0: 2, T_mult: 2}", true),
    ];
    for (optimizer, scheduler, fractional) in cases {
        let config = Config::from_yaml(&format!("optimizer: {optimizer}\nscheduler: {scheduler}")).unwrap();
        check_resume(scheduler, &config, fractional);
    }
}

/// After `load`, libtorch itself uses the loaded LR, not the fresh scheduler's.
#[test]
fn loaded_lr_reaches_libtorch() {
    let config =
        Config::from_yaml("optimizer: {name: sgd, lr: [0.1, 0.02]}\nscheduler: {name: ExponentialLR, gamma: 0.5}")
            .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s.yaml");
    let mut first = build(&config);
    for _ in 0..5 {
        first.step().unwrap();
    }
    first.save(&path).unwrap();
    let (vs, ws) = probe_vs(2);
    let mut resumed = config.build(config.build_optim(&vs, tch_lr::optim::Backend::Tch).unwrap()).unwrap();
    resumed.load(&path).unwrap();
    let moved = probe_step(resumed.optimizer_mut(), &ws);
    assert_eq!(moved, vec![-0.1 * 0.5f64.powi(5), -0.02 * 0.5f64.powi(5)]);
}

fn saved_state() -> (Config, String) {
    let config =
        Config::from_yaml("optimizer: {name: sgd, lr: [0.1, 0.02]}\nscheduler: {name: StepLR, step_size: 2}").unwrap();
    let mut s = build(&config);
    s.step().unwrap();
    (config, serde_yaml::to_string(&s.state().unwrap()).unwrap())
}

fn load_text(config: &Config, text: &[u8]) -> Result<(), Error> {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.yaml");
    std::fs::write(&path, text).unwrap();
    build(config).load(&path)
}

#[test]
fn broken_state_files_are_errors() {
    let (config, good) = saved_state();
    assert!(load_text(&config, good.as_bytes()).is_ok());
    let mut bad: Vec<(&str, Vec<u8>)> = vec![
        ("empty", vec![]),
        ("truncated", good.as_bytes()[..good.len() / 2].to_vec()),
        ("binary junk", vec![0xff, 0x00, 0xfe, 0x12, 0x80]),
        ("not a mapping", b"[1, 2, 3]".to_vec()),
        ("other format", good.replace("format: 1", "format: 2").into_bytes()),
        ("other scheduler", good.replace("scheduler: StepLR", "scheduler: CyclicLR").into_bytes()),
        ("other optimizer", good.replace("kind: sgd", "kind: adam").into_bytes()),
        ("wrong type", good.replace("last_epoch: 1", "last_epoch: one").into_bytes()),
    ];
    for cut in [10, 40, 80, 120] {
        bad.push(("cut", good.as_bytes()[..cut.min(good.len())].to_vec()));
    }
    for (what, text) in &bad {
        let err = load_text(&config, text).expect_err(what);
        assert!(matches!(err, Error::State(_)), "{what}: {err:?}");
    }
    // A state saved with three groups, loaded with two.
    let three =
        Config::from_yaml("optimizer: {name: sgd, lr: [0.1, 0.02, 0.3]}\nscheduler: {name: StepLR, step_size: 2}")
            .unwrap();
    let text = serde_yaml::to_string(&build(&three).state().unwrap()).unwrap();
    assert!(matches!(load_text(&config, text.as_bytes()), Err(Error::State(_))));
    // A missing file.
    let err = build(&config).load("/nonexistent/state.yaml").unwrap_err();
    assert!(matches!(err, Error::Io { .. }), "{err:?}");
}

#[test]
fn save_is_atomic_and_replaces_the_old_state() {
    let (config, _) = saved_state();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.yaml");
    let mut s = build(&config);
    s.save(&path).unwrap();
    s.step().unwrap();
    s.step().unwrap();
    s.save(&path).unwrap();
    let names: Vec<_> = std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert_eq!(names, vec![std::ffi::OsString::from("state.yaml")], "no temporary file is left behind");
    let mut fresh = build(&config);
    fresh.load(&path).unwrap();
    assert_eq!(fresh.last_epoch(), 2);
    let err = s.save(dir.path().join("missing-dir/state.yaml")).unwrap_err();
    assert!(matches!(err, Error::Io { .. }), "{err:?}");
}

/// Whether a fixture case (written by the reference library, not by tch-lr)
/// is one that [`resume_fixture_case_half_way`] runs: no error, metric or epochs.
fn resumes_half_way(case: &Case) -> bool {
    case.expected.error.is_none() && case.metrics.is_none() && case.epochs.is_none()
}

/// A fixture case stopped half-way, saved to `path`, loaded into a freshly
/// built scheduler and run to its end: every row still matches the reference
/// to 1e-9 relative.
fn resume_fixture_case_half_way(case: &Case, path: &std::path::Path) {
    let config = Config::from_value(serde_yaml::to_value(&case.config).unwrap()).unwrap();
    let stop = case.steps / 2;
    let mut first = build(&config);
    for _ in 0..stop {
        first.step().unwrap();
    }
    first.save(path).unwrap();
    drop(first);
    let mut resumed = build(&config);
    resumed.load(path).unwrap();
    for row in stop..=case.steps {
        if row > stop {
            resumed.step().unwrap_or_else(|e| panic!("{}: row {row}: {e}", case.name));
        }
        let name = format!("{} (resumed at {stop})", case.name);
        assert_row("lr", &name, row, &resumed.groups().lrs(), &case.expected.lr[row]);
        assert_row("last_lr", &name, row, resumed.last_lr(), &case.expected.last_lr[row]);
        assert_row("momentum", &name, row, &resumed.groups().momenta(), &case.expected.momentum[row]);
    }
}

/// The transformers fixture cases that `resume::transformers_*` resume half
/// way (each in its schedule's test) are enough of them.
#[test]
fn transformers_fixture_cases_resume_half_way() {
    let files = parity_files();
    let n: usize = files
        .iter()
        .filter(|p| p.file_name().unwrap().to_string_lossy().starts_with("transformers."))
        .map(|file| load_cases(file).iter().filter(|c| resumes_half_way(c)).count())
        .sum();
    assert!(n >= 100, "only {n} transformers cases resumed");
}
