//! Parity with PyTorch 2.13: replays every case of `tests/fixtures/parity/*.json`
//! (written by `scripts/fixtures/gen_pytorch.py`, which drives `torch.optim.lr_scheduler`)
//! through a real tch optimizer and compares, row by row, each group's LR,
//! `get_last_lr()` and momentum (beta1 for Adam/AdamW) to 1e-9 relative, and the
//! row, type and message of every error PyTorch raises; where a fixture has
//! them (DeepSpeed's), each group's beta2 (`betas[1]`) and the reference's
//! warnings ([`Schedule::notes`]); each group's weight decay where the fixture
//! has it (a schedule that drives it, Megatron's).

use crate::common;

use common::*;
use tch_lr::config::Config;
use tch_lr::optim::Backend;
use tch_lr::{Schedule, Scheduler};

/// What one case produced: rows until the first error, and that error.
struct Run {
    lr: Vec<Vec<f64>>,
    last_lr: Vec<Vec<f64>>,
    momentum: Vec<Vec<f64>>,
    beta2: Vec<Vec<Option<f64>>>,
    notes: Vec<String>,
    weight_decay: Vec<Vec<f64>>,
    error: Option<(usize, tch_lr::Error)>,
}

/// Each group's `betas[1]`: the one a schedule set, else the optimizer's
/// (`None` without betas).
fn beta2_row(config: &Config, s: &Scheduler<Box<dyn Schedule>>) -> Vec<Option<f64>> {
    let o = config.optimizer.as_ref().expect("optimizer section");
    let own = o.name.uses_beta1().then(|| o.betas.map_or(0.999, |b| b[1]));
    s.groups().iter().map(|g| g.beta2.or(own)).collect()
}

fn run_case(case: &Case) -> Run {
    let yaml = serde_yaml::to_value(&case.config).expect("config as YAML");
    let config = Config::from_value(yaml).unwrap_or_else(|e| panic!("{}: config: {e}", case.name));
    let groups = config.optimizer.as_ref().expect("optimizer section").lrs().expect("lrs").len();
    let vs = tiny_vs(groups);
    // DeepSpeed's fixtures (those with beta2) on the owned optimizer, which
    // takes per-group betas: DeepSpeed's OneCycle gives Adam groups their own.
    let backend = if case.expected.beta2.is_some() { Backend::Owned } else { Backend::Tch };
    let optim = config.build_optim(&vs, backend).unwrap_or_else(|e| panic!("{}: optimizer: {e}", case.name));
    let mut run = Run {
        lr: vec![],
        last_lr: vec![],
        momentum: vec![],
        beta2: vec![],
        notes: vec![],
        weight_decay: vec![],
        error: None,
    };
    let mut sched = match config.build(optim) {
        Ok(s) => s,
        Err(e) => {
            run.error = Some((0, e));
            return run;
        }
    };
    let record = |run: &mut Run, s: &Scheduler<Box<dyn Schedule>>| {
        run.lr.push(s.groups().lrs());
        run.last_lr.push(s.last_lr().to_vec());
        run.momentum.push(s.groups().momenta());
        run.beta2.push(beta2_row(&config, s));
        run.weight_decay.push(s.groups().weight_decays());
    };
    run.notes = sched.schedule().notes();
    record(&mut run, &sched);
    for k in 0..case.steps {
        let result = if let Some(epochs) = &case.epochs {
            sched.step_to(epochs[k])
        } else {
            sched.step_with(case.metrics.as_ref().map(|m| m[k].get()))
        };
        if let Err(e) = result {
            run.error = Some((k + 1, e));
            return run;
        }
        record(&mut run, &sched);
    }
    run
}

fn check_case(case: &Case) {
    let run = run_case(case);
    let want = &case.expected;
    assert_eq!(
        run.lr.len(),
        want.lr.len(),
        "{}: {} rows, PyTorch {} (error: {:?}, PyTorch: {:?})",
        case.name,
        run.lr.len(),
        want.lr.len(),
        run.error.as_ref().map(|(r, e)| format!("row {r}: {e}")),
        want.error
    );
    for row in 0..run.lr.len() {
        assert_row("lr", &case.name, row, &run.lr[row], &want.lr[row]);
        assert_row("last_lr", &case.name, row, &run.last_lr[row], &want.last_lr[row]);
        assert_row("momentum", &case.name, row, &run.momentum[row], &want.momentum[row]);
        if let Some(wd) = &want.weight_decay {
            assert_row("weight_decay", &case.name, row, &run.weight_decay[row], &wd[row]);
        }
        if let Some(beta2) = &want.beta2 {
            let want: Vec<Option<f64>> = beta2[row].iter().map(|b| b.map(Num::get)).collect();
            assert_eq!(run.beta2[row], want, "{}: row {row}: beta2", case.name);
            // DeepSpeed's fixtures hold its float order to the bit (`inv * ln(i + 1)`,
            // `min + delta * gamma`, `(1 + cos(..)) / 2`): every value exactly.
            for (what, got, want) in [
                ("lr", &run.lr[row], &case.expected.lr[row]),
                ("last_lr", &run.last_lr[row], &case.expected.last_lr[row]),
                ("momentum", &run.momentum[row], &case.expected.momentum[row]),
            ] {
                let bits = |v: f64| v.to_bits();
                let want: Vec<u64> = want.iter().map(|n| bits(n.get())).collect();
                assert_eq!(
                    got.iter().copied().map(bits).collect::<Vec<_>>(),
                    want,
                    "{}: row {row}: {what} bits",
                    case.name
                );
            }
        }
    }
    if let Some(notes) = &want.notes {
        // Each of the reference's warnings is a note, in its words.
        assert_eq!(run.notes.len(), notes.len(), "{}: notes {:?}, the reference's {notes:?}", case.name, run.notes);
        for (ours, theirs) in run.notes.iter().zip(notes) {
            assert!(ours.starts_with(theirs.as_str()), "{}: note {ours:?}, the reference's {theirs:?}", case.name);
        }
    }
    match (&run.error, &want.error) {
        (None, None) => {}
        (Some((row, e)), Some(py)) => {
            assert_eq!(*row, py.row, "{}: error at row {row}, PyTorch at {}", case.name, py.row);
            assert_eq!(py_type(e), py.kind, "{}: error {e:?}, PyTorch {} {}", case.name, py.kind, py.message);
            if py.kind == "ValueError" {
                assert_eq!(e.to_string(), py.message, "{}", case.name);
            }
        }
        (got, want) => {
            panic!("{}: error {:?}, PyTorch {:?}", case.name, got.as_ref().map(|(r, e)| format!("row {r}: {e}")), want)
        }
    }
}

/// Every case of `tests/fixtures/parity/<name>.json`.
fn check_schedule(name: &str) {
    let cases = load_cases(&root().join(format!("tests/fixtures/parity/{name}.json")));
    let n = check_cases(name, cases.iter().map(|case| (case.name.clone(), || check_case(case))));
    println!("{name}: {n} PyTorch cases agree");
}

/// Every registered schedule (`TCH_LR_SCHEDULES=StepLR` runs one).
#[test]
fn every_registered_schedule() {
    common::for_each_schedule("parity", check_schedule);
}

/// The fixture files that are not one schedule's (`seed.json`, the blog
/// post's examples, and `warmup.json`, the `warmup:` block).
#[test]
fn other_fixture_cases_match_pytorch() {
    let files = parity_files();
    assert!(files.len() >= 16, "expected 15 scheduler fixtures and seed.json, found {}", files.len());
    let mut total = 0;
    for file in &files {
        let stem = file.file_stem().unwrap().to_string_lossy();
        if tch_lr::schedulers::registry::info(&stem).is_none() {
            let cases = load_cases(file);
            total += check_cases(&stem, cases.iter().map(|case| (case.name.clone(), || check_case(case))));
        }
    }
    println!("{total} PyTorch cases of no one schedule agree");
}
