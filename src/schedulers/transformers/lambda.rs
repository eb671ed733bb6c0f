//! The λ of each transformers schedule, evaluated as CPython evaluates
//! `optimization.py`: the same operations in the same order, ints where
//! transformers has ints (`i128` here, so that no sum of `i64` arguments
//! overflows), floats where it has floats, and Python's errors where Python
//! raises.

use std::f64::consts::PI;

use serde::{Deserialize, Serialize};

use crate::error::Result;
use crate::schedulers::pymath::{cos, div, float, mod_one, pow, py_max, sqrt, true_div};

/// The shape of [`WarmupStableDecay`](super::WarmupStableDecay)'s warmup (`warmup_type`), from
/// `min_lr_ratio` up to 1 with `p` going from 0 to 1.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum WarmupType {
    /// `"linear"`: `p`.
    #[default]
    #[serde(rename = "linear")]
    Linear,
    /// `"cosine"`: `0.5 * (1 - cos(π * p))`.
    #[serde(rename = "cosine")]
    Cosine,
    /// `"1-sqrt"`: `1 - sqrt(1 - p)`.
    #[serde(rename = "1-sqrt")]
    OneMinusSqrt,
}

/// The shape of [`WarmupStableDecay`](super::WarmupStableDecay)'s decay (`decay_type`), from 1 down to
/// `min_lr_ratio` with `p` going from 0 to 1.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum DecayType {
    /// `"linear"`: `1 - p`.
    #[serde(rename = "linear")]
    Linear,
    /// `"cosine"`: `0.5 * (1 + cos(π * num_cycles * 2 * p))`.
    #[default]
    #[serde(rename = "cosine")]
    Cosine,
    /// `"1-sqrt"`: `1 - sqrt(p)`.
    #[serde(rename = "1-sqrt")]
    OneMinusSqrt,
}

/// A transformers λ with its arguments resolved (`get_scheduler`'s checks
/// passed, `timescale`, `min_lr_rate`, `num_stable_steps` and the optimizer's
/// default LR known): `LambdaLR` multiplies each group's `initial_lr` by it.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub(crate) enum Lambda {
    /// `_get_constant_lambda`: `1`.
    #[default]
    Constant,
    /// `_get_constant_schedule_with_warmup_lr_lambda`.
    ConstantWithWarmup { w: i128 },
    /// `_get_linear_schedule_with_warmup_lr_lambda`.
    Linear { w: i128, t: i128 },
    /// `_get_cosine_schedule_with_warmup_lr_lambda` (the live definition, with
    /// `min_lr_rate`: `cosine` passes none, so 0.0; `cosine_with_min_lr`).
    Cosine { w: i128, t: i128, num_cycles: f64, min_lr_rate: f64 },
    /// `_get_cosine_with_hard_restarts_schedule_with_warmup_lr_lambda`.
    CosineWithRestarts { w: i128, t: i128, num_cycles: f64 },
    /// `_get_polynomial_decay_schedule_with_warmup_lr_lambda`.
    Polynomial { w: i128, t: i128, lr_end: f64, power: f64, lr_init: f64 },
    /// `_get_inverse_sqrt_schedule_lr_lambda`.
    InverseSqrt { w: i128, timescale: i128 },
    /// `_get_cosine_with_min_lr_schedule_with_warmup_lr_rate_lambda`.
    CosineWarmupWithMinLr { w: i128, t: i128, num_cycles: f64, min_lr_rate: f64, warmup_lr_rate: Option<f64> },
    /// `_get_wsd_scheduler_lambda`.
    WarmupStableDecay {
        w: i128,
        stable: i128,
        decay: i128,
        warmup_type: WarmupType,
        decay_type: DecayType,
        min_lr_ratio: f64,
        num_cycles: f64,
    },
}

/// The linear warmup most λs share: `float(s) / float(max(1, W))`.
#[inline]
fn warmup(s: i128, w: i128) -> f64 {
    float(s) / float(w.max(1))
}

/// `0.5 * (1.0 + math.cos(math.pi * float(num_cycles) * 2.0 * progress))`.
#[inline]
fn half_cosine(num_cycles: f64, progress: f64) -> Result<f64> {
    Ok(0.5 * (1.0 + cos(PI * num_cycles * 2.0 * progress)?))
}

impl Lambda {
    /// `lr_lambda(current_step)`.
    ///
    /// # Errors
    /// What Python raises there: `ZeroDivisionError`, `ValueError("math domain
    /// error")`, `OverflowError`.
    pub(super) fn at(&self, step: i64) -> Result<f64> {
        let s = i128::from(step);
        match *self {
            Lambda::Constant => Ok(1.0),
            Lambda::ConstantWithWarmup { w } => {
                // float(current_step) / float(max(1.0, num_warmup_steps))
                Ok(if s < w { float(s) / py_max(1.0, float(w)) } else { 1.0 })
            }
            Lambda::Linear { w, t } => {
                if s < w {
                    return Ok(warmup(s, w));
                }
                Ok(py_max(0.0, float(t - s) / float((t - w).max(1))))
            }
            Lambda::Cosine { w, t, num_cycles, min_lr_rate } => {
                if s < w {
                    return Ok(warmup(s, w));
                }
                let progress = float(s - w) / float((t - w).max(1));
                let factor = half_cosine(num_cycles, progress)?;
                let factor = factor * (1.0 - min_lr_rate) + min_lr_rate;
                Ok(py_max(0.0, factor))
            }
            Lambda::CosineWithRestarts { w, t, num_cycles } => {
                if s < w {
                    return Ok(warmup(s, w));
                }
                let progress = float(s - w) / float((t - w).max(1));
                if progress >= 1.0 {
                    return Ok(0.0);
                }
                Ok(py_max(0.0, 0.5 * (1.0 + cos(PI * mod_one(num_cycles * progress))?)))
            }
            Lambda::Polynomial { w, t, lr_end, power, lr_init } => {
                if s < w {
                    Ok(warmup(s, w))
                } else if s > t {
                    div(lr_end, lr_init)
                } else {
                    let lr_range = lr_init - lr_end;
                    let pct_remaining = 1.0 - true_div(s - w, t - w)?;
                    let decay = lr_range * pow(pct_remaining, power)? + lr_end;
                    div(decay, lr_init)
                }
            }
            Lambda::InverseSqrt { w, timescale } => {
                if s < w {
                    return Ok(warmup(s, w));
                }
                let shift = timescale - w;
                div(1.0, sqrt(true_div(s + shift, timescale)?)?)
            }
            Lambda::CosineWarmupWithMinLr { w, t, num_cycles, min_lr_rate, warmup_lr_rate } => {
                let (s, w, t) = (float(s), float(w), float(t));
                if s < w {
                    return Ok(match warmup_lr_rate {
                        None => (s + 1.0) / py_max(1.0, w),
                        Some(r) => r + (1.0 - r) * s / py_max(1.0, w - 1.0),
                    });
                }
                let progress = (s - w + 1.0) / py_max(1.0, t - w);
                let factor = half_cosine(num_cycles, progress)?;
                let factor = factor * (1.0 - min_lr_rate) + min_lr_rate;
                Ok(py_max(0.0, factor))
            }
            Lambda::WarmupStableDecay { w, stable, decay, warmup_type, decay_type, min_lr_ratio, num_cycles } => {
                let m = min_lr_ratio;
                if s < w {
                    let progress = warmup(s, w);
                    let factor = match warmup_type {
                        WarmupType::Linear => progress,
                        WarmupType::Cosine => 0.5 * (1.0 - cos(PI * progress)?),
                        WarmupType::OneMinusSqrt => 1.0 - sqrt(1.0 - progress)?,
                    };
                    return Ok(py_max(0.0, factor * (1.0 - m) + m));
                }
                if s < w + stable {
                    return Ok(1.0);
                }
                if s < w + stable + decay {
                    let progress = float(s - w - stable) / float(decay.max(1));
                    let factor = match decay_type {
                        DecayType::Linear => 1.0 - progress,
                        DecayType::Cosine => half_cosine(num_cycles, progress)?,
                        DecayType::OneMinusSqrt => 1.0 - sqrt(progress)?,
                    };
                    return Ok(py_max(0.0, factor * (1.0 - m) + m));
                }
                Ok(m)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::Error;

    #[test]
    fn python_helpers_follow_python() {
        assert_eq!(py_max(0.0, f64::NAN), 0.0);
        assert!(py_max(0.0, -0.0).is_sign_positive());
        assert_eq!(mod_one(-0.5), 0.5);
        assert!(mod_one(-1.0).is_sign_positive());
        assert_eq!(mod_one(2.25), 0.25);
        assert!(mod_one(f64::INFINITY).is_nan());
        assert!(cos(f64::INFINITY).is_err());
        assert!(sqrt(-1e-300).is_err());
        assert!(sqrt(-0.0).unwrap().is_sign_negative());
        assert!(true_div(1, 0).is_err());
    }

    #[test]
    fn cosine_rebounds_past_the_end() {
        let l = Lambda::Cosine { w: 0, t: 4, num_cycles: 0.5, min_lr_rate: 0.0 };
        assert_eq!(l.at(4).unwrap(), 0.0);
        assert!(l.at(5).unwrap() > l.at(4).unwrap());
        assert!((l.at(6).unwrap() - l.at(2).unwrap()).abs() < 1e-15);
    }

    #[test]
    fn polynomial_with_warmup_equal_to_total_divides_by_zero_at_the_end() {
        let l = Lambda::Polynomial { w: 5, t: 5, lr_end: 1e-7, power: 1.0, lr_init: 0.1 };
        assert!(matches!(l.at(5), Err(Error::ZeroDivision(_))));
        assert_eq!(l.at(6).unwrap(), 1e-7 / 0.1);
    }
}
