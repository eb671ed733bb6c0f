//! Bad input never reaches libtorch or the optimizer.
//!
//! - The `optimizer:` section and `Optim::new` say what PyTorch's optimizer
//!   constructors say (`tests/fixtures/optimizer_checks.json`, written by
//!   `scripts/fixtures/gen_optimizer.py` from PyTorch 2.13), and reject NaN and
//!   infinity besides.
//! - Every float argument of every registered schedule rejects NaN and
//!   infinity, naming the key.
//! - A step that computes a non-finite value returns an error and libtorch
//!   keeps the last good values (read back from a real SGD update).
//! - libtorch's errors are one line.

use crate::common;

use common::*;
use serde::Deserialize;
use tch::nn;
use tch_lr::config::Config;
use tch_lr::schedulers::REGISTRY;
use tch_lr::{Error, ExponentialLR, Optim};

#[derive(Deserialize)]
struct Fixture {
    torch_version: String,
    cases: Vec<OptimizerCase>,
}

#[derive(Deserialize)]
struct OptimizerCase {
    config: serde_json::Value,
    accepted: bool,
    #[serde(rename = "type")]
    kind: Option<String>,
    message: Option<String>,
}

fn optimizer_cases() -> Vec<OptimizerCase> {
    let text = std::fs::read_to_string(root().join("tests/fixtures/optimizer_checks.json")).unwrap();
    let f: Fixture = serde_json::from_str(&text).unwrap();
    assert_eq!(f.torch_version, "2.13.0");
    f.cases
}

/// The YAML spelling of a fixture value ("nan" and "inf" are strings there).
fn yaml(v: &serde_json::Value) -> String {
    match v {
        serde_json::Value::String(s) if s == "nan" => ".nan".into(),
        serde_json::Value::String(s) if s == "inf" => ".inf".into(),
        serde_json::Value::String(s) if s == "-inf" => "-.inf".into(),
        serde_json::Value::Array(a) => format!("[{}]", a.iter().map(yaml).collect::<Vec<_>>().join(", ")),
        other => other.to_string(),
    }
}

fn non_finite(v: &serde_json::Value) -> bool {
    match v {
        serde_json::Value::String(_) => true,
        serde_json::Value::Array(a) => a.iter().any(non_finite),
        _ => false,
    }
}

/// The keys of a case other than `name`.
fn keys(case: &OptimizerCase) -> Vec<(String, serde_json::Value)> {
    case.config.as_object().unwrap().iter().filter(|(k, _)| *k != "name").map(|(k, v)| (k.clone(), v.clone())).collect()
}

/// A negative LR of a later group: PyTorch checks the default LR only; tch-lr every group's.
fn later_group_negative(case: &OptimizerCase) -> Option<f64> {
    let lrs = case.config["lr"].as_array()?;
    lrs.iter().skip(1).filter_map(|v| v.as_f64()).find(|&v| v < 0.0)
}

#[test]
fn the_optimizer_section_says_what_pytorchs_constructors_say() {
    let mut failures = vec![];
    for case in optimizer_cases() {
        let section = keys(&case).iter().map(|(k, v)| format!("{k}: {}", yaml(v))).collect::<Vec<_>>().join(", ");
        let yaml_text = format!(
            "optimizer: {{name: {}, {section}}}\nscheduler: {{name: StepLR, step_size: 2}}\n",
            case.config["name"].as_str().unwrap()
        );
        let got = Config::from_yaml(&yaml_text).and_then(|c| c.validate().map(|_| c));
        let bad_value = keys(&case).iter().find(|(_, v)| non_finite(v)).map(|(k, _)| k.clone());
        match (&got, case.accepted, &bad_value) {
            (Ok(_), true, None) if later_group_negative(&case).is_none() => {}
            (Err(e), false, _) if e.to_string().contains(case.message.as_deref().unwrap()) => {}
            // NaN or infinity, which PyTorch does not always reject: the key and "finite".
            (Err(e), _, Some(key)) if e.to_string().contains(key.as_str()) && e.to_string().contains("finite") => {}
            (Err(e), true, None) if later_group_negative(&case).is_some() => {
                assert!(e.to_string().contains("Invalid learning rate: -0.2"), "{e}");
            }
            _ => failures.push(format!(
                "{yaml_text:?}: tch-lr {:?}, PyTorch {} {:?}",
                got.as_ref().err().map(ToString::to_string),
                if case.accepted { "accepts" } else { "raises" },
                case.message
            )),
        }
        // The error names the key, with its line.
        if let (Err(e), false) = (&got, case.accepted) {
            let msg = e.to_string();
            assert!(msg.contains("optimizer.") && msg.contains("line 1"), "{msg}");
            assert_eq!(case.kind.as_deref(), Some("ValueError"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

fn float(v: &serde_json::Value) -> f64 {
    match v {
        serde_json::Value::String(s) => s.parse().unwrap(),
        v => v.as_f64().unwrap(),
    }
}

#[test]
fn optim_new_says_what_pytorchs_constructors_say() {
    let vs = tiny_vs(1);
    let mut seen = 0;
    for case in optimizer_cases() {
        if case.config["lr"].is_array() || case.config.get("nesterov").is_some() {
            continue; // one group here; nesterov is covered through the config
        }
        let get = |k: &str| case.config.get(k).map(float);
        let lr = float(&case.config["lr"]);
        let betas = case.config.get("betas").map(|b| [float(&b[0]), float(&b[1])]);
        let result = match case.config["name"].as_str().unwrap() {
            "sgd" => Optim::new(
                nn::Sgd {
                    momentum: get("momentum").unwrap_or(0.0),
                    dampening: get("dampening").unwrap_or(0.0),
                    wd: get("weight_decay").unwrap_or(0.0),
                    nesterov: false,
                },
                &vs,
                lr,
            ),
            "adam" | "adamw" => {
                let [beta1, beta2] = betas.unwrap_or([0.9, 0.999]);
                let (wd, eps) = (get("weight_decay").unwrap_or(0.0), get("eps").unwrap_or(1e-8));
                if case.config["name"] == "adam" {
                    Optim::new(nn::Adam { beta1, beta2, wd, eps, amsgrad: false }, &vs, lr)
                } else {
                    Optim::new(nn::AdamW { beta1, beta2, wd, eps, amsgrad: false }, &vs, lr)
                }
            }
            _ => Optim::new(
                nn::RmsProp {
                    alpha: get("alpha").unwrap_or(0.99),
                    eps: get("eps").unwrap_or(1e-8),
                    wd: get("weight_decay").unwrap_or(0.0),
                    momentum: get("momentum").unwrap_or(0.0),
                    centered: false,
                },
                &vs,
                lr,
            ),
        };
        let any_non_finite = keys(&case).iter().any(|(_, v)| non_finite(v));
        match (result, case.accepted) {
            (Ok(_), true) => assert!(!any_non_finite, "{}: NaN/inf accepted", case.config),
            (Err(Error::Value(m)), false) => assert_eq!(Some(m.as_str()), case.message.as_deref(), "{}", case.config),
            (Err(Error::Value(m)), true) => {
                assert!(any_non_finite && m.contains("finite"), "{}: {m}", case.config)
            }
            (r, _) => panic!("{}: {:?}, PyTorch {:?}", case.config, r.err(), case.message),
        }
        seen += 1;
    }
    assert!(seen > 80, "{seen}");
}

#[test]
fn every_float_argument_of_every_schedule_must_be_finite() {
    let mut checked = 0;
    for s in REGISTRY {
        for kw in (s.kwargs)() {
            if !matches!(kw.ty, "float" | "float | list[float]") {
                continue;
            }
            for bad in [".nan", ".inf", "-.inf"] {
                let mut args: serde_yaml::Mapping = serde_yaml::from_str(s.example).unwrap();
                args.insert(kw.name.into(), serde_yaml::from_str(bad).unwrap());
                let args_yaml = serde_yaml::to_string(&args).unwrap();
                let text = format!("scheduler:\n{}", args_yaml.lines().map(|l| format!("  {l}\n")).collect::<String>());
                let e = Config::from_yaml(&text).expect_err(&text).to_string();
                assert!(
                    e.contains(&format!("scheduler.{}", kw.name)) && e.contains("finite") && e.contains("line "),
                    "{}: {bad}: {e}",
                    s.name
                );
                checked += 1;
            }
        }
    }
    assert!(checked >= 3 * 20, "{checked}");
}

#[test]
fn a_non_finite_step_is_not_written_and_the_optimizer_keeps_its_last_values() {
    // Python's float multiplication overflows to inf without raising: PyTorch
    // would write lr = inf at step 1.
    let config = Config::from_yaml(
        "optimizer: {name: sgd, lr: [0.1, 0.02]}\nscheduler: {name: LambdaLR, lr_lambda: '1e300 * 1e10 ** epoch'}",
    )
    .unwrap();
    let (vs, ws) = probe_vs(2);
    let mut sched = config.build(config.build_optim(&vs, tch_lr::optim::Backend::Tch).unwrap()).unwrap();
    let before = sched.groups().lrs();
    let e = sched.step().unwrap_err();
    assert!(matches!(e, Error::NonFinite { what: "lr", group: 0, .. }), "{e:?}");
    assert!(e.to_string().contains("not written"), "{e}");
    assert_eq!(sched.groups().lrs(), before, "the groups go back to what libtorch has");
    let moved = probe_step(sched.optimizer_mut(), &ws);
    assert_eq!(moved, before.iter().map(|l| -l).collect::<Vec<_>>(), "libtorch still applies the last good LRs");

    // The same through the typed API.
    let vs = tiny_vs(1);
    let mut s = ExponentialLR::new(f64::INFINITY).build(Optim::new(nn::Sgd::default(), &vs, 0.1).unwrap()).unwrap();
    assert!(matches!(s.step(), Err(Error::NonFinite { .. })));
    assert_eq!(s.groups().lrs(), [0.1]);
    // A NaN argument that PyTorch's constructor lets through fails at the
    // first step whose value it spoils, before that value is written.
    let vs = tiny_vs(1);
    let opt = Optim::new(nn::Sgd::default(), &vs, 0.1).unwrap();
    let mut s = tch_lr::LinearLR::new().end_factor(f64::NAN).build(opt).unwrap();
    assert!(matches!(s.step(), Err(Error::NonFinite { what: "lr", .. })));
    assert_eq!(s.groups().lrs(), [0.1 / 3.0]);
}

#[test]
fn libtorch_errors_are_one_line() {
    let t = tch::Tensor::zeros([2], (tch::Kind::Float, tch::Device::Cpu));
    let e: Error = t.f_view([3]).unwrap_err().into();
    let raw = match &e {
        Error::Tch(t) => t.to_string(),
        other => panic!("{other:?}"),
    };
    assert!(raw.lines().count() > 1, "the test needs a multi-line libtorch error: {raw}");
    let shown = e.to_string();
    assert_eq!(shown.lines().count(), 1, "{shown}");
    assert!(!shown.contains("Exception raised from") && shown.contains("shape"), "{shown}");
}
