//! Per-parameter-group hyper-parameters: the part of PyTorch's
//! `optimizer.param_groups` that learning-rate schedulers read and write.
//!
//! tch's optimizer cannot report its learning rates, momenta or number of groups,
//! so tch-lr keeps them here. Schedules are pure state machines over
//! [`ParamGroups`]; [`Optim`](crate::Optim) writes the result into libtorch.

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// Which optimizer the groups belong to. It decides whether "momentum" means
/// `momentum` (SGD, RMSprop) or `beta1` (Adam, AdamW), as in PyTorch's
/// `CyclicLR` and `OneCycleLR`.
///
/// Its values (`as i32`) are those tch-lr's C++ shim gives the kinds
/// (`src/ffi/kind.hpp`; a unit test compares the two).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
#[repr(i32)]
pub enum OptimizerKind {
    /// `torch.optim.SGD` / `tch::nn::Sgd`.
    Sgd = 0,
    /// `torch.optim.Adam` / `tch::nn::Adam`.
    Adam = 1,
    /// `torch.optim.AdamW` / `tch::nn::AdamW`.
    AdamW = 2,
    /// `torch.optim.RMSprop` / `tch::nn::RmsProp`.
    RmsProp = 3,
}

impl OptimizerKind {
    /// All kinds, in the order of their names in [`OptimizerKind::NAMES`].
    pub const ALL: [OptimizerKind; 4] = [Self::Sgd, Self::Adam, Self::AdamW, Self::RmsProp];
    /// The names used in configs (`sgd`, `adam`, `adamw`, `rmsprop`).
    pub const NAMES: [&'static str; 4] = ["sgd", "adam", "adamw", "rmsprop"];

    /// True for Adam and AdamW, whose "momentum" is `betas[0]`.
    pub fn uses_beta1(self) -> bool {
        matches!(self, Self::Adam | Self::AdamW)
    }

    /// What the scheduler's momentum is for this optimizer: `"beta1"` for
    /// Adam and AdamW, `"momentum"` for SGD and RMSprop.
    pub fn momentum_name(self) -> &'static str {
        if self.uses_beta1() {
            "beta1"
        } else {
            "momentum"
        }
    }

    /// The config name (`sgd`, `adam`, `adamw`, `rmsprop`).
    pub fn name(self) -> &'static str {
        Self::NAMES[Self::ALL.iter().position(|k| *k == self).unwrap_or(0)]
    }
}

/// One parameter group, as PyTorch's schedulers see it.
///
/// The optional keys are set by the schedulers that use them, exactly where
/// PyTorch sets them: `initial_lr` by every scheduler's constructor
/// (`setdefault`), `max_lr`, `min_lr`, `max_momentum` and `base_momentum` by
/// `CyclicLR` and `OneCycleLR`, `swa_lr` by `SWALR`; Megatron's param groups
/// carry per-group overrides (`max_lr`, `min_lr`, `start_wd`, `end_wd`,
/// `wd_mult`) that its `OptimizerParamScheduler` reads. Several schedulers on
/// one optimizer share them; [`GroupKey::ALL`] lists them.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ParamGroup {
    /// `group["lr"]`.
    pub lr: f64,
    /// `group["momentum"]` for SGD and RMSprop, `group["betas"][0]` for Adam and AdamW.
    pub momentum: f64,
    /// `group["weight_decay"]`. A state saved before tch-lr tracked weight
    /// decay has none: loading it keeps the optimizer's.
    #[serde(default = "unstated")]
    pub weight_decay: f64,
    /// `group["initial_lr"]`.
    #[serde(default)]
    pub initial_lr: Option<f64>,
    /// `group["max_lr"]` (OneCycleLR).
    #[serde(default)]
    pub max_lr: Option<f64>,
    /// `group["min_lr"]` (OneCycleLR).
    #[serde(default)]
    pub min_lr: Option<f64>,
    /// `group["max_momentum"]` (CyclicLR, OneCycleLR).
    #[serde(default)]
    pub max_momentum: Option<f64>,
    /// `group["base_momentum"]` (CyclicLR, OneCycleLR).
    #[serde(default)]
    pub base_momentum: Option<f64>,
    /// `group["swa_lr"]` (SWALR).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub swa_lr: Option<f64>,
    /// `group["betas"][1]` of Adam and AdamW where a schedule sets it
    /// (DeepSpeed's `OneCycle` writes `betas = (momentum, 0.99)`); `None`:
    /// the optimizer's own, untouched. The owned optimizer applies it; tch's
    /// cannot set beta2 ([`Optim::unapplied`](crate::Optim::unapplied) says so).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub beta2: Option<f64>,
    /// `group["start_wd"]` (Megatron's per-group override).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_wd: Option<f64>,
    /// `group["end_wd"]` (Megatron's per-group override).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end_wd: Option<f64>,
    /// `group["wd_mult"]` (Megatron: the group's weight decay is the
    /// schedule's times this, 1 when absent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wd_mult: Option<f64>,
}

/// The weight decay of a group in a state that does not say it (NaN: never
/// written, replaced by the optimizer's on load).
fn unstated() -> f64 {
    f64::NAN
}

impl ParamGroup {
    /// A group with a learning rate and a momentum, no weight decay and no
    /// scheduler keys yet.
    pub fn new(lr: f64, momentum: f64) -> Self {
        ParamGroup {
            lr,
            momentum,
            weight_decay: 0.0,
            initial_lr: None,
            max_lr: None,
            min_lr: None,
            max_momentum: None,
            base_momentum: None,
            swa_lr: None,
            beta2: None,
            start_wd: None,
            end_wd: None,
            wd_mult: None,
        }
    }

    /// The optional key `key` (`None` until a scheduler sets it).
    pub fn get(&self, key: GroupKey) -> Option<f64> {
        match key {
            GroupKey::InitialLr => self.initial_lr,
            GroupKey::MaxLr => self.max_lr,
            GroupKey::MinLr => self.min_lr,
            GroupKey::MaxMomentum => self.max_momentum,
            GroupKey::BaseMomentum => self.base_momentum,
            GroupKey::SwaLr => self.swa_lr,
            GroupKey::StartWd => self.start_wd,
            GroupKey::EndWd => self.end_wd,
            GroupKey::WdMult => self.wd_mult,
        }
    }

    /// The optional key `key`, to set.
    pub fn slot(&mut self, key: GroupKey) -> &mut Option<f64> {
        match key {
            GroupKey::InitialLr => &mut self.initial_lr,
            GroupKey::MaxLr => &mut self.max_lr,
            GroupKey::MinLr => &mut self.min_lr,
            GroupKey::MaxMomentum => &mut self.max_momentum,
            GroupKey::BaseMomentum => &mut self.base_momentum,
            GroupKey::SwaLr => &mut self.swa_lr,
            GroupKey::StartWd => &mut self.start_wd,
            GroupKey::EndWd => &mut self.end_wd,
            GroupKey::WdMult => &mut self.wd_mult,
        }
    }
}

/// An optional key of a [`ParamGroup`], which schedulers set and read by
/// name (OneCycleLR's phases, SWALR's `swa_lr`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GroupKey {
    /// `initial_lr`.
    InitialLr,
    /// `max_lr`.
    MaxLr,
    /// `min_lr`.
    MinLr,
    /// `max_momentum`.
    MaxMomentum,
    /// `base_momentum`.
    BaseMomentum,
    /// `swa_lr`.
    SwaLr,
    /// `start_wd` (Megatron).
    StartWd,
    /// `end_wd` (Megatron).
    EndWd,
    /// `wd_mult` (Megatron).
    WdMult,
}

impl GroupKey {
    /// Every optional key, in the order PyTorch's schedulers add them, then Megatron's.
    pub const ALL: [GroupKey; 9] = [
        GroupKey::InitialLr,
        GroupKey::MaxLr,
        GroupKey::MinLr,
        GroupKey::MaxMomentum,
        GroupKey::BaseMomentum,
        GroupKey::SwaLr,
        GroupKey::StartWd,
        GroupKey::EndWd,
        GroupKey::WdMult,
    ];

    /// The key's name in PyTorch's `param_groups`.
    pub fn name(self) -> &'static str {
        match self {
            GroupKey::InitialLr => "initial_lr",
            GroupKey::MaxLr => "max_lr",
            GroupKey::MinLr => "min_lr",
            GroupKey::MaxMomentum => "max_momentum",
            GroupKey::BaseMomentum => "base_momentum",
            GroupKey::SwaLr => "swa_lr",
            GroupKey::StartWd => "start_wd",
            GroupKey::EndWd => "end_wd",
            GroupKey::WdMult => "wd_mult",
        }
    }
}

/// The parameter groups of one optimizer.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ParamGroups {
    kind: OptimizerKind,
    groups: Vec<ParamGroup>,
}

impl ParamGroups {
    /// Groups with the given learning rates (one per group), one momentum
    /// (or beta1) for all of them and no weight decay
    /// ([`set_weight_decays`](Self::set_weight_decays) gives them theirs).
    ///
    /// # Errors
    /// [`Error::Value`] when `lrs` is empty.
    pub fn new(kind: OptimizerKind, lrs: &[f64], momentum: f64) -> Result<Self> {
        if lrs.is_empty() {
            return Err(Error::value("an optimizer needs at least one parameter group"));
        }
        Ok(ParamGroups { kind, groups: lrs.iter().map(|&lr| ParamGroup::new(lr, momentum)).collect() })
    }

    /// The optimizer kind.
    pub fn kind(&self) -> OptimizerKind {
        self.kind
    }

    /// The number of groups.
    pub fn len(&self) -> usize {
        self.groups.len()
    }

    /// Always false: there is at least one group.
    pub fn is_empty(&self) -> bool {
        self.groups.is_empty()
    }

    /// The groups.
    pub fn groups(&self) -> &[ParamGroup] {
        &self.groups
    }

    /// The groups, mutable.
    pub fn groups_mut(&mut self) -> &mut [ParamGroup] {
        &mut self.groups
    }

    /// Iterates over the groups.
    pub fn iter(&self) -> std::slice::Iter<'_, ParamGroup> {
        self.groups.iter()
    }

    /// Iterates over the groups, mutable.
    pub fn iter_mut(&mut self) -> std::slice::IterMut<'_, ParamGroup> {
        self.groups.iter_mut()
    }

    /// Every group's `lr`.
    pub fn lrs(&self) -> Vec<f64> {
        self.groups.iter().map(|g| g.lr).collect()
    }

    /// Every group's momentum (or beta1).
    pub fn momenta(&self) -> Vec<f64> {
        self.groups.iter().map(|g| g.momentum).collect()
    }

    /// Every group's weight decay.
    pub fn weight_decays(&self) -> Vec<f64> {
        self.groups.iter().map(|g| g.weight_decay).collect()
    }

    /// Sets each group's weight decay, one value per group.
    ///
    /// # Errors
    /// [`Error::GroupCount`] when `wds` does not have one value per group.
    pub fn set_weight_decays(&mut self, wds: &[f64]) -> Result<()> {
        if wds.len() != self.groups.len() {
            return Err(Error::GroupCount { what: "weight_decay".into(), expected: self.groups.len(), got: wds.len() });
        }
        for (g, &wd) in self.groups.iter_mut().zip(wds) {
            g.weight_decay = wd;
        }
        Ok(())
    }

    /// Copies every group's `lr` into `out` (PyTorch's `_param_groups_val_list(opt, "lr")`).
    pub fn copy_lrs_into(&self, out: &mut Vec<f64>) {
        if out.len() == self.groups.len() {
            for (o, g) in out.iter_mut().zip(&self.groups) {
                *o = g.lr;
            }
        } else {
            out.clear();
            out.extend(self.groups.iter().map(|g| g.lr));
        }
    }

    /// Sets `initial_lr` to `lr` in every group that has none (PyTorch's
    /// `group.setdefault("initial_lr", group["lr"])`) and returns the base LRs.
    pub fn setdefault_initial_lr(&mut self) -> Vec<f64> {
        self.groups.iter_mut().map(|g| *g.initial_lr.get_or_insert(g.lr)).collect()
    }

    /// Reads an optional key of group `i`, failing like Python's `KeyError`.
    ///
    /// # Errors
    /// [`Error::Value`] when group `i` does not exist or has no such key.
    pub fn key(&self, i: usize, key: GroupKey) -> Result<f64> {
        let g = self.groups.get(i).ok_or_else(|| {
            Error::value(format!("there is no param group {i}: the optimizer has {}", self.groups.len()))
        })?;
        g.get(key).ok_or_else(|| Error::value(format!("param group {i} has no '{}'", key.name())))
    }

    /// Expands a per-group argument as PyTorch's `_format_param` does: one value
    /// for all groups, or a list whose length must equal the number of groups
    /// (PyTorch's message otherwise).
    pub fn format_param(&self, name: &'static str, values: &PerGroup) -> Result<Vec<f64>> {
        match values {
            PerGroup::All(v) => Ok(vec![*v; self.len()]),
            PerGroup::Each(vs) if vs.len() == self.len() => Ok(vs.clone()),
            PerGroup::Each(vs) => Err(Error::value(format!(
                "{name} must have the same length as optimizer.param_groups. \
                 {name} has {} values, param_groups has {}.",
                vs.len(),
                self.len()
            ))
            .for_arg(name)),
        }
    }
}

/// A hyper-parameter given once for all groups or once per group, as PyTorch
/// accepts `float | list[float]` for `max_lr`, `base_momentum`, `min_lr`, ...
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(untagged, expecting = "a number, or a list of numbers with one per parameter group")]
pub enum PerGroup {
    /// One value for every group.
    All(f64),
    /// One value per group.
    Each(Vec<f64>),
}

impl From<f64> for PerGroup {
    fn from(v: f64) -> Self {
        PerGroup::All(v)
    }
}

impl From<Vec<f64>> for PerGroup {
    fn from(v: Vec<f64>) -> Self {
        PerGroup::Each(v)
    }
}

impl From<&[f64]> for PerGroup {
    fn from(v: &[f64]) -> Self {
        PerGroup::Each(v.to_vec())
    }
}

impl<const N: usize> From<[f64; N]> for PerGroup {
    fn from(v: [f64; N]) -> Self {
        PerGroup::Each(v.to_vec())
    }
}
