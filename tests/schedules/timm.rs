//! timm's schedules beyond the parity replay (`tests/schedules/parity.rs` replays the
//! `timm.*.json` fixtures like every other): the pure-Rust generator against
//! `torch.Generator` bit for bit, the registry's keyword arguments against
//! timm's signatures, every fixture case again with a save and load half-way,
//! and the explicit `t`.

use crate::common;

use common::*;
use serde_json::Value;
use tch_lr::config::Config;
use tch_lr::internals::TorchGenerator;
use tch_lr::schedulers::REGISTRY;
use tch_lr::timm::CosineLRScheduler;
use tch_lr::{Optim, Schedule, Scheduler};

/// The names of the timm fixture files: the registry's `timm.*` entries.
fn timm_names() -> Vec<&'static str> {
    REGISTRY.iter().map(|s| s.name).filter(|n| n.starts_with("timm.")).collect()
}

fn json(path: &str) -> Value {
    let path = root().join(path);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// A seed as `torch.Generator.manual_seed` takes it: negative ones as their
/// two's complement.
fn seed(v: &Value) -> u64 {
    v.as_u64().or_else(|| v.as_i64().map(|s| s as u64)).expect("a 64-bit seed")
}

fn bits32(v: &Value) -> Vec<u32> {
    v.as_array().unwrap().iter().map(|b| b.as_u64().unwrap() as u32).collect()
}

#[test]
fn the_generator_matches_torch_bit_for_bit() {
    let rng = json("tests/fixtures/timm_rng.json");
    assert_eq!(rng["torch_version"], "2.13.0");
    let mut n = 0;
    for key in ["randn", "randn_long"] {
        for entry in rng[key].as_array().unwrap() {
            let mut g = TorchGenerator::new(seed(&entry[0]));
            for (i, want) in bits32(&entry[1]).into_iter().enumerate() {
                let got = g.randn1();
                assert_eq!((got as f32).to_bits(), want, "{key}: seed {}: draw {i}: {got}", entry[0]);
                assert_eq!(got, f64::from(got as f32), "randn is a float32");
                n += 1;
            }
        }
    }
    for entry in rng["rand"].as_array().unwrap() {
        let mut g = TorchGenerator::new(seed(&entry[0]));
        for (i, want) in bits32(&entry[1]).into_iter().enumerate() {
            let got = g.rand1();
            assert_eq!((got as f32).to_bits(), want, "rand: seed {}: draw {i}: {got}", entry[0]);
            n += 1;
        }
    }
    // timm's `_calculate_noise`, through a schedule whose LR is 1.0 from t = 1
    // on, so that the LR at t is `1 + noise` exactly.
    let mut noise = 0;
    for e in rng["noise"].as_array().unwrap() {
        let (s, t, std, pct) =
            (e[0].as_i64().unwrap(), e[1].as_i64().unwrap(), e[2].as_f64().unwrap(), e[3].as_f64().unwrap());
        let want = f64::from_bits(e[4].as_u64().unwrap());
        let vs = tiny_vs(1);
        let opt = Optim::new(tch::nn::Sgd::default(), &vs, 1.0).unwrap();
        let sched =
            tch_lr::timm::StepLRScheduler::new(1e18).noise_range_t(0).noise_seed(s).noise_std(std).noise_pct(pct);
        let mut sched = sched.build(opt).unwrap();
        sched.step_to(t as f64).unwrap();
        assert_eq!(sched.last_lr()[0].to_bits(), (1.0 + want).to_bits(), "noise: seed {s} t {t} std {std} pct {pct}");
        noise += 1;
    }
    println!("{n} generator draws and {noise} timm noise values agree bit for bit");
    assert!(n > 15_000 && noise > 3_000, "{n} draws, {noise} noise values");
}

#[test]
fn keyword_arguments_and_defaults_are_timms() {
    for name in timm_names() {
        let file = json(&format!("tests/fixtures/parity/{name}.json"));
        assert_eq!(file["timm_version"], "1.0.31");
        let info = tch_lr::schedulers::registry::info(name).unwrap();
        let ours: Vec<Value> = (info.kwargs)()
            .iter()
            .map(|k| {
                serde_json::json!({
                    "name": k.name,
                    "required": k.required,
                    "default": k.default.clone().unwrap_or(Value::Null),
                })
            })
            .collect();
        let theirs = file["signature"].as_array().unwrap();
        assert_eq!(&ours, theirs, "{name}: keyword arguments (in order) and defaults differ from timm's signature");
    }
}

/// One row: each group's LR, last LR and momentum.
type Row = (Vec<f64>, Vec<f64>, Vec<f64>);

fn row(s: &Scheduler<Box<dyn Schedule>>) -> Row {
    (s.groups().lrs(), s.last_lr().to_vec(), s.groups().momenta())
}

fn take_step(s: &mut Scheduler<Box<dyn Schedule>>, case: &Case, k: usize) -> tch_lr::Result<()> {
    match &case.epochs {
        Some(ts) => s.step_to(ts[k]),
        None => s.step(),
    }
}

/// Runs a case, saving the state after `stop` steps and going on in a fresh
/// scheduler that loads it (`stop = None`: no save). The rows, and the row
/// and error of a failure.
fn replay(case: &Case, stop: Option<usize>) -> (Vec<Row>, Option<(usize, tch_lr::Error)>) {
    let yaml = serde_yaml::to_value(&case.config).unwrap();
    let config = Config::from_value(yaml).unwrap_or_else(|e| panic!("{}: {e}", case.name));
    let groups = config.optimizer.as_ref().unwrap().lrs().unwrap().len();
    let vs = tiny_vs(groups);
    let mut s = match config.build(config.build_optim(&vs, tch_lr::optim::Backend::Tch).unwrap()) {
        Ok(s) => s,
        Err(e) => return (vec![], Some((0, e))),
    };
    let mut rows = vec![row(&s)];
    for k in 0..case.steps {
        if stop == Some(k) {
            let text = serde_yaml::to_string(&s.state().unwrap()).unwrap();
            let mut fresh =
                config.build(config.build_optim(&tiny_vs(groups), tch_lr::optim::Backend::Tch).unwrap()).unwrap();
            fresh.load_state(serde_yaml::from_str(&text).unwrap()).unwrap();
            assert_eq!(row(&fresh), rows[k], "{}: the state after load", case.name);
            s = fresh;
        }
        if let Err(e) = take_step(&mut s, case, k) {
            return (rows, Some((k + 1, e)));
        }
        rows.push(row(&s));
    }
    (rows, None)
}

#[test]
fn every_case_matches_timm_bit_for_bit_also_after_a_save_and_load_half_way() {
    let (mut cases, mut values) = (0, 0usize);
    for name in timm_names() {
        let path = root().join(format!("tests/fixtures/parity/{name}.json"));
        // serde_yaml reads JSON too, and rounds every float correctly (serde_json
        // may miss by one ulp): timm's values to the bit.
        let precise: serde_yaml::Value = serde_yaml::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        for (i, case) in load_cases(&path).into_iter().enumerate() {
            cases += 1;
            let (rows, error) = replay(&case, None);
            let (resumed, resumed_error) = replay(&case, Some(case.steps / 2));
            let bits = |rows: &[Row]| -> Vec<u64> {
                rows.iter().flat_map(|(a, b, c)| a.iter().chain(b).chain(c)).map(|v| v.to_bits()).collect()
            };
            assert_eq!(bits(&rows), bits(&resumed), "{}: resumed half-way", case.name);
            let err = |e: &Option<(usize, tch_lr::Error)>| e.as_ref().map(|(r, e)| (*r, py_type(e), e.to_string()));
            assert_eq!(err(&error), err(&resumed_error), "{}: resumed half-way", case.name);
            assert_eq!(rows.len(), case.expected.lr.len(), "{}: rows (error {:?})", case.name, err(&error));
            let expected = &precise["cases"][i]["expected"];
            for (k, (lr, last, momentum)) in rows.iter().enumerate() {
                let want = [&case.expected.lr[k], &case.expected.last_lr[k], &case.expected.momentum[k]];
                for ((got, want), key) in [lr, last, momentum].into_iter().zip(want).zip(["lr", "last_lr", "momentum"])
                {
                    assert_row(key, &case.name, k, got, want);
                    for (g, a) in got.iter().enumerate() {
                        // timm's value to the bit, not only to 1e-9.
                        let b = expected[key][k][g].as_f64().unwrap();
                        assert_eq!(a.to_bits(), b.to_bits(), "{}: row {k}: {key}[{g}] = {a:?}, timm {b:?}", case.name);
                        values += 1;
                    }
                }
            }
            match (&error, &case.expected.error) {
                (None, None) => {}
                (Some((row, e)), Some(py)) => {
                    assert_eq!((*row, py_type(e)), (py.row, py.kind.as_str()), "{}: {e}", case.name);
                    if py.kind == "ValueError" {
                        assert_eq!(e.to_string(), py.message, "{}", case.name);
                    }
                    assert!(!e.to_string().contains('\n'), "{}: a multi-line error", case.name);
                }
                (got, want) => panic!("{}: error {:?}, timm {want:?}", case.name, err(got)),
            }
        }
    }
    println!("{cases} timm cases: all {values} values bit-identical to timm's, also after a save and load half-way");
    assert!(cases >= 6 * 20, "{cases} cases");
}

#[test]
fn step_to_takes_an_integer_t_and_step_goes_on_from_it() {
    let vs = tiny_vs(1);
    let opt = Optim::new(tch::nn::Sgd::default(), &vs, 0.1).unwrap();
    let mut s = CosineLRScheduler::new(10).build(opt).unwrap();
    assert!(s.schedule().is_t_in_epochs());
    s.step_to(7.0).unwrap();
    assert_eq!(s.last_epoch(), 7);
    s.step().unwrap();
    assert_eq!(s.last_epoch(), 8);
    let at_8 = s.last_lr()[0];
    s.step_to(2.0).unwrap();
    s.step_to(8.0).unwrap();
    assert_eq!(s.last_lr()[0], at_8, "stateless in t");
    for bad in [-1.0, 0.5, f64::NAN, f64::INFINITY, 1e300] {
        let e = s.step_to(bad).unwrap_err();
        assert!(matches!(e, tch_lr::Error::Value(_)), "{bad}: {e:?}");
    }
    assert_eq!(s.last_epoch(), 8, "a refused t changes nothing");
}

#[test]
fn yaml_names_timms_strings_and_ranges() {
    let ok = [
        "{name: timm.WSDLRScheduler, t_initial: 10, decay_t: 4, decay_fn: 1-sqrt, stable_fn: rsqrt, warmup_t: 2}",
        "{name: timm.CosineLRScheduler, t_initial: 10, noise_range_t: [2, 8]}",
        "{name: timm.CosineLRScheduler, t_initial: 10, noise_range_t: 3.5, t_in_epochs: false}",
    ];
    for s in ok {
        Config::from_yaml(&format!("scheduler: {s}")).unwrap().validate().unwrap_or_else(|e| panic!("{s}: {e}"));
    }
    let bad = [
        ("{name: timm.WSDLRScheduler, t_initial: 10, decay_t: 4, decay_fn: sqrt}", "1-sqrt"),
        ("{name: timm.WSDLRScheduler, t_initial: 10, decay_t: 4, stable_fn: rsqrtt}", "rsqrt"),
        ("{name: timm.CosineLRScheduler, t_initial: 10, noise_range_t: [1, 2, 3]}", "noise_range_t"),
        ("{name: timm.CosineLRScheduler, t_initial: 10, noise_range_t: [1, .nan]}", "finite"),
        ("{name: timm.CosineLRScheduler, t_initial: 10, initialize: false}", "initialize"),
    ];
    for (s, says) in bad {
        let e = Config::from_yaml(&format!("scheduler: {s}")).unwrap_err().to_string();
        assert!(e.contains(says) && !e.contains('\n'), "{s}: {e}");
    }
}

#[test]
fn noise_that_timm_would_draw_forever_is_an_error() {
    for (pct, std) in [(0.0, 1.0), (-0.5, 1.0), (0.5, f64::INFINITY), (1e-12, 1.0)] {
        let vs = tiny_vs(1);
        let opt = Optim::new(tch::nn::Sgd::default(), &vs, 0.1).unwrap();
        let mut s = CosineLRScheduler::new(10).noise_range_t(1).noise_pct(pct).noise_std(std).build(opt).unwrap();
        let e = s.step().unwrap_err();
        assert!(matches!(e, tch_lr::Error::Value(_)), "pct {pct} std {std}: {e:?}");
    }
}
