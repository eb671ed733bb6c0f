//! From a parsed config to the objects it describes: the tch optimizer of the
//! `optimizer:` section and the scheduler bound to it.

use std::path::Path;

use tch::nn::{self, VarStore};

use super::diagnostics;
use super::kwargs::{Diag, KwargValue, Seg};
use super::schema::{Config, OptimizerConfig};
use crate::error::{Error, Result};
use crate::groups::{OptimizerKind, ParamGroups, PerGroup};
use crate::optim::Optim;
use crate::scheduler::Scheduler;
use crate::schedulers::Schedule;

/// A problem with key `key` of the `optimizer:` section.
fn at_key(key: &str, message: String) -> Diag {
    Diag::new(message).within(Seg::Key(key.into()))
}

impl OptimizerConfig {
    /// The LR of each group.
    ///
    /// # Errors
    /// [`Error::Config`] when `groups` contradicts a list of LRs or is 0.
    pub fn lrs(&self) -> Result<Vec<f64>> {
        self.group_lrs().map_err(|d| diagnostics::error(None, None, d.within(Seg::Key("optimizer".into()))))
    }

    fn group_lrs(&self) -> Result<Vec<f64>, Diag> {
        match (&self.lr, self.groups) {
            (_, Some(0)) => Err(at_key("groups", "must be at least 1".into())),
            (PerGroup::All(v), n) => Ok(vec![*v; n.unwrap_or(1)]),
            (PerGroup::Each(v), _) if v.is_empty() => Err(at_key("lr", "is an empty list".into())),
            (PerGroup::Each(v), Some(n)) if n != v.len() => {
                Err(at_key("groups", format!("is {n} but optimizer.lr lists {} values", v.len())))
            }
            (PerGroup::Each(v), _) => Ok(v.clone()),
        }
    }

    /// The initial momentum (SGD, RMSprop) or beta1 (Adam, AdamW).
    pub fn initial_momentum(&self) -> f64 {
        if self.name.uses_beta1() {
            self.betas.map_or(0.9, |b| b[0])
        } else {
            self.momentum.unwrap_or(0.0)
        }
    }

    /// What can be checked without an optimizer: keys that do not apply to
    /// this optimizer, and the group count.
    fn diagnose(&self) -> Result<(), Diag> {
        let misplaced = match self.name {
            OptimizerKind::Sgd | OptimizerKind::RmsProp => self.betas.is_some().then_some("betas"),
            OptimizerKind::Adam | OptimizerKind::AdamW => self.momentum.is_some().then_some("momentum"),
        };
        if let Some(key) = misplaced {
            return Err(at_key(
                key,
                format!(
                    "does not apply to {} (sgd and rmsprop take momentum, adam and adamw take betas)",
                    self.name.name()
                ),
            ));
        }
        self.group_lrs().map(|_| ())
    }

    /// Builds the tch optimizer over `vs`, whose trainable variables must span
    /// exactly this many groups.
    ///
    /// # Errors
    /// [`Error::Config`] for an inconsistent section, [`Error::GroupCount`]
    /// when the `VarStore`'s groups differ from the config's.
    pub fn build(&self, vs: &VarStore) -> Result<Optim> {
        self.diagnose().map_err(|d| diagnostics::error(None, None, d.within(Seg::Key("optimizer".into()))))?;
        let lrs = self.lrs()?;
        let m = self.initial_momentum();
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

fn config_error(message: impl Into<String>) -> Error {
    Error::Config { path: None, line: None, column: None, message: message.into() }
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
        Self::read(value).map_err(|d| diagnostics::error(None, None, d))
    }

    fn parse(file: Option<&Path>, text: &str) -> Result<Config> {
        let value: serde_yaml::Value = serde_yaml::from_str(text).map_err(|e| diagnostics::syntax(file, &e))?;
        if value.is_null() {
            let mut e = config_error(diagnostics::EMPTY);
            if let Error::Config { path, .. } = &mut e {
                *path = file.map(Path::to_path_buf);
            }
            return Err(e);
        }
        Self::read(value).map_err(|d| diagnostics::error(file, Some(text), d))
    }

    /// Reads the sections and checks what needs no optimizer: the
    /// expressions (by building the schedule) and the optimizer section.
    fn read(value: serde_yaml::Value) -> Result<Config, Diag> {
        let config = Config::from_kwarg(value)?;
        config.scheduler.build().map_err(|d| d.within(Seg::Key("scheduler".into())))?;
        if let Some(o) = &config.optimizer {
            o.diagnose().map_err(|d| d.within(Seg::Key("optimizer".into())))?;
        }
        Ok(config)
    }

    /// The schedule, unbuilt.
    ///
    /// # Errors
    /// As [`SchedulerConfig::schedule`](crate::schedulers::SchedulerConfig::schedule).
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
            Some(o) => ParamGroups::new(o.name, &o.lrs()?, o.initial_momentum())?,
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
