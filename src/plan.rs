//!
//! Checked before training: which clock each family's schedules step by, and
//! whether the schedules are long enough for the run.
//!
//! A config says how often the scheduler steps (`interval: step` or
//! `epoch`); a [`RunPlan`] says how long the run is (epochs, and optimizer
//! updates per epoch). [`check`] refuses, in one line, a plan the schedules
//! cannot follow, and returns what is allowed but likely unintended as
//! [`Warning`]s:
//! - transformers' schedules step once per optimizer update, as the
//!   `Trainer` does: `interval: step` is required. Stepped past
//!   `num_training_steps`, the cosine ones rise again and the others stay at
//!   their final value: a warning.
//! - timm's schedules step once per epoch (`step(epoch)`) when
//!   `t_in_epochs` (the default), else once per update
//!   (`step_update(num_updates)`): `interval` must agree.
//! - `ReduceLROnPlateau` steps once per epoch, on the validation loss:
//!   `interval: epoch` is required.
//! - `OneCycleLR` raises past its `total_steps`: its cycle must cover the
//!   run's scheduler steps; a longer one is a warning (the run ends before
//!   the annealing does).
//!
//! The rules apply to the `scheduler:` section, the weight decay and momentum
//! schedules, and every schedule a composite (`SequentialLR`,
//! `ChainedScheduler`) is made of. The training example
//! (`src/bin/train_resnet`) runs [`check`] before training, and
//! `tch-lr check CONFIG --epochs N --steps-per-epoch M` runs it on a config.
//!
//! ```
//! use tch_lr::config::Config;
//! use tch_lr::plan::{check, RunPlan};
//!
//! let plan = RunPlan { epochs: 3, steps_per_epoch: 100 };
//! // transformers' schedules step once per optimizer update.
//! let per_epoch = Config::from_yaml(
//!     "scheduler: {name: transformers.linear, num_warmup_steps: 10, num_training_steps: 300}\ninterval: epoch",
//! )?;
//! let err = check(&per_epoch, &plan).unwrap_err().to_string();
//! assert!(err.contains("set `interval: step`"), "{err}");
//!
//! // 3 epochs of 100 updates: 300 steps of a 300-step cycle.
//! let one_cycle = Config::from_yaml("scheduler: {name: OneCycleLR, max_lr: 0.1, total_steps: 300}\ninterval: step")?;
//! assert_eq!(plan.scheduler_steps(one_cycle.interval), 300);
//! assert!(check(&one_cycle, &plan)?.is_empty());
//! // The same cycle, with a run of 4 epochs, is too short.
//! assert!(check(&one_cycle, &RunPlan { epochs: 4, ..plan }).is_err());
//! # Ok::<(), tch_lr::Error>(())
//! ```

use std::fmt;

use crate::config::{Config, Interval, SchedulerConfig};
use crate::error::{Error, Result};

/// How long a run is: what the training loop will do, to check a config
/// against. The config's `interval` says which of the two counts the
/// scheduler steps by ([`scheduler_steps`](Self::scheduler_steps)).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RunPlan {
    /// The number of epochs.
    pub epochs: u64,
    /// The optimizer updates (batches) per epoch.
    pub steps_per_epoch: u64,
}

impl RunPlan {
    /// The number of scheduler `step()` calls in the run when it steps by
    /// `interval`: `epochs * steps_per_epoch` per update, `epochs` per epoch.
    pub fn scheduler_steps(&self, interval: Interval) -> u64 {
        match interval {
            Interval::Step => self.epochs.saturating_mul(self.steps_per_epoch),
            Interval::Epoch => self.epochs,
        }
    }
}

/// What [`check`] allows but reports: the run will not fail, but may not do
/// what was meant. Its [`Display`](fmt::Display) is one line.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Warning {
    /// A transformers schedule is stepped past its `num_training_steps`.
    PastTrainingSteps {
        /// The schedule's name in configs (`transformers.cosine`).
        schedule: &'static str,
        /// Its `num_training_steps`.
        num_training_steps: i64,
        /// The run's scheduler steps.
        scheduler_steps: u64,
        /// Whether its LR rises again past the end (the cosine schedules),
        /// rather than staying at its final value.
        rises: bool,
    },
    /// `OneCycleLR`'s cycle is longer than the run: the run stops part-way.
    CycleLongerThanRun {
        /// Its `total_steps` (or `epochs * steps_per_epoch`).
        total_steps: i64,
        /// The run's scheduler steps.
        scheduler_steps: u64,
    },
}

impl fmt::Display for Warning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Warning::PastTrainingSteps { schedule, num_training_steps: t, scheduler_steps, rises } => {
                let after = if *rises { "its LR rises again" } else { "it stays at its final value" };
                write!(
                    f,
                    "{schedule}'s num_training_steps is {t} but this run steps it {scheduler_steps} times: past {t} \
                     {after} (as in transformers)"
                )
            }
            Warning::CycleLongerThanRun { total_steps, scheduler_steps } => {
                write!(
                    f,
                    "OneCycleLR's total_steps is {total_steps}; this run takes only {scheduler_steps} steps of it"
                )
            }
        }
    }
}

/// The interval a schedule's own library steps it by, where that library
/// fixes one: `Step` for transformers' schedules (once per optimizer
/// update), `Epoch` or `Step` for timm's as `t_in_epochs` says, `Epoch` for
/// `ReduceLROnPlateau` (once per epoch, on the validation loss); `None` for
/// PyTorch's others, which step by either. Composites are not looked into
/// ([`SchedulerConfig::children`]).
///
/// ```
/// use tch_lr::config::{Config, Interval};
///
/// let c = Config::from_yaml("scheduler: {name: timm.CosineLRScheduler, t_initial: 10, t_in_epochs: false}")?;
/// assert_eq!(tch_lr::plan::required_interval(&c.scheduler), Some(Interval::Step));
/// # Ok::<(), tch_lr::Error>(())
/// ```
pub fn required_interval(s: &SchedulerConfig) -> Option<Interval> {
    match family(s) {
        Family::Transformers { .. } => Some(Interval::Step),
        Family::Timm { t_in_epochs: true } => Some(Interval::Epoch),
        Family::Timm { t_in_epochs: false } => Some(Interval::Step),
        Family::Plateau => Some(Interval::Epoch),
        Family::OneCycle { .. } | Family::Other => None,
    }
}

/// Checks `config` against `plan` (the rules are in the [module
/// docs](self)): every schedule of its `scheduler:`, weight decay and
/// momentum sections, composites' children included.
///
/// # Errors
/// [`Error::Config`], one line saying what to change, for the first rule
/// broken: a `OneCycleLR` shorter than the run, then a family stepped by the
/// wrong `interval`.
pub fn check(config: &Config, plan: &RunPlan) -> Result<Vec<Warning>> {
    let steps = plan.scheduler_steps(config.interval);
    let sections: Vec<&SchedulerConfig> =
        std::iter::once(&config.scheduler).chain(config.hyper_sections().map(|(_, _, s)| s)).collect();
    let mut warnings = Vec::new();
    for s in &sections {
        walk(s, &mut |s| check_length(s, config.interval, plan, &mut warnings))?;
    }
    for s in &sections {
        walk(s, &mut |s| check_clock(s, config.interval, steps, &mut warnings))?;
    }
    Ok(warnings)
}

/// What the rules need to know of a schedule.
enum Family {
    /// transformers': the step it ends at, and whether its LR rises after it
    /// (`None`: it has no end, or `num_training_steps` does not set it).
    Transformers { end: Option<(i64, bool)> },
    /// timm's, and which clock `t_in_epochs` names.
    Timm { t_in_epochs: bool },
    /// `ReduceLROnPlateau`.
    Plateau,
    /// `OneCycleLR`, and the steps its cycle allows.
    OneCycle { total_steps: Option<i64> },
    /// PyTorch's others.
    Other,
}

fn family(s: &SchedulerConfig) -> Family {
    use SchedulerConfig as S;
    let transformers = |end: Option<i64>, rises| Family::Transformers { end: end.map(|t| (t, rises)) };
    match s {
        S::TransformersLinear(c) => transformers(c.num_training_steps, false),
        S::TransformersPolynomial(c) => transformers(c.num_training_steps, false),
        // Hard restarts: 0 from the end on.
        S::TransformersCosineWithRestarts(c) => transformers(c.num_training_steps, false),
        S::TransformersCosine(c) => transformers(c.num_training_steps, true),
        S::TransformersCosineWithMinLr(c) => transformers(c.num_training_steps, true),
        S::TransformersCosineWarmupWithMinLr(c) => transformers(c.num_training_steps, true),
        // `num_stable_steps`, when given, sets the end instead.
        S::TransformersWarmupStableDecay(c) => {
            transformers(c.num_training_steps.filter(|_| c.num_stable_steps.is_none()), false)
        }
        // No end: `num_training_steps` is accepted and unused.
        S::TransformersConstant(_) | S::TransformersConstantWithWarmup(_) | S::TransformersInverseSqrt(_) => {
            Family::Transformers { end: None }
        }
        S::TimmCosineLRScheduler(c) => Family::Timm { t_in_epochs: c.noise.t_in_epochs },
        S::TimmTanhLRScheduler(c) => Family::Timm { t_in_epochs: c.noise.t_in_epochs },
        S::TimmStepLRScheduler(c) => Family::Timm { t_in_epochs: c.noise.t_in_epochs },
        S::TimmMultiStepLRScheduler(c) => Family::Timm { t_in_epochs: c.noise.t_in_epochs },
        S::TimmPolyLRScheduler(c) => Family::Timm { t_in_epochs: c.noise.t_in_epochs },
        S::TimmWSDLRScheduler(c) => Family::Timm { t_in_epochs: c.noise.t_in_epochs },
        S::ReduceLROnPlateau(_) => Family::Plateau,
        S::OneCycleLR(c) => Family::OneCycle {
            total_steps: c.total_steps.or(c.epochs.zip(c.steps_per_epoch).map(|(e, n)| e.saturating_mul(n))),
        },
        _ => Family::Other,
    }
}

/// Applies `f` to `s` and to every schedule it is made of, depth first.
fn walk(s: &SchedulerConfig, f: &mut impl FnMut(&SchedulerConfig) -> Result<()>) -> Result<()> {
    f(s)?;
    s.children().iter().try_for_each(|c| walk(c, f))
}

fn plan_error(message: String) -> Error {
    Error::Config { path: None, line: None, column: None, message }
}

/// `OneCycleLR`'s cycle against the run's scheduler steps.
fn check_length(s: &SchedulerConfig, interval: Interval, plan: &RunPlan, warnings: &mut Vec<Warning>) -> Result<()> {
    let Family::OneCycle { total_steps: Some(total) } = family(s) else { return Ok(()) };
    let steps = plan.scheduler_steps(interval);
    let (total_wide, steps_wide) = (i128::from(total), i128::from(steps));
    if total_wide < steps_wide {
        let (epochs, per_epoch) = (plan.epochs, plan.steps_per_epoch);
        let (times, spe) = match interval {
            Interval::Step => (format!(" × {per_epoch} batches"), per_epoch),
            Interval::Epoch => (String::new(), 1),
        };
        return Err(plan_error(format!(
            "OneCycleLR's total_steps is {total} but this run steps the scheduler {steps} times ({epochs} \
             epochs{times}): set total_steps to {steps} (or epochs: {epochs}, steps_per_epoch: {spe})"
        )));
    }
    if total_wide > steps_wide {
        warnings.push(Warning::CycleLongerThanRun { total_steps: total, scheduler_steps: steps });
    }
    Ok(())
}

/// The clock of `s`'s family against the config's `interval`, and
/// transformers' end against the run's scheduler steps.
fn check_clock(s: &SchedulerConfig, interval: Interval, steps: u64, warnings: &mut Vec<Warning>) -> Result<()> {
    let name = s.name();
    match family(s) {
        Family::Transformers { end } => {
            if interval != Interval::Step {
                return Err(plan_error(format!(
                    "{name} steps once per optimizer update, as transformers' Trainer does: set `interval: step`"
                )));
            }
            if let Some((t, rises)) = end.filter(|(t, _)| i128::from(steps) > i128::from(*t)) {
                warnings.push(Warning::PastTrainingSteps {
                    schedule: name,
                    num_training_steps: t,
                    scheduler_steps: steps,
                    rises,
                });
            }
        }
        Family::Timm { t_in_epochs } => {
            let (want, how, key) = if t_in_epochs {
                (Interval::Epoch, "once per epoch (step(epoch))", "epoch")
            } else {
                (Interval::Step, "once per update (step_update(n))", "step")
            };
            if interval != want {
                return Err(plan_error(format!(
                    "{name} has t_in_epochs: {t_in_epochs}, so timm steps it {how}: set `interval: {key}`"
                )));
            }
        }
        Family::Plateau if interval == Interval::Step => {
            return Err(plan_error(
                "ReduceLROnPlateau steps once per epoch on the validation loss: set `interval: epoch`".into(),
            ));
        }
        Family::Plateau | Family::OneCycle { .. } | Family::Other => {}
    }
    Ok(())
}
