//! `tch_lr::swa_utils` against PyTorch's `torch.optim.swa_utils` (2.13, CPU):
//! averaged_model.json (scripts/fixtures/gen_swa.py) holds six weight
//! snapshots of `Sequential(Linear(4, 8), BatchNorm1d(8), ReLU(), Linear(8,
//! 3))`, every variable of `AveragedModel` after each `update_parameters` for
//! SWA's mean and EMA 0.9 / 0.999 with and without `use_buffers`, and the
//! BatchNorm statistics `update_bn` computes; and ema_state_dict.pt, a PyTorch
//! `AveragedModel.state_dict()`. Plus the one-line errors and the checkpoints.
//!
//! The comparisons are bit for bit, which holds on one CPU: PyTorch's kernels
//! give other last bits on other CPUs (update_bn's statistics differ between
//! an Intel AVX-512 and an AMD AVX2 machine), so the tests run the generator
//! (`--out`, once per run) and compare with what PyTorch computes on this
//! machine, through the libtorch the tests link. The committed
//! tests/fixtures/swa/, written on another machine, is held to the generator
//! by `gen.py --check` within a tolerance.

use crate::common;

use std::collections::BTreeMap;
use std::sync::OnceLock;

use serde::Deserialize;
use tch::nn::{self, ModuleT, VarStore};
use tch::{Device, Kind, Tensor};
use tch_lr::interop::{torch_file, Value};
use tch_lr::swa_utils::{self, Average, AveragedModel};
use tch_lr::Error;

type State = BTreeMap<String, Vec<f64>>;

#[derive(Deserialize)]
struct Fixture {
    torch_version: String,
    shapes: BTreeMap<String, Vec<i64>>,
    trainable: Vec<String>,
    snapshots: Vec<State>,
    cases: Vec<Case>,
    update_bn: UpdateBn,
}

#[derive(Deserialize)]
struct Case {
    name: String,
    decay: Option<f64>,
    use_buffers: bool,
    steps: Vec<Step>,
}

#[derive(Deserialize)]
struct Step {
    n_averaged: i64,
    state: State,
}

#[derive(Deserialize)]
struct Batch {
    shape: Vec<i64>,
    values: Vec<f64>,
}

#[derive(Deserialize)]
struct UpdateBn {
    model: String,
    before: State,
    batches: Vec<Batch>,
    running_mean: Vec<f64>,
    running_var: Vec<f64>,
    num_batches_tracked: i64,
}

/// averaged_model.json and ema_state_dict.pt as PyTorch writes them on this
/// machine, generated once.
fn reference() -> &'static [Vec<u8>] {
    static FILES: OnceLock<Vec<Vec<u8>>> = OnceLock::new();
    FILES.get_or_init(|| common::generate("swa", &["averaged_model.json", "ema_state_dict.pt"]))
}

fn fixture() -> Fixture {
    let f: Fixture = serde_json::from_slice(&reference()[0]).unwrap();
    assert_eq!(f.torch_version, "2.13.0");
    f
}

/// The fixture's model, under PyTorch's `Sequential` names.
fn net(p: &nn::Path, bn_momentum: f64) -> nn::SequentialT {
    let bn = nn::BatchNormConfig { momentum: bn_momentum, ..Default::default() };
    nn::seq_t()
        .add(nn::linear(p / "0", 4, 8, Default::default()))
        .add(nn::batch_norm1d(p / "1", 8, bn))
        .add_fn(|x| x.relu())
        .add(nn::linear(p / "3", 8, 3, Default::default()))
}

fn store() -> (VarStore, nn::SequentialT) {
    let vs = VarStore::new(Device::Cpu);
    let n = net(&vs.root(), 0.1);
    (vs, n)
}

fn tensor(values: &[f64], shape: &[i64]) -> Tensor {
    let v: Vec<f32> = values.iter().map(|&x| x as f32).collect();
    Tensor::from_slice(&v).view(shape)
}

/// Writes `state` into the variables of `vs`.
fn set(vs: &VarStore, state: &State, shapes: &BTreeMap<String, Vec<i64>>) {
    let vars = vs.variables();
    assert_eq!(vars.len(), state.len());
    tch::no_grad(|| {
        for (name, values) in state {
            vars[name].shallow_clone().copy_(&tensor(values, &shapes[name]));
        }
    });
}

fn values(t: &Tensor) -> Vec<f64> {
    Vec::<f64>::try_from(&t.to_kind(Kind::Double).flatten(0, -1)).unwrap()
}

/// The largest relative difference from PyTorch's values (absolute where
/// PyTorch's value is 0), and the number of elements not bit-identical.
fn difference(got: &[f64], want: &[f64]) -> (f64, usize) {
    assert_eq!(got.len(), want.len());
    let mut max = 0f64;
    let mut differ = 0;
    for (&a, &b) in got.iter().zip(want) {
        // float32 values (JSON's decimal read back as f64 may be an ulp off).
        let (a, b) = (a as f32, b as f32);
        if a.to_bits() != b.to_bits() {
            differ += 1;
        }
        let (a, b) = (f64::from(a), f64::from(b));
        let d = if b == 0.0 { a.abs() } else { ((a - b) / b).abs() };
        max = max.max(d);
    }
    (max, differ)
}

fn state_difference(vs: &VarStore, want: &State) -> (f64, usize) {
    let vars = vs.variables();
    assert_eq!(vars.len(), want.len());
    want.iter().fold((0.0, 0), |(m, n), (name, w)| {
        let (dm, dn) = difference(&values(&vars[name]), w);
        (m.max(dm), n + dn)
    })
}

fn averaged(vs: VarStore, decay: Option<f64>, use_buffers: bool) -> AveragedModel {
    let avg = AveragedModel::new(vs).use_buffers(use_buffers);
    match decay {
        Some(d) => avg.ema(d).unwrap(),
        None => avg,
    }
}

/// Feeds the snapshots to an `AveragedModel` built as given and compares each
/// update with `want`'s steps: the largest relative difference and the number
/// of elements not bit-identical.
fn run_case(f: &Fixture, decay: Option<f64>, use_buffers: bool, want: &Case) -> (f64, usize) {
    let (model, _) = store();
    let (avg_vs, _) = store();
    let mut avg = averaged(avg_vs, decay, use_buffers);
    let (mut max, mut differ) = (0f64, 0);
    for (snapshot, step) in f.snapshots.iter().zip(&want.steps) {
        set(&model, snapshot, &f.shapes);
        avg.update_parameters(&model).unwrap();
        assert_eq!(avg.n_averaged(), step.n_averaged, "{}", want.name);
        let (m, d) = state_difference(avg.var_store(), &step.state);
        max = max.max(m);
        differ += d;
    }
    (max, differ)
}

/// AveragedModel(model), AveragedModel(model, use_buffers=True),
/// AveragedModel(model, multi_avg_fn=get_ema_multi_avg_fn(0.9 / 0.999),
/// use_buffers=...); `update_parameters(model)` after each snapshot.
#[test]
fn averaged_model_matches_pytorch_bit_for_bit() {
    let f = fixture();
    assert_eq!(f.cases.len(), 6);
    for case in &f.cases {
        let (max, differ) = run_case(&f, case.decay, case.use_buffers, case);
        eprintln!("{}: max relative difference {max:e}, {differ} elements not bit-identical", case.name);
        assert!(max <= 1e-6, "{}: {max:e}", case.name);
        assert_eq!(differ, 0, "{}: {differ} elements differ from PyTorch's", case.name);
    }
}

/// The comparison can fail: SWA's mean against EMA's values, EMA 0.95 against
/// EMA 0.9's, buffers copied against buffers averaged.
#[test]
fn a_wrong_average_is_caught() {
    let f = fixture();
    let case = |name: &str| f.cases.iter().find(|c| c.name == name).unwrap();
    for (decay, use_buffers, want) in [
        (None, false, "ema_0.9"),
        (Some(0.9), false, "swa"),
        (Some(0.95), false, "ema_0.9"),
        (Some(0.999), false, "ema_0.9"),
        (None, true, "swa"),
        (Some(0.9), false, "ema_0.9_buffers"),
    ] {
        let (max, _) = run_case(&f, decay, use_buffers, case(want));
        assert!(max > 1e-3, "{decay:?} use_buffers={use_buffers} gave {want}'s values ({max:e})");
    }
}

/// Without use_buffers the buffers are the model's; parameters are the
/// trainable variables.
#[test]
fn buffers_are_copied_without_use_buffers() {
    let f = fixture();
    let trainable: Vec<&str> = f.trainable.iter().map(String::as_str).collect();
    assert_eq!(trainable, ["0.weight", "0.bias", "1.weight", "1.bias", "3.weight", "3.bias"]);
    let swa = f.cases.iter().find(|c| c.name == "swa").unwrap();
    for (snapshot, step) in f.snapshots.iter().zip(&swa.steps) {
        for name in ["1.running_mean", "1.running_var"] {
            assert_eq!(snapshot[name], step.state[name]);
        }
    }
}

/// update_bn(loader, swa_model) on the SWA model after the six snapshots.
fn update_bn_difference(bn_momentum: f64, momentum: f64) -> ((f64, usize), (f64, usize)) {
    let f = fixture();
    let bn = &f.update_bn;
    assert_eq!(bn.model, "swa");
    assert_eq!(bn.num_batches_tracked, bn.batches.len() as i64);
    let vs = VarStore::new(Device::Cpu);
    let model = net(&vs.root(), bn_momentum);
    set(&vs, &bn.before, &f.shapes);
    let batches = bn.batches.iter().map(|b| tensor(&b.values, &b.shape));
    swa_utils::update_bn(&vs, momentum, batches, |x| model.forward_t(x, true)).unwrap();
    let vars = vs.variables();
    let mean = difference(&values(&vars["1.running_mean"]), &bn.running_mean);
    let var = difference(&values(&vars["1.running_var"]), &bn.running_var);
    // The other variables are untouched.
    for (name, want) in &bn.before {
        if !name.starts_with("1.running") {
            assert_eq!(difference(&values(&vars[name]), want).1, 0, "{name}");
        }
    }
    (mean, var)
}

/// torch.optim.swa_utils.update_bn(batches, swa_model), through tch's
/// BatchNorm at its default momentum 0.1.
#[test]
fn update_bn_matches_pytorch() {
    let (mean, var) = update_bn_difference(0.1, 0.1);
    // (largest relative difference, elements not bit-identical)
    eprintln!("update_bn, momentum 0.1: running_mean {mean:?}, running_var {var:?}");
    assert!(mean.0 <= 1e-6 && var.0 <= 1e-6, "{mean:?} {var:?}");
}

/// With BatchNorm's momentum 1.0 the batch statistics are read exactly.
#[test]
fn update_bn_with_momentum_one() {
    let (mean, var) = update_bn_difference(1.0, 1.0);
    eprintln!("update_bn, momentum 1.0: running_mean {mean:?}, running_var {var:?}");
    assert_eq!(mean.1, 0, "{mean:?}");
    assert!(var.0 <= 1e-6, "{var:?}");
}

/// A momentum other than the layers' gives other statistics: the test can fail.
#[test]
fn update_bn_with_the_wrong_momentum_is_caught() {
    let (mean, var) = update_bn_difference(0.1, 0.2);
    assert!(mean.0 > 0.1 && var.0 > 0.1, "{mean:?} {var:?}");
}

#[test]
fn update_bn_edge_cases() {
    // No batch: PyTorch's reset values.
    let (vs, _) = store();
    let _ = tch::no_grad(|| vs.variables()["1.running_mean"].shallow_clone().fill_(3.0));
    swa_utils::update_bn(&vs, 0.1, Vec::<Tensor>::new(), |_| ()).unwrap();
    assert_eq!(values(&vs.variables()["1.running_mean"]), vec![0.0; 8]);
    assert_eq!(values(&vs.variables()["1.running_var"]), vec![1.0; 8]);

    // No BatchNorm: nothing runs, the batches are not read.
    let plain = VarStore::new(Device::Cpu);
    let _ = nn::linear(plain.root() / "fc", 4, 2, Default::default());
    swa_utils::update_bn(&plain, 0.1, std::iter::from_fn(|| -> Option<Tensor> { panic!("read") }), |_| ()).unwrap();

    // A forward in eval mode: an error, the statistics put back.
    let (vs, model) = store();
    let _ = tch::no_grad(|| vs.variables()["1.running_var"].shallow_clone().fill_(2.0));
    let x = [Tensor::randn([8, 4], (Kind::Float, Device::Cpu))];
    let e = swa_utils::update_bn(&vs, 0.1, &x, |x| model.forward_t(x, false)).unwrap_err();
    assert!(matches!(e, Error::Value(_)) && e.to_string().contains("train mode"), "{e}");
    assert_eq!(values(&vs.variables()["1.running_var"]), vec![2.0; 8]);

    // A batch of one sample: no unbiased variance (PyTorch raises), the statistics put back.
    let x = [Tensor::randn([8, 4], (Kind::Float, Device::Cpu)), Tensor::randn([1, 4], (Kind::Float, Device::Cpu))];
    let e = swa_utils::update_bn(&vs, 0.1, &x, |x| model.forward_t(x, true)).unwrap_err();
    assert!(e.to_string().contains("`1` got a non-finite statistic"), "{e}");
    assert_eq!(values(&vs.variables()["1.running_var"]), vec![2.0; 8]);

    for m in [0.0, -0.1, 1.5, f64::NAN] {
        let e = swa_utils::update_bn(&vs, m, &x, |x| model.forward_t(x, true)).unwrap_err();
        assert!(matches!(e, Error::Value(_)), "{e}");
    }
}

/// A `forward` that panics (as tch's modules do on a bad input): the
/// statistics are put back (the panic's message is expected in the output).
#[test]
fn update_bn_puts_the_statistics_back_when_forward_panics() {
    let (vs, _) = store();
    let _ = tch::no_grad(|| vs.variables()["1.running_var"].shallow_clone().fill_(2.0));
    let x = [Tensor::randn([8, 4], (Kind::Float, Device::Cpu))];
    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        swa_utils::update_bn(&vs, 0.1, &x, |_| panic!("an expected panic in `forward`"))
    }));
    assert!(r.is_err());
    assert_eq!(values(&vs.variables()["1.running_var"]), vec![2.0; 8]);
}

/// get_ema_multi_avg_fn(decay) raises ValueError outside [0, 1].
#[test]
fn ema_decay_outside_0_1_is_refused_with_pytorchs_message() {
    for (decay, shown) in [(1.5, "1.5"), (-0.1, "-0.1"), (2.0, "2.0"), (f64::NAN, "nan")] {
        let (vs, _) = store();
        let e = AveragedModel::new(vs).ema(decay).unwrap_err();
        assert!(matches!(e, Error::Value(_)));
        assert_eq!(
            e.to_string(),
            format!("Invalid decay value {shown} provided. Please provide a value in [0,1] range.")
        );
    }
    for decay in [0.0, 1.0] {
        let (vs, _) = store();
        assert_eq!(AveragedModel::new(vs).ema(decay).unwrap().average(), Average::Ema { decay });
    }
}

/// Every variable of the averaged store, copied.
fn snapshot(vs: &VarStore) -> BTreeMap<String, Tensor> {
    vs.variables().into_iter().map(|(n, t)| (n, t.copy())).collect()
}

fn same(vs: &VarStore, before: &BTreeMap<String, Tensor>) -> bool {
    vs.variables().iter().all(|(n, t)| t.equal(&before[n]))
}

/// A model that does not fit, or holds a NaN: one line, nothing changed.
#[test]
fn update_errors_are_one_line_and_change_nothing() {
    let (model, _) = store();
    let (avg_vs, _) = store();
    let mut avg = AveragedModel::new(avg_vs);
    avg.update_parameters(&model).unwrap();
    let before = snapshot(avg.var_store());

    let check = |avg: &mut AveragedModel, other: &VarStore, needle: &str| {
        let e = avg.update_parameters(other).unwrap_err();
        assert!(matches!(e, Error::ModelState(_)), "{e}");
        let msg = e.to_string();
        assert!(!msg.contains('\n') && msg.contains(needle), "{msg}");
        assert_eq!(avg.n_averaged(), 1);
        assert!(same(avg.var_store(), &before));
    };

    // An extra layer in the model.
    let (extra, _) = store();
    let _ = nn::linear(extra.root() / "4", 3, 3, Default::default());
    check(&mut avg, &extra, "the averaged model lacks `4.bias`, `4.weight`");
    // A layer missing.
    let short = VarStore::new(Device::Cpu);
    let _ = nn::linear(short.root() / "0", 4, 8, Default::default());
    check(&mut avg, &short, "the model lacks `1.bias`, `1.running_mean`, `1.running_var`, `1.weight` and 2 more");
    // Another shape.
    let other = VarStore::new(Device::Cpu);
    let p = other.root();
    let _ = nn::linear(&p / "0", 4, 8, Default::default());
    let _ = nn::batch_norm1d(&p / "1", 8, Default::default());
    let _ = nn::linear(&p / "3", 8, 4, Default::default());
    check(&mut avg, &other, "`3.bias` is Float[4] in the model, Float[3] in the averaged model");
    // A buffer where the averaged model has a parameter.
    let buffers = VarStore::new(Device::Cpu);
    for (name, shape) in fixture().shapes {
        let (layer, var) = name.split_once('.').unwrap();
        let _ = (buffers.root() / layer).zeros_no_train(var, &shape);
    }
    check(&mut avg, &buffers, "`0.bias` is a buffer in the model, a parameter in the averaged model");
    // Another dtype.
    let (mut double, _) = store();
    double.double();
    check(&mut avg, &double, "`0.bias` is Double[8] in the model, Float[8] in the averaged model");
    // A NaN, and an infinity.
    for bad in [f64::NAN, f64::INFINITY] {
        let (nan, _) = store();
        let _ = tch::no_grad(|| nan.variables()["3.weight"].shallow_clone().get(1).get(2).fill_(bad));
        check(&mut avg, &nan, "`3.weight` of the model holds a NaN or infinite value");
    }
    // Still usable.
    avg.update_parameters(&model).unwrap();
    assert_eq!(avg.n_averaged(), 2);
}

/// The model's values are copied to the averaged store's device (PyTorch's
/// `device=`), and a frozen model's parameters are still parameters.
#[test]
fn the_average_follows_its_store() {
    let f = fixture();
    let (mut model, _) = store();
    model.freeze();
    let (avg_vs, _) = store();
    let mut avg = AveragedModel::new(avg_vs);
    let swa = f.cases.iter().find(|c| c.name == "swa").unwrap();
    for (snapshot, step) in f.snapshots.iter().zip(&swa.steps) {
        set(&model, snapshot, &f.shapes);
        avg.update_parameters(&model).unwrap();
        assert_eq!(state_difference(avg.var_store(), &step.state).1, 0);
    }
    if tch::Cuda::is_available() {
        let (cuda_vs, _) = {
            let vs = VarStore::new(Device::Cuda(0));
            let n = net(&vs.root(), 0.1);
            (vs, n)
        };
        let mut on_gpu = AveragedModel::new(cuda_vs);
        let mut model = model;
        model.unfreeze();
        for snapshot in &f.snapshots {
            set(&model, snapshot, &f.shapes);
            on_gpu.update_parameters(&model).unwrap();
        }
        let (max, differ) = state_difference(on_gpu.var_store(), &swa.steps.last().unwrap().state);
        eprintln!("CUDA (foreach lerp path): max relative difference {max:e}, {differ} elements differ");
        assert!(max <= 1e-6, "{max:e}");
    }
}

/// k updates, save, load into a fresh AveragedModel, continue: the same
/// average, bit for bit, as without the interruption; for SWA and EMA.
#[test]
fn save_and_load_resume_bit_for_bit() {
    let f = fixture();
    let dir = tempfile::tempdir().unwrap();
    for (decay, use_buffers) in [(None, false), (Some(0.9), true), (Some(0.999), false)] {
        let (model, _) = store();
        let (vs, _) = store();
        let mut whole = averaged(vs, decay, use_buffers);
        let (vs, _) = store();
        let mut first = averaged(vs, decay, use_buffers);
        let path = dir.path().join("swa.pt");
        for (k, s) in f.snapshots.iter().enumerate() {
            set(&model, s, &f.shapes);
            whole.update_parameters(&model).unwrap();
            if k < 3 {
                first.update_parameters(&model).unwrap();
            }
        }
        first.save(&path).unwrap();
        // Only the file: no temporary left beside it.
        let names: Vec<_> = std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert_eq!(names, ["swa.pt"]);
        let (vs, _) = store();
        let mut resumed = averaged(vs, decay, use_buffers);
        resumed.load(&path).unwrap();
        assert_eq!(resumed.n_averaged(), 3);
        for s in &f.snapshots[3..] {
            set(&model, s, &f.shapes);
            resumed.update_parameters(&model).unwrap();
        }
        assert_eq!(resumed.n_averaged(), whole.n_averaged());
        assert!(same(resumed.var_store(), &snapshot(whole.var_store())), "{decay:?} {use_buffers}");
    }
}

/// The file is PyTorch's AveragedModel.state_dict(): `n_averaged` and
/// `module.<name>`.
#[test]
fn the_checkpoint_has_pytorchs_names() {
    let (model, _) = store();
    let (vs, _) = store();
    let mut avg = AveragedModel::new(vs);
    avg.update_parameters(&model).unwrap();
    avg.update_parameters(&model).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("swa.pt");
    avg.save(&path).unwrap();
    let file = torch_file::load(&path).unwrap();
    let names: Vec<String> = file
        .items()
        .unwrap()
        .iter()
        .map(|(k, _)| match k {
            Value::Str(s) => s.clone(),
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(
        names,
        [
            "n_averaged",
            "module.0.bias",
            "module.0.weight",
            "module.1.bias",
            "module.1.running_mean",
            "module.1.running_var",
            "module.1.weight",
            "module.3.bias",
            "module.3.weight"
        ]
    );
    let Some(Value::Tensor(n)) = file.get("n_averaged") else { panic!() };
    assert_eq!(torch_file::to_tch(n).unwrap().int64_value(&[]), 2);
}

/// torch.save(ema_model.state_dict()) from PyTorch (EMA 0.9, use_buffers,
/// after three snapshots, with BatchNorm's num_batches_tracked) loads, and
/// continues to PyTorch's values.
#[test]
fn loads_pytorchs_state_dict() {
    let f = fixture();
    let want = f.cases.iter().find(|c| c.name == "ema_0.9_buffers").unwrap();
    let (vs, _) = store();
    let mut avg = averaged(vs, Some(0.9), true);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ema_state_dict.pt");
    std::fs::write(&path, &reference()[1]).unwrap();
    avg.load(&path).unwrap();
    assert_eq!(avg.n_averaged(), 3);
    assert_eq!(state_difference(avg.var_store(), &want.steps[2].state).1, 0);
    let (model, _) = store();
    for (s, step) in f.snapshots.iter().zip(&want.steps).skip(3) {
        set(&model, s, &f.shapes);
        avg.update_parameters(&model).unwrap();
        assert_eq!(state_difference(avg.var_store(), &step.state).1, 0);
    }
}

/// A file of another model, or without n_averaged: one line, nothing changed.
#[test]
fn load_errors_are_one_line_and_change_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let (model, _) = store();
    let (vs, _) = store();
    let mut avg = AveragedModel::new(vs);
    avg.update_parameters(&model).unwrap();
    let before = snapshot(avg.var_store());

    let write = |items: Vec<(Value, Value)>| {
        let path = dir.path().join("bad.pt");
        torch_file::save(&path, &Value::OrderedDict { items, attrs: vec![] }).unwrap();
        path
    };
    let good = {
        let (vs, _) = store();
        let mut other = AveragedModel::new(vs);
        other.update_parameters(&model).unwrap();
        other.state_dict().unwrap()
    };
    let items = good.items().unwrap().to_vec();
    // The entries with `key`'s value replaced by the first variable's (another shape and dtype).
    let replaced = |key: &str| -> Vec<(Value, Value)> {
        let other = items[1].1.clone();
        items
            .iter()
            .map(|(k, v)| (k.clone(), if *k == Value::Str(key.into()) { other.clone() } else { v.clone() }))
            .collect()
    };
    let cases: Vec<(Vec<(Value, Value)>, &str)> = vec![
        (items[1..].to_vec(), "missing `n_averaged`"),
        (
            items.iter().filter(|(k, _)| *k != Value::Str("module.3.bias".into())).cloned().collect(),
            "missing `module.3.bias`",
        ),
        (
            items.iter().cloned().chain([(Value::Str("module.9.weight".into()), items[1].1.clone())]).collect(),
            "unexpected `module.9.weight`",
        ),
        (
            items.iter().cloned().chain([(Value::Str("extra".into()), items[1].1.clone())]).collect(),
            "unexpected `extra`",
        ),
        (replaced("module.3.bias"), "`3.bias` is Float[8] in the state_dict, Float[3] in the model"),
        (replaced("n_averaged"), "`n_averaged` is Float32[8], not an int64 scalar"),
    ];
    for (items, needle) in cases {
        let path = write(items);
        let e = avg.load(&path).unwrap_err();
        let msg = e.to_string();
        assert!(matches!(e, Error::ModelState(_)), "{msg}");
        assert!(!msg.contains('\n') && msg.contains(needle) && msg.contains("bad.pt"), "{msg}");
        assert_eq!(avg.n_averaged(), 1);
        assert!(same(avg.var_store(), &before));
    }
    let e = avg.load(dir.path().join("absent.pt")).unwrap_err();
    assert!(matches!(e, Error::Io { .. }), "{e}");
}
