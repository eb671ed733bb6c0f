//! Weight averaging as PyTorch's `torch.optim.swa_utils` does it:
//! [`AveragedModel`] (SWA's equal mean or an EMA of a model's weights) and
//! [`update_bn`] (BatchNorm statistics recomputed for the averaged weights).
//!
//! PyTorch's `AveragedModel(model)` deep-copies the module. tch cannot copy a
//! module, so the averaged weights live in a second `VarStore` on which the
//! same module is built a second time (same paths, so same variable names):
//! [`AveragedModel::new`] takes that store, [`AveragedModel::update_parameters`]
//! takes the trained model's store, and the module built on the second store
//! runs the averaged weights. The store's device is PyTorch's `device=`
//! argument: the model's values are copied there at each update.
//!
//! ```
//! use tch::{nn, nn::ModuleT, Device, Kind, Tensor};
//! use tch_lr::swa_utils::{self, AveragedModel};
//!
//! fn net(p: &nn::Path) -> nn::SequentialT {
//!     nn::seq_t()
//!         .add(nn::linear(p / "0", 4, 8, Default::default()))
//!         .add(nn::batch_norm1d(p / "1", 8, Default::default()))
//!         .add_fn(|x| x.relu())
//!         .add(nn::linear(p / "3", 8, 3, Default::default()))
//! }
//! let vs = nn::VarStore::new(Device::Cpu);
//! let model = net(&vs.root());
//! // swa_model = AveragedModel(model): the same module, built on a second store.
//! let swa_vs = nn::VarStore::new(Device::Cpu);
//! let swa_net = net(&swa_vs.root());
//! let mut swa_model = AveragedModel::new(swa_vs);
//! // ema_model = AveragedModel(model, multi_avg_fn=get_ema_multi_avg_fn(0.999), use_buffers=True)
//! let ema_vs = nn::VarStore::new(Device::Cpu);
//! let _ema_net = net(&ema_vs.root());
//! let mut ema_model = AveragedModel::new(ema_vs).ema(0.999)?.use_buffers(true);
//! for _epoch in 0..3 {
//!     let x = Tensor::randn([16, 4], (Kind::Float, Device::Cpu));
//!     let _ = model.forward_t(&x, true); // ... a training epoch of `model` ...
//!     swa_model.update_parameters(&vs)?; // swa_model.update_parameters(model)
//!     ema_model.update_parameters(&vs)?;
//! }
//! assert_eq!(swa_model.n_averaged(), 3);
//! // torch.optim.swa_utils.update_bn(loader, swa_model)
//! let loader = (0..4).map(|_| Tensor::randn([16, 4], (Kind::Float, Device::Cpu)));
//! swa_utils::update_bn(swa_model.var_store(), 0.1, loader, |x| swa_net.forward_t(x, true))?;
//! let _y = swa_net.forward_t(&Tensor::randn([2, 4], (Kind::Float, Device::Cpu)), false);
//! # Ok::<(), tch_lr::Error>(())
//! ```
//!
//! # What matches PyTorch
//! - Parameters are the store's trainable variables (created with `var`,
//!   `zeros`, `randn`, ...: PyTorch's `parameters()`), buffers the others
//!   (`zeros_no_train`, `ones_no_train`: BatchNorm's `running_mean` and
//!   `running_var`). tch's BatchNorm keeps no `num_batches_tracked`.
//! - The first update copies the model; later ones average the parameters
//!   (and, with [`use_buffers`][AveragedModel::use_buffers], the buffers);
//!   without `use_buffers` the buffers are copied from the model at every
//!   update. `n_averaged` counts the updates.
//! - The arithmetic is the one PyTorch 2.13 runs, op for op, so that the
//!   averages are bit for bit PyTorch's (tests/schedules/swa.rs: every variable after
//!   every update, on the CPU):
//!   - the equal mean off CUDA (PyTorch has no foreach kernels there and calls
//!     `get_swa_avg_fn`): `p_avg + (p - p_avg) / (n_averaged + 1)`, with
//!     `n_averaged + 1` a 0-d int64 tensor, copied into `p_avg`; on CUDA
//!     (`get_swa_multi_avg_fn`, `_foreach_lerp_`): `p_avg.lerp_(p, w)` with
//!     `w` the float32 `1 / (n_averaged + 1)`, for floating and complex
//!     tensors (PyTorch raises for integer ones there: so does this);
//!   - the EMA (`get_ema_multi_avg_fn(decay)`): `p_avg.lerp_(p, 1 - decay)`
//!     for floating and complex tensors, `p_avg * decay + p * (1 - decay)`
//!     copied into `p_avg` for integer ones.
//! - Variables are matched by name, not by position as PyTorch zips them.
//!
//! # Checks
//! Every update checks, before anything is written, that the model has the
//! averaged store's variables (names, shapes, dtypes, trainable or not) and
//! that every floating value of the model is finite: a NaN or an infinity
//! would enter the average for good (the equal mean never forgets), so it is
//! refused in one line and the average is left as it was. (The average of
//! finite values can still overflow: values near `f32::MAX` are not checked.)
//!
//! # Checkpoints
//! [`AveragedModel::save`] writes PyTorch's `AveragedModel.state_dict()` as a
//! `torch.save` file: `n_averaged` (a 0-d int64 tensor) and every variable
//! under `module.<name>`. PyTorch's `swa_model.load_state_dict(torch.load(f))`
//! reads it (BatchNorm adds the missing `num_batches_tracked`), and
//! [`AveragedModel::load`] reads PyTorch's file (skipping
//! `num_batches_tracked`). The averaging rule is not saved (PyTorch saves
//! neither `avg_fn` nor `multi_avg_fn`): load into a model built the same way.
//!
//! [`AveragedModel`]: crate::swa_utils::AveragedModel
//! [`update_bn`]: crate::swa_utils::update_bn
//! [`AveragedModel::new`]: crate::swa_utils::AveragedModel::new
//! [`AveragedModel::update_parameters`]: crate::swa_utils::AveragedModel::update_parameters
//! [`AveragedModel::save`]: crate::swa_utils::AveragedModel::save
//! [`AveragedModel::load`]: crate::swa_utils::AveragedModel::load
//! [AveragedModel::use_buffers]: crate::swa_utils::AveragedModel::use_buffers

use std::borrow::Borrow;
use std::collections::{BTreeMap, HashSet};
use std::fmt;
use std::path::Path;

use tch::nn::VarStore;
use tch::{Device, Kind, Tensor};

use crate::error::{readable, Error, Result};
use crate::interop::{model, torch_file, DType, TensorRecord, Value};
use crate::schedulers::py_float;

fn bad(message: String) -> Error {
    Error::ModelState(readable(&message))
}

/// How [`AveragedModel`] averages.
#[derive(Debug, Clone, Copy, PartialEq)]
#[non_exhaustive]
pub enum Average {
    /// The equal mean of every model seen, PyTorch's default
    /// (`get_swa_avg_fn` / `get_swa_multi_avg_fn`).
    Swa,
    /// The exponential moving average `decay * p_avg + (1 - decay) * p`
    /// (`get_ema_multi_avg_fn(decay)`).
    Ema {
        /// The weight of the average so far, in [0, 1].
        decay: f64,
    },
}

/// A running average of a model's weights, PyTorch's
/// `torch.optim.swa_utils.AveragedModel`, held in its own `VarStore` (see the
/// [module docs](self) for the mapping and an example).
///
/// Built with SWA's equal mean and `use_buffers=False`, as PyTorch's default;
/// [`ema`](Self::ema) and [`use_buffers`](Self::use_buffers) change them.
pub struct AveragedModel {
    vs: VarStore,
    average: Average,
    use_buffers: bool,
    n_averaged: i64,
}

impl fmt::Debug for AveragedModel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AveragedModel")
            .field("average", &self.average)
            .field("use_buffers", &self.use_buffers)
            .field("n_averaged", &self.n_averaged)
            .field("device", &self.vs.device())
            .field("variables", &self.vs.len())
            .finish()
    }
}

/// One variable of the averaged store and the model's variable of that name.
struct Pair {
    avg: Tensor,
    model: Tensor,
    name: String,
    param: bool,
}

fn is_float(t: &Tensor) -> Result<bool> {
    Ok(t.f_is_floating_point()? || t.f_is_complex()?)
}

/// The names of the trainable variables of `vs` (PyTorch's parameters): those
/// in its trainable list, whether frozen or not.
fn trainable_names(vs: &VarStore) -> HashSet<String> {
    let vars = vs.variables_.lock().unwrap_or_else(|e| e.into_inner());
    let ptrs: HashSet<usize> = vars
        .trainable_variables
        .iter()
        .filter(|v| v.tensor.numel() > 0)
        .map(|v| v.tensor.data_ptr() as usize)
        .collect();
    vars.named_variables
        .iter()
        .filter(|(_, t)| if t.numel() > 0 { ptrs.contains(&(t.data_ptr() as usize)) } else { t.requires_grad() })
        .map(|(n, _)| n.clone())
        .collect()
}

impl AveragedModel {
    /// An average held in `vs`, on which the model's module has been built a
    /// second time (same names): PyTorch's `AveragedModel(model, device=...)`
    /// with the equal mean and `use_buffers=False`. `vs`'s values are
    /// overwritten by the first update.
    pub fn new(vs: VarStore) -> Self {
        AveragedModel { vs, average: Average::Swa, use_buffers: false, n_averaged: 0 }
    }

    /// Averages by an exponential moving average with weight `decay` on the
    /// average so far: `multi_avg_fn=get_ema_multi_avg_fn(decay)` (PyTorch's
    /// default decay is 0.999).
    ///
    /// # Errors
    /// [`Error::Value`] for a `decay` outside [0, 1] (or NaN), with PyTorch's
    /// message.
    pub fn ema(mut self, decay: f64) -> Result<Self> {
        if !(0.0..=1.0).contains(&decay) {
            return Err(Error::value(format!(
                "Invalid decay value {} provided. Please provide a value in [0,1] range.",
                py_float(decay)
            )));
        }
        self.average = Average::Ema { decay };
        Ok(self)
    }

    /// Averages the buffers too (PyTorch's `use_buffers=True`: then
    /// [`update_bn`] is not needed); with `false` (the default) the buffers
    /// are copied from the model at every update.
    pub fn use_buffers(mut self, use_buffers: bool) -> Self {
        self.use_buffers = use_buffers;
        self
    }

    /// How the average is kept.
    pub fn average(&self) -> Average {
        self.average
    }

    /// Whether the buffers are averaged (`use_buffers`).
    pub fn uses_buffers(&self) -> bool {
        self.use_buffers
    }

    /// The number of updates so far (PyTorch's `n_averaged`).
    pub fn n_averaged(&self) -> i64 {
        self.n_averaged
    }

    /// The store holding the averaged weights.
    pub fn var_store(&self) -> &VarStore {
        &self.vs
    }

    /// The store holding the averaged weights, mutably (to load or move it).
    pub fn var_store_mut(&mut self) -> &mut VarStore {
        &mut self.vs
    }

    /// The store holding the averaged weights, taken out.
    pub fn into_var_store(self) -> VarStore {
        self.vs
    }

    /// Checks that `model` has the averaged store's variables and pairs them.
    fn pairs(&self, model: &VarStore) -> Result<Vec<Pair>> {
        let avg: BTreeMap<String, Tensor> = self.vs.variables().into_iter().collect();
        let mdl = model.variables();
        let missing: Vec<&String> = avg.keys().filter(|n| !mdl.contains_key(*n)).collect();
        let mut unexpected: Vec<&String> = mdl.keys().filter(|n| !avg.contains_key(*n)).collect();
        unexpected.sort_unstable();
        if let Some(differ) =
            model::names_differ(("the model lacks", &missing), ("the averaged model lacks", &unexpected))
        {
            return Err(bad(format!("the model does not fit the averaged model: {differ}")));
        }
        let avg_params = trainable_names(&self.vs);
        let model_params = trainable_names(model);
        let mut pairs = Vec::with_capacity(avg.len());
        for (name, a) in avg {
            let m = mdl[&name].shallow_clone();
            let (ak, mk) = (a.f_kind()?, m.f_kind()?);
            if a.size() != m.size() || ak != mk {
                return Err(bad(format!(
                    "`{name}` is {mk:?}{:?} in the model, {ak:?}{:?} in the averaged model",
                    m.size(),
                    a.size()
                )));
            }
            let param = avg_params.contains(&name);
            if param != model_params.contains(&name) {
                let what = |p: bool| if p { "a parameter" } else { "a buffer" };
                return Err(bad(format!(
                    "`{name}` is {} in the model, {} in the averaged model",
                    what(!param),
                    what(param)
                )));
            }
            pairs.push(Pair { avg: a, model: m, name, param });
        }
        Ok(pairs)
    }

    /// Adds `model`'s current weights to the average: PyTorch's
    /// `swa_model.update_parameters(model)`. The first call copies them;
    /// later ones average (see the [module docs](self) for the arithmetic);
    /// buffers are copied, or averaged with `use_buffers`. `model`'s values
    /// are copied to the averaged store's device.
    ///
    /// # Errors
    /// Checked before anything is written, so that on error the average and
    /// `n_averaged` are unchanged:
    /// - [`Error::ModelState`] naming the variables the two stores do not
    ///   share, or one of another shape or dtype, or trainable in one and not
    ///   in the other, or a NaN or infinite value in the model;
    /// - [`Error::Unsupported`] for an integer variable averaged by the equal
    ///   mean on CUDA (PyTorch's `_foreach_addcdiv_` raises there).
    ///
    /// [`Error::Tch`] if libtorch fails while writing (out of memory).
    pub fn update_parameters(&mut self, model: &VarStore) -> Result<()> {
        let pairs = self.pairs(model)?;
        check_finite(&pairs)?;
        let averaged = |p: &Pair| p.param || self.use_buffers;
        if self.n_averaged > 0 && self.average == Average::Swa {
            for p in pairs.iter().filter(|p| averaged(p)) {
                if p.avg.device().is_cuda() && !is_float(&p.avg)? {
                    return Err(Error::Unsupported(format!(
                        "`{}` is {:?}: PyTorch's AveragedModel averages integer tensors on CUDA with \
                         `_foreach_addcdiv_`, which raises \"Integer division with addcdiv is no longer supported\"",
                        p.name,
                        p.avg.kind()
                    )));
                }
            }
        }
        let n = self.n_averaged;
        tch::no_grad(|| -> Result<()> {
            for p in &pairs {
                let mut dst = p.avg.shallow_clone();
                let src = p.model.f_to_device(dst.device())?;
                if n == 0 || !averaged(p) {
                    dst.f_copy_(&src)?;
                    continue;
                }
                match self.average {
                    Average::Swa if dst.device().is_cuda() => {
                        // get_swa_multi_avg_fn: _foreach_lerp_(avg, p, 1 / (n_averaged + 1)),
                        // the weight a float32 tensor read as a Scalar.
                        let w = 1.0f32 / (n + 1) as f32;
                        let _ = dst.f_lerp_(&src, f64::from(w))?;
                    }
                    Average::Swa => {
                        // get_swa_avg_fn: avg + (p - avg) / (n_averaged + 1), n_averaged an int64 tensor.
                        let n1 = Tensor::from(n + 1).f_to_device(dst.device())?;
                        let new = dst.f_add(&src.f_sub(&dst)?.f_div(&n1)?)?;
                        dst.f_copy_(&new)?;
                    }
                    Average::Ema { decay } => {
                        if is_float(&dst)? {
                            // _foreach_lerp_(ema, p, 1 - decay)
                            let _ = dst.f_lerp_(&src, 1.0 - decay)?;
                        } else {
                            // p_ema.copy_(p_ema * decay + p_model * (1 - decay))
                            let new = dst.f_mul_scalar(decay)?.f_add(&src.f_mul_scalar(1.0 - decay)?)?;
                            dst.f_copy_(&new)?;
                        }
                    }
                }
            }
            Ok(())
        })?;
        self.n_averaged += 1;
        Ok(())
    }

    /// PyTorch's `AveragedModel.state_dict()`: an `OrderedDict` of
    /// `n_averaged` (a 0-d int64 tensor) and every variable as
    /// `module.<name>` (copied to the CPU), without BatchNorm's
    /// `num_batches_tracked`, which tch does not keep.
    ///
    /// # Errors
    /// [`Error::TorchFile`] for a variable of a kind a `torch.save` file cannot
    /// hold; [`Error::Tch`] when libtorch fails to copy.
    pub fn state_dict(&self) -> Result<Value> {
        let n = TensorRecord::contiguous(DType::Int64, vec![], self.n_averaged.to_le_bytes().to_vec())?;
        let mut out = vec![(Value::Str("n_averaged".into()), Value::Tensor(n))];
        let module = model::state_dict(&self.vs)?;
        for (k, v) in module.items().unwrap_or_default() {
            let Value::Str(name) = k else { continue };
            out.push((Value::Str(format!("module.{name}")), v.clone()));
        }
        Ok(Value::OrderedDict { items: out, attrs: vec![] })
    }

    /// Loads what [`state_dict`](Self::state_dict) gives, or PyTorch's
    /// `AveragedModel.state_dict()` as [`torch_file::load`] reads it
    /// (`module.*.num_batches_tracked` entries are skipped): every variable
    /// and `n_averaged`. The averaging rule and `use_buffers` stay as built.
    ///
    /// # Errors
    /// [`Error::ModelState`] in one line for a missing or unexpected entry,
    /// another shape or dtype, or an `n_averaged` that is not a
    /// non-negative int64 scalar; everything is checked before anything is
    /// copied, so on error the model is unchanged.
    pub fn load_state_dict(&mut self, state_dict: &Value) -> Result<()> {
        let items = state_dict.items().ok_or_else(|| {
            bad(format!("an AveragedModel's state_dict is a dict of tensors, not a {}", state_dict.type_name()))
        })?;
        let variables = self.vs.variables();
        let mut n = None;
        let mut module = Vec::with_capacity(items.len());
        let mut unexpected = Vec::new();
        for (k, v) in items {
            let Value::Str(name) = k else {
                return Err(bad(format!("an AveragedModel's state_dict has a {} key, not a name", k.type_name())));
            };
            match name.strip_prefix("module.") {
                _ if name == "n_averaged" => n = Some(n_averaged(v)?),
                Some(var) => module.push((Value::Str(var.to_string()), v.clone())),
                None => unexpected.push(name.as_str()),
            }
        }
        let mut missing: Vec<String> = variables
            .keys()
            .filter(|n| !module.iter().any(|(k, _)| matches!(k, Value::Str(s) if s == *n)))
            .map(|n| format!("module.{n}"))
            .collect();
        if n.is_none() {
            missing.insert(0, "n_averaged".into());
        }
        missing[usize::from(n.is_none())..].sort_unstable();
        unexpected.extend(module.iter().filter_map(|(k, _)| match k {
            Value::Str(s) if !variables.contains_key(s) && s.rsplit('.').next() != Some("num_batches_tracked") => {
                Some(name_of(items, s))
            }
            _ => None,
        }));
        if let Some(differ) = model::names_differ(("missing", &missing), ("unexpected", &unexpected)) {
            return Err(bad(format!("the state_dict does not fit the averaged model: {differ}")));
        }
        let module = Value::OrderedDict { items: module, attrs: vec![] };
        model::load_state_dict(&mut self.vs, &module, &["num_batches_tracked"])?;
        self.n_averaged = n.unwrap_or_default();
        Ok(())
    }

    /// Writes [`state_dict`](Self::state_dict) to `path` as a `torch.save`
    /// file (`torch.load(f, weights_only=True)` reads it), atomically: a
    /// temporary file beside it, then a rename.
    ///
    /// # Errors
    /// As [`state_dict`](Self::state_dict); [`Error::Io`] when writing fails.
    pub fn save(&self, path: impl AsRef<Path>) -> Result<()> {
        let bytes = torch_file::write(&self.state_dict()?)?;
        crate::support::write_atomic(path.as_ref(), &bytes)
    }

    /// Loads a file written by [`save`](Self::save) or by PyTorch's
    /// `torch.save(swa_model.state_dict(), path)`, all or nothing: a resumed
    /// average continues bit for bit.
    ///
    /// # Errors
    /// [`Error::Io`] or [`Error::TorchFile`] for a file that cannot be read;
    /// [`Error::ModelState`] (naming the file) as
    /// [`load_state_dict`](Self::load_state_dict). On error the model is
    /// unchanged.
    pub fn load(&mut self, path: impl AsRef<Path>) -> Result<()> {
        let path = path.as_ref();
        let state = torch_file::load(path)?;
        self.load_state_dict(&state).map_err(|e| match e {
            Error::ModelState(m) => bad(format!("{}: {m}", path.display())),
            e => e,
        })
    }
}

/// The key under which `var` appears in `items` (`module.<var>`).
fn name_of<'a>(items: &'a [(Value, Value)], var: &str) -> &'a str {
    items
        .iter()
        .find_map(|(k, _)| match k {
            Value::Str(s) if s.strip_prefix("module.") == Some(var) => Some(s.as_str()),
            _ => None,
        })
        .unwrap_or("module.?")
}

fn n_averaged(v: &Value) -> Result<i64> {
    let Value::Tensor(t) = v else {
        return Err(bad(format!("`n_averaged` is a {}, not a tensor", v.type_name())));
    };
    if t.dtype() != DType::Int64 || t.numel() != 1 {
        return Err(bad(format!("`n_averaged` is {:?}{:?}, not an int64 scalar", t.dtype(), t.shape())));
    }
    let bytes: [u8; 8] = t.contiguous_bytes()?.try_into().map_err(|_| bad("`n_averaged` is cut".into()))?;
    let n = i64::from_le_bytes(bytes);
    if n < 0 {
        return Err(bad(format!("`n_averaged` is {n}, not a count")));
    }
    Ok(n)
}

/// Refuses a NaN or infinite value in the model's floating variables: one
/// device synchronisation when all are finite.
fn check_finite(pairs: &[Pair]) -> Result<()> {
    let mut flags = Vec::new();
    for p in pairs {
        if is_float(&p.model)? && p.model.numel() > 0 {
            flags.push(p.model.f_isfinite()?.f_all()?);
        }
    }
    if flags.is_empty() || bool::try_from(&Tensor::f_stack(&flags, 0)?.f_all()?)? {
        return Ok(());
    }
    for (p, flag) in pairs.iter().filter(|p| is_float(&p.model).unwrap_or(false) && p.model.numel() > 0).zip(&flags) {
        if !bool::try_from(flag)? {
            return Err(bad(format!(
                "`{}` of the model holds a NaN or infinite value: not averaged, the average is unchanged",
                p.name
            )));
        }
    }
    Ok(())
}

/// A BatchNorm layer of a store: its `running_mean` and `running_var`.
struct BatchNormStats {
    layer: String,
    mean: Tensor,
    var: Tensor,
}

/// The store's BatchNorm statistics: every `<layer>.running_mean` with a
/// `<layer>.running_var` beside it, by name.
fn batch_norm_stats(vs: &VarStore) -> Result<Vec<BatchNormStats>> {
    let vars: BTreeMap<String, Tensor> = vs.variables().into_iter().collect();
    let mut out = Vec::new();
    for (name, mean) in &vars {
        let Some(prefix) = name.strip_suffix("running_mean") else { continue };
        if !(prefix.is_empty() || prefix.ends_with('.')) {
            continue;
        }
        let Some(var) = vars.get(&format!("{prefix}running_var")) else { continue };
        let layer = if prefix.is_empty() { "<root>".to_string() } else { prefix.trim_end_matches('.').to_string() };
        let (mk, vk) = (mean.f_kind()?, var.f_kind()?);
        if mean.size() != var.size() || mean.dim() != 1 || mk != vk || !mean.f_is_floating_point()? {
            return Err(bad(format!(
                "update_bn: `{layer}` has running_mean {mk:?}{:?} and running_var {vk:?}{:?}: \
                 not a BatchNorm layer's statistics",
                mean.size(),
                var.size()
            )));
        }
        out.push(BatchNormStats { layer, mean: mean.shallow_clone(), var: var.shallow_clone() });
    }
    Ok(out)
}

/// Puts the statistics back as they were unless disarmed: on an error and
/// when `forward` panics.
struct Restore(Vec<(Tensor, Tensor)>);

impl Drop for Restore {
    fn drop(&mut self) {
        tch::no_grad(|| {
            for (dst, saved) in &mut self.0 {
                let _ = dst.f_copy_(saved);
            }
        });
    }
}

/// One BatchNorm layer's cumulative averages, as PyTorch's kernel keeps them
/// with `momentum=None` (float32 statistics in f32, others in f64).
struct Cumulative {
    f32: bool,
    mean: Vec<f64>,
    var: Vec<f64>,
}

fn host(t: &Tensor) -> Result<Vec<f64>> {
    Ok(Vec::<f64>::try_from(&t.f_to_device(Device::Cpu)?.f_to_kind(Kind::Double)?.f_contiguous()?)?)
}

impl Cumulative {
    /// Folds in batch `k` (from 1), given what a forward with `momentum` left
    /// in statistics zeroed before it.
    fn add(&mut self, k: u64, momentum: f64, mean: &[f64], var: &[f64]) {
        // F.batch_norm's exponential_average_factor: 1.0 / float(num_batches_tracked).
        let factor = 1.0 / k as f64;
        if self.f32 {
            // batch_norm_cpu_update_stats_template<float>: momentum_ = (float)momentum;
            // mean: momentum_ * mean + (1 - momentum_) * running_mean, in float;
            // var: momentum_ * unbiased_var (double) + (1 - momentum_) * running_var (float), rounded to float.
            let (m, f) = (momentum as f32, factor as f32);
            for (s, &o) in self.mean.iter_mut().zip(mean) {
                let x = o as f32 / m;
                *s = f64::from(f * x + (1.0 - f) * *s as f32);
            }
            for (s, &o) in self.var.iter_mut().zip(var) {
                let x = o / f64::from(m);
                *s = f64::from((f64::from(f) * x + f64::from((1.0 - f) * *s as f32)) as f32);
            }
        } else {
            for (s, &o) in self.mean.iter_mut().zip(mean) {
                *s = factor * (o / momentum) + (1.0 - factor) * *s;
            }
            for (s, &o) in self.var.iter_mut().zip(var) {
                *s = factor * (o / momentum) + (1.0 - factor) * *s;
            }
        }
    }
}

/// Recomputes the BatchNorm statistics of the model in `vs` over `batches`:
/// PyTorch's `torch.optim.swa_utils.update_bn(loader, model)`, for the
/// running averages of an [`AveragedModel`].
///
/// PyTorch resets each BatchNorm layer's `running_mean` / `running_var` to 0
/// / 1, sets its `momentum` to `None` (a cumulative average over the
/// batches, `1 / num_batches_tracked` as the factor) and runs every batch
/// in train mode without gradients. tch's BatchNorm keeps its momentum in a
/// private config, so this function reads each batch's statistics instead:
/// before each batch it sets every `running_mean` and `running_var` to 0,
/// calls `forward(batch)` (which must run the model in train mode:
/// `|x| net.forward_t(x, true)`), divides what the layer wrote
/// (`momentum * batch statistic`) by `momentum`, and folds it into the
/// cumulative average with PyTorch's kernel's arithmetic
/// (`f * x + (1 - f) * running`, `f = 1 / k`, in float32 for float32
/// statistics with the unbiased variance in f64, as PyTorch's CPU kernel).
/// The averages are written into the statistics after the last batch. All of
/// it runs under `tch::no_grad`.
///
/// - BatchNorm layers are found by name: every `<layer>.running_mean` with a
///   `<layer>.running_var` (tch's `batch_norm1d/2d/3d` name them so). A store
///   without any returns at once, without consuming `batches` (as PyTorch).
/// - `momentum` must be the layers' (tch's default, 0.1: all layers must
///   share it). Dividing by it recovers each batch statistic to within one
///   float32 rounding, so the result can differ from PyTorch's by an ulp
///   (tests/schedules/swa.rs, 4 batches: at most 1.4e-7 relative, 4 of 16 values one
///   ulp off). Built with momentum 1.0 the layers give the batch means
///   exactly and the variances rounded once to float32 (PyTorch folds them
///   in f64): the fixture's statistics are then PyTorch's bit for bit.
/// - Each layer must run exactly once per `forward` (a layer run twice, or
///   skipped, in one batch gives wrong statistics; PyTorch would count it
///   per call). Batches go to `forward` as they come: move them to the
///   model's device there (PyTorch's `device=` argument).
/// - With no batch the statistics are PyTorch's reset values (0 and 1).
///
/// # Errors
/// [`Error::Value`] for a `momentum` outside (0, 1]; if no layer's
/// statistics changed during the first batch (`forward` did not run the
/// model in train mode); or if a statistic comes out NaN or infinite (a
/// batch of one value per channel has no unbiased variance: PyTorch raises
/// "Expected more than 1 value per channel when training"), naming the
/// layer. [`Error::ModelState`] for a `running_mean` / `running_var` pair of
/// different shapes or dtypes. On error (and if `forward` panics) the
/// statistics are put back as they were.
pub fn update_bn<I, B, F, R>(vs: &VarStore, momentum: f64, batches: I, mut forward: F) -> Result<()>
where
    I: IntoIterator<Item = B>,
    B: Borrow<Tensor>,
    F: FnMut(&Tensor) -> R,
{
    if !(momentum > 0.0 && momentum <= 1.0) {
        return Err(Error::value(format!(
            "update_bn: momentum must be the BatchNorm layers' momentum, in (0, 1], got {}",
            py_float(momentum)
        )));
    }
    let layers = batch_norm_stats(vs)?;
    if layers.is_empty() {
        return Ok(());
    }
    tch::no_grad(|| -> Result<()> {
        let mut saved = Vec::with_capacity(2 * layers.len());
        for t in layers.iter().flat_map(|l| [&l.mean, &l.var]) {
            let mut copy = t.f_zeros_like()?;
            copy.f_copy_(t)?;
            saved.push((t.shallow_clone(), copy));
        }
        let mut restore = Restore(saved);
        let mut acc = Vec::with_capacity(layers.len());
        for l in &layers {
            let n = l.mean.numel();
            acc.push(Cumulative { f32: l.mean.f_kind()? == Kind::Float, mean: vec![0.0; n], var: vec![1.0; n] });
        }
        let mut k = 0u64;
        for batch in batches {
            k += 1;
            for l in &layers {
                let _ = l.mean.shallow_clone().f_zero_()?;
                let _ = l.var.shallow_clone().f_zero_()?;
            }
            let _ = forward(batch.borrow());
            let mut ran = false;
            for (l, a) in layers.iter().zip(&mut acc) {
                let (mean, var) = (host(&l.mean)?, host(&l.var)?);
                ran |= mean.iter().chain(&var).any(|&v| v != 0.0);
                a.add(k, momentum, &mean, &var);
            }
            if k == 1 && !ran {
                return Err(Error::value(
                    "update_bn: no BatchNorm statistic changed during the first batch: \
                     `forward` must run the model in train mode (`forward_t(x, true)`)",
                ));
            }
        }
        for (l, a) in layers.iter().zip(&acc) {
            if let Some(v) = a.mean.iter().chain(&a.var).find(|v| !v.is_finite()) {
                return Err(Error::value(format!(
                    "update_bn: `{}` got a non-finite statistic ({}): a batch with one value per channel has no \
                     unbiased variance (PyTorch raises \"Expected more than 1 value per channel when training\")",
                    l.layer,
                    py_float(*v)
                )));
            }
        }
        for (l, a) in layers.iter().zip(&acc) {
            let kind = l.mean.f_kind()?;
            l.mean.shallow_clone().f_copy_(&Tensor::from_slice(&a.mean).f_to_kind(kind)?)?;
            l.var.shallow_clone().f_copy_(&Tensor::from_slice(&a.var).f_to_kind(kind)?)?;
        }
        restore.0.clear(); // done: nothing to put back
        Ok(())
    })
}
