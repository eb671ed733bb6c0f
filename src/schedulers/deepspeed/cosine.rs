//! `WarmupCosineLR`: a warmup of the ratio, then a cosine to `cos_min_ratio`.

use std::f64::consts::PI;

use serde::{Deserialize, Serialize};

use super::scheduler::{DeepSpeedPolicy, DeepSpeedScheduler};
use super::warmup::{Warmup, WarmupType};
use crate::config::kwargs::{kwargs, Diag};
use crate::error::Result;
use crate::groups::ParamGroups;
use crate::schedulers::pymath::{cos, py_max, py_min, true_div};
use crate::schedulers::registry::ScheduleConfig;
use crate::schedulers::schedule::Schedule;

kwargs! {
    /// `WarmupCosineLR`'s keyword arguments: `WarmupCosineLR(optimizer,
    /// total_num_steps, warmup_min_ratio=0.0, warmup_num_steps=1000,
    /// cos_min_ratio=0.0001, warmup_type='log')`.
    pub struct WarmupCosineLRConfig for WarmupCosineLR {
        /// The step at which the cosine ends.
        total_num_steps: i64,
        /// The ratio of the LR the warmup starts from.
        warmup_min_ratio: f64 = 0.0,
        /// The warmup's length (at least 2 is used).
        warmup_num_steps: i64 = 1000,
        /// The ratio the cosine ends at, and holds after.
        cos_min_ratio: f64 = 0.0001,
        /// `log` or `linear`.
        warmup_type: WarmupType = WarmupType::Log,
    }
}

impl ScheduleConfig for WarmupCosineLRConfig {
    const NAME: &'static str = "deepspeed.WarmupCosineLR";
    const EXAMPLE: &'static str =
        "{name: deepspeed.WarmupCosineLR, total_num_steps: 12, warmup_num_steps: 3, warmup_min_ratio: 0.1}";

    fn schedule(&self) -> Result<Box<dyn Schedule>, Diag> {
        Ok(WarmupCosineLR::from_args(self.clone()).boxed())
    }
}

/// DeepSpeed's `WarmupCosineLR`: each group's LR at construction times a
/// ratio that warms up from `warmup_min_ratio` to 1 (log or linear), then
/// follows a cosine down to `cos_min_ratio` at `total_num_steps` and stays
/// there (DeepSpeed 0.19.3 on). At construction the LR is 0.0, and the first
/// step runs at `warmup_min_ratio` (0 by default): the first two updates at
/// the floor.
///
/// ```
/// # use tch::{nn, Device};
/// use tch_lr::deepspeed::WarmupCosineLR;
/// use tch_lr::Optim;
/// # let vs = nn::VarStore::new(Device::Cpu);
/// # let _w = vs.root().zeros("w", &[1]);
/// let opt = Optim::new(nn::AdamW::default(), &vs, 1e-3)?;
/// // WarmupCosineLR(optimizer, total_num_steps=100, warmup_num_steps=10)
/// let mut sched = WarmupCosineLR::new(100).warmup_num_steps(10).build(opt)?;
/// assert_eq!(sched.last_lr(), [0.0]);
/// for _ in 0..200 {
///     sched.step()?;
/// }
/// assert!((sched.last_lr()[0] - 1e-3 * 1e-4).abs() < 1e-20); // cos_min_ratio, held
/// # Ok::<(), tch_lr::Error>(())
/// ```
///
/// # Errors
/// [`Error::Value`](crate::Error::Value) with DeepSpeed's message for a
/// `warmup_num_steps` that is not positive.
pub type WarmupCosineLR = DeepSpeedScheduler<WarmupCosineLRConfig>;

/// What `WarmupCosineLR`'s constructor computes.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct WarmupCosineState {
    /// `org_lrs`: each group's LR at construction.
    org_lrs: Vec<f64>,
    warmup: Warmup,
}

impl WarmupCosineLRConfig {
    /// `get_lr_ratio()` at `last_batch_iteration = i >= 0`.
    fn ratio(&self, warmup: &Warmup, i: i64) -> Result<f64> {
        if let Some(r) = warmup.gamma(i) {
            let delta = 1.0 - self.warmup_min_ratio;
            return Ok(self.warmup_min_ratio + r * delta);
        }
        let w = i128::from(warmup.steps());
        let real_last_step = i128::from(i) - w + 1;
        let real_total_steps = (i128::from(self.total_num_steps) - w).max(1);
        let progress = py_min(1.0, true_div(real_last_step, real_total_steps)?);
        let delta = 1.0 - self.cos_min_ratio;
        let ratio = (1.0 + cos(PI * progress)?) / 2.0;
        Ok(py_max(0.0, self.cos_min_ratio + delta * ratio))
    }
}

impl DeepSpeedPolicy for WarmupCosineLRConfig {
    const NAME: &'static str = <Self as ScheduleConfig>::NAME;
    type State = WarmupCosineState;

    fn init(&self, groups: &mut ParamGroups, notes: &mut Vec<String>) -> Result<WarmupCosineState> {
        let warmup = Warmup::new(self.warmup_num_steps, &self.warmup_type, notes)?;
        if self.total_num_steps < warmup.steps() {
            notes.push(format!(
                "total_num_steps {} is less than warmup_num_steps {} (DeepSpeed's warning)",
                self.total_num_steps, self.warmup_num_steps
            ));
        }
        let org_lrs = groups.lrs();
        for g in groups.iter_mut() {
            g.lr = 0.0;
        }
        Ok(WarmupCosineState { org_lrs, warmup })
    }

    fn get_lr(&self, s: &WarmupCosineState, i: i64, out: &mut [f64]) -> Result<()> {
        if i < 0 {
            out.fill(0.0);
            return Ok(());
        }
        let ratio = self.ratio(&s.warmup, i)?;
        for (o, org) in out.iter_mut().zip(&s.org_lrs) {
            *o = org * ratio;
        }
        Ok(())
    }
}
