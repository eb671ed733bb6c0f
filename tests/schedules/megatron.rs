//! Megatron-core's `OptimizerParamScheduler` beyond the shared parity test
//! (which compares every row to 1e-9): its own float order bit for bit
//! (`tests/fixtures/parity/megatron.OptimizerParamScheduler.json`, written
//! by `scripts/fixtures/gen_megatron.py` from megatron-core 0.19.2's file),
//! the configs the reference fails on only later refused when read, and
//! where it cannot go (composites, a `warmup:` block, beside a
//! `weight_decay_scheduler:`).

use crate::common;

use common::*;
use serde::Deserialize;
use tch_lr::config::Config;
use tch_lr::groups::PerGroup;
use tch_lr::megatron::{DecayStyle, OptimizerParamScheduler, WdIncrStyle};
use tch_lr::{Optim, Schedule, Scheduler};

const NAME: &str = "megatron.OptimizerParamScheduler";

#[derive(Deserialize)]
struct Refused {
    name: String,
    config: serde_json::Value,
    key: String,
    reference_error: PyError,
}

#[derive(Deserialize)]
struct Param {
    name: String,
    required: bool,
    default: serde_json::Value,
}

#[derive(Deserialize)]
struct Fixture {
    megatron_core_version: String,
    signature: Vec<Param>,
    cases: Vec<Case>,
    refused_at_read: Vec<Refused>,
}

fn fixture() -> Fixture {
    let path = root().join(format!("tests/fixtures/parity/{NAME}.json"));
    let f: Fixture = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    assert_eq!(f.megatron_core_version, "0.19.2");
    f
}

fn config(v: &serde_json::Value) -> tch_lr::Result<Config> {
    Config::from_value(serde_yaml::to_value(v).unwrap())
}

fn build(c: &Config) -> tch_lr::Result<Scheduler<Box<dyn Schedule>>> {
    let vs = tiny_vs(c.optimizer.as_ref().unwrap().lrs().unwrap().len());
    c.build(c.build_optim(&vs, tch_lr::optim::Backend::Tch)?)
}

/// Every row's LR and weight decay, to the last bit: the float order is
/// Megatron's (`init + (max - init) * float(n) / float(W)`, `** 0.5`, ...).
#[test]
fn every_row_is_megatrons_to_the_last_bit() {
    let f = fixture();
    let mut values = 0;
    for case in &f.cases {
        let c = config(&case.config).unwrap_or_else(|e| panic!("{}: {e}", case.name));
        let Ok(mut s) = build(&c) else { continue };
        let want_wd = case.expected.weight_decay.as_ref().expect("weight decay rows");
        for row in 0..case.expected.lr.len() {
            if row > 0 {
                s.step().unwrap_or_else(|e| panic!("{}: row {row}: {e}", case.name));
            }
            let got = s.groups().lrs().into_iter().zip(s.groups().weight_decays());
            let want = case.expected.lr[row].iter().zip(&want_wd[row]);
            for (g, ((lr, wd), (want_lr, want_wd))) in got.zip(want).enumerate() {
                assert_eq!(lr.to_bits(), want_lr.get().to_bits(), "{}: row {row}: lr[{g}] {lr:e}", case.name);
                assert_eq!(wd.to_bits(), want_wd.get().to_bits(), "{}: row {row}: wd[{g}] {wd:e}", case.name);
                values += 2;
            }
        }
    }
    assert!(values > 10_000, "{values} values compared");
}

/// What Megatron fails on only later (an unsupported style, WSD without its
/// cooldown) is refused when the config is read, in one line naming the key.
#[test]
fn what_megatron_fails_on_later_is_refused_when_read() {
    let f = fixture();
    assert!(f.refused_at_read.len() >= 4);
    for r in &f.refused_at_read {
        assert!(!r.reference_error.kind.is_empty(), "{}", r.name);
        let e = config(&r.config).expect_err(&r.name).to_string();
        assert!(e.contains(&r.key) && !e.contains('\n') && e.chars().count() <= 300, "{}: {e}", r.name);
    }
}

fn yaml(scheduler: &str) -> String {
    format!("optimizer: {{name: sgd, lr: [0.1, 0.1]}}\nscheduler: {scheduler}")
}

const EXAMPLE: &str = "{name: megatron.OptimizerParamScheduler, init_lr: 0.0, max_lr: 0.01, min_lr: 0.001, \
                       lr_warmup_steps: 3, lr_decay_steps: 10, lr_decay_style: cosine, start_wd: 0.0, end_wd: 0.1, \
                       wd_incr_steps: 10, wd_incr_style: linear}";

#[test]
fn it_is_a_loops_only_scheduler_refused_where_it_cannot_go() {
    let cases = [
        (
            format!("{{name: SequentialLR, milestones: [2], schedulers: [{{name: ConstantLR}}, {EXAMPLE}]}}"),
            "schedulers[1]",
        ),
        (format!("{{name: ChainedScheduler, schedulers: [{EXAMPLE}]}}"), "schedulers[0]"),
        (EXAMPLE.replace('}', ", warmup: {steps: 2}}"), "warmup"),
    ];
    for (s, key) in cases {
        let e = Config::from_yaml(&yaml(&s)).expect_err(&s).to_string();
        assert!(e.contains(key) && e.contains(NAME) && !e.contains('\n'), "{e}");
    }
    let e = Config::from_yaml(&format!("{}\nweight_decay_scheduler: {{name: StepLR, step_size: 2}}", yaml(EXAMPLE)))
        .unwrap_err()
        .to_string();
    assert!(e.contains("weight_decay_scheduler") && e.contains("already schedules the weight decay"), "{e}");
    let e = Config::from_yaml(&format!("{}\nweight_decay_scheduler: {EXAMPLE}", yaml("{name: StepLR, step_size: 2}")))
        .unwrap_err()
        .to_string();
    assert!(e.contains("weight_decay_scheduler") && e.contains("make it the `scheduler:`"), "{e}");
    for (bad, key) in
        [("increment: 0", "increment"), ("wd_mult: -1.0", "wd_mult"), ("wsd_decay_steps: 4", "lr_wsd_decay_style")]
    {
        let s = EXAMPLE.replace('}', &format!(", {bad}}}"));
        let s = if key == "lr_wsd_decay_style" { s.replace("cosine", "WSD") } else { s };
        let e = Config::from_yaml(&yaml(&s)).unwrap_err().to_string();
        assert!(e.contains(key) && !e.contains('\n') && e.chars().count() <= 300, "{bad}: {e}");
    }
    // tch-lr holds every group of a list to Megatron's asserts (Megatron: the class values only).
    let c = Config::from_yaml(&yaml(&EXAMPLE.replace("min_lr: 0.001", "min_lr: [0.001, -0.5]"))).unwrap();
    let e = build(&c).unwrap_err().to_string();
    assert!(e.contains("min_lr") && e.contains("group 1"), "{e}");
}

/// The builder, the weight decay written into the optimizer at each step,
/// and `num_steps` in samples.
#[test]
fn the_optimizer_receives_the_weight_decay_at_every_step() {
    let (vs, ws) = probe_vs(2);
    let opt = Optim::new(tch::nn::Sgd::default(), &vs, 0.1).unwrap();
    let mut s = OptimizerParamScheduler::new(0.0, 0.1, 0.0, 4, 8, DecayStyle::Linear, 0.0, 0.5, 8, WdIncrStyle::Linear)
        .increment(2)
        .wd_mult(PerGroup::from(vec![1.0, 0.0]))
        .build(opt)
        .unwrap();
    assert_eq!(s.last_weight_decay(), Some(vec![0.0, 0.0]));
    s.step().unwrap(); // n = 2: lr 0.05, weight decay 0.125 and 0
    assert_eq!(s.schedule().num_steps(), 2);
    assert_eq!(s.last_epoch(), 1);
    assert_eq!(s.last_lr(), [0.05, 0.05]);
    // SGD with weight decay: the gradient is 1 + wd * w; w from 1.
    tch::no_grad(|| ws.iter().for_each(|w| drop(w.shallow_clone().fill_(1.0))));
    let loss = ws.iter().map(|w| w.sum(tch::Kind::Double)).reduce(|a, b| a + b).unwrap();
    s.optimizer_mut().backward_step(&loss);
    let got: Vec<f64> = ws.iter().map(|w| w.double_value(&[0])).collect();
    assert_eq!(got, [1.0 - 0.05 * (1.0 + 0.125), 1.0 - 0.05]);
}

/// The registry's keyword arguments are Megatron's constructor's, in its
/// order, required where it has no default, with its defaults, then tch-lr's
/// two (`wd_mult`, `increment`); one default differs on purpose:
/// `use_checkpoint_opt_param_scheduler`, false as Megatron-LM's command line
/// passes it (the class says true).
#[test]
fn keyword_arguments_are_megatrons() {
    let f = fixture();
    let ours = (tch_lr::schedulers::registry::info(NAME).unwrap().kwargs)();
    let names: Vec<&str> = ours.iter().map(|k| k.name).collect();
    let theirs: Vec<&str> = f.signature.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(names[..theirs.len()], theirs[..]);
    assert_eq!(names[theirs.len()..], ["wd_mult", "increment"]);
    for (k, p) in ours.iter().zip(&f.signature) {
        assert_eq!(k.required, p.required, "{}", p.name);
        if p.name == "use_checkpoint_opt_param_scheduler" {
            assert_eq!((k.default.clone(), p.default.clone()), (Some(false.into()), true.into()));
        } else if !p.required {
            assert_eq!(k.default.clone(), Some(p.default.clone()), "{}", p.name);
        }
    }
}
