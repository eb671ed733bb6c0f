//! `get_lr` and `get_wd` of Megatron's `OptimizerParamScheduler`, in its
//! float order: `init + (max - init) * float(n) / float(W)`, `** 0.5` (C's
//! `pow`, not `sqrt`), `0.5 * (cos(pi * r) + 1.0)`, `2 * pow(0.5, q) - 1`.

use std::f64::consts::PI;

use serde::{Deserialize, Serialize};

use super::config::{DecayStyle, Steps, WdIncrStyle, WsdDecayStyle};
use crate::error::{Error, Result};
use crate::schedulers::py_float;
use crate::schedulers::pymath::{cos, div, pow, py_max};

/// The class's attributes that `get_lr` and `get_wd` read (a group's
/// `max_lr`, `min_lr`, `start_wd` and `end_wd` override theirs): what
/// `state_dict()` saves, and what loading a file may change.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Class {
    /// `init_lr`.
    pub init_lr: f64,
    /// `max_lr` (group 0's when given per group).
    pub max_lr: f64,
    /// `min_lr`.
    pub min_lr: f64,
    /// `lr_warmup_steps`.
    pub lr_warmup_steps: Steps,
    /// `lr_decay_steps`.
    pub lr_decay_steps: i64,
    /// `lr_decay_style`.
    pub lr_decay_style: DecayStyle,
    /// `wsd_decay_steps`.
    pub wsd_decay_steps: Option<i64>,
    /// `lr_wsd_decay_style`.
    pub lr_wsd_decay_style: Option<WsdDecayStyle>,
    /// `start_wd`.
    pub start_wd: f64,
    /// `end_wd`.
    pub end_wd: f64,
    /// `wd_incr_steps`.
    pub wd_incr_steps: i64,
    /// `wd_incr_style`.
    pub wd_incr_style: WdIncrStyle,
}

/// `n - W` as Python computes it: exact for an int `W`, `float(n) - W` for a float.
fn minus(n: i64, w: Steps) -> f64 {
    match w {
        Steps::Int(w) => (i128::from(n) - i128::from(w)) as f64,
        Steps::Float(w) => n as f64 - w,
    }
}

/// `n <= W`, compared as Python compares an int with an int or a float.
fn at_most(n: i64, w: Steps) -> bool {
    match w {
        Steps::Int(w) => n <= w,
        Steps::Float(w) => (n as f64) <= w,
    }
}

/// `assert 0.0 <= ratio <= 1.0`.
fn ratio_in_unit(ratio: f64, what: &str) -> Result<()> {
    if (0.0..=1.0).contains(&ratio) {
        Ok(())
    } else {
        Err(Error::Assertion(format!("OptimizerParamScheduler asserts 0.0 <= {what} <= 1.0, got {}", py_float(ratio))))
    }
}

/// What `get_lr` computes once per step, before it reads the group: each
/// group applies it to its own `max_lr` and `min_lr` ([`LrAt::of`]), in
/// Megatron's float order.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum LrAt {
    /// The warmup: `init + (max - init) * n / w`.
    Warmup {
        /// `float(num_steps)`.
        n: f64,
        /// `float(lr_warmup_steps)`.
        w: f64,
    },
    /// `max_lr` (`constant`).
    Max,
    /// `min_lr` (past `lr_decay_steps`).
    Min,
    /// `max(min_lr, max_lr * num / den)` (`inverse-square-root`).
    InvSqrt {
        /// `max(W, 1) ** 0.5`.
        num: f64,
        /// `max(n, 1) ** 0.5`.
        den: f64,
    },
    /// `min_lr + coeff * (max_lr - min_lr)`.
    Coeff(f64),
}

impl LrAt {
    /// The LR of a group whose `max_lr` and `min_lr` are these.
    #[inline]
    pub fn of(self, init_lr: f64, max_lr: f64, min_lr: f64) -> f64 {
        match self {
            LrAt::Warmup { n, w } => init_lr + (max_lr - init_lr) * n / w,
            LrAt::Max => max_lr,
            LrAt::Min => min_lr,
            LrAt::InvSqrt { num, den } => py_max(min_lr, max_lr * num / den),
            LrAt::Coeff(c) => min_lr + c * (max_lr - min_lr),
        }
    }
}

/// What `get_wd` computes once per step, before it reads the group.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum WdAt {
    /// `end_wd` (past `wd_incr_steps`).
    End,
    /// `end_wd`, which must equal `start_wd` (`constant`).
    Constant,
    /// `start_wd + coeff * (end_wd - start_wd)`.
    Coeff(f64),
}

impl WdAt {
    /// The weight decay of a group whose `start_wd` and `end_wd` are these (before `wd_mult`).
    ///
    /// # Errors
    /// Megatron's `assert start_wd == end_wd` for `constant`.
    #[inline]
    pub fn of(self, start_wd: f64, end_wd: f64) -> Result<f64> {
        match self {
            WdAt::End => Ok(end_wd),
            WdAt::Constant if start_wd != end_wd => Err(Error::Assertion(format!(
                "OptimizerParamScheduler asserts start_wd == end_wd for wd_incr_style constant, got {} and {}",
                py_float(start_wd),
                py_float(end_wd)
            ))),
            WdAt::Constant => Ok(end_wd),
            WdAt::Coeff(c) => Ok(start_wd + c * (end_wd - start_wd)),
        }
    }
}

impl Class {
    /// `get_lr(group)` after `n` samples, for a group whose `max_lr` and
    /// `min_lr` are `max_lr` and `min_lr`.
    ///
    /// # Errors
    /// As [`lr_at`](Self::lr_at).
    pub fn lr(&self, n: i64, max_lr: f64, min_lr: f64) -> Result<f64> {
        Ok(self.lr_at(n)?.of(self.init_lr, max_lr, min_lr))
    }

    /// The part of `get_lr` after `n` samples that does not read the group.
    ///
    /// # Errors
    /// Megatron's `assert`s and Python's `ZeroDivisionError`, where a loaded
    /// state makes them reachable.
    pub fn lr_at(&self, n: i64) -> Result<LrAt> {
        let w = self.lr_warmup_steps;
        if w.get() > 0.0 && at_most(n, w) {
            return Ok(LrAt::Warmup { n: n as f64, w: w.get() });
        }
        if self.lr_decay_style == DecayStyle::Constant {
            return Ok(LrAt::Max);
        }
        let d = self.lr_decay_steps;
        if n > d {
            return Ok(LrAt::Min);
        }
        if self.lr_decay_style == DecayStyle::InverseSquareRoot {
            // max(W, 1) and max(n, 1): Python's max keeps the first unless the second is greater.
            let warmup = if 1.0 > w.get() { 1.0 } else { w.get() };
            return Ok(LrAt::InvSqrt { num: pow(warmup, 0.5)?, den: pow(n.max(1) as f64, 0.5)? });
        }
        let ratio = div(minus(n, w), minus(d, w))?;
        ratio_in_unit(ratio, "decay_ratio")?;
        Ok(LrAt::Coeff(match self.lr_decay_style {
            DecayStyle::Linear => 1.0 - ratio,
            DecayStyle::Cosine => 0.5 * (cos(PI * ratio)? + 1.0),
            DecayStyle::Wsd => self.wsd_coeff(n)?,
            DecayStyle::Constant | DecayStyle::InverseSquareRoot => unreachable!("returned above"),
        }))
    }

    /// The WSD coefficient: 1 until the cooldown, then its shape.
    fn wsd_coeff(&self, n: i64) -> Result<f64> {
        let Some(wsd) = self.wsd_decay_steps else {
            return Err(Error::Assertion("OptimizerParamScheduler asserts wsd_decay_steps is not None for WSD".into()));
        };
        let start = i128::from(self.lr_decay_steps) - i128::from(wsd);
        if i128::from(n) <= start {
            return Ok(1.0);
        }
        let q = div((i128::from(n) - start) as f64, wsd as f64)?;
        Ok(match self.lr_wsd_decay_style {
            Some(WsdDecayStyle::Linear) => 1.0 - q,
            Some(WsdDecayStyle::Cosine) => 0.5 * (cos(PI * q)? + 1.0),
            Some(WsdDecayStyle::Exponential) => (2.0 * pow(0.5, q)?) - 1.0,
            Some(WsdDecayStyle::MinusSqrt) => 1.0 - q.sqrt(),
            None => return Err(Error::Assertion("OptimizerParamScheduler asserts coeff is not None".into())),
        })
    }

    /// `get_wd(group)` after `n` samples, for a group whose `start_wd` and
    /// `end_wd` are these (before `wd_mult`).
    ///
    /// # Errors
    /// As [`wd_at`](Self::wd_at) and [`WdAt::of`].
    pub fn wd(&self, n: i64, start_wd: f64, end_wd: f64) -> Result<f64> {
        self.wd_at(n)?.of(start_wd, end_wd)
    }

    /// The part of `get_wd` after `n` samples that does not read the group.
    ///
    /// # Errors
    /// Python's `ZeroDivisionError` for `wd_incr_steps` 0 at step 0.
    pub fn wd_at(&self, n: i64) -> Result<WdAt> {
        if n > self.wd_incr_steps {
            return Ok(WdAt::End);
        }
        if self.wd_incr_style == WdIncrStyle::Constant {
            return Ok(WdAt::Constant);
        }
        let ratio = div(n as f64, self.wd_incr_steps as f64)?;
        ratio_in_unit(ratio, "incr_ratio")?;
        Ok(WdAt::Coeff(match self.wd_incr_style {
            WdIncrStyle::Linear => ratio,
            WdIncrStyle::Cosine => 0.5 * (cos(PI * (1.0 - ratio))? + 1.0),
            WdIncrStyle::Constant => unreachable!("returned above"),
        }))
    }
}
