//! `OptimizerParamScheduler.state_dict()` (its ten keys, typed) and
//! `load_state_dict()` with Megatron's rules: the legacy keys, each value
//! through `_check_and_set` (override: keep the config's; use-checkpoint:
//! take the file's; neither: they must be equal), and `num_steps` *added*
//! through `step(increment=num_steps)`.

use serde::{Deserialize, Serialize};
use serde_yaml::{Mapping, Value as Y};

use super::config::{DecayStyle, Steps, WdIncrStyle};
use super::formula::Class;
use super::scheduler::{check_steps, OptimizerParamScheduler, State, NAME};
use crate::error::{Error, Result};
use crate::groups::ParamGroups;
use crate::schedulers::py_float;
use crate::schedulers::torch_state::kind;

/// `state_dict()`, in Megatron's order: what `--save-pytorch` writes.
#[derive(Serialize, Deserialize)]
pub(super) struct StateDict {
    max_lr: f64,
    lr_warmup_steps: Steps,
    num_steps: i64,
    lr_decay_style: DecayStyle,
    lr_decay_steps: i64,
    min_lr: f64,
    start_wd: f64,
    end_wd: f64,
    wd_incr_style: WdIncrStyle,
    wd_incr_steps: i64,
}

impl StateDict {
    /// The state of a scheduler.
    pub(super) fn of(s: &State) -> StateDict {
        let c = &s.class;
        StateDict {
            max_lr: c.max_lr,
            lr_warmup_steps: c.lr_warmup_steps,
            num_steps: s.num_steps,
            lr_decay_style: c.lr_decay_style,
            lr_decay_steps: c.lr_decay_steps,
            min_lr: c.min_lr,
            start_wd: c.start_wd,
            end_wd: c.end_wd,
            wd_incr_style: c.wd_incr_style,
            wd_incr_steps: c.wd_incr_steps,
        }
    }
}

/// Every key `load_state_dict` reads: the ten, then the legacy ones.
const KEYS: &[&str] = &[
    "max_lr",
    "lr_warmup_steps",
    "num_steps",
    "lr_decay_style",
    "lr_decay_steps",
    "min_lr",
    "start_wd",
    "end_wd",
    "wd_incr_style",
    "wd_incr_steps",
    "start_lr",
    "warmup_iter",
    "warmup_steps",
    "end_iter",
    "decay_steps",
    "decay_style",
    "num_iters",
];

/// A value as `_check_and_set` compares it (Python's `==`) and prints it.
#[derive(Clone, Debug, PartialEq)]
enum Val {
    Num(f64),
    Int(i64),
    Str(String),
}

impl Val {
    fn eq(&self, o: &Val) -> bool {
        match (self, o) {
            (Val::Str(a), Val::Str(b)) => a == b,
            (Val::Int(a), Val::Int(b)) => a == b,
            (Val::Num(a), Val::Num(b)) => a == b,
            (Val::Int(i), Val::Num(f)) | (Val::Num(f), Val::Int(i)) => f.fract() == 0.0 && *f == *i as f64,
            _ => false,
        }
    }

    fn show(&self) -> String {
        match self {
            Val::Num(f) => py_float(*f),
            Val::Int(i) => i.to_string(),
            Val::Str(s) => s.clone(),
        }
    }
}

impl From<Steps> for Val {
    fn from(s: Steps) -> Val {
        match s {
            Steps::Int(i) => Val::Int(i),
            Steps::Float(f) => Val::Num(f),
        }
    }
}

/// A file's state dict, read key by key.
struct File<'a>(&'a Mapping);

impl File<'_> {
    /// The first of `keys` the dict has (Megatron's legacy keys first).
    fn first(&self, keys: &[&'static str]) -> Option<(&'static str, &Y)> {
        keys.iter().find_map(|k| self.0.get(*k).map(|v| (*k, v)))
    }

    /// The first of `keys`, which the dict must have.
    fn require(&self, keys: &[&'static str]) -> Result<(&'static str, &Y)> {
        self.first(keys).ok_or_else(|| {
            let legacy: Vec<String> = keys[..keys.len() - 1].iter().map(|k| format!("`{k}`")).collect();
            let last = keys[keys.len() - 1];
            let or = if legacy.is_empty() { String::new() } else { format!(" (nor the legacy {})", legacy.join(", ")) };
            Error::State(format!("the file's {NAME} state has no `{last}`{or}"))
        })
    }
}

fn float(key: &str, v: &Y) -> Result<Val> {
    match v {
        Y::Number(n) if n.is_i64() => Ok(Val::Int(n.as_i64().unwrap_or_default())),
        Y::Number(n) => match n.as_f64() {
            Some(f) if f.is_finite() => Ok(Val::Num(f)),
            _ => Err(Error::State(format!("the file's `{key}` is not a finite number"))),
        },
        other => Err(Error::State(format!("the file's `{key}` is {}, not a number", kind(other)))),
    }
}

fn int(key: &str, v: &Y) -> Result<Val> {
    match v.as_i64() {
        Some(i) => Ok(Val::Int(i)),
        None => Err(Error::State(format!("the file's `{key}` is {}, not an int", kind(v)))),
    }
}

fn string(key: &str, v: &Y) -> Result<Val> {
    match v {
        Y::String(s) => Ok(Val::Str(s.clone())),
        other => Err(Error::State(format!("the file's `{key}` is {}, not a str", kind(other)))),
    }
}

/// `_check_and_set(cls_value, sd_value, name)` of the scheduler with these flags.
struct Rules {
    override_: bool,
    use_checkpoint: bool,
}

impl Rules {
    /// The value the class ends with, or Megatron's failed assert naming `key`.
    fn check_and_set(&self, key: &str, name: &str, ours: Val, theirs: Val) -> Result<Val> {
        if self.override_ {
            return Ok(ours);
        }
        if !self.use_checkpoint && !ours.eq(&theirs) {
            return Err(Error::State(format!(
                "`{key}`: OptimizerParamScheduler: class input value {} and checkpointvalue {} for {name} do not \
                 match (set use_checkpoint_opt_param_scheduler to take the file's, override_opt_param_scheduler to \
                 keep the config's)",
                ours.show(),
                theirs.show()
            )));
        }
        Ok(theirs)
    }
}

fn as_f64(v: Val) -> f64 {
    match v {
        Val::Num(f) => f,
        Val::Int(i) => i as f64,
        Val::Str(_) => f64::NAN,
    }
}

fn as_i64(key: &str, v: Val) -> Result<i64> {
    match v {
        Val::Int(i) => Ok(i),
        other => Err(Error::State(format!("the file's `{key}` is {}, not an int", other.show()))),
    }
}

fn as_steps(v: Val) -> Steps {
    match v {
        Val::Int(i) => Steps::Int(i),
        Val::Num(f) => Steps::Float(f),
        Val::Str(_) => Steps::Float(f64::NAN),
    }
}

fn style<T: serde::de::DeserializeOwned>(key: &str, v: Val, choices: &str) -> Result<T> {
    let s = match v {
        Val::Str(s) => s,
        other => other.show(),
    };
    serde_yaml::from_value(Y::String(s.clone()))
        .map_err(|_| Error::State(format!("the file's `{key}` is '{s}', not one of {choices}")))
}

/// `load_state_dict(file)` into `s`, `groups` the optimizer's (as the file's
/// optimizer left them): the class values as Megatron's rules give them,
/// `num_steps` added and each group's LR and weight decay computed as
/// Megatron's `step(increment=num_steps)` computes them (between the LR's
/// values and the weight decay's: the weight decay written at the load is
/// computed with the values from before it).
pub(super) fn load(s: &mut OptimizerParamScheduler, file: &Y, groups: &mut ParamGroups) -> Result<()> {
    let Y::Mapping(m) = file else {
        return Err(Error::State(format!("the {NAME} state is {}, not a dict", kind(file))));
    };
    for k in m.keys() {
        match k.as_str() {
            Some(k) if KEYS.contains(&k) => {}
            Some(k) => return Err(Error::State(format!("not a {NAME} state: it has the key `{k}`"))),
            None => return Err(Error::State(format!("the {NAME} state has a key that is {}", kind(k)))),
        }
    }
    let f = File(m);
    let rules = Rules {
        override_: s.args.override_opt_param_scheduler,
        use_checkpoint: s.args.use_checkpoint_opt_param_scheduler,
    };
    let mut c: Class = s.state.class.clone();
    let (k, v) = f.require(&["start_lr", "max_lr"])?;
    c.max_lr = as_f64(rules.check_and_set(k, "learning rate", Val::Num(c.max_lr), float(k, v)?)?);
    let (k, v) = f.require(&["min_lr"])?;
    c.min_lr = as_f64(rules.check_and_set(k, "minimum learning rate", Val::Num(c.min_lr), float(k, v)?)?);
    let (k, v) = f.require(&["warmup_iter", "warmup_steps", "lr_warmup_steps"])?;
    c.lr_warmup_steps =
        as_steps(rules.check_and_set(k, "warmup iterations", c.lr_warmup_steps.into(), float(k, v)?)?);
    let (k, v) = f.require(&["end_iter", "decay_steps", "lr_decay_steps"])?;
    let theirs = int(k, v)?;
    c.lr_decay_steps =
        as_i64(k, rules.check_and_set(k, "total number of iterations", Val::Int(c.lr_decay_steps), theirs)?)?;
    let (k, v) = f.require(&["decay_style", "lr_decay_style"])?;
    let ours = Val::Str(c.lr_decay_style.name().into());
    let v = rules.check_and_set(k, "learning rate decay style", ours, string(k, v)?)?;
    c.lr_decay_style = style(k, v, "linear, cosine, inverse-square-root, constant, WSD")?;
    check_steps(&c).map_err(|e| Error::State(format!("the file's values: {}", e.root())))?;
    let (k, v) = f.require(&["num_iters", "num_steps"])?;
    let num_steps = match int(k, v)? {
        Val::Int(n) if n >= 0 => n,
        other => return Err(Error::State(format!("the file's `{k}` is {}, not a number of steps", other.show()))),
    };
    // step(increment=num_steps): added, then every group's values.
    s.state.class = c.clone();
    s.state.num_steps =
        s.state.num_steps.checked_add(num_steps).ok_or(Error::Overflow("num_steps + the file's num_steps"))?;
    s.apply(groups)?;
    if f.0.get("start_wd").is_some() {
        let (k, v) = f.require(&["start_wd"])?;
        c.start_wd = as_f64(rules.check_and_set(k, "start weight decay", Val::Num(c.start_wd), float(k, v)?)?);
        let (k, v) = f.require(&["end_wd"])?;
        c.end_wd = as_f64(rules.check_and_set(k, "end weight decay", Val::Num(c.end_wd), float(k, v)?)?);
        let (k, v) = f.require(&["wd_incr_steps"])?;
        let theirs = int(k, v)?;
        let name = "total number of weight decay iterations";
        c.wd_incr_steps = as_i64(k, rules.check_and_set(k, name, Val::Int(c.wd_incr_steps), theirs)?)?;
        let (k, v) = f.require(&["wd_incr_style"])?;
        let ours = Val::Str(c.wd_incr_style.name().into());
        let v = rules.check_and_set(k, "weight decay incr style", ours, string(k, v)?)?;
        c.wd_incr_style = style(k, v, "linear, cosine, constant")?;
        if !(c.start_wd >= 0.0 && c.end_wd >= c.start_wd) {
            return Err(Error::State(format!(
                "the file's values: {NAME} asserts 0.0 <= start_wd <= end_wd, got {} and {}",
                py_float(c.start_wd),
                py_float(c.end_wd)
            )));
        }
    }
    if !(c.min_lr >= 0.0 && c.max_lr >= c.min_lr && c.init_lr <= c.max_lr) {
        return Err(Error::State(format!(
            "the file's values: {NAME} asserts 0.0 <= min_lr <= max_lr and init_lr <= max_lr, got {}, {} and {}",
            py_float(c.min_lr),
            py_float(c.max_lr),
            py_float(c.init_lr)
        )));
    }
    s.state.class = c;
    Ok(())
}
