//! A Megatron-LM checkpoint as the config: its `args` (the run's
//! `argparse.Namespace`, read as a record) say the schedule, as Megatron-LM's
//! `get_optimizer_param_scheduler` (`megatron/training/training.py`) builds
//! it, and its optimizer's groups say each group's `max_lr`, `min_lr` and
//! `wd_mult`; the run continues at the file's `num_steps`.
//!
//! What `get_optimizer_param_scheduler` computes, in samples (every count is
//! stepped by the global batch size):
//! - iteration mode (`train_iters`): `lr_decay_steps = (lr_decay_iters or
//!   train_iters) * global_batch_size`, `wd_incr_steps = train_iters *
//!   global_batch_size`, `wsd_decay_steps = lr_wsd_decay_iters *
//!   global_batch_size`, `lr_warmup_steps = lr_warmup_fraction *
//!   lr_decay_steps` (a float) or `lr_warmup_iters * global_batch_size`;
//! - sample mode (`train_samples`): the `*_samples` arguments as they are;
//! - `init_lr = lr_warmup_init`, `max_lr = lr`, `min_lr`, `start_wd` and
//!   `end_wd` (`start_weight_decay`, `end_weight_decay`; `weight_decay` where
//!   absent, as `validate_args` sets them), the styles, and the two load
//!   flags.
//!
//! The optimizer: `--optimizer adam` is Adam with decoupled weight decay
//! (AdamW: apex's and Transformer Engine's `FusedAdam` in `adam_w_mode`,
//! torch's `AdamW` otherwise) with `adam_beta1`, `adam_beta2`, `adam_eps`;
//! `sgd` is SGD with `sgd_momentum`. A batch-size ramp-up
//! (`rampup_batch_size`: the increment changes during it) and other
//! optimizers are refused in one line.

use std::path::Path;

use serde_yaml::{Mapping, Value as Y};

use super::Recipe;
use crate::config::Config;
use crate::error::{Error, Result};
use crate::interop::megatron::{load as load_checkpoint, MegatronCheckpoint};
use crate::interop::Value;

/// The checkpoint at `path` (its `model_optim_rng.pt`, the `iter_` folder or
/// the save folder) as a [`Recipe`].
pub(super) fn load(path: &Path) -> Result<Recipe> {
    let checkpoint = load_checkpoint(path)?;
    let file = checkpoint.file.display().to_string();
    let args = Args::of(&checkpoint).map_err(|e| e.context(format!("{file}: its args")))?;
    let (value, found) = config(&args, &checkpoint).map_err(|e| e.context(format!("{file}: its args")))?;
    let config = Config::from_value(value).map_err(|e| {
        e.context(format!("{file}: the schedule Megatron-LM's get_optimizer_param_scheduler builds from its args"))
    })?;
    let at = checkpoint.iteration.map_or_else(String::new, |i| format!(" at iteration {i}"));
    let found = format!("{found}, from the args of a Megatron-LM checkpoint{at}");
    Ok(Recipe { kind: super::RecipeKind::Megatron, config, resume_from: Some(path.to_path_buf()), found: Some(found) })
}

/// The arguments kept of `args` ([`ARGS_READ`](crate::interop::megatron::ARGS_READ)).
struct Args<'a>(&'a [(String, Value)]);

impl<'a> Args<'a> {
    fn of(checkpoint: &'a MegatronCheckpoint) -> Result<Self> {
        if checkpoint.args_class.is_none() {
            return Err(Error::Value(
                "the file has no `args` record (Megatron-LM saves its argparse.Namespace): give a config and \
                 --resume-from this checkpoint"
                    .into(),
            ));
        }
        Ok(Args(&checkpoint.args))
    }

    fn get(&self, name: &str) -> Option<&Value> {
        self.0.iter().find(|(k, _)| k == name).map(|(_, v)| v).filter(|v| !matches!(v, Value::None))
    }

    fn wrong(name: &str, v: &Value, want: &str) -> Error {
        Error::Value(format!("`{name}` is a {}, not {want}", v.type_name()))
    }

    /// An int argument, `None` when absent or None.
    fn int(&self, name: &str) -> Result<Option<i64>> {
        match self.get(name) {
            None => Ok(None),
            Some(Value::Int(i)) => Ok(Some(*i)),
            Some(v) => Err(Self::wrong(name, v, "an int")),
        }
    }

    /// A float argument (an int taken as Python takes it), `None` when absent or None.
    fn float(&self, name: &str) -> Result<Option<f64>> {
        match self.get(name) {
            None => Ok(None),
            Some(Value::Float(f)) => Ok(Some(*f)),
            Some(Value::Int(i)) => Ok(Some(*i as f64)),
            Some(v) => Err(Self::wrong(name, v, "a float")),
        }
    }

    fn str(&self, name: &str) -> Result<Option<&str>> {
        match self.get(name) {
            None => Ok(None),
            Some(Value::Str(s)) => Ok(Some(s)),
            Some(v) => Err(Self::wrong(name, v, "a str")),
        }
    }

    fn flag(&self, name: &str) -> Result<bool> {
        match self.get(name) {
            None => Ok(false),
            Some(Value::Bool(b)) => Ok(*b),
            Some(v) => Err(Self::wrong(name, v, "a bool")),
        }
    }

    fn required<T>(&self, name: &str, v: Option<T>) -> Result<T> {
        v.ok_or_else(|| Error::Value(format!("it has no `{name}`, which get_optimizer_param_scheduler reads")))
    }
}

/// A Python number as YAML's.
fn num(v: f64) -> Y {
    Y::from(v)
}

/// `a * b` of two ints, as Python (no overflow in samples here: refused).
fn times(a: i64, b: i64, what: &str) -> Result<i64> {
    a.checked_mul(b).ok_or_else(|| Error::Value(format!("`{what}` times the global batch size overflows")))
}

/// One value per group of the file's `param_groups` under `key`, where the
/// groups have it.
fn per_group(checkpoint: &MegatronCheckpoint, key: &str) -> Vec<Option<f64>> {
    let groups = checkpoint.state.get("optimizer").and_then(|o| o.get("param_groups"));
    let Some(Value::List(groups)) = groups else { return Vec::new() };
    groups
        .iter()
        .map(|g| match g.get(key) {
            Some(Value::Float(f)) => Some(*f),
            Some(Value::Int(i)) => Some(*i as f64),
            _ => None,
        })
        .collect()
}

/// One value, or one per group where a group's differs (group 0's is the
/// class value, `fallback`, as tch-lr's config reads it).
fn one_or_each(values: &[Option<f64>], fallback: f64, key: &str) -> Result<Y> {
    let each: Vec<f64> = values.iter().map(|v| v.unwrap_or(fallback)).collect();
    if each.iter().all(|v| v.to_bits() == fallback.to_bits()) {
        return Ok(num(fallback));
    }
    if each.first().is_some_and(|v| v.to_bits() != fallback.to_bits()) {
        return Err(Error::Unsupported(format!(
            "the first param group's `{key}` is {}, not the args' {fallback}: tch-lr takes the first group's as the \
             scheduler's own",
            each[0]
        )));
    }
    Ok(Y::Sequence(each.into_iter().map(num).collect()))
}

/// The tch-lr config (as YAML) of the run `args` describe, and the start of
/// the line that says it.
fn config(args: &Args<'_>, checkpoint: &MegatronCheckpoint) -> Result<(Y, String)> {
    if args.get("rampup_batch_size").is_some() {
        return Err(Error::Unsupported(
            "`rampup_batch_size` is set: the increment changes during the ramp-up, tch-lr steps by one global batch \
             size"
                .into(),
        ));
    }
    let gbs = args.required("global_batch_size", args.int("global_batch_size")?)?;
    let lr = args.required("lr", args.float("lr")?)?;
    let min_lr = args.float("min_lr")?.unwrap_or(0.0);
    let fraction = args.float("lr_warmup_fraction")?;
    let (lr_decay_steps, wd_incr_steps, wsd, warmup, unit) =
        if let Some(iters) = args.int("train_iters")?.filter(|&i| i != 0) {
            let decay = times(args.int("lr_decay_iters")?.unwrap_or(iters), gbs, "lr_decay_iters")?;
            let wsd = args.int("lr_wsd_decay_iters")?.map(|w| times(w, gbs, "lr_wsd_decay_iters")).transpose()?;
            let warmup = match fraction {
                Some(f) => num(f * decay as f64),
                None => Y::from(times(args.int("lr_warmup_iters")?.unwrap_or(0), gbs, "lr_warmup_iters")?),
            };
            (decay, times(iters, gbs, "train_iters")?, wsd, warmup, format!("{iters} iterations of {gbs} samples"))
        } else if let Some(samples) = args.int("train_samples")?.filter(|&s| s != 0) {
            let decay = args.int("lr_decay_samples")?.unwrap_or(samples);
            let warmup = match fraction {
                Some(f) => num(f * decay as f64),
                None => Y::from(args.int("lr_warmup_samples")?.unwrap_or(0)),
            };
            (decay, samples, args.int("lr_wsd_decay_samples")?, warmup, format!("{samples} samples, {gbs} a step"))
        } else {
            return Err(Error::Value(
            "neither `train_iters` nor `train_samples` (Megatron-LM: either train-iters or train-samples should be \
             provided.)"
                .into(),
        ));
        };
    let weight_decay = args.float("weight_decay")?.unwrap_or(0.01);
    let style = args.required("lr_decay_style", args.str("lr_decay_style")?)?;
    let mut s = Mapping::new();
    let mut put = |k: &str, v: Y| {
        s.insert(k.into(), v);
    };
    put("name", "megatron.OptimizerParamScheduler".into());
    put("init_lr", num(args.float("lr_warmup_init")?.unwrap_or(0.0)));
    put("max_lr", one_or_each(&per_group(checkpoint, "max_lr"), lr, "max_lr")?);
    put("min_lr", one_or_each(&per_group(checkpoint, "min_lr"), min_lr, "min_lr")?);
    put("lr_warmup_steps", warmup.clone());
    put("lr_decay_steps", Y::from(lr_decay_steps));
    put("lr_decay_style", style.into());
    put("start_wd", num(args.float("start_weight_decay")?.unwrap_or(weight_decay)));
    put("end_wd", num(args.float("end_weight_decay")?.unwrap_or(weight_decay)));
    put("wd_incr_steps", Y::from(wd_incr_steps));
    put("wd_incr_style", args.str("weight_decay_incr_style")?.unwrap_or("constant").into());
    put("use_checkpoint_opt_param_scheduler", args.flag("use_checkpoint_opt_param_scheduler")?.into());
    put("override_opt_param_scheduler", args.flag("override_opt_param_scheduler")?.into());
    if let Some(w) = wsd {
        put("wsd_decay_steps", Y::from(w));
    }
    if style == "WSD" {
        put("lr_wsd_decay_style", args.str("lr_wsd_decay_style")?.unwrap_or("exponential").into());
    }
    let wd_mult = per_group(checkpoint, "wd_mult");
    if wd_mult.iter().any(|m| m.is_some_and(|m| m != 1.0)) {
        put("wd_mult", Y::Sequence(wd_mult.iter().map(|m| num(m.unwrap_or(1.0))).collect()));
    }
    put("increment", Y::from(gbs));

    let groups = per_group(checkpoint, "lr").len().max(1);
    let mut o = Mapping::new();
    let optimizer = args.str("optimizer")?.unwrap_or("adam");
    match optimizer {
        "adam" => {
            o.insert("name".into(), "adamw".into());
            let b1 = args.float("adam_beta1")?.unwrap_or(0.9);
            let b2 = args.float("adam_beta2")?.unwrap_or(0.999);
            o.insert("betas".into(), Y::Sequence(vec![num(b1), num(b2)]));
            o.insert("eps".into(), num(args.float("adam_eps")?.unwrap_or(1e-8)));
        }
        "sgd" => {
            o.insert("name".into(), "sgd".into());
            o.insert("momentum".into(), num(args.float("sgd_momentum")?.unwrap_or(0.9)));
        }
        other => {
            return Err(Error::Unsupported(format!(
                "`optimizer` is {other:?}: tch-lr builds Megatron-LM's adam (as AdamW) and sgd"
            )))
        }
    }
    o.insert("lr".into(), Y::Sequence(vec![num(lr); groups]));
    o.insert("weight_decay".into(), num(weight_decay));
    let mut c = Mapping::new();
    c.insert("optimizer".into(), Y::Mapping(o));
    c.insert("scheduler".into(), Y::Mapping(s));
    c.insert("interval".into(), "step".into());
    let warmup = match &warmup {
        Y::Number(n) => n.to_string(),
        _ => "?".into(),
    };
    let found = format!(
        "megatron.OptimizerParamScheduler, {style}, lr {lr}, warmup {warmup} of {lr_decay_steps} samples ({unit}), \
         {optimizer}"
    );
    Ok((Y::Mapping(c), found))
}
