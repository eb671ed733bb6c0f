//! The YAML loader: every file in `configs/` loads; malformed, unknown, mistyped,
//! out-of-range, empty and random input gives a clean error that says where and
//! what, never a panic.

use crate::common;

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
        config
            .build(config.build_optim(&vs, tch_lr::optim::Backend::Tch).unwrap())
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
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
    ("scheduler: {name: StepLr, step_size: 3}", &["StepLr", "did you mean `StepLR`", "`tch-lr list`", "line 1"]),
    ("scheduler: {name: cosine}", &["`cosine`", "`tch-lr list`"]),
    ("scheduler: {name: Quadratic, step_size: 3}", &["Quadratic", "not one of tch-lr's", "`tch-lr list`"]),
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
    ("scheduler: {name: ChainedScheduler, schedulers: [{name: Nope}]}", &["Nope", "schedulers[0]", "`tch-lr list`"]),
    (
        "optimizer: {name: sgd, lr: [0.1, 0.2]}\nscheduler: {name: LambdaLR, lr_lambda: ['1', '2', '3']}",
        &["Expected 2 lr_lambdas, but got 3"],
    ),
    (
        "optimizer: {name: sgd, lr: [0.1, 0.2]}\nscheduler: {name: ReduceLROnPlateau, min_lr: [0.1]}",
        &["expected 2 min_lrs, got 1"],
    ),
    // SWA: tch-lr's own refusals (PyTorch has no object to compare with).
    (
        "scheduler: {name: SWA, swa_start: 2, schedulers: [{name: StepLR, step_size: 1}]}",
        &["SWA takes two schedulers", "got 1", "schedulers", "line 1"],
    ),
    (
        "scheduler: {name: SWA, swa_start: 2, schedulers: [{name: ReduceLROnPlateau}, {name: SWALR, swa_lr: 0.1}]}",
        &["ReduceLROnPlateau", "scheduler"],
    ),
    (
        "scheduler: {name: SequentialLR, milestones: [2], schedulers: [{name: StepLR, step_size: 1}, {name: SWA, \
         swa_start: 1, schedulers: [{name: StepLR, step_size: 1}, {name: SWALR, swa_lr: 0.1}]}]}",
        &["SequentialLR cannot hold SWA", "index 1"],
    ),
    ("scheduler: {name: SWALR, swa_lr: 0.1, anneal_strategy: cosine}", &["cosine", "cos", "linear"]),
    (
        "scheduler: {name: SWALR, swa_lr: 0.1, anneal_epochs: -1}",
        &["anneal_epochs must be equal or greater than 0, got -1"],
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
        if msg.chars().count() > 300 || msg.contains('\n') {
            failures.push(format!("{yaml:?}: {msg:?} is not one line of at most 300 characters"));
        }
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
    let mut s = config.build(config.build_optim(&vs, tch_lr::optim::Backend::Tch).unwrap()).unwrap();
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

/// A value echoed in an error is cut: a 2 MB scheduler name, or a long
/// unknown key (YAML itself caps a key at 1,024 characters), gives one short
/// line that still says what is wrong and where.
#[test]
fn a_huge_value_gives_a_short_error_line() {
    let huge = "x".repeat(2 << 20);
    let long = "k".repeat(1000);
    for yaml in
        [format!("scheduler: {{name: {huge}}}"), format!("scheduler:\n  name: StepLR\n  step_size: 3\n  {long}: 1\n")]
    {
        let msg = err(&yaml).to_string();
        assert!(msg.chars().count() <= 300, "{} characters", msg.chars().count());
        assert!(!msg.contains('\n'), "{msg}");
        assert!(msg.contains('…') && msg.contains("line "), "{msg}");
    }
}

/// The line, column and message of a config error.
fn placed(e: Error) -> (Option<usize>, Option<usize>, String) {
    match e {
        Error::Config { line, column, message, .. } => (line, column, message),
        e => panic!("{e:?}"),
    }
}

/// (line, column) of the `n`-th (from 0) occurrence of `needle` in `text`.
fn nth_place(text: &str, needle: &str, n: usize) -> (Option<usize>, Option<usize>) {
    let at = text.match_indices(needle).nth(n).unwrap_or_else(|| panic!("{needle} #{n} in {text}")).0;
    let line_start = text[..at].rfind('\n').map_or(0, |i| i + 1);
    (Some(text[..at].matches('\n').count() + 1), Some(text[line_start..at].chars().count() + 1))
}

/// A duplicate key is placed at the duplicate (its second occurrence in its
/// mapping), at any depth, not at the start of the mapping.
#[test]
fn a_duplicate_key_is_placed_at_the_duplicate() {
    let cases = [
        ("scheduler:\n  name: StepLR\n  step_size: 3\n  step_size: 4\n", "step_size", 1, "scheduler: "),
        ("scheduler: {name: StepLR, step_size: 3}\ninterval: step\nscheduler: {name: StepLR, step_size: 4}\n", "scheduler:", 1, ""),
        (
            "optimizer:\n  name: sgd\n  lr: 0.1\n  momentum: 0.9\n  lr: 0.2\nscheduler: {name: StepLR, step_size: 3}\n",
            "lr:",
            1,
            "optimizer: ",
        ),
        (
            "optimizer: {name: sgd, lr: 0.1}\nscheduler:\n  name: SequentialLR\n  milestones: [2]\n  schedulers:\n    - {name: ConstantLR, factor: 0.5}\n    - name: StepLR\n      step_size: 2\n      gamma: 0.5\n      step_size: 3\n",
            "step_size",
            1,
            "scheduler.schedulers[1]: ",
        ),
        (
            "scheduler:\n  name: ChainedScheduler\n  schedulers: [{name: StepLR, step_size: 2}, {name: ConstantLR, factor: 0.5, factor: 0.4}]\n",
            "factor",
            1,
            "scheduler.schedulers[1]: ",
        ),
    ];
    for (yaml, key, n, prefix) in cases {
        let (line, column, message) = placed(Config::from_yaml(yaml).unwrap_err());
        assert_eq!((line, column), nth_place(yaml, key, n), "{yaml}: {message}");
        let key = key.trim_end_matches(':');
        assert_eq!(message, format!("{prefix}duplicate entry with key {key:?}"), "{yaml}");
    }
    // A syntax error before any duplicate keeps YAML's own place.
    let (line, _, message) = placed(Config::from_yaml("scheduler:\n  name: StepLR\n   step_size: 3\n").unwrap_err());
    assert_eq!(line, Some(3), "{message}");
}

/// Builds `yaml` (with an SGD optimizer of one group when it has none) and
/// validates it: both must fail alike.
fn constructor_error(yaml: &str) -> Error {
    let config = Config::from_yaml(yaml).unwrap_or_else(|e| panic!("{yaml}: {e}"));
    let validated = config.validate().expect_err(yaml);
    let vs = tiny_vs(1);
    let optim = match &config.optimizer {
        Some(_) => config.build_optim(&vs, tch_lr::optim::Backend::Tch).unwrap(),
        None => Optim::new(tch::nn::Sgd::default(), &vs, 0.1).unwrap(),
    };
    let built = config.build(optim).err().unwrap_or_else(|| panic!("{yaml}: built"));
    assert_eq!(validated.to_string(), built.to_string(), "{yaml}");
    built
}

/// An error of a reference's constructor (PyTorch's, transformers', timm's)
/// names the line of the argument it is about, else of the `name:` of the
/// schedule that raised it, its message kept whole after the dotted path.
#[test]
fn constructor_errors_are_placed_at_their_argument_or_schedule() {
    let factor = "Constant multiplicative factor expected to be between 0 and 1.";
    let cases: &[(&str, &str, usize, String)] = &[
        (
            "optimizer: {name: sgd, lr: 0.1}\nscheduler:\n  name: ConstantLR\n  total_iters: 4\n  factor: 1.5\n",
            "factor",
            0,
            format!("scheduler.factor: {factor}"),
        ),
        (
            "scheduler:\n  name: SequentialLR\n  milestones: [2]\n  schedulers:\n    - {name: ConstantLR, factor: 0.5}\n    - name: ConstantLR\n      factor: 2.0\n",
            "factor",
            1,
            format!("scheduler.schedulers[1].factor: {factor}"),
        ),
        (
            // Missing: at the schedule's `name:`.
            "scheduler:\n  name: transformers.cosine\n  num_warmup_steps: 3\n",
            "name",
            0,
            "scheduler: SchedulerType.COSINE requires `num_training_steps`, please provide that argument.".into(),
        ),
        (
            "scheduler:\n  name: ChainedScheduler\n  schedulers:\n    - {name: StepLR, step_size: 2}\n    - {name: transformers.linear, num_warmup_steps: 3}\n",
            "name",
            2,
            "scheduler.schedulers[1]: SchedulerType.LINEAR requires `num_training_steps`, please provide that argument."
                .into(),
        ),
        (
            "scheduler:\n  name: LinearLR\n  start_factor: 0.5\n  end_factor: 1.5\n",
            "end_factor",
            0,
            "scheduler.end_factor: Ending multiplicative factor expected to be between 0 and 1.".into(),
        ),
        (
            "scheduler:\n  name: CosineAnnealingWarmRestarts\n  T_0: 0\n",
            "T_0",
            0,
            "scheduler.T_0: Expected positive integer T_0, but got 0".into(),
        ),
        (
            // Two arguments named: at the schedule.
            "scheduler:\n  name: OneCycleLR\n  max_lr: 0.1\n",
            "name",
            0,
            "scheduler: You must define either total_steps OR (epochs AND steps_per_epoch)".into(),
        ),
        (
            "scheduler:\n  name: SequentialLR\n  milestones: [2, 4]\n  schedulers: [{name: StepLR, step_size: 1}, {name: StepLR, step_size: 1}, {name: ReduceLROnPlateau}]\n",
            "{name: ReduceLROnPlateau",
            0,
            "scheduler.schedulers[2]: SequentialLR does not support `ReduceLROnPlateau` scheduler as it requires additional kwargs to be specified when calling `step`, but got one at index 2 in the given schedulers sequence.".into(),
        ),
        (
            "optimizer: {name: sgd, lr: 0.1, weight_decay: 0.01}\nscheduler: {name: StepLR, step_size: 2}\nweight_decay_scheduler:\n  name: ReduceLROnPlateau\n  factor: 1.0\n",
            "factor",
            0,
            "weight_decay_scheduler.factor: Factor should be < 1.0.".into(),
        ),
        (
            "scheduler:\n  name: timm.CosineLRScheduler\n  t_initial: 0\n",
            "t_initial",
            0,
            "scheduler.t_initial: timm.CosineLRScheduler: timm asserts t_initial > 0, got 0".into(),
        ),
        (
            "scheduler:\n  name: OneCycleLR\n  total_steps: 10\n  max_lr: [0.1, 0.2]\n",
            "max_lr",
            0,
            "scheduler.max_lr: max_lr must have the same length as optimizer.param_groups. max_lr has 2 values, \
             param_groups has 1."
                .into(),
        ),
    ];
    for (yaml, key, n, message) in cases {
        let (line, column, got) = placed(constructor_error(yaml));
        assert_eq!(&got, message, "{yaml}");
        assert_eq!((line, column), nth_place(yaml, key, *n), "{yaml}: {got}");
    }
    // From a file: the same place.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("factor.yaml");
    std::fs::write(&path, cases[0].0).unwrap();
    let config = Config::from_path(&path).unwrap();
    let msg =
        config.build(config.build_optim(&tiny_vs(1), tch_lr::optim::Backend::Tch).unwrap()).unwrap_err().to_string();
    assert_eq!(msg, format!("scheduler.factor: {factor} (line 5, column 3)"));
    // Without text (a `Value`), PyTorch's error as it is.
    let config = Config::from_value(serde_yaml::from_str(cases[0].0).unwrap()).unwrap();
    match config.build(config.build_optim(&tiny_vs(1), tch_lr::optim::Backend::Tch).unwrap()) {
        Err(Error::Value(m)) => assert_eq!(m, factor),
        r => panic!("{:?}", r.err()),
    }
}
