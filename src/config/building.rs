//! From a parsed config to the objects it describes: the tch optimizer of the
//! `optimizer:` section and the scheduler bound to it.

use std::path::Path;

use tch::nn::{self, VarStore};

use super::diagnostics::{self, Layout};
use super::kwargs::{Diag, KwargValue, Seg};
use super::schema::{Config, OptimizerConfig};
use crate::checks::{check, Hyper};
use crate::error::{Error, Result};
use crate::groups::{OptimizerKind, ParamGroups, PerGroup};
use crate::hyper::{HyperParam, HyperSchedule};
use crate::optim::{Backend, Optim, OptimizerSpec};
use crate::scheduler::Scheduler;
use crate::schedulers::{Schedule, SchedulerConfig};

/// The most parameter groups a config may ask for (a guard against a typo
/// such as `groups: 1e9` allocating gigabytes).
const MAX_GROUPS: usize = 65_536;

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
            (_, Some(n)) if n > MAX_GROUPS => Err(at_key("groups", format!("must be at most {MAX_GROUPS}, got {n}"))),
            (PerGroup::All(v), n) => Ok(vec![*v; n.unwrap_or(1)]),
            (PerGroup::Each(v), _) if v.is_empty() => Err(at_key("lr", "is an empty list".into())),
            (PerGroup::Each(v), Some(n)) if n != v.len() => {
                Err(at_key("groups", format!("is {n} but optimizer.lr lists {} values", v.len())))
            }
            (PerGroup::Each(v), _) => Ok(v.clone()),
        }
    }

    /// The weight decay of each group.
    ///
    /// # Errors
    /// [`Error::Config`] when a list of weight decays does not have one value
    /// per group, or the groups are wrong (see [`OptimizerConfig::lrs`]).
    pub fn weight_decays(&self) -> Result<Vec<f64>> {
        self.group_lrs()
            .and_then(|lrs| self.group_weight_decays(lrs.len()))
            .map_err(|d| diagnostics::error(None, None, d.within(Seg::Key("optimizer".into()))))
    }

    /// tch's (and PyTorch's) default weight decay: 0.01 for AdamW, 0 for the others.
    fn default_weight_decay(&self) -> f64 {
        if self.name == OptimizerKind::AdamW {
            0.01
        } else {
            0.0
        }
    }

    fn group_weight_decays(&self, n: usize) -> Result<Vec<f64>, Diag> {
        match &self.weight_decay {
            None => Ok(vec![self.default_weight_decay(); n]),
            Some(PerGroup::All(v)) => Ok(vec![*v; n]),
            Some(PerGroup::Each(v)) if v.len() == n => Ok(v.clone()),
            Some(PerGroup::Each(v)) => Err(at_key(
                "weight_decay",
                format!("lists {} values but the optimizer has {n} parameter group(s)", v.len()),
            )),
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

    /// The keys of this section that apply to each optimizer.
    fn applies(kind: OptimizerKind) -> &'static [&'static str] {
        match kind {
            OptimizerKind::Sgd => &["momentum", "dampening", "nesterov", "weight_decay"],
            OptimizerKind::Adam | OptimizerKind::AdamW => &["betas", "eps", "amsgrad", "weight_decay"],
            OptimizerKind::RmsProp => &["momentum", "eps", "alpha", "centered", "weight_decay"],
        }
    }

    /// The hyper-parameters as the optimizer will have them (tch's defaults
    /// for the keys not given; the first group's weight decay).
    fn hyper(&self) -> Hyper {
        let d = Hyper::new(self.name);
        let weight_decay = match &self.weight_decay {
            Some(PerGroup::All(v)) => *v,
            Some(PerGroup::Each(v)) => v.first().copied().unwrap_or(0.0),
            None => self.default_weight_decay(),
        };
        Hyper {
            momentum: self.momentum.unwrap_or(d.momentum),
            dampening: self.dampening.unwrap_or(d.dampening),
            nesterov: self.nesterov.unwrap_or(d.nesterov),
            betas: self.betas.unwrap_or(d.betas),
            eps: self.eps.unwrap_or(d.eps),
            weight_decay,
            alpha: self.alpha.unwrap_or(d.alpha),
            ..d
        }
    }

    /// Everything that can be checked without an optimizer, as PyTorch's
    /// constructor checks it: keys that do not apply to this optimizer, the
    /// group count, and every value (PyTorch's messages; finite numbers).
    fn diagnose(&self) -> Result<(), Diag> {
        let given = [
            ("momentum", self.momentum.is_some()),
            ("dampening", self.dampening.is_some()),
            ("nesterov", self.nesterov.is_some()),
            ("betas", self.betas.is_some()),
            ("eps", self.eps.is_some()),
            ("alpha", self.alpha.is_some()),
            ("amsgrad", self.amsgrad.is_some()),
            ("centered", self.centered.is_some()),
        ];
        let applies = Self::applies(self.name);
        if let Some((key, _)) = given.iter().find(|(k, on)| *on && !applies.contains(k)) {
            return Err(at_key(
                key,
                format!("does not apply to {} ({} takes {})", self.name.name(), self.name.name(), applies.join(", ")),
            ));
        }
        let lrs = self.group_lrs()?;
        let wds = self.group_weight_decays(lrs.len())?;
        check(&self.hyper(), &lrs).map_err(|(key, message)| at_key(key, message))?;
        // Every group's weight decay, as PyTorch checks the first one.
        for (i, &weight_decay) in wds.iter().enumerate().skip(1) {
            check(&Hyper { weight_decay, ..Hyper::new(self.name) }, &[])
                .map_err(|(key, message)| Diag::new(message).within(Seg::Index(i)).within(Seg::Key(key.into())))?;
        }
        Ok(())
    }

    /// Builds the optimizer over `vs`, whose trainable variables must span
    /// exactly this many groups, on the chosen [`Backend`] (`Backend::Owned`
    /// unless other code needs tch's own optimizer).
    ///
    /// # Errors
    /// [`Error::Config`] for an inconsistent section, [`Error::GroupCount`]
    /// when the `VarStore`'s groups differ from the config's.
    pub fn build(&self, vs: &VarStore, backend: Backend) -> Result<Optim> {
        self.diagnose().map_err(|d| diagnostics::error(None, None, d.within(Seg::Key("optimizer".into()))))?;
        let lrs = self.lrs()?;
        let wds = self.weight_decays()?;
        let h = self.hyper();
        let [beta1, beta2] = h.betas;
        let (eps, wd, amsgrad) = (h.eps, h.weight_decay, self.amsgrad.unwrap_or(false));
        let optim = match self.name {
            OptimizerKind::Sgd => {
                let c = nn::Sgd { momentum: h.momentum, dampening: h.dampening, wd, nesterov: h.nesterov };
                make(backend, c, vs, lrs)
            }
            OptimizerKind::Adam => make(backend, nn::Adam { beta1, beta2, wd, eps, amsgrad }, vs, lrs),
            OptimizerKind::AdamW => make(backend, nn::AdamW { beta1, beta2, wd, eps, amsgrad }, vs, lrs),
            OptimizerKind::RmsProp => {
                let centered = self.centered.unwrap_or(false);
                make(backend, nn::RmsProp { alpha: h.alpha, eps, wd, momentum: h.momentum, centered }, vs, lrs)
            }
        }?;
        match self.weight_decay {
            Some(PerGroup::Each(_)) => optim.weight_decay(wds),
            _ => Ok(optim),
        }
    }
}

/// The optimizer of `config` on `backend`.
fn make<C: OptimizerSpec>(backend: Backend, config: C, vs: &VarStore, lrs: Vec<f64>) -> Result<Optim> {
    Optim::with_backend(config, vs, lrs, backend)
}

/// The schedule of the section at `key`, unbuilt; an error names the key.
fn section_schedule(key: &str, section: &SchedulerConfig) -> Result<Box<dyn Schedule>> {
    section.build().map_err(|d| diagnostics::error(None, None, d.within(Seg::Key(key.into()))))
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
        let (value, layout) = Self::layout(value).map_err(|d| diagnostics::error(None, None, d))?;
        Self::read(value).map_err(|d| diagnostics::error(None, None, layout.diag(d)))
    }

    /// A DeepSpeed JSON config as tch-lr's ([`super::deepspeed`]), and which
    /// layout the text has.
    fn layout(value: serde_yaml::Value) -> Result<(serde_yaml::Value, Layout), super::kwargs::Diag> {
        if super::deepspeed::is_deepspeed(&value) {
            Ok((super::deepspeed::translate(&value)?, Layout::DeepSpeed))
        } else {
            Ok((value, Layout::TchLr))
        }
    }

    fn parse(file: Option<&Path>, text: &str) -> Result<Config> {
        let value: serde_yaml::Value = serde_yaml::from_str(text).map_err(|e| diagnostics::syntax(file, text, &e))?;
        if value.is_null() {
            let mut e = config_error(diagnostics::EMPTY);
            if let Error::Config { path, .. } = &mut e {
                *path = file.map(Path::to_path_buf);
            }
            return Err(e);
        }
        let (value, layout) = Self::layout(value).map_err(|d| diagnostics::error(file, Some(text), d))?;
        let mut config = Self::read(value).map_err(|d| diagnostics::error(file, Some(text), layout.diag(d)))?;
        config.source = diagnostics::Source::new(text, layout);
        Ok(config)
    }

    /// Reads the sections and checks what needs no optimizer: the
    /// expressions (by building the schedule) and the optimizer section.
    fn read(value: serde_yaml::Value) -> Result<Config, Diag> {
        let config = Config::from_kwarg(value)?;
        let main = config.scheduler.build().map_err(|d| d.within(Seg::Key("scheduler".into())))?;
        for (_, key, section) in config.hyper_sections() {
            section.build().map_err(|d| d.within(Seg::Key(key.into())))?;
        }
        nested_weight_decay(&config.scheduler).map_err(|d| d.within(Seg::Key("scheduler".into())))?;
        for (_, key, section) in config.hyper_sections() {
            if section.build()?.schedules_weight_decay() {
                let message =
                    format!("{} drives the LR and the weight decay itself: make it the `scheduler:`", section.name());
                return Err(Diag::new(message).within(Seg::Key(key.into())));
            }
        }
        if let (Some(w), true) = (&config.weight_decay_scheduler, main.schedules_weight_decay()) {
            let message = format!(
                "{} cannot run beside scheduler {}, which already schedules the weight decay (start_wd, end_wd, \
                 wd_incr_style): remove weight_decay_scheduler",
                w.name(),
                config.scheduler.name()
            );
            return Err(Diag::new(message).within(Seg::Key("weight_decay_scheduler".into())));
        }
        if let (Some(m), true) = (&config.momentum_scheduler, main.cycles_momentum()) {
            let message = format!(
                "{} cannot run beside scheduler {}, which already cycles momentum (cycle_momentum: true): set \
                 cycle_momentum: false, or remove momentum_scheduler",
                m.name(),
                config.scheduler.name()
            );
            return Err(Diag::new(message).within(Seg::Key("momentum_scheduler".into())));
        }
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

    /// The sections that schedule another hyper-parameter than the LR: what
    /// each drives, its key and its config.
    pub fn hyper_sections(&self) -> impl Iterator<Item = (HyperParam, &'static str, &SchedulerConfig)> {
        let section = |target: HyperParam, s| (target, target.section(), s);
        let wd = self.weight_decay_scheduler.as_ref().map(|s| section(HyperParam::WeightDecay, s));
        let m = self.momentum_scheduler.as_ref().map(|s| section(HyperParam::Momentum, s));
        wd.into_iter().chain(m)
    }

    /// Whether the weight decay changes as the run goes: a
    /// `weight_decay_scheduler:` drives it, or the scheduler itself does
    /// (Megatron's `OptimizerParamScheduler`).
    pub fn schedules_weight_decay(&self) -> bool {
        self.weight_decay_scheduler.is_some() || self.scheduler.build().is_ok_and(|s| s.schedules_weight_decay())
    }

    /// Whether a step needs a metric: one of the schedules is `ReduceLROnPlateau`.
    pub fn takes_metric(&self) -> bool {
        self.scheduler.takes_metric() || self.hyper_sections().any(|(_, _, s)| s.takes_metric())
    }

    /// The `optimizer:` section, or what a trace uses without one: SGD, one
    /// group with LR 0.1.
    pub fn optimizer_or_default(&self) -> OptimizerConfig {
        self.optimizer.clone().unwrap_or(OptimizerConfig {
            name: OptimizerKind::Sgd,
            lr: PerGroup::All(0.1),
            groups: None,
            momentum: None,
            betas: None,
            weight_decay: None,
            dampening: None,
            nesterov: None,
            eps: None,
            alpha: None,
            amsgrad: None,
            centered: None,
        })
    }

    fn optimizer_section(&self) -> Result<&OptimizerConfig> {
        self.optimizer.as_ref().ok_or_else(|| config_error("the config has no `optimizer:` section (name, lr, ...)"))
    }

    /// Builds the optimizer the `optimizer:` section describes over `vs`, on
    /// the chosen [`Backend`]: `Backend::Owned` (libtorch's optimizer owned by
    /// tch-lr, whose state a checkpoint holds) unless other code needs tch's
    /// own `nn::Optimizer` (`Backend::Tch`).
    ///
    /// ```
    /// use tch::{nn, Device};
    /// use tch_lr::config::Config;
    /// use tch_lr::optim::Backend;
    ///
    /// let config = Config::from_yaml("optimizer: {name: sgd, lr: 0.1}\nscheduler: {name: StepLR, step_size: 3}")?;
    /// let vs = nn::VarStore::new(Device::Cpu);
    /// let _w = vs.root().zeros("w", &[1]);
    /// let mut sched = config.build(config.build_optim(&vs, Backend::Owned)?)?;
    /// sched.step()?;
    /// # Ok::<(), tch_lr::Error>(())
    /// ```
    ///
    /// # Errors
    /// [`Error::Config`] without an `optimizer:` section, and
    /// [`OptimizerConfig::build`]'s errors.
    pub fn build_optim(&self, vs: &VarStore, backend: Backend) -> Result<Optim> {
        self.optimizer_section()?.build(vs, backend)
    }

    /// Builds the scheduler around an optimizer (the program's own, or one
    /// from [`Config::build_optim`]), with the schedules of weight decay and
    /// momentum the config has. An `optimizer:` section, if present, must
    /// agree with it in kind and number of groups.
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
        let mut sched = Scheduler::bind(optim, self.schedule()?).map_err(|e| self.placed("scheduler", e))?;
        for (target, key, section) in self.hyper_sections() {
            sched = sched.with_boxed(target, section_schedule(key, section)?).map_err(|e| self.placed(key, e))?;
        }
        Ok(sched)
    }

    /// `e`, raised by the constructor of the schedule at `key`, placed in
    /// the text the config was read from ([`diagnostics::constructor`]).
    fn placed(&self, key: &str, e: Error) -> Error {
        diagnostics::constructor(&self.source, vec![Seg::Key(key.into())], e)
    }

    /// Validates the whole config without libtorch: runs the scheduler's
    /// constructor, then those of the weight decay and momentum schedules, on
    /// the groups the `optimizer:` section describes (one SGD group with LR
    /// 0.1 when there is none).
    ///
    /// # Errors
    /// Every error [`Config::build`] would give.
    pub fn validate(&self) -> Result<ParamGroups> {
        let mut groups = match &self.optimizer {
            Some(o) => {
                let mut groups = ParamGroups::new(o.name, &o.lrs()?, o.initial_momentum())?;
                groups.set_weight_decays(&o.weight_decays()?)?;
                groups
            }
            None => ParamGroups::new(OptimizerKind::Sgd, &[0.1], 0.0)?,
        };
        self.schedule()?.init(&mut groups).map_err(|e| self.placed("scheduler", e))?;
        for (target, key, section) in self.hyper_sections() {
            HyperSchedule::new(target, section_schedule(key, section)?, &mut groups)
                .map_err(|e| self.placed(key, e))?;
        }
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

/// Refuses a schedule that drives the weight decay itself (Megatron's)
/// among the children of `s` (`SequentialLR`, `ChainedScheduler`, `SWA`):
/// it is a training loop's only scheduler.
fn nested_weight_decay(s: &SchedulerConfig) -> Result<(), Diag> {
    for (i, c) in s.children().iter().enumerate() {
        let at = |d: Diag| d.within(Seg::Index(i)).within(Seg::Key("schedulers".into()));
        if c.build()?.schedules_weight_decay() {
            let message = format!(
                "{} cannot hold {}: it drives every group's LR and weight decay itself, as a training loop's only \
                 scheduler",
                s.name(),
                c.name()
            );
            return Err(at(Diag::new(message)));
        }
        nested_weight_decay(c).map_err(at)?;
    }
    Ok(())
}
