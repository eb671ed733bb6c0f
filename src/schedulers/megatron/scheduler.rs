//! [`OptimizerParamScheduler`]: Megatron-core's scheduler of every group's
//! LR and weight decay, bound to tch-lr's step protocol.

use serde::{Deserialize, Serialize};

use super::config::{OptimizerParamSchedulerConfig, Steps};
use super::formula::Class;
use crate::error::{Error, Result};
use crate::groups::{GroupKey, ParamGroups, PerGroup};
use crate::schedulers::registry::ScheduleConfig;
use crate::schedulers::schedule::{from_state, to_state, PlainStep, Protocol, Schedule};
use crate::schedulers::{py_float, torch_state};
use crate::{Optim, Scheduler};

/// The config name.
pub(super) const NAME: &str = <OptimizerParamSchedulerConfig as ScheduleConfig>::NAME;

/// What the scheduler keeps between steps.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub(super) struct State {
    /// The class's attributes (the config's, or a loaded file's).
    pub class: Class,
    /// `num_steps`: the samples stepped so far.
    pub num_steps: i64,
    /// The LRs last written.
    pub last_lr: Vec<f64>,
    /// Scratch space for each group's new LR and weight decay, reused at
    /// every step (no allocation).
    #[serde(skip)]
    pub buf: Vec<f64>,
    /// Whether `buf` holds what a load of a file computed, for
    /// [`Protocol::write_loaded`] to write into the groups.
    #[serde(skip)]
    pub pending: bool,
}

/// Megatron-core's `OptimizerParamScheduler` (megatron-core 0.19.2): a
/// linear warmup from `init_lr` to `max_lr` over `lr_warmup_steps`, then a
/// decay to `min_lr` at `lr_decay_steps` (`linear`, `cosine`,
/// `inverse-square-root`, `constant` or `WSD` with its four cooldowns); and
/// every group's weight decay, from `start_wd` to `end_wd` over
/// `wd_incr_steps` (`linear`, `cosine`, `constant`), times the group's
/// `wd_mult`. Each [`step`](Scheduler::step) adds `increment` to
/// `num_steps` (Megatron-LM: the global batch size, so every count is in
/// samples). Construction runs Megatron's `step(0)`: the first update runs at
/// `init_lr`.
///
/// ```
/// # use tch::{nn, Device};
/// use tch_lr::megatron::{DecayStyle, OptimizerParamScheduler, WdIncrStyle};
/// use tch_lr::Optim;
/// # let vs = nn::VarStore::new(Device::Cpu);
/// # let _w = vs.root().zeros("w", &[1]);
/// let opt = Optim::new(nn::AdamW::default(), &vs, 3e-4)?;
/// // OptimizerParamScheduler(optimizer, init_lr=0.0, max_lr=3e-4, min_lr=3e-5,
/// //     lr_warmup_steps=2000 * 256, lr_decay_steps=100000 * 256, lr_decay_style='cosine',
/// //     start_wd=0.1, end_wd=0.1, wd_incr_steps=100000 * 256, wd_incr_style='constant'),
/// // stepped by Megatron-LM as opt_param_scheduler.step(increment=256)
/// let mut sched = OptimizerParamScheduler::new(
///     0.0, 3e-4, 3e-5, 2000 * 256, 100_000 * 256, DecayStyle::Cosine, 0.1, 0.1, 100_000 * 256,
///     WdIncrStyle::Constant,
/// )
/// .increment(256)
/// .build(opt)?;
/// assert_eq!(sched.last_lr(), [0.0]); // the first update runs at init_lr
/// for _iteration in 0..1000 {
///     sched.step()?;
/// }
/// assert!((sched.last_lr()[0] - 1.5e-4).abs() < 1e-15); // half way through the warmup
/// assert_eq!(sched.groups().weight_decays(), [0.1]);
/// # Ok::<(), tch_lr::Error>(())
/// ```
///
/// # Errors
/// [`Error::Assertion`] for Megatron's constructor `assert`s (`min_lr >=
/// 0.0`, `max_lr >= min_lr`, `init_lr <= max_lr`, `lr_decay_steps > 0`,
/// `lr_warmup_steps < lr_decay_steps`, `wsd_decay_steps` for WSD, `start_wd
/// >= 0.0`, `end_wd >= start_wd`, not both `override_opt_param_scheduler` and
/// `use_checkpoint_opt_param_scheduler`, `start_wd == end_wd` for `constant`),
/// each naming its argument; tch-lr holds every group's values of a list to
/// the same asserts. [`Error::ZeroDivision`] for `wd_incr_steps` 0 with a
/// `linear` or `cosine` increase (Python's at `step(0)`).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct OptimizerParamScheduler {
    pub(crate) args: OptimizerParamSchedulerConfig,
    pub(super) state: State,
}

impl OptimizerParamScheduler {
    /// The schedule of `args`, not yet bound to an optimizer.
    pub fn from_args(args: OptimizerParamSchedulerConfig) -> Self {
        let first = |p: &PerGroup| match p {
            PerGroup::All(v) => *v,
            PerGroup::Each(v) => v.first().copied().unwrap_or(f64::NAN),
        };
        let class = Class {
            init_lr: args.init_lr,
            max_lr: first(&args.max_lr),
            min_lr: first(&args.min_lr),
            lr_warmup_steps: args.lr_warmup_steps,
            lr_decay_steps: args.lr_decay_steps,
            lr_decay_style: args.lr_decay_style,
            wsd_decay_steps: args.wsd_decay_steps,
            lr_wsd_decay_style: args.lr_wsd_decay_style,
            start_wd: first(&args.start_wd),
            end_wd: first(&args.end_wd),
            wd_incr_steps: args.wd_incr_steps,
            wd_incr_style: args.wd_incr_style,
        };
        OptimizerParamScheduler {
            args,
            state: State { class, num_steps: 0, last_lr: Vec::new(), buf: Vec::new(), pending: false },
        }
    }

    /// The schedule's keyword arguments.
    pub fn args(&self) -> &OptimizerParamSchedulerConfig {
        &self.args
    }

    /// `num_steps`: what the steps added up to (samples, in Megatron-LM).
    pub fn num_steps(&self) -> i64 {
        self.state.num_steps
    }

    /// Binds the schedule to `optim`, as [`Schedule::build`].
    ///
    /// # Errors
    /// Megatron's constructor assertions (see the type).
    pub fn build(self, optim: Optim) -> Result<Scheduler<Self>> {
        Scheduler::new(optim, self)
    }

    /// Boxes the schedule, to drive it from code that handles any schedule.
    pub fn boxed(self) -> Box<dyn Schedule> {
        Box::new(self)
    }

    /// Megatron's `step(increment)` body after `num_steps` moved: each
    /// group's `get_lr(group)` and `get_wd(group) * group.get('wd_mult',
    /// 1.0)`, all computed before any is written.
    pub(super) fn apply(&mut self, groups: &mut ParamGroups) -> Result<()> {
        let s = &mut self.state;
        s.buf.resize(2 * groups.len(), 0.0);
        let (c, n) = (&s.class, s.num_steps);
        // What does not depend on the group, once; then each group's values.
        let (lr, wd) = (c.lr_at(n)?, c.wd_at(n)?);
        for (out, g) in s.buf.chunks_exact_mut(2).zip(groups.iter()) {
            out[0] = lr.of(c.init_lr, g.max_lr.unwrap_or(c.max_lr), g.min_lr.unwrap_or(c.min_lr));
            out[1] = wd.of(g.start_wd.unwrap_or(c.start_wd), g.end_wd.unwrap_or(c.end_wd))? * g.wd_mult.unwrap_or(1.0);
        }
        for (g, v) in groups.iter_mut().zip(s.buf.chunks_exact(2)) {
            g.lr = v[0];
            g.weight_decay = v[1];
        }
        groups.copy_lrs_into(&mut s.last_lr);
        Ok(())
    }

    /// The constructor's checks, on the class values and (tch-lr's
    /// addition) on every group's values of a per-group list.
    fn check(&self, groups: &ParamGroups) -> Result<()> {
        let a = &self.args;
        let n = groups.len();
        let each = |key: &'static str, p: &PerGroup| -> Result<Vec<f64>> { groups.format_param(key, p) };
        let (max, min) = (each("max_lr", &a.max_lr)?, each("min_lr", &a.min_lr)?);
        let (start, end) = (each("start_wd", &a.start_wd)?, each("end_wd", &a.end_wd)?);
        if let Some(m) = &a.wd_mult {
            each("wd_mult", m)?;
        }
        let c = &self.state.class;
        for i in 0..n {
            // Group 0's values are the class's: Megatron's asserts, in its order.
            let key =
                |k: &'static str, p: &PerGroup| if i > 0 && matches!(p, PerGroup::Each(_)) { Some(k) } else { None };
            let checks: [(bool, &'static str, &PerGroup, String); 3] = [
                (min[i] >= 0.0, "min_lr", &a.min_lr, format!("min_lr >= 0.0, got min_lr = {}", py_float(min[i]))),
                (
                    max[i] >= min[i],
                    "max_lr",
                    &a.max_lr,
                    format!("max_lr >= min_lr, got {} and {}", py_float(max[i]), py_float(min[i])),
                ),
                (
                    c.init_lr <= max[i],
                    "init_lr",
                    &a.max_lr,
                    format!("init_lr <= max_lr, got {} and {}", py_float(c.init_lr), py_float(max[i])),
                ),
            ];
            for (ok, arg, p, what) in checks {
                if !ok {
                    return Err(assertion(i, key(arg, p), arg, &what));
                }
            }
            if i == 0 {
                check_steps(c)?;
            }
            let wd_checks: [(bool, &'static str, &PerGroup, String); 2] = [
                (start[i] >= 0.0, "start_wd", &a.start_wd, format!("start_wd >= 0.0, got {}", py_float(start[i]))),
                (
                    end[i] >= start[i],
                    "end_wd",
                    &a.end_wd,
                    format!("end_wd >= start_wd, got {} and {}", py_float(end[i]), py_float(start[i])),
                ),
            ];
            for (ok, arg, p, what) in wd_checks {
                if !ok {
                    return Err(assertion(i, key(arg, p), arg, &what));
                }
            }
        }
        if a.override_opt_param_scheduler && a.use_checkpoint_opt_param_scheduler {
            return Err(Error::Assertion(format!("{NAME}: both override and use-checkpoint are set."))
                .for_arg("override_opt_param_scheduler"));
        }
        Ok(())
    }

    /// Sets the group keys of the per-group lists (Megatron's param groups
    /// carry them), and `wd_mult`.
    fn set_group_keys(&self, groups: &mut ParamGroups) {
        let a = &self.args;
        let lists = [
            (GroupKey::MaxLr, Some(&a.max_lr)),
            (GroupKey::MinLr, Some(&a.min_lr)),
            (GroupKey::StartWd, Some(&a.start_wd)),
            (GroupKey::EndWd, Some(&a.end_wd)),
            (GroupKey::WdMult, a.wd_mult.as_ref()),
        ];
        for (key, p) in lists {
            let values: Option<Vec<f64>> = match p {
                Some(PerGroup::Each(v)) => Some(v.clone()),
                Some(PerGroup::All(v)) if key == GroupKey::WdMult => Some(vec![*v; groups.len()]),
                _ => None,
            };
            if let Some(values) = values {
                for (g, v) in groups.iter_mut().zip(values) {
                    *g.slot(key) = Some(v);
                }
            }
        }
    }
}

/// The asserts on the steps (the class's alone).
pub(super) fn check_steps(c: &Class) -> Result<()> {
    if c.lr_decay_steps <= 0 {
        return Err(Error::Assertion(format!("{NAME} asserts lr_decay_steps > 0, got {}", c.lr_decay_steps))
            .for_arg("lr_decay_steps"));
    }
    let w = c.lr_warmup_steps;
    let below = match w {
        Steps::Int(w) => w < c.lr_decay_steps,
        Steps::Float(w) => w < c.lr_decay_steps as f64,
    };
    if !below {
        let w = match w {
            Steps::Int(w) => w.to_string(),
            Steps::Float(w) => py_float(w),
        };
        return Err(Error::Assertion(format!(
            "{NAME} asserts lr_warmup_steps < lr_decay_steps, got {w} and {}",
            c.lr_decay_steps
        ))
        .for_arg("lr_warmup_steps"));
    }
    if c.lr_decay_style == super::DecayStyle::Wsd && c.wsd_decay_steps.is_none() {
        return Err(Error::Assertion(format!("{NAME} asserts wsd_decay_steps is not None for lr_decay_style WSD"))
            .for_arg("wsd_decay_steps"));
    }
    Ok(())
}

/// A failed assert on group `group`'s value of `arg`: Megatron's own for
/// the class values (group 0's), tch-lr's for another group's of a list
/// (`item`: the list's name).
fn assertion(group: usize, item: Option<&'static str>, arg: &'static str, what: &str) -> Error {
    match item {
        None => Error::Assertion(format!("{NAME} asserts {what}")).for_arg(arg),
        Some(list) => Error::value(format!(
            "{NAME}: group {group}'s values break Megatron's assert {what} (tch-lr holds every group to it)"
        ))
        .for_item(list, group),
    }
}

impl Protocol for OptimizerParamScheduler {
    /// The constructor: the asserts, the groups' keys, then `step(0)`.
    fn init(&mut self, groups: &mut ParamGroups) -> Result<()> {
        self.check(groups)?;
        self.set_group_keys(groups);
        self.state.num_steps = 0;
        self.state.buf = vec![0.0; 2 * groups.len()];
        self.state.last_lr = groups.lrs();
        self.apply(groups)
    }

    /// `step(0)`: the values at the current `num_steps` written again.
    fn initial_step(&mut self, groups: &mut ParamGroups) -> Result<()> {
        self.apply(groups)
    }

    /// `step(increment)`.
    fn step(&mut self, groups: &mut ParamGroups) -> Result<()> {
        let n =
            self.state.num_steps.checked_add(self.args.increment).ok_or(Error::Overflow("num_steps + increment"))?;
        self.state.num_steps = n;
        self.apply(groups)
    }

    fn update_lr(&mut self, _groups: &mut ParamGroups, _epoch: i64) -> Result<()> {
        Err(Error::Unsupported(format!("{NAME} has no step(epoch): it steps by its increment only")))
    }

    fn undo(&mut self) {
        self.state.num_steps = self.state.num_steps.saturating_sub(self.args.increment);
    }

    fn torch_state(&self, _groups: &ParamGroups) -> Result<serde_yaml::Value> {
        torch_state::to_mapping(&super::state::StateDict::of(&self.state)).map(serde_yaml::Value::Mapping)
    }

    /// `load_state_dict(file)`: see [`write_loaded`](Protocol::write_loaded)
    /// for the groups' values it computes.
    fn load_torch_state(&mut self, file: &serde_yaml::Value, groups: &ParamGroups) -> Result<()> {
        let mut groups = groups.clone();
        super::state::load(self, file, &mut groups)?;
        self.state.pending = true;
        Ok(())
    }

    /// What Megatron's `load_state_dict` writes into the groups: the LR
    /// and weight decay its `step(increment=num_steps)` computed.
    fn write_loaded(&mut self, groups: &mut ParamGroups) -> Result<()> {
        if std::mem::take(&mut self.state.pending) {
            for (g, v) in groups.iter_mut().zip(self.state.buf.chunks_exact(2)) {
                g.lr = v[0];
                g.weight_decay = v[1];
            }
            groups.copy_lrs_into(&mut self.state.last_lr);
        }
        Ok(())
    }
}

impl Schedule for OptimizerParamScheduler {
    fn name(&self) -> &'static str {
        NAME
    }

    fn last_lr(&self) -> &[f64] {
        &self.state.last_lr
    }

    /// The steps taken: `num_steps / increment` (rounded down: a file saved
    /// with another batch size, or a ramp-up, may hold a remainder).
    fn last_epoch(&self) -> i64 {
        self.state.num_steps / self.args.increment.max(1)
    }

    fn schedules_weight_decay(&self) -> bool {
        true
    }

    fn state(&self) -> Result<serde_yaml::Value> {
        to_state(self)
    }

    fn load_state(&mut self, state: serde_yaml::Value) -> Result<()> {
        let mut loaded: OptimizerParamScheduler = from_state(NAME, state)?;
        if loaded.state.num_steps < 0 || loaded.args.increment < 1 {
            return Err(Error::State(format!("{NAME}: a negative num_steps or an increment below 1")));
        }
        check_steps(&loaded.state.class).map_err(|e| Error::State(format!("{NAME}: {}", e.root())))?;
        // Size the scratch space now: a step must not allocate.
        loaded.state.buf = vec![0.0; 2 * loaded.state.last_lr.len()];
        *self = loaded;
        Ok(())
    }
}

impl PlainStep for OptimizerParamScheduler {}
