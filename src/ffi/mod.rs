//! The C interface of tch-lr's C++ shims, declared once, with safe wrappers:
//! the Rust side of the folder `src/ffi/` (whose C++ files every shim shares).
//!
//! | C++ | what | wrapper here |
//! |---|---|---|
//! | `src/ffi/ffi.cpp` | `tch_lr_free`, the optimizer kinds' names | [`take_string`], the unit test |
//! | `src/optim/owned.cpp` | the owned optimizer's kind, state and state tensors | [`Optimizer`] |
//! | `src/optim/write.cpp` | every group's options in one call | [`Optimizer::write`] |
//! | `src/optim/pytorch_step.cpp` | Adam, AdamW, RMSprop with PyTorch's step | [`Optimizer::pytorch_adam`], [`Optimizer::pytorch_rms_prop`] |
//! | `src/distributed/c10d.cpp` | c10d's process group (feature `distributed`) | `Group` |
//!
//! The rules both sides keep (`src/ffi/protect.hpp`):
//! - Every shim function that can fail returns an `int` status, 0 for
//!   success, and writes the message of a failure through an out-pointer
//!   (`char **error`): one line of at most 300 bytes, malloc'd, freed here
//!   once ([`status`]). When C++ cannot allocate even that message the status
//!   is still non-zero, and the error reads [`NO_MESSAGE`]: a failure never
//!   reads as success, and no C++ exception or backtrace crosses.
//! - Every buffer crossing the boundary carries its length or capacity, and
//!   C++ checks it.
//! - Handles are typed: torch-sys's `C_optimizer` and `C_tensor` (by
//!   torch-sys's C header, `torch::optim::Optimizer *` and `torch::Tensor *`),
//!   and [`DistGroup`] for the shim's own process group.
//! - The optimizer kind crosses as [`OptimizerKind`] (`#[repr(i32)]`), whose
//!   values `src/ffi/kind.hpp` repeats: the unit test below compares the two,
//!   and every owned optimizer is asked its kind once built
//!   ([`Optimizer::kind`]) and refused unless it is the one asked for.
//!
//! torch-sys's own optimizer functions (`ato_*`) are called here too, so that
//! every `unsafe` call into C++ is in this module; they report through
//! torch-sys's last error instead ([`last_error`]).

use std::ffi::{c_char, c_int, c_void, CStr};
use std::ptr::NonNull;

use tch::Tensor;
use torch_sys::{C_optimizer, C_tensor};

use crate::groups::OptimizerKind;

#[cfg(feature = "distributed")]
mod dist;
#[cfg(feature = "distributed")]
pub(crate) use dist::Group;

/// A shim's failure: its one-line message.
pub(crate) type Outcome<T> = std::result::Result<T, String>;

/// The error of a failure whose message C++ could not allocate.
pub(crate) const NO_MESSAGE: &str = "the C++ shim failed and had no memory left for its message";

/// The most state tensors one parameter has (Adam's and AdamW's `step`,
/// `exp_avg`, `exp_avg_sq`, `max_exp_avg_sq`; RMSprop's `step`, `square_avg`,
/// `momentum_buffer`, `grad_avg`): the capacity given to
/// `tch_lr_optimizer_state_get`.
const MAX_STATE: usize = 4;

/// The shim's process group (`Group` in `src/distributed/c10d.cpp`), known
/// to Rust only through pointers.
#[cfg(feature = "distributed")]
#[repr(C)]
pub(crate) struct DistGroup {
    _private: [u8; 0],
    /// Neither `Send`, `Sync` nor `Unpin` by itself (the nomicon's opaque type).
    _marker: std::marker::PhantomData<(*mut u8, std::marker::PhantomPinned)>,
}

unsafe extern "C" {
    // src/ffi/ffi.cpp
    fn tch_lr_free(p: *mut c_void);
    #[cfg(test)]
    fn tch_lr_optimizer_kind_name(kind: i32) -> *const c_char;

    // src/optim/owned.cpp
    fn tch_lr_optimizer_save(
        opt: *mut C_optimizer,
        out: *mut *mut c_char,
        len: *mut usize,
        error: *mut *mut c_char,
    ) -> c_int;
    fn tch_lr_optimizer_load(opt: *mut C_optimizer, data: *const c_char, len: usize, error: *mut *mut c_char) -> c_int;
    fn tch_lr_optimizer_kind(opt: *mut C_optimizer, kind: *mut i32, error: *mut *mut c_char) -> c_int;
    fn tch_lr_optimizer_param_count(opt: *mut C_optimizer, n: *mut usize, error: *mut *mut c_char) -> c_int;
    fn tch_lr_optimizer_state_get(
        opt: *mut C_optimizer,
        index: usize,
        names: *mut *const c_char,
        tensors: *mut *mut C_tensor,
        capacity: usize,
        count: *mut usize,
        error: *mut *mut c_char,
    ) -> c_int;
    fn tch_lr_optimizer_state_set(
        opt: *mut C_optimizer,
        n: usize,
        indices: *const usize,
        counts: *const usize,
        n_tensors: usize,
        names: *const *const c_char,
        tensors: *const *mut C_tensor,
        error: *mut *mut c_char,
    ) -> c_int;

    // src/optim/write.cpp
    fn tch_lr_optimizer_write(
        opt: *mut C_optimizer,
        kind: OptimizerKind,
        n: usize,
        lr: *const f64,
        momentum: *const f64,
        beta2: *const f64,
        weight_decay: *const f64,
        error: *mut *mut c_char,
    ) -> c_int;

    // src/optim/pytorch_step.cpp
    fn tch_lr_pytorch_adam(
        lr: f64,
        beta1: f64,
        beta2: f64,
        weight_decay: f64,
        eps: f64,
        amsgrad: c_int,
        decoupled: c_int,
        out: *mut *mut C_optimizer,
        error: *mut *mut c_char,
    ) -> c_int;
    fn tch_lr_pytorch_rms_prop(
        lr: f64,
        alpha: f64,
        eps: f64,
        weight_decay: f64,
        momentum: f64,
        centered: c_int,
        out: *mut *mut C_optimizer,
        error: *mut *mut c_char,
    ) -> c_int;

    // src/distributed/c10d.cpp
    #[cfg(feature = "distributed")]
    fn tch_lr_dist_new(
        host: *const c_char,
        port: c_int,
        rank: c_int,
        size: c_int,
        is_server: c_int,
        prefix: *const c_char,
        timeout_ms: i64,
        cuda: c_int,
        out: *mut *mut DistGroup,
        error: *mut *mut c_char,
    ) -> c_int;
    #[cfg(feature = "distributed")]
    fn tch_lr_dist_all_reduce(
        g: *mut DistGroup,
        tensors: *const *mut C_tensor,
        n: usize,
        mean: c_int,
        error: *mut *mut c_char,
    ) -> c_int;
    #[cfg(feature = "distributed")]
    fn tch_lr_dist_broadcast(
        g: *mut DistGroup,
        tensors: *const *mut C_tensor,
        n: usize,
        root: c_int,
        error: *mut *mut c_char,
    ) -> c_int;
    #[cfg(feature = "distributed")]
    fn tch_lr_dist_barrier(g: *mut DistGroup, error: *mut *mut c_char) -> c_int;
    #[cfg(feature = "distributed")]
    fn tch_lr_dist_free(g: *mut DistGroup, error: *mut *mut c_char) -> c_int;
}

/// Takes a C string that C++ allocated with `malloc` (a shim's message, or
/// torch-sys's last error, which libtch `strdup`s): its text, and frees it.
///
/// # Safety
/// `p` is null, or a NUL-terminated string from `malloc` that nothing else
/// frees or uses afterwards.
pub(crate) unsafe fn take_string(p: *mut c_char) -> Option<String> {
    let p = NonNull::new(p)?;
    // SAFETY: by this function's contract, a live NUL-terminated string; it is
    // copied before it is freed, once.
    let text = unsafe { CStr::from_ptr(p.as_ptr()) }.to_string_lossy().into_owned();
    // SAFETY: from malloc, freed here only (tch_lr_free is C's free).
    unsafe { tch_lr_free(p.as_ptr().cast()) };
    Some(text)
}

/// A shim's result from its status and its message.
///
/// # Safety
/// `error` is what the shim wrote through its `char **error`: null, or a
/// malloc'd string that nothing else frees.
unsafe fn status(code: c_int, error: *mut c_char) -> Outcome<()> {
    // SAFETY: by this function's contract.
    let message = unsafe { take_string(error) };
    match (code, message) {
        (0, _) => Ok(()),
        (_, Some(m)) => Err(m),
        (_, None) => Err(NO_MESSAGE.into()),
    }
}

/// Calls a shim function with an `error` out-pointer, and reads its status.
/// Each closure passed here makes one such call (its `unsafe` block states why
/// the call itself is sound); this function only reads what the call wrote.
fn call(f: impl FnOnce(*mut *mut c_char) -> c_int) -> Outcome<()> {
    let mut error: *mut c_char = std::ptr::null_mut();
    let code = f(&mut error);
    // SAFETY: the shims write null or a malloc'd message through `error`, and
    // nothing else refers to it.
    unsafe { status(code, error) }
}

/// The error libtorch reported for the last `ato_*` call on this thread, if
/// any (torch-sys's last-error mechanism, as tch reads it).
fn last_error() -> Outcome<()> {
    // SAFETY: get_and_reset_last_err hands over the thread's last error:
    // null, or a string libtch strdup'd and no longer refers to.
    match unsafe { take_string(torch_sys::get_and_reset_last_err()) } {
        None => Ok(()),
        Some(message) => Err(message),
    }
}

/// The name C++ gives optimizer kind `value` (`src/ffi/kind.hpp`), if any
/// (for the unit test that compares the two sides).
#[cfg(test)]
fn kind_name(value: i32) -> Option<&'static str> {
    // SAFETY: takes a plain value and throws nothing; returns null or a
    // pointer to a static string literal.
    let p = unsafe { tch_lr_optimizer_kind_name(value) };
    // SAFETY: a static NUL-terminated string, never freed.
    NonNull::new(p.cast_mut()).map(|p| unsafe { CStr::from_ptr(p.as_ptr()) }.to_str().unwrap_or("?"))
}

/// libtorch's optimizer, owned: the handle torch-sys's `ato_sgd` or the
/// shim's constructors returned, freed by `Drop` (`ato_free`).
pub(crate) struct Optimizer {
    /// Invariant: a live optimizer from `ato_sgd`, `tch_lr_pytorch_adam` or
    /// `tch_lr_pytorch_rms_prop`, freed only in `Drop`.
    raw: NonNull<C_optimizer>,
}

// SAFETY: libtorch's optimizer has no thread affinity, and `Optimizer` is the
// only handle to it; it is moved between threads, never shared (it is not
// `Sync`), as tch's `COptimizer` is `Send`.
unsafe impl Send for Optimizer {}

impl Optimizer {
    /// The handle a constructor wrote to `raw`, or an error when it wrote none.
    fn from_raw(raw: *mut C_optimizer) -> Outcome<Self> {
        NonNull::new(raw).map(|raw| Optimizer { raw }).ok_or_else(|| "no optimizer was created".into())
    }

    /// libtorch's SGD (torch-sys's `ato_sgd`), without parameters.
    pub(crate) fn sgd(lr: f64, momentum: f64, dampening: f64, weight_decay: f64, nesterov: bool) -> Outcome<Self> {
        // SAFETY: plain values in; a new optimizer out, or null with the last
        // error set (torch-sys catches C++ exceptions).
        let raw = unsafe { torch_sys::ato_sgd(lr, momentum, dampening, weight_decay, c_int::from(nesterov)) };
        last_error()?;
        Self::from_raw(raw)
    }

    /// Adam (`decoupled` false) or AdamW with PyTorch's step
    /// (`src/optim/pytorch_step.cpp`), without parameters.
    pub(crate) fn pytorch_adam(
        lr: f64,
        (beta1, beta2): (f64, f64),
        weight_decay: f64,
        eps: f64,
        amsgrad: bool,
        decoupled: bool,
    ) -> Outcome<Self> {
        let mut raw: *mut C_optimizer = std::ptr::null_mut();
        let (amsgrad, decoupled) = (c_int::from(amsgrad), c_int::from(decoupled));
        // SAFETY: plain values in; `raw` and `e` are valid for writes.
        call(|e| unsafe { tch_lr_pytorch_adam(lr, beta1, beta2, weight_decay, eps, amsgrad, decoupled, &mut raw, e) })?;
        Self::from_raw(raw)
    }

    /// RMSprop with PyTorch's step (`src/optim/pytorch_step.cpp`), without
    /// parameters.
    pub(crate) fn pytorch_rms_prop(
        lr: f64,
        alpha: f64,
        eps: f64,
        weight_decay: f64,
        momentum: f64,
        centered: bool,
    ) -> Outcome<Self> {
        let mut raw: *mut C_optimizer = std::ptr::null_mut();
        let centered = c_int::from(centered);
        // SAFETY: plain values in; `raw` and `e` are valid for writes.
        call(|e| unsafe { tch_lr_pytorch_rms_prop(lr, alpha, eps, weight_decay, momentum, centered, &mut raw, e) })?;
        Self::from_raw(raw)
    }

    /// The optimizer's kind, as C++ finds it (a `dynamic_cast`) and numbers it.
    pub(crate) fn kind(&self) -> Outcome<OptimizerKind> {
        let mut value = -1;
        // SAFETY: `raw` is live (struct invariant); `value` and `e` are valid
        // for writes.
        call(|e| unsafe { tch_lr_optimizer_kind(self.raw.as_ptr(), &mut value, e) })?;
        OptimizerKind::ALL
            .into_iter()
            .find(|k| *k as i32 == value)
            .ok_or_else(|| format!("the C++ shim numbers an optimizer kind {value}, which Rust does not know"))
    }

    /// Runs one of torch-sys's `ato_*` calls on the optimizer and reads its
    /// error. Each `unsafe` block passed here is such a call: sound because
    /// `raw` is live (struct invariant) and the call catches C++ exceptions
    /// into the last error.
    fn ato(&mut self, f: impl FnOnce(*mut C_optimizer)) -> Outcome<()> {
        f(self.raw.as_ptr());
        last_error()
    }

    /// Adds `tensor` to group `group` (torch-sys's `ato_add_parameters`).
    pub(crate) fn add_parameters(&mut self, tensor: &Tensor, group: usize) -> Outcome<()> {
        // SAFETY: see `ato`; the tensor pointer is valid for the call
        // (`tensor` is borrowed) and only read: libtorch copies the
        // `torch::Tensor` (a new reference to the same variable).
        self.ato(|o| unsafe { torch_sys::ato_add_parameters(o, tensor.as_ptr().cast_mut(), group) })
    }

    /// torch-sys's `ato_zero_grad`.
    pub(crate) fn zero_grad(&mut self) -> Outcome<()> {
        // SAFETY: see `ato`.
        self.ato(|o| unsafe { torch_sys::ato_zero_grad(o) })
    }

    /// torch-sys's `ato_step`.
    pub(crate) fn step(&mut self) -> Outcome<()> {
        // SAFETY: see `ato`.
        self.ato(|o| unsafe { torch_sys::ato_step(o) })
    }

    /// torch-sys's `ato_set_learning_rate`.
    pub(crate) fn set_lr(&mut self, lr: f64) -> Outcome<()> {
        // SAFETY: see `ato`.
        self.ato(|o| unsafe { torch_sys::ato_set_learning_rate(o, lr) })
    }

    /// torch-sys's `ato_set_learning_rate_group`.
    pub(crate) fn set_lr_group(&mut self, group: usize, lr: f64) -> Outcome<()> {
        // SAFETY: see `ato`.
        self.ato(|o| unsafe { torch_sys::ato_set_learning_rate_group(o, group, lr) })
    }

    /// torch-sys's `ato_set_momentum`.
    pub(crate) fn set_momentum(&mut self, m: f64) -> Outcome<()> {
        // SAFETY: see `ato`.
        self.ato(|o| unsafe { torch_sys::ato_set_momentum(o, m) })
    }

    /// torch-sys's `ato_set_momentum_group`.
    pub(crate) fn set_momentum_group(&mut self, group: usize, m: f64) -> Outcome<()> {
        // SAFETY: see `ato`.
        self.ato(|o| unsafe { torch_sys::ato_set_momentum_group(o, group, m) })
    }

    /// torch-sys's `ato_set_weight_decay`.
    pub(crate) fn set_weight_decay(&mut self, wd: f64) -> Outcome<()> {
        // SAFETY: see `ato`.
        self.ato(|o| unsafe { torch_sys::ato_set_weight_decay(o, wd) })
    }

    /// torch-sys's `ato_set_weight_decay_group`.
    pub(crate) fn set_weight_decay_group(&mut self, group: usize, wd: f64) -> Outcome<()> {
        // SAFETY: see `ato`.
        self.ato(|o| unsafe { torch_sys::ato_set_weight_decay_group(o, group, wd) })
    }

    /// Writes every group's LR, and momentum (beta1), beta2 (Adam and AdamW;
    /// a NaN leaves the group's) and weight decay where given, in one call
    /// into libtorch's group options (`src/optim/write.cpp`), the options'
    /// class known from `kind`, which must be [`kind`](Self::kind)'s. Every
    /// slice holds one value per group.
    pub(crate) fn write(
        &mut self,
        kind: OptimizerKind,
        lr: &[f64],
        momentum: Option<&[f64]>,
        beta2: Option<&[f64]>,
        weight_decay: Option<&[f64]>,
    ) -> Outcome<()> {
        let n = lr.len();
        if [momentum, beta2, weight_decay].iter().flatten().any(|v| v.len() != n) {
            return Err(format!("{n} LRs and another number of momenta, beta2s or weight decays"));
        }
        let ptr = |v: Option<&[f64]>| v.map_or(std::ptr::null(), <[f64]>::as_ptr);
        let (m, b2, wd) = (ptr(momentum), ptr(beta2), ptr(weight_decay));
        // SAFETY: `raw` is live (struct invariant); `lr` holds n doubles, `m`,
        // `b2` and `wd` n each or are null (checked above); all are only
        // read, for the call; `e` is valid for a write.
        call(|e| unsafe { tch_lr_optimizer_write(self.raw.as_ptr(), kind, n, lr.as_ptr(), m, b2, wd, e) })
    }

    /// The state, in libtorch's archive format with tch-lr's header
    /// (`tch_lr_optimizer_save`).
    pub(crate) fn save(&self) -> Outcome<Vec<u8>> {
        let mut data: *mut c_char = std::ptr::null_mut();
        let mut len = 0usize;
        // SAFETY: `raw` is live (struct invariant); `data`, `len` and `e` are
        // valid for writes.
        call(|e| unsafe { tch_lr_optimizer_save(self.raw.as_ptr(), &mut data, &mut len, e) })?;
        let data = NonNull::new(data).ok_or("no state was written")?;
        // SAFETY: on success the shim set `data` to a malloc'd buffer of `len`
        // bytes, which is copied here, then freed once.
        let bytes = unsafe { std::slice::from_raw_parts(data.as_ptr().cast::<u8>(), len) }.to_vec();
        // SAFETY: as above; not used after this.
        unsafe { tch_lr_free(data.as_ptr().cast()) };
        Ok(bytes)
    }

    /// Loads a state from [`save`](Self::save) (`tch_lr_optimizer_load`); on
    /// error the optimizer is unchanged.
    pub(crate) fn load(&mut self, bytes: &[u8]) -> Outcome<()> {
        // SAFETY: `raw` is live (struct invariant); the shim only reads
        // `bytes.len()` bytes at `bytes`, borrowed for the call.
        call(|e| unsafe { tch_lr_optimizer_load(self.raw.as_ptr(), bytes.as_ptr().cast(), bytes.len(), e) })
    }

    /// How many parameters the optimizer has, in all groups.
    pub(crate) fn param_count(&self) -> Outcome<usize> {
        let mut n = 0usize;
        // SAFETY: `raw` is live (struct invariant); `n` and `e` are valid for
        // writes.
        call(|e| unsafe { tch_lr_optimizer_param_count(self.raw.as_ptr(), &mut n, e) })?;
        Ok(n)
    }

    /// Parameter `index`'s state tensors (copies) by PyTorch's names; empty
    /// when it has none.
    pub(crate) fn state_of(&self, index: usize) -> Outcome<Vec<(String, Tensor)>> {
        self.state_within(index, MAX_STATE)
    }

    /// [`state_of`](Self::state_of), telling C++ that there is room for
    /// `capacity` tensors (at most [`MAX_STATE`]): a parameter with more is
    /// an error.
    fn state_within(&self, index: usize, capacity: usize) -> Outcome<Vec<(String, Tensor)>> {
        let capacity = capacity.min(MAX_STATE);
        let mut names: [*const c_char; MAX_STATE] = [std::ptr::null(); MAX_STATE];
        let mut tensors: [*mut C_tensor; MAX_STATE] = [std::ptr::null_mut(); MAX_STATE];
        let mut count = 0usize;
        // SAFETY: `raw` is live (struct invariant); `names` and `tensors` have
        // MAX_STATE >= capacity slots each (the shim writes at most
        // `capacity`); `count` and `e` are valid for writes.
        call(|e| unsafe {
            tch_lr_optimizer_state_get(
                self.raw.as_ptr(),
                index,
                names.as_mut_ptr(),
                tensors.as_mut_ptr(),
                capacity,
                &mut count,
                e,
            )
        })?;
        let count = count.min(capacity);
        Ok(names[..count]
            .iter()
            .zip(&tensors[..count])
            .map(|(&name, &t)| {
                // SAFETY: on success, names[k] for k < count is a static
                // NUL-terminated string (PyTorch's name: not freed)...
                let name = unsafe { CStr::from_ptr(name) }.to_string_lossy().into_owned();
                // SAFETY: ...and tensors[k] a new tensor the caller owns,
                // taken once here.
                (name, unsafe { Tensor::from_ptr(t) })
            })
            .collect())
    }

    /// Replaces every parameter's state with `state`
    /// (`tch_lr_optimizer_state_set`); checked whole by C++ first: on error
    /// nothing changed.
    pub(crate) fn set_state(&mut self, state: &[(usize, Vec<(String, Tensor)>)]) -> Outcome<()> {
        let indices: Vec<usize> = state.iter().map(|(i, _)| *i).collect();
        let counts: Vec<usize> = state.iter().map(|(_, e)| e.len()).collect();
        let names = state
            .iter()
            .flat_map(|(index, entries)| entries.iter().map(move |(name, _)| (index, name)))
            .map(|(index, name)| {
                std::ffi::CString::new(name.as_str())
                    .map_err(|_| format!("the state name {name:?} of parameter {index} holds a NUL byte"))
            })
            .collect::<Outcome<Vec<_>>>()?;
        let name_ptrs: Vec<*const c_char> = names.iter().map(|n| n.as_ptr()).collect();
        let tensors: Vec<*mut C_tensor> =
            state.iter().flat_map(|(_, e)| e.iter().map(|(_, t)| t.as_ptr().cast_mut())).collect();
        // SAFETY: `raw` is live (struct invariant); `indices` and `counts`
        // hold `state.len()` entries, `name_ptrs` and `tensors` the
        // `tensors.len()` given (the shim checks the counts against it), all
        // borrowed for the call and only read (the tensors are copied).
        call(|e| unsafe {
            tch_lr_optimizer_state_set(
                self.raw.as_ptr(),
                state.len(),
                indices.as_ptr(),
                counts.as_ptr(),
                tensors.len(),
                name_ptrs.as_ptr(),
                tensors.as_ptr(),
                e,
            )
        })
    }
}

impl Drop for Optimizer {
    fn drop(&mut self) {
        // SAFETY: `raw` came from a constructor above and is freed only here,
        // once (struct invariant); the variables it references are
        // reference-counted by libtorch.
        unsafe { torch_sys::ato_free(self.raw.as_ptr()) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Rust's `OptimizerKind` and C++'s `src/ffi/kind.hpp` number the kinds
    /// alike: each variant's value names it on the C++ side, and no other
    /// value names a kind there.
    #[test]
    fn both_sides_number_the_optimizer_kinds_alike() {
        for (kind, name) in OptimizerKind::ALL.into_iter().zip(OptimizerKind::NAMES) {
            assert_eq!(kind_name(kind as i32), Some(name), "{kind:?}");
        }
        let n = OptimizerKind::ALL.len() as i32;
        for value in [-1, n, n + 1, i32::MIN, i32::MAX] {
            assert_eq!(kind_name(value), None, "{value}");
        }
    }

    /// Each constructor's optimizer is of the kind asked for.
    #[test]
    fn each_optimizer_is_of_its_kind() {
        let built = [
            (Optimizer::sgd(0.1, 0.9, 0.0, 0.0, false), OptimizerKind::Sgd),
            (Optimizer::pytorch_adam(0.1, (0.9, 0.999), 0.0, 1e-8, false, false), OptimizerKind::Adam),
            (Optimizer::pytorch_adam(0.1, (0.9, 0.999), 0.0, 1e-8, false, true), OptimizerKind::AdamW),
            (Optimizer::pytorch_rms_prop(0.1, 0.99, 1e-8, 0.0, 0.0, false), OptimizerKind::RmsProp),
        ];
        for (opt, kind) in built {
            assert_eq!(opt.unwrap().kind().unwrap(), kind);
        }
    }

    /// A failure whose message C++ could not allocate is still a failure.
    #[test]
    fn a_failure_without_a_message_is_an_error() {
        // SAFETY: a null message.
        assert_eq!(unsafe { status(1, std::ptr::null_mut()) }, Err(NO_MESSAGE.to_string()));
        // SAFETY: as above.
        assert_eq!(unsafe { status(0, std::ptr::null_mut()) }, Ok(()));
    }

    /// A C++ exception's message crosses as one line of at most 300 bytes.
    #[test]
    fn an_exception_is_one_short_line() {
        let vs = tch::nn::VarStore::new(tch::Device::Cpu);
        let p = vs.root().zeros("p", &[2]);
        let mut opt = Optimizer::sgd(0.1, 0.9, 0.0, 0.0, false).unwrap();
        opt.add_parameters(&p, 0).unwrap();
        let long = format!("{}\nsecond line", "x".repeat(400));
        let e = opt.set_state(&[(0, vec![(long, Tensor::zeros([2], tch::kind::FLOAT_CPU))])]).unwrap_err();
        assert!(e.starts_with("unknown state `xxx") && e.ends_with("x...") && e.len() == 300, "{e}");
        let short = "é".repeat(10) + "\nsecond line";
        let e = opt.set_state(&[(0, vec![(short, Tensor::zeros([2], tch::kind::FLOAT_CPU))])]).unwrap_err();
        assert_eq!(e, format!("unknown state `{}", "é".repeat(10)));
        let e = opt.write(OptimizerKind::Sgd, &[0.1, 0.2], None, None, None).unwrap_err();
        assert_eq!(e, "2 group values for an optimizer of 1 groups");
    }

    /// C++ writes no more state tensors than the capacity it is told.
    #[test]
    fn the_state_tensors_respect_the_capacity() {
        let vs = tch::nn::VarStore::new(tch::Device::Cpu);
        let p = vs.root().ones("p", &[2]);
        let mut opt = Optimizer::pytorch_adam(0.1, (0.9, 0.999), 0.0, 1e-8, false, false).unwrap();
        opt.add_parameters(&p, 0).unwrap();
        p.sum(tch::Kind::Float).backward();
        opt.step().unwrap();
        let names = |s: Vec<(String, Tensor)>| s.into_iter().map(|(n, _)| n).collect::<Vec<_>>();
        assert_eq!(names(opt.state_within(0, 3).unwrap()), ["step", "exp_avg", "exp_avg_sq"]);
        let e = opt.state_within(0, 2).unwrap_err();
        assert_eq!(e, "parameter 0 has 3 state tensors, more than the 2 asked for");
        assert!(opt.state_of(1).unwrap_err().starts_with("no parameter 1"));
    }
}
