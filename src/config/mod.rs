//! YAML configs: the optimizer and the scheduler by PyTorch's class and
//! keyword names, and whether the scheduler steps per batch or per epoch.
//!
//! ```yaml
//! optimizer:
//!   name: sgd          # sgd | adam | adamw | rmsprop
//!   lr: 0.1            # or one per group: [0.1, 0.01]
//!   momentum: 0.9
//! scheduler:
//!   name: SequentialLR
//!   milestones: [5]
//!   schedulers:
//!     - {name: LinearLR, start_factor: 0.1, total_iters: 5}
//!     - {name: CosineAnnealingLR, T_max: 95}
//! interval: epoch      # or step
//! ```
//!
//! ```
//! let config = tch_lr::config::Config::from_yaml(
//!     "scheduler: {name: StepLR, step_size: 30}\noptimizer: {name: sgd, lr: 0.1}",
//! )?;
//! assert_eq!(config.scheduler.name(), "StepLR");
//! config.validate()?;
//! # Ok::<(), tch_lr::Error>(())
//! ```

pub mod expr;

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use tch::nn::{self, VarStore};

use crate::error::{Error, Result};
use crate::groups::{OptimizerKind, ParamGroups, PerGroup};
use crate::optim::Optim;
use crate::scheduler::Scheduler;
use crate::schedulers::*;
pub use expr::Expr;

/// A whole config file.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// The optimizer the scheduler drives. Optional when the config is applied
    /// to an optimizer the program builds itself; then only checked against it.
    #[serde(default)]
    pub optimizer: Option<OptimizerConfig>,
    /// The scheduler.
    pub scheduler: SchedulerConfig,
    /// When the scheduler steps (default: once per epoch).
    #[serde(default)]
    pub interval: Interval,
}

/// When the training loop calls `step()`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Interval {
    /// Once per batch.
    Step,
    /// Once per epoch.
    #[default]
    Epoch,
}

/// The `optimizer:` section.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OptimizerConfig {
    /// `sgd`, `adam`, `adamw` or `rmsprop`.
    pub name: OptimizerKind,
    /// One LR for all groups, or one per group.
    pub lr: PerGroup,
    /// The number of groups when `lr` is one number (default 1).
    #[serde(default)]
    pub groups: Option<usize>,
    /// SGD's and RMSprop's momentum (default 0).
    #[serde(default)]
    pub momentum: Option<f64>,
    /// Adam's and AdamW's betas (default `[0.9, 0.999]`).
    #[serde(default)]
    pub betas: Option<[f64; 2]>,
    /// Weight decay (default: tch's for the optimizer).
    #[serde(default)]
    pub weight_decay: Option<f64>,
}

impl OptimizerConfig {
    /// The LR of each group.
    ///
    /// # Errors
    /// [`Error::Config`] when `groups` contradicts a list of LRs or is 0.
    pub fn lrs(&self) -> Result<Vec<f64>> {
        match (&self.lr, self.groups) {
            (_, Some(0)) => Err(config_error("optimizer.groups must be at least 1")),
            (PerGroup::All(v), n) => Ok(vec![*v; n.unwrap_or(1)]),
            (PerGroup::Each(v), _) if v.is_empty() => Err(config_error("optimizer.lr is an empty list")),
            (PerGroup::Each(v), Some(n)) if n != v.len() => {
                Err(config_error(format!("optimizer.groups is {n} but optimizer.lr lists {} values", v.len())))
            }
            (PerGroup::Each(v), _) => Ok(v.clone()),
        }
    }

    /// The initial momentum (SGD, RMSprop) or beta1 (Adam, AdamW).
    pub fn momentum(&self) -> f64 {
        if self.name.uses_beta1() {
            self.betas.map_or(0.9, |b| b[0])
        } else {
            self.momentum.unwrap_or(0.0)
        }
    }

    fn check(&self) -> Result<()> {
        let misplaced = match self.name {
            OptimizerKind::Sgd | OptimizerKind::RmsProp => self.betas.is_some().then_some("betas"),
            OptimizerKind::Adam | OptimizerKind::AdamW => self.momentum.is_some().then_some("momentum"),
        };
        if let Some(key) = misplaced {
            return Err(config_error(format!(
                "optimizer.{key} does not apply to {} (sgd and rmsprop take momentum, adam and adamw take betas)",
                self.name.name()
            )));
        }
        self.lrs().map(|_| ())
    }

    /// Builds the tch optimizer over `vs`, whose trainable variables must span
    /// exactly this many groups.
    ///
    /// # Errors
    /// [`Error::GroupCount`] when the `VarStore`'s groups differ from the config's.
    pub fn build(&self, vs: &VarStore) -> Result<Optim> {
        self.check()?;
        let lrs = self.lrs()?;
        let m = self.momentum();
        let wd = self.weight_decay;
        let [b1, b2] = self.betas.unwrap_or([0.9, 0.999]);
        match self.name {
            OptimizerKind::Sgd => {
                let c = nn::Sgd { momentum: m, wd: wd.unwrap_or(0.0), ..Default::default() };
                Optim::new(c, vs, lrs)
            }
            OptimizerKind::Adam => Optim::new(nn::Adam::default().beta1(b1).beta2(b2).wd(wd.unwrap_or(0.0)), vs, lrs),
            OptimizerKind::AdamW => {
                let c = nn::AdamW::default().beta1(b1).beta2(b2);
                Optim::new(if let Some(wd) = wd { c.wd(wd) } else { c }, vs, lrs)
            }
            OptimizerKind::RmsProp => {
                let c = nn::RmsProp { momentum: m, wd: wd.unwrap_or(0.0), ..Default::default() };
                Optim::new(c, vs, lrs)
            }
        }
    }
}

/// `lr_lambda` or `scale_fn`: one expression, or one per group.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(untagged, expecting = "an expression (a string), or a list of expressions with one per parameter group")]
pub enum Exprs {
    /// One expression for every group.
    One(String),
    /// One expression per group.
    Each(Vec<String>),
}

macro_rules! defaults {
    ($($name:ident: $t:ty = $v:expr;)*) => {
        $(fn $name() -> $t { $v })*
    };
}

defaults! {
    d_gamma: f64 = 0.1;
    d_third: f64 = 1.0 / 3.0;
    d_one: f64 = 1.0;
    d_five: i64 = 5;
    d_zero: f64 = 0.0;
    d_true: bool = true;
    d_plateau_mode: PlateauMode = PlateauMode::Min;
    d_patience: i64 = 10;
    d_threshold: f64 = 1e-4;
    d_threshold_mode: ThresholdMode = ThresholdMode::Rel;
    d_cooldown: i64 = 0;
    d_min_lr: PerGroup = PerGroup::All(0.0);
    d_eps: f64 = 1e-8;
    d_step_size_up: i64 = 2000;
    d_cyclic_mode: CyclicMode = CyclicMode::Triangular;
    d_scale_mode: ScaleMode = ScaleMode::Cycle;
    d_cyclic_base_momentum: PerGroup = PerGroup::All(0.8);
    d_cyclic_max_momentum: PerGroup = PerGroup::All(0.9);
    d_pct_start: f64 = 0.3;
    d_anneal: AnnealStrategy = AnnealStrategy::Cos;
    d_onecycle_base_momentum: PerGroup = PerGroup::All(0.85);
    d_onecycle_max_momentum: PerGroup = PerGroup::All(0.95);
    d_div_factor: f64 = 25.0;
    d_final_div_factor: f64 = 1e4;
    d_t_mult: i64 = 1;
}

/// The `scheduler:` section: PyTorch's class name in `name`, its keyword
/// arguments beside it with PyTorch's names and defaults.
#[allow(missing_docs, non_snake_case)]
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "name", deny_unknown_fields)]
pub enum SchedulerConfig {
    StepLR {
        step_size: i64,
        #[serde(default = "d_gamma")]
        gamma: f64,
    },
    MultiStepLR {
        milestones: Vec<i64>,
        #[serde(default = "d_gamma")]
        gamma: f64,
    },
    ConstantLR {
        #[serde(default = "d_third")]
        factor: f64,
        #[serde(default = "d_five")]
        total_iters: i64,
    },
    LinearLR {
        #[serde(default = "d_third")]
        start_factor: f64,
        #[serde(default = "d_one")]
        end_factor: f64,
        #[serde(default = "d_five")]
        total_iters: i64,
    },
    ExponentialLR {
        gamma: f64,
    },
    PolynomialLR {
        #[serde(default = "d_five")]
        total_iters: i64,
        #[serde(default = "d_one")]
        power: f64,
    },
    CosineAnnealingLR {
        T_max: i64,
        #[serde(default = "d_zero")]
        eta_min: f64,
    },
    LambdaLR {
        lr_lambda: Exprs,
    },
    MultiplicativeLR {
        lr_lambda: Exprs,
    },
    SequentialLR {
        schedulers: Vec<SchedulerConfig>,
        milestones: Vec<i64>,
    },
    ChainedScheduler {
        schedulers: Vec<SchedulerConfig>,
    },
    ReduceLROnPlateau {
        #[serde(default = "d_plateau_mode")]
        mode: PlateauMode,
        #[serde(default = "d_gamma")]
        factor: f64,
        #[serde(default = "d_patience")]
        patience: i64,
        #[serde(default = "d_threshold")]
        threshold: f64,
        #[serde(default = "d_threshold_mode")]
        threshold_mode: ThresholdMode,
        #[serde(default = "d_cooldown")]
        cooldown: i64,
        #[serde(default = "d_min_lr")]
        min_lr: PerGroup,
        #[serde(default = "d_eps")]
        eps: f64,
    },
    CyclicLR {
        base_lr: PerGroup,
        max_lr: PerGroup,
        #[serde(default = "d_step_size_up")]
        step_size_up: i64,
        #[serde(default)]
        step_size_down: Option<i64>,
        #[serde(default = "d_cyclic_mode")]
        mode: CyclicMode,
        #[serde(default = "d_one")]
        gamma: f64,
        #[serde(default)]
        scale_fn: Option<String>,
        #[serde(default = "d_scale_mode")]
        scale_mode: ScaleMode,
        #[serde(default = "d_true")]
        cycle_momentum: bool,
        #[serde(default = "d_cyclic_base_momentum")]
        base_momentum: PerGroup,
        #[serde(default = "d_cyclic_max_momentum")]
        max_momentum: PerGroup,
    },
    OneCycleLR {
        max_lr: PerGroup,
        #[serde(default)]
        total_steps: Option<i64>,
        #[serde(default)]
        epochs: Option<i64>,
        #[serde(default)]
        steps_per_epoch: Option<i64>,
        #[serde(default = "d_pct_start")]
        pct_start: f64,
        #[serde(default = "d_anneal")]
        anneal_strategy: AnnealStrategy,
        #[serde(default = "d_true")]
        cycle_momentum: bool,
        #[serde(default = "d_onecycle_base_momentum")]
        base_momentum: PerGroup,
        #[serde(default = "d_onecycle_max_momentum")]
        max_momentum: PerGroup,
        #[serde(default = "d_div_factor")]
        div_factor: f64,
        #[serde(default = "d_final_div_factor")]
        final_div_factor: f64,
        #[serde(default)]
        three_phase: bool,
    },
    CosineAnnealingWarmRestarts {
        T_0: i64,
        #[serde(default = "d_t_mult")]
        T_mult: i64,
        #[serde(default = "d_zero")]
        eta_min: f64,
    },
}

impl SchedulerConfig {
    /// The PyTorch class name.
    pub fn name(&self) -> &'static str {
        use SchedulerConfig::*;
        match self {
            StepLR { .. } => "StepLR",
            MultiStepLR { .. } => "MultiStepLR",
            ConstantLR { .. } => "ConstantLR",
            LinearLR { .. } => "LinearLR",
            ExponentialLR { .. } => "ExponentialLR",
            PolynomialLR { .. } => "PolynomialLR",
            CosineAnnealingLR { .. } => "CosineAnnealingLR",
            LambdaLR { .. } => "LambdaLR",
            MultiplicativeLR { .. } => "MultiplicativeLR",
            SequentialLR { .. } => "SequentialLR",
            ChainedScheduler { .. } => "ChainedScheduler",
            ReduceLROnPlateau { .. } => "ReduceLROnPlateau",
            CyclicLR { .. } => "CyclicLR",
            OneCycleLR { .. } => "OneCycleLR",
            CosineAnnealingWarmRestarts { .. } => "CosineAnnealingWarmRestarts",
        }
    }

    /// The schedule this config describes, unbuilt. Expressions are parsed here, once.
    ///
    /// # Errors
    /// [`Error::Config`] for an expression that does not parse.
    pub fn schedule(&self) -> Result<Box<dyn Schedule>> {
        use SchedulerConfig as C;
        Ok(match self.clone() {
            C::StepLR { step_size, gamma } => StepLR::new(step_size).gamma(gamma).boxed(),
            C::MultiStepLR { milestones, gamma } => MultiStepLR::new(milestones).gamma(gamma).boxed(),
            C::ConstantLR { factor, total_iters } => ConstantLR::new().factor(factor).total_iters(total_iters).boxed(),
            C::LinearLR { start_factor, end_factor, total_iters } => {
                LinearLR::new().start_factor(start_factor).end_factor(end_factor).total_iters(total_iters).boxed()
            }
            C::ExponentialLR { gamma } => ExponentialLR::new(gamma).boxed(),
            C::PolynomialLR { total_iters, power } => PolynomialLR::new().total_iters(total_iters).power(power).boxed(),
            C::CosineAnnealingLR { T_max, eta_min } => CosineAnnealingLR::new(T_max).eta_min(eta_min).boxed(),
            C::LambdaLR { lr_lambda } => match lambdas(&lr_lambda)? {
                Lambdas::One(f) => LambdaLR::new(f).boxed(),
                Lambdas::Each(fs) => LambdaLR::per_group(fs).boxed(),
            },
            C::MultiplicativeLR { lr_lambda } => match lambdas(&lr_lambda)? {
                Lambdas::One(f) => MultiplicativeLR::new(f).boxed(),
                Lambdas::Each(fs) => MultiplicativeLR::per_group(fs).boxed(),
            },
            C::SequentialLR { schedulers, milestones } => {
                let children = schedulers.iter().map(|s| s.schedule()).collect::<Result<_>>()?;
                SequentialLR::new(children, milestones).boxed()
            }
            C::ChainedScheduler { schedulers } => {
                ChainedScheduler::new(schedulers.iter().map(|s| s.schedule()).collect::<Result<_>>()?).boxed()
            }
            C::ReduceLROnPlateau { mode, factor, patience, threshold, threshold_mode, cooldown, min_lr, eps } => {
                ReduceLROnPlateau::new()
                    .mode(mode)
                    .factor(factor)
                    .patience(patience)
                    .threshold(threshold)
                    .threshold_mode(threshold_mode)
                    .cooldown(cooldown)
                    .min_lr(min_lr)
                    .eps(eps)
                    .boxed()
            }
            C::CyclicLR {
                base_lr,
                max_lr,
                step_size_up,
                step_size_down,
                mode,
                gamma,
                scale_fn,
                scale_mode,
                cycle_momentum,
                base_momentum,
                max_momentum,
            } => {
                let mut s = CyclicLR::new(base_lr, max_lr)
                    .step_size_up(step_size_up)
                    .step_size_down(step_size_down)
                    .mode(mode)
                    .gamma(gamma)
                    .scale_mode(scale_mode)
                    .cycle_momentum(cycle_momentum)
                    .base_momentum(base_momentum)
                    .max_momentum(max_momentum);
                if let Some(src) = scale_fn {
                    let e = Expr::parse(&src, "x").map_err(|m| config_error(format!("scheduler.scale_fn: {m}")))?;
                    s = s.scale_fn(ScaleFn::fallible(move |x| e.eval(x)));
                }
                s.boxed()
            }
            C::OneCycleLR {
                max_lr,
                total_steps,
                epochs,
                steps_per_epoch,
                pct_start,
                anneal_strategy,
                cycle_momentum,
                base_momentum,
                max_momentum,
                div_factor,
                final_div_factor,
                three_phase,
            } => {
                let mut s = OneCycleLR::new(max_lr)
                    .pct_start(pct_start)
                    .anneal_strategy(anneal_strategy)
                    .cycle_momentum(cycle_momentum)
                    .base_momentum(base_momentum)
                    .max_momentum(max_momentum)
                    .div_factor(div_factor)
                    .final_div_factor(final_div_factor)
                    .three_phase(three_phase);
                if let Some(t) = total_steps {
                    s = s.total_steps(t);
                }
                if let Some(e) = epochs {
                    s = s.epochs(e);
                }
                if let Some(n) = steps_per_epoch {
                    s = s.steps_per_epoch(n);
                }
                s.boxed()
            }
            C::CosineAnnealingWarmRestarts { T_0, T_mult, eta_min } => {
                CosineAnnealingWarmRestarts::new(T_0).t_mult(T_mult).eta_min(eta_min).boxed()
            }
        })
    }

    /// Whether PyTorch's `step` for this scheduler takes a metric.
    pub fn takes_metric(&self) -> bool {
        matches!(self, SchedulerConfig::ReduceLROnPlateau { .. })
    }
}

enum Lambdas {
    One(LrLambda),
    Each(Vec<LrLambda>),
}

fn lambda(src: &str) -> Result<LrLambda> {
    let e = Expr::parse(src, "epoch").map_err(|m| config_error(format!("scheduler.lr_lambda: {m}")))?;
    Ok(LrLambda::fallible(move |epoch| e.eval(epoch as f64)))
}

fn lambdas(e: &Exprs) -> Result<Lambdas> {
    Ok(match e {
        Exprs::One(s) => Lambdas::One(lambda(s)?),
        Exprs::Each(v) => Lambdas::Each(v.iter().map(|s| lambda(s)).collect::<Result<_>>()?),
    })
}

fn config_error(message: impl Into<String>) -> Error {
    Error::Config { path: None, line: None, column: None, message: message.into() }
}

fn yaml_error(path: Option<&Path>, text: Option<&str>, e: &serde_yaml::Error) -> Error {
    let mut message = e.to_string();
    // serde_yaml appends " at line L column C"; the location is kept apart.
    if let Some(i) = message.find(" at line ") {
        message.truncate(i);
    }
    if message.starts_with("EOF while parsing") {
        message = "the file is empty: a config needs at least a `scheduler:` section".into();
    }
    if text.is_some_and(|t| t.lines().all(|l| l.trim().is_empty() || l.trim_start().starts_with('#'))) {
        message = "the file is empty: a config needs at least a `scheduler:` section".into();
    }
    let (mut line, mut column) = e.location().map(|l| (l.line(), l.column())).unzip();
    // Inside a scheduler mapping serde reports the mapping's start (it is
    // buffered to read `name` first): find the offending key in the text.
    if let Some(text) = text {
        if let Some(key) = message.strip_prefix("unknown field `").and_then(|m| m.split('`').next()) {
            if let Some((l, c)) = find_key(text, key) {
                (line, column) = (Some(l), Some(c));
            }
        } else if let Some((key, l, c)) = find_value(text, &message) {
            message = format!("{key}: {message}");
            (line, column) = (Some(l), Some(c));
        }
    }
    Error::Config { path: path.map(Path::to_path_buf), line, column, message }
}

/// For "invalid type: string \"abc\", expected i64": the key whose value is
/// `abc` in `text`, with its line and column.
fn find_value(text: &str, message: &str) -> Option<(String, usize, usize)> {
    if !message.starts_with("invalid type") && !message.starts_with("invalid value") {
        return None;
    }
    let token = message
        .split_once('"')
        .and_then(|(_, rest)| rest.split_once('"'))
        .or_else(|| message.split_once('`').and_then(|(_, rest)| rest.split_once('`')))
        .map(|(v, _)| v)?;
    text.lines().enumerate().find_map(|(i, line)| {
        line.split([',', '{']).find_map(|part| {
            let (key, value) = part.split_once(':')?;
            let value = value.trim().trim_end_matches('}').trim().trim_matches(['"', '\'']);
            let key = key.trim().trim_start_matches('-').trim();
            (value == token && !key.is_empty()).then(|| (key.to_string(), i + 1, line.find(key).unwrap_or(0) + 1))
        })
    })
}

/// The line and column (from 1) of `key:` used as a mapping key in `text`.
fn find_key(text: &str, key: &str) -> Option<(usize, usize)> {
    text.lines().enumerate().find_map(|(i, line)| {
        line.match_indices(key).find_map(|(c, _)| {
            let before = line[..c].chars().next_back();
            let after = line[c + key.len()..].trim_start();
            (before.is_none_or(|b| matches!(b, ' ' | '{' | ',' | '-' | '\t')) && after.starts_with(':'))
                .then_some((i + 1, c + 1))
        })
    })
}

impl Config {
    /// Parses a config from YAML text.
    ///
    /// # Errors
    /// [`Error::Config`] with the line and column of the problem.
    pub fn from_yaml(text: &str) -> Result<Config> {
        Self::parse(None, text)
    }

    /// Reads and parses a config file.
    ///
    /// # Errors
    /// [`Error::Io`] when it cannot be read, [`Error::Config`] (with the file
    /// name, line and column) when it is not a valid config.
    pub fn from_path(path: impl AsRef<Path>) -> Result<Config> {
        let path = path.as_ref();
        let bytes = std::fs::read(path).map_err(|source| Error::Io { path: path.into(), source })?;
        let text = String::from_utf8(bytes).map_err(|e| Error::Config {
            path: Some(path.into()),
            line: None,
            column: None,
            message: format!("not UTF-8 text (invalid byte at offset {})", e.utf8_error().valid_up_to()),
        })?;
        Self::parse(Some(path), &text)
    }

    /// Takes a config from a parsed YAML value.
    ///
    /// # Errors
    /// [`Error::Config`] when it is not a valid config.
    pub fn from_value(value: serde_yaml::Value) -> Result<Config> {
        let config: Config = serde_yaml::from_value(value).map_err(|e| yaml_error(None, None, &e))?;
        config.check_static(None)?;
        Ok(config)
    }

    fn parse(path: Option<&Path>, text: &str) -> Result<Config> {
        let config: Config = serde_yaml::from_str(text).map_err(|e| yaml_error(path, Some(text), &e))?;
        config.check_static(path)?;
        Ok(config)
    }

    /// Checks what needs no optimizer: the expressions and the optimizer section.
    fn check_static(&self, path: Option<&Path>) -> Result<()> {
        let with_path = |e: Error| match e {
            Error::Config { line, column, message, .. } => {
                Error::Config { path: path.map(PathBuf::from), line, column, message }
            }
            other => other,
        };
        self.scheduler.schedule().map_err(with_path)?;
        if let Some(o) = &self.optimizer {
            o.check().map_err(with_path)?;
        }
        Ok(())
    }

    /// The schedule, unbuilt.
    ///
    /// # Errors
    /// As [`SchedulerConfig::schedule`].
    pub fn schedule(&self) -> Result<Box<dyn Schedule>> {
        self.scheduler.schedule()
    }

    fn optimizer_section(&self) -> Result<&OptimizerConfig> {
        self.optimizer.as_ref().ok_or_else(|| config_error("the config has no `optimizer:` section (name, lr, ...)"))
    }

    /// Builds the optimizer the `optimizer:` section describes over `vs`.
    ///
    /// # Errors
    /// [`Error::Config`] without an `optimizer:` section, and
    /// [`OptimizerConfig::build`]'s errors.
    pub fn build_optim(&self, vs: &VarStore) -> Result<Optim> {
        self.optimizer_section()?.build(vs)
    }

    /// Builds the scheduler around an optimizer (the program's own, or one
    /// from [`Config::build_optim`]). An `optimizer:` section, if present,
    /// must agree with it in kind and number of groups.
    ///
    /// # Errors
    /// [`Error::Config`] on a disagreement, then the scheduler's constructor
    /// errors (PyTorch's conditions).
    pub fn build(&self, optim: Optim) -> Result<Scheduler<Box<dyn Schedule>>> {
        if let Some(o) = &self.optimizer {
            let (kind, n) = (optim.groups().kind(), optim.groups().len());
            if o.name != kind {
                return Err(config_error(format!(
                    "optimizer.name is {} but the optimizer is {}",
                    o.name.name(),
                    kind.name()
                )));
            }
            let want = o.lrs()?.len();
            if want != n {
                return Err(Error::GroupCount { what: "optimizer.lr".into(), expected: n, got: want });
            }
        }
        Scheduler::new(optim, self.schedule()?)
    }

    /// Validates the whole config without libtorch: runs the scheduler's
    /// constructor on the groups the `optimizer:` section describes (one SGD
    /// group with LR 0.1 when there is none).
    ///
    /// # Errors
    /// Every error [`Config::build`] would give.
    pub fn validate(&self) -> Result<ParamGroups> {
        let mut groups = match &self.optimizer {
            Some(o) => ParamGroups::new(o.name, &o.lrs()?, o.momentum())?,
            None => ParamGroups::new(OptimizerKind::Sgd, &[0.1], 0.0)?,
        };
        self.schedule()?.init(&mut groups)?;
        let m = groups.momenta();
        if groups.kind() != OptimizerKind::Sgd && m.iter().any(|v| v.to_bits() != m[0].to_bits()) {
            return Err(config_error(format!(
                "{} groups would need different momenta {m:?}: tch sets beta1/momentum per group for SGD only",
                groups.kind().name()
            )));
        }
        Ok(groups)
    }
}
