//! Fuzzing the mapping of PyTorch's states into tch-lr (`tch_lr::interop`):
//! the decoded files are valid pickles, but their values are whatever a
//! foreign or damaged file holds. Each case takes a PyTorch-written state, changes one node
//! (another type, a huge or non-finite number, a key removed, a list cut or
//! grown, a tensor of another shape or dtype) and loads it:
//!
//! - scheduler and optimizer `param_groups` (`state::from_pytorch`, then
//!   `Scheduler::load_state` and a few steps), from every file of
//!   tests/fixtures/interop_state/ (of a DeepSpeed checkpoint folder, what
//!   `interop::deepspeed::load` takes of it);
//! - the owned optimizer's per-parameter state (`state::optimizer_state_from_pytorch`), its
//!   tensors records of a file read lazily (`torch_file::load`) or in memory;
//! - a model's `state_dict` (`model::load_state_dict`).
//!
//! Nothing may panic; every refusal is one line; a refused load leaves the
//! scheduler, optimizer or model exactly as it was; a state that loads never
//! writes a non-finite LR, momentum or weight decay. `FUZZ_CASES` cases of
//! each (default 2,000, what CI runs); the soak:
//! `FUZZ_CASES=100000 cargo test --release --test interop state_fuzz -- --nocapture`.
//! `FUZZ_SEED` picks another sequence.

use crate::common;

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::time::Instant;

use common::Rng;
use tch::nn::{self, Init, VarStore};
use tch::{Device, Kind, Tensor};
use tch_lr::config::Config;
use tch_lr::interop::{model, state, torch_file, DType, TensorRecord, Value};
use tch_lr::Optim;

fn cases() -> usize {
    std::env::var("FUZZ_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(2_000)
}

fn seed(default: u64) -> u64 {
    std::env::var("FUZZ_SEED").ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn tensor(rng: &mut Rng) -> Value {
    let dtype = [DType::Float32, DType::Float64, DType::Int64, DType::Bool][rng.below(4)];
    let shape: Vec<i64> = (0..rng.below(3)).map(|_| rng.below(4) as i64).collect();
    let n: i64 = shape.iter().product();
    let bytes: Vec<u8> = (0..n as usize * dtype.size()).map(|_| rng.next() as u8).collect();
    Value::Tensor(TensorRecord::contiguous(dtype, shape, bytes).unwrap())
}

/// A value of any kind.
fn any(rng: &mut Rng) -> Value {
    match rng.below(10) {
        0 => Value::None,
        1 => Value::Bool(rng.chance(0.5)),
        2 => Value::Int([0, -1, 1, 3, i64::MAX, i64::MIN, 1 << 40, rng.next() as i64][rng.below(8)]),
        3 => Value::Float([0.0, -0.0, -1.0, 1e308, 1e-320, f64::NAN, f64::INFINITY, -f64::INFINITY, 0.5][rng.below(9)]),
        4 => Value::Float(f64::from_bits(rng.next())),
        5 => Value::Str(["", "cos", "linear", "x", "OneCycleLR", "exp_range"][rng.below(6)].into()),
        6 => Value::List((0..rng.below(4)).map(|_| Value::Float(rng.below(5) as f64 * 0.1)).collect()),
        7 => Value::Dict(vec![(Value::Str("lr".into()), Value::Float(0.1))]),
        8 => tensor(rng),
        _ => Value::Tuple(vec![Value::Float(0.9), Value::Float(0.999)]),
    }
}

/// Changes one node of `v`.
fn mutate(rng: &mut Rng, v: &mut Value) {
    let descend = rng.chance(0.8);
    match v {
        Value::Dict(items) | Value::Counter(items) | Value::OrderedDict { items, .. } if !items.is_empty() => {
            let i = rng.below(items.len());
            if descend {
                mutate(rng, &mut items[i].1);
            } else {
                match rng.below(3) {
                    0 => {
                        items.remove(i);
                    }
                    1 => items[i].0 = any(rng),
                    _ => items.push((items[i].0.clone(), any(rng))),
                }
            }
        }
        Value::List(items) | Value::Tuple(items) if !items.is_empty() => {
            let i = rng.below(items.len());
            if descend {
                mutate(rng, &mut items[i]);
            } else if rng.chance(0.5) {
                items.truncate(i);
            } else {
                items.push(items[i].clone());
            }
        }
        // A number of its own type mostly (a state that still reads, with a
        // value it was never meant to hold), anything sometimes.
        Value::Int(i) if rng.chance(0.7) => *i = [0, -1, 1, -5, 7, 10_000, i64::MAX, i64::MIN][rng.below(8)],
        Value::Float(x) if rng.chance(0.7) => {
            *x = [0.0, -0.1, 1.0, 2.0, 1e300, f64::NAN, f64::INFINITY, -f64::INFINITY, *x * 1.5][rng.below(9)]
        }
        Value::Bool(b) if rng.chance(0.5) => *b = !*b,
        // Other elements of the same dtype and shape (NaN, huge, anything).
        Value::Tensor(t) if rng.chance(0.5) => {
            let bytes: Vec<u8> = (0..t.numel() * t.dtype().size()).map(|_| rng.next() as u8).collect();
            *t = TensorRecord::contiguous(t.dtype(), t.shape().to_vec(), bytes).unwrap();
        }
        other => *other = any(rng),
    }
}

/// Runs `f`, which loads a mutated value; checks the outcome.
fn run_case(what: &str, case: usize, seed: u64, f: impl FnOnce() -> Result<bool, tch_lr::Error>) -> bool {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(Ok(loaded)) => loaded,
        Ok(Err(e)) => {
            let e = e.to_string();
            assert!(!e.contains('\n') && e.len() < 2000, "{what} case {case} (FUZZ_SEED={seed}): not one line: {e}");
            false
        }
        Err(_) => panic!("{what} case {case} (FUZZ_SEED={seed}) panicked"),
    }
}

fn report(what: &str, n: usize, loaded: usize, start: Instant, seed: u64) {
    eprintln!(
        "{what}: {n} cases ({loaded} loaded, {} refused) in {:.1} s, seed {seed}",
        n - loaded,
        start.elapsed().as_secs_f64()
    );
    assert!(loaded > 0 && loaded < n, "{what}: the fuzzer should make states that load and states that do not");
}

#[test]
fn fuzz_scheduler_states() {
    let dir = common::root().join("tests/fixtures/interop_state");
    let all: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("cases.json")).unwrap()).unwrap();
    // Every saved file, with its config and metrics.
    let mut inputs = Vec::new();
    for c in all["cases"].as_array().unwrap() {
        let config = Config::from_yaml(&c["config"].to_string()).unwrap();
        let metrics: Option<Vec<f64>> =
            c["metrics"].as_array().map(|m| m.iter().map(|v| v.as_f64().unwrap()).collect());
        for f in c["files"].as_object().unwrap().values() {
            let path = dir.join(f["file"].as_str().unwrap());
            let file = if f.get("model_states").is_some() {
                // A DeepSpeed checkpoint folder: what its reader takes of it.
                tch_lr::interop::deepspeed::load(&path).unwrap().state
            } else {
                torch_file::load(path).unwrap()
            };
            inputs.push((config.clone(), metrics.clone(), file));
        }
    }
    let seed = seed(0x5ca1_ab1e);
    let mut rng = Rng(seed);
    let (n, start) = (cases(), Instant::now());
    let mut loaded = 0;
    for case in 0..n {
        let (config, metrics, file) = &inputs[rng.below(inputs.len())];
        let mut file = file.clone();
        for _ in 0..1 + rng.below(3) {
            mutate(&mut rng, &mut file);
        }
        let o = config.optimizer_or_default();
        let vs = tch_lr::internals::tiny_var_store(o.lrs().unwrap().len());
        let mut sched = config.build(o.build(&vs, tch_lr::optim::Backend::Owned).unwrap()).unwrap();
        let before = sched.state().unwrap();
        loaded += usize::from(run_case("scheduler state", case, seed, || {
            let loaded = state::from_pytorch(config, &sched, &file).and_then(|s| sched.load_state(s));
            if let Err(e) = loaded {
                assert_eq!(
                    sched.state().unwrap(),
                    before,
                    "case {case} (FUZZ_SEED={seed}): a refused load changed the state"
                );
                return Err(e);
            }
            for step in 0..3 {
                let metric = metrics.as_ref().map(|m| m[step.min(m.len() - 1)]);
                sched.step_with(metric)?;
                let g = sched.groups();
                let values = [g.lrs(), g.momenta(), g.weight_decays()].concat();
                assert!(values.iter().all(|v| v.is_finite()), "case {case} (FUZZ_SEED={seed}): non-finite {values:?}");
            }
            Ok(true)
        }));
    }
    report("scheduler states", n, loaded, start, seed);
}

/// An owned optimizer over three parameters in two groups, stepped twice.
fn stepped(kind: usize) -> (VarStore, Optim) {
    let vs = VarStore::new(Device::Cpu);
    let ps = [vs.root().var("a", &[3, 2], Init::Const(0.5)), vs.root().var("b", &[3], Init::Const(-0.5))];
    let c = vs.root().set_group(1).var("c", &[2], Init::Const(1.0));
    let mut opt = match kind {
        0 => Optim::owned(nn::Sgd { momentum: 0.9, ..Default::default() }, &vs, 0.1),
        1 => Optim::owned(nn::Adam { amsgrad: true, ..Default::default() }, &vs, 0.1),
        2 => Optim::owned(nn::AdamW::default(), &vs, 0.1),
        _ => Optim::owned(nn::RmsProp { momentum: 0.5, centered: true, ..Default::default() }, &vs, 0.1),
    }
    .unwrap();
    for k in 0..2 {
        let loss = ps.iter().chain([&c]).map(|p| (p * p).sum(Kind::Float)).sum::<Tensor>() * (k + 1) as f64;
        opt.backward_step(&loss);
    }
    (vs, opt)
}

fn same_state(a: &[(usize, Vec<(String, Tensor)>)], b: &[(usize, Vec<(String, Tensor)>)]) -> bool {
    a.len() == b.len()
        && a.iter().zip(b).all(|((i, x), (j, y))| {
            i == j && x.len() == y.len() && x.iter().zip(y).all(|((n, s), (m, t))| n == m && s.equal(t))
        })
}

#[test]
fn fuzz_optimizer_states() {
    let seed = seed(0x0b7_1a7e);
    let mut rng = Rng(seed);
    let (n, start) = (cases(), Instant::now());
    // Through a file, as a checkpoint goes: the tensors are lazy records of it.
    let tmp = tempfile::tempdir().unwrap();
    let valid: Vec<Value> = (0..4)
        .map(|k| {
            let path = tmp.path().join(format!("{k}.pt"));
            torch_file::save(&path, &state::optimizer_state_to_pytorch(&stepped(k).1).unwrap()).unwrap();
            torch_file::load(&path).unwrap()
        })
        .collect();
    let mut loaded = 0;
    for case in 0..n {
        let kind = rng.below(4);
        // Another optimizer's state, now and then.
        let mut file = valid[if rng.chance(0.1) { rng.below(4) } else { kind }].clone();
        for _ in 0..1 + rng.below(2) {
            mutate(&mut rng, &mut file);
        }
        let (_vs, mut opt) = stepped(kind);
        let before = opt.state_tensors().unwrap();
        loaded += usize::from(run_case("optimizer state", case, seed, || {
            match state::optimizer_state_from_pytorch(&mut opt, &file) {
                Ok(()) => Ok(true),
                Err(e) => {
                    assert!(
                        same_state(&opt.state_tensors().unwrap(), &before),
                        "case {case}: a refused load changed the state"
                    );
                    Err(e)
                }
            }
        }));
    }
    report("optimizer states", n, loaded, start, seed);
}

#[test]
fn fuzz_model_state_dicts() {
    let seed = seed(0x30de_15d1);
    let mut rng = Rng(seed);
    let (n, start) = (cases(), Instant::now());
    let build = || {
        let vs = VarStore::new(Device::Cpu);
        let _fc = nn::linear(vs.root() / "fc", 3, 2, Default::default());
        let _bn = nn::batch_norm1d(vs.root() / "bn", 2, Default::default());
        vs
    };
    let valid = model::state_dict(&build()).unwrap();
    let mut loaded = 0;
    for case in 0..n {
        let mut file = valid.clone();
        for _ in 0..1 + rng.below(2) {
            mutate(&mut rng, &mut file);
        }
        let mut vs = build();
        let before = model::state_dict(&vs).unwrap();
        loaded += usize::from(run_case("model state_dict", case, seed, || {
            match model::load_state_dict(&mut vs, &file, &["num_batches_tracked"]) {
                Ok(()) => Ok(true),
                Err(e) => {
                    assert_eq!(
                        model::state_dict(&vs).unwrap(),
                        before,
                        "case {case}: a refused load changed the model"
                    );
                    Err(e)
                }
            }
        }));
    }
    report("model state_dicts", n, loaded, start, seed);
}
