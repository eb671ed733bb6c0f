//! The optimizer tch-lr owns: libtorch's SGD, Adam, AdamW or RMSprop, built
//! through torch-sys, whose state (momentum buffers, moments, step counts) can
//! be saved and loaded, and whose Adam, AdamW and RMSprop step with PyTorch's
//! own formula. [`Optim::owned`](crate::Optim::owned)
//! builds one; [`Optim::save`](crate::Optim::save) and
//! [`Optim::load`](crate::Optim::load) checkpoint it.
//!
//! ## Why this design
//! tch's `nn::Optimizer` keeps its libtorch optimizer in private fields and
//! exposes no state, so a resumed run restarted SGD's momentum buffers and
//! Adam's moments from zero. Reading tch's private fields (through layout
//! assumptions or transmutes) would break silently with any tch release, so
//! tch-lr creates the optimizer itself, with torch-sys's public C functions:
//! the same calls tch makes (`ato_sgd`, `ato_adam`, `ato_adamw`,
//! `ato_rms_prop`, `ato_add_parameters` for each trainable variable and its
//! group, `ato_zero_grad`, `ato_step`, the `ato_set_*` setters, `ato_free`),
//! so training is the same libtorch code as with tch, step for step. Errors
//! come back through torch-sys's last-error mechanism, as in tch.
//!
//! The state itself is libtorch's business: a small C++ file (`src/optim/owned.cpp`,
//! compiled by `build.rs` against the libtorch torch-sys links, and not at all
//! under `doc-only`) calls libtorch's own optimizer serialization
//! (`Optimizer::save` into a `torch::serialize::OutputArchive`,
//! `Optimizer::load` from an `InputArchive`), so every optimizer's state is
//! complete by construction (amsgrad's `max_exp_avg_sq`, RMSprop's
//! `grad_avg`, the step counts) and the numbers round-trip bit for bit. It
//! adds a header (the optimizer, each group's parameter kinds and shapes), so
//! that a state of another optimizer or model is refused in one line; a
//! failed load leaves the optimizer as it was.
//!
//! Every call into C++ (torch-sys's and the shims') goes through the
//! crate's `ffi` module (`src/ffi/mod.rs`), which declares each shim function
//! once and wraps the handle in a safe type: C++ exceptions never cross into
//! Rust; each shim function returns a status and a one-line message, and a
//! failure whose message could not be allocated is still an error. The
//! optimizer's kind, which `src/optim/write.cpp` relies on, is the one C++
//! reports for the built optimizer, checked against the one asked for.
//!
//! ## PyTorch's formula
//! libtorch's C++ Adam and AdamW update the first moment as
//! `exp_avg.mul_(beta1).add_(grad, 1 - beta1)` and divide by
//! `sqrt(bias_correction2)`; Python's `torch.optim.Adam`/`AdamW` use
//! `exp_avg.lerp_(grad, 1 - beta1)` and `bias_correction2 ** 0.5` (and
//! centered RMSprop `grad_avg.lerp_`). The maths is the same, the last bits
//! are not: a few elements drift apart within steps. The owned optimizer's
//! Adam, AdamW and RMSprop are libtorch's classes (options, per-parameter
//! state, setters and serialization unchanged) with Python's single-tensor
//! step (`src/optim/pytorch_step.cpp`), op for op, so a run moved between
//! PyTorch and tch-lr continues bit for bit on the CPU. SGD is libtorch's
//! own: its step already equals Python's. tch's optimizer
//! ([`Backend::Tch`](crate::optim::Backend::Tch)) keeps libtorch's formula.
//!
//! The handle torch-sys returns (`*mut C_optimizer`) is, by torch-sys's C
//! header (`libtch/torch_api.h`: `typedef torch::optim::Optimizer *optimizer`),
//! a pointer to libtorch's optimizer, which is what the shims take: no layout
//! is assumed on the Rust side.

use std::fmt;
use std::sync::{Arc, Mutex};

use tch::nn::{VarStore, Variables};
use tch::{TchError, Tensor};

use crate::error::{Error, Result};
use crate::ffi;
use crate::groups::OptimizerKind;

/// One parameter's state tensors by PyTorch's names, keyed by PyTorch's
/// parameter index (group order).
pub type StateTensors = Vec<(usize, Vec<(String, Tensor)>)>;

/// The sealed part of [`OptimizerSpec`](crate::OptimizerSpec): which libtorch
/// optimizer a config builds, with its settings. Implemented for tch's four
/// optimizer configs only.
pub mod sealed {
    use tch::nn;

    /// A tch optimizer config, as the settings of libtorch's constructor.
    #[derive(Clone, Copy, Debug)]
    pub enum Settings {
        /// `torch::optim::SGD`.
        Sgd(nn::Sgd),
        /// `torch::optim::Adam`.
        Adam(nn::Adam),
        /// `torch::optim::AdamW`.
        AdamW(nn::AdamW),
        /// `torch::optim::RMSprop`.
        RmsProp(nn::RmsProp),
    }

    /// The settings of a config.
    pub trait Create {
        /// Which optimizer, with which settings.
        fn settings(&self) -> Settings;
    }

    macro_rules! create {
        ($($t:ident),*) => {$(
            impl Create for nn::$t {
                fn settings(&self) -> Settings {
                    Settings::$t(*self)
                }
            }
        )*};
    }
    create!(Sgd, Adam, AdamW, RmsProp);
}

use sealed::Settings;

/// A libtorch error (the optimizer's construction, step and setters), as tch
/// reports it.
fn torch(message: String) -> Error {
    Error::Tch(TchError::Torch(message))
}

impl Settings {
    /// The kind of optimizer these settings build.
    fn kind(&self) -> OptimizerKind {
        match self {
            Settings::Sgd(_) => OptimizerKind::Sgd,
            Settings::Adam(_) => OptimizerKind::Adam,
            Settings::AdamW(_) => OptimizerKind::AdamW,
            Settings::RmsProp(_) => OptimizerKind::RmsProp,
        }
    }
}

/// libtorch's optimizer, owned (through [`ffi::Optimizer`]), and the
/// `VarStore`'s variables, to add those created later (as tch does).
pub(crate) struct Owned {
    opt: ffi::Optimizer,
    variables: Arc<Mutex<Variables>>,
    /// How many of the trainable variables the optimizer has.
    added: usize,
    /// The optimizer's kind, as C++ found it (the options' class for
    /// src/optim/write.cpp).
    kind: OptimizerKind,
}

impl fmt::Debug for Owned {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Owned").field("kind", &self.kind).field("parameters", &self.added).finish()
    }
}

impl Owned {
    /// Creates libtorch's optimizer with `settings` and LR `lr` for every
    /// group, over the trainable variables of `vs`, each in its group.
    pub(crate) fn new(settings: Settings, vs: &VarStore, lr: f64) -> Result<Self> {
        let opt = match settings {
            Settings::Sgd(c) => ffi::Optimizer::sgd(lr, c.momentum, c.dampening, c.wd, c.nesterov),
            Settings::Adam(c) => ffi::Optimizer::pytorch_adam(lr, (c.beta1, c.beta2), c.wd, c.eps, c.amsgrad, false),
            Settings::AdamW(c) => ffi::Optimizer::pytorch_adam(lr, (c.beta1, c.beta2), c.wd, c.eps, c.amsgrad, true),
            Settings::RmsProp(c) => ffi::Optimizer::pytorch_rms_prop(lr, c.alpha, c.eps, c.wd, c.momentum, c.centered),
        }
        .map_err(torch)?;
        // The kind C++ finds, checked against the one asked for: the two sides
        // cannot number the kinds differently unnoticed.
        let kind = opt.kind().map_err(torch)?;
        if kind != settings.kind() {
            return Err(torch(format!("the C++ shim built a {kind:?} optimizer for {:?} settings", settings.kind())));
        }
        let mut owned = Owned { opt, variables: vs.variables_.clone(), added: 0, kind };
        owned.add_missing()?;
        Ok(owned)
    }

    /// Adds the trainable variables created since the last call, each in its
    /// group (tch's `add_missing_variables`).
    fn add_missing(&mut self) -> Result<()> {
        let variables = Arc::clone(&self.variables);
        let vars = variables.lock().unwrap_or_else(|e| e.into_inner());
        for var in vars.trainable_variables.iter().skip(self.added) {
            self.opt.add_parameters(&var.tensor, var.group).map_err(torch)?;
            self.added += 1;
        }
        Ok(())
    }

    /// How many parameters each group holds (the trainable variables added,
    /// by group).
    pub(crate) fn params_per_group(&self) -> Vec<usize> {
        let vars = self.variables.lock().unwrap_or_else(|e| e.into_inner());
        let mut counts = Vec::new();
        for var in vars.trainable_variables.iter().take(self.added) {
            if counts.len() <= var.group {
                counts.resize(var.group + 1, 0);
            }
            counts[var.group] += 1;
        }
        counts
    }

    /// tch's `zero_grad`: adds new variables, then zeroes the gradients.
    pub(crate) fn zero_grad(&mut self) -> Result<()> {
        self.add_missing()?;
        self.opt.zero_grad().map_err(torch)
    }

    /// tch's `step`: adds new variables, then one optimizer step.
    pub(crate) fn step(&mut self) -> Result<()> {
        self.add_missing()?;
        self.opt.step().map_err(torch)
    }

    /// Writes every group's LR, and momentum (beta1), beta2 (Adam, AdamW)
    /// and weight decay where given, in one call into libtorch's group
    /// options (src/optim/write.cpp): the stores, without a C call and casts
    /// per group and value.
    pub(crate) fn write(
        &mut self,
        lr: &[f64],
        momentum: Option<&[f64]>,
        beta2: Option<&[f64]>,
        weight_decay: Option<&[f64]>,
    ) -> Result<()> {
        self.opt.write(self.kind, lr, momentum, beta2, weight_decay).map_err(torch)
    }

    pub(crate) fn set_lr(&mut self, lr: f64) -> Result<()> {
        self.opt.set_lr(lr).map_err(torch)
    }

    pub(crate) fn set_lr_group(&mut self, group: usize, lr: f64) -> Result<()> {
        self.opt.set_lr_group(group, lr).map_err(torch)
    }

    pub(crate) fn set_momentum(&mut self, m: f64) -> Result<()> {
        self.opt.set_momentum(m).map_err(torch)
    }

    pub(crate) fn set_momentum_group(&mut self, group: usize, m: f64) -> Result<()> {
        self.opt.set_momentum_group(group, m).map_err(torch)
    }

    pub(crate) fn set_weight_decay(&mut self, wd: f64) -> Result<()> {
        self.opt.set_weight_decay(wd).map_err(torch)
    }

    pub(crate) fn set_weight_decay_group(&mut self, group: usize, wd: f64) -> Result<()> {
        self.opt.set_weight_decay_group(group, wd).map_err(torch)
    }

    /// The state, in libtorch's archive format with tch-lr's header.
    pub(crate) fn state(&self) -> Result<Vec<u8>> {
        self.opt.save().map_err(Error::OptimizerState)
    }

    /// Loads a state from [`Owned::state`]: the optimizer and each group's
    /// parameter kinds and shapes must match. On error nothing changed.
    pub(crate) fn load_state(&mut self, bytes: &[u8]) -> Result<()> {
        self.add_missing()?;
        self.opt.load(bytes).map_err(Error::OptimizerState)
    }

    /// Each parameter's state tensors (copies), as PyTorch's
    /// `optimizer.state_dict()["state"]`: parameters without state are left
    /// out; Adam's, AdamW's and RMSprop's `step` is a 0-dim float32 tensor.
    pub(crate) fn state_tensors(&self) -> Result<StateTensors> {
        let n = self.opt.param_count().map_err(Error::OptimizerState)?;
        let mut all = Vec::new();
        for index in 0..n {
            let state = self.opt.state_of(index).map_err(Error::OptimizerState)?;
            if !state.is_empty() {
                all.push((index, state));
            }
        }
        Ok(all)
    }

    /// Replaces every parameter's state with `state` (PyTorch's
    /// `load_state_dict`); checked whole first: on error nothing changed.
    pub(crate) fn load_state_tensors(&mut self, state: &[(usize, Vec<(String, Tensor)>)]) -> Result<()> {
        self.add_missing()?;
        self.opt.set_state(state).map_err(Error::OptimizerState)
    }
}
