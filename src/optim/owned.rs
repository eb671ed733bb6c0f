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
//! failed load leaves the optimizer as it was. C++ exceptions never cross
//! into Rust: each shim function catches them and returns a one-line message.
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
//! a pointer to libtorch's optimizer, which is what the shim takes: no layout
//! is assumed on the Rust side.

use std::ffi::{c_char, c_void, CStr, CString};
use std::fmt;
use std::ptr::NonNull;
use std::sync::{Arc, Mutex};

use tch::nn::{VarStore, Variables};
use tch::{TchError, Tensor};
use torch_sys::{C_optimizer, C_tensor};

use crate::error::{Error, Result};

// src/optim/owned.cpp. Each returns null on success, else a one-line message
// malloc'd by C (free it with tch_lr_free).
extern "C" {
    fn tch_lr_optimizer_save(opt: *mut C_optimizer, out: *mut *mut c_char, len: *mut usize) -> *mut c_char;
    fn tch_lr_optimizer_load(opt: *mut C_optimizer, data: *const c_char, len: usize) -> *mut c_char;
    fn tch_lr_free(p: *mut c_void);
    // src/optim/write.cpp: every group's options in one call.
    fn tch_lr_optimizer_write(
        opt: *mut C_optimizer,
        kind: i32,
        n: usize,
        lr: *const f64,
        momentum: *const f64,
        weight_decay: *const f64,
    ) -> usize;
    // src/optim/pytorch_step.cpp: Adam, AdamW and RMSprop with PyTorch's step.
    fn tch_lr_pytorch_adam(
        lr: f64,
        beta1: f64,
        beta2: f64,
        weight_decay: f64,
        eps: f64,
        amsgrad: i32,
        decoupled: i32,
        out: *mut *mut C_optimizer,
    ) -> *mut c_char;
    fn tch_lr_pytorch_rms_prop(
        lr: f64,
        alpha: f64,
        eps: f64,
        weight_decay: f64,
        momentum: f64,
        centered: i32,
        out: *mut *mut C_optimizer,
    ) -> *mut c_char;
    fn tch_lr_optimizer_param_count(opt: *mut C_optimizer, n: *mut usize) -> *mut c_char;
    fn tch_lr_optimizer_state_get(
        opt: *mut C_optimizer,
        index: usize,
        names: *mut *mut c_char,
        out: *mut *mut C_tensor,
        count: *mut usize,
    ) -> *mut c_char;
    fn tch_lr_optimizer_state_set(
        opt: *mut C_optimizer,
        n: usize,
        indices: *const usize,
        counts: *const usize,
        names: *const *const c_char,
        tensors: *const *mut C_tensor,
    ) -> *mut c_char;
}

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

/// Takes a C string that C allocated with `malloc` (`strdup`) and frees it.
///
/// # Safety
/// `p` is null, or a NUL-terminated string from `malloc` that nothing else
/// frees or uses afterwards.
unsafe fn take_message(p: *mut c_char) -> Option<String> {
    let p = NonNull::new(p)?;
    // SAFETY: by this function's contract, a live NUL-terminated string; it is
    // copied before it is freed, once.
    let text = unsafe { CStr::from_ptr(p.as_ptr()) }.to_string_lossy().into_owned();
    // SAFETY: from malloc, freed here only (tch_lr_free is C's free).
    unsafe { tch_lr_free(p.as_ptr().cast()) };
    Some(text)
}

/// The error libtorch reported for the last `ato_*` call on this thread, if
/// any (torch-sys's last-error mechanism, as tch reads it).
fn last_error() -> Result<()> {
    // SAFETY: get_and_reset_last_err hands over the thread's last error:
    // null, or a string libtch strdup'd and no longer refers to.
    match unsafe { take_message(torch_sys::get_and_reset_last_err()) } {
        None => Ok(()),
        Some(message) => Err(Error::Tch(TchError::Torch(message))),
    }
}

/// libtorch's optimizer, owned: the handle torch-sys's constructor returned,
/// and the `VarStore`'s variables, to add those created later (as tch does).
pub(crate) struct Owned {
    /// Invariant: a live optimizer from `ato_sgd`, `tch_lr_pytorch_adam` or
    /// `tch_lr_pytorch_rms_prop`, freed only in `Drop`.
    raw: NonNull<C_optimizer>,
    variables: Arc<Mutex<Variables>>,
    /// How many of the trainable variables the optimizer has.
    added: usize,
    /// The options' class, as src/optim/write.cpp numbers it.
    kind: i32,
}

// SAFETY: libtorch's optimizer has no thread affinity, and `Owned` is the only
// handle to it; it is moved between threads, never shared (`Owned` is not
// `Sync`), as tch's `COptimizer` is `Send`.
unsafe impl Send for Owned {}

impl fmt::Debug for Owned {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Owned").field("parameters", &self.added).finish()
    }
}

impl Owned {
    /// Creates libtorch's optimizer with `settings` and LR `lr` for every
    /// group, over the trainable variables of `vs`, each in its group.
    pub(crate) fn new(settings: Settings, vs: &VarStore, lr: f64) -> Result<Self> {
        let mut raw: *mut C_optimizer = std::ptr::null_mut();
        let out: *mut *mut C_optimizer = &mut raw;
        // SAFETY: plain values in and `out` valid for a write; out comes a new
        // optimizer, or null with an error: torch-sys's constructor sets the
        // last error, the shim's return a message (null or malloc'd, ours).
        // Each catches C++ exceptions.
        let message = unsafe {
            match settings {
                Settings::Sgd(c) => {
                    raw = torch_sys::ato_sgd(lr, c.momentum, c.dampening, c.wd, i32::from(c.nesterov));
                    None
                }
                Settings::Adam(c) => {
                    take_message(tch_lr_pytorch_adam(lr, c.beta1, c.beta2, c.wd, c.eps, c.amsgrad.into(), 0, out))
                }
                Settings::AdamW(c) => {
                    take_message(tch_lr_pytorch_adam(lr, c.beta1, c.beta2, c.wd, c.eps, c.amsgrad.into(), 1, out))
                }
                Settings::RmsProp(c) => {
                    let centered = c.centered.into();
                    take_message(tch_lr_pytorch_rms_prop(lr, c.alpha, c.eps, c.wd, c.momentum, centered, out))
                }
            }
        };
        if let Some(message) = message {
            return Err(Error::Tch(TchError::Torch(message)));
        }
        last_error()?;
        let raw = NonNull::new(raw).ok_or_else(|| Error::Tch(TchError::Torch("no optimizer was created".into())))?;
        let kind = match settings {
            Settings::Sgd(_) => 0,
            Settings::Adam(_) => 1,
            Settings::AdamW(_) => 2,
            Settings::RmsProp(_) => 3,
        };
        let mut owned = Owned { raw, variables: vs.variables_.clone(), added: 0, kind };
        owned.add_missing()?;
        Ok(owned)
    }

    /// Adds the trainable variables created since the last call, each in its
    /// group (tch's `add_missing_variables`).
    fn add_missing(&mut self) -> Result<()> {
        let variables = Arc::clone(&self.variables);
        let vars = variables.lock().unwrap_or_else(|e| e.into_inner());
        for var in vars.trainable_variables.iter().skip(self.added) {
            self.add(&var.tensor, var.group)?;
            self.added += 1;
        }
        Ok(())
    }

    fn add(&mut self, tensor: &Tensor, group: usize) -> Result<()> {
        // SAFETY: `raw` is live (struct invariant); the tensor pointer is
        // valid for the call (`tensor` is borrowed) and only read: libtorch
        // copies the `torch::Tensor` (a new reference to the same variable).
        unsafe { torch_sys::ato_add_parameters(self.raw.as_ptr(), tensor.as_ptr().cast_mut(), group) };
        last_error()
    }

    /// Runs one of torch-sys's `ato_*` calls on the optimizer and reads its
    /// error. Each `unsafe` block passed here is such a call: sound because
    /// `raw` is live (struct invariant) and the call catches C++ exceptions
    /// into the last error.
    fn call(&mut self, f: impl FnOnce(*mut C_optimizer)) -> Result<()> {
        f(self.raw.as_ptr());
        last_error()
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
        // SAFETY: see `call`.
        self.call(|o| unsafe { torch_sys::ato_zero_grad(o) })
    }

    /// tch's `step`: adds new variables, then one optimizer step.
    pub(crate) fn step(&mut self) -> Result<()> {
        self.add_missing()?;
        // SAFETY: see `call`.
        self.call(|o| unsafe { torch_sys::ato_step(o) })
    }

    /// Writes every group's LR, and momentum (beta1) and weight decay where
    /// given, in one call into libtorch's group options (src/optim/write.cpp):
    /// the stores, without a C call and casts per group and value.
    pub(crate) fn write(&mut self, lr: &[f64], momentum: Option<&[f64]>, weight_decay: Option<&[f64]>) -> Result<()> {
        let n = lr.len();
        let ptr = |v: Option<&[f64]>| v.filter(|v| v.len() == n).map_or(std::ptr::null(), <[f64]>::as_ptr);
        let (m, wd) = (ptr(momentum), ptr(weight_decay));
        // SAFETY: `raw` is live (struct invariant); `lr` holds n doubles, `m`
        // and `wd` n each or are null (checked above); all are only read, for
        // the call. The function throws nothing (stores only).
        let written = unsafe { tch_lr_optimizer_write(self.raw.as_ptr(), self.kind, n, lr.as_ptr(), m, wd) };
        if written != n {
            return Err(Error::Tch(TchError::Torch(format!(
                "{n} group values for an optimizer of another group count"
            ))));
        }
        Ok(())
    }

    pub(crate) fn set_lr(&mut self, lr: f64) -> Result<()> {
        // SAFETY: see `call`.
        self.call(|o| unsafe { torch_sys::ato_set_learning_rate(o, lr) })
    }

    pub(crate) fn set_lr_group(&mut self, group: usize, lr: f64) -> Result<()> {
        // SAFETY: see `call`.
        self.call(|o| unsafe { torch_sys::ato_set_learning_rate_group(o, group, lr) })
    }

    pub(crate) fn set_momentum(&mut self, m: f64) -> Result<()> {
        // SAFETY: see `call`.
        self.call(|o| unsafe { torch_sys::ato_set_momentum(o, m) })
    }

    pub(crate) fn set_momentum_group(&mut self, group: usize, m: f64) -> Result<()> {
        // SAFETY: see `call`.
        self.call(|o| unsafe { torch_sys::ato_set_momentum_group(o, group, m) })
    }

    pub(crate) fn set_weight_decay(&mut self, wd: f64) -> Result<()> {
        // SAFETY: see `call`.
        self.call(|o| unsafe { torch_sys::ato_set_weight_decay(o, wd) })
    }

    pub(crate) fn set_weight_decay_group(&mut self, group: usize, wd: f64) -> Result<()> {
        // SAFETY: see `call`.
        self.call(|o| unsafe { torch_sys::ato_set_weight_decay_group(o, group, wd) })
    }

    /// The state, in libtorch's archive format with tch-lr's header.
    pub(crate) fn state(&self) -> Result<Vec<u8>> {
        let mut data: *mut c_char = std::ptr::null_mut();
        let mut len = 0usize;
        // SAFETY: `raw` is live (struct invariant); `data` and `len` are valid
        // for writes; the function catches C++ exceptions.
        let err = unsafe { tch_lr_optimizer_save(self.raw.as_ptr(), &mut data, &mut len) };
        // SAFETY: the shim's message: null or malloc'd, ours.
        if let Some(message) = unsafe { take_message(err) } {
            return Err(Error::OptimizerState(message));
        }
        let data = NonNull::new(data).ok_or_else(|| Error::OptimizerState("no state was written".into()))?;
        // SAFETY: on success the shim set `data` to a malloc'd buffer of `len`
        // bytes, which is copied here, then freed once.
        let bytes = unsafe { std::slice::from_raw_parts(data.as_ptr().cast::<u8>(), len) }.to_vec();
        // SAFETY: as above; not used after this.
        unsafe { tch_lr_free(data.as_ptr().cast()) };
        Ok(bytes)
    }

    /// Loads a state from [`Owned::state`]: the optimizer and each group's
    /// parameter kinds and shapes must match. On error nothing changed.
    pub(crate) fn load_state(&mut self, bytes: &[u8]) -> Result<()> {
        self.add_missing()?;
        // SAFETY: `raw` is live (struct invariant); the shim only reads
        // `bytes.len()` bytes at `bytes`, borrowed for the call, and catches
        // C++ exceptions.
        let err = unsafe { tch_lr_optimizer_load(self.raw.as_ptr(), bytes.as_ptr().cast(), bytes.len()) };
        // SAFETY: the shim's message: null or malloc'd, ours.
        match unsafe { take_message(err) } {
            None => Ok(()),
            Some(message) => Err(Error::OptimizerState(message)),
        }
    }

    /// Each parameter's state tensors (copies), as PyTorch's
    /// `optimizer.state_dict()["state"]`: parameters without state are left
    /// out; Adam's, AdamW's and RMSprop's `step` is a 0-dim float32 tensor.
    pub(crate) fn state_tensors(&self) -> Result<StateTensors> {
        let shim = |err: *mut c_char| -> Result<()> {
            // SAFETY: the shim's message: null or malloc'd, ours.
            match unsafe { take_message(err) } {
                None => Ok(()),
                Some(message) => Err(Error::OptimizerState(message)),
            }
        };
        let mut n = 0usize;
        // SAFETY: `raw` is live (struct invariant); `n` is valid for writes.
        shim(unsafe { tch_lr_optimizer_param_count(self.raw.as_ptr(), &mut n) })?;
        let mut all = Vec::new();
        for index in 0..n {
            let mut names: *mut c_char = std::ptr::null_mut();
            let mut out: [*mut C_tensor; 4] = [std::ptr::null_mut(); 4];
            let mut count = 0usize;
            // SAFETY: `raw` is live; `names`, `out` (4 slots, the shim's
            // most) and `count` are valid for writes.
            shim(unsafe {
                tch_lr_optimizer_state_get(self.raw.as_ptr(), index, &mut names, out.as_mut_ptr(), &mut count)
            })?;
            // SAFETY: on success, `count` new tensors the caller owns, each
            // taken once here.
            let tensors: Vec<Tensor> = out[..count.min(4)].iter().map(|&t| unsafe { Tensor::from_ptr(t) }).collect();
            // SAFETY: null or a malloc'd string, ours.
            let Some(names) = (unsafe { take_message(names) }) else { continue };
            all.push((index, names.split(',').map(String::from).zip(tensors).collect()));
        }
        Ok(all)
    }

    /// Replaces every parameter's state with `state` (PyTorch's
    /// `load_state_dict`); checked whole first: on error nothing changed.
    pub(crate) fn load_state_tensors(&mut self, state: &[(usize, Vec<(String, Tensor)>)]) -> Result<()> {
        self.add_missing()?;
        let mut indices = Vec::with_capacity(state.len());
        let mut counts = Vec::with_capacity(state.len());
        let mut names = Vec::with_capacity(state.len());
        let mut tensors: Vec<*mut C_tensor> = Vec::new();
        for (index, entries) in state {
            indices.push(*index);
            counts.push(entries.len());
            let joined: Vec<&str> = entries.iter().map(|(n, _)| n.as_str()).collect();
            if joined.iter().any(|n| n.contains(',') || n.contains('\0') || n.is_empty()) {
                return Err(Error::OptimizerState(format!("bad state name in {joined:?} of parameter {index}")));
            }
            names.push(CString::new(joined.join(",")).map_err(|e| Error::OptimizerState(e.to_string()))?);
            tensors.extend(entries.iter().map(|(_, t)| t.as_ptr().cast_mut()));
        }
        let name_ptrs: Vec<*const c_char> = names.iter().map(|n| n.as_ptr()).collect();
        // SAFETY: `raw` is live (struct invariant); every array holds what the
        // shim reads (`state.len()` entries, the sum of `counts` tensors),
        // borrowed for the call; the tensors are only read (copied).
        let err = unsafe {
            tch_lr_optimizer_state_set(
                self.raw.as_ptr(),
                state.len(),
                indices.as_ptr(),
                counts.as_ptr(),
                name_ptrs.as_ptr(),
                tensors.as_ptr(),
            )
        };
        // SAFETY: the shim's message: null or malloc'd, ours.
        match unsafe { take_message(err) } {
            None => Ok(()),
            Some(message) => Err(Error::OptimizerState(message)),
        }
    }
}

impl Drop for Owned {
    fn drop(&mut self) {
        // SAFETY: `raw` came from a torch-sys constructor and is freed only
        // here, once (struct invariant); the variables it references are
        // reference-counted by libtorch.
        unsafe { torch_sys::ato_free(self.raw.as_ptr()) }
    }
}
