//! Python's float functions as timm's formulas call them (`math.log(x, b)`,
//! `math.floor`, `math.cos`, `//`, `max`, `min`, `bisect_right`), raising
//! where Python raises, and the cycle arithmetic that `CosineLRScheduler`,
//! `TanhLRScheduler` and `PolyLRScheduler` share.

use std::cell::Cell;
use std::cmp::Ordering;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::schedulers::pymath::py_floordiv;
pub(crate) use crate::schedulers::pymath::{div, pow};

fn domain_error() -> Error {
    Error::value("math domain error")
}

/// `math.log(x)` for a float: `ValueError` where the result would be NaN or
/// infinite for a finite argument (zero, negatives).
fn ln(x: f64) -> Result<f64> {
    let r = x.ln();
    if (r.is_nan() && !x.is_nan()) || (r.is_infinite() && x.is_finite()) {
        Err(domain_error())
    } else {
        Ok(r)
    }
}

/// `math.log(x, base)`: `log(x) / log(base)`.
pub(crate) fn log(x: f64, base: f64) -> Result<f64> {
    div(ln(x)?, ln(base)?)
}

/// `math.floor(x)`, the Python int as an integral float.
pub(crate) fn floor(x: f64) -> Result<f64> {
    if x.is_nan() {
        Err(Error::value("cannot convert float NaN to integer"))
    } else if x.is_infinite() {
        Err(Error::Overflow("cannot convert float infinity to integer"))
    } else {
        Ok(x.floor())
    }
}

/// `math.cos(x)`: `ValueError` for an infinite argument.
pub(crate) fn cos(x: f64) -> Result<f64> {
    if x.is_infinite() {
        Err(domain_error())
    } else {
        Ok(x.cos())
    }
}

/// Python's `not a >= b`: also true when either is NaN.
pub(crate) fn not_ge(a: f64, b: f64) -> bool {
    !matches!(a.partial_cmp(&b), Some(Ordering::Greater | Ordering::Equal))
}

/// Python's `not a > b`: also true when either is NaN.
pub(crate) fn not_gt(a: f64, b: f64) -> bool {
    a.partial_cmp(&b) != Some(Ordering::Greater)
}

/// Python's `not a < b`: also true when either is NaN.
pub(crate) fn not_lt(a: f64, b: f64) -> bool {
    a.partial_cmp(&b) != Some(Ordering::Less)
}

/// Python's `max(a, b)`: `a` unless `b > a` (so `max(nan, 1.0)` is NaN).
pub(crate) fn py_max(a: f64, b: f64) -> f64 {
    if b > a {
        b
    } else {
        a
    }
}

/// Python's `min(a, b)`: `a` unless `b < a`.
pub(crate) fn py_min(a: f64, b: f64) -> f64 {
    if b < a {
        b
    } else {
        a
    }
}

/// Python's `t // b` for an int `t` and a float `b` (CPython's
/// `_float_div_mod` on `float(t)`).
pub(crate) fn floordiv(t: i128, b: f64) -> Result<f64> {
    const EXACT: f64 = 9_007_199_254_740_992.0; // 2^53: integers are exact below
    if b > 0.0 && b < EXACT && b.fract() == 0.0 && t.unsigned_abs() < 1 << 53 {
        // Both exact integers: the quotient is the integer one (no fmod).
        return Ok(t.div_euclid(b as i128) as f64);
    }
    float_floordiv(t as f64, b)
}

/// Python's `a // b` on floats (CPython's `_float_div_mod`).
fn float_floordiv(a: f64, b: f64) -> Result<f64> {
    if b == 0.0 {
        return Err(Error::ZeroDivision("float floor division by zero"));
    }
    let m = a % b;
    let mut d = (a - m) / b;
    if m != 0.0 && ((b < 0.0) != (m < 0.0)) {
        d -= 1.0;
    }
    Ok(if d != 0.0 {
        let f = d.floor();
        if d - f > 0.5 {
            f + 1.0
        } else {
            f
        }
    } else {
        0.0f64.copysign(a / b)
    })
}

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
            return Err(assertion(name, "t_initial > 0", self.t_initial.to_string()));
        }
        if not_ge(self.lr_min, 0.0) {
            return Err(assertion(name, "lr_min >= 0", crate::schedulers::py_float(self.lr_min)));
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
pub(crate) struct PowCache(Cell<Option<(u64, f64)>>);

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
    fn float_floor_division_follows_python() {
        assert_eq!(float_floordiv(7.0, 2.0).unwrap(), 3.0);
        assert_eq!(float_floordiv(-7.0, 2.0).unwrap(), -4.0);
        assert_eq!(float_floordiv(7.0, -2.0).unwrap(), -4.0);
        assert_eq!(float_floordiv(7.0, 2.5).unwrap(), 2.0);
        assert_eq!(float_floordiv(1.0, 0.1).unwrap(), 9.0); // Python: 1.0 // 0.1 == 9.0
        assert!(float_floordiv(0.0, -3.0).unwrap().is_sign_negative());
        assert!(float_floordiv(1.0, 0.0).is_err());
        // The integer path gives what the float path gives.
        for t in [-7i128, -1, 0, 1, 2, 29, 30, 31, 1 << 40] {
            for b in [1.0, 2.0, 3.0, 30.0, 1e15] {
                let (fast, slow) = (floordiv(t, b).unwrap(), float_floordiv(t as f64, b).unwrap());
                assert_eq!(fast.to_bits(), slow.to_bits(), "{t} // {b}");
            }
        }
    }

    #[test]
    fn log_floor_cos_raise_as_python() {
        assert!(log(0.0, 2.0).is_err());
        assert!(log(-1.0, 2.0).is_err());
        assert!(log(2.0, 0.0).is_err());
        assert!(log(f64::NAN, 2.0).unwrap().is_nan());
        assert!(floor(f64::NAN).is_err());
        assert!(floor(f64::INFINITY).is_err());
        assert!(cos(f64::INFINITY).is_err());
        assert!(py_max(f64::NAN, 1.0).is_nan());
        assert_eq!(py_min(0.5, 1.0), 0.5);
    }

    #[test]
    fn bisect_right_as_python() {
        assert_eq!(bisect_right(&[2, 5, 8], 5), 2);
        assert_eq!(bisect_right(&[], 5), 0);
        assert_eq!(bisect_right(&[5, 2], 3), 2); // unsorted: as Python
        assert!(int_lt(-1e300, 0) && !int_lt(1e300, i64::MAX) && int_lt(3.0, 4));
    }
}
