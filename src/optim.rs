//! [`Optim`]: the optimizer (tch's `nn::Optimizer`, or libtorch's own, owned
//! by tch-lr: [`Optim::owned`]) together with the per-group state that tch
//! cannot report, and the code that writes schedule results into libtorch.

use tch::nn::{self, OptimizerConfig, VarStore};

use crate::checks::{check, Hyper};
use crate::error::{Error, Result};
use crate::groups::{OptimizerKind, ParamGroups, PerGroup};

mod backend;
mod owned;

use backend::Engine;

/// Which optimizer an [`Optim`] built from a config drives.
///
/// | | [`Backend::Owned`] | [`Backend::Tch`] |
/// |---|---|---|
/// | the optimizer | libtorch's, built and owned by tch-lr ([`Optim::owned`]) | tch's `nn::Optimizer` ([`Optim::new`]) |
/// | its state (momentum buffers, moments) in checkpoints | saved and loaded ([`Optim::save`], [`Optim::load`]), also as PyTorch's ([`interop`](crate::interop)) | out of reach (tch exposes none) |
/// | Adam, AdamW, RMSprop's step | PyTorch's formula (`torch.optim`'s, bit for bit on the CPU) | libtorch's C++ formula (the same maths; last bits differ) |
/// | choose it when | checkpoints must resume bit for bit (the usual case) | other code needs tch's optimizer itself |
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Backend {
    /// libtorch's optimizer, owned by tch-lr: its state can be saved.
    #[default]
    Owned,
    /// tch's `nn::Optimizer`.
    Tch,
}
use owned::Owned;

/// An optimizer configuration tch-lr knows how to schedule: tch's four
/// optimizers. It tells the kind, the initial momentum (or beta1) and weight
/// decay, and whether PyTorch's constructor would accept its settings.
///
/// Implemented for `nn::Sgd`, `nn::Adam`, `nn::AdamW` and `nn::RmsProp`
/// (sealed: [`Optim::owned`] builds these four in libtorch itself).
pub trait OptimizerSpec: OptimizerConfig + owned::sealed::Create {
    /// Which optimizer this builds.
    fn kind(&self) -> OptimizerKind;
    /// Its momentum (SGD, RMSprop) or beta1 (Adam, AdamW).
    fn momentum(&self) -> f64;
    /// Its weight decay (`wd`).
    fn weight_decay(&self) -> f64;
    /// Its beta2 (Adam, AdamW), `None` for optimizers without betas.
    fn beta2(&self) -> Option<f64> {
        None
    }
    /// PyTorch's constructor checks for these settings and `lrs`, with
    /// PyTorch's messages, and every value finite.
    ///
    /// # Errors
    /// [`Error::Value`] with the first problem.
    fn check(&self, lrs: &[f64]) -> Result<()>;
}

/// Runs [`check`] and turns its finding into an [`Error::Value`].
fn checked(h: Hyper, lrs: &[f64]) -> Result<()> {
    check(&h, lrs).map_err(|(_, message)| Error::Value(message))
}

impl OptimizerSpec for nn::Sgd {
    fn kind(&self) -> OptimizerKind {
        OptimizerKind::Sgd
    }
    fn momentum(&self) -> f64 {
        self.momentum
    }
    fn weight_decay(&self) -> f64 {
        self.wd
    }
    fn check(&self, lrs: &[f64]) -> Result<()> {
        let h = Hyper {
            momentum: self.momentum,
            dampening: self.dampening,
            nesterov: self.nesterov,
            weight_decay: self.wd,
            ..Hyper::new(OptimizerKind::Sgd)
        };
        checked(h, lrs)
    }
}

macro_rules! adam_spec {
    ($t:ty, $kind:expr) => {
        impl OptimizerSpec for $t {
            fn kind(&self) -> OptimizerKind {
                $kind
            }
            fn momentum(&self) -> f64 {
                self.beta1
            }
            fn weight_decay(&self) -> f64 {
                self.wd
            }
            fn beta2(&self) -> Option<f64> {
                Some(self.beta2)
            }
            fn check(&self, lrs: &[f64]) -> Result<()> {
                let h = Hyper {
                    betas: [self.beta1, self.beta2],
                    eps: self.eps,
                    weight_decay: self.wd,
                    ..Hyper::new($kind)
                };
                checked(h, lrs)
            }
        }
    };
}

adam_spec!(nn::Adam, OptimizerKind::Adam);
adam_spec!(nn::AdamW, OptimizerKind::AdamW);

impl OptimizerSpec for nn::RmsProp {
    fn kind(&self) -> OptimizerKind {
        OptimizerKind::RmsProp
    }
    fn momentum(&self) -> f64 {
        self.momentum
    }
    fn weight_decay(&self) -> f64 {
        self.wd
    }
    fn check(&self, lrs: &[f64]) -> Result<()> {
        let h = Hyper {
            momentum: self.momentum,
            eps: self.eps,
            weight_decay: self.wd,
            alpha: self.alpha,
            ..Hyper::new(OptimizerKind::RmsProp)
        };
        checked(h, lrs)
    }
}

/// A group's LR, momentum and beta2 (where a schedule set one) are finite.
fn finite_lr_momentum(g: &crate::groups::ParamGroup) -> bool {
    g.lr.is_finite() && g.momentum.is_finite() && g.beta2.is_none_or(f64::is_finite)
}

/// Copies each value asked for (`Some`) into `written` where it differs (bit
/// for bit); whether any did. `None`: the group keeps what it has.
fn take_asked(values: impl Iterator<Item = Option<f64>>, written: &mut [f64]) -> bool {
    let mut changed = false;
    for (w, v) in written.iter_mut().zip(values) {
        if let Some(v) = v.filter(|v| v.to_bits() != w.to_bits()) {
            *w = v;
            changed = true;
        }
    }
    changed
}

/// Copies `values` into `written` where they differ (bit for bit); whether any did.
fn take_changed(values: impl Iterator<Item = f64>, written: &mut [f64]) -> bool {
    let mut changed = false;
    for (w, v) in written.iter_mut().zip(values) {
        if w.to_bits() != v.to_bits() {
            *w = v;
            changed = true;
        }
    }
    changed
}

/// The number of parameter groups a `VarStore`'s trainable variables span
/// (one more than the highest group index; libtorch creates the groups between).
pub(crate) fn group_count(vs: &VarStore) -> usize {
    let vars = vs.variables_.lock().unwrap_or_else(|e| e.into_inner());
    vars.trainable_variables.iter().map(|v| v.group + 1).max().unwrap_or(0)
}

/// An optimizer with what tch-lr knows of its parameter groups: tch's
/// `nn::Optimizer` ([`Optim::new`], [`Optim::from_tch`]) or libtorch's own,
/// owned by tch-lr ([`Optim::owned`]), whose state a checkpoint can hold
/// ([`Optim::save`]). Build the owned one unless your code needs tch's
/// optimizer itself; both train through [`Optim::backward_step`].
///
/// tch's optimizer has setters but no getters, and panics on a group index that
/// does not exist. `Optim` learns the number of groups from the `VarStore`,
/// keeps each group's learning rate, momentum and weight decay, and writes a
/// value into libtorch only when it changed (one `set_lr` when all groups
/// share it).
///
/// ```
/// use tch::{nn, Device};
/// use tch_lr::Optim;
///
/// let vs = nn::VarStore::new(Device::Cpu);
/// let _layer = nn::linear(vs.root(), 4, 2, Default::default());
/// let opt = Optim::new(nn::Sgd { momentum: 0.9, ..Default::default() }, &vs, 0.1)?;
/// assert_eq!(opt.groups().len(), 1);
/// # Ok::<(), tch_lr::Error>(())
/// ```
#[derive(Debug)]
pub struct Optim {
    opt: Engine,
    groups: ParamGroups,
    written_lr: Vec<f64>,
    written_momentum: Vec<f64>,
    written_weight_decay: Vec<f64>,
    /// The beta2 libtorch has (Adam, AdamW; NaN: unknown or none).
    written_beta2: Vec<f64>,
    /// A beta2 a schedule asked for that tch's optimizer could not take.
    unapplied_beta2: Option<f64>,
}

impl Optim {
    /// Builds the optimizer over `vs` with a learning rate for all groups
    /// (`0.1`) or one per group (`vec![0.1, 0.01]`).
    ///
    /// # Errors
    /// [`Error::Value`] when the `VarStore` has no trainable variable or
    /// PyTorch's constructor would reject the settings (a negative LR, betas
    /// outside `[0, 1)`, ...; PyTorch's message) or one is not finite,
    /// [`Error::GroupCount`] when a list of LRs does not match its groups,
    /// [`Error::Tch`] when libtorch rejects the configuration.
    pub fn new<C: OptimizerSpec>(config: C, vs: &VarStore, lr: impl Into<PerGroup>) -> Result<Self> {
        Self::with_backend(config, vs, lr, Backend::Tch)
    }

    /// Builds libtorch's optimizer itself, as tch would (the same libtorch
    /// SGD, Adam, AdamW or RMSprop over the `VarStore`'s trainable variables,
    /// so the same steps), and owns it: its state (momentum buffers, moments,
    /// step counts) can then be saved and loaded with [`Optim::save`] and
    /// [`Optim::load`], for a resumed run that continues bit for bit. The
    /// training step is [`Optim::backward_step`] (or [`zero_grad`](Optim::zero_grad)
    /// and [`step`](Optim::step)); there is no `nn::Optimizer`.
    ///
    /// ```
    /// use tch::{nn, nn::Module, Device, Kind, Tensor};
    /// use tch_lr::Optim;
    ///
    /// let vs = nn::VarStore::new(Device::Cpu);
    /// let net = nn::linear(vs.root(), 4, 1, Default::default());
    /// let mut opt = Optim::owned(nn::AdamW::default(), &vs, 1e-3)?;
    /// let loss = net.forward(&Tensor::ones([8, 4], (Kind::Float, Device::Cpu))).square().mean(Kind::Float);
    /// opt.backward_step(&loss);
    /// assert!(opt.saves_state() && !opt.state()?.is_empty());
    /// # Ok::<(), tch_lr::Error>(())
    /// ```
    ///
    /// # Errors
    /// As [`Optim::new`].
    pub fn owned<C: OptimizerSpec>(config: C, vs: &VarStore, lr: impl Into<PerGroup>) -> Result<Self> {
        Self::with_backend(config, vs, lr, Backend::Owned)
    }

    /// [`Optim::new`] or [`Optim::owned`], as `backend` says.
    ///
    /// # Errors
    /// As [`Optim::new`].
    pub fn with_backend<C: OptimizerSpec>(
        config: C,
        vs: &VarStore,
        lr: impl Into<PerGroup>,
        backend: Backend,
    ) -> Result<Self> {
        let lr = lr.into();
        let kind = config.kind();
        let (momentum, wd, beta2) = (config.momentum(), config.weight_decay(), config.beta2());
        let lrs = lrs_for(vs, lr)?;
        config.check(&lrs)?;
        let opt = match backend {
            Backend::Owned => Engine::Owned(Owned::new(config.settings(), vs, lrs[0])?),
            Backend::Tch => Engine::Tch(config.build(vs, lrs[0])?),
        };
        let mut groups = ParamGroups::new(kind, &lrs, momentum)?;
        groups.set_weight_decays(&vec![wd; lrs.len()])?;
        let mut optim = Optim {
            opt,
            groups,
            written_lr: vec![lrs[0]; lrs.len()],
            written_momentum: vec![momentum; lrs.len()],
            written_weight_decay: vec![wd; lrs.len()],
            written_beta2: vec![beta2.unwrap_or(f64::NAN); lrs.len()],
            unapplied_beta2: None,
        };
        optim.sync()?;
        Ok(optim)
    }

    /// Wraps an optimizer the caller built over `vs`. tch cannot tell its
    /// settings, so the caller states them: the kind, the LR (one, or one per
    /// group), the momentum or beta1, and the weight decay (one, or one per
    /// group). They are written into the optimizer now, so that both sides
    /// agree from the start.
    ///
    /// # Errors
    /// As [`Optim::new`], for the LRs, the momentum (or beta1) and the weight
    /// decays given.
    pub fn from_tch(
        mut opt: nn::Optimizer,
        vs: &VarStore,
        kind: OptimizerKind,
        lr: impl Into<PerGroup>,
        momentum: f64,
        weight_decay: impl Into<PerGroup>,
    ) -> Result<Self> {
        let lrs = lrs_for(vs, lr.into())?;
        let mut h = Hyper::new(kind);
        if kind.uses_beta1() {
            h.betas[0] = momentum;
        } else {
            h.momentum = momentum;
        }
        checked(h, &lrs)?;
        let mut groups = ParamGroups::new(kind, &lrs, momentum)?;
        groups.set_weight_decays(&weight_decays_for(kind, &lrs, weight_decay.into())?)?;
        opt.set_momentum(momentum);
        for (i, g) in groups.iter().enumerate() {
            opt.set_lr_group(i, g.lr);
            opt.set_weight_decay_group(i, g.weight_decay);
        }
        Ok(Optim {
            opt: Engine::Tch(opt),
            written_lr: lrs.clone(),
            written_momentum: vec![momentum; lrs.len()],
            written_weight_decay: groups.weight_decays(),
            written_beta2: vec![f64::NAN; lrs.len()],
            unapplied_beta2: None,
            groups,
        })
    }

    /// Gives the groups their own weight decays (one value for all, or one
    /// per group, as PyTorch's param groups may have) and writes them into
    /// the optimizer.
    ///
    /// ```
    /// use tch::{nn, Device};
    /// use tch_lr::Optim;
    ///
    /// let vs = nn::VarStore::new(Device::Cpu);
    /// let _w0 = vs.root().set_group(0).zeros("w0", &[1]);
    /// let _w1 = vs.root().set_group(1).zeros("w1", &[1]);
    /// let opt = Optim::new(nn::AdamW::default(), &vs, 1e-3)?.weight_decay([0.05, 0.0])?;
    /// assert_eq!(opt.groups().weight_decays(), [0.05, 0.0]);
    /// # Ok::<(), tch_lr::Error>(())
    /// ```
    ///
    /// # Errors
    /// [`Error::Value`] when PyTorch's constructor would reject a value
    /// (`Invalid weight_decay value: -0.1`) or one is not finite,
    /// [`Error::GroupCount`] when a list does not match the groups.
    pub fn weight_decay(mut self, weight_decay: impl Into<PerGroup>) -> Result<Self> {
        let wds = weight_decays_for(self.groups.kind(), &self.groups.lrs(), weight_decay.into())?;
        self.groups.set_weight_decays(&wds)?;
        self.sync()?;
        Ok(self)
    }

    /// What a schedule asked of this optimizer that it cannot do, in one
    /// line, or `None`: tch's `nn::Optimizer` ([`Optim::new`]) has no setter
    /// for Adam's beta2, so the `betas[1] = 0.99` DeepSpeed's `OneCycle`
    /// writes stays in tch-lr's groups (traced, saved, exported) but not in
    /// libtorch, whose beta2 is the optimizer's own. The owned optimizer
    /// ([`Optim::owned`]) applies it.
    pub fn unapplied(&self) -> Option<String> {
        let want = self.unapplied_beta2?;
        let has = self.written_beta2.iter().find(|b| !b.is_nan()).map_or("its own".into(), |b| b.to_string());
        Some(format!(
            "tch's optimizer cannot set beta2: the schedule sets betas[1] = {want}, libtorch keeps {has} \
             (Optim::owned, Backend::Owned, applies it)"
        ))
    }

    /// The parameter groups as tch-lr last wrote them.
    pub fn groups(&self) -> &ParamGroups {
        &self.groups
    }

    /// The parameter groups, for a schedule to change; [`Optim::sync`] writes them.
    pub fn groups_mut(&mut self) -> &mut ParamGroups {
        &mut self.groups
    }

    /// Writes every changed group value into libtorch. The owned optimizer
    /// ([`Optim::owned`]): when any value changed, every group's LR (and
    /// momentum, beta1 for Adam and AdamW, and weight decay when they changed)
    /// in one call into libtorch's options, at the cost of the stores. tch's
    /// optimizer: one `set_lr` when every group has the same new LR, else
    /// `set_lr_group` for the groups that changed; the same for momentum and
    /// weight decay (`set_weight_decay`, `set_weight_decay_group`).
    ///
    /// # Errors
    /// [`Error::NonFinite`] when a value is NaN or infinite: nothing is
    /// written, and the groups go back to the values libtorch has.
    /// [`Error::Unsupported`], for tch's optimizer only, when Adam, AdamW or
    /// RMSprop groups need different momenta: tch 0.26's `set_momentum_group`
    /// fails for them, so only a value shared by all groups can be written
    /// (the owned optimizer writes any).
    pub fn sync(&mut self) -> Result<()> {
        if !self.groups.iter().all(|g| g.weight_decay.is_finite()) {
            return Err(self.refuse_non_finite());
        }
        if matches!(self.opt, Engine::Owned(_)) {
            return self.sync_owned(true);
        }
        self.sync_lr_momentum()?;
        let groups = self.groups.groups();
        if let Some(plan) = plan_write(groups.iter().map(|g| g.weight_decay), &self.written_weight_decay, false) {
            match plan {
                Write::All(wd) => self.opt.set_weight_decay(wd),
                Write::Each => {
                    for (i, g) in groups.iter().enumerate() {
                        if g.weight_decay.to_bits() != self.written_weight_decay[i].to_bits() {
                            self.opt.set_weight_decay_group(i, g.weight_decay);
                        }
                    }
                }
            }
            for (w, g) in self.written_weight_decay.iter_mut().zip(groups) {
                *w = g.weight_decay;
            }
        }
        Ok(())
    }

    /// [`sync`](Self::sync) for the LR and momentum alone: what a scheduler
    /// that changes nothing else calls at each step, with no work for the
    /// weight decay.
    pub(crate) fn sync_lr_momentum(&mut self) -> Result<()> {
        if matches!(self.opt, Engine::Owned(_)) {
            return self.sync_owned(false);
        }
        if !self.groups.iter().all(finite_lr_momentum) {
            return Err(self.refuse_non_finite());
        }
        self.note_beta2();
        let groups = self.groups.groups();
        if let ([g], [w_lr], [w_m]) = (groups, &mut self.written_lr[..], &mut self.written_momentum[..]) {
            // One group: no plan to make.
            if g.lr.to_bits() != w_lr.to_bits() {
                self.opt.set_lr_group(0, g.lr);
                *w_lr = g.lr;
            }
            if g.momentum.to_bits() != w_m.to_bits() {
                if self.groups.kind() == OptimizerKind::Sgd {
                    self.opt.set_momentum_group(0, g.momentum);
                } else {
                    self.opt.set_momentum(g.momentum);
                }
                *w_m = g.momentum;
            }
            return Ok(());
        }
        if let Some(plan) = plan_write(groups.iter().map(|g| g.lr), &self.written_lr, false) {
            match plan {
                Write::All(lr) => self.opt.set_lr(lr),
                Write::Each => {
                    for (i, g) in groups.iter().enumerate() {
                        if g.lr.to_bits() != self.written_lr[i].to_bits() {
                            self.opt.set_lr_group(i, g.lr);
                        }
                    }
                }
            }
            for (w, g) in self.written_lr.iter_mut().zip(groups) {
                *w = g.lr;
            }
        }
        if let Some(plan) = plan_write(
            groups.iter().map(|g| g.momentum),
            &self.written_momentum,
            self.groups.kind() != OptimizerKind::Sgd,
        ) {
            match plan {
                Write::All(m) => self.opt.set_momentum(m),
                Write::Each if self.groups.kind() == OptimizerKind::Sgd => {
                    for (i, g) in groups.iter().enumerate() {
                        if g.momentum.to_bits() != self.written_momentum[i].to_bits() {
                            self.opt.set_momentum_group(i, g.momentum);
                        }
                    }
                }
                Write::Each => {
                    return Err(Error::Unsupported(format!(
                        "{} parameter groups need different momenta {:?}, but tch can set {} \
                         for all groups only (its set_momentum_group supports SGD alone); give \
                         every group the same base_momentum and max_momentum, or a momentum \
                         schedule that treats every group alike",
                        self.groups.kind().name(),
                        self.groups.momenta(),
                        self.groups.kind().momentum_name(),
                    )))
                }
            }
            for (w, g) in self.written_momentum.iter_mut().zip(groups) {
                *w = g.momentum;
            }
        }
        Ok(())
    }

    /// Every group's LR, `lrs`, through the owned optimizer's write path
    /// alone (`internals::write_lrs`: the benchmarks' floor).
    #[cfg(feature = "internals")]
    pub(crate) fn write_lrs(&mut self, lrs: &[f64]) -> Result<()> {
        match &mut self.opt {
            Engine::Owned(o) => o.write(lrs, None, None, None),
            Engine::Tch(_) => Err(Error::Unsupported("tch's optimizer has no one-call write path".into())),
        }
    }

    /// The owned optimizer's write path: when any group's LR, momentum or
    /// beta2 (and weight decay, with `weight_decay`) changed, every group's
    /// values in one call into libtorch's options (`Owned::write`), from the
    /// `written_*` vectors, updated first (set to NaN, unknown, if the write
    /// fails): no allocation, no cast per group, and different momenta per
    /// group for every optimizer kind.
    fn sync_owned(&mut self, weight_decay: bool) -> Result<()> {
        if !self.groups.iter().all(finite_lr_momentum) {
            return Err(self.refuse_non_finite());
        }
        let Engine::Owned(owned) = &mut self.opt else { return Ok(()) };
        let groups = self.groups.groups();
        let lr = take_changed(groups.iter().map(|g| g.lr), &mut self.written_lr);
        let momentum = take_changed(groups.iter().map(|g| g.momentum), &mut self.written_momentum);
        let beta2 = take_asked(groups.iter().map(|g| g.beta2), &mut self.written_beta2);
        let wd = weight_decay && take_changed(groups.iter().map(|g| g.weight_decay), &mut self.written_weight_decay);
        if lr || momentum || beta2 || wd {
            let result = owned.write(
                &self.written_lr,
                momentum.then_some(&self.written_momentum),
                beta2.then_some(&self.written_beta2),
                wd.then_some(&self.written_weight_decay),
            );
            if result.is_err() {
                // What libtorch holds is unknown now: NaN, so that the next
                // sync writes every value again.
                for v in [
                    &mut self.written_lr,
                    &mut self.written_momentum,
                    &mut self.written_beta2,
                    &mut self.written_weight_decay,
                ] {
                    v.fill(f64::NAN);
                }
            }
            result?;
        }
        Ok(())
    }

    /// tch's optimizer: notes a beta2 a schedule asks for that libtorch does
    /// not have (tch has no setter for it), for [`Optim::unapplied`].
    fn note_beta2(&mut self) {
        self.unapplied_beta2 = None;
        for (g, w) in self.groups.iter().zip(&self.written_beta2) {
            if let Some(b) = g.beta2.filter(|b| b.to_bits() != w.to_bits()) {
                self.unapplied_beta2 = Some(b);
            }
        }
    }

    /// The error for the first non-finite value; puts the groups back to what
    /// libtorch has (where that is known).
    #[cold]
    fn refuse_non_finite(&mut self) -> Error {
        let kind = self.groups.kind();
        let mut error = None;
        for (i, g) in self.groups.groups_mut().iter_mut().enumerate() {
            let bad = if !g.lr.is_finite() {
                Some(("lr", g.lr))
            } else if !g.momentum.is_finite() {
                Some((kind.momentum_name(), g.momentum))
            } else if let Some(b) = g.beta2.filter(|b| !b.is_finite()) {
                Some(("beta2", b))
            } else if !g.weight_decay.is_finite() {
                Some(("weight_decay", g.weight_decay))
            } else {
                None
            };
            if let (None, Some((what, value))) = (&error, bad) {
                error = Some(Error::NonFinite { what, group: i, value });
            }
            if self.written_lr[i].is_finite() {
                g.lr = self.written_lr[i];
            }
            if self.written_momentum[i].is_finite() {
                g.momentum = self.written_momentum[i];
            }
            if self.written_weight_decay[i].is_finite() {
                g.weight_decay = self.written_weight_decay[i];
            }
            if g.beta2.is_some_and(|b| !b.is_finite()) {
                g.beta2 = self.written_beta2.get(i).copied().filter(|b| b.is_finite());
            }
        }
        error.unwrap_or_else(|| Error::Value("a non-finite value".into()))
    }

    /// Replaces the groups (after loading a saved state) and writes them all.
    /// A group whose weight decay the state does not state keeps the current one.
    pub(crate) fn replace_groups(&mut self, mut groups: ParamGroups) -> Result<()> {
        if groups.len() != self.groups.len() || groups.kind() != self.groups.kind() {
            return Err(Error::State(format!(
                "the state is for {} {} group(s), this optimizer is {} with {} group(s)",
                groups.len(),
                groups.kind().name(),
                self.groups.kind().name(),
                self.groups.len()
            )));
        }
        for (g, now) in groups.iter_mut().zip(self.groups.iter()) {
            if g.weight_decay.is_nan() {
                g.weight_decay = now.weight_decay;
            }
        }
        self.groups = groups;
        self.rewrite_groups()
    }

    /// Writes every group value into libtorch, whatever it has now (after
    /// a loaded scheduler or optimizer state).
    fn rewrite_groups(&mut self) -> Result<()> {
        self.written_lr.iter_mut().for_each(|w| *w = f64::NAN);
        self.written_momentum.iter_mut().for_each(|w| *w = f64::NAN);
        self.written_weight_decay.iter_mut().for_each(|w| *w = f64::NAN);
        // tch's optimizer cannot change its beta2: what it has stays known.
        if matches!(self.opt, Engine::Owned(_)) {
            self.written_beta2.iter_mut().for_each(|w| *w = f64::NAN);
        }
        self.sync()
    }
}

enum Write {
    All(f64),
    Each,
}

/// Decides how to write new values over the ones libtorch has: `None` when
/// nothing changed, `All(v)` when every group gets `v` and more than one group
/// would otherwise be written, `Each` otherwise. Compares bit patterns.
/// `shared_only`: the setter exists for all groups at once only (momentum of
/// non-SGD optimizers), so a uniform change is always written as one value.
fn plan_write(mut new: impl Iterator<Item = f64>, written: &[f64], shared_only: bool) -> Option<Write> {
    let first = new.next()?;
    let mut changed = first.to_bits() != written[0].to_bits();
    let mut uniform = true;
    let mut n_changed = usize::from(changed);
    for (v, w) in new.zip(&written[1..]) {
        if v.to_bits() != w.to_bits() {
            changed = true;
            n_changed += 1;
        }
        uniform &= v.to_bits() == first.to_bits();
    }
    match (changed, uniform && (n_changed > 1 || shared_only)) {
        (false, _) => None,
        (true, true) => Some(Write::All(first)),
        (true, false) => Some(Write::Each),
    }
}

/// One weight decay per group, each checked as PyTorch's constructor checks
/// `weight_decay` (with its message), and finite.
fn weight_decays_for(kind: OptimizerKind, lrs: &[f64], wd: PerGroup) -> Result<Vec<f64>> {
    let wds = match wd {
        PerGroup::All(v) => vec![v; lrs.len()],
        PerGroup::Each(v) if v.len() == lrs.len() => v,
        PerGroup::Each(v) => {
            return Err(Error::GroupCount { what: "weight_decay".into(), expected: lrs.len(), got: v.len() })
        }
    };
    for &weight_decay in &wds {
        checked(Hyper { weight_decay, ..Hyper::new(kind) }, &[])?;
    }
    Ok(wds)
}

fn lrs_for(vs: &VarStore, lr: PerGroup) -> Result<Vec<f64>> {
    let n = group_count(vs);
    if n == 0 {
        return Err(Error::value(
            "the VarStore has no trainable variables: create the model's variables before the optimizer",
        ));
    }
    match lr {
        PerGroup::All(v) => Ok(vec![v; n]),
        PerGroup::Each(v) if v.len() == n => Ok(v),
        PerGroup::Each(v) => Err(Error::GroupCount { what: "lr".into(), expected: n, got: v.len() }),
    }
}
