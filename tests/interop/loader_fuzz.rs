//! Fuzzing the two loaders at depth: the config reader (structured configs
//! from the registry's own keyword lists, with values of the right and the
//! wrong types, unknown and missing keys, nested composites, broken text) and
//! the state loader (saved states of every schedule with leaves replaced,
//! keys deleted, lists cut). Every input gives a value or an error, never a
//! panic; every error is one line; a config that loads validates and steps;
//! a state that loads steps; nothing non-finite reaches the optimizer.
//!
//! `FUZZ_CASES` cases of each (default 2,000, what CI runs); a soak run:
//! `FUZZ_CASES=100000 cargo test --release --test interop loader_fuzz -- --nocapture`.
//! `FUZZ_SEED` picks another sequence. A failure prints the seed and the input.

use crate::common;

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::time::Instant;

use common::*;
use serde_yaml::{Mapping, Value};
use tch_lr::config::Config;
use tch_lr::internals::Protocol as _;
use tch_lr::scheduler::SchedulerState;
use tch_lr::schedulers::REGISTRY;
use tch_lr::{Schedule, Scheduler};

fn cases() -> usize {
    std::env::var("FUZZ_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(2_000)
}

fn seed() -> u64 {
    std::env::var("FUZZ_SEED").ok().and_then(|v| v.parse().ok()).unwrap_or(0x7c8_1a7e)
}

fn int(rng: &mut Rng) -> Value {
    let edges = [0, -1, 1, 2, 3, 7, i64::MAX, i64::MIN, i64::MAX / 2, -1000, 100_000_000];
    Value::from(if rng.chance(0.5) { *rng.pick(&edges) } else { rng.below(40) as i64 - 5 })
}

fn float(rng: &mut Rng) -> Value {
    let edges = [0.0, -0.0, 1.0, -1.0, 0.5, 1e-8, 1e308, -1e308, 5e-324, f64::NAN, f64::INFINITY, f64::NEG_INFINITY];
    Value::from(if rng.chance(0.5) { *rng.pick(&edges) } else { (rng.next() % 2000) as f64 / 1000.0 - 0.5 })
}

fn string(rng: &mut Rng) -> Value {
    let names: Vec<&str> = REGISTRY.iter().map(|s| s.name).collect();
    let words = ["", "abc", "triangle", "min", "max", "rel", "cos", "linear", "epoch / 0", "1e999", "exp(epoch)", "x"];
    Value::from(if rng.chance(0.3) { *rng.pick(&names) } else { *rng.pick(&words) })
}

/// Any YAML value, of any type.
fn any(rng: &mut Rng, depth: usize) -> Value {
    match rng.below(if depth > 2 { 5 } else { 7 }) {
        0 => Value::Null,
        1 => Value::Bool(rng.chance(0.5)),
        2 => int(rng),
        3 => float(rng),
        4 => string(rng),
        5 => Value::Sequence((0..rng.below(4)).map(|_| any(rng, depth + 1)).collect()),
        _ => {
            let mut m = Mapping::new();
            for _ in 0..rng.below(3) {
                m.insert(string(rng), any(rng, depth + 1));
            }
            Value::Mapping(m)
        }
    }
}

/// A value for a keyword argument of type `ty`: mostly plausible, sometimes anything.
fn typed(rng: &mut Rng, ty: &str, depth: usize) -> Value {
    if rng.chance(0.15) {
        return any(rng, depth);
    }
    match ty {
        "int" => int(rng),
        "float" => float(rng),
        "bool" => Value::Bool(rng.chance(0.5)),
        "float | list[float]" if rng.chance(0.3) => Value::Sequence((0..rng.below(4)).map(|_| float(rng)).collect()),
        "float | list[float]" => float(rng),
        "list[int]" => Value::Sequence((0..rng.below(5)).map(|_| int(rng)).collect()),
        "list[scheduler]" => {
            Value::Sequence((0..rng.below(4)).map(|_| Value::Mapping(scheduler(rng, depth + 1))).collect())
        }
        "str | list[str]" => string(rng),
        _ => string(rng),
    }
}

/// A scheduler mapping: a registered schedule's example, mutated.
fn scheduler(rng: &mut Rng, depth: usize) -> Mapping {
    let s = rng.pick(REGISTRY);
    let mut m: Mapping = serde_yaml::from_str(s.example).unwrap();
    for kw in (s.kwargs)() {
        if kw.ty == "list[scheduler]" && depth > 2 {
            continue;
        }
        if rng.chance(0.3) {
            m.insert(kw.name.into(), typed(rng, kw.ty, depth));
        } else if rng.chance(0.05) {
            m.remove(kw.name);
        }
    }
    if rng.chance(0.05) {
        m.insert(string(rng), any(rng, depth));
    }
    if rng.chance(0.05) {
        m.insert("name".into(), string(rng));
    }
    m
}

fn optimizer(rng: &mut Rng) -> Mapping {
    let mut m = Mapping::new();
    m.insert("name".into(), (*rng.pick(&["sgd", "adam", "adamw", "rmsprop", "sgdd"])).into());
    let lr =
        if rng.chance(0.3) { Value::Sequence((0..1 + rng.below(3)).map(|_| float(rng)).collect()) } else { float(rng) };
    m.insert("lr".into(), if rng.chance(0.8) { Value::from(0.1) } else { lr });
    for key in ["momentum", "betas", "weight_decay", "eps", "alpha", "dampening", "nesterov", "groups", "amsgrad"] {
        if rng.chance(0.15) {
            let v = match key {
                "betas" => Value::Sequence(vec![float(rng), float(rng)]),
                "nesterov" | "amsgrad" => Value::Bool(rng.chance(0.5)),
                "groups" => int(rng),
                _ => float(rng),
            };
            m.insert(key.into(), v);
        }
    }
    m
}

fn config_text(rng: &mut Rng) -> String {
    let mut top = Mapping::new();
    if rng.chance(0.7) {
        top.insert("optimizer".into(), Value::Mapping(optimizer(rng)));
    }
    top.insert("scheduler".into(), Value::Mapping(scheduler(rng, 0)));
    if rng.chance(0.3) {
        top.insert("interval".into(), (*rng.pick(&["step", "epoch", "batch"])).into());
    }
    let text = if rng.chance(0.03) { serde_yaml::to_string(&any(rng, 0)) } else { serde_yaml::to_string(&top) };
    let mut text = text.unwrap();
    if rng.chance(0.05) {
        let cut = text.char_indices().map(|(i, _)| i).nth(rng.below(text.chars().count().max(1))).unwrap_or(0);
        text.truncate(cut);
    }
    text
}

/// One config: read, validate, step the pure schedule.
fn run_config(text: &str) {
    let check_error = |e: &tch_lr::Error| {
        let shown = e.to_string();
        assert!(!shown.contains('\n'), "a multi-line error: {shown:?}");
        if let tch_lr::Error::Config { line: Some(l), .. } = e {
            assert!(*l <= text.lines().count() + 1, "line {l} is past the end: {shown}");
        }
    };
    let config = match Config::from_yaml(text) {
        Ok(c) => c,
        Err(e) => return check_error(&e),
    };
    let mut groups = match config.validate() {
        Ok(g) => g,
        Err(e) => return check_error(&e),
    };
    // validate() ran the constructor on these groups; step a fresh copy.
    let mut s = config.schedule().unwrap();
    groups = tch_lr::groups::ParamGroups::new(groups.kind(), &groups.lrs(), groups.momenta()[0]).unwrap();
    if s.init(&mut groups).is_err() {
        return;
    }
    for k in 0..30 {
        let r = if s.takes_metric() { s.step_metric(&mut groups, 1.0 / (k as f64 + 1.0)) } else { s.step(&mut groups) };
        if let Err(e) = r {
            return check_error(&e);
        }
    }
}

#[test]
fn the_config_reader_never_panics() {
    let (n, seed) = (cases(), seed());
    let start = Instant::now();
    let mut rng = Rng(seed);
    let (mut loaded, mut failed) = (0, 0);
    for i in 0..n {
        let text = config_text(&mut rng);
        if catch_unwind(AssertUnwindSafe(|| run_config(&text))).is_err() {
            panic!("case {i} (FUZZ_SEED={seed}) panicked on:\n{text}");
        }
        if Config::from_yaml(&text).is_ok() {
            loaded += 1;
        } else {
            failed += 1;
        }
    }
    println!("config fuzz: {n} cases ({loaded} loaded, {failed} rejected) in {:.1?}, seed {seed}", start.elapsed());
    assert!(
        loaded > n / 20 && failed > n / 20,
        "the generator should make both kinds: {loaded} loaded, {failed} rejected"
    );
}

/// Replaces a random node of `v` with something else, deletes a key or cuts a list.
fn mutate(rng: &mut Rng, v: &mut Value, depth: usize) {
    let descend = rng.chance(0.75);
    match v {
        Value::Mapping(m) if !m.is_empty() => {
            let key = m.keys().nth(rng.below(m.len())).unwrap().clone();
            if descend {
                mutate(rng, m.get_mut(&key).unwrap(), depth + 1);
            } else if rng.chance(0.5) {
                m.remove(&key);
            } else {
                m.insert(key, any(rng, depth));
            }
        }
        Value::Sequence(s) if !s.is_empty() => {
            let i = rng.below(s.len());
            if descend {
                mutate(rng, &mut s[i], depth + 1);
            } else if rng.chance(0.5) {
                s.truncate(i);
            } else {
                s.push(any(rng, depth));
            }
        }
        // A leaf: mostly a value of its own type (a state that still parses,
        // with numbers it was never meant to hold), sometimes anything.
        other if rng.chance(0.2) => *other = any(rng, depth),
        Value::Number(x) if x.is_f64() => *x = float(rng).as_f64().unwrap().into(),
        Value::Number(x) => *x = int(rng).as_i64().unwrap().into(),
        Value::Bool(b) => *b = !*b,
        other => *other = any(rng, depth),
    }
}

fn build(example: &str, optimizer: &str, groups: usize) -> Scheduler<Box<dyn Schedule>> {
    let config = Config::from_yaml(&format!("optimizer: {optimizer}\nscheduler: {example}")).unwrap();
    config.build(config.build_optim(&tiny_vs(groups), tch_lr::optim::Backend::Tch).unwrap()).unwrap()
}

#[test]
fn the_state_loader_never_panics() {
    let (n, seed) = (cases(), seed());
    let start = Instant::now();
    let mut rng = Rng(seed.wrapping_add(1));
    let (mut loaded, mut failed) = (0, 0);
    for i in 0..n {
        let s = rng.pick(REGISTRY);
        let groups = 1 + rng.below(3);
        let lrs = (0..groups).map(|g| format!("{}", 0.1 / (g + 1) as f64)).collect::<Vec<_>>().join(", ");
        let optimizer = format!("{{name: {}, lr: [{lrs}]}}", rng.pick(&["sgd", "adam"]));
        let metric = |k: usize| 1.0 / (1.0 + (k % 7) as f64);
        let mut sched = build(s.example, &optimizer, groups);
        for k in 0..rng.below(20) {
            if sched.step_with(s.takes_metric.then(|| metric(k))).is_err() {
                break;
            }
        }
        let mut value = serde_yaml::to_value(sched.state().unwrap()).unwrap();
        for _ in 0..1 + rng.below(3) {
            // Mostly inside the schedule's own state and the groups, where a
            // state that still parses can hold values it was never meant to.
            let part = match rng.below(10) {
                0..=6 => value.get_mut("schedule"),
                7 | 8 => value.get_mut("groups"),
                _ => None,
            };
            match part {
                Some(p) => mutate(&mut rng, p, 1),
                None => mutate(&mut rng, &mut value, 0),
            }
        }
        let text = serde_yaml::to_string(&value).unwrap();
        let outcome = catch_unwind(AssertUnwindSafe(|| {
            let mut fresh = build(s.example, &optimizer, groups);
            let state: SchedulerState = match serde_yaml::from_value(value.clone()) {
                Ok(st) => st,
                Err(e) => {
                    if std::env::var_os("FUZZ_VERBOSE").is_some() {
                        eprintln!("unparsed: {e}");
                    }
                    return false;
                }
            };
            if let Err(e) = fresh.load_state(state) {
                assert!(!e.to_string().contains('\n'), "{e}");
                if std::env::var_os("FUZZ_VERBOSE").is_some() {
                    eprintln!("rejected: {e}");
                }
                return false;
            }
            for k in 0..20 {
                if fresh.step_with(s.takes_metric.then(|| metric(k))).is_err() {
                    break;
                }
                assert!(fresh.groups().iter().all(|g| g.lr.is_finite() && g.momentum.is_finite()));
            }
            true
        }));
        match outcome {
            Ok(true) => loaded += 1,
            Ok(false) => failed += 1,
            Err(_) => panic!("case {i} (FUZZ_SEED={seed}, {}) panicked loading:\n{text}", s.name),
        }
    }
    println!("state fuzz: {n} cases ({loaded} loaded, {failed} rejected) in {:.1?}, seed {seed}", start.elapsed());
    assert!(loaded > 0 && failed > 0, "{loaded} loaded, {failed} rejected");
}
