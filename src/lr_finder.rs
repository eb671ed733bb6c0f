//! The learning-rate range test (Leslie Smith's "LR finder"), as PyTorch
//! Lightning's `Tuner.lr_find` and fastai's `Learner.lr_find` run it.
//!
//! [`LrFinder`] trains for up to `num_steps` batches while the LR of every
//! parameter group rises from `start_lr` to `end_lr` (exponentially by
//! default), records each batch's loss and its smoothed value, stops early when
//! the smoothed loss passes `early_stop_threshold` times the best one, and then
//! puts the model's weights and the optimizer's LRs and momenta back as they
//! were. The [`LrFinderResult`] suggests an LR by Lightning's rule
//! ([`LrFinderResult::suggestion`]: the steepest descent of the smoothed loss)
//! or fastai's ([`LrFinderResult::suggestion_valley`]: the longest valley).
//!
//! ```
//! use tch::{nn, nn::Module, Device, Kind, Tensor};
//! use tch_lr::lr_finder::LrFinder;
//! use tch_lr::Optim;
//!
//! let vs = nn::VarStore::new(Device::Cpu);
//! let net = nn::linear(vs.root(), 8, 1, Default::default());
//! let mut opt = Optim::new(nn::Sgd { momentum: 0.9, ..Default::default() }, &vs, 0.01)?;
//! let (x, y) = (Tensor::randn([256, 8], (Kind::Float, Device::Cpu)), Tensor::randn([256, 1], (Kind::Float, Device::Cpu)));
//! // lr_find(min_lr=1e-6, max_lr=1, num_training=50)
//! let found = LrFinder::new(1e-6, 1.0).num_steps(50).run(&mut opt, &vs, |step| {
//!     let i = (step as i64 % 8) * 32;
//!     net.forward(&x.narrow(0, i, 32)).mse_loss(&y.narrow(0, i, 32), tch::Reduction::Mean)
//! })?;
//! if let Some(s) = found.suggestion() {
//!     println!("suggested lr: {} (step {})", s.lr, s.index);
//! }
//! assert_eq!(opt.groups().lrs(), [0.01]); // the optimizer's LR is back
//! # Ok::<(), tch_lr::Error>(())
//! ```
//!
//! ## What is restored, and what is not
//! Every variable of the `VarStore` (trainable or not: batch-norm running
//! statistics too) is copied before the test and copied back after it, bit for
//! bit, and the optimizer's groups ([`ParamGroups`](crate::groups::ParamGroups): LRs,
//! momenta, weight decays, the scheduler keys) are written back into libtorch,
//! also when the test ends in an error. The optimizer's own state (SGD's
//! momentum buffers, Adam's moments and step counts) is saved before and
//! loaded after the test for an optimizer built by
//! [`Optim::owned`](crate::Optim::owned), which is then exactly as before.
//! tch's `nn::Optimizer` ([`Optim::new`](crate::Optim::new),
//! [`Optim::from_tch`](crate::Optim::from_tch)) exposes no state, so its
//! buffers keep what the test's batches put there: build a fresh optimizer for
//! the training run that follows, or accept a first few updates shaped by the
//! test's gradients.
//!
//! ## Differences from Lightning
//! - The LR of step `k` of `n` is `start_lr · (end_lr / start_lr)^(k / (n − 1))`
//!   (linear: `start_lr + k / (n − 1) · (end_lr − start_lr)`): it starts at
//!   `start_lr` and ends at `end_lr`. Lightning's `_ExponentialLR` gives its
//!   first batch `min_lr` and its `k`-th `(k + 1) / n` of the way, skipping
//!   `1 / n`.
//! - The bias correction divides the `t`-th average (from 1) by `1 − β^t`, as
//!   fastai's `AvgSmoothLoss` does; Lightning's callback reads `global_step`,
//!   which is already 1 at the first batch, and divides by `1 − β^(t+1)` (its
//!   first smoothed loss is about half the loss). The arithmetic is otherwise
//!   Lightning's: `avg = β · avg + (1 − β) · loss`.
//! - The early stop is Lightning's rule (from the second batch on, a smoothed
//!   loss above `early_stop_threshold` times the best so far ends the test, and
//!   its row is kept); a NaN or infinite loss also ends it (Lightning would go
//!   on: NaN is never above the threshold).

use std::collections::HashMap;

use tch::nn::VarStore;
use tch::Tensor;

use crate::error::{Error, Result};
use crate::optim::Optim;

/// How the LR rises from `start_lr` to `end_lr` (Lightning's `mode`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Mode {
    /// `start_lr · (end_lr / start_lr)^r` (`mode='exponential'`, the default).
    #[default]
    Exponential,
    /// `start_lr + r · (end_lr − start_lr)` (`mode='linear'`).
    Linear,
}

/// The LR range test's settings, in the style of tch's optimizer configs
/// (public fields, and builder methods of the same names). Defaults are
/// Lightning's `lr_find(min_lr=1e-8, max_lr=1, num_training=100,
/// mode='exponential', early_stop_threshold=4.0)` and its callback's smoothing
/// `beta=0.98`. [`LrFinder::check`] says whether they make a test.
#[derive(Clone, Debug, PartialEq)]
pub struct LrFinder {
    /// The LR of the first step (Lightning's `min_lr`).
    pub start_lr: f64,
    /// The LR of the last step (Lightning's `max_lr`).
    pub end_lr: f64,
    /// The number of steps (Lightning's `num_training`, fastai's `num_it`); at least 2.
    pub num_steps: usize,
    /// How the LR rises.
    pub mode: Mode,
    /// Stop when the smoothed loss exceeds this many times the best one (`None`: never).
    pub early_stop_threshold: Option<f64>,
    /// The smoothing factor of the loss, in `[0, 1)` (0: no smoothing).
    pub beta: f64,
}

impl Default for LrFinder {
    fn default() -> Self {
        LrFinder::new(Self::START_LR, Self::END_LR)
    }
}

impl LrFinder {
    /// Lightning's `min_lr` default.
    pub const START_LR: f64 = 1e-8;
    /// Lightning's `max_lr` default.
    pub const END_LR: f64 = 1.0;
    /// Lightning's `num_training` default.
    pub const NUM_STEPS: usize = 100;

    /// A range test from `start_lr` to `end_lr` (Lightning's `min_lr`,
    /// `max_lr`), with the other settings at their defaults.
    pub fn new(start_lr: f64, end_lr: f64) -> Self {
        LrFinder {
            start_lr,
            end_lr,
            num_steps: Self::NUM_STEPS,
            mode: Mode::Exponential,
            early_stop_threshold: Some(4.0),
            beta: 0.98,
        }
    }

    /// The number of batches (Lightning's `num_training`, fastai's `num_it`); at least 2.
    pub fn num_steps(mut self, num_steps: usize) -> Self {
        self.num_steps = num_steps;
        self
    }

    /// How the LR rises.
    pub fn mode(mut self, mode: Mode) -> Self {
        self.mode = mode;
        self
    }

    /// Stop when the smoothed loss exceeds this many times the best one
    /// (`None`: never stop early).
    pub fn early_stop_threshold(mut self, threshold: Option<f64>) -> Self {
        self.early_stop_threshold = threshold;
        self
    }

    /// The smoothing factor of the loss, in `[0, 1)` (0: no smoothing).
    pub fn beta(mut self, beta: f64) -> Self {
        self.beta = beta;
        self
    }

    /// The LR of step `step` (from 0): `start_lr` at 0, `end_lr` at `num_steps − 1`.
    pub fn lr_at(&self, step: usize) -> f64 {
        let r = step as f64 / (self.num_steps.max(2) - 1) as f64;
        match self.mode {
            Mode::Exponential => self.start_lr * (self.end_lr / self.start_lr).powf(r),
            Mode::Linear => self.start_lr + r * (self.end_lr - self.start_lr),
        }
    }

    /// Checks the settings.
    ///
    /// # Errors
    /// [`Error::Value`] naming the first bad setting: an LR that is not finite
    /// (or, for the exponential mode, not positive; for the linear one,
    /// negative), `start_lr ≥ end_lr`, fewer than 2 steps, a threshold that
    /// is not a positive number, a `beta` outside `[0, 1)`.
    pub fn check(&self) -> Result<()> {
        let bad = |m: String| Err(Error::Value(format!("LR range test: {m}")));
        for (name, lr) in [("start_lr", self.start_lr), ("end_lr", self.end_lr)] {
            if !lr.is_finite() {
                return bad(format!("{name} must be a finite number, got {lr}"));
            }
            match self.mode {
                Mode::Exponential if lr <= 0.0 => {
                    return bad(format!("{name} must be positive for the exponential mode, got {lr}"))
                }
                Mode::Linear if lr < 0.0 => return bad(format!("{name} must not be negative, got {lr}")),
                _ => {}
            }
        }
        if self.start_lr >= self.end_lr {
            return bad(format!("start_lr ({}) must be below end_lr ({})", self.start_lr, self.end_lr));
        }
        if self.num_steps < 2 {
            return bad(format!("num_steps must be at least 2, got {}", self.num_steps));
        }
        if let Some(t) = self.early_stop_threshold
            && !(t.is_finite() && t > 0.0)
        {
            return bad(format!("early_stop_threshold must be a positive number, got {t}"));
        }
        if !(0.0..1.0).contains(&self.beta) {
            return bad(format!("beta must be in [0, 1), got {}", self.beta));
        }
        Ok(())
    }

    /// Runs the test: for each step, sets every group's LR to
    /// [`lr_at(step)`](Self::lr_at), calls `loss(step)` for one batch's loss
    /// (a tensor with one element, computed with gradients), and takes an
    /// optimizer step on it. Afterwards, whatever happened, `vs`'s variables,
    /// `optim`'s groups and (for [`Optim::owned`]) its state are restored
    /// and the gradients zeroed (see the module docs).
    ///
    /// # Errors
    /// [`Error::Value`] for bad settings (nothing is run) or a loss with more
    /// than one element, [`Error::Tch`] when libtorch fails (a loss without
    /// gradient, say), after the restore.
    pub fn run<F>(&self, optim: &mut Optim, vs: &VarStore, mut loss: F) -> Result<LrFinderResult>
    where
        F: FnMut(usize) -> Tensor,
    {
        self.check()?;
        let groups = optim.groups().clone();
        let state = if optim.saves_state() { Some(optim.state()?) } else { None };
        let weights = Snapshot::take(vs);
        let outcome = self.steps(optim, &mut loss);
        // Put everything back, also after an error.
        let restored = weights.restore();
        *optim.groups_mut() = groups;
        let synced = optim.sync();
        let reloaded = state.map_or(Ok(()), |s| optim.load_state(&s));
        optim.zero_grad();
        let result = outcome?;
        restored?;
        synced?;
        reloaded?;
        Ok(result)
    }

    fn steps(&self, optim: &mut Optim, loss: &mut dyn FnMut(usize) -> Tensor) -> Result<LrFinderResult> {
        let mut found = LrFinderResult {
            lrs: Vec::with_capacity(self.num_steps),
            losses: Vec::with_capacity(self.num_steps),
            smoothed_losses: Vec::with_capacity(self.num_steps),
            num_steps: self.num_steps,
            stopped_early: false,
        };
        let (mut avg, mut best) = (0.0, f64::INFINITY);
        for step in 0..self.num_steps {
            let lr = self.lr_at(step);
            optim.groups_mut().iter_mut().for_each(|g| g.lr = lr);
            optim.sync()?;
            let value = train_step(optim, &loss(step), step)?;
            // Lightning's _LRCallback.on_train_batch_end, with t counted from 1.
            let t = (step + 1) as f64;
            avg = self.beta * avg + (1.0 - self.beta) * value;
            let smoothed = avg / (1.0 - self.beta.powf(t));
            found.lrs.push(lr);
            found.losses.push(value);
            found.smoothed_losses.push(smoothed);
            let diverged = self.early_stop_threshold.is_some_and(|th| step > 0 && smoothed > th * best);
            if diverged || !value.is_finite() {
                found.stopped_early = step + 1 < self.num_steps;
                break;
            }
            if smoothed < best || step == 0 {
                best = smoothed;
            }
        }
        Ok(found)
    }
}

/// One optimizer step on `loss`; returns its value. A non-finite loss is
/// returned without a step.
fn train_step(optim: &mut Optim, loss: &Tensor, step: usize) -> Result<f64> {
    if loss.numel() != 1 {
        return Err(Error::Value(format!(
            "LR range test: the loss of step {step} has shape {:?}; it must be one number",
            loss.size()
        )));
    }
    let value = loss.f_double_value(&vec![0; loss.dim()])?;
    if value.is_finite() {
        optim.zero_grad();
        loss.f_backward()?;
        optim.step();
    }
    Ok(value)
}

/// A copy of every variable of a `VarStore`, to put back.
struct Snapshot(Vec<(Tensor, Tensor)>);

impl Snapshot {
    fn take(vs: &VarStore) -> Snapshot {
        let vars: HashMap<String, Tensor> = vs.variables();
        Snapshot(tch::no_grad(|| vars.into_values().map(|v| (v.detach().copy(), v)).collect()))
    }

    fn restore(&self) -> Result<()> {
        tch::no_grad(|| {
            self.0.iter().try_for_each(|(saved, var)| var.shallow_clone().f_copy_(saved).map_err(Error::from))
        })
    }
}

/// What the range test recorded: one entry per step run, in order (the LR
/// rising), and the suggestions drawn from it. Build one from a recorded curve
/// to apply the suggestion rules to it.
#[derive(Clone, Debug, PartialEq)]
pub struct LrFinderResult {
    /// The LR of each step (Lightning's `results["lr"]`).
    pub lrs: Vec<f64>,
    /// Each step's loss, as the closure returned it.
    pub losses: Vec<f64>,
    /// The smoothed losses (Lightning's `results["loss"]`, fastai's
    /// `recorder.losses`): what the suggestion rules read.
    pub smoothed_losses: Vec<f64>,
    /// The number of steps planned (fastai's `num_it`, which its rule uses).
    pub num_steps: usize,
    /// Whether the test stopped before `num_steps`, on a diverging or non-finite loss.
    pub stopped_early: bool,
}

/// A suggested LR: a step of the test.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Suggestion {
    /// The step (an index into [`LrFinderResult::lrs`]).
    pub index: usize,
    /// Its LR.
    pub lr: f64,
    /// Its smoothed loss.
    pub loss: f64,
}

impl LrFinderResult {
    /// Lightning's suggestion with its defaults, `suggestion(skip_begin=10, skip_end=1)`.
    pub fn suggestion(&self) -> Option<Suggestion> {
        self.suggestion_with(10, 1)
    }

    /// Lightning's `_LRFinder.suggestion(skip_begin, skip_end)`: the step where
    /// the smoothed loss falls fastest against the LR. Of the steps
    /// `[skip_begin:-skip_end]` (Python's slice: `skip_end = 0` selects none),
    /// those whose loss is finite in `float32`, the one where
    /// `torch.gradient(losses, spacing=[lrs])` is lowest (the first NaN, else
    /// the first minimum, as `torch.argmin`), computed in `float32` as
    /// `torch.tensor` makes it. `None` with fewer than 2 such steps.
    pub fn suggestion_with(&self, skip_begin: usize, skip_end: usize) -> Option<Suggestion> {
        let n = self.smoothed_losses.len().min(self.lrs.len());
        let (begin, end) = (skip_begin.min(n), if skip_end == 0 { 0 } else { n.saturating_sub(skip_end) });
        let kept: Vec<(usize, f32, f32)> = (begin..end.max(begin))
            .map(|i| (i, self.lrs[i] as f32, self.smoothed_losses[i] as f32))
            .filter(|&(_, _, loss)| loss.is_finite())
            .collect();
        if kept.len() < 2 {
            return None;
        }
        let lrs: Vec<f32> = kept.iter().map(|k| k.1).collect();
        let losses: Vec<f32> = kept.iter().map(|k| k.2).collect();
        let index = kept[argmin(&gradient(&losses, &lrs))].0;
        Some(self.at(index))
    }

    /// fastai's `lr_find(suggest_funcs=valley)`: of the steps
    /// `[num_steps // 10 : -5]`, cut before the first NaN loss, `valley`'s
    /// choice: two thirds and a half down the longest run of falling losses
    /// (compared in `float32`). fastai reports the LR rounded to `float32`;
    /// this is the LR the step ran with. `None` where fastai fails (nothing
    /// left to choose from).
    pub fn suggestion_valley(&self) -> Option<Suggestion> {
        let n = self.smoothed_losses.len().min(self.lrs.len());
        let begin = (self.num_steps / 10).min(n);
        let end = n.saturating_sub(5).max(begin);
        let losses: Vec<f32> =
            self.smoothed_losses[begin..end].iter().map(|&l| l as f32).take_while(|l| !l.is_nan()).collect();
        valley(&losses).map(|i| self.at(begin + i))
    }

    fn at(&self, index: usize) -> Suggestion {
        Suggestion { index, lr: self.lrs[index], loss: self.smoothed_losses[index] }
    }
}

/// `torch.gradient(f, spacing=[x])[0]` for 1-D `float32` tensors with
/// `edge_order=1`, operation for operation as ATen computes it: second-order
/// differences over uneven spacing inside, one-sided ones at the ends.
/// `f.len() == x.len() >= 2`.
fn gradient(f: &[f32], x: &[f32]) -> Vec<f32> {
    let n = f.len();
    let dx: Vec<f32> = x.windows(2).map(|w| w[1] - w[0]).collect();
    let mut g = Vec::with_capacity(n);
    g.push((f[1] - f[0]) / dx[0]);
    for i in 1..n - 1 {
        let (d1, d2) = (dx[i - 1], dx[i]);
        let a = -d2 / (d1 * (d1 + d2));
        let b = (d2 - d1) / (d1 * d2);
        let c = d1 / (d2 * (d1 + d2));
        g.push(a * f[i - 1] + b * f[i] + c * f[i + 1]);
    }
    g.push((f[n - 1] - f[n - 2]) / dx[n - 2]);
    g
}

/// `torch.argmin` of a `float32` vector: the first NaN, else the first minimum.
fn argmin(v: &[f32]) -> usize {
    if let Some(i) = v.iter().position(|x| x.is_nan()) {
        return i;
    }
    let mut best = 0;
    for (i, x) in v.iter().enumerate() {
        if *x < v[best] {
            best = i;
        }
    }
    best
}

/// fastai's `valley(lrs, losses, num_it)` (fastai 2.8, `fastai/callback/schedule.py`),
/// line for line: the index it picks in `losses`, Python's `-1` (the last)
/// included; `None` for no losses (fastai's `IndexError`).
fn valley(losses: &[f32]) -> Option<usize> {
    let n = losses.len();
    let (mut max_start, mut max_end) = (0i64, 0usize);
    let mut lds = vec![1i64; n];
    for i in 1..n {
        for j in 0..i {
            if losses[i] < losses[j] && lds[i] < lds[j] + 1 {
                lds[i] = lds[j] + 1;
            }
            if lds[max_end] < lds[i] {
                max_end = i;
                max_start = max_end as i64 - lds[max_end];
            }
        }
    }
    let sections = (max_end as i64 - max_start) as f64 / 3.0;
    let idx = max_start + sections as i64 + (sections / 2.0) as i64;
    // Python's indexing: -1 is the last.
    let idx = if idx < 0 { idx + n as i64 } else { idx };
    usize::try_from(idx).ok().filter(|&i| i < n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lr_at_runs_from_start_to_end() {
        let f = LrFinder::new(1e-6, 1.0).num_steps(7);
        assert_eq!(f.lr_at(0), 1e-6);
        assert!((f.lr_at(6) - 1.0).abs() < 1e-15);
        assert!((1..7).all(|k| f.lr_at(k) > f.lr_at(k - 1)));
        let l = f.clone().mode(Mode::Linear);
        assert_eq!(l.lr_at(0), 1e-6);
        assert_eq!(l.lr_at(6), 1.0);
    }

    #[test]
    fn bad_settings_are_one_line_errors() {
        let cases = [
            (LrFinder::new(0.0, 1.0), "start_lr must be positive"),
            (LrFinder::new(1.0, 0.1), "must be below end_lr"),
            (LrFinder::new(1e-3, f64::INFINITY), "end_lr must be a finite number"),
            (LrFinder::new(1e-3, 1.0).num_steps(1), "num_steps must be at least 2"),
            (LrFinder::new(1e-3, 1.0).early_stop_threshold(Some(f64::NAN)), "early_stop_threshold"),
            (LrFinder::new(1e-3, 1.0).beta(1.0), "beta must be in [0, 1)"),
            (LrFinder::new(-1.0, 1.0).mode(Mode::Linear), "start_lr must not be negative"),
        ];
        for (f, want) in cases {
            let e = f.check().unwrap_err().to_string();
            assert!(e.contains(want) && !e.contains('\n'), "{e}");
        }
        assert!(LrFinder::new(0.0, 1.0).mode(Mode::Linear).check().is_ok());
    }
}
