//! Scheduler and optimizer state across PyTorch and tch-lr
//! (`tch_lr::interop::state`): PyTorch runs saved at step k
//! (tests/fixtures/interop_state/, scripts/fixtures/gen_interop_state.py) continue in
//! tch-lr with PyTorch's uninterrupted rows, tch-lr's saved runs continue in PyTorch
//! (scripts/reference/trace_torch.py --resume-from, the project's .venv) with the same
//! rows, and files of another class, group count or optimizer are refused in one line.

use crate::common;
use std::path::{Path, PathBuf};

use serde_json::{json, Value as Json};
use tch_lr::config::Config;
use tch_lr::interop::{state, torch_file, Value};
use tch_lr::trace::{trace, TraceOptions};
use tch_lr::Error;

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn dir() -> PathBuf {
    root().join("tests/fixtures/interop_state")
}

struct Case {
    name: String,
    config: Json,
    steps: usize,
    metrics: Option<Vec<f64>>,
    rows: Json,
    files: Vec<(usize, PathBuf)>,
}

fn cases() -> Vec<Case> {
    let text = std::fs::read_to_string(dir().join("cases.json")).unwrap();
    let all: Json = serde_json::from_str(&text).unwrap();
    all["cases"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| Case {
            name: c["name"].as_str().unwrap().into(),
            config: c["config"].clone(),
            steps: c["steps"].as_u64().unwrap() as usize,
            metrics: c["metrics"].as_array().map(|m| m.iter().map(|v| v.as_f64().unwrap()).collect()),
            rows: c["rows"].clone(),
            files: c["files"]
                .as_object()
                .unwrap()
                .iter()
                .map(|(k, f)| (k.parse().unwrap(), dir().join(f["file"].as_str().unwrap())))
                .collect(),
        })
        .collect()
}

fn config(c: &Case) -> Config {
    Config::from_yaml(&c.config.to_string()).unwrap_or_else(|e| panic!("{}: {e}", c.name))
}

fn rows_json(rows: &[Vec<f64>]) -> Json {
    json!(rows)
}

/// `got` equals `want` to 1e-12 relative, row by row.
fn assert_rows(what: &str, got: &Json, want: &Json) {
    let (g, w) = (got.as_array().unwrap(), want.as_array().unwrap());
    assert_eq!(g.len(), w.len(), "{what}: {} rows, expected {}", g.len(), w.len());
    for (i, (gr, wr)) in g.iter().zip(w).enumerate() {
        for (a, b) in gr.as_array().unwrap().iter().zip(wr.as_array().unwrap()) {
            let (a, b) = (a.as_f64().unwrap(), b.as_f64().unwrap());
            assert!(
                a == b || (a - b).abs() <= 1e-12 * a.abs().max(b.abs()),
                "{what}: row {i}: {a} != {b}\n{got}\n{want}"
            );
        }
    }
}

fn tail(rows: &Json, k: usize) -> Json {
    Json::Array(rows.as_array().unwrap()[k..].to_vec())
}

#[test]
fn fixtures_cover_the_classes() {
    let cases = cases();
    let classes: std::collections::BTreeSet<_> = cases.iter().map(|c| c.name.rsplit_once('.').unwrap().0).collect();
    // Every registered schedule, and the ways configs combine them.
    let registered = tch_lr::schedulers::REGISTRY.iter().map(|s| s.name);
    let combined = ["SequentialLR+SWALR", "warmup", "weight_decay_scheduler", "momentum_scheduler"];
    for name in registered.chain(combined) {
        assert!(classes.contains(name), "no fixture for {name}");
    }
}

#[test]
fn pytorch_runs_continue_in_tch_lr() {
    let mut n = 0;
    for c in cases() {
        let cfg = config(&c);
        for (k, file) in &c.files {
            let opts = TraceOptions {
                rows: c.steps,
                metrics: c.metrics.clone(),
                resume_from: Some(file.clone()),
                ..Default::default()
            };
            let t = trace(&cfg, &opts).unwrap_or_else(|e| panic!("{} at {k}: {e}", c.name));
            let what = format!("{} resumed at {k}", c.name);
            assert_rows(&format!("{what}: lr"), &rows_json(&t.lr), &tail(&c.rows["lr"], *k));
            assert_rows(&format!("{what}: momentum"), &rows_json(&t.momentum), &tail(&c.rows["momentum"], *k));
            if c.rows.get("weight_decay").is_some() {
                let wd = tail(&c.rows["weight_decay"], *k);
                assert_rows(&format!("{what}: weight_decay"), &rows_json(&t.weight_decay), &wd);
            }
            n += 1;
        }
    }
    assert!(n >= 60, "{n} cuts");
}

/// Each job `{"config", "steps", "metrics", "file"}` traced by PyTorch from `file` on.
fn torch_resume(jobs: &Json) -> Vec<Json> {
    let script = r#"
import json, sys
sys.path.insert(0, sys.argv[1])
from trace_torch import trace
out = []
for j in json.load(open(sys.argv[2])):
    rows, err = trace(j["config"], j["steps"], j["metrics"], resume_from=j["file"])
    out.append(err if err else rows)
print(json.dumps(out))
"#;
    let tmp = tempfile::tempdir().unwrap();
    let jobs_path = tmp.path().join("jobs.json");
    std::fs::write(&jobs_path, jobs.to_string()).unwrap();
    let python = root().join(".venv/bin/python");
    let out = common::command(&python)
        .arg("-c")
        .arg(script)
        .arg(root().join("scripts/reference"))
        .arg(&jobs_path)
        .output()
        .unwrap_or_else(|e| panic!("{}: {e} (the tests need the project's .venv: scripts/setup.sh)", python.display()));
    assert!(out.status.success(), "PyTorch failed:\n{}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice::<Json>(&out.stdout).unwrap().as_array().unwrap().clone()
}

#[test]
fn tch_lr_runs_continue_in_pytorch() {
    let tmp = tempfile::tempdir().unwrap();
    let mut jobs = vec![];
    let mut want = vec![];
    for c in cases() {
        let cfg = config(&c);
        for (k, _) in &c.files {
            let file = tmp.path().join(format!("{}.{k}.pt", c.name));
            let opts = TraceOptions {
                rows: k + 1,
                metrics: c.metrics.clone(),
                save_pytorch: Some(file.clone()),
                ..Default::default()
            };
            let t = trace(&cfg, &opts).unwrap_or_else(|e| panic!("{} saved at {k}: {e}", c.name));
            assert_rows(&c.name, &rows_json(&t.lr), &Json::Array(c.rows["lr"].as_array().unwrap()[..=*k].to_vec()));
            jobs.push(json!({"config": c.config, "steps": c.steps, "metrics": c.metrics, "file": file}));
            want.push((format!("{} saved by tch-lr at {k}", c.name), c.rows.clone(), *k));
        }
    }
    let got = torch_resume(&Json::Array(jobs));
    assert_eq!(got.len(), want.len());
    for (g, (what, rows, k)) in got.iter().zip(&want) {
        assert!(g.get("message").is_none(), "{what}: PyTorch: {g}");
        assert_rows(&format!("{what}: lr"), &g["lr"], &tail(&rows["lr"], *k));
        assert_rows(&format!("{what}: momentum"), &g["momentum"], &tail(&rows["momentum"], *k));
        if rows.get("weight_decay").is_some() {
            assert_rows(&format!("{what}: weight_decay"), &g["weight_decay"], &tail(&rows["weight_decay"], *k));
        }
    }
}

/// The error of loading `file` (edited by `edit`) into the run of `config`.
fn load_error(config: &str, file: &Path, edit: impl FnOnce(&mut Value)) -> Error {
    let cfg = Config::from_yaml(config).unwrap();
    let o = cfg.optimizer_or_default();
    let vs = tch_lr::internals::tiny_var_store(o.lrs().unwrap().len());
    let optim = o.build(&vs, tch_lr::optim::Backend::Tch).unwrap();
    let sched = cfg.build(optim).unwrap();
    let mut v = torch_file::load(file).unwrap();
    edit(&mut v);
    let e = state::from_pytorch(&cfg, &sched, &v).expect_err("loaded");
    assert!(!e.to_string().contains('\n'), "{e}");
    e
}

fn fixture(name: &str) -> (Case, PathBuf) {
    let c = cases().into_iter().find(|c| c.name == name).unwrap();
    let f = c.files[0].1.clone();
    (c, f)
}

fn group_mut(v: &mut Value, i: usize) -> &mut Vec<(Value, Value)> {
    let Value::Dict(top) = v else { panic!() };
    let opt = &mut top.iter_mut().find(|(k, _)| *k == Value::Str("optimizer".into())).unwrap().1;
    let Value::Dict(opt) = opt else { panic!() };
    let pg = &mut opt.iter_mut().find(|(k, _)| *k == Value::Str("param_groups".into())).unwrap().1;
    let Value::List(pg) = pg else { panic!() };
    let Value::Dict(g) = &mut pg[i] else { panic!() };
    g
}

#[test]
fn other_classes_groups_and_options_are_refused_in_one_line() {
    let (step, step_file) = fixture("StepLR.0");
    let opt = step.config["optimizer"].to_string();
    let groups = step.config["optimizer"]["lr"].as_array().unwrap().len();
    // Another class's state.
    let e = load_error(
        &format!("{{optimizer: {opt}, scheduler: {{name: ExponentialLR, gamma: 0.9}}}}"),
        &step_file,
        |_| {},
    );
    assert!(matches!(e, Error::State(_)) && e.to_string().contains("not a ExponentialLR state"), "{e}");
    let e = load_error(
        &format!("{{optimizer: {opt}, scheduler: {{name: MultiStepLR, milestones: [2]}}}}"),
        &step_file,
        |_| {},
    );
    assert!(e.to_string().contains("MultiStepLR"), "{e}");
    // The same class, other arguments.
    let e =
        load_error(&format!("{{optimizer: {opt}, scheduler: {{name: StepLR, step_size: 99}}}}"), &step_file, |_| {});
    assert!(e.to_string().contains("step_size"), "{e}");
    // Another number of groups.
    let lrs = vec![0.1; groups + 1];
    let other = json!({"name": step.config["optimizer"]["name"], "lr": lrs, "momentum": step.config["optimizer"].get("momentum")});
    let e = load_error(&format!("{{optimizer: {other}, scheduler: {}}}", step.config["scheduler"]), &step_file, |_| {});
    assert!(e.to_string().contains("parameter group"), "{e}");
    // maximize, capturable, differentiable, fused.
    for flag in ["maximize", "differentiable", "fused"] {
        let e = load_error(&step.config.to_string(), &step_file, |v| {
            let g = group_mut(v, 0);
            match g.iter_mut().find(|(k, _)| *k == Value::Str(flag.into())) {
                Some((_, x)) => *x = Value::Bool(true),
                None => g.push((Value::Str(flag.into()), Value::Bool(true))),
            }
        });
        assert!(matches!(e, Error::Unsupported(_)) && e.to_string().contains(flag), "{e}");
    }
    // Another optimizer class: SGD's groups into Adam, Adam's into SGD.
    for name in ["StepLR.0", "StepLR.1", "ExponentialLR.0", "ExponentialLR.1"] {
        let (c, file) = fixture(name);
        let theirs = c.config["optimizer"]["name"].as_str().unwrap();
        let mine = if theirs == "sgd" { "adam" } else { "sgd" };
        let mut o = c.config["optimizer"].clone();
        o["name"] = json!(mine);
        o.as_object_mut().unwrap().remove("momentum");
        let e = load_error(&format!("{{optimizer: {o}, scheduler: {}}}", c.config["scheduler"]), &file, |_| {});
        assert!(matches!(e, Error::OptimizerState(_)) && e.to_string().contains("optimizer is"), "{e}");
    }
    // A `weight_decay_scheduler:` config, a file without its section.
    let e = load_error(
        &format!(
            "{{optimizer: {opt}, scheduler: {}, weight_decay_scheduler: {{name: ExponentialLR, gamma: 0.9}}}}",
            step.config["scheduler"]
        ),
        &step_file,
        |_| {},
    );
    assert!(matches!(e, Error::State(_)) && e.to_string().contains("no `weight_decay_scheduler`"), "{e}");
    // And the other way: a file with a section the config has not.
    let (wd, wd_file) = fixture("weight_decay_scheduler.0");
    let e = load_error(
        &format!("{{optimizer: {}, scheduler: {}}}", wd.config["optimizer"], wd.config["scheduler"]),
        &wd_file,
        |_| {},
    );
    assert!(matches!(e, Error::State(_)) && e.to_string().contains("no `weight_decay_scheduler:` section"), "{e}");
}

#[test]
fn timm_files_of_other_classes_or_without_t_are_refused_in_one_line() {
    let (cos, cos_file) = fixture("timm.CosineLRScheduler.0");
    let opt = cos.config["optimizer"].to_string();
    // Another timm class's state; the same class with other arguments.
    let e = load_error(
        &format!("{{optimizer: {opt}, scheduler: {{name: timm.StepLRScheduler, decay_t: 2}}}}"),
        &cos_file,
        |_| {},
    );
    assert!(matches!(e, Error::State(_)) && e.to_string().contains("not a timm.StepLRScheduler state"), "{e}");
    let mut other = cos.config["scheduler"].clone();
    other["t_initial"] = json!(99);
    let e = load_error(&format!("{{optimizer: {opt}, scheduler: {other}}}"), &cos_file, |_| {});
    assert!(e.to_string().contains("t_initial"), "{e}");
    // A PyTorch class's file into a timm config, and a timm file without its `t`.
    let (_, step_file) = fixture("StepLR.0");
    let e = load_error(&format!("{{optimizer: {opt}, scheduler: {}}}", cos.config["scheduler"]), &step_file, |_| {});
    assert!(matches!(e, Error::State(_) | Error::OptimizerState(_)), "{e}");
    let e = load_error(&cos.config.to_string(), &cos_file, |v| {
        let Value::Dict(top) = v else { panic!() };
        top.retain(|(k, _)| *k != Value::Str("t".into()));
    });
    assert!(matches!(e, Error::State(_)) && e.to_string().contains("`t`"), "{e}");
    // A timm schedule inside a composite (not yet).
    let e = load_error(
        &format!(
            "{{optimizer: {opt}, scheduler: {{name: SequentialLR, milestones: [2], schedulers: \
             [{{name: ConstantLR, factor: 0.5, total_iters: 2}}, {{name: timm.StepLRScheduler, decay_t: 3}}]}}}}"
        ),
        &step_file,
        |_| {},
    );
    assert!(matches!(e, Error::Unsupported(_)) && e.to_string().contains("inside SequentialLR"), "{e}");
}

#[test]
fn saved_files_load_back_into_tch_lr() {
    // tch-lr's own --save-pytorch file is one from_pytorch reads: the round trip continues exactly.
    let tmp = tempfile::tempdir().unwrap();
    for c in cases().iter().filter(|c| c.name.ends_with(".0")) {
        let cfg = config(c);
        let k = c.files[0].0;
        let file = tmp.path().join(format!("{}.pt", c.name));
        let save = TraceOptions {
            rows: k + 1,
            metrics: c.metrics.clone(),
            save_pytorch: Some(file.clone()),
            ..Default::default()
        };
        trace(&cfg, &save).unwrap();
        let resume =
            TraceOptions { rows: c.steps, metrics: c.metrics.clone(), resume_from: Some(file), ..Default::default() };
        let t = trace(&cfg, &resume).unwrap_or_else(|e| panic!("{}: {e}", c.name));
        assert_rows(&c.name, &rows_json(&t.lr), &tail(&c.rows["lr"], k));
        assert_rows(&c.name, &rows_json(&t.momentum), &tail(&c.rows["momentum"], k));
        if c.rows.get("weight_decay").is_some() {
            assert_rows(&c.name, &rows_json(&t.weight_decay), &tail(&c.rows["weight_decay"], k));
        }
    }
}

/// Megatron's load rules (issue 25): a run saved by one config, resumed by
/// another with `override_opt_param_scheduler` (the config's values kept),
/// `use_checkpoint_opt_param_scheduler` (the file's taken; the weight decay
/// written at the load still the config's) or neither (Megatron's assert,
/// one line naming the key), both ways: PyTorch's file into tch-lr, and
/// tch-lr's file into Megatron's class.
#[test]
fn megatron_load_rules_are_megatrons() {
    let text = std::fs::read_to_string(dir().join("cases.json")).unwrap();
    let all: Json = serde_json::from_str(&text).unwrap();
    let loads = all["megatron_loads"].as_array().unwrap();
    assert_eq!(loads.len(), 3);
    let tmp = tempfile::tempdir().unwrap();
    let (mut jobs, mut want) = (vec![], vec![]);
    for c in loads {
        let name = c["name"].as_str().unwrap();
        let cfg = Config::from_yaml(&c["config"].to_string()).unwrap();
        let steps = c["steps"].as_u64().unwrap() as usize;
        let opts = TraceOptions {
            rows: steps,
            resume_from: Some(dir().join(c["file"].as_str().unwrap())),
            ..Default::default()
        };
        match (trace(&cfg, &opts), c["error"].is_null()) {
            (Ok(t), true) => {
                assert_rows(&format!("{name}: lr"), &rows_json(&t.lr), &c["rows"]["lr"]);
                assert_rows(&format!("{name}: weight_decay"), &rows_json(&t.weight_decay), &c["rows"]["weight_decay"]);
            }
            (Err(e), false) => {
                let e = e.to_string();
                assert!(e.contains("`max_lr`") && e.contains("do not match") && !e.contains('\n'), "{name}: {e}");
            }
            (got, _) => panic!("{name}: {:?}, Megatron: {}", got.map(|t| t.lr), c["error"]),
        }
        let cut = c["cut"].as_u64().unwrap() as usize;
        let file = tmp.path().join(format!("{name}.pt"));
        let save = Config::from_yaml(&c["save"].to_string()).unwrap();
        trace(&save, &TraceOptions { rows: cut + 1, save_pytorch: Some(file.clone()), ..Default::default() }).unwrap();
        jobs.push(json!({"config": c["config"], "steps": steps, "metrics": null, "file": file}));
        want.push(c.clone());
    }
    for (got, c) in torch_resume(&Json::Array(jobs)).iter().zip(&want) {
        let name = c["name"].as_str().unwrap();
        if c["error"].is_null() {
            assert_rows(&format!("{name} saved by tch-lr: lr"), &got["lr"], &c["rows"]["lr"]);
            assert_rows(
                &format!("{name} saved by tch-lr: weight_decay"),
                &got["weight_decay"],
                &c["rows"]["weight_decay"],
            );
        } else {
            assert_eq!(got["message"], c["error"]["message"], "{name}");
        }
    }
}
