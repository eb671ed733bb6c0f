//! DeepSpeed's schedules beyond the parity replay (`tests/schedules/parity.rs`
//! replays the `deepspeed.*.json` fixtures bit for bit, with beta2 and
//! DeepSpeed's warnings): the registry's keyword arguments against
//! DeepSpeed's signatures, `OneCycle`'s beta2 of 0.99 as libtorch applies it,
//! and DeepSpeed's JSON config read as users write it.

use crate::common;

use common::*;
use serde_json::Value;
use tch::nn::{self, Init, VarStore};
use tch::{Device, Kind, Tensor};
use tch_lr::config::Config;
use tch_lr::deepspeed::OneCycle;
use tch_lr::schedulers::REGISTRY;
use tch_lr::Optim;

fn deepspeed_names() -> Vec<&'static str> {
    REGISTRY.iter().map(|s| s.name).filter(|n| n.starts_with("deepspeed.")).collect()
}

#[test]
fn keyword_arguments_and_defaults_are_deepspeeds() {
    let names = deepspeed_names();
    assert_eq!(names.len(), 5);
    for name in names {
        let path = root().join(format!("tests/fixtures/parity/{name}.json"));
        let file: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        assert_eq!(file["deepspeed_version"], "0.19.8");
        let info = tch_lr::schedulers::registry::info(name).unwrap();
        let ours: Vec<Value> = (info.kwargs)()
            .iter()
            .map(|k| {
                serde_json::json!({"name": k.name, "required": k.required, "default": k.default.clone().unwrap_or(Value::Null)})
            })
            .collect();
        assert_eq!(&ours, file["signature"].as_array().unwrap(), "{name}: keyword arguments and defaults");
    }
}

/// One Adam step on `p` (three values) with a gradient that changes with `k`,
/// so that the second moment, and with it beta2, shows in the update.
fn adam_step(opt: &mut Optim, p: &Tensor, k: usize) {
    let g = (Tensor::arange(3, (Kind::Double, Device::Cpu)) * 0.7 + k as f64).sin() * (1.0 + k as f64);
    opt.backward_step(&(p * g).sum(Kind::Double));
}

fn one_param(beta2: f64) -> (VarStore, Tensor, Optim) {
    let mut vs = VarStore::new(Device::Cpu);
    let p = vs.root().var("p", &[3], Init::Const(0.5));
    vs.set_kind(Kind::Double);
    let opt = Optim::owned(nn::Adam { beta2, ..Default::default() }, &vs, 0.01).unwrap();
    (vs, p, opt)
}

/// DeepSpeed's `OneCycle` writes `betas = (momentum, 0.99)`: on the owned
/// optimizer (built with beta2 0.999) the parameter moves exactly as an Adam
/// built with beta2 0.99 given the same LRs and beta1s, and not as one that
/// keeps 0.999; tch's optimizer cannot set beta2 and says so.
#[test]
fn one_cycle_beta2_reaches_libtorch() {
    let (_vs, p, opt) = one_param(0.999);
    let mut sched = OneCycle::new(1e-3, 1e-2).cycle_first_step_size(3).build(opt).unwrap();
    assert_eq!(sched.groups().groups()[0].beta2, Some(0.99));
    assert!(sched.optimizer().unapplied().is_none());
    let (_vs99, p99, mut with_99) = one_param(0.99);
    let (_vs999, p999, mut with_999) = one_param(0.999);
    let mut beta1s = std::collections::BTreeSet::new();
    for k in 0..12 {
        let (lr, beta1) = (sched.groups().lrs()[0], sched.groups().momenta()[0]);
        beta1s.insert(beta1.to_bits());
        for o in [&mut with_99, &mut with_999] {
            let g = &mut o.groups_mut().groups_mut()[0];
            (g.lr, g.momentum) = (lr, beta1);
            o.sync().unwrap();
        }
        adam_step(sched.optimizer_mut(), &p, k);
        adam_step(&mut with_99, &p99, k);
        adam_step(&mut with_999, &p999, k);
        sched.step().unwrap();
    }
    assert!(beta1s.len() > 3, "beta1 must cycle: {beta1s:?}");
    assert!(p.equal(&p99), "OneCycle's run differs from Adam with beta2 0.99: {p} vs {p99}");
    assert!(!p.equal(&p999), "the test must tell beta2 0.99 from 0.999");

    let vs = tiny_vs(1);
    let tch_opt = Optim::new(nn::Adam::default(), &vs, 0.01).unwrap();
    let sched = OneCycle::new(1e-3, 1e-2).build(tch_opt).unwrap();
    let note = sched.optimizer().unapplied().expect("tch's optimizer cannot set beta2");
    assert!(note.contains("cannot set beta2") && note.contains("0.99") && note.contains("0.999"), "{note}");
}

/// With SGD (no `betas`) momentum does not cycle, and DeepSpeed's warning is a note.
#[test]
fn one_cycle_on_sgd_keeps_momentum_and_says_so() {
    let config = Config::from_yaml(
        "optimizer: {name: sgd, lr: 0.1, momentum: 0.9}\nscheduler: {name: deepspeed.OneCycle, cycle_min_lr: 0.01, \
         cycle_max_lr: 0.1, cycle_first_step_size: 2}",
    )
    .unwrap();
    let t = tch_lr::trace::trace(&config, &tch_lr::trace::TraceOptions { rows: 6, ..Default::default() }).unwrap();
    assert!(t.momentum.iter().all(|r| r == &[0.9]), "{:?}", t.momentum);
    assert!(t.notes.iter().any(|n| n.starts_with("cycle_momentum is disabled because optimizer SGD")), "{:?}", t.notes);
    let adam = Config::from_yaml(
        "optimizer: {name: adam, lr: 0.1}\nscheduler: {name: deepspeed.OneCycle, cycle_min_lr: 0.01, cycle_max_lr: 0.1}",
    )
    .unwrap();
    let t = tch_lr::trace::trace(&adam, &tch_lr::trace::TraceOptions { rows: 2, ..Default::default() }).unwrap();
    assert!(t.notes.iter().any(|n| n.contains("sets betas[1] = 0.99")), "{:?}", t.notes);
}

const DS_CONFIG: &str = r#"{
  "train_batch_size": 16,
  "optimizer": {"type": "AdamW", "params": {"lr": 0.001, "betas": [0.9, 0.999], "eps": 1e-8}},
  "scheduler": {
    "type": "WarmupDecayLR",
    "params": {"total_num_steps": 10, "warmup_max_lr": 0.001, "warmup_num_steps": 4, "warmup_type": "linear"}
  }
}"#;

#[test]
fn deepspeed_json_configs_read_as_the_engine_builds_them() {
    let config = Config::from_yaml(DS_CONFIG).unwrap();
    assert_eq!(config.scheduler.name(), "deepspeed.WarmupDecayLR");
    let o = config.optimizer.as_ref().unwrap();
    assert_eq!(o.name, tch_lr::groups::OptimizerKind::AdamW);
    assert_eq!(o.weight_decays().unwrap(), [0.0], "FusedAdam's weight decay defaults to 0");
    assert_eq!(config.interval, tch_lr::config::Interval::Step);
    // A torch.optim.lr_scheduler class, as DeepSpeed falls back to it.
    let torch = DS_CONFIG.replace(
        r#""type": "WarmupDecayLR",
    "params": {"total_num_steps": 10, "warmup_max_lr": 0.001, "warmup_num_steps": 4, "warmup_type": "linear"}"#,
        r#""type": "CosineAnnealingLR", "params": {"T_max": 5}"#,
    );
    assert_eq!(Config::from_yaml(&torch).unwrap().scheduler.name(), "CosineAnnealingLR");
}

/// Each bad config: one line, at the file's key (its line and column).
#[test]
fn deepspeed_json_config_errors_name_and_place_the_key() {
    let cases = [
        // A wrong type: the kwargs reader, at scheduler.params.
        ("\"warmup_num_steps\": 4", "\"warmup_num_steps\": 4.5", "scheduler.params.warmup_num_steps", 6),
        // DeepSpeed's own ValueError, at the argument.
        ("\"warmup_num_steps\": 4", "\"warmup_num_steps\": 0", "scheduler.params.warmup_num_steps", 6),
        // An unknown keyword.
        ("\"warmup_type\": \"linear\"", "\"warmup_kind\": \"linear\"", "scheduler.params.warmup_kind", 6),
        // Not one of DeepSpeed's nor PyTorch's.
        ("\"WarmupDecayLR\"", "\"WarmupDecay\"", "scheduler.type", 5),
        // "auto": the Trainer's flag.
        ("\"lr\": 0.001", "\"lr\": \"auto\"", "optimizer.params.lr", 3),
    ];
    for (from, to, at, line) in cases {
        let text = DS_CONFIG.replacen(from, to, 1);
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ds_config.json");
        std::fs::write(&path, &text).unwrap();
        let e = Config::from_path(&path).and_then(|c| c.validate().map(drop)).expect_err(to);
        let msg = e.to_string();
        assert!(msg.contains(&format!("{at}:")), "{to}: {msg}");
        assert!(msg.contains(&format!("(line {line}, column ")), "{to}: {msg}");
        assert!(!msg.contains('\n') && msg.chars().count() <= 300 + path.display().to_string().len(), "{msg}");
    }
    let e = Config::from_yaml(&DS_CONFIG.replacen("\"lr\": 0.001", "\"lr\": \"auto\"", 1)).unwrap_err().to_string();
    assert!(e.contains("optimizer.params.lr (--learning_rate)") && e.contains("Hugging Face Trainer"), "{e}");
}
