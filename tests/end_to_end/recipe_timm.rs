//! `tch-lr trace args.yaml`: timm's train.py's own args as the config (issue 26).
//!
//! `tests/fixtures/recipes/timm/` (written by `scripts/fixtures/gen_recipes_timm.py` with
//! timm 1.0.31) holds args.yaml files with every key train.py writes, checkpoints as its
//! CheckpointSaver writes them, and the LRs timm's `create_scheduler_v2(**scheduler_kwargs(args),
//! updates_per_epoch=U)` gives, stepped as train.py steps it: the binary must print the same
//! rows, bit for bit, from the start and resumed; what it cannot honour is one line.

use crate::common;

use std::path::Path;
use std::process::Output;

use common::*;

use super::cli::tch_lr;

/// The error of a failed run: one line, `error: ...` (`cli::one_line_error`), at most 300 characters.
fn one_line_error(out: &Output) -> String {
    let error = super::cli::one_line_error(out);
    assert!(error.len() <= 300, "{} characters: {}", error.len(), error);
    error
}

const DIR: &str = "tests/fixtures/recipes/timm";

fn cases() -> Vec<serde_json::Value> {
    let text = std::fs::read_to_string(root().join(DIR).join("cases.json")).unwrap();
    let all: serde_json::Value = serde_json::from_str(&text).unwrap();
    all["cases"].as_array().unwrap().clone()
}

/// Rows of numbers as the bits of their f64s (timm leaves an int 0 where tch-lr writes 0.0).
fn bits(rows: &serde_json::Value) -> Vec<Vec<u64>> {
    let row = |r: &serde_json::Value| r.as_array().unwrap().iter().map(|v| v.as_f64().unwrap().to_bits()).collect();
    rows.as_array().unwrap().iter().map(row).collect()
}

/// The options a case's run took.
fn options(case: &serde_json::Value) -> Vec<String> {
    let mut out = Vec::new();
    for (key, flag) in [("updates_per_epoch", "--updates-per-epoch"), ("world_size", "--world-size")] {
        if let Some(v) = case[key].as_u64() {
            out.extend([flag.to_string(), v.to_string()]);
        }
    }
    out
}

fn trace(case: &serde_json::Value, steps: usize, extra: &[&str]) -> Output {
    let args = format!("{DIR}/{}", case["args"].as_str().unwrap());
    let steps = steps.to_string();
    let opts = options(case);
    let mut argv = vec!["trace", &args, "--steps", &steps, "--format", "json"];
    argv.extend(opts.iter().map(String::as_str));
    argv.extend(extra);
    tch_lr(&argv)
}

/// Every case: the rows timm gives (every group's LR, exactly), the found line, and timm's
/// refusal as one line.
#[test]
fn trace_reads_timm_args_yaml_as_train_py_does() {
    let mut seen = 0;
    for case in cases() {
        let name = case["name"].as_str().unwrap();
        if let Some(error) = case.get("error") {
            let e = one_line_error(&trace(&case, 5, &[]));
            assert!(e.contains("decay_epochs") && error["type"] == "ValueError", "{name}: {e}");
            continue;
        }
        let rows = case["rows"].as_array().unwrap();
        let out = trace(&case, rows.len(), &[]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{name}: {stderr}");
        let lr = case["lr"].as_f64().unwrap();
        assert!(stderr.contains(&format!(", lr {lr}")) && stderr.contains("from args.yaml"), "{name}: {stderr}");
        let t: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(bits(&t["lr"]), bits(&case["rows"]), "{name}: lr");
        seen += 1;
    }
    assert_eq!(seen, 10, "ten runs and one refusal");
}

/// A checkpoint beside the args.yaml as `--resume-from`: rows from `epoch + 1` (times U on
/// updates), as train.py resumes; without U a schedule on updates is one line.
#[test]
fn trace_resumes_from_a_timm_checkpoint() {
    let mut seen = 0;
    for case in cases().iter().filter(|c| !c["resume"].is_null()) {
        let name = case["name"].as_str().unwrap();
        let r = &case["resume"];
        let first = r["first_row"].as_u64().unwrap() as usize;
        let rows = r["rows"].as_array().unwrap();
        let file = format!("{DIR}/{}", r["file"].as_str().unwrap());
        let out = trace(case, first + rows.len(), &["--resume-from", &file]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{name}: {stderr}");
        let epoch = r["epoch"].as_u64().unwrap();
        assert!(stderr.contains(&format!("after epoch {epoch}: train.py resumes at epoch {}", epoch + 1)), "{stderr}");
        let t: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(bits(&t["lr"]), bits(&r["rows"]), "{name} resumed: lr");
        seen += 1;
    }
    assert_eq!(seen, 2);

    // A schedule on updates resumed without U; a checkpoint under a schedule that is not timm's.
    let tanh = format!("{DIR}/tanh_updates");
    let yaml = format!("{tanh}/args.yaml");
    let ckpt = format!("{tanh}/checkpoint-3.pth.tar");
    let e = one_line_error(&tch_lr(&["trace", &yaml, "--steps", "40", "--resume-from", &ckpt]));
    assert!(e.contains("--updates-per-epoch"), "{e}");
    let dir = tempfile::tempdir().unwrap();
    let step = dir.path().join("step.yaml");
    std::fs::write(&step, "optimizer: {name: sgd, lr: 0.1, groups: 2}\nscheduler: {name: StepLR, step_size: 2}\n")
        .unwrap();
    let e = one_line_error(&tch_lr(&["trace", step.to_str().unwrap(), "--steps", "20", "--resume-from", &ckpt]));
    assert!(e.contains("timm checkpoint") && e.contains("StepLR"), "{e}");
}

/// What train.py's args name and tch-lr cannot honour: one line each, naming the key.
#[test]
fn timm_args_refusals_are_one_line() {
    let dir = tempfile::tempdir().unwrap();
    let text = std::fs::read_to_string(root().join(DIR).join("cosine_defaults/args.yaml")).unwrap();
    let variant = |name: &str, from: &str, to: &str| -> String {
        assert!(text.contains(from), "{from}");
        let path = dir.path().join(name).join("args.yaml");
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, text.replace(from, to)).unwrap();
        path.to_str().unwrap().to_string()
    };
    let run = |path: &str, extra: &[&str]| {
        let mut argv = vec!["trace", path, "--steps", "3"];
        argv.extend(extra);
        one_line_error(&tch_lr(&argv))
    };
    let e = run(&variant("typo", "sched: cosine", "sched: cosin"), &[]);
    assert!(e.contains("`sched` is `cosin`") && e.contains("did you mean `cosine`?"), "{e}");
    let e = run(&variant("plateau", "sched: cosine", "sched: plateau"), &[]);
    assert!(e.contains("plateau") && e.contains("--metrics"), "{e}");
    let e = run(&variant("updates", "sched_on_updates: false", "sched_on_updates: true"), &[]);
    assert!(e.contains("sched_on_updates") && e.contains("--updates-per-epoch"), "{e}");
    let e = run(&variant("epochs", "epochs: 20", "epochs: twenty"), &[]);
    assert!(e.contains("`epochs` is twenty, not an integer"), "{e}");
    // The options are timm's: another config refuses them.
    let e = run("configs/timm_cosine_lr_scheduler.yaml", &["--world-size", "2"]);
    assert!(e.contains("timm's args.yaml"), "{e}");
    // Detected by content: the same file under another name is timm's args.
    let other = dir.path().join("run-config.yml");
    std::fs::write(&other, &text).unwrap();
    let out = tch_lr(&["trace", other.to_str().unwrap(), "--steps", "2", "--world-size", "4"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success() && stderr.contains("lr 0.2 (lr_base 0.1 x 512/256, linear)"), "{stderr}");
    assert!(Path::new(&other).exists());
}
