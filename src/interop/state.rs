//! PyTorch's scheduler and optimizer `state_dict()`s, to and from tch-lr's
//! [`SchedulerState`]: a run stopped in PyTorch continues in tch-lr, and the
//! other way round.
//!
//! The file both directions use is what PyTorch users write:
//! `torch.save({"optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict()}, f)`.
//! A PyTorch state dict does not name its class, so both functions take the
//! config the run was built from: [`from_pytorch`] checks that the file's
//! state has the keys of that class (and, where they say it, the same
//! arguments) and takes from it what the steps changed (`last_epoch`,
//! `_step_count`, `base_lrs`, `_last_lr`, ReduceLROnPlateau's counters,
//! CosineAnnealingWarmRestarts' `T_i`/`T_cur`, the nested `_schedulers` of
//! SequentialLR and ChainedScheduler) and each parameter group's values
//! (`lr`, `initial_lr`, `momentum` or `betas[0]`, `weight_decay`, `max_lr`,
//! `min_lr`, `base_momentum`, `max_momentum`, `swa_lr`); [`to_pytorch`] writes the same
//! keys back, with full parameter groups, for `load_state_dict` on the same
//! config.
//!
//! Covered: `StepLR`, `MultiStepLR`, `ConstantLR`, `LinearLR`,
//! `ExponentialLR`, `PolynomialLR`, `CosineAnnealingLR`, `LambdaLR`,
//! `MultiplicativeLR`, `OneCycleLR`, `CyclicLR`,
//! `CosineAnnealingWarmRestarts`, `SWALR`, `ReduceLROnPlateau`, `SequentialLR`,
//! `ChainedScheduler` (and so the `warmup:` block), `SWA` (PyTorch's SWA
//! loop: the file's `scheduler` and `swa_scheduler`, as a user saves the
//! loop's two schedulers beside one optimizer), the transformers
//! schedules (their `LambdaLR` state) and timm's `CosineLRScheduler`,
//! `TanhLRScheduler`, `StepLRScheduler`, `MultiStepLRScheduler`,
//! `PolyLRScheduler` and `WSDLRScheduler` (timm's own `state_dict()`, its
//! `__dict__` less the optimizer; timm keeps no step count, so the file
//! holds the last `step(t)`'s `t` beside it:
//! `{"optimizer": ..., "scheduler": ..., "t": t}`); SGD, Adam, AdamW and
//! RMSprop groups. A `weight_decay_scheduler:` (`momentum_scheduler:`)
//! section is PyTorch's shadow optimizer (its LRs: the weight decays or
//! momenta) and its scheduler, under the file's key `weight_decay_scheduler`
//! (`momentum_scheduler`): `{"optimizer": shadow.state_dict(), "scheduler":
//! ...}` (with `"t"` for timm's). A timm schedule inside a composite is
//! refused with [`Error::Unsupported`].
//! The optimizer's `state` (its tensors) is not read by [`from_pytorch`];
//! [`to_pytorch`] writes it for an owned optimizer
//! ([`Optim::owned`](crate::Optim::owned)), empty for tch's.
//! [`optimizer_state_from_pytorch`] and [`optimizer_state_to_pytorch`] read
//! and write it on their own.

use super::Value;
use crate::config::{Config, OptimizerConfig, SWAConfig, SchedulerConfig};
use crate::error::{Error, Result};
use crate::groups::{GroupKey, OptimizerKind, ParamGroups};
use crate::hyper::HyperParam;
use crate::scheduler::{Scheduler, SchedulerState};
use crate::schedulers::Schedule;
use serde_yaml::Value as Y;

/// The keys of PyTorch's `LRScheduler` base class.
const BASE: &[&str] =
    &["base_lrs", "last_epoch", "_step_count", "_is_initial", "_get_lr_called_within_step", "_last_lr"];

/// Keys older PyTorch versions wrote, accepted and ignored.
const LEGACY: &[&str] = &["verbose"];

/// How a class's state is laid out in tch-lr.
#[derive(Clone, Copy, PartialEq)]
enum Layout {
    /// `LRScheduler<P>`: arguments, `state:`, `base:`.
    Lr,
    /// `CosineAnnealingWarmRestarts`.
    Warm,
    /// `ReduceLROnPlateau`.
    Plateau,
    /// `SequentialLR`.
    Sequential,
    /// `ChainedScheduler`.
    Chained,
}

/// A class: its layout, its own keys in PyTorch's state dict, and those of
/// them every state of the class has.
struct Spec {
    layout: Layout,
    own: &'static [&'static str],
    required: &'static [&'static str],
}

const LAMBDA: Spec = Spec { layout: Layout::Lr, own: &["lr_lambdas"], required: &["lr_lambdas"] };

fn spec(name: &str) -> Result<Spec> {
    fn s(layout: Layout, own: &'static [&'static str], required: &'static [&'static str]) -> Result<Spec> {
        Ok(Spec { layout, own, required })
    }
    use Layout::*;
    match name {
        "StepLR" => s(Lr, &["step_size", "gamma"], &["step_size", "gamma"]),
        "MultiStepLR" => s(Lr, &["milestones", "gamma"], &["milestones", "gamma"]),
        "ConstantLR" => s(Lr, &["factor", "total_iters"], &["factor", "total_iters"]),
        "LinearLR" => {
            s(Lr, &["start_factor", "end_factor", "total_iters"], &["start_factor", "end_factor", "total_iters"])
        }
        "ExponentialLR" => s(Lr, &["gamma"], &["gamma"]),
        "PolynomialLR" => s(Lr, &["total_iters", "power"], &["total_iters", "power"]),
        "CosineAnnealingLR" => s(Lr, &["T_max", "eta_min"], &["T_max", "eta_min"]),
        "LambdaLR" | "MultiplicativeLR" => Ok(LAMBDA),
        n if n.starts_with("transformers.") => Ok(LAMBDA),
        "OneCycleLR" => s(
            Lr,
            &["total_steps", "_schedule_phases", "_anneal_func_type", "cycle_momentum", "use_beta1"],
            &["total_steps", "cycle_momentum"],
        ),
        "CyclicLR" => s(
            Lr,
            &[
                "max_lrs",
                "total_size",
                "step_ratio",
                "mode",
                "gamma",
                "scale_mode",
                "cycle_momentum",
                "use_beta1",
                "base_momentums",
                "max_momentums",
                "_scale_fn_custom",
            ],
            &["max_lrs", "total_size", "step_ratio", "gamma", "cycle_momentum"],
        ),
        "SWALR" => s(Lr, &["anneal_epochs", "_anneal_strategy"], &["anneal_epochs", "_anneal_strategy"]),
        "CosineAnnealingWarmRestarts" => {
            s(Warm, &["T_0", "T_i", "T_mult", "eta_min", "T_cur"], &["T_0", "T_i", "T_mult", "eta_min", "T_cur"])
        }
        "ReduceLROnPlateau" => s(
            Plateau,
            &[
                "factor",
                "default_min_lr",
                "min_lrs",
                "patience",
                "cooldown",
                "eps",
                "mode_worse",
                "mode",
                "threshold",
                "threshold_mode",
                "best",
                "cooldown_counter",
                "num_bad_epochs",
                "last_epoch",
                "_last_lr",
            ],
            &[
                "factor",
                "min_lrs",
                "patience",
                "cooldown",
                "threshold",
                "best",
                "cooldown_counter",
                "num_bad_epochs",
                "last_epoch",
                "_last_lr",
            ],
        ),
        "SequentialLR" => s(
            Sequential,
            &["_milestones", "last_epoch", "_last_lr", "_schedulers"],
            &["_milestones", "last_epoch", "_last_lr", "_schedulers"],
        ),
        "ChainedScheduler" => s(Chained, &["_last_lr", "_schedulers"], &["_last_lr", "_schedulers"]),
        timm if timm.starts_with("timm.") => Err(Error::Unsupported(format!(
            "{timm} has a PyTorch state as the config's scheduler only, not inside a composite (not yet)"
        ))),
        other => Err(Error::Unsupported(format!("no PyTorch state for {other}: it cannot be read or written yet"))),
    }
}

/// The keys that the steps change, taken from the file (not compared with the config).
fn dynamic(layout: Layout) -> &'static [&'static str] {
    match layout {
        Layout::Lr => &["base_lrs", "last_epoch", "_step_count", "_last_lr"],
        Layout::Warm => &["base_lrs", "last_epoch", "_step_count", "_last_lr", "T_i", "T_cur"],
        Layout::Plateau => &["min_lrs", "best", "cooldown_counter", "num_bad_epochs", "last_epoch", "_last_lr"],
        Layout::Sequential => &["last_epoch", "_last_lr", "_schedulers"],
        Layout::Chained => &["_last_lr", "_schedulers"],
    }
}

fn keys(spec: &Spec) -> Vec<&'static str> {
    let mut k: Vec<&str> = spec.own.to_vec();
    if matches!(spec.layout, Layout::Lr | Layout::Warm) {
        k.extend(BASE);
    }
    k
}

/// The tch-lr [`SchedulerState`] that continues exactly where the PyTorch run
/// saved in `file` stopped: `file` is the `Value` of
/// `{"optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict()}`
/// (read with [`torch_file::load`](crate::interop::torch_file::load)),
/// `config` the config both runs are built from and `sched` the scheduler
/// built from it; load the result with [`Scheduler::load_state`].
///
/// # Errors
/// One line each: [`Error::Unsupported`] for a class not covered (see the
/// module), [`Error::State`] for a scheduler state of another class, another
/// number of groups or other arguments, [`Error::OptimizerState`] for
/// another optimizer class or number of groups, or `maximize`,
/// `capturable`, `differentiable`, `fused` set.
pub fn from_pytorch<S: Schedule>(config: &Config, sched: &Scheduler<S>, file: &Value) -> Result<SchedulerState> {
    no_nested_timm(config)?;
    let mut state = sched.state()?;
    read_part(&config.scheduler, &mut state.groups, &mut state.schedule, file, "the file")?;
    for key in ["weight_decay_scheduler", "momentum_scheduler"] {
        if file.get(key).is_some() && !config.hyper_sections().any(|(_, k, _)| k == key) {
            return Err(Error::State(format!("the file has a `{key}`, the config has no `{key}:` section")));
        }
    }
    for (target, key, c) in config.hyper_sections() {
        let what = format!("the file's `{key}`");
        let part = field(file, key, "the file")?;
        let Some(h) = state.hypers.iter_mut().find(|h| h.target == target) else {
            return Err(Error::State(format!("tch-lr's state has no `{key}`")));
        };
        read_part(c, &mut h.groups, &mut h.schedule, part, &what)?;
        // The shadow groups' LRs are the values the schedule drives.
        for (g, s) in state.groups.iter_mut().zip(h.groups.iter()) {
            match target {
                HyperParam::WeightDecay => g.weight_decay = s.lr,
                HyperParam::Momentum => g.momentum = s.lr,
                HyperParam::Lr => {}
            }
        }
    }
    Ok(state)
}

/// One `{"optimizer", "scheduler"[, "t"]}` of a file (`what`) into tch-lr's
/// groups and schedule state.
fn read_part(config: &SchedulerConfig, groups: &mut ParamGroups, y: &mut Y, part: &Value, what: &str) -> Result<()> {
    let n = groups.len();
    let opt = field(part, "optimizer", what)?;
    let sch = field(part, "scheduler", what)?;
    read_groups(groups, opt)?;
    if let SchedulerConfig::SWA(c) = config {
        let lrs: Vec<f64> = groups.iter().map(|g| g.lr).collect();
        return read_swa(c, y, sch, field(part, "swa_scheduler", what)?, &lrs);
    }
    if is_timm(config) {
        let lrs: Vec<f64> = groups.iter().map(|g| g.lr).collect();
        read_timm(config.name(), y, sch, part.get("t"), &lrs)
    } else {
        read_schedule(config, y, sch, n)
    }
}

/// The `{"optimizer": ..., "scheduler": ...}` value that PyTorch's
/// `optimizer.load_state_dict(v["optimizer"])` and
/// `scheduler.load_state_dict(v["scheduler"])`, on the optimizer and scheduler
/// built from `config`, continue from exactly where `sched` is. Write it with
/// [`torch_file::save`](crate::interop::torch_file::save): it loads with
/// `torch.load(f, weights_only=True)`. The optimizer's `params` are numbered
/// as PyTorch numbers them (0.. through the groups in order) from the owned
/// optimizer's groups, one parameter per group for tch's (as `tch-lr trace`
/// builds it). For an owned
/// optimizer ([`Optim::owned`](crate::Optim::owned)) the optimizer's `state`
/// holds its per-parameter tensors ([`optimizer_state_to_pytorch`]); to read
/// them back, pass the file's `optimizer`'s `state` to
/// [`optimizer_state_from_pytorch`] with the scheduler's
/// [`optimizer_mut`](Scheduler::optimizer_mut).
///
/// # Errors
/// [`Error::Unsupported`] for a class not covered (see the module).
pub fn to_pytorch<S: Schedule>(config: &Config, sched: &Scheduler<S>) -> Result<Value> {
    no_nested_timm(config)?;
    let state = sched.state()?;
    let optimizer = crate::trace::optimizer_or_default(config);
    let sizes = sched.optimizer().params_per_group();
    let mut out = write_part(&config.scheduler, &state.groups, &state.schedule, &optimizer, sizes.as_deref())?;
    if sched.optimizer().saves_state() {
        // The owned optimizer's per-parameter state (tch's has none to give).
        let tensors = optimizer_state_to_pytorch(sched.optimizer())?;
        if let Some((_, Value::Dict(opt))) = out.iter_mut().find(|(k, _)| *k == "optimizer") {
            if let Some((_, s)) = opt.iter_mut().find(|(k, _)| matches!(k, Value::Str(k) if k == "state")) {
                *s = tensors;
            }
        }
    }
    for (target, key, c) in config.hyper_sections() {
        let Some(h) = state.hypers.iter().find(|h| h.target == target) else {
            return Err(Error::State(format!("tch-lr's state has no `{key}`")));
        };
        out.push((key, dict(write_part(c, &h.groups, &h.schedule, &optimizer, None)?)));
    }
    Ok(dict(out))
}

/// tch-lr's groups and schedule state as `{"optimizer", "scheduler"[, "t"]}`;
/// `sizes`: the parameters per group (one each when unknown).
fn write_part(
    config: &SchedulerConfig,
    groups: &ParamGroups,
    y: &Y,
    o: &OptimizerConfig,
    sizes: Option<&[usize]>,
) -> Result<Vec<(&'static str, Value)>> {
    let pg = Value::List(write_groups(groups, o, sizes));
    let optimizer = dict(vec![("state", Value::Dict(vec![])), ("param_groups", pg)]);
    if let SchedulerConfig::SWA(c) = config {
        let [main, swa] = swa_children(c)?;
        let child = |key: &str| y.get(key).ok_or_else(|| Error::State(format!("tch-lr's SWA state has no `{key}`")));
        return Ok(vec![
            ("optimizer", optimizer),
            ("scheduler", write_schedule(main, child("scheduler")?, groups.len())?),
            ("swa_scheduler", write_schedule(swa, child("swa_scheduler")?, groups.len())?),
        ]);
    }
    if is_timm(config) {
        let (scheduler, t) = write_timm(config.name(), y)?;
        return Ok(vec![("optimizer", optimizer), ("scheduler", scheduler), ("t", t)]);
    }
    Ok(vec![("optimizer", optimizer), ("scheduler", write_schedule(config, y, groups.len())?)])
}

/// A timm schedule's state is read and written as a section's scheduler
/// only, not inside a composite.
fn no_nested_timm(config: &Config) -> Result<()> {
    std::iter::once(&config.scheduler).chain(config.hyper_sections().map(|(_, _, c)| c)).try_for_each(nested_timm)
}

fn nested_timm(config: &SchedulerConfig) -> Result<()> {
    for c in config.children() {
        if is_timm(c) {
            return Err(Error::Unsupported(format!(
                "{} has a PyTorch state as the config's scheduler only, not inside {} (not yet)",
                c.name(),
                config.name()
            )));
        }
        nested_timm(c)?;
    }
    Ok(())
}

fn dict(items: Vec<(&str, Value)>) -> Value {
    Value::Dict(items.into_iter().map(|(k, v)| (Value::Str(k.into()), v)).collect())
}

fn field<'a>(v: &'a Value, key: &str, what: &str) -> Result<&'a Value> {
    if v.items().is_none() {
        return Err(Error::State(format!("{what} is a {}, not a dict", v.type_name())));
    }
    v.get(key).ok_or_else(|| Error::State(format!("{what} has no `{key}`")))
}

fn num(v: &Value) -> Option<f64> {
    match v {
        Value::Int(i) => Some(*i as f64),
        Value::Float(f) => Some(*f),
        Value::Bool(b) => Some(f64::from(u8::from(*b))),
        _ => None,
    }
}

fn num_of(v: &Value, what: &str) -> Result<f64> {
    num(v).ok_or_else(|| Error::State(format!("{what} is a {}, not a number", v.type_name())))
}

fn int_of(v: &Value, what: &str) -> Result<i64> {
    match v {
        Value::Int(i) => Ok(*i),
        Value::Float(f) if f.fract() == 0.0 && f.abs() < 9.0e15 => Ok(*f as i64),
        _ => Err(Error::State(format!("{what} is a {}, not an int", v.type_name()))),
    }
}

fn list_of<'a>(v: &'a Value, what: &str) -> Result<&'a [Value]> {
    match v {
        Value::List(l) | Value::Tuple(l) => Ok(l),
        _ => Err(Error::State(format!("{what} is a {}, not a list", v.type_name()))),
    }
}

fn floats_of(v: &Value, n: usize, what: &str) -> Result<Vec<f64>> {
    let l = list_of(v, what)?;
    if l.len() != n {
        return Err(Error::State(format!("{what} has {} values, this optimizer has {n} parameter group(s)", l.len())));
    }
    l.iter().map(|x| num_of(x, what)).collect()
}

fn yf(v: f64) -> Y {
    Y::Number(v.into())
}

fn yfloats(v: &[f64]) -> Y {
    Y::Sequence(v.iter().map(|&x| yf(x)).collect())
}

/// `y[key]` of a mapping, for writing; the key must be there already.
fn slot<'a>(y: &'a mut Y, key: &str) -> Result<&'a mut Y> {
    y.get_mut(key).ok_or_else(|| Error::State(format!("tch-lr's state has no `{key}`")))
}

fn set(y: &mut Y, key: &str, v: Y) -> Result<()> {
    *slot(y, key)? = v;
    Ok(())
}

/// A tch-lr value as PyTorch's: numbers (int when the YAML has an int),
/// bools and lists of them; `None` for anything else.
fn to_value(y: &Y) -> Option<Value> {
    match y {
        Y::Bool(b) => Some(Value::Bool(*b)),
        Y::Number(n) => n.as_i64().map(Value::Int).or_else(|| n.as_f64().map(Value::Float)),
        Y::Sequence(s) => s.iter().map(to_value).collect::<Option<Vec<_>>>().map(Value::List),
        _ => None,
    }
}

fn yaml_num(y: &Y) -> Option<f64> {
    match y {
        Y::Bool(b) => Some(f64::from(u8::from(*b))),
        Y::Number(n) => n.as_f64(),
        _ => None,
    }
}

fn close(a: f64, b: f64) -> bool {
    a == b || (a - b).abs() <= 1e-12 * a.abs().max(b.abs()) || (a.is_nan() && b.is_nan())
}

/// Whether a file's value says the same as tch-lr's (numbers, bools, lists of them).
fn same(v: &Value, y: &Y) -> bool {
    match (v, y) {
        (Value::List(l) | Value::Tuple(l), Y::Sequence(s)) => {
            l.len() == s.len() && l.iter().zip(s).all(|(a, b)| same(a, b))
        }
        _ => match (num(v), yaml_num(y)) {
            (Some(a), Some(b)) => close(a, b),
            _ => true,
        },
    }
}

/// A class argument in tch-lr's state: the keyword argument or what the
/// constructor computed (`state:`), by PyTorch's attribute name.
fn arg<'a>(name: &str, y: &'a Y, key: &str) -> Option<&'a Y> {
    if name == "OneCycleLR" && key == "total_steps" {
        return y.get("state").and_then(|s| s.get("total"));
    }
    if name == "MultiStepLR" && key == "milestones" {
        return None; // a Counter: handled apart
    }
    y.get(key).or_else(|| y.get("state").and_then(|s| s.get(key))).filter(|v| to_value(v).is_some())
}

fn class_keys(name: &str, sd: &Value) -> Result<Spec> {
    let spec = spec(name)?;
    let Some(items) = sd.items() else {
        return Err(Error::State(format!("the {name} state is a {}, not a dict", sd.type_name())));
    };
    let known = keys(&spec);
    for (k, _) in items {
        let Value::Str(k) = k else {
            return Err(Error::State(format!("the {name} state has a key that is a {}", k.type_name())));
        };
        if !known.contains(&k.as_str()) && !LEGACY.contains(&k.as_str()) {
            return Err(Error::State(format!("not a {name} state: it has the key `{k}`")));
        }
    }
    for k in spec.required.iter().chain(dynamic(spec.layout)) {
        if sd.get(k).is_none() {
            return Err(Error::State(format!("not a {name} state: it has no `{k}`")));
        }
    }
    Ok(spec)
}

fn read_schedule(config: &SchedulerConfig, y: &mut Y, sd: &Value, n: usize) -> Result<()> {
    let name = config.name();
    let spec = class_keys(name, sd)?;
    let what = |k: &str| format!("{name} `{k}`");
    // The arguments the file states must be the config's.
    for k in spec.own {
        if dynamic(spec.layout).contains(k) {
            continue;
        }
        if let (Some(v), Some(mine)) = (sd.get(k), arg(name, y, k)) {
            if !same(v, mine) {
                return Err(Error::State(format!(
                    "the file's {name} has another `{k}` than the config's: built from another config"
                )));
            }
        }
    }
    if name == "MultiStepLR" {
        let mut mine: Vec<i64> = serde_yaml::from_value(y.get("milestones").cloned().unwrap_or(Y::Null))
            .map_err(|e| Error::State(e.to_string()))?;
        let mut theirs = vec![];
        for (m, c) in sd.get("milestones").and_then(Value::items).unwrap_or(&[]) {
            let (m, c) = (int_of(m, &what("milestones"))?, int_of(c, &what("milestones"))?);
            if !(0..=1 << 20).contains(&c) {
                return Err(Error::State(format!("{name} `milestones` counts {c} times the step {m}")));
            }
            theirs.extend(std::iter::repeat_n(m, c as usize));
        }
        mine.sort_unstable();
        theirs.sort_unstable();
        if mine != theirs {
            return Err(Error::State(format!("the file's {name} has other milestones than the config's")));
        }
    }
    if name == "SWALR" {
        let mine = y.get("anneal_strategy").and_then(Y::as_str);
        match field(sd, "_anneal_strategy", name)? {
            Value::Str(theirs) if Some(theirs.as_str()) == mine => {}
            _ => {
                return Err(Error::State(format!(
                    "the file's {name} has another `_anneal_strategy` than the config's: built from another config"
                )))
            }
        }
    }
    if spec.own == LAMBDA.own {
        let l = list_of(field(sd, "lr_lambdas", name)?, &what("lr_lambdas"))?;
        if l.len() != n {
            return Err(Error::State(format!(
                "the {name} state has {} lr_lambdas, this optimizer has {n} parameter group(s)",
                l.len()
            )));
        }
    }
    let get = |k: &str| field(sd, k, name);
    match spec.layout {
        Layout::Lr | Layout::Warm => {
            let base = slot(y, "base")?;
            set(base, "last_epoch", Y::Number(int_of(get("last_epoch")?, &what("last_epoch"))?.into()))?;
            set(base, "step_count", Y::Number(int_of(get("_step_count")?, &what("_step_count"))?.into()))?;
            set(base, "base_lrs", yfloats(&floats_of(get("base_lrs")?, n, &what("base_lrs"))?))?;
            set(base, "last_lr", yfloats(&floats_of(get("_last_lr")?, n, &what("_last_lr"))?))?;
            if spec.layout == Layout::Warm {
                set(y, "t_i", Y::Number(int_of(get("T_i")?, &what("T_i"))?.into()))?;
                set(y, "t_cur", yf(num_of(get("T_cur")?, &what("T_cur"))?))?;
            }
        }
        Layout::Plateau => {
            set(y, "min_lrs", yfloats(&floats_of(get("min_lrs")?, n, &what("min_lrs"))?))?;
            set(y, "best", yf(num_of(get("best")?, &what("best"))?))?;
            for k in ["num_bad_epochs", "cooldown_counter", "last_epoch"] {
                set(y, k, Y::Number(int_of(get(k)?, &what(k))?.into()))?;
            }
            set(y, "last_lr", yfloats(&floats_of(get("_last_lr")?, n, &what("_last_lr"))?))?;
        }
        Layout::Sequential | Layout::Chained => {
            if spec.layout == Layout::Sequential {
                let m: Vec<i64> = list_of(get("_milestones")?, &what("_milestones"))?
                    .iter()
                    .map(|v| int_of(v, name))
                    .collect::<Result<_>>()?;
                if Some(&Y::Sequence(m.iter().map(|&v| Y::Number(v.into())).collect())) != y.get("milestones") {
                    return Err(Error::State(format!("the file's {name} has other milestones than the config's")));
                }
                set(y, "last_epoch", Y::Number(int_of(get("last_epoch")?, &what("last_epoch"))?.into()))?;
            }
            set(y, "last_lr", yfloats(&floats_of(get("_last_lr")?, n, &what("_last_lr"))?))?;
            let children = list_of(get("_schedulers")?, &what("_schedulers"))?;
            let configs = config.children();
            if children.len() != configs.len() {
                return Err(Error::State(format!(
                    "the file's {name} has {} schedulers, the config's {}",
                    children.len(),
                    configs.len()
                )));
            }
            let Some(Y::Sequence(mine)) = y.get_mut("schedulers") else {
                return Err(Error::State(format!("tch-lr's {name} state has no `schedulers`")));
            };
            for ((c, child), sd) in configs.iter().zip(mine.iter_mut()).zip(children) {
                read_schedule(c, child, sd, n)?;
            }
        }
    }
    Ok(())
}

fn write_schedule(config: &SchedulerConfig, y: &Y, n: usize) -> Result<Value> {
    let name = config.name();
    let spec = spec(name)?;
    let get = |y: &Y, k: &str| {
        y.get(k).and_then(to_value).ok_or_else(|| Error::State(format!("tch-lr's {name} state has no `{k}`")))
    };
    let mut out: Vec<(&str, Value)> = vec![];
    for &k in spec.own {
        if dynamic(spec.layout).contains(&k) {
            continue;
        }
        if let Some(v) = arg(name, y, k).and_then(to_value) {
            out.push((k, v));
        }
    }
    if name == "MultiStepLR" {
        let mine: Vec<i64> = serde_yaml::from_value(y.get("milestones").cloned().unwrap_or(Y::Null))
            .map_err(|e| Error::State(e.to_string()))?;
        let mut counter: Vec<(Value, Value)> = vec![];
        for m in mine {
            match counter.iter_mut().find(|(k, _)| *k == Value::Int(m)) {
                Some((_, Value::Int(c))) => *c += 1,
                _ => counter.push((Value::Int(m), Value::Int(1))),
            }
        }
        out.push(("milestones", Value::Counter(counter)));
    }
    if name == "SWALR" {
        // A string, which `arg` leaves out; load_state_dict rebuilds anneal_func from it.
        let strategy = y.get("anneal_strategy").and_then(Y::as_str);
        let strategy =
            strategy.ok_or_else(|| Error::State(format!("tch-lr's {name} state has no `anneal_strategy`")))?;
        out.push(("_anneal_strategy", Value::Str(strategy.into())));
    }
    if name == "CyclicLR" {
        // load_state_dict pops it (a custom scale_fn's __dict__; None for a function).
        out.push(("_scale_fn_custom", Value::None));
    }
    if spec.own == LAMBDA.own {
        let each = if name.starts_with("transformers.") { Value::Dict(vec![]) } else { Value::None };
        out.push(("lr_lambdas", Value::List(vec![each; n])));
    }
    match spec.layout {
        Layout::Lr | Layout::Warm => {
            let base = y.get("base").ok_or_else(|| Error::State(format!("tch-lr's {name} state has no `base`")))?;
            out.push(("base_lrs", get(base, "base_lrs")?));
            out.push(("last_epoch", get(base, "last_epoch")?));
            out.push(("_step_count", get(base, "step_count")?));
            out.push(("_is_initial", Value::Bool(false)));
            out.push(("_get_lr_called_within_step", Value::Bool(false)));
            out.push(("_last_lr", get(base, "last_lr")?));
            if spec.layout == Layout::Warm {
                out.push(("T_i", get(y, "t_i")?));
                out.push(("T_cur", get(y, "t_cur")?));
            }
        }
        Layout::Plateau => {
            for k in ["min_lrs", "best", "num_bad_epochs", "cooldown_counter", "last_epoch"] {
                out.push((k, get(y, k)?));
            }
            out.push(("_last_lr", get(y, "last_lr")?));
        }
        Layout::Sequential | Layout::Chained => {
            if spec.layout == Layout::Sequential {
                out.push(("_milestones", get(y, "milestones")?));
                out.push(("last_epoch", get(y, "last_epoch")?));
            }
            out.push(("_last_lr", get(y, "last_lr")?));
            let Some(Y::Sequence(mine)) = y.get("schedulers") else {
                return Err(Error::State(format!("tch-lr's {name} state has no `schedulers`")));
            };
            let children = config
                .children()
                .iter()
                .zip(mine)
                .map(|(c, child)| write_schedule(c, child, n))
                .collect::<Result<Vec<_>>>()?;
            out.push(("_schedulers", Value::List(children)));
        }
    }
    Ok(dict(out))
}

/// `SWA`'s two configs: `scheduler` and `swa_scheduler`.
fn swa_children(c: &SWAConfig) -> Result<[&SchedulerConfig; 2]> {
    match c.schedulers.as_slice() {
        [a, b] => Ok([a, b]),
        other => Err(Error::State(format!("SWA has {} schedulers, not 2", other.len()))),
    }
}

/// The steps the run saved in `file` (`{"optimizer", "scheduler", ...}`)
/// has taken: the scheduler's `last_epoch` (a `ChainedScheduler`'s first
/// child's), timm's `t` beside it, the sum of the SWA loop's two; -1 when the
/// file does not say.
pub(crate) fn steps_in_file(file: &Value) -> i64 {
    // timm's state has no step count: the file holds the last step(t)'s t beside it.
    if let Some(Value::Int(t)) = file.get("t") {
        return *t;
    }
    let steps = |key| file.get(key).map(|sd| steps_taken(sd, key));
    match (steps("scheduler"), steps("swa_scheduler")) {
        (Some(Ok(a)), None) => a,
        (Some(Ok(a)), Some(Ok(b))) => a.saturating_add(b),
        _ => -1,
    }
}

/// The steps a PyTorch scheduler state has taken: its `last_epoch` (a
/// `ChainedScheduler`'s first child's).
fn steps_taken(sd: &Value, what: &str) -> Result<i64> {
    match sd.get("last_epoch") {
        Some(v) => int_of(v, what),
        None => {
            let children = list_of(field(sd, "_schedulers", what)?, what)?;
            steps_taken(children.first().ok_or_else(|| Error::State(format!("{what} has no schedulers")))?, what)
        }
    }
}

/// PyTorch's SWA loop saved as a user writes it, `{"optimizer", "scheduler":
/// scheduler.state_dict(), "swa_scheduler": swa_scheduler.state_dict()}`,
/// into tch-lr's `SWA` state: each child's, and the loop's step count (the
/// steps each took, which must be a run with this `swa_start`).
fn read_swa(c: &SWAConfig, y: &mut Y, main_sd: &Value, swa_sd: &Value, lrs: &[f64]) -> Result<()> {
    let n = lrs.len();
    let [main, swa] = swa_children(c)?;
    read_schedule(main, slot(y, "scheduler")?, main_sd, n)?;
    read_schedule(swa, slot(y, "swa_scheduler")?, swa_sd, n)?;
    let (a, b) = (steps_taken(main_sd, "the file's scheduler")?, steps_taken(swa_sd, "the file's swa_scheduler")?);
    let before = c.swa_start.saturating_add(1).max(0);
    if a < 0 || b < 0 || (b > 0 && a != before) || a > before {
        return Err(Error::State(format!(
            "the file's scheduler took {a} steps and its swa_scheduler {b}: not PyTorch's SWA loop with swa_start {}",
            c.swa_start
        )));
    }
    set(y, "epoch", Y::Number((a + b).into()))?;
    set(y, "last_lr", yfloats(lrs))
}

fn is_timm(config: &SchedulerConfig) -> bool {
    config.name().starts_with("timm.")
}

/// The keys of timm's `Scheduler` base class that are no keyword argument.
const TIMM_BASE: &[&str] =
    &["param_group_field", "_initial_param_group_field", "base_values", "metric", "noise_type", "warmup_steps"];

/// timm's keyword arguments in tch-lr's state (every key but `state:`,
/// nested groups flattened), by timm's attribute name, as PyTorch values.
fn timm_args(y: &Y) -> Vec<(String, Value)> {
    fn value(y: &Y) -> Option<Value> {
        match y {
            Y::Null => Some(Value::None),
            Y::String(s) => Some(Value::Str(s.clone())),
            Y::Sequence(s) => s.iter().map(value).collect::<Option<Vec<_>>>().map(Value::List),
            y => to_value(y),
        }
    }
    let mut out = vec![];
    for (k, v) in y.as_mapping().into_iter().flatten() {
        match (k.as_str(), v) {
            (Some("state") | None, _) => {}
            (Some(_), Y::Mapping(_)) => out.extend(timm_args(v)),
            (Some(k), v) => out.extend(value(v).map(|v| (k.to_string(), v))),
        }
    }
    out
}

/// Whether two PyTorch values say the same (numbers to 1e-12 relative).
fn same_value(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::List(l) | Value::Tuple(l), Value::List(m) | Value::Tuple(m)) => {
            l.len() == m.len() && l.iter().zip(m).all(|(a, b)| same_value(a, b))
        }
        _ => match (num(a), num(b)) {
            (Some(x), Some(y)) => close(x, y),
            _ => a == b,
        },
    }
}

/// timm's `scheduler.state_dict()` (its `__dict__` less the optimizer) and
/// the file's `t` (the last `step(t)`, which timm's state lacks) into
/// tch-lr's timm state; `lrs` are the groups' LRs (timm's last values).
fn read_timm(name: &str, y: &mut Y, sd: &Value, t: Option<&Value>, lrs: &[f64]) -> Result<()> {
    let n = lrs.len();
    let Some(items) = sd.items() else {
        return Err(Error::State(format!("the {name} state is a {}, not a dict", sd.type_name())));
    };
    let args = timm_args(y);
    // First the class (its keys), then its arguments.
    for (k, _) in items {
        let Value::Str(k) = k else {
            return Err(Error::State(format!("the {name} state has a key that is a {}", k.type_name())));
        };
        if !TIMM_BASE.contains(&k.as_str()) && !args.iter().any(|(a, _)| a == k) {
            return Err(Error::State(format!("not a {name} state: it has the key `{k}`")));
        }
    }
    for (k, mine) in &args {
        if sd.get(k).is_some_and(|v| !same_value(v, mine)) {
            return Err(Error::State(format!(
                "the file's {name} has another `{k}` than the config's: built from another config"
            )));
        }
    }
    for k in ["base_values", "warmup_steps"] {
        if sd.get(k).is_none() {
            return Err(Error::State(format!("not a {name} state: it has no `{k}`")));
        }
    }
    for (k, want) in [("param_group_field", "lr"), ("noise_type", "normal")] {
        match sd.get(k) {
            None => {}
            Some(Value::Str(s)) if s == want => {}
            Some(v) => {
                return Err(Error::Unsupported(format!("the file's {name} has `{k}` {v:?}: tch-lr's has {want:?}")))
            }
        }
    }
    let t = t.ok_or_else(|| {
        Error::State(format!(
            "the file has no `t` beside its {name} state (timm's state has none: save \
             {{\"optimizer\", \"scheduler\", \"t\": t}}, t the last step(t))"
        ))
    })?;
    let t = int_of(t, "the file's `t`")?;
    if t < 0 {
        return Err(Error::State(format!("the file's `t` is {t}, not a step")));
    }
    let what = |k: &str| format!("{name} `{k}`");
    let state = slot(y, "state")?;
    set(state, "t", Y::Number(t.into()))?;
    set(state, "base_values", yfloats(&floats_of(field(sd, "base_values", name)?, n, &what("base_values"))?))?;
    set(state, "warmup_steps", yfloats(&floats_of(field(sd, "warmup_steps", name)?, n, &what("warmup_steps"))?))?;
    set(state, "last_lr", yfloats(lrs))
}

/// tch-lr's timm state as timm's `scheduler.state_dict()`, and its `t`.
fn write_timm(name: &str, y: &Y) -> Result<(Value, Value)> {
    let state = y.get("state").ok_or_else(|| Error::State(format!("tch-lr's {name} state has no `state`")))?;
    let get = |k: &str| {
        state.get(k).and_then(to_value).ok_or_else(|| Error::State(format!("tch-lr's {name} state has no `{k}`")))
    };
    let mut out: Vec<(String, Value)> = vec![
        ("param_group_field".into(), Value::Str("lr".into())),
        ("_initial_param_group_field".into(), Value::Str("initial_lr".into())),
        ("base_values".into(), get("base_values")?),
        ("metric".into(), Value::None),
        ("noise_type".into(), Value::Str("normal".into())),
    ];
    out.extend(timm_args(y));
    out.push(("warmup_steps".into(), get("warmup_steps")?));
    let sd = Value::Dict(out.into_iter().map(|(k, v)| (Value::Str(k), v)).collect());
    Ok((sd, get("t")?))
}

/// PyTorch's class of a group, by its keys.
fn group_kind(g: &Value) -> Result<(OptimizerKind, &'static str)> {
    let has = |k| g.get(k).is_some();
    if has("nesterov") || has("dampening") {
        Ok((OptimizerKind::Sgd, "SGD"))
    } else if has("centered") || has("alpha") {
        Ok((OptimizerKind::RmsProp, "RMSprop"))
    } else if has("betas") {
        match g.get("decoupled_weight_decay") {
            Some(Value::Bool(true)) => Ok((OptimizerKind::AdamW, "AdamW")),
            _ => Ok((OptimizerKind::Adam, "Adam")),
        }
    } else {
        Err(Error::OptimizerState("the file's optimizer is none of SGD, Adam, AdamW, RMSprop".into()))
    }
}

const GROUP_KEYS: &[&str] = &[
    "params",
    "param_names",
    "lr",
    "momentum",
    "betas",
    "weight_decay",
    "dampening",
    "nesterov",
    "eps",
    "alpha",
    "centered",
    "amsgrad",
    "maximize",
    "foreach",
    "capturable",
    "differentiable",
    "fused",
    "decoupled_weight_decay",
];

fn read_groups(groups: &mut ParamGroups, opt: &Value) -> Result<()> {
    let bad = |m: String| Error::OptimizerState(m);
    let pg = opt.get("param_groups").ok_or_else(|| bad("the file's optimizer has no `param_groups`".into()))?;
    let Value::List(pg) = pg else {
        return Err(bad(format!("`param_groups` is a {}, not a list", pg.type_name())));
    };
    if pg.len() != groups.len() {
        return Err(bad(format!(
            "the file's optimizer has {} parameter group(s), this one has {}",
            pg.len(),
            groups.len()
        )));
    }
    let mine = groups.kind();
    for (i, g) in pg.iter().enumerate() {
        let (kind, class) = group_kind(g)?;
        let family = |k: OptimizerKind| if k == OptimizerKind::AdamW { OptimizerKind::Adam } else { k };
        let adam_without_flag = g.get("decoupled_weight_decay").is_none() && family(kind) == family(mine);
        if kind != mine && !adam_without_flag {
            return Err(bad(format!("the file's optimizer is {class}, this one is {}", mine.name())));
        }
        for (k, _) in g.items().unwrap_or(&[]) {
            let Value::Str(k) = k else { return Err(bad(format!("group {i} has a key that is not a string"))) };
            if !GROUP_KEYS.contains(&k.as_str()) && !GroupKey::ALL.iter().any(|g| g.name() == k) {
                return Err(bad(format!("group {i} has the key `{k}`, unknown to {class}")));
            }
        }
        for flag in ["maximize", "capturable", "differentiable", "fused"] {
            if matches!(g.get(flag), Some(Value::Bool(true))) {
                return Err(Error::Unsupported(format!(
                    "the file's optimizer has `{flag}=True`, which libtorch's C++ optimizers lack"
                )));
            }
        }
        let what = |k: &str| format!("group {i} `{k}`");
        let f =
            |k: &str| g.get(k).map(|v| num(v).ok_or_else(|| bad(format!("{} is not a number", what(k))))).transpose();
        let dst = &mut groups.groups_mut()[i];
        dst.lr = f("lr")?.ok_or_else(|| bad(format!("group {i} has no `lr`")))?;
        if kind.uses_beta1() {
            let betas = g.get("betas").map(|b| list_of(b, "betas")).transpose().map_err(|e| bad(e.to_string()))?;
            match betas {
                Some([b1, _]) => {
                    dst.momentum = num(b1).ok_or_else(|| bad(format!("{} is not a number", what("betas"))))?
                }
                _ => return Err(bad(format!("{} is not a pair", what("betas")))),
            }
        } else {
            dst.momentum = f("momentum")?.ok_or_else(|| bad(format!("group {i} has no `momentum`")))?;
        }
        if let Some(wd) = f("weight_decay")? {
            dst.weight_decay = wd;
        }
        for key in GroupKey::ALL {
            if let Some(v) = f(key.name())? {
                *dst.slot(key) = Some(v);
            }
        }
    }
    Ok(())
}

fn write_groups(groups: &ParamGroups, o: &OptimizerConfig, sizes: Option<&[usize]>) -> Vec<Value> {
    let kind = groups.kind();
    let f = Value::Float;
    let b = Value::Bool;
    groups
        .iter()
        .enumerate()
        .map(|(i, g)| {
            let mut d: Vec<(&str, Value)> = vec![("lr", f(g.lr))];
            match kind {
                OptimizerKind::Sgd => {
                    d.push(("momentum", f(g.momentum)));
                    d.push(("dampening", f(o.dampening.unwrap_or(0.0))));
                    d.push(("weight_decay", f(g.weight_decay)));
                    d.push(("nesterov", b(o.nesterov.unwrap_or(false))));
                    d.push(("maximize", b(false)));
                    d.push(("foreach", Value::None));
                    d.push(("differentiable", b(false)));
                    d.push(("fused", Value::None));
                }
                OptimizerKind::Adam | OptimizerKind::AdamW => {
                    let beta2 = o.betas.map_or(0.999, |b| b[1]);
                    d.push(("betas", Value::Tuple(vec![f(g.momentum), f(beta2)])));
                    d.push(("eps", f(o.eps.unwrap_or(1e-8))));
                    d.push(("weight_decay", f(g.weight_decay)));
                    d.push(("amsgrad", b(o.amsgrad.unwrap_or(false))));
                    d.push(("maximize", b(false)));
                    d.push(("foreach", Value::None));
                    d.push(("capturable", b(false)));
                    d.push(("differentiable", b(false)));
                    d.push(("fused", Value::None));
                    d.push(("decoupled_weight_decay", b(kind == OptimizerKind::AdamW)));
                }
                OptimizerKind::RmsProp => {
                    d.push(("momentum", f(g.momentum)));
                    d.push(("alpha", f(o.alpha.unwrap_or(0.99))));
                    d.push(("eps", f(o.eps.unwrap_or(1e-8))));
                    d.push(("centered", b(o.centered.unwrap_or(false))));
                    d.push(("weight_decay", f(g.weight_decay)));
                    d.push(("capturable", b(false)));
                    d.push(("foreach", Value::None));
                    d.push(("maximize", b(false)));
                    d.push(("differentiable", b(false)));
                }
            }
            for key in GroupKey::ALL {
                if let Some(v) = g.get(key) {
                    d.push((key.name(), f(v)));
                }
            }
            // PyTorch's parameter indices run on through the groups.
            let (first, n) = match sizes {
                Some(sizes) => (sizes[..i].iter().sum::<usize>(), sizes.get(i).copied().unwrap_or(0)),
                None => (i, 1),
            };
            d.push(("params", Value::List((first..first + n).map(|p| Value::Int(p as i64)).collect())));
            dict(d)
        })
        .collect()
}

/// Loads PyTorch's `optimizer.state_dict()["state"]` (`state`: a dict from
/// PyTorch's integer parameter index, in group order, to the parameter's
/// state tensors) into the owned optimizer `opt`: SGD's `momentum_buffer`;
/// Adam's and AdamW's `step`, `exp_avg`, `exp_avg_sq`, `max_exp_avg_sq`;
/// RMSprop's `step`, `square_avg`, `momentum_buffer`, `grad_avg`. A
/// `momentum_buffer` of `None` (SGD without momentum) is no state.
///
/// # Errors
/// [`Error::Unsupported`] for tch's optimizer; [`Error::OptimizerState`] in
/// one line for a state that is not such a dict, an unknown index or key, a
/// tensor of another shape or dtype than its parameter, or a step that is not
/// a whole number: nothing is then loaded.
pub fn optimizer_state_from_pytorch(opt: &mut crate::Optim, state: &Value) -> Result<()> {
    let bad = |m: String| Error::OptimizerState(m);
    let items =
        state.items().ok_or_else(|| bad(format!("the optimizer's state is a {}, not a dict", state.type_name())))?;
    let mut all = Vec::with_capacity(items.len());
    for (k, v) in items {
        let index = match k {
            Value::Int(i) if *i >= 0 => *i as usize,
            _ => {
                return Err(bad(format!("the optimizer's state is keyed by {}, not a parameter index", k.type_name())))
            }
        };
        let entries = v
            .items()
            .ok_or_else(|| bad(format!("the state of parameter {index} is a {}, not a dict", v.type_name())))?;
        let mut tensors = Vec::with_capacity(entries.len());
        for (name, t) in entries {
            let Value::Str(name) = name else {
                return Err(bad(format!("the state of parameter {index} has a {} key", name.type_name())));
            };
            match t {
                Value::None if name == "momentum_buffer" => {}
                Value::Tensor(t) => tensors.push((name.clone(), super::torch_file::to_tch(t)?)),
                // PyTorch before 1.12 saved the step as a number.
                Value::Int(_) | Value::Float(_) if name == "step" => {
                    tensors.push((name.clone(), tch::Tensor::from(num_of(t, "step")? as f32)))
                }
                _ => return Err(bad(format!("the state's {name} of parameter {index} is a {}", t.type_name()))),
            }
        }
        if !tensors.is_empty() {
            all.push((index, tensors));
        }
    }
    opt.load_state_tensors(&all)
}

/// The owned optimizer's per-parameter state as PyTorch's
/// `optimizer.state_dict()["state"]` (see [`optimizer_state_from_pytorch`]),
/// which `optimizer.load_state_dict` accepts.
///
/// # Errors
/// [`Error::Unsupported`] for tch's optimizer; [`Error::OptimizerState`] when
/// libtorch fails or a step is beyond float32's whole numbers.
pub fn optimizer_state_to_pytorch(opt: &crate::Optim) -> Result<Value> {
    let mut out = Vec::new();
    for (index, tensors) in opt.state_tensors()? {
        let entries = tensors
            .iter()
            .map(|(name, t)| Ok((Value::Str(name.clone()), Value::Tensor(super::torch_file::from_tch(t)?))))
            .collect::<Result<Vec<_>>>()?;
        out.push((Value::Int(index as i64), Value::Dict(entries)));
    }
    Ok(Value::Dict(out))
}
