//! `ReduceLROnPlateau`: cut the LR when a metric stops improving.

use serde::{Deserialize, Serialize};

use super::registry::ScheduleConfig;
use super::schedule::{from_state, to_state, Protocol, Schedule};
use super::torch_state::{self, TorchArgs};
use crate::config::kwargs::{kwargs, Diag};
use crate::error::{Error, Result};
use crate::groups::{ParamGroups, PerGroup};

kwargs! {
    /// `ReduceLROnPlateau`'s keyword arguments: `ReduceLROnPlateau(optimizer,
    /// mode='min', factor=0.1, patience=10, threshold=1e-4, threshold_mode='rel',
    /// cooldown=0, min_lr=0, eps=1e-8)`.
    pub struct ReduceLROnPlateauConfig for ReduceLROnPlateau {
        /// `min` (a loss) or `max` (an accuracy).
        mode: PlateauMode = PlateauMode::Min,
        /// The LR multiplier on a plateau (must be < 1).
        factor: f64 = 0.1,
        /// The number of steps without improvement tolerated.
        patience: i64 = 10,
        /// The least change that counts as an improvement.
        threshold: f64 = 1e-4,
        /// `rel` or `abs`.
        threshold_mode: ThresholdMode = ThresholdMode::Rel,
        /// The steps to wait after a cut before counting again.
        cooldown: i64 = 0,
        /// The lowest LR (one, or one per group).
        min_lr: PerGroup = PerGroup::All(0.0),
        /// The smallest cut applied.
        eps: f64 = 1e-8,
    }
}

impl ScheduleConfig for ReduceLROnPlateauConfig {
    const NAME: &'static str = "ReduceLROnPlateau";
    const EXAMPLE: &'static str = "{name: ReduceLROnPlateau, patience: 1, factor: 0.5, min_lr: 0.004}";
    const TAKES_METRIC: bool = true;

    fn schedule(&self) -> Result<Box<dyn Schedule>, Diag> {
        Ok(ReduceLROnPlateau::from_args(self.clone()).boxed())
    }
}

/// Whether the monitored metric should go down (`min`, a loss) or up (`max`, an accuracy).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PlateauMode {
    /// Lower is better.
    Min,
    /// Higher is better.
    Max,
}

/// How `threshold` is applied: relative (`best * (1 ∓ threshold)`) or absolute (`best ∓ threshold`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ThresholdMode {
    /// Relative to the best value.
    Rel,
    /// Absolute.
    Abs,
}

/// PyTorch's `ReduceLROnPlateau`: multiplies each group's LR by `factor` when
/// the metric has not improved for more than `patience` steps, then waits
/// `cooldown` steps; never below the group's `min_lr`, and not at all when the
/// change would be `eps` or less.
///
/// Its step takes the metric:
/// [`Scheduler::<ReduceLROnPlateau>::step`](crate::Scheduler::step).
///
/// ```
/// # use tch::{nn, Device};
/// use tch_lr::{Optim, ReduceLROnPlateau};
/// # let vs = nn::VarStore::new(Device::Cpu);
/// # let _w = vs.root().zeros("w", &[1]);
/// let opt = Optim::new(nn::Sgd { momentum: 0.9, ..Default::default() }, &vs, 0.05)?;
/// // ReduceLROnPlateau(optimizer, mode='min', patience=2, cooldown=2)
/// let mut sched = ReduceLROnPlateau::new().patience(2).cooldown(2).build(opt)?;
/// for _epoch in 0..4 {
///     let val_loss = 1.0; // no improvement
///     sched.step(val_loss)?;
/// }
/// assert!((sched.last_lr()[0] - 0.005).abs() < 1e-15);
/// # Ok::<(), tch_lr::Error>(())
/// ```
///
/// # Errors
/// [`Error::Value`] when `factor >= 1` or a `min_lr` list has the wrong length
/// (PyTorch's messages); [`Error::NanMetric`] for a NaN metric (PyTorch would
/// count it as a bad epoch silently).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ReduceLROnPlateau {
    #[serde(flatten)]
    args: ReduceLROnPlateauConfig,
    min_lrs: Vec<f64>,
    best: f64,
    num_bad_epochs: i64,
    cooldown_counter: i64,
    last_epoch: i64,
    last_lr: Vec<f64>,
}

impl ReduceLROnPlateau {
    /// The schedule of `args`, not yet bound to an optimizer.
    pub fn from_args(args: ReduceLROnPlateauConfig) -> Self {
        ReduceLROnPlateau {
            args,
            min_lrs: Vec::new(),
            best: f64::INFINITY,
            num_bad_epochs: 0,
            cooldown_counter: 0,
            last_epoch: 0,
            last_lr: Vec::new(),
        }
    }

    /// Binds the schedule to `optim`: see [`LRScheduler::build`](crate::schedulers::LRScheduler::build).
    ///
    /// # Errors
    /// PyTorch's constructor errors (`factor >= 1`, a `min_lr` list of the wrong length).
    pub fn build(self, optim: crate::Optim) -> Result<crate::Scheduler<Self>> {
        crate::Scheduler::new(optim, self)
    }

    /// Boxes the schedule, to drive it from code that handles any schedule.
    pub fn boxed(self) -> Box<dyn Schedule> {
        Box::new(self)
    }

    /// The best metric so far.
    pub fn best(&self) -> f64 {
        self.best
    }

    /// The number of consecutive steps without improvement.
    pub fn num_bad_epochs(&self) -> i64 {
        self.num_bad_epochs
    }

    /// Whether the scheduler is in its cooldown.
    pub fn in_cooldown(&self) -> bool {
        self.cooldown_counter > 0
    }

    fn is_better(&self, a: f64, best: f64) -> bool {
        match (self.args.mode, self.args.threshold_mode) {
            (PlateauMode::Min, ThresholdMode::Rel) => a < best * (1.0 - self.args.threshold),
            (PlateauMode::Min, ThresholdMode::Abs) => a < best - self.args.threshold,
            (PlateauMode::Max, ThresholdMode::Rel) => a > best * (self.args.threshold + 1.0),
            (PlateauMode::Max, ThresholdMode::Abs) => a > best + self.args.threshold,
        }
    }

    fn mode_worse(&self) -> f64 {
        match self.args.mode {
            PlateauMode::Min => f64::INFINITY,
            PlateauMode::Max => f64::NEG_INFINITY,
        }
    }

    fn reduce_lr(&self, groups: &mut ParamGroups) {
        for (g, &min_lr) in groups.iter_mut().zip(&self.min_lrs) {
            let old = g.lr;
            let scaled = old * self.args.factor;
            let new = if min_lr > scaled { min_lr } else { scaled };
            if old - new > self.args.eps {
                g.lr = new;
            }
        }
    }
}

impl Protocol for ReduceLROnPlateau {
    fn init(&mut self, groups: &mut ParamGroups) -> Result<()> {
        if self.args.factor >= 1.0 {
            return Err(Error::value("Factor should be < 1.0.").for_arg("factor"));
        }
        self.min_lrs = match &self.args.min_lr {
            PerGroup::All(v) => vec![*v; groups.len()],
            PerGroup::Each(v) if v.len() == groups.len() => v.clone(),
            PerGroup::Each(v) => {
                return Err(
                    Error::value(format!("expected {} min_lrs, got {}", groups.len(), v.len())).for_arg("min_lr")
                )
            }
        };
        self.last_epoch = 0;
        self.last_lr = groups.lrs();
        self.best = self.mode_worse();
        self.cooldown_counter = 0;
        self.num_bad_epochs = 0;
        Ok(())
    }

    fn initial_step(&mut self, _groups: &mut ParamGroups) -> Result<()> {
        Err(Error::Unsupported("ReduceLROnPlateau has no initial step: its step needs a metric".into()))
    }

    fn step(&mut self, _groups: &mut ParamGroups) -> Result<()> {
        Err(Error::Unsupported("ReduceLROnPlateau.step needs a metric".into()))
    }

    fn update_lr(&mut self, _groups: &mut ParamGroups, _epoch: i64) -> Result<()> {
        Err(Error::Unsupported("ReduceLROnPlateau cannot jump to an epoch".into()))
    }

    fn undo(&mut self) {
        self.last_epoch -= 1;
    }

    fn torch_state(&self, _groups: &ParamGroups) -> Result<serde_yaml::Value> {
        Ok(torch_state::merged([self.torch_args()?.written().clone(), torch_state::to_mapping(&self.torch_steps())?]))
    }

    fn load_torch_state(&mut self, file: &serde_yaml::Value, groups: &ParamGroups) -> Result<()> {
        let name = self.name();
        let d = torch_state::load(name, &self.torch_args()?, &self.torch_steps(), file)?;
        torch_state::per_group(name, "min_lrs", &d.min_lrs, groups.len())?;
        torch_state::per_group(name, "_last_lr", &d.last_lr, groups.len())?;
        self.min_lrs = d.min_lrs;
        self.best = d.best;
        self.cooldown_counter = d.cooldown_counter;
        self.num_bad_epochs = d.num_bad_epochs;
        self.last_epoch = d.last_epoch;
        self.last_lr = d.last_lr;
        Ok(())
    }

    fn step_metric(&mut self, groups: &mut ParamGroups, current: f64) -> Result<()> {
        if current.is_nan() {
            return Err(Error::NanMetric);
        }
        self.last_epoch = self.last_epoch.saturating_add(1);
        if self.is_better(current, self.best) {
            self.best = current;
            self.num_bad_epochs = 0;
        } else {
            self.num_bad_epochs = self.num_bad_epochs.saturating_add(1);
        }
        if self.in_cooldown() {
            self.cooldown_counter -= 1;
            self.num_bad_epochs = 0;
        }
        if self.num_bad_epochs > self.args.patience {
            self.reduce_lr(groups);
            self.cooldown_counter = self.args.cooldown;
            self.num_bad_epochs = 0;
        }
        groups.copy_lrs_into(&mut self.last_lr);
        Ok(())
    }
}

/// `ReduceLROnPlateau.state_dict()`'s arguments (`default_min_lr`, `eps`,
/// `mode`, `mode_worse` and `threshold_mode` are missing in files of older
/// PyTorch versions).
#[derive(Serialize, Deserialize)]
struct ReduceLROnPlateauDict {
    factor: f64,
    #[serde(default)]
    default_min_lr: Option<f64>,
    patience: i64,
    cooldown: i64,
    #[serde(default)]
    eps: Option<f64>,
    #[serde(default)]
    mode_worse: Option<f64>,
    #[serde(default)]
    mode: Option<PlateauMode>,
    threshold: f64,
    #[serde(default)]
    threshold_mode: Option<ThresholdMode>,
}

/// What `ReduceLROnPlateau`'s steps change.
#[derive(Serialize, Deserialize)]
struct ReduceLROnPlateauSteps {
    min_lrs: Vec<f64>,
    best: f64,
    cooldown_counter: i64,
    num_bad_epochs: i64,
    last_epoch: i64,
    #[serde(rename = "_last_lr")]
    last_lr: Vec<f64>,
}

impl ReduceLROnPlateau {
    fn torch_args(&self) -> Result<TorchArgs> {
        let a = &self.args;
        TorchArgs::of(&ReduceLROnPlateauDict {
            factor: a.factor,
            default_min_lr: match a.min_lr {
                PerGroup::All(v) => Some(v),
                PerGroup::Each(_) => None,
            },
            patience: a.patience,
            cooldown: a.cooldown,
            eps: Some(a.eps),
            mode_worse: Some(self.mode_worse()),
            mode: Some(a.mode),
            threshold: a.threshold,
            threshold_mode: Some(a.threshold_mode),
        })
    }

    fn torch_steps(&self) -> ReduceLROnPlateauSteps {
        ReduceLROnPlateauSteps {
            min_lrs: self.min_lrs.clone(),
            best: self.best,
            cooldown_counter: self.cooldown_counter,
            num_bad_epochs: self.num_bad_epochs,
            last_epoch: self.last_epoch,
            last_lr: self.last_lr.clone(),
        }
    }
}

impl Schedule for ReduceLROnPlateau {
    fn name(&self) -> &'static str {
        <ReduceLROnPlateauConfig as ScheduleConfig>::NAME
    }

    fn last_lr(&self) -> &[f64] {
        &self.last_lr
    }

    fn last_epoch(&self) -> i64 {
        self.last_epoch
    }

    fn takes_metric(&self) -> bool {
        true
    }

    fn state(&self) -> Result<serde_yaml::Value> {
        to_state(self)
    }

    fn load_state(&mut self, state: serde_yaml::Value) -> Result<()> {
        *self = from_state(<ReduceLROnPlateauConfig as ScheduleConfig>::NAME, state)?;
        Ok(())
    }
}
