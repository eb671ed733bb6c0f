//! Python's float functions as timm's formulas call them (`math.log(x, b)`,
//! `math.floor`, `math.cos`, `//`, `max`, `min`, `bisect_right`), raising
//! where Python raises, and the cycle arithmetic that `CosineLRScheduler`,
//! `TanhLRScheduler` and `PolyLRScheduler` share.

use std::cell::Cell;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::schedulers::pymath::py_floordiv;
pub(crate) use crate::schedulers::pymath::{
    cos, div, floor, floordiv, log, not_ge, not_gt, not_lt, pow, py_max, py_min,
};

/// Python's `bisect.bisect_right(a, x)`, step for step (the same answer as
/// Python's on unsorted lists too).
pub(crate) fn bisect_right(a: &[i64], x: i128) -> usize {
    let (mut lo, mut hi) = (0, a.len());
    while lo < hi {
        let mid = (lo + hi) / 2;
        if x < i128::from(a[mid]) {
            hi = mid;
        } else {
            lo = mid + 1;
        }
    }
    lo
}

/// Python's `i < limit` for an integral float `i` and an int `limit`, exactly.
fn int_lt(i: f64, limit: i64) -> bool {
    const TWO_63: f64 = 9_223_372_036_854_775_808.0;
    if i >= TWO_63 {
        false
    } else if i < -TWO_63 {
        true
    } else {
        (i as i64) < limit
    }
}

/// The arguments of timm's cyclic schedules: `t_initial`, `lr_min`,
/// `cycle_mul`, `cycle_decay`, `cycle_limit`, `warmup_prefix`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub(crate) struct Cycles {
    pub t_initial: i64,
    pub lr_min: f64,
    pub cycle_mul: f64,
    pub cycle_decay: f64,
    pub cycle_limit: i64,
    pub warmup_prefix: bool,
}

/// Where `t` falls in the cycles.
pub(crate) struct Cycle {
    /// `i`: the cycle number (a Python int).
    pub i: f64,
    /// `t_i`: the cycle's length.
    pub t_i: f64,
    /// `t_curr`: the time since the cycle began.
    pub t_curr: f64,
    /// `i < cycle_limit`.
    pub within_limit: bool,
}

impl Cycles {
    /// timm's asserts shared by the cyclic schedules: `t_initial > 0`,
    /// `lr_min >= 0`.
    pub fn check(&self, name: &str) -> Result<()> {
        if self.t_initial <= 0 {
            return Err(assertion(name, "t_initial > 0", self.t_initial.to_string()).for_arg("t_initial"));
        }
        if not_ge(self.lr_min, 0.0) {
            return Err(assertion(name, "lr_min >= 0", crate::schedulers::py_float(self.lr_min)).for_arg("lr_min"));
        }
        Ok(())
    }

    /// The cycle of `t` (`t >= warmup_t`; less `warmup_t` with `warmup_prefix`).
    pub fn at(&self, t: i64, warmup_t: i64) -> Result<Cycle> {
        let t = if self.warmup_prefix { i128::from(t) - i128::from(warmup_t) } else { i128::from(t) };
        let (t_initial, mul) = (self.t_initial, self.cycle_mul);
        if mul != 1.0 {
            let x = 1.0 - div(t as f64, t_initial as f64)? * (1.0 - mul);
            let i = floor(log(x, mul)?)?;
            let t_i = pow(mul, i)? * t_initial as f64;
            let t_curr = t as f64 - div(1.0 - pow(mul, i)?, 1.0 - mul)? * t_initial as f64;
            Ok(Cycle { i, t_i, t_curr, within_limit: int_lt(i, self.cycle_limit) })
        } else {
            let i = match i64::try_from(t) {
                // The common case in 64 bits: i128 division is a slow library call.
                Ok(t) if t_initial > 0 => i128::from(t.div_euclid(t_initial)),
                _ => py_floordiv(t, t_initial.into())?,
            };
            let t_curr = t - i128::from(t_initial) * i;
            let within_limit = i < i128::from(self.cycle_limit);
            Ok(Cycle { i: i as f64, t_i: t_initial as f64, t_curr: t_curr as f64, within_limit })
        }
    }
}

/// Python's `x ** k` for the k-decay exponent: `x` itself for `k = 1` (what
/// `pow` gives, without calling it).
pub(crate) fn pow_k(x: f64, k: f64) -> Result<f64> {
    if k == 1.0 {
        Ok(x)
    } else {
        pow(x, k)
    }
}

/// `cycle_decay ** i`: 1 for `cycle_decay = 1` (what `pow` gives for any
/// `i`, without calling it).
pub(crate) fn decay_pow(cycle_decay: f64, i: f64) -> Result<f64> {
    if cycle_decay == 1.0 {
        Ok(1.0)
    } else {
        pow(cycle_decay, i)
    }
}

/// `base ** e` for a fixed `base`, remembering the last exponent: a step
/// decay's factor changes only at its milestones.
#[derive(Clone, Debug, Default)]
#[doc(hidden)]
pub struct PowCache(Cell<Option<(u64, f64)>>);

impl PowCache {
    /// `base ** e` (`base` must be the same at every call).
    pub fn pow(&self, base: f64, e: f64) -> Result<f64> {
        match self.0.get() {
            Some((key, v)) if key == e.to_bits() => Ok(v),
            _ => {
                let v = pow(base, e)?;
                self.0.set(Some((e.to_bits(), v)));
                Ok(v)
            }
        }
    }
}

/// A failed `assert` of timm's constructor.
pub(crate) fn assertion(name: &str, condition: &str, got: String) -> Error {
    Error::Assertion(format!("{name}: timm asserts {condition}, got {got}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bisect_right_as_python() {
        assert_eq!(bisect_right(&[2, 5, 8], 5), 2);
        assert_eq!(bisect_right(&[], 5), 0);
        assert_eq!(bisect_right(&[5, 2], 3), 2); // unsorted: as Python
        assert!(int_lt(-1e300, 0) && !int_lt(1e300, i64::MAX) && int_lt(3.0, 4));
    }
}
