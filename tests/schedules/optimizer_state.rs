//! The owned optimizer's state (`Optim::owned`, `Optim::save` / `load`:
//! PyTorch's `optimizer.state_dict()` / `load_state_dict()`): a run stopped at
//! any step and resumed from its checkpoint (model, scheduler, optimizer)
//! computes every later loss and parameter bit for bit as the uninterrupted
//! run, for SGD with momentum (and Nesterov, weight decay), Adam (and
//! amsgrad), AdamW and centered RMSprop with momentum, over two parameter
//! groups with OneCycleLR cycling LR and momentum. Without the optimizer's
//! state the same resume goes wrong. A state of another optimizer or model,
//! or no state at all, is a one-line error that leaves the optimizer as it was.

use tch::nn::{self, Module, VarStore};
use tch::{Device, Kind, Tensor};
use tch_lr::optim::OptimizerSpec;
use tch_lr::{Error, OneCycleLR, Optim, Scheduler};

const STEPS: usize = 10;
const STOPS: [usize; 4] = [0, 1, 4, 9];

/// Builds an optimizer over a `VarStore`: `Optim::owned` when true, else
/// `Optim::new` (tch's).
type Make = fn(&VarStore, bool) -> Optim;

fn build<C: OptimizerSpec>(config: C, vs: &VarStore, lr: f64, owned: bool) -> Optim {
    if owned { Optim::owned(config, vs, lr) } else { Optim::new(config, vs, lr) }.unwrap()
}

/// The optimizers under test, built over `vs` (two groups).
fn optimizers() -> Vec<(&'static str, Make)> {
    vec![
        ("SGD(momentum=0.9)", |vs, owned| build(nn::Sgd { momentum: 0.9, ..Default::default() }, vs, 0.05, owned)),
        ("SGD(momentum=0.9, nesterov=True, weight_decay=1e-2)", |vs, owned| {
            build(nn::Sgd { momentum: 0.9, nesterov: true, wd: 1e-2, ..Default::default() }, vs, 0.05, owned)
        }),
        ("Adam", |vs, owned| build(nn::Adam::default(), vs, 0.01, owned)),
        ("Adam(amsgrad=True)", |vs, owned| build(nn::Adam::default().amsgrad(true), vs, 0.01, owned)),
        ("AdamW", |vs, owned| build(nn::AdamW::default(), vs, 0.01, owned)),
        ("RMSprop(momentum=0.5, centered=True)", |vs, owned| {
            build(nn::RmsProp { momentum: 0.5, centered: true, ..Default::default() }, vs, 0.01, owned)
        }),
    ]
}

/// Deterministic values in [-0.5, 0.5] (no random generator: the tests run
/// in parallel and libtorch's generator is global).
fn wave(shape: &[i64], seed: i64) -> Tensor {
    let n: i64 = shape.iter().product();
    ((Tensor::arange(n, (Kind::Float, Device::Cpu)) + (13 * seed) as f64) * 0.77).sin().reshape(shape) * 0.5
}

/// A small two-layer network, the head in parameter group 1, initialized
/// from `seed`.
fn model(vs: &VarStore, seed: i64) -> impl Module + use<> {
    let root = vs.root();
    let net = nn::seq().add(nn::linear(&root / "body", 4, 8, Default::default())).add_fn(|x| x.tanh()).add(nn::linear(
        root.set_group(1) / "head",
        8,
        1,
        Default::default(),
    ));
    tch::no_grad(|| {
        for (i, v) in vs.trainable_variables().iter_mut().enumerate() {
            v.copy_(&wave(&v.size(), seed + i as i64));
        }
    });
    net
}

/// The batches: inputs and targets.
fn data() -> Vec<(Tensor, Tensor)> {
    (0..STEPS as i64)
        .map(|k| {
            let x = wave(&[16, 4], 100 + k) * 4.0;
            let y = x.sum_dim_intlist(1, true, Kind::Float).sin();
            (x, y)
        })
        .collect()
}

/// A fresh run: model, optimizer and OneCycleLR over the steps (it cycles
/// the LR and the momentum or beta1 of both groups).
struct Run {
    vs: VarStore,
    net: Box<dyn Module>,
    sched: Scheduler<OneCycleLR>,
}

impl Run {
    fn new(make: Make, seed: i64) -> Run {
        Run::with(make, seed, true, None)
    }

    /// A run on `Optim::owned` or tch's optimizer, with each group's weight
    /// decay set after construction when given.
    fn with(make: Make, seed: i64, owned: bool, weight_decay: Option<[f64; 2]>) -> Run {
        let vs = VarStore::new(Device::Cpu);
        let net = Box::new(model(&vs, seed));
        let mut optim = make(&vs, owned);
        if let Some(wd) = weight_decay {
            optim = optim.weight_decay(wd.to_vec()).unwrap();
        }
        let sched = OneCycleLR::new(vec![0.05, 0.1]).total_steps(STEPS as i64).build(optim).unwrap();
        Run { vs, net, sched }
    }

    /// One batch: the loss's bits, then every parameter's bits after the step.
    fn step(&mut self, (x, y): &(Tensor, Tensor)) -> (u32, Vec<u32>) {
        let loss = (self.net.forward(x) - y).square().mean(Kind::Float);
        self.sched.optimizer_mut().backward_step(&loss);
        self.sched.step().unwrap();
        (f32::try_from(&loss).unwrap().to_bits(), self.params())
    }

    fn params(&self) -> Vec<u32> {
        let vars = self.vs.variables_.lock().unwrap();
        let mut bits = vec![];
        for v in &vars.trainable_variables {
            let values = Vec::<f32>::try_from(&v.tensor.flatten(0, -1)).unwrap();
            bits.extend(values.into_iter().map(f32::to_bits));
        }
        bits
    }

    /// A checkpoint, as the training example writes one.
    fn save(&self, dir: &std::path::Path) {
        self.vs.save(dir.join("model.ot")).unwrap();
        self.sched.save(dir.join("scheduler.yaml")).unwrap();
        self.sched.optimizer().save(dir.join("optimizer.pt")).unwrap();
    }

    /// A fresh run (other initial weights) loaded from `dir`; the optimizer's
    /// state too when `with_optimizer`.
    fn resume(make: Make, dir: &std::path::Path, with_optimizer: bool) -> Run {
        let mut run = Run::new(make, 99);
        run.vs.load(dir.join("model.ot")).unwrap();
        run.sched.load(dir.join("scheduler.yaml")).unwrap();
        if with_optimizer {
            run.sched.optimizer_mut().load(dir.join("optimizer.pt")).unwrap();
        }
        run
    }
}

#[test]
fn load_state_dict_resumes_every_optimizer_bit_identically() {
    let data = data();
    for (name, make) in optimizers() {
        let mut reference = Run::new(make, 1);
        let want: Vec<_> = data.iter().map(|b| reference.step(b)).collect();
        for stop in STOPS {
            let dir = tempfile::tempdir().unwrap();
            let mut first = Run::new(make, 1);
            for b in &data[..stop] {
                first.step(b);
            }
            first.save(dir.path());
            drop(first);
            let mut resumed = Run::resume(make, dir.path(), true);
            for (k, b) in data.iter().enumerate().skip(stop) {
                let (loss, params) = resumed.step(b);
                assert_eq!(loss, want[k].0, "{name}: stopped after {stop}: loss of step {k}");
                assert!(params == want[k].1, "{name}: stopped after {stop}: parameters after step {k}");
            }
        }
    }
}

/// The same resume without the optimizer's state (what tch's `nn::Optimizer`
/// allows) diverges: the test above can fail.
#[test]
fn without_the_optimizer_state_a_resumed_run_diverges() {
    let data = data();
    for (name, make) in optimizers() {
        let mut reference = Run::new(make, 1);
        let want: Vec<_> = data.iter().map(|b| reference.step(b)).collect();
        let dir = tempfile::tempdir().unwrap();
        let mut first = Run::new(make, 1);
        for b in &data[..4] {
            first.step(b);
        }
        first.save(dir.path());
        let mut resumed = Run::resume(make, dir.path(), false);
        let got: Vec<_> = data[4..].iter().map(|b| resumed.step(b).0).collect();
        let want: Vec<_> = want[4..].iter().map(|w| w.0).collect();
        assert_ne!(got, want, "{name}: the optimizer's state makes no difference?");
    }
}

/// A message of one line, from an `Error::OptimizerState`.
fn state_error(e: Error) -> String {
    let message = e.to_string();
    assert!(matches!(e, Error::OptimizerState(_)), "{message}");
    assert!(!message.contains('\n'), "one line: {message}");
    message
}

/// Two steps of `make` on the test model, and its state.
fn stepped(make: Make) -> (Run, Vec<u8>) {
    let mut run = Run::new(make, 1);
    for b in &data()[..2] {
        run.step(b);
    }
    let state = run.sched.optimizer().state().unwrap();
    (run, state)
}

#[test]
fn load_state_dict_of_another_optimizer_or_model_is_one_line_and_changes_nothing() {
    let all = optimizers();
    let (sgd, adam, rmsprop) = (all[0].1, all[2].1, all[5].1);
    let (_, adam_state) = stepped(adam);
    let (mut run, sgd_state) = stepped(sgd);

    let e = state_error(run.sched.optimizer_mut().load_state(&adam_state).unwrap_err());
    assert!(e.contains("adam") && e.contains("sgd"), "{e}");
    let e = state_error(run.sched.optimizer_mut().load_state(&stepped(rmsprop).1).unwrap_err());
    assert!(e.contains("rmsprop") && e.contains("sgd"), "{e}");

    // Another model: the same optimizer over other shapes, or other groups.
    let vs = VarStore::new(Device::Cpu);
    let _ = nn::linear(&vs.root() / "body", 4, 6, Default::default());
    let _ = nn::linear(vs.root().set_group(1) / "head", 6, 1, Default::default());
    let mut wider = Optim::owned(nn::Sgd { momentum: 0.9, ..Default::default() }, &vs, 0.05).unwrap();
    let e = state_error(wider.load_state(&sgd_state).unwrap_err());
    assert!(e.contains("different model") && e.contains("Float[8") && e.contains("Float[6"), "{e}");
    let vs = VarStore::new(Device::Cpu);
    let _ = vs.root().zeros("w", &[8, 4]);
    let mut one_group = Optim::owned(nn::Sgd { momentum: 0.9, ..Default::default() }, &vs, 0.05).unwrap();
    let e = state_error(one_group.load_state(&sgd_state).unwrap_err());
    assert!(e.contains("2 parameter group(s)") && e.contains("this optimizer 1"), "{e}");

    // Not a state at all.
    for bytes in [&b""[..], b"not an archive", &sgd_state[..sgd_state.len() / 2]] {
        state_error(run.sched.optimizer_mut().load_state(bytes).unwrap_err());
    }

    // After all that, the optimizer is the one it was, and trains on as its
    // twin that saw no failed load.
    assert!(run.sched.optimizer().state().unwrap() == sgd_state, "a failed load changed the optimizer");
    let (mut twin, _) = stepped(sgd);
    for b in &data()[2..5] {
        assert_eq!(run.step(b), twin.step(b));
    }
}

/// `Optim::owned`'s SGD is the optimizer tch creates, and tch-lr writes the
/// same values into it (LR and momentum per group, weight decay per group and
/// for all): both train the same, bit for bit. (Its Adam, AdamW and RMSprop
/// step with PyTorch's formula instead of libtorch's: tests/schedules/optimizer_steps.rs.)
#[test]
fn the_owned_sgd_trains_as_tchs() {
    let data = data();
    for (name, make) in optimizers().into_iter().filter(|(name, _)| name.starts_with("SGD")) {
        for wd in [None, Some([0.05, 0.0]), Some([0.02, 0.02])] {
            let [tch, owned] = [false, true].map(|owned| {
                let mut run = Run::with(make, 1, owned, wd);
                data.iter().map(|b| run.step(b)).collect::<Vec<_>>()
            });
            assert!(tch == owned, "{name}, weight decay {wd:?}: the two optimizers trained differently");
        }
    }
}

#[test]
fn tch_optimizer_has_no_state_to_save() {
    let vs = VarStore::new(Device::Cpu);
    let _ = vs.root().zeros("w", &[2]);
    let mut opt = Optim::new(nn::Sgd { momentum: 0.9, ..Default::default() }, &vs, 0.1).unwrap();
    assert!(!opt.saves_state() && opt.tch_optimizer().is_some());
    let e = state_error(opt.state().unwrap_err());
    assert!(e.contains("Optim::owned"), "{e}");
    let dir = tempfile::tempdir().unwrap();
    let e = state_error(opt.save(dir.path().join("optimizer.pt")).unwrap_err());
    assert!(e.contains("Optim::owned"), "{e}");
    assert!(!dir.path().join("optimizer.pt").exists());
    state_error(opt.load_state(b"").unwrap_err());
}

/// The file written is the state, and loads into another run of the same
/// model (its parameters are other tensors: libtorch maps the state by
/// position); a missing file is an I/O error naming it; a broken one names it
/// too.
#[test]
fn save_and_load_files() {
    let adamw = optimizers()[4].1;
    let (mut run, state) = stepped(adamw);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("optimizer.pt");
    run.sched.optimizer().save(&path).unwrap();
    assert!(std::fs::read(&path).unwrap() == state);
    run.save(dir.path());
    let mut fresh = Run::resume(adamw, dir.path(), true);
    for b in &data()[2..5] {
        assert_eq!(fresh.step(b), run.step(b));
    }
    let e = fresh.sched.optimizer_mut().load(dir.path().join("missing.pt")).unwrap_err();
    assert!(matches!(e, Error::Io { .. }) && e.to_string().contains("missing.pt"), "{e}");
    std::fs::write(&path, b"garbage").unwrap();
    let e = state_error(fresh.sched.optimizer_mut().load(&path).unwrap_err());
    assert!(e.contains("optimizer.pt"), "{e}");
}
