//! Python's arithmetic where it differs from Rust's: floor division and modulo
//! with the divisor's sign, and errors instead of inf/NaN where Python raises.

use crate::error::{Error, Result};

/// Python's `a % b` on ints (the result has the sign of `b`). `i128`, so
/// that sums of `i64` arguments (`e - 1 - T_max`, `2 * T_max`) never overflow.
pub(crate) fn py_mod(a: i128, b: i128) -> Result<i128> {
    if b == 0 {
        return Err(Error::ZeroDivision("integer modulo by zero"));
    }
    // The common case in 64 bits: i128 division is a slow library call.
    if let (Ok(a), Ok(b)) = (i64::try_from(a), i64::try_from(b)) {
        let r = a.wrapping_rem(b);
        return Ok(i128::from(if r != 0 && ((r < 0) != (b < 0)) { r + b } else { r }));
    }
    let r = a.wrapping_rem(b);
    Ok(if r != 0 && ((r < 0) != (b < 0)) { r + b } else { r })
}

/// Python's `a // b` on ints (rounds toward negative infinity).
pub(crate) fn py_floordiv(a: i128, b: i128) -> Result<i128> {
    if b == 0 {
        return Err(Error::ZeroDivision("integer division or modulo by zero"));
    }
    let q = a.wrapping_div(b);
    Ok(if a.wrapping_rem(b) != 0 && ((a < 0) != (b < 0)) { q - 1 } else { q })
}

/// Python's `a / b` on floats: `ZeroDivisionError` when `b` is zero.
#[inline]
pub(crate) fn div(a: f64, b: f64) -> Result<f64> {
    if b == 0.0 {
        Err(Error::ZeroDivision("float division by zero"))
    } else {
        Ok(a / b)
    }
}

/// Python's `a ** b` on floats: C's `pow`, but raising where Python raises
/// (zero to a negative power, overflow) instead of returning inf.
#[inline]
pub(crate) fn pow(a: f64, b: f64) -> Result<f64> {
    let r = a.powf(b);
    if r.is_finite() || !a.is_finite() || !b.is_finite() {
        return Ok(r);
    }
    if r.is_nan() {
        Err(Error::value("a negative number raised to a fractional power (Python gives a complex number)"))
    } else if a == 0.0 && b < 0.0 {
        Err(Error::ZeroDivision("0.0 cannot be raised to a negative power"))
    } else {
        Err(Error::Overflow("float power"))
    }
}

/// Python's `float(a) / float(b)` for ints (true division).
#[inline]
pub(crate) fn idiv(a: i64, b: i64) -> Result<f64> {
    div(a as f64, b as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modulo_and_floor_division_follow_python() {
        assert_eq!(py_mod(7, 3).unwrap(), 1);
        assert_eq!(py_mod(-7, 3).unwrap(), 2);
        assert_eq!(py_mod(7, -3).unwrap(), -2);
        assert_eq!(py_mod(-1, 6).unwrap(), 5);
        assert_eq!(py_floordiv(7, 2).unwrap(), 3);
        assert_eq!(py_floordiv(-7, 2).unwrap(), -4);
        assert_eq!(py_floordiv(-1, 3).unwrap(), -1);
        assert!(py_mod(1, 0).is_err());
        assert!(py_floordiv(1, 0).is_err());
    }

    #[test]
    fn float_errors_follow_python() {
        assert!(div(1.0, 0.0).is_err());
        assert!(pow(0.0, -1.0).is_err());
        assert!(pow(2.0, 5000.0).is_err());
        assert_eq!(pow(0.5, 5000.0).unwrap(), 0.0);
        assert_eq!(pow(2.0, 3.0).unwrap(), 8.0);
    }
}
