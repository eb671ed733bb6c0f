//! timm's `Scheduler` base class (`timm/scheduler/scheduler.py`), written
//! once: [`TimmScheduler<P>`] holds what every timm schedule keeps (the base
//! values, the warmup steps, the `t` of the last step) around a
//! [`TimmPolicy`], the class's keyword arguments and `_get_lr(t)`. The
//! constructor, the warmup, the noise and `step(t)` are here.

use std::fmt::Debug;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use super::math::Cycles;
use super::noise::{Noise, NoiseRange, NoiseRangeT};
use crate::config::kwargs::kwargs;
use crate::error::{Error, Result};
use crate::groups::ParamGroups;
use crate::schedulers::py_float;
use crate::schedulers::schedule::{entry, from_state, to_state, PlainStep, Protocol, Schedule};
use crate::schedulers::torch_state::{self, Opaque, TorchArgs};
use crate::{Optim, Scheduler};

kwargs! {
    /// The warmup arguments every timm class takes (`warmup_t`,
    /// `warmup_lr_init`), declared once: each class's arguments hold them as
    /// a group (`..warmup: TimmWarmup`), read flat in timm's order.
    pub struct TimmWarmup for TimmScheduler<P: TimmPolicy> {
        /// The warmup length in `t`: the LR climbs linearly from `warmup_lr_init`.
        warmup_t: i64 = 0,
        /// The LR at `t = 0` of the warmup.
        warmup_lr_init: f64 = 0.0,
    }
}

kwargs! {
    /// The clock and noise arguments every timm class takes (`t_in_epochs`,
    /// `noise_range_t`, `noise_pct`, `noise_std`, `noise_seed`), declared once.
    pub struct TimmNoise for TimmScheduler<P: TimmPolicy> {
        /// Whether `t` counts epochs, timm's `step(epoch)`, or optimizer
        /// updates, its `step_update(num_updates)`. Both compute the same LR at
        /// the same `t`: the flag tells the training loop which clock to step by
        /// (`is_t_in_epochs`).
        t_in_epochs: bool = true,
        /// Where the LR gets noise: from `t0` on (`t0`), or for `t0 <= t < t1`
        /// (`[t0, t1]`). At a noisy `t` the LR becomes `lr + lr * noise`, `noise`
        /// drawn as timm draws it (a generator seeded with `noise_seed + t`,
        /// `randn * noise_std` until `|noise| < noise_pct`).
        noise_range_t: NoiseRangeT = NoiseRangeT(None),
        /// The noise's bound, relative to the LR.
        noise_pct: f64 = 0.67,
        /// The noise's standard deviation before the bound.
        noise_std: f64 = 1.0,
        /// The noise seed; step `t` uses `noise_seed + t`.
        noise_seed: i64 = 42,
    }
}

impl TimmCycles {
    /// The cycles of a cyclic schedule with these arguments.
    pub(crate) fn cycles(&self, t_initial: i64, warmup_prefix: bool) -> Cycles {
        Cycles {
            t_initial,
            lr_min: self.lr_min,
            cycle_mul: self.cycle_mul,
            cycle_decay: self.cycle_decay,
            cycle_limit: self.cycle_limit,
            warmup_prefix,
        }
    }
}

impl TimmNoise {
    /// The noise these arguments give.
    fn noise(&self) -> Noise {
        Noise { range: self.noise_range_t.0, pct: self.noise_pct, std: self.noise_std, seed: self.noise_seed }
    }
}

kwargs! {
    /// The cycle arguments of timm's cyclic classes (cosine, tanh, poly:
    /// `lr_min`, `cycle_mul`, `cycle_decay`, `cycle_limit`), declared once.
    pub struct TimmCycles for TimmScheduler<P: TimmPolicy> {
        /// The LR the schedule ends each cycle at, and holds after `cycle_limit` cycles.
        lr_min: f64 = 0.0,
        /// The factor by which each cycle is longer than the last.
        cycle_mul: f64 = 1.0,
        /// The factor by which each cycle's peak is lower than the last's.
        cycle_decay: f64 = 1.0,
        /// The number of cycles, after which the LR stays at `lr_min`.
        cycle_limit: i64 = 1,
    }
}

/// A timm schedule: its keyword arguments (`Self`), its constructor checks
/// and its `_get_lr(t)` past the warmup. [`TimmScheduler`] adds the base
/// class.
pub trait TimmPolicy:
    Clone + Debug + Send + Serialize + DeserializeOwned + AsRef<TimmWarmup> + AsRef<TimmNoise> + 'static
{
    /// The config name, `timm.<Class>`.
    const NAME: &'static str;

    /// What the schedule remembers between steps to save work (not saved).
    type Cache: Clone + Debug + Default + Send;

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
    fn warmup_targets(&self, cache: &Self::Cache, base_values: &[f64], out: &mut [f64]) -> Result<()> {
        let _ = cache;
        out.copy_from_slice(base_values);
        Ok(())
    }

    /// The class's own attributes in timm's `state_dict()` (its `__dict__`
    /// beyond the `Scheduler` base class's), made with [`TorchArgs::of`] from a
    /// struct with timm's attribute names, every value as timm's constructor
    /// leaves it (defaults resolved). The default: none (a class of your own).
    ///
    /// # Errors
    /// [`Error::Unsupported`] by default; [`Error::State`] when serialization fails.
    fn torch_args(&self) -> Result<TorchArgs> {
        Err(torch_state::none_for(Self::NAME))
    }

    /// `_get_lr(t)` for `t >= warmup_t`, from each group's base value.
    ///
    /// # Errors
    /// What Python raises there (`math domain error`, a division by zero, ...).
    fn get_lr(&self, cache: &Self::Cache, base_values: &[f64], t: i64, out: &mut [f64]) -> Result<()>;
}

/// What timm's constructor computes and the explicit time tch-lr keeps for
/// the training loop.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct TimmState {
    /// The `t` of the last `step(t)` (0 after construction).
    t: i64,
    /// `base_values`: each group's `initial_lr`.
    base_values: Vec<f64>,
    /// `warmup_steps`: each group's LR increment per warmup step.
    warmup_steps: Vec<f64>,
    /// The LRs last written.
    last_lr: Vec<f64>,
    /// Scratch space for the new LRs, reused at every step (no allocation).
    #[serde(skip)]
    buf: Vec<f64>,
}

/// timm's `Scheduler` base class around a [`TimmPolicy`]: a timm schedule
/// (`tch_lr::timm::CosineLRScheduler` is `TimmScheduler<config::CosineLRSchedulerConfig>`).
/// Saved as the policy's arguments and `state`.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(bound = "")]
pub struct TimmScheduler<P: TimmPolicy> {
    #[serde(flatten)]
    pub(crate) args: P,
    state: TimmState,
    #[serde(skip)]
    cache: P::Cache,
}

impl<P: TimmPolicy> TimmScheduler<P> {
    /// The schedule of `args`, not yet bound to an optimizer.
    pub fn from_args(args: P) -> Self {
        TimmScheduler { args, state: TimmState::default(), cache: P::Cache::default() }
    }

    /// The schedule's keyword arguments.
    pub fn args(&self) -> &P {
        &self.args
    }

    /// Whether `t` counts epochs (step once per epoch) or optimizer updates
    /// (step once per batch): timm's `t_in_epochs`.
    pub fn is_t_in_epochs(&self) -> bool {
        AsRef::<TimmNoise>::as_ref(&self.args).t_in_epochs
    }

    /// Binds the schedule to `optim`, as [`Schedule::build`].
    ///
    /// # Errors
    /// timm's constructor assertions and errors.
    pub fn build(self, optim: Optim) -> Result<Scheduler<Self>> {
        Scheduler::new(optim, self)
    }

    /// Boxes the schedule, to drive it from code that handles any schedule.
    pub fn boxed(self) -> Box<dyn Schedule> {
        Box::new(self)
    }

    /// `step(t)`: the LRs of `t` written into the groups.
    fn step_at(&mut self, groups: &mut ParamGroups, t: i64) -> Result<()> {
        self.state.t = t;
        let mut buf = std::mem::take(&mut self.state.buf);
        buf.resize(groups.len(), 0.0);
        let result = self.lrs_at(t, &mut buf);
        if result.is_ok() {
            for (g, &lr) in groups.iter_mut().zip(&buf) {
                g.lr = lr;
            }
            groups.copy_lrs_into(&mut self.state.last_lr);
        }
        self.state.buf = buf;
        result
    }

    /// `_get_values(t)` with `_add_noise`.
    fn lrs_at(&self, t: i64, out: &mut [f64]) -> Result<()> {
        let warmup: &TimmWarmup = self.args.as_ref();
        let s = &self.state;
        if t < warmup.warmup_t {
            for (o, step) in out.iter_mut().zip(&s.warmup_steps) {
                *o = warmup.warmup_lr_init + t as f64 * step;
            }
        } else {
            self.args.get_lr(&self.cache, &s.base_values, t, out)?;
        }
        let noise = AsRef::<TimmNoise>::as_ref(&self.args).noise();
        if noise.applies(t) {
            let noise = noise.sample(t)?;
            for o in out.iter_mut() {
                *o += *o * noise;
            }
        }
        Ok(())
    }
}

impl<P: TimmPolicy> Protocol for TimmScheduler<P> {
    /// The constructor: `setdefault('initial_lr')`, the base values written,
    /// the class's checks, then the warmup steps and `warmup_lr_init` written.
    fn init(&mut self, groups: &mut ParamGroups) -> Result<()> {
        let base_values = groups.setdefault_initial_lr();
        for (g, &v) in groups.iter_mut().zip(&base_values) {
            g.lr = v;
        }
        let n = base_values.len();
        self.state = TimmState { base_values, buf: vec![0.0; n], ..TimmState::default() };
        self.args.check()?;
        let warmup: &TimmWarmup = self.args.as_ref();
        let (warmup_t, init) = (warmup.warmup_t, warmup.warmup_lr_init);
        self.state.warmup_steps = if warmup_t != 0 {
            let mut targets = vec![0.0; n];
            self.args.warmup_targets(&self.cache, &self.state.base_values, &mut targets)?;
            for g in groups.iter_mut() {
                g.lr = init;
            }
            targets.iter().map(|v| (v - init) / warmup_t as f64).collect()
        } else {
            vec![1.0; n]
        };
        groups.copy_lrs_into(&mut self.state.last_lr);
        Ok(())
    }

    fn initial_step(&mut self, groups: &mut ParamGroups) -> Result<()> {
        let warmup: &TimmWarmup = self.args.as_ref();
        self.state.t = 0;
        for (g, &v) in groups.iter_mut().zip(&self.state.base_values) {
            g.lr = if warmup.warmup_t != 0 { warmup.warmup_lr_init } else { v };
        }
        groups.copy_lrs_into(&mut self.state.last_lr);
        Ok(())
    }

    /// timm's `step(t + 1)`.
    fn step(&mut self, groups: &mut ParamGroups) -> Result<()> {
        let t = self.state.t.checked_add(1).ok_or(Error::Overflow("t + 1"))?;
        self.step_at(groups, t)
    }

    /// timm's `step(epoch)`.
    fn update_lr(&mut self, groups: &mut ParamGroups, epoch: i64) -> Result<()> {
        self.step_at(groups, epoch)
    }

    fn undo(&mut self) {
        self.state.t -= 1;
    }

    /// Only as the config's scheduler: timm's state has no step count, so
    /// the file holds the `t` of the last `step(t)` beside it
    /// ([`torch_entries`](Protocol::torch_entries)), which a composite's
    /// list of children has no place for.
    fn torch_state(&self, _groups: &ParamGroups) -> Result<serde_yaml::Value> {
        Err(Error::Unsupported(format!(
            "{} has a PyTorch state as the config's scheduler only, not inside SequentialLR or ChainedScheduler \
             (not yet)",
            P::NAME
        )))
    }

    /// `{"scheduler": scheduler.state_dict(), "t": t}`.
    fn torch_entries(&self, _groups: &ParamGroups) -> Result<serde_yaml::Mapping> {
        Ok(serde_yaml::Mapping::from_iter([
            ("scheduler".into(), self.torch_dict()?),
            ("t".into(), self.state.t.into()),
        ]))
    }

    fn load_torch_entries(&mut self, entries: &serde_yaml::Mapping, groups: &ParamGroups) -> Result<()> {
        let sd = entry(entries, "scheduler")?;
        let t = entries.get("t").ok_or_else(|| {
            Error::State(format!(
                "it has no `t` beside its {} state (timm's state has none: save \
                 {{\"optimizer\", \"scheduler\", \"t\": t}}, t the last step(t))",
                P::NAME
            ))
        })?;
        let t = t.as_i64().filter(|&t| t >= 0).ok_or_else(|| Error::State(format!("its `t` is {t:?}, not a step")))?;
        let theirs = torch_state::load(P::NAME, &self.torch_args()?, &self.torch_steps(), sd)?;
        let n = groups.len();
        torch_state::per_group(P::NAME, "base_values", &theirs.base_values, n)?;
        torch_state::per_group(P::NAME, "warmup_steps", &theirs.warmup_steps, n)?;
        self.state.t = t;
        self.state.base_values = theirs.base_values;
        self.state.warmup_steps = theirs.warmup_steps;
        self.state.last_lr = groups.lrs();
        Ok(())
    }

    /// timm's stateless `step(t)` at an explicit integer `t >= 0`.
    fn step_epoch(&mut self, groups: &mut ParamGroups, t: f64) -> Result<()> {
        if !(t >= 0.0 && t.fract() == 0.0 && t < 9_223_372_036_854_775_808.0) {
            return Err(Error::value(format!("timm schedules step to an integer t >= 0, got {}", py_float(t))));
        }
        self.step_at(groups, t as i64)
    }
}

/// `timm.scheduler.Scheduler`'s attributes in a `state_dict()` (timm 1.0.31):
/// the base class's fields and the clock and noise arguments every class
/// takes.
#[derive(Serialize, Deserialize)]
struct TimmBaseDict {
    param_group_field: String,
    _initial_param_group_field: String,
    /// The metric of the last `step(t, metric)`: not the schedule's.
    #[serde(default)]
    metric: Option<Opaque>,
    t_in_epochs: bool,
    noise_range_t: Option<NoiseRange>,
    noise_pct: f64,
    noise_type: String,
    noise_std: f64,
    noise_seed: i64,
}

/// `warmup_t` and `warmup_lr_init`, as every timm class saves them.
#[derive(Serialize, Deserialize)]
pub(crate) struct TimmWarmupDict {
    warmup_t: i64,
    warmup_lr_init: f64,
}

impl From<&TimmWarmup> for TimmWarmupDict {
    fn from(w: &TimmWarmup) -> Self {
        TimmWarmupDict { warmup_t: w.warmup_t, warmup_lr_init: w.warmup_lr_init }
    }
}

/// `lr_min`, `cycle_mul`, `cycle_decay` and `cycle_limit`, as timm's cyclic classes save them.
#[derive(Serialize, Deserialize)]
pub(crate) struct TimmCyclesDict {
    lr_min: f64,
    cycle_mul: f64,
    cycle_decay: f64,
    cycle_limit: i64,
}

impl From<&TimmCycles> for TimmCyclesDict {
    fn from(c: &TimmCycles) -> Self {
        TimmCyclesDict {
            lr_min: c.lr_min,
            cycle_mul: c.cycle_mul,
            cycle_decay: c.cycle_decay,
            cycle_limit: c.cycle_limit,
        }
    }
}

/// What timm's constructor computes from the groups: taken from a file.
#[derive(Serialize, Deserialize)]
struct TimmSteps {
    base_values: Vec<f64>,
    warmup_steps: Vec<f64>,
}

impl<P: TimmPolicy> TimmScheduler<P> {
    /// The class's attributes in `state_dict()`, the base class's first.
    fn torch_args(&self) -> Result<TorchArgs> {
        let noise: &TimmNoise = self.args.as_ref();
        let base = TimmBaseDict {
            param_group_field: "lr".into(),
            _initial_param_group_field: "initial_lr".into(),
            metric: Some(Opaque(serde_yaml::Value::Null)),
            t_in_epochs: noise.t_in_epochs,
            noise_range_t: noise.noise_range_t.0,
            noise_pct: noise.noise_pct,
            noise_type: "normal".into(),
            noise_std: noise.noise_std,
            noise_seed: noise.noise_seed,
        };
        Ok(TorchArgs::of(&base)?.and(self.args.torch_args()?))
    }

    fn torch_steps(&self) -> TimmSteps {
        TimmSteps { base_values: self.state.base_values.clone(), warmup_steps: self.state.warmup_steps.clone() }
    }

    /// timm's `state_dict()`: the schedule's attributes and what its constructor computed.
    fn torch_dict(&self) -> Result<serde_yaml::Value> {
        Ok(torch_state::merged([self.torch_args()?.written().clone(), torch_state::to_mapping(&self.torch_steps())?]))
    }
}

impl<P: TimmPolicy> Schedule for TimmScheduler<P> {
    fn name(&self) -> &'static str {
        P::NAME
    }

    fn last_lr(&self) -> &[f64] {
        &self.state.last_lr
    }

    /// `t`: the argument of the last `step(t)`, 0 after construction.
    fn last_epoch(&self) -> i64 {
        self.state.t
    }

    fn state(&self) -> Result<serde_yaml::Value> {
        to_state(self)
    }

    /// `load_state_dict`: the loaded schedule replaces `self`.
    fn load_state(&mut self, state: serde_yaml::Value) -> Result<()> {
        let mut loaded: TimmScheduler<P> = from_state(P::NAME, state)?;
        let s = &mut loaded.state;
        let n = s.base_values.len();
        // -1: a child of SequentialLR before its turn (the composite's undo).
        if s.t < -1 || s.warmup_steps.len() != n || s.last_lr.len() != n {
            return Err(Error::State(format!("{}: a t below -1 or per-group lists of different lengths", P::NAME)));
        }
        // Size the scratch space now: a step must not allocate.
        s.buf = vec![0.0; n];
        *self = loaded;
        Ok(())
    }
}

impl<P: TimmPolicy> PlainStep for TimmScheduler<P> {}
