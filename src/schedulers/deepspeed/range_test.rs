//! `LRRangeTest`: the LR grows from a minimum, linearly or in stairs.

use serde::{Deserialize, Serialize};

use super::scheduler::{DeepSpeedPolicy, DeepSpeedScheduler};
use crate::config::kwargs::{kwargs, Diag};
use crate::error::{Error, Result};
use crate::groups::{ParamGroups, PerGroup};
use crate::schedulers::registry::ScheduleConfig;
use crate::schedulers::schedule::Schedule;

kwargs! {
    /// `LRRangeTest`'s keyword arguments: `LRRangeTest(optimizer,
    /// lr_range_test_min_lr=1e-3, lr_range_test_step_size=2000,
    /// lr_range_test_step_rate=1.0, lr_range_test_staircase=False)`.
    pub struct LRRangeTestConfig for LRRangeTest {
        /// The LR the test starts from (one, or one per group).
        lr_range_test_min_lr: PerGroup = PerGroup::All(1e-3),
        /// The steps per increase of the interval.
        lr_range_test_step_size: i64 = 2000,
        /// The LR grows by `min_lr * step_rate` per `step_size` steps.
        lr_range_test_step_rate: f64 = 1.0,
        /// Grow in stairs (the interval floored) rather than every step.
        lr_range_test_staircase: bool = false,
    }
}

impl ScheduleConfig for LRRangeTestConfig {
    const NAME: &'static str = "deepspeed.LRRangeTest";
    const EXAMPLE: &'static str = "{name: deepspeed.LRRangeTest, lr_range_test_min_lr: 0.01, \
                                   lr_range_test_step_size: 2, lr_range_test_step_rate: 0.5}";

    fn schedule(&self) -> Result<Box<dyn Schedule>, Diag> {
        Ok(LRRangeTest::from_args(self.clone()).boxed())
    }
}

/// DeepSpeed's `LRRangeTest`: `lr = min_lr * (1 + step_rate * u)` with
/// `u = (i + 1) / step_size` (floored with `staircase`), `i` the
/// `last_batch_iteration`: an LR range test that never stops by itself
/// (the [`lr_finder`](crate::lr_finder) runs one with its own stopping rule).
///
/// ```
/// # use tch::{nn, Device};
/// use tch_lr::deepspeed::LRRangeTest;
/// use tch_lr::Optim;
/// # let vs = nn::VarStore::new(Device::Cpu);
/// # let _w = vs.root().zeros("w", &[1]);
/// let opt = Optim::new(nn::Sgd::default(), &vs, 0.1)?;
/// // LRRangeTest(optimizer, lr_range_test_min_lr=1e-3, lr_range_test_step_size=10)
/// let mut sched = LRRangeTest::new().lr_range_test_step_size(10).build(opt)?;
/// assert_eq!(sched.last_lr(), [1e-3]);
/// for _ in 0..10 {
///     sched.step()?;
/// }
/// assert_eq!(sched.last_lr(), [2e-3]); // i = 9: 1e-3 * (1 + 1.0 * 10 / 10)
/// # Ok::<(), tch_lr::Error>(())
/// ```
///
/// # Errors
/// [`Error::Value`] with DeepSpeed's messages: a per-group list of the
/// wrong length, a `lr_range_test_step_size` that is not positive.
pub type LRRangeTest = DeepSpeedScheduler<LRRangeTestConfig>;

/// What `LRRangeTest`'s constructor computes: `min_lr`, one per group.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct LRRangeTestState {
    min_lr: Vec<f64>,
}

impl DeepSpeedPolicy for LRRangeTestConfig {
    const NAME: &'static str = <Self as ScheduleConfig>::NAME;
    type State = LRRangeTestState;

    fn init(&self, groups: &mut ParamGroups, _notes: &mut Vec<String>) -> Result<LRRangeTestState> {
        let n = groups.len();
        let min_lr = match &self.lr_range_test_min_lr {
            PerGroup::All(v) => vec![*v; n],
            PerGroup::Each(v) if v.len() == n => v.clone(),
            PerGroup::Each(v) => {
                return Err(Error::value(format!("expected {n} lr_range_test_min_lr, got {}", v.len()))
                    .for_arg("lr_range_test_min_lr"))
            }
        };
        let size = self.lr_range_test_step_size;
        if size <= 0 {
            return Err(Error::value(format!("lr_range_test_step_size must be a positive integer, got {size}"))
                .for_arg("lr_range_test_step_size"));
        }
        for (g, &lr) in groups.iter_mut().zip(&min_lr) {
            g.lr = lr;
        }
        Ok(LRRangeTestState { min_lr })
    }

    fn get_lr(&self, s: &LRRangeTestState, i: i64, out: &mut [f64]) -> Result<()> {
        // float(i + 1) / step_size, floored for the staircase (an int then).
        let interval = (i + 1) as f64 / self.lr_range_test_step_size as f64;
        let interval = if self.lr_range_test_staircase { interval.floor() } else { interval };
        let increase = 1.0 + self.lr_range_test_step_rate * interval;
        for (o, min) in out.iter_mut().zip(&s.min_lr) {
            *o = min * increase;
        }
        Ok(())
    }
}
