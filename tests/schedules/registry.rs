//! The registry is the one list of schedules: everything that must exist per
//! schedule exists for each registered one, and nothing exists for a schedule
//! that is not registered.
//!
//! Per schedule: its PyTorch fixture file (`tests/fixtures/parity/<name>.json`,
//! written by `scripts/fixtures/gen_pytorch.py`), a config in `configs/` that names it,
//! a case in each benchmark list of `benches/schedulers.rs` and in
//! `scripts/bench/pytorch.py`, a plot `docs/<name>.png` shown in the README,
//! and a registry example that parses, builds and steps.

use crate::common;

use std::collections::BTreeSet;

use common::*;
use tch_lr::config::{Config, SchedulerConfig};
use tch_lr::schedulers::REGISTRY;

fn registered() -> BTreeSet<String> {
    REGISTRY.iter().map(|s| s.name.to_string()).collect()
}

#[test]
fn names_are_unique_and_a_misspelt_one_gets_its_name_in_the_error() {
    assert_eq!(registered().len(), REGISTRY.len(), "a name is registered twice");
    for s in REGISTRY {
        // The name with its case changed and its last letter dropped.
        let typo: String = s.name.chars().rev().skip(1).collect::<Vec<_>>().into_iter().rev().collect();
        let typo = typo.to_lowercase();
        let e = Config::from_yaml(&format!("scheduler: {{name: {typo}}}")).unwrap_err().to_string();
        assert!(e.contains(&format!("`{}`", s.name)) && e.contains("`tch-lr list`"), "{typo}: {e}");
        assert!(e.chars().count() <= 300, "{e}");
    }
    let e = Config::from_yaml("scheduler: {name: NoSuchThing}").unwrap_err().to_string();
    assert!(e.contains(&format!("not one of tch-lr's {}", REGISTRY.len())), "{e}");
}

#[test]
fn every_registered_schedule_has_a_fixture_file_and_every_fixture_a_schedule() {
    let files: BTreeSet<String> = parity_files()
        .iter()
        .map(|p| p.file_stem().unwrap().to_string_lossy().to_string())
        // Not schedules: the blog post's examples, and the `warmup:` block.
        .filter(|n| n != "seed" && n != "warmup")
        .collect();
    assert_eq!(files, registered(), "tests/fixtures/parity/*.json (run scripts/fixtures/gen.py pytorch)");
    for s in REGISTRY {
        let cases = load_cases(&root().join(format!("tests/fixtures/parity/{}.json", s.name)));
        assert!(cases.len() >= 5, "{}: only {} fixture cases", s.name, cases.len());
    }
}

fn names_in(s: &SchedulerConfig, out: &mut BTreeSet<String>) {
    out.insert(s.name().to_string());
    s.children().iter().for_each(|c| names_in(c, out));
}

#[test]
fn every_registered_schedule_has_a_config_in_configs() {
    let mut named = BTreeSet::new();
    for entry in std::fs::read_dir(root().join("configs")).unwrap() {
        let path = entry.unwrap().path();
        names_in(&Config::from_path(&path).unwrap_or_else(|e| panic!("{e}")).scheduler, &mut named);
    }
    let missing: Vec<_> = registered().difference(&named).cloned().collect();
    assert!(missing.is_empty(), "no config in configs/ names {missing:?}");
}

#[test]
fn every_registered_schedule_has_bench_cases() {
    let rust = std::fs::read_to_string(root().join("benches/schedulers.rs")).unwrap();
    let python = std::fs::read_to_string(root().join("scripts/bench/pytorch.py")).unwrap();
    for s in REGISTRY {
        // step_cases() and index_cases() (the bench also asserts it at start).
        let n = rust.matches(&format!("(\"{}\", ", s.name)).count();
        assert_eq!(n, 2, "benches/schedulers.rs: {} has {n} of its 2 cases (step, index)", s.name);
        assert!(python.contains(&format!("\"{}\": lambda", s.name)), "scripts/bench/pytorch.py has no {}", s.name);
    }
}

#[test]
fn every_registered_schedule_has_a_plot_in_the_readme() {
    let readme = std::fs::read_to_string(root().join("README.md")).unwrap();
    for s in REGISTRY {
        let png = format!("docs/{}.png", s.name);
        assert!(root().join(&png).is_file(), "{png} is missing (scripts/docs/plots.sh)");
        assert!(readme.contains(&png), "the README does not show {png}");
    }
}

#[test]
fn every_example_parses_builds_and_steps() {
    for s in REGISTRY {
        let config = Config::from_yaml(&format!("optimizer: {{name: sgd, lr: [0.1, 0.02]}}\nscheduler: {}", s.example))
            .unwrap_or_else(|e| panic!("{}: example: {e}", s.name));
        assert_eq!(config.scheduler.name(), s.name);
        assert_eq!(config.scheduler.takes_metric(), s.takes_metric, "{}", s.name);
        let vs = tiny_vs(2);
        let mut sched = config.build(config.build_optim(&vs, tch_lr::optim::Backend::Tch).unwrap()).unwrap();
        for _ in 0..12 {
            sched.step_with(s.takes_metric.then_some(1.0)).unwrap_or_else(|e| panic!("{}: {e}", s.name));
        }
    }
}

#[test]
fn kwargs_list_the_defaults_the_builders_use() {
    // The JSON `tch-lr list` prints: every kwarg has a type, and a default
    // exactly when it is optional.
    for s in REGISTRY {
        let d = s.describe();
        for k in d["kwargs"].as_array().unwrap() {
            assert!(k["type"].is_string(), "{}: {k}", s.name);
            assert_eq!(k["required"].as_bool().unwrap(), k.get("default").is_none(), "{}: {k}", s.name);
        }
    }
    let step = tch_lr::schedulers::registry::info("StepLR").unwrap().describe();
    assert_eq!(step["kwargs"][1]["name"], "gamma");
    assert_eq!(step["kwargs"][1]["default"], tch_lr::config::StepLRConfig::gamma);
}
