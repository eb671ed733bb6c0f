//! timm's `WSDLRScheduler` (`timm/scheduler/wsd_lr.py`): warmup, a stable
//! phase, and a decay to `lr_min` over the last `decay_t` of `t_initial`
//! (MiniCPM, <https://arxiv.org/abs/2404.06395>; the 1-sqrt cooldown of
//! <https://arxiv.org/abs/2405.18392>).

use std::f64::consts::PI;

use serde::{Deserialize, Serialize};

use super::math::{cos, div, pow, py_max, py_min};
use super::scheduler::TimmWarmupDict;
use super::scheduler::{TimmNoise, TimmPolicy, TimmScheduler, TimmWarmup};
use crate::config::kwargs::{kwargs, serde_kwargs, Diag};
use crate::error::{Error, Result};
use crate::schedulers::py_float;
use crate::schedulers::registry::ScheduleConfig;
use crate::schedulers::schedule::Schedule;
use crate::schedulers::torch_state::TorchArgs;

/// `WSDLRScheduler`'s stable phase function of `t_s`, the time since the end
/// of the warmup; 1 at `t_s = 0`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StableFn {
    /// `constant`: 1, the WSD schedule.
    Constant,
    /// `rsqrt`: `(1 + t_s / stable_timescale) ^ -0.5`.
    Rsqrt,
    /// `power`: `(1 + t_s / stable_timescale) ^ -stable_power`.
    Power,
}

/// `WSDLRScheduler`'s decay function of the decay progress `frac` in `[0, 1]`,
/// from 1 to 0. (timm's callable `decay_fn` has no YAML form.)
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum DecayFn {
    /// `linear`: `1 - frac`.
    #[serde(rename = "linear")]
    Linear,
    /// `1-sqrt`: `1 - sqrt(frac)`.
    #[serde(rename = "1-sqrt")]
    OneMinusSqrt,
    /// `cosine`: `0.5 * (1 + cos(pi * frac))`.
    #[serde(rename = "cosine")]
    Cosine,
    /// `power`: `1 - frac ^ decay_power`.
    #[serde(rename = "power")]
    Power,
    /// `exp`: `(decay_ratio ^ frac - decay_ratio) / (1 - decay_ratio)`.
    #[serde(rename = "exp")]
    Exp,
}

serde_kwargs! {
    StableFn => "str",
    DecayFn => "str",
}

kwargs! {
    /// `WSDLRScheduler`'s keyword arguments: `WSDLRScheduler(optimizer,
    /// t_initial, decay_t, lr_min=0., stable_fn='constant',
    /// stable_timescale=None, stable_power=0.5, decay_fn='1-sqrt',
    /// decay_power=0.5, decay_ratio=0.1, warmup_t=0, warmup_lr_init=0.,
    /// t_in_epochs=True, noise_range_t=None, noise_pct=0.67, noise_std=1.0,
    /// noise_seed=42)`. (timm's `initialize` is not one: tch-lr always
    /// initializes, as timm does by default.)
    pub struct WSDLRSchedulerConfig for WSDLRScheduler {
        /// The length of the stable and decay phases, in `t` (the warmup comes before).
        t_initial: i64,
        /// The length of the decay phase: the last `decay_t` of `t_initial`.
        decay_t: i64,
        /// The LR at the end of the decay, held after it.
        lr_min: f64 = 0.0,
        /// The stable phase function.
        stable_fn: StableFn = StableFn::Constant,
        /// The timescale of `rsqrt` and `power` (`None`: `warmup_t`).
        stable_timescale: Option<f64> = None,
        /// The exponent of the `power` stable function.
        stable_power: f64 = 0.5,
        /// The decay phase function.
        decay_fn: DecayFn = DecayFn::OneMinusSqrt,
        /// The exponent of the `power` decay function.
        decay_power: f64 = 0.5,
        /// The final fraction of the `exp` decay function, before normalization.
        decay_ratio: f64 = 0.1,
        /// `warmup_t`, `warmup_lr_init` ([`TimmWarmup`]).
        ..warmup: TimmWarmup,
        /// `t_in_epochs`, `noise_range_t`, `noise_pct`, `noise_std`, `noise_seed` ([`TimmNoise`]).
        ..noise: TimmNoise,
    }
}

impl ScheduleConfig for WSDLRSchedulerConfig {
    const NAME: &'static str = "timm.WSDLRScheduler";
    const EXAMPLE: &'static str = "{name: timm.WSDLRScheduler, t_initial: 10, decay_t: 4, lr_min: 0.001, \
                                   decay_fn: cosine, warmup_t: 2, warmup_lr_init: 0.0001}";

    fn schedule(&self) -> Result<Box<dyn Schedule>, Diag> {
        Ok(WSDLRScheduler::from_args(self.clone()).boxed())
    }
}

/// timm's `WSDLRScheduler` (warmup-stable-decay): a linear warmup over
/// `warmup_t`, a stable phase, then a decay to `lr_min` over the last
/// `decay_t` of `t_initial`; `lr_min` after `warmup_t + t_initial`.
///
/// `lr = lr_min + (max(base * stable(t_s), lr_min) - lr_min) * decay(frac)`,
/// `t_s = t - warmup_t`, `frac` the decay's progress. As timm notes, `lr_min`
/// is reached one step past the last scheduled one.
///
/// ```
/// # use tch::{nn, Device};
/// use tch_lr::timm::{DecayFn, WSDLRScheduler};
/// use tch_lr::Optim;
/// # let vs = nn::VarStore::new(Device::Cpu);
/// # let _w = vs.root().zeros("w", &[1]);
/// let opt = Optim::new(nn::AdamW::default(), &vs, 1e-3)?;
/// // WSDLRScheduler(optimizer, t_initial=1000, decay_t=200, decay_fn='linear',
/// //                warmup_t=100, t_in_epochs=False), stepped per update
/// let mut sched = WSDLRScheduler::new(1000, 200)
///     .decay_fn(DecayFn::Linear)
///     .warmup_t(100)
///     .t_in_epochs(false)
///     .build(opt)?;
/// for _update in 0..1000 {
///     // one optimizer update, then timm's scheduler.step_update(num_updates):
///     sched.step()?;
/// }
/// assert!((sched.last_lr()[0] - 5e-4).abs() < 1e-15); // half way through the decay
/// # Ok::<(), tch_lr::Error>(())
/// ```
///
/// # Errors
/// [`Error::Value`] with timm's messages for `t_initial <= 0`, `decay_t`
/// outside `(0, t_initial]`, `lr_min < 0`, `decay_ratio` outside `(0, 1)`,
/// `decay_power <= 0`, `stable_power <= 0`, and a non-positive
/// `stable_timescale` (or `warmup_t`, its default) for `rsqrt` and `power`.
pub type WSDLRScheduler = TimmScheduler<WSDLRSchedulerConfig>;

impl WSDLRSchedulerConfig {
    /// The timescale of `rsqrt` and `power`: `stable_timescale`, else `warmup_t`.
    fn timescale(&self) -> f64 {
        self.stable_timescale.unwrap_or(self.warmup.warmup_t as f64)
    }
    /// `_decay(frac)`.
    fn decay(&self, frac: f64) -> Result<f64> {
        Ok(match self.decay_fn {
            DecayFn::Linear => 1.0 - frac,
            DecayFn::OneMinusSqrt => 1.0 - frac.sqrt(),
            DecayFn::Cosine => 0.5 * (1.0 + cos(PI * frac)?),
            DecayFn::Power => 1.0 - pow(frac, self.decay_power)?,
            DecayFn::Exp => {
                let r = self.decay_ratio;
                div(pow(r, frac)? - r, 1.0 - r)?
            }
        })
    }
}

/// `WSDLRScheduler.state_dict()`'s own attributes (timm 1.0.31).
#[derive(Serialize, Deserialize)]
struct WSDLRSchedulerDict {
    t_initial: i64,
    decay_t: i64,
    lr_min: f64,
    stable_fn: StableFn,
    /// Resolved as timm's constructor resolves it: `warmup_t` for a
    /// stable function other than `constant` when it is not given.
    stable_timescale: Option<f64>,
    stable_power: f64,
    decay_fn: DecayFn,
    decay_power: f64,
    decay_ratio: f64,
    #[serde(flatten)]
    warmup: TimmWarmupDict,
}

impl TimmPolicy for WSDLRSchedulerConfig {
    const NAME: &'static str = <Self as ScheduleConfig>::NAME;
    type Cache = ();

    fn torch_args(&self) -> Result<TorchArgs> {
        TorchArgs::of(&WSDLRSchedulerDict {
            t_initial: self.t_initial,
            decay_t: self.decay_t,
            lr_min: self.lr_min,
            stable_fn: self.stable_fn,
            stable_timescale: match self.stable_fn {
                StableFn::Constant => self.stable_timescale,
                StableFn::Rsqrt | StableFn::Power => self.stable_timescale.or(Some(self.warmup.warmup_t as f64)),
            },
            stable_power: self.stable_power,
            decay_fn: self.decay_fn,
            decay_power: self.decay_power,
            decay_ratio: self.decay_ratio,
            warmup: (&self.warmup).into(),
        })
    }

    fn check(&self) -> Result<()> {
        let (t_initial, decay_t) = (self.t_initial, self.decay_t);
        if t_initial <= 0 {
            return Err(Error::value(format!("Invalid t_initial ({t_initial}), must be > 0.")).for_arg("t_initial"));
        }
        if !(0 < decay_t && decay_t <= t_initial) {
            return Err(Error::value(format!(
                "Invalid decay_t ({decay_t}), must be in (0, t_initial] w/ t_initial={t_initial}."
            ))
            .for_arg("decay_t"));
        }
        if self.lr_min < 0.0 {
            return Err(
                Error::value(format!("Invalid lr_min ({}), must be >= 0.", py_float(self.lr_min))).for_arg("lr_min")
            );
        }
        if !(0.0 < self.decay_ratio && self.decay_ratio < 1.0) {
            return Err(Error::value(format!(
                "Invalid decay_ratio ({}), must be in (0, 1).",
                py_float(self.decay_ratio)
            ))
            .for_arg("decay_ratio"));
        }
        if self.decay_power <= 0.0 {
            return Err(Error::value(format!("Invalid decay_power ({}), must be > 0.", py_float(self.decay_power)))
                .for_arg("decay_power"));
        }
        if self.stable_power <= 0.0 {
            return Err(Error::value(format!("Invalid stable_power ({}), must be > 0.", py_float(self.stable_power)))
                .for_arg("stable_power"));
        }
        if self.stable_fn != StableFn::Constant && self.timescale() <= 0.0 {
            let (f, w) = (self.stable_fn, self.warmup.warmup_t);
            let f = if f == StableFn::Rsqrt { "rsqrt" } else { "power" };
            return Err(Error::value(format!(
                "stable_fn={f} requires a positive stable_timescale, it defaults to warmup_t ({w}), set it \
                 explicitly when there is no warmup."
            ))
            .for_arg("stable_timescale"));
        }
        Ok(())
    }

    fn get_lr(&self, _: &(), base_values: &[f64], t: i64, out: &mut [f64]) -> Result<()> {
        let t_s = i128::from(t) - i128::from(self.warmup.warmup_t);
        let stable = match self.stable_fn {
            StableFn::Constant => 1.0,
            f => {
                let power = if f == StableFn::Rsqrt { 0.5 } else { self.stable_power };
                pow(1.0 + div(t_s as f64, self.timescale())?, -power)?
            }
        };
        let lr_min = self.lr_min;
        for (o, v) in out.iter_mut().zip(base_values) {
            *o = py_max(v * stable, lr_min);
        }
        let t_decay = t_s - (i128::from(self.t_initial) - i128::from(self.decay_t));
        if t_decay <= 0 {
            return Ok(());
        }
        let decay = self.decay(py_min(div(t_decay as f64, self.decay_t as f64)?, 1.0))?;
        for o in out.iter_mut() {
            *o = lr_min + (*o - lr_min) * decay;
        }
        Ok(())
    }
}
