//! timm's `Scheduler` base class (`timm/scheduler/scheduler.py`): the
//! arguments and state every timm schedule shares ([`Base`]), the
//! constructor, the warmup, the noise and `step(t)`, written once for every
//! [`TimmPolicy`].

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use super::noise::Noise;
use crate::error::{Error, Result};
use crate::groups::ParamGroups;
use crate::schedulers::py_float;
use crate::schedulers::schedule::from_state;

/// timm's `Scheduler` attributes, and `t`, the explicit time tch-lr keeps for
/// the training loop.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub(crate) struct Base {
    /// `warmup_t`.
    pub warmup_t: i64,
    /// `warmup_lr_init`.
    pub warmup_lr_init: f64,
    /// `t_in_epochs`: which of timm's clocks the training loop should step
    /// (recorded only; `step(t)` and `step_update(t)` compute the same).
    pub t_in_epochs: bool,
    /// `noise_range_t`, `noise_pct`, `noise_std`, `noise_seed`.
    pub noise: Noise,
    /// The `t` of the last `step(t)` (0 after construction).
    pub t: i64,
    /// `base_values`: each group's `initial_lr`.
    pub base_values: Vec<f64>,
    /// `warmup_steps`: each group's LR increment per warmup step.
    pub warmup_steps: Vec<f64>,
    /// The LRs last written.
    pub last_lr: Vec<f64>,
    /// Scratch space for the new LRs, reused at every step (no allocation).
    #[serde(skip)]
    buf: Vec<f64>,
}

impl Base {
    /// The base-class arguments, before construction.
    pub fn new(warmup_t: i64, warmup_lr_init: f64, t_in_epochs: bool, noise: Noise) -> Self {
        Base {
            warmup_t,
            warmup_lr_init,
            t_in_epochs,
            noise,
            t: 0,
            base_values: Vec::new(),
            warmup_steps: Vec::new(),
            last_lr: Vec::new(),
            buf: Vec::new(),
        }
    }
}

/// A timm schedule: its constructor checks and its `_get_lr(t)` past the
/// warmup. The constructor, the warmup, the noise and the stepping come with
/// the trait (through [`timm_schedule!`]).
pub(crate) trait TimmPolicy: Sized + Serialize + DeserializeOwned {
    /// The config name, `timm.<Class>`.
    const NAME: &'static str;

    /// The base-class state.
    fn base(&self) -> &Base;

    /// The base-class state, mutable.
    fn base_mut(&mut self) -> &mut Base;

    /// The constructor's own checks (timm's `assert`s and `ValueError`s),
    /// after the base class's `__init__`.
    ///
    /// # Errors
    /// timm's constructor errors.
    fn check(&self) -> Result<()> {
        Ok(())
    }

    /// What each group's warmup climbs to from `warmup_lr_init`: the base
    /// values (`TanhLRScheduler` without `warmup_prefix`: `_get_lr(warmup_t)`).
    ///
    /// # Errors
    /// What `_get_lr` raises.
    fn warmup_targets(&self, out: &mut [f64]) -> Result<()> {
        out.copy_from_slice(&self.base().base_values);
        Ok(())
    }

    /// `_get_lr(t)` for `t >= warmup_t`.
    ///
    /// # Errors
    /// What Python raises there (`math domain error`, a division by zero, ...).
    fn get_lr(&self, t: i64, out: &mut [f64]) -> Result<()>;
}

/// The constructor: `setdefault('initial_lr')`, the base values written, the
/// class's checks, then the warmup steps and `warmup_lr_init` written.
pub(crate) fn init<P: TimmPolicy>(p: &mut P, groups: &mut ParamGroups) -> Result<()> {
    let base_values = groups.setdefault_initial_lr();
    for (g, &v) in groups.iter_mut().zip(&base_values) {
        g.lr = v;
    }
    let n = base_values.len();
    let b = p.base_mut();
    b.base_values = base_values;
    b.t = 0;
    b.buf = vec![0.0; n];
    p.check()?;
    let (warmup_t, init) = (p.base().warmup_t, p.base().warmup_lr_init);
    let steps = if warmup_t != 0 {
        let mut targets = vec![0.0; n];
        p.warmup_targets(&mut targets)?;
        for g in groups.iter_mut() {
            g.lr = init;
        }
        targets.iter().map(|v| (v - init) / warmup_t as f64).collect()
    } else {
        vec![1.0; n]
    };
    let b = p.base_mut();
    b.warmup_steps = steps;
    groups.copy_lrs_into(&mut b.last_lr);
    Ok(())
}

/// Writes what the constructor leaves in the optimizer (`t = 0`, no noise):
/// for `SequentialLR`, which restarts its first child this way.
pub(crate) fn initial_step<P: TimmPolicy>(p: &mut P, groups: &mut ParamGroups) {
    let b = p.base_mut();
    b.t = 0;
    for (g, &v) in groups.iter_mut().zip(&b.base_values) {
        g.lr = if b.warmup_t != 0 { b.warmup_lr_init } else { v };
    }
    groups.copy_lrs_into(&mut b.last_lr);
}

/// timm's `step(t)` (`step_update(t)` when not `t_in_epochs`): `_get_lr(t)`,
/// the noise where `t` is in `noise_range_t`, written into the groups.
pub(crate) fn step_at<P: TimmPolicy>(p: &mut P, groups: &mut ParamGroups, t: i64) -> Result<()> {
    p.base_mut().t = t;
    let mut buf = std::mem::take(&mut p.base_mut().buf);
    buf.resize(groups.len(), 0.0);
    let result = lrs_at(p, t, &mut buf);
    let b = p.base_mut();
    if result.is_ok() {
        for (g, &lr) in groups.iter_mut().zip(&buf) {
            g.lr = lr;
        }
        groups.copy_lrs_into(&mut b.last_lr);
    }
    b.buf = buf;
    result
}

/// `_get_values(t)` with `_add_noise`.
fn lrs_at<P: TimmPolicy>(p: &P, t: i64, out: &mut [f64]) -> Result<()> {
    let b = p.base();
    if t < b.warmup_t {
        for (o, s) in out.iter_mut().zip(&b.warmup_steps) {
            *o = b.warmup_lr_init + t as f64 * s;
        }
    } else {
        p.get_lr(t, out)?;
    }
    if b.noise.applies(t) {
        let noise = b.noise.sample(t)?;
        for o in out.iter_mut() {
            *o += *o * noise;
        }
    }
    Ok(())
}

/// `t + 1`, for `step()`.
pub(crate) fn next_t(t: i64) -> Result<i64> {
    t.checked_add(1).ok_or(Error::Overflow("t + 1"))
}

/// The `t` of `step_to(t)`: an integer `>= 0`.
pub(crate) fn explicit_t(t: f64) -> Result<i64> {
    if t >= 0.0 && t.fract() == 0.0 && t < 9_223_372_036_854_775_808.0 {
        Ok(t as i64)
    } else {
        Err(Error::value(format!("timm schedules step to an integer t >= 0, got {}", py_float(t))))
    }
}

/// `load_state_dict`: the loaded schedule replaces `p`.
pub(crate) fn load<P: TimmPolicy>(p: &mut P, state: serde_yaml::Value) -> Result<()> {
    let mut loaded: P = from_state(P::NAME, state)?;
    let b = loaded.base_mut();
    let n = b.base_values.len();
    if b.t < 0 || b.warmup_steps.len() != n || b.last_lr.len() != n {
        return Err(Error::State(format!("{}: a negative t or per-group lists of different lengths", P::NAME)));
    }
    // Size the scratch space now: a step must not allocate.
    b.buf = vec![0.0; n];
    *p = loaded;
    Ok(())
}

/// Implements `Protocol`, [`Schedule`](crate::Schedule)
/// and [`PlainStep`](crate::schedulers::PlainStep) for a [`TimmPolicy`].
macro_rules! timm_schedule {
    ($t:ty) => {
        impl $t {
            /// Binds the schedule to `optim`, as [`Schedule::build`](crate::Schedule::build).
            ///
            /// # Errors
            /// timm's constructor assertions and errors.
            pub fn build(self, optim: $crate::Optim) -> $crate::Result<$crate::Scheduler<Self>> {
                $crate::Scheduler::new(optim, self)
            }
        }

        impl $crate::schedulers::Protocol for $t {
            fn init(&mut self, groups: &mut $crate::groups::ParamGroups) -> $crate::Result<()> {
                $crate::schedulers::timm::scheduler::init(self, groups)
            }

            fn initial_step(&mut self, groups: &mut $crate::groups::ParamGroups) -> $crate::Result<()> {
                $crate::schedulers::timm::scheduler::initial_step(self, groups);
                Ok(())
            }

            /// timm's `step(t + 1)`.
            fn step(&mut self, groups: &mut $crate::groups::ParamGroups) -> $crate::Result<()> {
                use $crate::schedulers::timm::scheduler::{next_t, step_at, TimmPolicy as _};
                step_at(self, groups, next_t(self.base().t)?)
            }

            /// timm's `step(epoch)`.
            fn update_lr(&mut self, groups: &mut $crate::groups::ParamGroups, epoch: i64) -> $crate::Result<()> {
                $crate::schedulers::timm::scheduler::step_at(self, groups, epoch)
            }

            fn undo(&mut self) {
                use $crate::schedulers::timm::scheduler::TimmPolicy as _;
                self.base_mut().t -= 1;
            }

            /// timm's stateless `step(t)` at an explicit integer `t >= 0`.
            fn step_epoch(&mut self, groups: &mut $crate::groups::ParamGroups, t: f64) -> $crate::Result<()> {
                use $crate::schedulers::timm::scheduler::{explicit_t, step_at};
                step_at(self, groups, explicit_t(t)?)
            }
        }

        impl $crate::schedulers::Schedule for $t {
            fn name(&self) -> &'static str {
                <$t as $crate::schedulers::timm::scheduler::TimmPolicy>::NAME
            }

            fn last_lr(&self) -> &[f64] {
                use $crate::schedulers::timm::scheduler::TimmPolicy as _;
                &self.base().last_lr
            }

            /// `t`: the argument of the last `step(t)`, 0 after construction.
            fn last_epoch(&self) -> i64 {
                use $crate::schedulers::timm::scheduler::TimmPolicy as _;
                self.base().t
            }

            fn state(&self) -> $crate::Result<serde_yaml::Value> {
                $crate::schedulers::schedule::to_state(self)
            }

            fn load_state(&mut self, state: serde_yaml::Value) -> $crate::Result<()> {
                $crate::schedulers::timm::scheduler::load(self, state)
            }
        }

        impl $crate::schedulers::PlainStep for $t {}
    };
}
pub(crate) use timm_schedule;

/// The base-class arguments of a timm config (`warmup_t`, `warmup_lr_init`,
/// `t_in_epochs`, `noise_*`) as a [`Base`]: `base_of!(defaults Config)` for
/// the defaults, `base_of!(config)` for a config's values.
macro_rules! base_of {
    (defaults $c:ident) => {
        $crate::schedulers::timm::scheduler::Base::new(
            $c::warmup_t,
            $c::warmup_lr_init,
            $c::t_in_epochs,
            $crate::schedulers::timm::noise::Noise {
                range: $c::noise_range_t,
                pct: $c::noise_pct,
                std: $c::noise_std,
                seed: $c::noise_seed,
            },
        )
    };
    ($c:expr) => {
        $crate::schedulers::timm::scheduler::Base::new(
            $c.warmup_t,
            $c.warmup_lr_init,
            $c.t_in_epochs,
            $crate::schedulers::timm::noise::Noise {
                range: $c.noise_range_t,
                pct: $c.noise_pct,
                std: $c.noise_std,
                seed: $c.noise_seed,
            },
        )
    };
}
pub(crate) use base_of;

/// The [`Cycles`](super::math::Cycles) of a cyclic schedule (cosine, tanh,
/// poly): from its config `c` (`cycles_of!(c)`), or from its config type's
/// defaults with the given `t_initial` (`cycles_of!(defaults C, t_initial)`).
macro_rules! cycles_of {
    (defaults $c:ident, $t_initial:expr) => {
        $crate::schedulers::timm::math::Cycles {
            t_initial: $t_initial,
            lr_min: $c::lr_min,
            cycle_mul: $c::cycle_mul,
            cycle_decay: $c::cycle_decay,
            cycle_limit: $c::cycle_limit,
            warmup_prefix: $c::warmup_prefix,
        }
    };
    ($c:expr) => {
        $crate::schedulers::timm::math::Cycles {
            t_initial: $c.t_initial,
            lr_min: $c.lr_min,
            cycle_mul: $c.cycle_mul,
            cycle_decay: $c.cycle_decay,
            cycle_limit: $c.cycle_limit,
            warmup_prefix: $c.warmup_prefix,
        }
    };
}
pub(crate) use cycles_of;

/// The builder methods of the base-class arguments, naming the config struct
/// that holds their defaults, and `is_t_in_epochs()`.
macro_rules! base_setters {
    ($config:ident) => {
        #[doc = concat!("The warmup length in `t` (default `", stringify!($config), "::warmup_t`): the LR climbs linearly from `warmup_lr_init`.")]
        pub fn warmup_t(mut self, warmup_t: i64) -> Self {
            self.base.warmup_t = warmup_t;
            self
        }

        #[doc = concat!("The LR at `t = 0` of the warmup (default `", stringify!($config), "::warmup_lr_init`).")]
        pub fn warmup_lr_init(mut self, lr: f64) -> Self {
            self.base.warmup_lr_init = lr;
            self
        }

        #[doc = concat!("Whether `t` counts epochs, timm's `step(epoch)`, or optimizer updates, its `step_update(num_updates)` (default `", stringify!($config), "::t_in_epochs`). Both compute the same LR at the same `t`: the flag tells the training loop which clock to step by ([`is_t_in_epochs`](Self::is_t_in_epochs)).")]
        pub fn t_in_epochs(mut self, on: bool) -> Self {
            self.base.t_in_epochs = on;
            self
        }

        /// Whether `t` counts epochs (step once per epoch) or optimizer
        /// updates (step once per batch): timm's `t_in_epochs`.
        pub fn is_t_in_epochs(&self) -> bool {
            self.base.t_in_epochs
        }

        #[doc = concat!("Where the LR gets noise (default `", stringify!($config), "::noise_range_t`, none): from `t0` on (`t0`), or for `t0 <= t < t1` (`[t0, t1]`). At a noisy `t` the LR becomes `lr + lr * noise`, `noise` drawn as timm draws it (a generator seeded with `noise_seed + t`, `randn * noise_std` until `|noise| < noise_pct`).")]
        pub fn noise_range_t(mut self, range: impl Into<$crate::schedulers::timm::NoiseRange>) -> Self {
            self.base.noise.range = Some(range.into());
            self
        }

        #[doc = concat!("The noise's bound, relative to the LR (default `", stringify!($config), "::noise_pct`).")]
        pub fn noise_pct(mut self, pct: f64) -> Self {
            self.base.noise.pct = pct;
            self
        }

        #[doc = concat!("The noise's standard deviation before the bound (default `", stringify!($config), "::noise_std`).")]
        pub fn noise_std(mut self, std: f64) -> Self {
            self.base.noise.std = std;
            self
        }

        #[doc = concat!("The noise seed; step `t` uses `noise_seed + t` (default `", stringify!($config), "::noise_seed`).")]
        pub fn noise_seed(mut self, seed: i64) -> Self {
            self.base.noise.seed = seed;
            self
        }
    };
}
pub(crate) use base_setters;

/// The builder methods of the cyclic schedules' arguments ([`Cycles`](super::math::Cycles)
/// in a field `cycles`), naming the config struct that holds their defaults.
macro_rules! cycle_setters {
    ($config:ident) => {
        #[doc = concat!("The LR the schedule ends at, and holds after `cycle_limit` cycles (default `", stringify!($config), "::lr_min`).")]
        pub fn lr_min(mut self, lr_min: f64) -> Self {
            self.cycles.lr_min = lr_min;
            self
        }

        #[doc = concat!("The factor by which each cycle is longer than the last (default `", stringify!($config), "::cycle_mul`).")]
        pub fn cycle_mul(mut self, mul: f64) -> Self {
            self.cycles.cycle_mul = mul;
            self
        }

        #[doc = concat!("The factor by which each cycle's peak is lower than the last's (default `", stringify!($config), "::cycle_decay`).")]
        pub fn cycle_decay(mut self, decay: f64) -> Self {
            self.cycles.cycle_decay = decay;
            self
        }

        #[doc = concat!("The number of cycles, after which the LR stays at `lr_min` (default `", stringify!($config), "::cycle_limit`).")]
        pub fn cycle_limit(mut self, limit: i64) -> Self {
            self.cycles.cycle_limit = limit;
            self
        }

        #[doc = concat!("Whether the cycles start after the warmup (`t - warmup_t`) or at `t = 0`, overlapping it (default `", stringify!($config), "::warmup_prefix`). Without it, the warmup climbs towards the base LR while the cycle has already begun, and never reaches it.")]
        pub fn warmup_prefix(mut self, on: bool) -> Self {
            self.cycles.warmup_prefix = on;
            self
        }
    };
}
pub(crate) use cycle_setters;
