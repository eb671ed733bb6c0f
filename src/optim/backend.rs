//! Which optimizer an [`Optim`] drives, and what it does with it besides
//! writing the schedule: the training step and the optimizer's state.
//!
//! - tch's `nn::Optimizer` ([`Optim::new`], or the program's own through
//!   [`Optim::from_tch`]): tch keeps its state out of reach, so it cannot be
//!   saved.
//! - libtorch's optimizer, owned by tch-lr ([`Optim::owned`], module
//!   `owned`): the same libtorch optimizer, whose state [`Optim::save`] and
//!   [`Optim::load`] checkpoint.

use std::fs;
use std::path::Path;

use tch::{nn, Tensor};

use super::owned::{Owned, StateTensors};
use super::Optim;
use crate::error::{Error, Result};
use crate::support::write_atomic;

/// The optimizer behind an [`Optim`].
#[derive(Debug)]
pub(super) enum Engine {
    /// tch's.
    Tch(nn::Optimizer),
    /// libtorch's, owned by tch-lr.
    Owned(Owned),
}

/// Panics with libtorch's error, as tch's `nn::Optimizer` does (`unwrap`).
fn or_panic(result: Result<()>) {
    if let Err(e) = result {
        panic!("{e}");
    }
}

/// The setters [`Optim::sync`] writes with, named as tch's. On the owned
/// optimizer they cannot fail: `Optim` writes only the groups it has (the
/// `VarStore`'s, all added at construction) and momenta per group only for
/// SGD; a libtorch error would still panic, as tch's setters do.
impl Engine {
    pub(super) fn set_lr(&mut self, lr: f64) {
        match self {
            Engine::Tch(o) => o.set_lr(lr),
            Engine::Owned(o) => or_panic(o.set_lr(lr)),
        }
    }

    pub(super) fn set_lr_group(&mut self, group: usize, lr: f64) {
        match self {
            Engine::Tch(o) => o.set_lr_group(group, lr),
            Engine::Owned(o) => or_panic(o.set_lr_group(group, lr)),
        }
    }

    pub(super) fn set_momentum(&mut self, m: f64) {
        match self {
            Engine::Tch(o) => o.set_momentum(m),
            Engine::Owned(o) => or_panic(o.set_momentum(m)),
        }
    }

    pub(super) fn set_momentum_group(&mut self, group: usize, m: f64) {
        match self {
            Engine::Tch(o) => o.set_momentum_group(group, m),
            Engine::Owned(o) => or_panic(o.set_momentum_group(group, m)),
        }
    }

    pub(super) fn set_weight_decay(&mut self, wd: f64) {
        match self {
            Engine::Tch(o) => o.set_weight_decay(wd),
            Engine::Owned(o) => or_panic(o.set_weight_decay(wd)),
        }
    }

    pub(super) fn set_weight_decay_group(&mut self, group: usize, wd: f64) {
        match self {
            Engine::Tch(o) => o.set_weight_decay_group(group, wd),
            Engine::Owned(o) => or_panic(o.set_weight_decay_group(group, wd)),
        }
    }
}

/// The error for the state of tch's optimizer.
fn no_state() -> Error {
    Error::OptimizerState(
        "tch's nn::Optimizer keeps its state out of reach: build the optimizer with Optim::owned to save and load it"
            .into(),
    )
}

/// The error for the state tensors of tch's optimizer.
fn unsupported() -> Error {
    Error::Unsupported("tch's nn::Optimizer keeps its state out of reach: build the optimizer with Optim::owned".into())
}

impl Optim {
    /// tch's `zero_grad`, `backward()` on `loss`, tch's `step`: one training
    /// step, on either optimizer.
    ///
    /// # Panics
    /// When libtorch fails, as tch's `backward_step` does.
    pub fn backward_step(&mut self, loss: &Tensor) {
        match &mut self.opt {
            Engine::Tch(o) => o.backward_step(loss),
            Engine::Owned(o) => {
                or_panic(o.zero_grad());
                loss.backward();
                or_panic(o.step());
            }
        }
    }

    /// Zeroes the gradients of the parameters (tch's `zero_grad`).
    ///
    /// # Panics
    /// When libtorch fails, as tch's `zero_grad` does.
    pub fn zero_grad(&mut self) {
        match &mut self.opt {
            Engine::Tch(o) => o.zero_grad(),
            Engine::Owned(o) => or_panic(o.zero_grad()),
        }
    }

    /// One optimizer step with the gradients there are (tch's `step`).
    ///
    /// # Panics
    /// When libtorch fails, as tch's `step` does.
    pub fn step(&mut self) {
        match &mut self.opt {
            Engine::Tch(o) => o.step(),
            Engine::Owned(o) => or_panic(o.step()),
        }
    }

    /// tch's optimizer, when this `Optim` drives one ([`Optim::new`],
    /// [`Optim::from_tch`]); `None` for [`Optim::owned`]. Changing its LR or
    /// momentum directly bypasses the scheduler.
    pub fn tch_optimizer(&self) -> Option<&nn::Optimizer> {
        match &self.opt {
            Engine::Tch(o) => Some(o),
            Engine::Owned(_) => None,
        }
    }

    /// tch's optimizer, mutable. See [`Optim::tch_optimizer`].
    pub fn tch_optimizer_mut(&mut self) -> Option<&mut nn::Optimizer> {
        match &mut self.opt {
            Engine::Tch(o) => Some(o),
            Engine::Owned(_) => None,
        }
    }

    /// Gives tch's optimizer back; `None` for [`Optim::owned`].
    pub fn into_tch(self) -> Option<nn::Optimizer> {
        match self.opt {
            Engine::Tch(o) => Some(o),
            Engine::Owned(_) => None,
        }
    }

    /// How many parameters each group of the owned optimizer holds (PyTorch
    /// numbers them 0.. in this group order); `None` for tch's optimizer,
    /// which does not say.
    pub fn params_per_group(&self) -> Option<Vec<usize>> {
        match &self.opt {
            Engine::Tch(_) => None,
            Engine::Owned(o) => Some(o.params_per_group()),
        }
    }

    /// Whether the optimizer's own state can be saved: true for
    /// [`Optim::owned`], false for tch's optimizer.
    pub fn saves_state(&self) -> bool {
        matches!(self.opt, Engine::Owned(_))
    }

    /// PyTorch's `optimizer.state_dict()`: the optimizer's state (SGD's
    /// momentum buffers; Adam's and AdamW's moments, step counts and
    /// amsgrad's maxima; RMSprop's square averages, momentum buffers and
    /// gradient averages) and each group's hyper-parameters, as libtorch
    /// serializes them, with the optimizer's name and its parameters' kinds
    /// and shapes.
    ///
    /// # Errors
    /// [`Error::OptimizerState`] for tch's optimizer (see
    /// [`saves_state`](Self::saves_state)) or when libtorch fails.
    pub fn state(&self) -> Result<Vec<u8>> {
        match &self.opt {
            Engine::Tch(_) => Err(no_state()),
            Engine::Owned(o) => o.state(),
        }
    }

    /// PyTorch's `optimizer.load_state_dict()`: loads a state from
    /// [`state`](Self::state); the next steps continue bit for bit. As in
    /// PyTorch, the saved hyper-parameters replace the optimizer's; then the
    /// groups' LR, momentum and weight decay, which tch-lr keeps in the
    /// scheduler's state, are written again.
    ///
    /// # Errors
    /// [`Error::OptimizerState`] for tch's optimizer, and for a state of
    /// another optimizer, of parameters of other kinds, shapes or groups (a
    /// different model), or that does not parse; the optimizer is then
    /// unchanged.
    pub fn load_state(&mut self, bytes: &[u8]) -> Result<()> {
        match &mut self.opt {
            Engine::Tch(_) => return Err(no_state()),
            Engine::Owned(o) => o.load_state(bytes)?,
        }
        self.rewrite_groups()
    }

    /// Each parameter's state tensors, as PyTorch's
    /// `optimizer.state_dict()["state"]`: keyed by PyTorch's parameter index
    /// (group order), with PyTorch's names (`momentum_buffer`; `step`,
    /// `exp_avg`, `exp_avg_sq`, `max_exp_avg_sq`; `square_avg`, `grad_avg`).
    /// `step` is a 0-dim float32 tensor, as in PyTorch.
    ///
    /// # Errors
    /// [`Error::Unsupported`] for tch's optimizer; [`Error::OptimizerState`]
    /// when libtorch fails.
    pub fn state_tensors(&self) -> Result<StateTensors> {
        match &self.opt {
            Engine::Tch(_) => Err(unsupported()),
            Engine::Owned(o) => o.state_tensors(),
        }
    }

    /// Replaces every parameter's state with `state`, as from
    /// [`state_tensors`](Self::state_tensors) or PyTorch's
    /// `optimizer.state_dict()["state"]`; parameters not in it have no state
    /// afterwards.
    ///
    /// # Errors
    /// [`Error::Unsupported`] for tch's optimizer; [`Error::OptimizerState`]
    /// for an unknown parameter index or name, a missing tensor, a tensor of
    /// another shape or dtype than its parameter, or a step that is not a
    /// whole number: the optimizer is then unchanged.
    pub fn load_state_tensors(&mut self, state: &[(usize, Vec<(String, Tensor)>)]) -> Result<()> {
        match &mut self.opt {
            Engine::Tch(_) => Err(unsupported()),
            Engine::Owned(o) => o.load_state_tensors(state),
        }
    }

    /// Saves [`state`](Self::state) to `path`, atomically: a temporary file
    /// in the same folder, flushed to disk, then renamed over `path`.
    ///
    /// ```
    /// use tch::{nn, Device};
    /// use tch_lr::Optim;
    ///
    /// let vs = nn::VarStore::new(Device::Cpu);
    /// let _layer = nn::linear(vs.root(), 4, 2, Default::default());
    /// let opt = Optim::owned(nn::Sgd { momentum: 0.9, ..Default::default() }, &vs, 0.1)?;
    /// let dir = std::env::temp_dir().join(format!("tch-lr-doc-{}", std::process::id()));
    /// std::fs::create_dir_all(&dir)?;
    /// opt.save(dir.join("optimizer.pt"))?;
    /// let mut resumed = Optim::owned(nn::Sgd { momentum: 0.9, ..Default::default() }, &vs, 0.1)?;
    /// resumed.load(dir.join("optimizer.pt"))?;
    /// # std::fs::remove_dir_all(&dir)?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// As [`state`](Self::state), and [`Error::Io`] when the file cannot be
    /// written.
    pub fn save(&self, path: impl AsRef<Path>) -> Result<()> {
        write_atomic(path.as_ref(), &self.state()?)
    }

    /// Loads a state saved by [`save`](Self::save).
    ///
    /// # Errors
    /// [`Error::Io`] when the file cannot be read, and as
    /// [`load_state`](Self::load_state) (the message names the file).
    pub fn load(&mut self, path: impl AsRef<Path>) -> Result<()> {
        let path = path.as_ref();
        let bytes = fs::read(path).map_err(|source| Error::Io { path: path.into(), source })?;
        self.load_state(&bytes).map_err(|e| match e {
            Error::OptimizerState(m) => Error::OptimizerState(format!("{}: {m}", path.display())),
            e => e,
        })
    }
}
