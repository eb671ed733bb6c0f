//! The owned optimizer's per-parameter state as PyTorch's
//! `optimizer.state_dict()["state"]` (`tch_lr::interop::state::optimizer_state_*`):
//! PyTorch (the project's .venv) runs k steps of SGD-momentum, Adam, AdamW
//! (amsgrad) and RMSprop (centered, momentum) over two groups with fixed
//! gradients and saves its state; tch-lr loads it into an owned optimizer bit
//! for bit, writes it back, and PyTorch loads that (weights_only=True) into the
//! same tensors. Malformed states are refused in one line, nothing loaded.

use crate::common;
use std::path::{Path, PathBuf};

use tch::nn::{self, Init};
use tch::{Device, Tensor};
use tch_lr::interop::{state, torch_file, Value};
use tch_lr::{Error, Optim};

const SCRIPT: &str = r#"
import sys, torch
mode, kind, path = sys.argv[1], sys.argv[2], sys.argv[3]
p0 = torch.nn.Parameter(torch.zeros(3, 2))
p1 = torch.nn.Parameter(torch.zeros(3))
p2 = torch.nn.Parameter(torch.zeros(2, 3))
groups = [{"params": [p0, p1]}, {"params": [p2], "lr": 0.05}]
opt = {
    "sgd": lambda: torch.optim.SGD(groups, lr=0.1, momentum=0.9),
    "adam": lambda: torch.optim.Adam(groups, lr=0.1),
    "adamw": lambda: torch.optim.AdamW(groups, lr=0.1, amsgrad=True),
    "rmsprop": lambda: torch.optim.RMSprop(groups, lr=0.1, momentum=0.9, centered=True),
}[kind]()
for k in range(3):
    for i, p in enumerate([p0, p1, p2]):
        g = torch.arange(p.numel(), dtype=torch.float32).reshape(p.shape)
        p.grad = torch.sin(g * 0.7 + i + k * 1.3) * (k + 1)
    opt.step()
if mode == "save":
    torch.save(opt.state_dict(), path)
else:
    theirs = opt.state_dict()
    sd = opt.state_dict()
    sd["state"] = torch.load(path, weights_only=True)
    fresh = [torch.nn.Parameter(torch.zeros_like(p)) for p in (p0, p1, p2)]
    opt2 = type(opt)([{"params": fresh[:2]}, {"params": fresh[2:], "lr": 0.05}])
    opt2.load_state_dict(sd)
    got = opt2.state_dict()["state"]
    want = theirs["state"]
    assert sorted(got) == sorted(want), (sorted(got), sorted(want))
    for i in want:
        assert sorted(got[i]) == sorted(want[i]), (i, sorted(got[i]), sorted(want[i]))
        for name, t in want[i].items():
            u = got[i][name]
            assert u.dtype == t.dtype and u.shape == t.shape and torch.equal(u, t), (i, name, u, t)
    print("ok")
"#;

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn temp(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("tch-lr-interop-optimizer-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn python(mode: &str, kind: &str, path: &Path) {
    let out = common::command(root().join(".venv/bin/python"))
        .args(["-c", SCRIPT, mode, kind])
        .arg(path)
        .output()
        .expect("running .venv/bin/python");
    assert!(
        out.status.success(),
        "python {mode} {kind}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// An owned optimizer of `kind` over parameters of the script's shapes and groups.
fn owned(kind: &str, vs: &nn::VarStore) -> Optim {
    let root = vs.root();
    let _ = root.var("p0", &[3, 2], Init::Const(0.));
    let _ = root.var("p1", &[3], Init::Const(0.));
    let _ = root.set_group(1).var("p2", &[2, 3], Init::Const(0.));
    match kind {
        "sgd" => Optim::owned(nn::Sgd { momentum: 0.9, ..Default::default() }, vs, 0.1),
        "adam" => Optim::owned(nn::Adam::default(), vs, 0.1),
        "adamw" => Optim::owned(nn::AdamW { amsgrad: true, ..Default::default() }, vs, 0.1),
        _ => Optim::owned(nn::RmsProp { momentum: 0.9, centered: true, ..Default::default() }, vs, 0.1),
    }
    .unwrap()
}

fn same(a: &Tensor, b: &Tensor) -> bool {
    a.kind() == b.kind() && a.size() == b.size() && a.equal(b)
}

fn check_same(got: &[(usize, Vec<(String, Tensor)>)], want: &[(usize, Vec<(String, Tensor)>)]) {
    assert_eq!(got.len(), want.len());
    for ((gi, g), (wi, w)) in got.iter().zip(want) {
        assert_eq!(gi, wi);
        let mut g: Vec<_> = g.iter().collect();
        let mut w: Vec<_> = w.iter().collect();
        g.sort_by(|a, b| a.0.cmp(&b.0));
        w.sort_by(|a, b| a.0.cmp(&b.0));
        assert_eq!(g.iter().map(|e| &e.0).collect::<Vec<_>>(), w.iter().map(|e| &e.0).collect::<Vec<_>>());
        for (a, b) in g.iter().zip(&w) {
            assert!(same(&a.1, &b.1), "parameter {gi}, {}: {} vs {}", a.0, a.1, b.1);
        }
    }
}

/// The file's `state` as tensors.
fn file_tensors(v: &Value) -> Vec<(usize, Vec<(String, Tensor)>)> {
    v.get("state")
        .unwrap()
        .items()
        .unwrap()
        .iter()
        .map(|(k, e)| {
            let Value::Int(i) = k else { panic!("{k:?}") };
            let ts = e
                .items()
                .unwrap()
                .iter()
                .map(|(n, t)| {
                    let (Value::Str(n), Value::Tensor(t)) = (n, t) else { panic!() };
                    (n.clone(), torch_file::to_tch(t).unwrap())
                })
                .collect();
            (*i as usize, ts)
        })
        .collect()
}

fn round_trip(kind: &str) {
    let dir = temp(kind);
    let from_torch = dir.join("torch.pt");
    python("save", kind, &from_torch);
    let file = torch_file::load(&from_torch).unwrap();
    let want = file_tensors(&file);
    assert_eq!(want.len(), 3, "{kind}");

    let vs = nn::VarStore::new(Device::Cpu);
    let mut opt = owned(kind, &vs);
    state::optimizer_state_from_pytorch(&mut opt, file.get("state").unwrap()).unwrap();
    check_same(&opt.state_tensors().unwrap(), &want);

    let back = state::optimizer_state_to_pytorch(&opt).unwrap();
    let from_rust = dir.join("rust.pt");
    torch_file::save(&from_rust, &back).unwrap();
    python("check", kind, &from_rust);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn sgd_momentum() {
    round_trip("sgd");
}

#[test]
fn adam() {
    round_trip("adam");
}

#[test]
fn adamw_amsgrad() {
    round_trip("adamw");
}

#[test]
fn rmsprop_centered_momentum() {
    round_trip("rmsprop");
}

fn entry(index: usize, items: Vec<(&str, Tensor)>) -> (usize, Vec<(String, Tensor)>) {
    (index, items.into_iter().map(|(n, t)| (n.to_string(), t)).collect())
}

#[test]
fn refused_in_one_line_nothing_loaded() {
    let vs = nn::VarStore::new(Device::Cpu);
    let mut opt = owned("adam", &vs);
    let good = |i: usize, shape: &[i64]| {
        entry(
            i,
            vec![
                ("step", Tensor::from(2f32)),
                ("exp_avg", Tensor::ones(shape, (tch::Kind::Float, Device::Cpu))),
                ("exp_avg_sq", Tensor::ones(shape, (tch::Kind::Float, Device::Cpu))),
            ],
        )
    };
    opt.load_state_tensors(&[good(0, &[3, 2])]).unwrap();
    let before = opt.state_tensors().unwrap();
    assert_eq!(before.len(), 1);
    assert!(same(&before[0].1[0].1, &Tensor::from(2f32)));

    let bad_cases = vec![
        ("shape", vec![good(1, &[3]), good(2, &[3, 2])]),
        ("unknown key", vec![entry(1, vec![("momentum_buffer", Tensor::zeros([3], (tch::Kind::Float, Device::Cpu)))])]),
        ("missing", vec![entry(1, vec![("step", Tensor::from(1f32))])]),
        ("index", vec![good(7, &[3])]),
        ("step", {
            let mut e = good(1, &[3]);
            e.1[0].1 = Tensor::from(2.5f32);
            vec![e]
        }),
        ("dtype", {
            let mut e = good(1, &[3]);
            e.1[1].1 = Tensor::ones([3], (tch::Kind::Double, Device::Cpu));
            vec![e]
        }),
    ];
    for (what, bad) in bad_cases {
        let err = opt.load_state_tensors(&bad).unwrap_err();
        assert!(matches!(err, Error::OptimizerState(_)), "{what}: {err:?}");
        let text = err.to_string();
        assert!(!text.contains('\n'), "{what}: {text}");
        eprintln!("{what}: {text}");
        check_same(&opt.state_tensors().unwrap(), &before);
    }

    // A file state with an unknown key is refused the same way.
    let file = Value::Dict(vec![(Value::Int(0), Value::Dict(vec![(Value::Str("nope".into()), Value::Float(1.0))]))]);
    assert!(matches!(state::optimizer_state_from_pytorch(&mut opt, &file), Err(Error::OptimizerState(_))));
    check_same(&opt.state_tensors().unwrap(), &before);

    // tch's optimizer: unsupported.
    let vs2 = nn::VarStore::new(Device::Cpu);
    let _ = vs2.root().var("w", &[2], Init::Const(0.));
    let mut tch_opt = Optim::new(nn::Sgd::default(), &vs2, 0.1).unwrap();
    assert!(matches!(tch_opt.state_tensors(), Err(Error::Unsupported(_))));
    assert!(matches!(tch_opt.load_state_tensors(&[]), Err(Error::Unsupported(_))));
}

/// `state::to_pytorch` of a scheduler over an owned optimizer carries the
/// optimizer's tensors, which `optimizer_state_from_pytorch` reads back.
#[test]
fn to_pytorch_carries_owned_state() {
    use tch_lr::config::Config;
    use tch_lr::optim::Backend;
    let config =
        Config::from_yaml("optimizer: {name: sgd, lr: 0.1, momentum: 0.9}\nscheduler: {name: StepLR, step_size: 3}")
            .unwrap();
    let vs = nn::VarStore::new(Device::Cpu);
    let w = vs.root().var("w", &[2], Init::Const(1.));
    let mut sched = config.build(config.build_optim(&vs, Backend::Owned).unwrap()).unwrap();
    let loss = (&w * &w).sum(tch::Kind::Float);
    sched.optimizer_mut().backward_step(&loss);
    sched.step().unwrap();
    let want = sched.optimizer().state_tensors().unwrap();
    assert_eq!(want.len(), 1);
    let file = state::to_pytorch(&config, &sched).unwrap();
    let saved = file.get("optimizer").and_then(|o| o.get("state")).unwrap();
    let vs2 = nn::VarStore::new(Device::Cpu);
    let _ = vs2.root().var("w", &[2], Init::Const(1.));
    let mut opt = config.build_optim(&vs2, Backend::Owned).unwrap();
    state::optimizer_state_from_pytorch(&mut opt, saved).unwrap();
    check_same(&opt.state_tensors().unwrap(), &want);
}
