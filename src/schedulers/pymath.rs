//! Python's arithmetic where it differs from Rust's, in one place for every
//! family: floor division and modulo with the divisor's sign, `max`/`min`
//! and comparisons with Python's NaN behaviour, `math.cos`/`log`/`sqrt`/
//! `floor`, true division of ints, `repr(float)` ([`py_float`]), and errors
//! instead of inf/NaN where Python raises.

use std::cmp::Ordering;

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

fn domain_error() -> Error {
    Error::value("math domain error")
}

/// `math.log(x)` for a float: `ValueError` where the result would be NaN or
/// infinite for a finite argument (zero, negatives).
pub(crate) fn ln(x: f64) -> Result<f64> {
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
pub(crate) fn float_floordiv(a: f64, b: f64) -> Result<f64> {
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

/// `math.sqrt`: `ValueError` below zero (`-0.0` is fine).
#[inline]
pub(crate) fn sqrt(x: f64) -> Result<f64> {
    if x < 0.0 {
        Err(Error::value("math domain error"))
    } else {
        Ok(x.sqrt())
    }
}

/// Python's `x % 1.0` on floats: the result has the sign of the divisor.
#[inline]
pub(crate) fn mod_one(x: f64) -> f64 {
    let m = x % 1.0;
    if m == 0.0 {
        0.0
    } else if m < 0.0 {
        m + 1.0
    } else {
        m
    }
}

/// `float(a)` of an int.
#[inline]
pub(crate) fn float(a: i128) -> f64 {
    a as f64
}

/// `a / b` on ints (true division): `ZeroDivisionError` when `b` is zero.
#[inline]
pub(crate) fn true_div(a: i128, b: i128) -> Result<f64> {
    if b == 0 {
        Err(Error::ZeroDivision("division by zero"))
    } else {
        Ok(float(a) / float(b))
    }
}

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
}
