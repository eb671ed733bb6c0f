//! PyTorch's scheduler and optimizer `state_dict()`s, to and from tch-lr's
//! [`SchedulerState`]: a run stopped in PyTorch continues in tch-lr, and the
//! other way round.
//!
//! The file both directions use is what PyTorch users write:
//! `torch.save({"optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict()}, f)`.
//! A PyTorch state dict does not name its class, so both functions take the
//! config the run was built from. This module is a dispatcher: each schedule
//! declares its reference class's `state_dict()` itself, typed, beside its
//! own state (see [`schedulers`](crate::schedulers), "Adding a schedule"),
//! and reads a file's through that declaration (every key known, the
//! arguments the file states the config's, what the steps changed taken);
//! [`optimizer`](super::optimizer) maps the optimizer's groups (`lr`,
//! `initial_lr`, `momentum` or `betas[0]`, `weight_decay`, `max_lr`, `min_lr`,
//! `base_momentum`, `max_momentum`, `swa_lr`).
//!
//! Every registered schedule but the LR range test's has a PyTorch state:
//! PyTorch's classes (and so the `warmup:` block, a `SequentialLR`), `SWA`
//! (PyTorch's SWA loop: the file's `scheduler` and `swa_scheduler`, as a
//! user saves the loop's two schedulers beside one optimizer), the
//! transformers schedules (their `LambdaLR` state) and timm's (timm's own
//! `state_dict()`, its `__dict__` less the optimizer; timm keeps no step
//! count, so the file holds the last `step(t)`'s `t` beside it:
//! `{"optimizer": ..., "scheduler": ..., "t": t}`), DeepSpeed's (its
//! `{'last_batch_iteration': i}`; its checkpoints through
//! [`deepspeed`](super::deepspeed), ZeRO's without the optimizer's groups
//! through [`from_scheduler_alone`]); SGD, Adam, AdamW and
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

use serde_yaml::value::{Tag, TaggedValue};
use serde_yaml::{Mapping, Value as Y};

pub use super::optimizer::{optimizer_state_from_pytorch, optimizer_state_to_pytorch};
use super::optimizer::{read_groups, write_groups};
use super::Value;
use crate::config::{Config, OptimizerConfig, SchedulerConfig};
use crate::error::{Error, Result};
use crate::groups::ParamGroups;
use crate::hyper::HyperParam;
use crate::scheduler::{Scheduler, SchedulerState};
use crate::schedulers::schedule::Protocol as _;
use crate::schedulers::torch_state::COUNTER;
use crate::schedulers::Schedule;

/// The tch-lr [`SchedulerState`] that continues exactly where the PyTorch run
/// saved in `file` stopped: `file` is the `Value` of
/// `{"optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict()}`
/// (read with [`torch_file::load`](crate::interop::torch_file::load)),
/// `config` the config both runs are built from and `sched` the scheduler
/// built from it; load the result with [`Scheduler::load_state`].
///
/// # Errors
/// One line each: [`Error::Unsupported`] for a schedule without a PyTorch
/// state (see the module), [`Error::State`] for a scheduler state of another
/// class, another number of groups or other arguments,
/// [`Error::OptimizerState`] for another optimizer class or number of
/// groups, or `maximize`, `capturable`, `differentiable`, `fused` set; in a
/// section of the file ([`Error::Context`]) for a weight decay or momentum
/// schedule's.
pub fn from_pytorch<S: Schedule>(config: &Config, sched: &Scheduler<S>, file: &Value) -> Result<SchedulerState> {
    let mut state = sched.state()?;
    read_part(&config.scheduler, &mut state.groups, &mut state.schedule, file)?;
    for key in [HyperParam::WeightDecay.section(), HyperParam::Momentum.section()] {
        if file.get(key).is_some() && !config.hyper_sections().any(|(_, k, _)| k == key) {
            return Err(Error::State(format!("the file has a `{key}`, the config has no `{key}:` section")));
        }
    }
    for (target, key, c) in config.hyper_sections() {
        let part = file.get(key).ok_or_else(|| Error::State(format!("the file has no `{key}`")))?;
        let Some(h) = state.hypers.iter_mut().find(|h| h.target == target) else {
            return Err(Error::State(format!("tch-lr's state has no `{key}`")));
        };
        read_part(c, &mut h.groups, &mut h.schedule, part).map_err(|e| e.context(format!("the file's `{key}`")))?;
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

/// The tch-lr [`SchedulerState`] that continues a run whose file holds the
/// scheduler's state but not the optimizer's groups (a DeepSpeed ZeRO
/// checkpoint: `{"scheduler": ...}` alone): a schedule whose state says
/// every value it writes (DeepSpeed's) writes them into the groups
/// (the sealed protocol's `load_torch_entries_alone`).
///
/// # Errors
/// [`Error::Unsupported`] for other schedules and for configs with a weight
/// decay or momentum schedule; as [`from_pytorch`] otherwise.
pub fn from_scheduler_alone<S: Schedule>(
    config: &Config,
    sched: &Scheduler<S>,
    file: &Value,
) -> Result<SchedulerState> {
    if let Some((_, key, _)) = config.hyper_sections().next() {
        return Err(Error::Unsupported(format!("the file has no optimizer's groups to continue `{key}:` from")));
    }
    if file.items().is_none() {
        return Err(Error::State(format!("the file is a {}, not a dict", file.type_name())));
    }
    let mut state = sched.state()?;
    let mut schedule = config.schedule()?;
    schedule.load_state(state.schedule.clone())?;
    let ours = schedule.torch_entries(&state.groups)?;
    let mut entries = Mapping::new();
    for key in ours.keys().filter_map(Y::as_str) {
        if let Some(v) = file.get(key) {
            entries.insert(key.into(), to_yaml(v, key)?);
        }
    }
    schedule.load_torch_entries_alone(&entries, &mut state.groups)?;
    state.schedule = schedule.state()?;
    Ok(state)
}

/// One `{"optimizer", "scheduler", ...}` of a file into tch-lr's groups and
/// the state `y` of the schedule `config` describes: the schedule is built,
/// loaded with `y`, then with the file's entries, and saved back.
fn read_part(config: &SchedulerConfig, groups: &mut ParamGroups, y: &mut Y, part: &Value) -> Result<()> {
    if part.items().is_none() {
        return Err(Error::State(format!("the file is a {}, not a dict", part.type_name())));
    }
    let mut schedule = config.schedule()?;
    schedule.load_state(y.clone())?;
    // What the schedule saves beside the optimizer: the entries to read (a
    // schedule without a PyTorch state is refused here, before the file).
    let ours = schedule.torch_entries(groups)?;
    let optimizer = part.get("optimizer").ok_or_else(|| Error::State("the file has no `optimizer`".into()))?;
    read_groups(groups, optimizer)?;
    let mut entries = Mapping::new();
    for key in ours.keys().filter_map(Y::as_str) {
        if let Some(v) = part.get(key) {
            entries.insert(key.into(), to_yaml(v, key)?);
        }
    }
    schedule.load_torch_entries(&entries, groups)?;
    schedule.write_loaded(groups)?;
    *y = schedule.state()?;
    Ok(())
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
/// [`Error::Unsupported`] for a schedule without a PyTorch state (see the module).
pub fn to_pytorch<S: Schedule>(config: &Config, sched: &Scheduler<S>) -> Result<Value> {
    let optimizer = config.optimizer_or_default();
    let sizes = sched.optimizer().params_per_group();
    let mut out = write_part(sched.schedule(), sched.groups(), &optimizer, sizes.as_deref())?;
    if sched.optimizer().saves_state() {
        // The owned optimizer's per-parameter state (tch's has none to give).
        let tensors = optimizer_state_to_pytorch(sched.optimizer())?;
        if let Some((_, Value::Dict(opt))) = out.iter_mut().find(|(k, _)| k == "optimizer")
            && let Some((_, s)) = opt.iter_mut().find(|(k, _)| matches!(k, Value::Str(k) if k == "state"))
        {
            *s = tensors;
        }
    }
    let hypers = sched.state()?.hypers;
    for (target, key, _) in config.hyper_sections() {
        let (Some(h), Some(schedule)) = (hypers.iter().find(|h| h.target == target), sched.schedule_of(target)) else {
            return Err(Error::State(format!("tch-lr's state has no `{key}`")));
        };
        let part = write_part(schedule, &h.groups, &optimizer, None)?;
        out.push((key.into(), Value::Dict(part.into_iter().map(|(k, v)| (Value::Str(k), v)).collect())));
    }
    Ok(Value::Dict(out.into_iter().map(|(k, v)| (Value::Str(k), v)).collect()))
}

/// tch-lr's groups and schedule as `{"optimizer", "scheduler", ...}`;
/// `sizes`: the parameters per group (one each when unknown).
fn write_part(
    schedule: &dyn Schedule,
    groups: &ParamGroups,
    o: &OptimizerConfig,
    sizes: Option<&[usize]>,
) -> Result<Vec<(String, Value)>> {
    let pg = Value::List(write_groups(groups, o, sizes));
    let optimizer =
        Value::Dict(vec![(Value::Str("state".into()), Value::Dict(vec![])), (Value::Str("param_groups".into()), pg)]);
    let mut out = vec![("optimizer".to_string(), optimizer)];
    for (k, v) in schedule.torch_entries(groups)? {
        out.push((k.as_str().unwrap_or_default().to_string(), from_yaml(&v)));
    }
    Ok(out)
}

/// A value of a file as a schedule reads it ([`torch_state`](crate::schedulers)'s
/// carrier): a `Counter` tagged, tuples as lists.
pub(crate) fn to_yaml(v: &Value, key: &str) -> Result<Y> {
    let mapping = |items: &[(Value, Value)]| -> Result<Y> {
        let map = items.iter().map(|(k, v)| Ok((to_yaml(k, key)?, to_yaml(v, key)?))).collect::<Result<_>>()?;
        Ok(Y::Mapping(map))
    };
    Ok(match v {
        Value::None => Y::Null,
        Value::Bool(b) => Y::Bool(*b),
        Value::Int(i) => Y::from(*i),
        Value::Float(f) => Y::from(*f),
        Value::Str(s) => Y::from(s.as_str()),
        Value::List(l) | Value::Tuple(l) => Y::Sequence(l.iter().map(|x| to_yaml(x, key)).collect::<Result<_>>()?),
        Value::Dict(items) | Value::OrderedDict { items, .. } => mapping(items)?,
        Value::Counter(items) => Y::Tagged(Box::new(TaggedValue { tag: Tag::new(COUNTER), value: mapping(items)? })),
        other => {
            return Err(Error::State(format!(
                "the file's `{key}` holds a {}: no schedule saves one",
                other.type_name()
            )))
        }
    })
}

/// A schedule's value as PyTorch's: ints where it has ints, a tagged
/// `Counter` as a `Counter`, other tags as their value.
fn from_yaml(y: &Y) -> Value {
    let items = |m: &Mapping| m.iter().map(|(k, v)| (from_yaml(k), from_yaml(v))).collect();
    match y {
        Y::Null => Value::None,
        Y::Bool(b) => Value::Bool(*b),
        Y::Number(n) => n.as_i64().map_or_else(|| Value::Float(n.as_f64().unwrap_or(f64::NAN)), Value::Int),
        Y::String(s) => Value::Str(s.clone()),
        Y::Sequence(s) => Value::List(s.iter().map(from_yaml).collect()),
        Y::Mapping(m) => Value::Dict(items(m)),
        Y::Tagged(t) => match (&t.value, t.tag == Tag::new(COUNTER)) {
            (Y::Mapping(m), true) => Value::Counter(items(m)),
            (v, _) => from_yaml(v),
        },
    }
}
