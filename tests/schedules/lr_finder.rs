//! The LR range test (`tch_lr::lr_finder`): its suggestion rules against
//! Lightning's and fastai's own code on recorded loss curves
//! (`tests/fixtures/lr_finder/suggestions.json`, written by
//! `scripts/fixtures/gen_lr_finder.py`), its early stop, its smoothing, and
//! what it leaves behind: the model's weights bit for bit, and the LRs and
//! momenta libtorch applies (read from probe parameter updates, as in
//! `tests/schedules/runtime.rs`).

use crate::common;

use common::*;
use serde::Deserialize;
use tch::nn::{self, ModuleT, OptimizerConfig as _};
use tch::{Device, Kind, Tensor};
use tch_lr::groups::OptimizerKind;
use tch_lr::lr_finder::{LrFinder, LrFinderResult, Mode};
use tch_lr::Optim;

#[derive(Deserialize)]
struct Fixture {
    references: serde_json::Value,
    cases: Vec<FixtureCase>,
}

#[derive(Deserialize)]
struct FixtureCase {
    name: String,
    num_steps: usize,
    lrs: Vec<String>,
    smoothed_losses: Vec<String>,
    lightning: Vec<LightningSuggestion>,
    fastai_valley: Chosen,
}

#[derive(Deserialize)]
struct LightningSuggestion {
    skip_begin: usize,
    skip_end: usize,
    #[serde(flatten)]
    chosen: Chosen,
}

/// A reference's choice: the index and the LR (Python's repr), or none.
#[derive(Deserialize)]
struct Chosen {
    index: Option<usize>,
    lr: Option<String>,
}

/// Python's repr, read exactly ("nan", "inf", "-inf" included).
fn py(s: &str) -> f64 {
    s.parse().unwrap_or_else(|_| panic!("not a float: {s}"))
}

fn fixture() -> Fixture {
    let path = root().join("tests/fixtures/lr_finder/suggestions.json");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn recorded(case: &FixtureCase) -> LrFinderResult {
    let smoothed: Vec<f64> = case.smoothed_losses.iter().map(|s| py(s)).collect();
    LrFinderResult {
        lrs: case.lrs.iter().map(|s| py(s)).collect(),
        losses: smoothed.clone(),
        smoothed_losses: smoothed,
        num_steps: case.num_steps,
        stopped_early: false,
    }
}

/// `_LRFinder.suggestion(skip_begin, skip_end)` of pytorch-lightning 2.6.6.
#[test]
fn suggestion_is_lightnings_lr_finder_suggestion() {
    let f = fixture();
    assert_eq!(f.references["pytorch-lightning"], "2.6.6");
    let (mut some, mut none) = (0, 0);
    for case in &f.cases {
        let found = recorded(case);
        for want in &case.lightning {
            let got = found.suggestion_with(want.skip_begin, want.skip_end);
            let what = format!("{}: suggestion({}, {})", case.name, want.skip_begin, want.skip_end);
            assert_eq!(got.map(|s| s.index), want.chosen.index, "{what}");
            let lr = got.map(|s| s.lr.to_bits());
            assert_eq!(lr, want.chosen.lr.as_deref().map(|s| py(s).to_bits()), "{what}: lr");
            if got.is_some() {
                some += 1
            } else {
                none += 1
            }
        }
        // The default is Lightning's: skip_begin=10, skip_end=1.
        assert_eq!(found.suggestion(), found.suggestion_with(10, 1), "{}", case.name);
    }
    assert!(f.cases.len() >= 30 && some > 80 && none >= 5, "{} cases, {some} suggestions, {none} none", f.cases.len());
}

/// fastai 2.8.12's `Learner.lr_find(suggest_funcs=valley)`.
#[test]
fn suggestion_valley_is_fastais_valley() {
    let f = fixture();
    assert_eq!(f.references["fastai"], "2.8.12");
    let mut some = 0;
    for case in &f.cases {
        let got = recorded(case).suggestion_valley();
        let want = &case.fastai_valley;
        assert_eq!(got.map(|s| s.index), want.index, "{}: valley", case.name);
        // fastai returns the LR as float32 holds it; tch-lr the LR the step ran with.
        let lr = got.map(|s| ((s.lr as f32) as f64).to_bits());
        assert_eq!(lr, want.lr.as_deref().map(|s| py(s).to_bits()), "{}: valley lr", case.name);
        some += usize::from(got.is_some());
    }
    assert!(some >= 30 && some < f.cases.len(), "{some} of {} cases have a valley", f.cases.len());
}

/// A small conv net with batch norm (running statistics: variables that are
/// not trained but change in training mode) and its batches.
fn conv_net(vs: &nn::VarStore) -> (impl ModuleT + use<>, Tensor, Tensor) {
    let p = vs.root();
    let conv = nn::conv2d(&p / "conv", 3, 8, 3, Default::default());
    let bn = nn::batch_norm2d(&p / "bn", 8, Default::default());
    let fc = nn::linear(&p / "fc", 8, 4, Default::default());
    let net = nn::func_t(move |x, train| {
        x.apply(&conv).apply_t(&bn, train).relu().adaptive_avg_pool2d([1, 1]).flatten(1, -1).apply(&fc)
    });
    tch::manual_seed(7);
    let x = Tensor::randn([64, 3, 8, 8], (Kind::Float, Device::Cpu));
    let y = Tensor::randint(4, [64], (Kind::Int64, Device::Cpu));
    (net, x, y)
}

/// Every variable's values, as bits.
fn weights(vs: &nn::VarStore) -> Vec<(String, Vec<u64>)> {
    let mut out: Vec<(String, Vec<u64>)> = vs
        .variables()
        .into_iter()
        .map(|(name, t)| {
            let v = Vec::<f64>::try_from(t.detach().to_kind(Kind::Double).flatten(0, -1)).unwrap();
            (name, v.into_iter().map(f64::to_bits).collect())
        })
        .collect();
    out.sort();
    out
}

#[test]
fn weights_and_running_statistics_are_restored_bit_for_bit() {
    for owned in [false, true] {
        let vs = nn::VarStore::new(Device::Cpu);
        let (net, x, y) = conv_net(&vs);
        let sgd = nn::Sgd { momentum: 0.9, ..Default::default() };
        let mut opt = if owned { Optim::owned(sgd, &vs, 0.05) } else { Optim::new(sgd, &vs, 0.05) }.unwrap();
        let before = weights(&vs);
        assert!(before.iter().any(|(n, _)| n.contains("running_mean")), "{:?}", before.iter().map(|w| &w.0));
        let mut changed = vec![];
        let found = LrFinder::new(1e-3, 1.0)
            .num_steps(12)
            .run(&mut opt, &vs, |step| {
                changed.push(weights(&vs).iter().zip(&before).filter(|(a, b)| a != b).count());
                let i = (step as i64 % 4) * 16;
                net.forward_t(&x.narrow(0, i, 16), true).cross_entropy_for_logits(&y.narrow(0, i, 16))
            })
            .unwrap();
        assert_eq!(found.lrs.len(), 12);
        // The test did train (every variable moved, statistics included) ...
        assert_eq!(changed[0], 0);
        assert_eq!(*changed.last().unwrap(), before.len(), "owned {owned}");
        // ... and put everything back.
        assert!(weights(&vs) == before, "owned {owned}: the weights differ after the test");
    }
}

/// One probe step per group at the same time on both optimizers, `n` times.
fn probe_both(a: &mut Optim, wa: &[Tensor], b: &mut Optim, wb: &[Tensor], n: usize) {
    for k in 0..n {
        let (ma, mb) = (probe_step(a, wa), probe_step(b, wb));
        let bits = |v: &[f64]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
        assert_eq!(bits(&ma), bits(&mb), "probe step {k}: after the test {ma:?}, untouched {mb:?}");
    }
}

/// A loss over the probe parameters whose gradient differs from step to step,
/// so that the momentum buffers hold something.
fn probe_loss(ws: &[Tensor], step: usize) -> Tensor {
    ws.iter().enumerate().map(|(g, w)| w.sum(Kind::Double) * (1.0 + (step * (g + 1)) as f64 * 0.37)).sum::<Tensor>()
}

#[test]
fn sgd_lr_of_each_group_is_back_in_libtorch() {
    // SGD without momentum: a probe step moves each parameter by exactly -lr.
    let (vs, ws) = probe_vs(2);
    let mut opt = Optim::new(nn::Sgd::default(), &vs, vec![0.1, 0.02]).unwrap();
    let mut seen = vec![];
    let finder = LrFinder::new(1e-4, 10.0).num_steps(15);
    let found = finder
        .run(&mut opt, &vs, |_| {
            // What the previous step applied, then a fresh start at 0 with gradient 1.
            seen.push(ws.iter().map(|w| w.double_value(&[0])).collect::<Vec<_>>());
            tch::no_grad(|| ws.iter().for_each(|w| _ = w.shallow_clone().fill_(0.0)));
            ws.iter().map(|w| w.sum(Kind::Double)).sum::<Tensor>()
        })
        .unwrap();
    // libtorch applied the finder's LR, to every group, at every step.
    assert_eq!(found.lrs.len(), 15);
    assert_eq!(found.lrs[0], 1e-4);
    assert_eq!(found.lrs[14], finder.lr_at(14));
    for (k, (moved, lr)) in seen[1..].iter().zip(&found.lrs).enumerate() {
        assert_eq!(moved, &[-lr, -lr], "step {k}");
    }
    // And the configured LRs afterwards.
    assert_eq!(opt.groups().lrs(), [0.1, 0.02]);
    assert_eq!(probe_step(&mut opt, &ws), [-0.1, -0.02]);
}

#[test]
fn sgd_momentum_of_each_group_is_back_in_libtorch() {
    // Two optimizers with per-group LRs and momenta; `a` runs the test, `b`
    // takes the same steps at the same LRs through tch's own setters and is
    // put back through them. From then on they must move alike, bit for bit:
    // same LR, same momentum, same buffers.
    let setup = || {
        let (vs, ws) = probe_vs(2);
        let mut opt = Optim::new(nn::Sgd { momentum: 0.9, ..Default::default() }, &vs, vec![0.1, 0.02]).unwrap();
        opt.groups_mut().groups_mut()[1].momentum = 0.5;
        opt.sync().unwrap();
        (vs, ws, opt)
    };
    let (vs_a, wa, mut a) = setup();
    let (_vs_b, wb, mut b) = setup();
    probe_both(&mut a, &wa, &mut b, &wb, 2); // some history first
    let found = LrFinder::new(1e-3, 1.0)
        .num_steps(10)
        .early_stop_threshold(None)
        .run(&mut a, &vs_a, |step| probe_loss(&wa, step))
        .unwrap();
    assert_eq!(found.lrs.len(), 10);
    for (step, &lr) in found.lrs.iter().enumerate() {
        let tch_b = b.tch_optimizer_mut().unwrap();
        tch_b.set_lr(lr);
        tch_b.zero_grad();
        probe_loss(&wb, step).backward();
        tch_b.step();
    }
    let tch_b = b.tch_optimizer_mut().unwrap();
    tch_b.set_lr_group(0, 0.1);
    tch_b.set_lr_group(1, 0.02);
    tch_b.zero_grad();
    assert_eq!(a.groups().momenta(), [0.9, 0.5]);
    probe_both(&mut a, &wa, &mut b, &wb, 4);
}

#[test]
fn owned_optimizer_state_is_back_as_before() {
    // Optim::owned saves its state before the test and loads it after: it then
    // moves exactly as a twin that never ran the test (SGD with per-group
    // momenta, and Adam, whose step count and moments would show any leftover).
    for kind in [OptimizerKind::Sgd, OptimizerKind::Adam] {
        let setup = || {
            let (vs, ws) = probe_vs(2);
            let mut opt = match kind {
                OptimizerKind::Sgd => {
                    Optim::owned(nn::Sgd { momentum: 0.9, ..Default::default() }, &vs, vec![0.1, 0.02])
                }
                _ => Optim::owned(nn::Adam::default(), &vs, vec![0.1, 0.02]),
            }
            .unwrap();
            if kind == OptimizerKind::Sgd {
                opt.groups_mut().groups_mut()[1].momentum = 0.5;
                opt.sync().unwrap();
            }
            (vs, ws, opt)
        };
        let (vs_a, wa, mut a) = setup();
        let (_vs_b, wb, mut b) = setup();
        probe_both(&mut a, &wa, &mut b, &wb, 3);
        let found = LrFinder::new(1e-3, 1.0)
            .num_steps(10)
            .early_stop_threshold(None)
            .run(&mut a, &vs_a, |step| probe_loss(&wa, step))
            .unwrap();
        assert_eq!(found.lrs.len(), 10, "{kind:?}");
        probe_both(&mut a, &wa, &mut b, &wb, 4);
    }
}

/// A loss of `value(step)` whose gradient reaches the variables.
fn scripted(vs: &nn::VarStore, value: f64) -> Tensor {
    vs.trainable_variables().iter().map(|v| v.sum(Kind::Double) * 0.0).sum::<Tensor>() + value
}

fn tiny_optim(vs: &nn::VarStore) -> Optim {
    let opt = nn::Sgd::default().build(vs, 0.1).unwrap();
    Optim::from_tch(opt, vs, OptimizerKind::Sgd, 0.1, 0.0, 0.0).unwrap()
}

#[test]
fn stops_early_when_the_smoothed_loss_exceeds_the_threshold_times_the_best() {
    // Lightning's _LRCallback: from the second step on, stop once the smoothed
    // loss passes early_stop_threshold × the best so far; that row is kept.
    let vs = tiny_vs(1);
    let mut opt = tiny_optim(&vs);
    let loss = |step: usize| if step < 30 { 1.0 - 0.01 * step as f64 } else { 40.0 * (step - 29) as f64 };
    let found = LrFinder::new(1e-4, 1.0).num_steps(100).run(&mut opt, &vs, |step| scripted(&vs, loss(step))).unwrap();
    let n = found.lrs.len();
    assert!(found.stopped_early && n > 30 && n < 100, "{n} steps");
    assert_eq!((found.losses.len(), found.smoothed_losses.len()), (n, n));
    let s = &found.smoothed_losses;
    let best = |k: usize| s[..k].iter().copied().fold(f64::INFINITY, f64::min);
    assert!(s[n - 1] > 4.0 * best(n - 1), "the last smoothed loss passes 4 × the best");
    assert!((1..n - 1).all(|k| s[k] <= 4.0 * best(k)), "no earlier one does");
    // Another threshold, and none.
    let at2 = LrFinder::new(1e-4, 1.0).early_stop_threshold(Some(2.0));
    let n2 = at2.run(&mut opt, &vs, |step| scripted(&vs, loss(step))).unwrap().lrs.len();
    assert!(n2 < n, "threshold 2 stops sooner ({n2} vs {n})");
    let never = LrFinder::new(1e-4, 1.0).early_stop_threshold(None);
    let all = never.run(&mut opt, &vs, |step| scripted(&vs, loss(step))).unwrap();
    assert!(!all.stopped_early && all.lrs.len() == 100);
}

#[test]
fn stops_on_a_non_finite_loss() {
    let vs = tiny_vs(1);
    let mut opt = tiny_optim(&vs);
    for bad in [f64::NAN, f64::INFINITY] {
        let found = LrFinder::new(1e-4, 1.0)
            .early_stop_threshold(None)
            .run(&mut opt, &vs, |step| scripted(&vs, if step == 20 { bad } else { 1.0 }))
            .unwrap();
        assert!(found.stopped_early && found.lrs.len() == 21, "{bad}: {} steps", found.lrs.len());
        assert!(!found.losses[20].is_finite() && !found.smoothed_losses[20].is_finite());
        assert_eq!(opt.groups().lrs(), [0.1]);
    }
}

#[test]
fn smoothing_is_bias_corrected() {
    // A constant loss smooths to itself from the first step (bias correction
    // by 1 - beta^t), and beta = 0 leaves the losses as they are.
    let vs = tiny_vs(1);
    let mut opt = tiny_optim(&vs);
    let found = LrFinder::new(1e-4, 1.0).num_steps(50).run(&mut opt, &vs, |_| scripted(&vs, 2.5)).unwrap();
    for (t, s) in found.smoothed_losses.iter().enumerate() {
        assert!((s - 2.5).abs() <= 1e-12, "step {t}: {s}");
    }
    let raw = |step: usize| 1.0 + ((step * 7919) % 13) as f64 / 10.0;
    let found = LrFinder::new(1e-4, 1.0).beta(0.0).num_steps(30).run(&mut opt, &vs, |s| scripted(&vs, raw(s))).unwrap();
    assert_eq!(found.smoothed_losses, found.losses);
    assert_eq!(found.losses, (0..30).map(raw).collect::<Vec<_>>());
}

#[test]
fn the_linear_mode_and_bad_inputs() {
    let vs = tiny_vs(1);
    let mut opt = tiny_optim(&vs);
    let linear = LrFinder::new(0.0, 0.9).num_steps(10).mode(Mode::Linear);
    let found = linear.run(&mut opt, &vs, |_| scripted(&vs, 1.0)).unwrap();
    let steps: Vec<f64> = found.lrs.windows(2).map(|w| w[1] - w[0]).collect();
    assert!(steps.iter().all(|d| (d - 0.1).abs() < 1e-12), "{steps:?}");
    // A loss of several numbers: one line, and the optimizer is as before.
    let err = LrFinder::default()
        .run(&mut opt, &vs, |_| {
            vs.trainable_variables()[0].shallow_clone() * Tensor::ones([3], (Kind::Float, Device::Cpu))
        })
        .unwrap_err()
        .to_string();
    assert!(err.contains("must be one number") && !err.contains('\n'), "{err}");
    // A loss without gradient: libtorch's error, in one line.
    let err = LrFinder::default().run(&mut opt, &vs, |_| Tensor::from(1.0)).unwrap_err().to_string();
    assert!(err.starts_with("libtorch: ") && !err.contains('\n'), "{err}");
    assert_eq!(opt.groups().lrs(), [0.1]);
    let err = LrFinder::new(1.0, 0.5).run(&mut opt, &vs, |_| unreachable!()).unwrap_err().to_string();
    assert_eq!(err, "LR range test: start_lr (1) must be below end_lr (0.5)");
}
