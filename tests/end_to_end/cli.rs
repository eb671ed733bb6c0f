//! `tch-lr trace | plot | check`, run as a user runs them, against PyTorch.
//!
//! `tests/fixtures/cli/expected.json` (written by `scripts/fixtures/gen_config.py`
//! with PyTorch 2.13) holds, for every file in `configs/` and 154 generated
//! configs, the rows PyTorch produces (LR, momentum, and weight decay where a
//! `weight_decay_scheduler:` drives it). The program prints them for every file
//! in `configs/` (JSON) and fails where PyTorch raises, with its message, after
//! the rows before it (CSV); `tests/schedules/trace.rs` runs every case, with and
//! without a checkpoint, in one process (what `trace` computes, without the
//! ~0.5 s of a program's start each).

use crate::common;

use std::path::Path;
use std::process::Output;

use common::*;
use serde::Deserialize;

/// Runs `tch-lr` from the repository root; fails on a panic.
pub(crate) fn tch_lr(args: &[&str]) -> Output {
    let out =
        common::command(env!("CARGO_BIN_EXE_tch-lr")).args(args).current_dir(root()).output().expect("run tch-lr");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("panicked") && !stderr.contains("RUST_BACKTRACE"), "tch-lr {args:?} panicked: {stderr}");
    out
}

#[derive(Deserialize)]
struct JsonTrace {
    lr: Vec<Vec<Num>>,
    momentum: Vec<Vec<Num>>,
    #[serde(default)]
    weight_decay: Option<Vec<Vec<Num>>>,
}

fn args<'a>(case: &'a CliCase, steps: &'a str, format: &'a str) -> Vec<&'a str> {
    let mut a = vec!["trace", case.config.as_str(), "--steps", steps, "--format", format];
    if let Some(m) = &case.metrics {
        a.extend(["--metrics", m.as_str()]);
    }
    a
}

/// The rows of the CSV columns whose names start with `prefix` (`lr_`, `momentum_`, `weight_decay_`).
fn parse_csv(text: &str, prefix: &str) -> Vec<Vec<f64>> {
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().unwrap_or_default().split(',').collect();
    let columns: Vec<usize> = (0..header.len()).filter(|&i| header[i].starts_with(prefix)).collect();
    lines
        .map(|l| {
            let fields: Vec<&str> = l.split(',').collect();
            columns.iter().map(|&i| fields[i].parse().unwrap()).collect()
        })
        .collect()
}

/// Checks one case; returns a description of the first difference.
fn check(case: &CliCase, with_checkpoint: bool) -> Result<(), String> {
    let steps = case.steps.to_string();
    let name = &case.config;
    let format = if case.error.is_some() { "csv" } else { "json" };
    let out = tch_lr(&args(case, &steps, format));
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    let f = |rows: Vec<Vec<Num>>| -> Vec<Vec<f64>> {
        rows.into_iter().map(|r| r.into_iter().map(Num::get).collect()).collect()
    };
    let (lr, momentum, weight_decay) = match &case.error {
        None => {
            if !out.status.success() {
                return Err(format!("{name}: failed: {stderr}"));
            }
            let t: JsonTrace = serde_json::from_str(&stdout).map_err(|e| format!("{name}: JSON: {e}"))?;
            (f(t.lr), f(t.momentum), t.weight_decay.map(f))
        }
        Some(err) => {
            if out.status.success() || !stderr.contains(&err.message) {
                return Err(format!("{name}: PyTorch raises {:?} at row {}; tch-lr: {stderr}", err.message, err.row));
            }
            let wd = stdout.lines().next().is_some_and(|h| h.contains(",weight_decay_0"));
            (
                parse_csv(&stdout, "lr_"),
                parse_csv(&stdout, "momentum_"),
                wd.then(|| parse_csv(&stdout, "weight_decay_")),
            )
        }
    };
    if weight_decay.is_some() != case.weight_decay.is_some() {
        let want = case.weight_decay.is_some();
        return Err(format!("{name}: weight_decay rows: {}, PyTorch: {want}", weight_decay.is_some()));
    }
    same_rows(name, "lr", &lr, &case.lr)?;
    same_rows(name, "momentum", &momentum, &case.momentum)?;
    if let (Some(got), Some(want)) = (&weight_decay, &case.weight_decay) {
        same_rows(name, "weight_decay", got, want)?;
    }
    if with_checkpoint && case.steps > 2 {
        let k = (case.steps / 2).to_string();
        let mut a = args(case, &steps, format);
        a.extend(["--checkpoint-at", &k]);
        let resumed = tch_lr(&a);
        if resumed.stdout != out.stdout || resumed.status.code() != out.status.code() {
            return Err(format!("{name}: --checkpoint-at {k} changes the output"));
        }
    }
    Ok(())
}

/// `tch-lr trace FILE --steps N --format json` for every file in `configs/`,
/// and `--format csv` for every case where PyTorch raises, against PyTorch's
/// rows; `--checkpoint-at` for one case of each kind (every case with a
/// checkpoint: `tests/schedules/trace.rs`, in one process).
#[test]
fn every_config_traces_like_pytorch() {
    let cases = cli_cases();
    let run: Vec<&CliCase> = cases.iter().filter(|c| c.config.starts_with("configs/") || c.error.is_some()).collect();
    let first_error = run.iter().position(|c| c.error.is_some());
    assert!(run.len() >= 50 && first_error.is_some(), "{} cases", run.len());
    let failures: Vec<String> = std::thread::scope(|s| {
        let workers: Vec<_> = (0..2)
            .map(|w| {
                let (run, first_error) = (&run, first_error);
                s.spawn(move || {
                    run.iter()
                        .enumerate()
                        .filter(|(k, _)| k % 2 == w)
                        .filter_map(|(k, c)| check(c, k == 0 || Some(k) == first_error).err())
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        workers.into_iter().flat_map(|w| w.join().unwrap()).collect()
    });
    assert!(failures.is_empty(), "{} of {} configs differ:\n{}", failures.len(), run.len(), failures.join("\n"));
}

#[test]
fn every_file_in_configs_is_checked_by_the_fixture() {
    let traced: Vec<String> = cli_cases().into_iter().map(|c| c.config).collect();
    for entry in std::fs::read_dir(root().join("configs")).unwrap() {
        let name = format!("configs/{}", entry.unwrap().file_name().to_string_lossy());
        assert!(traced.contains(&name), "{name} has no PyTorch fixture: run scripts/fixtures/gen.py config");
    }
}

#[test]
fn csv_has_a_header_and_one_line_per_row() {
    let out = tch_lr(&["trace", "configs/two_groups_warmup.yaml", "--steps", "5"]);
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines[0], "step,lr_0,lr_1,momentum_0,momentum_1");
    assert_eq!(lines.len(), 6);
    assert!(lines[1].starts_with("0,"));
}

#[test]
fn csv_has_weight_decay_columns_when_it_is_scheduled() {
    let out = tch_lr(&["trace", "configs/weight_decay_cosine.yaml", "--steps", "3"]);
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    assert_eq!(text.lines().next(), Some("step,lr_0,lr_1,momentum_0,momentum_1,weight_decay_0,weight_decay_1"));
    assert_eq!(parse_csv(&text, "weight_decay_")[0], [0.04, 0.0]);
    let out = tch_lr(&["check", "configs/weight_decay_cosine.yaml"]);
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("SequentialLR(LinearLR, CosineAnnealingLR); weight_decay: LambdaLR"), "{text}");
}

#[test]
fn check_prints_one_line_and_exits_zero_only_when_valid() {
    let out = tch_lr(&["check", "configs/warmup_cosine.yaml"]);
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    assert_eq!(text.lines().count(), 1, "{text}");
    assert!(text.contains("SequentialLR(LinearLR, CosineAnnealingLR)"), "{text}");

    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.yaml");
    std::fs::write(&bad, "scheduler: {name: ConstantLR, factor: 2.0}\n").unwrap();
    let out = tch_lr(&["check", bad.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8(out.stderr).unwrap();
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("Constant multiplicative factor expected to be between 0 and 1."), "{err}");
    assert!(err.contains("bad.yaml"), "{err}");
}

/// Owned command-line arguments.
fn argv(parts: &[&str]) -> Vec<String> {
    parts.iter().map(|p| p.to_string()).collect()
}

fn write(dir: &Path, name: &str, text: &[u8]) -> String {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p.to_str().unwrap().to_string()
}

#[test]
fn every_error_is_one_clear_line_and_a_nonzero_exit() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let plateau = "configs/reduce_lr_on_plateau.yaml";
    let x_jpg = d.join("x.jpg").to_str().unwrap().to_string();
    let cases: Vec<(Vec<String>, &str)> = vec![
        (argv(&["check", "does/not/exist.yaml"]), "No such file"),
        (argv(&["check", &write(d, "junk.yaml", &[0xff, 0xfe, 0, 1, 2])]), "not UTF-8"),
        (argv(&["check", &write(d, "empty.yaml", b"")]), "empty"),
        (argv(&["check", &write(d, "tabs.yaml", b"scheduler:\n\t- x: [")]), "line"),
        (argv(&["check", &write(d, "name.yaml", b"scheduler: {name: CosineLR}")]), "CosineAnnealingLR"),
        (
            argv(&["check", &write(d, "key.yaml", b"scheduler:\n  name: StepLR\n  step_size: 2\n  gama: 0.5\n")]),
            "gamma",
        ),
        (argv(&["check", &write(d, "type.yaml", b"scheduler:\n  name: StepLR\n  step_size: two\n")]), "step_size"),
        (argv(&["trace", plateau, "--steps", "5"]), "--metrics"),
        (argv(&["trace", plateau, "--steps", "5", "--metrics", &write(d, "m.txt", b"1.0\nabc\n")]), "line 2"),
        (argv(&["trace", plateau, "--steps", "5", "--metrics", &write(d, "short.txt", b"1.0\n")]), "metric"),
        (argv(&["trace", plateau, "--steps", "3", "--metrics", &write(d, "nan.txt", b"nan\n1\n")]), "NaN"),
        (
            argv(&["trace", "configs/step_lr.yaml", "--steps", "3", "--metrics", &write(d, "x.txt", b"1\n")]),
            "takes no metric",
        ),
        (argv(&["trace", "configs/one_cycle_lr.yaml", "--steps", "102"]), "Tried to step 101 times"),
        (argv(&["plot", "configs/step_lr.yaml", "--steps", "5", "-o", &x_jpg]), ".png or .svg"),
        (argv(&["plot", "configs/step_lr.yaml", "--steps", "5", "-o", "/nonexistent/dir/x.png"]), "No such file"),
    ];
    for (args, want) in cases {
        let a: Vec<&str> = args.iter().map(String::as_str).collect();
        let out = tch_lr(&a);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {err}");
        assert!(err.contains(want), "{args:?}: {err:?} should mention {want:?}");
        assert!(err.lines().filter(|l| l.starts_with("error:")).count() == 1, "{args:?}: {err}");
    }
}

#[test]
fn plot_writes_png_and_svg() {
    let dir = tempfile::tempdir().unwrap();
    let configs = [
        ("configs/one_cycle_lr.yaml", "a.png"),
        ("configs/two_groups_warmup.yaml", "b.svg"),
        ("configs/weight_decay_cosine.yaml", "c.svg"),
    ];
    for (config, name) in configs {
        let path = dir.path().join(name);
        let out = tch_lr(&["plot", config, "--steps", "40", "-o", path.to_str().unwrap()]);
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let bytes = std::fs::read(&path).unwrap();
        if name.ends_with(".png") {
            assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n");
            assert!(bytes.len() > 10_000);
        } else {
            let text = String::from_utf8(bytes).unwrap();
            assert!(text.contains("<svg") && text.contains("SequentialLR") && text.contains("lr 1"));
            // The weight decay on the second axis, when scheduled.
            assert_eq!(text.contains("weight decay 1"), config.contains("weight_decay"), "{config}");
        }
    }
}

#[test]
fn help_explains_every_subcommand() {
    for (sub, words) in [
        ("trace", &["--steps", "--metrics", "--format", "--checkpoint-at", "--resume-from", "--save-pytorch"][..]),
        ("plot", &["--steps", "--output", "--metrics"][..]),
        ("check", &["CONFIG", "--steps", "--metrics", "1000", "--epochs", "--steps-per-epoch"][..]),
    ] {
        let out = tch_lr(&[sub, "--help"]);
        assert!(out.status.success());
        let text = String::from_utf8(out.stdout).unwrap();
        for w in words {
            assert!(text.contains(w), "tch-lr {sub} --help lacks {w}");
        }
    }
    let out = tch_lr(&["trace"]);
    assert_eq!(out.status.code(), Some(2), "clap's usage error");
}

/// `tch-lr list` prints the registry: the names, and as JSON each schedule's
/// keyword arguments with their defaults (what the Python scripts read).
#[test]
fn list_prints_the_registry() {
    let out = tch_lr(&["list"]);
    assert!(out.status.success());
    let names: Vec<String> = String::from_utf8(out.stdout).unwrap().lines().map(str::to_string).collect();
    let registered: Vec<String> = tch_lr::schedulers::REGISTRY.iter().map(|s| s.name.to_string()).collect();
    assert_eq!(names, registered);

    let out = tch_lr(&["list", "--format", "json"]);
    assert!(out.status.success());
    let all: Vec<serde_json::Value> = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(all.len(), registered.len());
    let one_cycle = all.iter().find(|s| s["name"] == "OneCycleLR").unwrap();
    let kwargs = one_cycle["kwargs"].as_array().unwrap();
    let kw = |name: &str| kwargs.iter().find(|k| k["name"] == name).unwrap_or_else(|| panic!("no {name}")).clone();
    assert_eq!(kw("max_lr")["required"], true);
    assert_eq!(kw("pct_start")["default"], 0.3);
    assert_eq!(kw("anneal_strategy")["default"], "cos");
    assert_eq!(kw("total_steps")["default"], serde_json::Value::Null);
    assert_eq!(kw("final_div_factor")["default"], 1e4);
    let plateau = all.iter().find(|s| s["name"] == "ReduceLROnPlateau").unwrap();
    assert_eq!(plateau["takes_metric"], true);
}

/// Each class of malformed input: exactly one line on stderr, exit status 1,
/// naming the key and its line; `check` and `trace` say the same.
#[test]
fn check_and_trace_reject_bad_input_alike_in_one_line() {
    let dir = tempfile::tempdir().unwrap();
    let step = "scheduler: {name: StepLR, step_size: 2}\n";
    let cases: Vec<(String, &[&str])> = vec![
        (format!("optimizer: {{name: sgd, lr: -0.1}}\n{step}"), &["optimizer.lr", "Invalid learning rate: -0.1", "line 1"]),
        (format!("optimizer:\n  name: sgd\n  lr: 0.1\n  momentum: -0.5\n{step}"), &["optimizer.momentum", "Invalid momentum value: -0.5", "line 4"]),
        (format!("optimizer: {{name: adamw, lr: 0.1, weight_decay: -1}}\n{step}"), &["optimizer.weight_decay", "Invalid weight_decay value: -1.0"]),
        (format!("optimizer: {{name: adam, lr: 0.1, betas: [1.0, 0.999]}}\n{step}"), &["optimizer.betas", "Invalid beta parameter at index 0: 1.0"]),
        (format!("optimizer: {{name: sgd, lr: .inf}}\n{step}"), &["optimizer.lr", "finite", ".inf"]),
        ("scheduler:\n  name: StepLR\n  step_size: 2\n  gamma: .nan\n".into(), &["scheduler.gamma", "finite", "line 4"]),
        ("scheduler: {name: CosineAnnealingLR, T_max: 10, eta_min: .nan}\n".into(), &["scheduler.eta_min", "finite"]),
        (
            "scheduler:\n  name: SequentialLR\n  milestones: [2]\n  schedulers:\n    - {name: ConstantLR}\n    - {name: CyclicLR, base_lr: 0.01, max_lr: 0.1, mode: triangle}\n".into(),
            &["scheduler.schedulers[1].mode", "triangle", "triangular2", "line 6"],
        ),
    ];
    for (i, (yaml, words)) in cases.iter().enumerate() {
        let path = write(dir.path(), &format!("bad{i}.yaml"), yaml.as_bytes());
        let mut said = Vec::new();
        for args in [vec!["check", path.as_str()], vec!["trace", path.as_str(), "--steps", "3"]] {
            let out = tch_lr(&args);
            let err = String::from_utf8_lossy(&out.stderr).to_string();
            assert_eq!(out.status.code(), Some(1), "{args:?} on {yaml:?}: {err}");
            assert_eq!(err.lines().count(), 1, "{args:?} on {yaml:?}: one line, got {err:?}");
            assert!(out.stdout.is_empty(), "{args:?}: nothing on stdout");
            for w in *words {
                assert!(err.contains(w), "{args:?} on {yaml:?}: {err:?} should mention {w:?}");
            }
            said.push(err);
        }
        assert_eq!(said[0], said[1], "check and trace disagree on {yaml:?}");
    }
}

/// A bad flag value or a contradicting pair is clap's usage error of the
/// program: status 2, no panic, nothing on stdout, one `error:` line that names
/// the flag, no file written. Every bad value of every numeric flag is checked
/// where the flags are parsed, in `src/bin/tch-lr/main.rs`'s unit tests; these
/// cases are the program's side of it: a value of each subcommand, a pair.
#[test]
fn bad_flag_values_are_usage_errors_naming_the_flag() {
    let step = "configs/step_lr.yaml";
    let dir = tempfile::tempdir().unwrap();
    let png = dir.path().join("never-written.png");
    let cases: [(&[&str], &str); 5] = [
        (&["trace", step, "--steps", "-1"], "--steps"),
        (&["plot", step, "--steps", "abc", "-o", png.to_str().unwrap()], "--steps"),
        (&["check", step, "--epochs", "3", "--steps-per-epoch", "1.5"], "--steps-per-epoch"),
        (&["trace", step, "--steps", "3", "--checkpoint-at", "nan"], "--checkpoint-at"),
        (&["trace", step, "--steps", "3", "--checkpoint-at", "3"], "--checkpoint-at"),
    ];
    for (args, flag) in cases {
        let out = tch_lr(args);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: clap's usage error: {err}");
        assert!(out.stdout.is_empty(), "{args:?}: nothing on stdout");
        let errors: Vec<&str> = err.lines().filter(|l| l.starts_with("error:")).collect();
        assert_eq!(errors.len(), 1, "{args:?}: {err}");
        assert!(errors[0].contains(flag), "{args:?}: {:?} should name {flag}", errors[0]);
    }
    assert!(!png.exists());
}

/// `tch-lr ARGS` fails in one line on stderr (status 1); returns that line.
fn check_fails(args: &[&str]) -> String {
    let out = tch_lr(args);
    let err = String::from_utf8_lossy(&out.stderr).to_string();
    assert_eq!(out.status.code(), Some(1), "{args:?} should fail: {err}");
    assert_eq!(err.lines().count(), 1, "{args:?}: one line: {err}");
    assert!(out.stdout.is_empty(), "{args:?}: nothing on stdout");
    err
}

/// `tch-lr ARGS` succeeds with one line on stdout; returns it.
fn check_passes(args: &[&str]) -> String {
    let out = tch_lr(args);
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(out.status.success(), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(text.lines().count(), 1, "{args:?}: {text}");
    text
}

/// `check` steps the schedule over its horizon (`--steps`, else the
/// config's own length, else 1,000 steps) and fails, in one line naming the
/// step (and the group), where a value would not be finite or PyTorch would
/// raise; `trace` agrees on the step.
#[test]
fn check_runs_the_schedule_over_its_horizon_and_names_the_failing_step() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    // 0.1 * 1e300 * 1000^3 overflows at step 3, in group 1 only.
    let lambda = write(
        d,
        "lambda.yaml",
        b"optimizer: {name: sgd, lr: [0.1, 0.1]}\nscheduler: {name: LambdaLR, lr_lambda: ['1.0', '1e300 * 1000 ** epoch']}\n",
    );
    let err = check_fails(&["check", &lambda]);
    assert!(err.contains("lambda.yaml") && err.contains("fails at step 3 ") && err.contains("lr of group 1"), "{err}");
    assert!(err.contains("inf"), "{err}");
    assert!(check_passes(&["check", &lambda, "--steps", "2"]).contains("2 steps run without error (--steps)"));
    // trace: rows 0 to 2 (2 steps) print; the third step fails.
    assert!(tch_lr(&["trace", &lambda, "--steps", "3"]).status.success());
    assert_eq!(tch_lr(&["trace", &lambda, "--steps", "4"]).status.code(), Some(1));

    // OneCycleLR: its length is total_steps (epochs * steps_per_epoch = 100); one more raises.
    let one_cycle = "configs/one_cycle_lr.yaml";
    assert!(check_passes(&["check", one_cycle]).contains("100 steps run without error (its length)"));
    check_passes(&["check", one_cycle, "--steps", "100"]);
    let err = check_fails(&["check", one_cycle, "--steps", "101"]);
    assert!(err.contains("fails at step 101") && err.contains("Tried to step 101 times"), "{err}");
    // Within a SequentialLR: the last milestone plus the OneCycleLR's length.
    let seq = write(
        d,
        "seq.yaml",
        b"scheduler:\n  name: SequentialLR\n  milestones: [5]\n  schedulers:\n    - {name: ConstantLR, factor: 0.5, total_iters: 5}\n    - {name: OneCycleLR, max_lr: 0.1, total_steps: 20}\n",
    );
    assert!(check_passes(&["check", &seq]).contains("25 steps"));
    assert!(check_fails(&["check", &seq, "--steps", "26"]).contains("fails at step 26"));

    // No length of its own: 1,000 steps. Python's `10.0 ** 309` overflows.
    let pow = write(d, "pow.yaml", b"scheduler: {name: LambdaLR, lr_lambda: '10.0 ** epoch'}\n");
    let err = check_fails(&["check", &pow]);
    assert!(err.contains("fails at step 309 of 1000"), "{err}");
    assert!(check_passes(&["check", &pow, "--steps", "308"]).contains("308 steps"));

    // ReduceLROnPlateau: constructed only, unless --metrics gives its metric.
    let plateau = "configs/reduce_lr_on_plateau.yaml";
    assert!(check_passes(&["check", plateau]).contains("constructed only"));
    let m = write(d, "m.txt", b"1\n0.5\n0.5\n");
    assert!(check_passes(&["check", plateau, "--metrics", &m]).contains("3 steps run without error"));
    assert!(check_fails(&["check", plateau, "--metrics", &m, "--steps", "4"]).contains("--metrics"));
    let nan = write(d, "nan.txt", b"1\nnan\n");
    assert!(check_fails(&["check", plateau, "--metrics", &nan]).contains("fails at step 2"));
}

/// Every config in `configs/` passes `check`, its schedule run over its horizon.
#[test]
fn every_config_in_configs_passes_check() {
    let mut names: Vec<String> = std::fs::read_dir(root().join("configs"))
        .unwrap()
        .map(|e| format!("configs/{}", e.unwrap().file_name().to_string_lossy()))
        .collect();
    names.sort();
    // All of them in one `check`, one line each, in order.
    let args: Vec<&str> = std::iter::once("check").chain(names.iter().map(String::as_str)).collect();
    let out = tch_lr(&args);
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), names.len(), "{text}");
    for (name, line) in names.iter().zip(&lines) {
        assert!(line.starts_with(&format!("{name}: valid: ")), "{name}: {line}");
        assert!(line.contains("run without error") || line.contains("constructed only"), "{name}: {line}");
    }
    // One that fails among them: its `error:` line names it, the others pass, status 1.
    let dir = tempfile::tempdir().unwrap();
    let bad = write(dir.path(), "bad.yaml", b"scheduler: {name: StepLR, step_size: two}\n");
    let out = tch_lr(&["check", &names[0], &bad, &names[1]]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert_eq!(String::from_utf8_lossy(&out.stdout).lines().count(), 2);
    let errors: Vec<&str> = err.lines().filter(|l| l.starts_with("error:")).collect();
    assert_eq!(errors.len(), 2, "{err}");
    assert!(errors[0].contains(&bad) && errors[1].contains("1 of 3 configs fail"), "{err}");
    assert!(err.lines().all(|l| l.chars().count() <= 300), "{err}");
}

/// `check CONFIG --epochs N --steps-per-epoch M`: the run plan's check
/// (`tch_lr::plan::check`, as the training example runs it before training)
/// refuses in one line what the run cannot follow, notes what it allows but
/// may not be meant, and steps the schedule over the plan's scheduler steps;
/// without the two flags it is skipped, and one without the other is a usage
/// error.
#[test]
fn check_with_a_run_plan_refuses_a_clock_or_a_length_the_run_cannot_follow() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let plan = ["--epochs", "3", "--steps-per-epoch", "4"];
    // transformers' schedules step once per optimizer update.
    let hf = write(
        d,
        "hf.yaml",
        b"optimizer: {name: adamw, lr: 0.01}\n\
          scheduler: {name: transformers.linear, num_warmup_steps: 2, num_training_steps: 12}\ninterval: epoch\n",
    );
    let err = check_fails(&[&["check", hf.as_str()][..], &plan].concat());
    assert!(err.starts_with("error: ") && err.contains("hf.yaml: "), "{err}");
    assert!(
        err.contains("transformers.linear steps once per optimizer update") && err.contains("set `interval: step`")
    );
    assert!(!check_passes(&["check", &hf]).contains("plan"), "no plan, no plan check");

    // timm's clock is `t_in_epochs`'s; ReduceLROnPlateau steps per epoch.
    for (yaml, want) in [
        ("scheduler: {name: timm.CosineLRScheduler, t_initial: 8, t_in_epochs: false}\ninterval: epoch\n", "set `interval: step`"),
        ("scheduler: {name: timm.StepLRScheduler, decay_t: 2}\ninterval: step\n", "set `interval: epoch`"),
        ("scheduler: {name: ReduceLROnPlateau}\ninterval: step\n", "set `interval: epoch`"),
        // Within a composite too.
        (
            "scheduler: {name: SequentialLR, milestones: [2], schedulers: [{name: ConstantLR}, {name: transformers.constant}]}\n",
            "transformers.constant steps once per optimizer update",
        ),
    ] {
        let path = write(d, "clock.yaml", yaml.as_bytes());
        let err = check_fails(&[&["check", path.as_str()][..], &plan].concat());
        assert!(err.contains(want), "{yaml}: {err}");
    }

    // OneCycleLR's cycle must cover the run's scheduler steps: 3 epochs of 4 updates are 12.
    let short =
        write(d, "short.yaml", b"scheduler: {name: OneCycleLR, max_lr: 0.1, total_steps: 10}\ninterval: step\n");
    let err = check_fails(&[&["check", short.as_str()][..], &plan].concat());
    assert!(
        err.contains("total_steps is 10") && err.contains("12 times") && err.contains("set total_steps to 12"),
        "{err}"
    );
    // Per epoch, the same cycle is 3 scheduler steps: long enough.
    let per_epoch = write(d, "per_epoch.yaml", b"scheduler: {name: OneCycleLR, max_lr: 0.1, total_steps: 10}\n");
    let out = tch_lr(&[&["check", per_epoch.as_str()][..], &plan].concat());
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("note: OneCycleLR's total_steps is 10; this run takes only 3")
    );

    // A plan that fits passes, its schedule run over the plan's scheduler steps.
    let text = check_passes(&["check", &short, "--epochs", "2", "--steps-per-epoch", "5"]);
    assert!(text.contains("10 steps run without error (the plan's scheduler steps)"), "{text}");
    assert!(text.contains("plan checked: 2 epochs of 5 updates, 10 scheduler steps"), "{text}");
    let text = check_passes(&[&["check", "configs/warmup_cosine.yaml"][..], &plan].concat());
    assert!(text.contains("plan checked"), "{text}");
    // A transformers cosine past its num_training_steps passes, with a note that its LR rises again.
    let cos = write(
        d,
        "cos.yaml",
        b"scheduler: {name: transformers.cosine, num_warmup_steps: 2, num_training_steps: 6}\ninterval: step\n",
    );
    let out = tch_lr(&["check", &cos, "--epochs", "2", "--steps-per-epoch", "4"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert!(
        err.starts_with("note: transformers.cosine's num_training_steps is 6") && err.contains("rises again"),
        "{err}"
    );

    // The two flags go together.
    for args in [
        ["check", "configs/step_lr.yaml", "--epochs", "3"],
        ["check", "configs/step_lr.yaml", "--steps-per-epoch", "4"],
    ] {
        let out = tch_lr(&args);
        assert_eq!(out.status.code(), Some(2), "{args:?}: clap's usage error");
        let missing = if args[2] == "--epochs" { "--steps-per-epoch" } else { "--epochs" };
        assert!(String::from_utf8_lossy(&out.stderr).contains(missing), "{args:?}");
    }
}

/// `trace --resume-from` and `--save-pytorch` (issue 16), from outside: a ReduceLROnPlateau and a
/// SequentialLR run saved by PyTorch (tests/fixtures/interop_state/) continue with PyTorch's rows,
/// numbered from k (CSV) and in JSON, and tch-lr's saved file continues in PyTorch
/// (scripts/reference/trace_torch.py --resume-from); a file of another class is one line.
#[test]
fn trace_resumes_from_and_saves_pytorch_files() {
    let dir = root().join("tests/fixtures/interop_state");
    let all: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("cases.json")).unwrap()).unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let mut python_done = false;
    for name in ["ReduceLROnPlateau.0", "SequentialLR.1", "OneCycleLR.0"] {
        let c = all["cases"].as_array().unwrap().iter().find(|c| c["name"] == name).unwrap();
        let config = d.join(format!("{name}.yaml"));
        std::fs::write(&config, c["config"].to_string()).unwrap();
        let config = config.to_str().unwrap().to_string();
        let steps = c["steps"].to_string();
        let mut extra = vec![];
        if let Some(m) = c["metrics"].as_array() {
            let path = d.join(format!("{name}.metrics"));
            std::fs::write(&path, m.iter().map(|v| format!("{v}\n")).collect::<String>()).unwrap();
            extra = vec!["--metrics".to_string(), path.to_str().unwrap().to_string()];
        }
        let want_lr = c["rows"]["lr"].as_array().unwrap();
        let want_rows = |k: usize, got: &serde_json::Value, what: &str| {
            let got = got.as_array().unwrap();
            assert_eq!(got.len(), want_lr.len() - k, "{what}");
            for (i, (g, w)) in got.iter().zip(&want_lr[k..]).enumerate() {
                for (a, b) in g.as_array().unwrap().iter().zip(w.as_array().unwrap()) {
                    let (a, b) = (a.as_f64().unwrap(), b.as_f64().unwrap());
                    assert!(close(a, b), "{what}: row {}: {a} != {b}", k + i);
                }
            }
        };
        for (k, f) in c["files"].as_object().unwrap() {
            let k: usize = k.parse().unwrap();
            let file = dir.join(f["file"].as_str().unwrap());
            let file = file.to_str().unwrap();
            let base = [
                &["trace", &config, "--steps", &steps, "--resume-from", file][..],
                &extra.iter().map(String::as_str).collect::<Vec<_>>(),
            ]
            .concat();
            // CSV: rows k..N-1, numbered from k.
            let out = tch_lr(&base);
            assert!(out.status.success(), "{name}: {}", String::from_utf8_lossy(&out.stderr));
            let text = String::from_utf8(out.stdout).unwrap();
            let lines: Vec<&str> = text.lines().skip(1).collect();
            assert_eq!(lines.len(), want_lr.len() - k, "{name} at {k}: {text}");
            for (i, line) in lines.iter().enumerate() {
                let cells: Vec<&str> = line.split(',').collect();
                assert_eq!(cells[0], (k + i).to_string(), "{name} at {k}: {text}");
                for (cell, w) in cells[1..].iter().zip(want_lr[k + i].as_array().unwrap()) {
                    assert!(close(cell.parse().unwrap(), w.as_f64().unwrap()), "{name} at {k}: {line}");
                }
            }
            // JSON.
            let out = tch_lr(&[&base[..], &["--format", "json"]].concat());
            assert!(out.status.success(), "{name}: {}", String::from_utf8_lossy(&out.stderr));
            let got: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
            want_rows(k, &got["lr"], &format!("{name} resumed at {k} (json)"));
            // --save-pytorch after row k, then PyTorch goes on (once: PyTorch starts slowly; the
            // library's side of every fixture is in tests/interop/state.rs).
            if std::mem::replace(&mut python_done, true) {
                continue;
            }
            let saved = d.join(format!("{name}.{k}.pt"));
            let saved = saved.to_str().unwrap();
            let rows = (k + 1).to_string();
            let save = [
                &["trace", &config, "--steps", &rows, "--save-pytorch", saved][..],
                &extra.iter().map(String::as_str).collect::<Vec<_>>(),
            ]
            .concat();
            let out = tch_lr(&save);
            assert!(out.status.success(), "{name}: {}", String::from_utf8_lossy(&out.stderr));
            let py = common::command(root().join(".venv/bin/python"))
                .arg(root().join("scripts/reference/trace_torch.py"))
                .args([&config, "--steps", &steps, "--resume-from", saved])
                .args(&extra)
                .output()
                .expect("the project's .venv (scripts/setup.sh)");
            assert!(py.status.success(), "{name}: {}", String::from_utf8_lossy(&py.stderr));
            let got: serde_json::Value = serde_json::from_slice(&py.stdout).unwrap();
            want_rows(k, &got["lr"], &format!("{name} saved by tch-lr at {k}, continued by PyTorch"));
        }
    }
    // Another class's state, a resume past --steps: one line, status 1.
    let step = dir.join("StepLR.0.2.pt");
    let other = write(
        d,
        "exp.yaml",
        b"optimizer: {name: sgd, lr: [0.162], momentum: 0.9}\nscheduler: {name: ExponentialLR, gamma: 0.9}\n",
    );
    let same = write(
        d,
        "step.yaml",
        b"optimizer: {name: sgd, lr: [0.162], momentum: 0.9}\nscheduler: {name: StepLR, step_size: 3, gamma: 0.168}\n",
    );
    for (args, says) in [
        (
            vec!["trace", other.as_str(), "--steps", "10", "--resume-from", step.to_str().unwrap()],
            "not a ExponentialLR state",
        ),
        (vec!["trace", same.as_str(), "--steps", "2", "--resume-from", step.to_str().unwrap()], "none after it"),
    ] {
        let out = tch_lr(&args);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {err}");
        assert!(err.contains(says) && err.trim_end().lines().count() == 1, "{args:?}: {err}");
    }
}

/// `trace --resume-from checkpoint-K/` on Hugging Face Trainer checkpoint folders
/// (tests/fixtures/hf_trainer/, scripts/fixtures/gen_hf_trainer.py: transformers 5.24's
/// Trainer, eight lr_scheduler_types with warmup and kwargs): from step K on, each row's LR is
/// the one the uninterrupted Trainer run logged for the next step (transformers 5 logs the LR a
/// step ran with). A config that is not the run's, a folder without trainer_state.json, and
/// one parameter group where the Trainer has two are each one line.
#[test]
fn trace_resumes_from_a_hugging_face_trainer_checkpoint_folder() {
    #[derive(Deserialize)]
    struct HfCase {
        config: serde_json::Value,
        checkpoint: String,
        steps: usize,
        logged_lr: Vec<(usize, f64)>,
    }
    let base = root().join("tests/fixtures/hf_trainer");
    let dir = tempfile::tempdir().unwrap();
    let mut names: Vec<_> = std::fs::read_dir(&base).unwrap().map(|e| e.unwrap().path()).collect();
    names.sort();
    assert_eq!(names.len(), 8);
    let mut last = None;
    for case_dir in &names {
        let case: HfCase = serde_json::from_str(&std::fs::read_to_string(case_dir.join("case.json")).unwrap()).unwrap();
        // JSON is YAML.
        let config = write(dir.path(), "c.yaml", case.config.to_string().as_bytes());
        let folder = case_dir.join(&case.checkpoint);
        let steps = case.steps.to_string();
        let out = tch_lr(&["trace", &config, "--steps", &steps, "--resume-from", folder.to_str().unwrap()]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{}: {stderr}", case_dir.display());
        assert!(stderr.contains("a Hugging Face Trainer checkpoint at step"), "{stderr}");
        let stdout = String::from_utf8_lossy(&out.stdout);
        let rows: Vec<Vec<f64>> =
            stdout.lines().skip(1).map(|l| l.split(',').map(|v| v.parse().unwrap()).collect()).collect();
        let k: usize = case.checkpoint.trim_start_matches("checkpoint-").parse().unwrap();
        assert_eq!(rows.first().map(|r| r[0] as usize), Some(k), "{}", case_dir.display());
        assert_eq!(rows.len(), case.steps - k);
        let logged: std::collections::HashMap<usize, f64> = case.logged_lr.iter().copied().collect();
        let mut compared = 0;
        for r in &rows {
            if let Some(&want) = logged.get(&(r[0] as usize + 1)) {
                assert!(
                    (r[1] - want).abs() <= 1e-12 * want.abs(),
                    "{}: row {}: {} vs logged {want}",
                    case_dir.display(),
                    r[0],
                    r[1]
                );
                compared += 1;
            }
        }
        assert_eq!(compared, case.steps - k - 1, "{}", case_dir.display());
        last = Some((case, folder));
    }

    // Another warmup than the run's: refused, naming the step and both rates.
    let (case, folder) = last.unwrap();
    let folder = folder.to_str().unwrap();
    let mut wrong = case.config.clone();
    wrong["scheduler"]["num_warmup_steps"] = serde_json::json!(1);
    let config = write(dir.path(), "wrong.yaml", wrong.to_string().as_bytes());
    let text = one_line_error(&tch_lr(&["trace", &config, "--steps", "31", "--resume-from", folder]));
    assert!(text.contains("does not describe this run") && text.contains("step 2 ran with learning_rate"), "{text}");

    // One group where the Trainer has two.
    let mut one = case.config.clone();
    one["optimizer"] = serde_json::json!({"name": "adamw", "lr": case.config["optimizer"]["lr"]});
    let config = write(dir.path(), "one.yaml", one.to_string().as_bytes());
    let text = one_line_error(&tch_lr(&["trace", &config, "--steps", "31", "--resume-from", folder]));
    assert!(text.contains("group"), "{text}");

    // A folder without trainer_state.json.
    let partial = dir.path().join("checkpoint-5");
    std::fs::create_dir(&partial).unwrap();
    for f in ["scheduler.pt", "optimizer.pt"] {
        std::fs::copy(Path::new(folder).join(f), partial.join(f)).unwrap();
    }
    let config = write(dir.path(), "c.yaml", case.config.to_string().as_bytes());
    let text =
        one_line_error(&tch_lr(&["trace", &config, "--steps", "31", "--resume-from", partial.to_str().unwrap()]));
    assert!(text.contains("no trainer_state.json"), "{text}");
}

/// A Hugging Face Trainer run as the config (issue 26): `tch-lr trace checkpoint-K/ --steps N`
/// reads the run's `training_args.bin` and `trainer_state.json` (tests/fixtures/recipes_hf/,
/// scripts/fixtures/gen_recipes_hf.py: real transformers 5.24 runs with warmup as a ratio,
/// epochs, gradient accumulation, kwargs, SGD, Seq2SeqTrainingArguments) and prints from step K
/// on exactly the learning rates the run logged; `training_args.bin` alone is traced from step
/// 0; what tch-lr cannot honour is one line naming it.
#[test]
fn trace_reads_a_hugging_face_trainer_run_as_its_config() {
    #[derive(Deserialize)]
    struct Run {
        checkpoint: String,
        max_steps: usize,
        warmup: usize,
        fields: serde_json::Value,
        logged_lr: Vec<(usize, f64)>,
    }
    let rows_of = |out: &Output| -> Vec<Vec<f64>> {
        let stdout = String::from_utf8_lossy(&out.stdout);
        stdout.lines().skip(1).map(|l| l.split(',').map(|v| v.parse().unwrap()).collect()).collect()
    };
    let base = root().join("tests/fixtures/recipes_hf");
    let mut names: Vec<_> = std::fs::read_dir(base.join("runs")).unwrap().map(|e| e.unwrap().path()).collect();
    names.sort();
    assert_eq!(names.len(), 6);
    for run_dir in &names {
        let run: Run = serde_json::from_str(&std::fs::read_to_string(run_dir.join("case.json")).unwrap()).unwrap();
        let logged: std::collections::HashMap<usize, f64> = run.logged_lr.iter().copied().collect();
        let steps = run.max_steps.to_string();
        let kind = run.fields["lr_scheduler_type"].as_str().unwrap();
        let found = format!("note: transformers.{kind}, {} warmup steps of {}, lr ", run.warmup, run.max_steps);
        // The checkpoint, resumed; then the arguments alone from step 0 where max_steps is theirs.
        let k: usize = run.checkpoint.trim_start_matches("checkpoint-").parse().unwrap();
        let alone = run.fields["max_steps"].as_i64().unwrap() > 0;
        let paths = [(run_dir.join(&run.checkpoint), k), (run_dir.join("training_args.bin"), 0)];
        for (path, first) in paths.iter().take(if alone { 2 } else { 1 }) {
            let out = tch_lr(&["trace", path.to_str().unwrap(), "--steps", &steps]);
            let stderr = String::from_utf8_lossy(&out.stderr);
            assert!(out.status.success(), "{}: {stderr}", path.display());
            assert!(stderr.contains(&found) && stderr.contains("from training_args.bin"), "{found} / {stderr}");
            let rows = rows_of(&out);
            assert_eq!(rows.first().map(|r| r[0] as usize), Some(*first), "{}", path.display());
            assert_eq!(rows.len(), run.max_steps - first);
            for r in &rows {
                let want = logged[&(r[0] as usize + 1)];
                assert!(
                    (r[1] - want).abs() <= 1e-12 * want.abs(),
                    "{}: row {}: {} vs {want}",
                    path.display(),
                    r[0],
                    r[1]
                );
                assert_eq!(r[1], r[2], "the Trainer's two groups share the LR");
            }
        }
        if !alone {
            let text = one_line_error(&tch_lr(&[
                "trace",
                run_dir.join("training_args.bin").to_str().unwrap(),
                "--steps",
                "3",
            ]));
            assert!(text.contains("max_steps is not set") && text.contains("checkpoint-K/"), "{text}");
        }
    }
    // The issue's line, word for word.
    let out = tch_lr(&["trace", "tests/fixtures/recipes_hf/runs/ratio/checkpoint-10", "--steps", "12"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("note: transformers.cosine, 4 warmup steps of 35, lr 0.003, from training_args.bin\n"),
        "{stderr}"
    );

    // Refusals, one line each, naming what.
    let dir = tempfile::tempdir().unwrap();
    for (name, says) in [
        ("plateau", "lr_scheduler_type reduce_lr_on_plateau steps on the run's evaluation metric"),
        ("adafactor", "optim adafactor is not one tch-lr steps (adamw_torch, adamw_torch_fused, sgd)"),
        ("bad_kwarg", "unknown key `num_cycle` for transformers.cosine"),
        ("epochs_only", "max_steps is not set"),
    ] {
        let folder = dir.path().join(name);
        std::fs::create_dir(&folder).unwrap();
        std::fs::copy(base.join(format!("args/{name}.bin")), folder.join("training_args.bin")).unwrap();
        for path in [folder.clone(), folder.join("training_args.bin")] {
            let text = one_line_error(&tch_lr(&["trace", path.to_str().unwrap(), "--steps", "3"]));
            assert!(text.contains(says) && text.contains("training_args.bin") && text.len() <= 300 + 7, "{text}");
        }
    }
    // A checkpoint folder without training_args.bin.
    let text = one_line_error(&tch_lr(&["trace", "tests/fixtures/hf_trainer/linear/checkpoint-10", "--steps", "3"]));
    assert!(text.contains("no training_args.bin") && text.contains("--resume-from"), "{text}");
}

/// The one `error:` line of a failed run.
pub(crate) fn one_line_error(out: &Output) -> String {
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    let errors: Vec<&str> = stderr.lines().filter(|l| !l.starts_with("note:")).collect();
    assert_eq!(errors.len(), 1, "{stderr}");
    assert!(errors[0].starts_with("error: "), "{stderr}");
    errors[0].to_string()
}

/// DeepSpeed: `trace` reads its JSON config (`configs/ds_config.json`, whose rows
/// `every_config_traces_like_pytorch` holds to PyTorch's)
/// and continues from its checkpoints (tests/fixtures/interop_state/ds_checkpoint.*,
/// scripts/fixtures/gen_interop_state.py): a tag folder and a save folder with
/// `latest`, the file holding the optimizer or not (ZeRO), each row the
/// uninterrupted run's; the folder alone is the config too (its `ds_config`,
/// issue 26), with the same rows. An `"auto"` value and a ZeRO checkpoint of a schedule
/// that needs the optimizer's values are one line each.
#[test]
fn trace_reads_deepspeed_configs_and_checkpoints() {
    let out = tch_lr(&["trace", "configs/ds_config.json", "--steps", "4", "--format", "json"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let t: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    // WarmupDecayLR's linear warmup: the first two rows at warmup_min_lr, then 0.001 * 1/38.
    let lr: Vec<f64> = t["lr"].as_array().unwrap().iter().map(|r| r[0].as_f64().unwrap()).collect();
    let want = [0.0, 0.0, 0.001 / 38.0, 0.001 * 2.0 / 38.0];
    assert!(lr.iter().zip(want).all(|(a, b)| close(*a, b)) && lr.len() == 4, "{lr:?}");

    let dir = tempfile::tempdir().unwrap();
    let text = std::fs::read_to_string(root().join("configs/ds_config.json")).unwrap();
    let auto = write(
        dir.path(),
        "auto.json",
        text.replace("\"total_num_steps\": 384", "\"total_num_steps\": \"auto\"").as_bytes(),
    );
    let e = one_line_error(&tch_lr(&["trace", &auto, "--steps", "3"]));
    assert!(e.contains("scheduler.params.total_num_steps: \"auto\"") && e.contains("(--max_steps"), "{e}");
    assert!(e.contains("(line 14, column 7)"), "{e}");

    let base = root().join("tests/fixtures/interop_state");
    let all: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(base.join("cases.json")).unwrap()).unwrap();
    let mut seen = 0;
    for case in
        all["cases"].as_array().unwrap().iter().filter(|c| c["name"].as_str().unwrap().starts_with("ds_checkpoint."))
    {
        let name = case["name"].as_str().unwrap();
        let config = write(dir.path(), &format!("{name}.json"), case["config"].to_string().as_bytes());
        let steps = case["steps"].to_string();
        for (k, f) in case["files"].as_object().unwrap() {
            let folder = base.join(f["file"].as_str().unwrap());
            let folder = folder.to_str().unwrap();
            // The JSON config resumed from the folder, and the folder alone as the config (its
            // ds_config, issue 26): the same rows.
            for args in [
                vec!["trace", &config, "--steps", &steps, "--resume-from", folder, "--format", "json"],
                vec!["trace", folder, "--steps", &steps, "--format", "json"],
            ] {
                let out = tch_lr(&args);
                let stderr = String::from_utf8_lossy(&out.stderr);
                assert!(out.status.success(), "{name} at {k}: {stderr}");
                assert!(
                    stderr.contains(&format!("a DeepSpeed 0.19.8 checkpoint at global step {k} (0 skipped")),
                    "{stderr}"
                );
                let found = format!("from the ds_config of a DeepSpeed 0.19.8 checkpoint at global step {k}");
                assert_eq!(stderr.contains(&found), args[1] == folder, "{stderr}");
                assert_eq!(stderr.contains("ZeRO"), name.ends_with("zero2"), "{stderr}");
                let t: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
                let k: usize = k.parse().unwrap();
                for what in ["lr", "momentum"] {
                    let want = &case["rows"][what].as_array().unwrap()[k..];
                    assert_eq!(t[what].as_array().unwrap(), want, "{name} resumed at {k}: {what} ({})", args[1]);
                }
            }
            seen += 1;
        }
    }
    assert_eq!(seen, 10, "five checkpoint layouts, two cuts each");

    // ZeRO (no optimizer in the file) under a schedule that continues from the optimizer's values.
    let zero = base.join("ds_checkpoint.zero2");
    let cosine = write(
        dir.path(),
        "cosine.json",
        br#"{"optimizer": {"type": "AdamW", "params": {"lr": 0.002}}, "scheduler": {"type": "CosineAnnealingLR", "params": {"T_max": 10}}}"#,
    );
    let e = one_line_error(&tch_lr(&["trace", &cosine, "--steps", "12", "--resume-from", zero.to_str().unwrap()]));
    assert!(e.contains("param_groups"), "{e}");
}

/// `tch-lr trace CONFIG --resume-from` a Megatron-LM checkpoint (issue 25):
/// the file, the `iter_` folder and the save folder print the rows
/// megatron-core's class gives after loading it, weight decay columns
/// included; a class off the pickle allowlist is refused in one line.
#[test]
fn trace_resumes_from_a_megatron_lm_checkpoint() {
    let base = root().join("tests/fixtures/megatron");
    let meta: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(base.join("checkpoints.json")).unwrap()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let c = &meta["checkpoints"][0];
    let config = write(dir.path(), "m.yaml", c["config"].to_string().as_bytes());
    let file = base.join(c["file"].as_str().unwrap());
    let iter_dir = file.parent().unwrap().parent().unwrap().to_path_buf();
    let iteration = c["iteration"].as_u64().unwrap() as usize;
    let want: &Vec<serde_json::Value> = c["rows"]["lr"].as_array().unwrap();
    let steps = (iteration + want.len()).to_string();
    for path in [&file, &iter_dir, &base.join(c["name"].as_str().unwrap())] {
        let out = tch_lr(&["trace", &config, "--steps", &steps, "--resume-from", path.to_str().unwrap()]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{}: {stderr}", path.display());
        assert!(stderr.contains(&format!("a Megatron-LM checkpoint at iteration {iteration}")), "{stderr}");
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(stdout.starts_with("step,lr_0,lr_1,momentum_0,momentum_1,weight_decay_0,weight_decay_1\n"), "{stdout}");
        let lr = parse_csv(&stdout, "lr_");
        let wd = parse_csv(&stdout, "weight_decay_");
        assert_eq!(lr.len(), want.len());
        for (row, w) in want.iter().enumerate() {
            let w: Vec<f64> = w.as_array().unwrap().iter().map(|v| v.as_f64().unwrap()).collect();
            assert_eq!(lr[row], w, "{}: row {row}", path.display());
            let w = &c["rows"]["weight_decay"][row];
            let w: Vec<f64> = w.as_array().unwrap().iter().map(|v| v.as_f64().unwrap()).collect();
            assert_eq!(wd[row], w, "{}: row {row}", path.display());
        }
    }
    let bad = base.join(meta["not_allowlisted"]["file"].as_str().unwrap());
    let text = one_line_error(&tch_lr(&["trace", &config, "--steps", &steps, "--resume-from", bad.to_str().unwrap()]));
    assert!(text.contains("global types.SimpleNamespace is not on the allowlist"), "{text}");
}

/// A Megatron-LM checkpoint is the config (issue 26): `tch-lr trace <checkpoint>`
/// builds the schedule Megatron-LM's `get_optimizer_param_scheduler` builds from
/// the file's `args` (iteration and sample mode, warmup as a fraction, WSD) and
/// continues at its step, each row megatron-core's after loading the file
/// (tests/fixtures/megatron, scripts/fixtures/gen_megatron.py); args tch-lr
/// cannot honour are one line naming the argument.
#[test]
fn a_megatron_lm_checkpoint_is_the_config() {
    let base = root().join("tests/fixtures/megatron");
    let meta: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(base.join("checkpoints.json")).unwrap()).unwrap();
    for c in meta["checkpoints"].as_array().unwrap() {
        let name = c["name"].as_str().unwrap();
        let iteration = c["iteration"].as_u64().unwrap() as usize;
        let rows = c["rows"]["lr"].as_array().unwrap().len();
        let steps = (iteration + rows).to_string();
        let out = tch_lr(&["trace", base.join(name).to_str().unwrap(), "--steps", &steps, "--format", "json"]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{name}: {stderr}");
        let found = format!("from the args of a Megatron-LM checkpoint at iteration {iteration}");
        assert!(stderr.contains("note: megatron.OptimizerParamScheduler, ") && stderr.contains(&found), "{stderr}");
        let t: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        for what in ["lr", "weight_decay"] {
            assert_eq!(t[what], c["rows"][what], "{name}: {what}");
        }
    }
    // A folder that is no checkpoint: one line.
    let e = one_line_error(&tch_lr(&["trace", base.to_str().unwrap(), "--steps", "3"]));
    assert!(e.contains("a folder that is no run tch-lr reads"), "{e}");
    for r in meta["refused"].as_array().unwrap() {
        let file = base.join(r["file"].as_str().unwrap());
        let e = one_line_error(&tch_lr(&["trace", file.to_str().unwrap(), "--steps", "50"]));
        assert!(e.contains(&format!("`{}`", r["names"].as_str().unwrap())), "{}: {e}", r["name"]);
    }
}
