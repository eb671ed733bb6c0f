//! The YAML loader: every file in `configs/` loads; malformed, unknown, mistyped,
//! out-of-range, empty and random input gives a clean error that says where and
//! what, never a panic.

mod common;

use common::*;
use proptest::prelude::*;
use tch_lr::config::Config;
use tch_lr::{Error, Optim};

#[test]
fn every_file_in_configs_loads_validates_and_builds() {
    let mut n = 0;
    for entry in std::fs::read_dir(root().join("configs")).unwrap() {
        let path = entry.unwrap().path();
        let config = Config::from_path(&path).unwrap_or_else(|e| panic!("{e}"));
        config.validate().unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let groups = config.optimizer.as_ref().unwrap().lrs().unwrap().len();
        let vs = tiny_vs(groups);
        config.build(config.build_optim(&vs).unwrap()).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        n += 1;
    }
    assert!(n >= 18, "{n} configs");
}

fn err(yaml: &str) -> Error {
    match Config::from_yaml(yaml) {
        Ok(c) => c.validate().expect_err(yaml),
        Err(e) => e,
    }
}

/// (YAML, words the error must contain)
const BAD: &[(&str, &[&str])] = &[
    ("", &["empty"]),
    ("   \n# only a comment\n", &["empty"]),
    ("scheduler: [", &["line 2"]),
    // A deeper indent continues the plain scalar "StepLR", where `: ` is not
    // allowed: YAML's own syntax error, at the colon.
    ("scheduler:\n  name: StepLR\n   step_size: 3\n", &["mapping values are not allowed", "line 3"]),
    ("scheduler: {name: StepLr, step_size: 3}", &["StepLr", "StepLR", "CosineAnnealingWarmRestarts", "line 1"]),
    ("scheduler: {step_size: 3}", &["name"]),
    ("scheduler:\n  name: StepLR\n  step_size: 3\n  gama: 0.1\n", &["gama", "gamma", "line 4"]),
    ("schedular: {name: StepLR, step_size: 3}", &["schedular", "scheduler"]),
    ("scheduler: {name: StepLR, step_size: 3}\ninterval: batch\n", &["batch", "step", "epoch"]),
    ("scheduler:\n  name: StepLR\n  step_size: three\n", &["step_size", "line 3"]),
    ("scheduler: {name: StepLR, step_size: 2.5}", &["step_size", "expected i64", "column 27"]),
    ("scheduler: {name: CosineAnnealingLR, T_max: 2.5}", &["T_max"]),
    ("scheduler: {name: MultiStepLR, milestones: 3}", &["milestones"]),
    ("scheduler: {name: ReduceLROnPlateau, mode: minimum}", &["minimum", "min", "max"]),
    ("scheduler: {name: ReduceLROnPlateau, threshold_mode: relative}", &["relative", "rel", "abs"]),
    ("scheduler: {name: CyclicLR, base_lr: 0.1, max_lr: 1, mode: triangle}", &["triangle", "triangular2", "exp_range"]),
    (
        "scheduler: {name: OneCycleLR, max_lr: 0.1, total_steps: 10, anneal_strategy: cosine}",
        &["cosine", "cos", "linear"],
    ),
    ("scheduler: {name: LambdaLR, lr_lambda: 'epoch +* 2'}", &["lr_lambda"]),
    ("scheduler: {name: LambdaLR, lr_lambda: 'foo(epoch)'}", &["lr_lambda", "foo"]),
    ("scheduler: {name: LambdaLR, lr_lambda: 'x * 2'}", &["lr_lambda", "x"]),
    ("scheduler: {name: CyclicLR, base_lr: 0.1, max_lr: 1, scale_fn: 'epoch'}", &["scale_fn"]),
    ("optimizer: {name: sgdd, lr: 0.1}\nscheduler: {name: StepLR, step_size: 3}", &["sgdd", "adamw", "rmsprop"]),
    (
        "optimizer: {name: adam, lr: 0.1, momentum: 0.9}\nscheduler: {name: StepLR, step_size: 3}",
        &["momentum", "betas"],
    ),
    (
        "optimizer: {name: sgd, lr: [0.1, 0.2], groups: 3}\nscheduler: {name: StepLR, step_size: 3}",
        &["groups", "3", "2"],
    ),
    ("optimizer: {name: sgd, lr: []}\nscheduler: {name: StepLR, step_size: 3}", &["empty"]),
    ("optimizer: {name: sgd, lr: 0.1, groups: 0}\nscheduler: {name: StepLR, step_size: 3}", &["groups"]),
    ("scheduler: {name: ConstantLR, factor: 1.5}", &["Constant multiplicative factor expected to be between 0 and 1."]),
    ("scheduler: {name: LinearLR, start_factor: 0}", &["Starting multiplicative factor"]),
    (
        "scheduler: {name: OneCycleLR, max_lr: 0.1}",
        &["You must define either total_steps OR (epochs AND steps_per_epoch)"],
    ),
    (
        "scheduler: {name: OneCycleLR, max_lr: 0.1, total_steps: -3}",
        &["Expected positive integer total_steps, but got -3"],
    ),
    ("scheduler: {name: CosineAnnealingWarmRestarts, T_0: 0}", &["Expected positive integer T_0, but got 0"]),
    ("scheduler: {name: ReduceLROnPlateau, factor: 1.0}", &["Factor should be < 1.0."]),
    (
        "scheduler: {name: SequentialLR, milestones: [2, 3], schedulers: [{name: StepLR, step_size: 1}]}",
        &["milestones"],
    ),
    ("scheduler: {name: SequentialLR, milestones: [], schedulers: []}", &["at least one scheduler"]),
    ("scheduler: {name: ChainedScheduler, schedulers: [{name: Nope}]}", &["Nope", "StepLR"]),
    (
        "optimizer: {name: sgd, lr: [0.1, 0.2]}\nscheduler: {name: LambdaLR, lr_lambda: ['1', '2', '3']}",
        &["Expected 2 lr_lambdas, but got 3"],
    ),
    (
        "optimizer: {name: sgd, lr: [0.1, 0.2]}\nscheduler: {name: ReduceLROnPlateau, min_lr: [0.1]}",
        &["expected 2 min_lrs, got 1"],
    ),
    ("- just\n- a list\n", &["struct Config"]),
    ("scheduler: !!binary aGVsbG8=", &["scheduler"]),
    ("\u{0}\u{1}\u{2}", &["line"]),
];

#[test]
fn bad_configs_give_clean_errors_that_say_what_and_where() {
    let mut failures = vec![];
    for (yaml, words) in BAD {
        let msg = err(yaml).to_string();
        for w in *words {
            if !msg.contains(w) {
                failures.push(format!("{yaml:?}: {msg:?} should mention {w:?}"));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn file_errors_name_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.yaml");
    std::fs::write(&path, "scheduler:\n  name: StepLR\n  gama: 1\n").unwrap();
    let msg = Config::from_path(&path).unwrap_err().to_string();
    assert!(msg.contains("bad.yaml") && msg.contains("line 3"), "{msg}");
    std::fs::write(&path, [0xffu8, 0xfe, 0x00]).unwrap();
    assert!(Config::from_path(&path).unwrap_err().to_string().contains("not UTF-8"));
    assert!(matches!(Config::from_path(dir.path().join("none.yaml")), Err(Error::Io { .. })));
}

#[test]
fn from_value_string_and_file_agree() {
    let yaml = std::fs::read_to_string(root().join("configs/warmup_cosine.yaml")).unwrap();
    let a = Config::from_yaml(&yaml).unwrap();
    let b = Config::from_path(root().join("configs/warmup_cosine.yaml")).unwrap();
    let c = Config::from_value(serde_yaml::from_str(&yaml).unwrap()).unwrap();
    assert_eq!(a, b);
    assert_eq!(a, c);
}

#[test]
fn a_config_wraps_the_programs_own_optimizer() {
    let vs = tiny_vs(2);
    // No optimizer section: the scheduler applies to whatever the program built.
    let config = Config::from_yaml("scheduler: {name: StepLR, step_size: 2}").unwrap();
    let opt = Optim::new(tch::nn::Adam::default(), &vs, vec![0.1, 0.01]).unwrap();
    let mut s = config.build(opt).unwrap();
    s.step().unwrap();
    s.step().unwrap();
    assert!(close(s.last_lr()[1], 0.001));
    // An optimizer section is checked against the optimizer: kind and group count.
    let config = Config::from_yaml("optimizer: {name: sgd, lr: 0.1}\nscheduler: {name: StepLR, step_size: 2}").unwrap();
    let opt = Optim::new(tch::nn::Adam::default(), &vs, 0.1).unwrap();
    assert!(config.build(opt).unwrap_err().to_string().contains("adam"));
    let config =
        Config::from_yaml("optimizer: {name: adam, lr: 0.1}\nscheduler: {name: StepLR, step_size: 2}").unwrap();
    let opt = Optim::new(tch::nn::Adam::default(), &vs, 0.1).unwrap();
    assert!(matches!(config.build(opt), Err(Error::GroupCount { expected: 2, got: 1, .. })));
}

#[test]
fn lambda_expressions_use_float_arithmetic_and_python_operators() {
    let vs = tiny_vs(1);
    let config = Config::from_yaml(
        "optimizer: {name: sgd, lr: 1.0}\nscheduler: {name: LambdaLR, lr_lambda: 'epoch / 30 + 2 ^ 2 - 2 ** 2 + (-7 % 3) - 2 + max(0, min(1, 0))'}",
    )
    .unwrap();
    let mut s = config.build(config.build_optim(&vs).unwrap()).unwrap();
    for _ in 0..15 {
        s.step().unwrap();
    }
    // 15 / 30 = 0.5 (not integer division); -7 % 3 = 2 as in Python.
    assert!(close(s.last_lr()[0], 0.5), "{}", s.last_lr()[0]);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(500))]

    #[test]
    fn random_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..200)) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.yaml");
        std::fs::write(&path, &bytes).unwrap();
        if let Ok(c) = Config::from_path(&path) {
            let _ = c.validate();
        }
    }

    #[test]
    fn random_yaml_like_text_never_panics(text in "[a-zA-Z_:{}\\[\\],.0-9 \n\t'\"!&*#|>-]{0,120}") {
        if let Ok(c) = Config::from_yaml(&text) {
            let _ = c.validate();
        }
    }

    #[test]
    fn mutated_valid_configs_never_panic(idx in 0usize..19, cut in 0usize..400, junk in "[a-z0-9:{}\\[\\], .\n-]{0,8}") {
        let mut files: Vec<_> = std::fs::read_dir(root().join("configs")).unwrap().map(|e| e.unwrap().path()).collect();
        files.sort();
        let text = std::fs::read_to_string(&files[idx % files.len()]).unwrap();
        let at = text.char_indices().map(|(i, _)| i).nth(cut % text.chars().count().max(1)).unwrap_or(0);
        let mutated = format!("{}{}{}", &text[..at], junk, &text[at..]);
        if let Ok(c) = Config::from_yaml(&mutated) {
            let _ = c.validate();
        }
    }
}

/// An error inside a scheduler mapping, nested or not, is placed at the
/// offending key's own line and column (not at the mapping's start), with
/// the dotted path of the key.
#[test]
fn invalid_values_are_placed_at_their_own_key() {
    let at = |yaml: &str| match Config::from_yaml(yaml).unwrap_err() {
        Error::Config { line, column, message, .. } => (line, column, message),
        e => panic!("{e:?}"),
    };
    let nested = "scheduler:\n  name: SequentialLR\n  milestones: [3]\n  schedulers:\n    - {name: LinearLR, total_iters: 3}\n    - name: CyclicLR\n      base_lr: 0.01\n      max_lr: 0.1\n      mode: triangle\n";
    let (line, column, message) = at(nested);
    assert_eq!((line, column), (Some(9), Some(7)), "{message}");
    assert!(message.starts_with("scheduler.schedulers[1].mode: "), "{message}");
    assert!(message.contains("triangular2"), "{message}");

    let flow = "optimizer: {name: sgd, lr: 0.1}\nscheduler:\n  name: ChainedScheduler\n  schedulers: [{name: StepLR, step_size: 2}, {name: ExponentialLR, gamma: fast}]\n";
    let (line, column, message) = at(flow);
    assert_eq!((line, column), (Some(4), Some(68)), "{message}");
    assert!(message.starts_with("scheduler.schedulers[1].gamma: "), "{message}");

    let (line, column, message) = at("scheduler:\n  name: CyclicLR\n  base_lr: 0.1\n  max_lr: 1\n  mode: triangle\n");
    assert_eq!((line, column), (Some(5), Some(3)), "{message}");

    // A path that ends at a list item points at the item.
    let (line, column, message) = at("scheduler:\n  name: LambdaLR\n  lr_lambda: ['1', 'epoch +* 2']\n");
    assert_eq!((line, column), (Some(3), Some(20)), "{message}");
    assert!(message.starts_with("scheduler.lr_lambda[1]: "), "{message}");

    let (line, column, message) =
        at("optimizer:\n  name: adam\n  lr: 0.1\n  momentum: 0.9\nscheduler: {name: StepLR, step_size: 3}\n");
    assert_eq!((line, column), (Some(4), Some(3)), "{message}");
    assert!(message.starts_with("optimizer.momentum: "), "{message}");
}

/// A value echoed in an error is cut: a 2 MB scheduler name or key gives one
/// short line that still says what is wrong and where.
#[test]
fn a_huge_value_gives_a_short_error_line() {
    let huge = "x".repeat(2 << 20);
    for yaml in
        [format!("scheduler: {{name: {huge}}}"), format!("scheduler: {{name: StepLR, step_size: 3, {huge}: 1}}")]
    {
        let msg = err(&yaml).to_string();
        assert!(msg.chars().count() <= 1000, "{} characters", msg.chars().count());
        assert!(!msg.contains('\n'), "{msg}");
        assert!(msg.contains("line 1") && msg.contains('…'), "{msg}");
    }
}
