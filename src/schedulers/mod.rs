//! Every schedule tch-lr knows, one file per family, the [`Schedule`] trait
//! they implement, and the [`registry`] that lists them.
//!
//! | class (config `name`) | file | reference |
//! |---|---|---|
//! | `StepLR`, `MultiStepLR`, `ExponentialLR` | `step.rs` | `torch.optim.lr_scheduler` |
//! | `ConstantLR`, `LinearLR` | `warmup.rs` | `torch.optim.lr_scheduler` |
//! | `PolynomialLR` | `polynomial.rs` | `torch.optim.lr_scheduler` |
//! | `CosineAnnealingLR`, `CosineAnnealingWarmRestarts` | `cosine.rs` | `torch.optim.lr_scheduler` |
//! | `LambdaLR`, `MultiplicativeLR` | `lambda.rs` | `torch.optim.lr_scheduler` |
//! | `SequentialLR`, `ChainedScheduler` | `composite.rs` | `torch.optim.lr_scheduler` |
//! | `ReduceLROnPlateau` | `plateau.rs` | `torch.optim.lr_scheduler` |
//! | `CyclicLR` | `cyclic.rs` | `torch.optim.lr_scheduler` |
//! | `OneCycleLR` | `one_cycle.rs` | `torch.optim.lr_scheduler` |
//! | `transformers.linear`, `transformers.cosine`, ... (the [`transformers`] module) | `transformers/` | transformers' `get_scheduler` |
//! | `timm.CosineLRScheduler`, `timm.WSDLRScheduler`, ... (the [`timm`] module) | `timm/` | timm's `timm.scheduler` |
//!
//! Shared machinery: `base.rs` (PyTorch's `LRScheduler` base class, for every
//! [`LrPolicy`]), `schedule.rs` (the [`Schedule`] trait and the hidden
//! [`Protocol`] composites use), `pymath.rs` (Python's arithmetic: `**`,
//! `//`, `%`, and its errors), `registry.rs` (the list).
//!
//! # Adding a schedule
//!
//! A closed-form schedule is an [`LrPolicy`]: its `get_lr()` (the recursive
//! form PyTorch's `step()` uses) and, where the reference has one, its
//! `_get_closed_form_lr()`. The base class (construction, initial step,
//! `last_epoch`, saved state) comes with the trait, so the schedule can be
//! bound to an optimizer, stepped, saved and loaded at once. In your own
//! crate:
//!
//! ```
//! use serde::{Deserialize, Serialize};
//! use tch::{nn, Device};
//! use tch_lr::{Base, LrPolicy, Optim, ParamGroups, ScheduleExt as _};
//!
//! /// `lr = base_lr / sqrt(max(epoch, 1))`: an inverse square root decay.
//! #[derive(Clone, Debug, Default, Serialize, Deserialize)]
//! struct InverseSqrtLR {
//!     base: Base,
//! }
//!
//! impl LrPolicy for InverseSqrtLR {
//!     const NAME: &'static str = "InverseSqrtLR";
//!
//!     fn base(&self) -> &Base {
//!         &self.base
//!     }
//!     fn base_mut(&mut self) -> &mut Base {
//!         &mut self.base
//!     }
//!     fn get_lr(&self, _groups: &mut ParamGroups, out: &mut [f64]) -> tch_lr::Result<()> {
//!         self.closed_form(out).map(drop)
//!     }
//!     fn closed_form(&self, out: &mut [f64]) -> tch_lr::Result<bool> {
//!         let k = (self.base.last_epoch.max(1) as f64).sqrt();
//!         for (lr, base_lr) in out.iter_mut().zip(&self.base.base_lrs) {
//!             *lr = base_lr / k;
//!         }
//!         Ok(true)
//!     }
//! }
//!
//! let vs = nn::VarStore::new(Device::Cpu);
//! let _w = vs.root().zeros("w", &[1]);
//! let mut sched = InverseSqrtLR::default().build(Optim::new(nn::Sgd::default(), &vs, 0.1)?)?;
//! for _ in 0..4 {
//!     sched.step()?;
//! }
//! assert_eq!(sched.last_lr(), [0.1 / 2.0]); // epoch 4: 0.1 / sqrt(4)
//! # Ok::<(), tch_lr::Error>(())
//! ```
//!
//! To make it part of tch-lr, so that configs, `tch-lr list`, the tests and
//! the benchmarks know it:
//!
//! 1. **One new file** here with the policy above, its keyword arguments
//!    declared once with their defaults (`kwargs! { pub struct
//!    InverseSqrtLRConfig { ... } }`; the builder methods take their defaults
//!    from its constants), and `impl ScheduleConfig for InverseSqrtLRConfig`:
//!    the config `NAME`, an `EXAMPLE` config that changes within a dozen steps
//!    on any number of groups, and `schedule()` (config → schedule). Declare
//!    the module in this file and re-export the two types.
//! 2. **One registry line** in `registry.rs`: `InverseSqrtLR(InverseSqrtLRConfig),`.
//! 3. **Its fixture cases**: an entry in `FILES` of the reference's generator
//!    (`scripts/gen_fixtures.py` for PyTorch), then run it to write
//!    `tests/fixtures/parity/InverseSqrtLR.json`. The parity, resume, runtime,
//!    allocation and config tests pick the schedule up from the registry.
//!
//! `tests/registry.rs` then says what else is missing: a config in
//! `configs/`, a case in each list of `benches/schedulers.rs` and
//! `scripts/bench_pytorch.py`, and a plot `docs/InverseSqrtLR.png`
//! (`scripts/plots.sh`) shown in the README.

mod base;
mod composite;
mod cosine;
mod cyclic;
mod lambda;
mod one_cycle;
mod plateau;
mod polynomial;
pub(crate) mod pymath;
pub mod registry;
mod schedule;
mod step;
pub mod timm;
pub mod transformers;
mod warmup;

pub use base::{Base, LrPolicy};
pub use composite::{ChainedScheduler, ChainedSchedulerConfig, SequentialLR, SequentialLRConfig};
pub use cosine::{
    CosineAnnealingLR, CosineAnnealingLRConfig, CosineAnnealingWarmRestarts, CosineAnnealingWarmRestartsConfig,
};
pub use cyclic::{CyclicLR, CyclicLRConfig, CyclicMode, ScaleFn, ScaleMode};
pub use lambda::{LambdaLR, LambdaLRConfig, LrLambda, MultiplicativeLR, MultiplicativeLRConfig};
pub use one_cycle::{AnnealStrategy, OneCycleLR, OneCycleLRConfig};
pub use plateau::{PlateauMode, ReduceLROnPlateau, ReduceLROnPlateauConfig, ThresholdMode};
pub use polynomial::{PolynomialLR, PolynomialLRConfig};
pub use registry::{ScheduleConfig, ScheduleInfo, SchedulerConfig, REGISTRY};
pub use schedule::{Chainable, Protocol, Schedule};
pub use step::{ExponentialLR, ExponentialLRConfig, MultiStepLR, MultiStepLRConfig, StepLR, StepLRConfig};
pub use warmup::{ConstantLR, ConstantLRConfig, LinearLR, LinearLRConfig, WarmupConfig};

/// A float as Python's `repr` writes it in messages: the shortest digits that
/// round-trip, `2.0` (not `2`), `1e-05` and `1e+16` (not `0.00001` and
/// `10000000000000000`), `nan`, `inf`.
pub(crate) fn py_float(v: f64) -> String {
    if v.is_nan() {
        return "nan".into();
    }
    if v.is_infinite() {
        return if v > 0.0 { "inf" } else { "-inf" }.into();
    }
    // Rust's `{:e}` gives the shortest round-trip digits: "-1.2345e-7".
    let sci = format!("{v:e}");
    let (mantissa, exp) = sci.split_once('e').unwrap_or((&sci, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let (sign, mantissa) = mantissa.strip_prefix('-').map_or(("", mantissa), |m| ("-", m));
    let digits: String = mantissa.chars().filter(char::is_ascii_digit).collect();
    if (-4..16).contains(&exp) {
        // Fixed notation, as Python's repr for 1e-4 <= |v| < 1e16.
        let point = exp + 1; // digits before the decimal point
        let (int, frac) = if point <= 0 {
            ("0".to_string(), format!("{}{digits}", "0".repeat((-point) as usize)))
        } else if point as usize >= digits.len() {
            (format!("{digits}{}", "0".repeat(point as usize - digits.len())), String::new())
        } else {
            (digits[..point as usize].to_string(), digits[point as usize..].to_string())
        };
        let frac = if frac.is_empty() { "0".to_string() } else { frac };
        format!("{sign}{int}.{frac}")
    } else {
        let (first, rest) = digits.split_at(1);
        let rest = if rest.is_empty() { String::new() } else { format!(".{rest}") };
        format!("{sign}{first}{rest}e{}{:02}", if exp < 0 { '-' } else { '+' }, exp.abs())
    }
}

#[cfg(test)]
mod tests {
    use super::py_float;

    /// `repr(float)` in Python 3 for the same values.
    #[test]
    fn py_float_writes_what_python_repr_writes() {
        let cases = [
            (2.0, "2.0"),
            (-0.1, "-0.1"),
            (0.0001, "0.0001"),
            (1e-5, "1e-05"),
            (-1.5e-7, "-1.5e-07"),
            (123456.789, "123456.789"),
            (1e15, "1000000000000000.0"),
            (1e16, "1e+16"),
            (1.25e300, "1.25e+300"),
            (0.1 + 0.2, "0.30000000000000004"),
            (f64::NAN, "nan"),
            (f64::NEG_INFINITY, "-inf"),
            (-0.0, "-0.0"),
        ];
        for (v, want) in cases {
            assert_eq!(py_float(v), want, "{v:e}");
        }
    }
}
