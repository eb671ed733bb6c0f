//! A Hugging Face Trainer run as the config: its `training_args.bin` (the
//! `TrainingArguments` the run was given, a `torch.save` pickle read as a
//! record, never constructed) and its `trainer_state.json` (`max_steps`),
//! as transformers 5.24's `Trainer.create_scheduler` and `create_optimizer`
//! turn them into a schedule and an optimizer:
//!
//! - the schedule: `transformers.<lr_scheduler_type>` with
//!   `num_training_steps` the run's `max_steps`, `num_warmup_steps`
//!   `TrainingArguments.get_warmup_steps` of it (`warmup_steps` an int, or a
//!   float in [0, 1): `ceil(max_steps * warmup_steps)`), and
//!   `lr_scheduler_kwargs` beside them, stepped every optimizer step;
//! - the optimizer: the Trainer's two groups (weights with `weight_decay`,
//!   biases and norms without) at `learning_rate`; `optim` `adamw_torch` or
//!   `adamw_torch_fused` is AdamW with `(adam_beta1, adam_beta2)` and
//!   `adam_epsilon`, `sgd` is SGD with `optim_args`' `momentum`,
//!   `dampening` and `nesterov`.
//!
//! | the path | read as |
//! |---|---|
//! | `checkpoint-K/` (with `scheduler.pt`) | its `training_args.bin` and `trainer_state.json`, resumed from the folder at step K |
//! | a folder with `training_args.bin` and no `scheduler.pt` (the run's `output_dir`) | the arguments, from step 0 |
//! | `training_args.bin` itself | the arguments, from step 0 (`max_steps` from the file, else a `trainer_state.json` beside it) |
//!
//! Refused in one line, naming what: `reduce_lr_on_plateau` and `greedy` (they
//! step on a metric the files do not hold), an `optim` outside AdamW and SGD,
//! a key of `lr_scheduler_kwargs` the schedule does not take, a subclass of
//! the arguments other than `Seq2SeqTrainingArguments` (TRL's `SFTConfig`:
//! its trainers may build another schedule), a run that counted epochs with
//! no `trainer_state.json` to say how many steps they made.

use std::path::Path;

use serde_yaml::{Mapping, Value as Y};

use super::Recipe;
use crate::config::Config;
use crate::error::{Error, Result};
use crate::interop::Value;

/// The file the Trainer writes its arguments to.
const ARGS: &str = "training_args.bin";

/// The argument classes read (a subclass adding only fields the schedule
/// does not read).
const CLASSES: [&str; 2] =
    ["transformers.training_args.TrainingArguments", "transformers.training_args_seq2seq.Seq2SeqTrainingArguments"];

/// Whether `path` is a Trainer's: a folder holding `training_args.bin` or
/// `scheduler.pt` (a checkpoint), or a file named `training_args.bin`.
pub(super) fn is_trainer_run(path: &Path) -> bool {
    if path.is_dir() {
        path.join(ARGS).is_file() || crate::interop::hf::is_trainer_checkpoint(path)
    } else {
        path.file_name().is_some_and(|n| n == ARGS) && path.is_file()
    }
}

/// The run at `path` (see the module) as a [`Recipe`].
pub(super) fn load(path: &Path) -> Result<Recipe> {
    let (file, resume) = if path.is_dir() {
        let checkpoint = crate::interop::hf::is_trainer_checkpoint(path);
        if !path.join(ARGS).is_file() {
            return Err(Error::State(format!(
                "{}: no {ARGS} (the Trainer saves it in each checkpoint): give a tch-lr config and --resume-from this folder",
                path.display()
            )));
        }
        (path.join(ARGS), checkpoint.then(|| path.to_path_buf()))
    } else {
        (path.to_path_buf(), None)
    };
    let name = file.display().to_string();
    let args = read_args(&file)?;
    let dir = file.parent().map(Path::to_path_buf).unwrap_or_default();
    let max_steps = max_steps(&args, &dir, &name)?;
    let (config, found) = config(&args, max_steps, &name)?;
    let found = match &resume {
        Some(_) => format!("{found}, from {ARGS}"),
        None => format!("{found}, from {ARGS} (no scheduler.pt beside it: from step 0; give checkpoint-K/ to resume)"),
    };
    Ok(Recipe { kind: super::RecipeKind::Trainer, config, resume_from: resume, found: Some(found) })
}

/// `training_args.bin`: the record of one of [`CLASSES`].
fn read_args(file: &Path) -> Result<Value> {
    let value = crate::interop::torch_file::load(file).map_err(|e| match e {
        Error::TorchFile(m) if m.contains("is not on the allowlist") => Error::Unsupported(format!(
            "{}: {} (read: transformers' TrainingArguments, Seq2SeqTrainingArguments and what their fields hold \
             by default): give a tch-lr config and --resume-from the folder",
            file.display(),
            m.split(": ").find(|p| p.starts_with("global ")).unwrap_or(&m).split(" (").next().unwrap_or_default()
        )),
        e => e,
    })?;
    match &value {
        Value::Object { class, .. } if CLASSES.contains(class) => Ok(value),
        v => Err(Error::Unsupported(format!(
            "{}: a {}, not transformers' TrainingArguments: give a tch-lr config",
            file.display(),
            v.type_name()
        ))),
    }
}

/// The run's `max_steps`: `trainer_state.json`'s beside the file (what the
/// run computed, epochs and accumulation folded in), else the arguments'.
fn max_steps(args: &Value, dir: &Path, name: &str) -> Result<u64> {
    let state = dir.join("trainer_state.json");
    if state.is_file() {
        let text = std::fs::read(&state).map_err(|source| Error::Io { path: state.clone(), source })?;
        let json: serde_json::Value =
            serde_json::from_slice(&text).map_err(|e| Error::State(format!("{}: {e}", state.display())))?;
        return json.get("max_steps").and_then(serde_json::Value::as_u64).filter(|&m| m > 0).ok_or_else(|| {
            Error::State(format!("{}: no positive `max_steps` count: not the Trainer's", state.display()))
        });
    }
    match args.field("max_steps") {
        Some(Value::Int(m)) if *m > 0 => Ok(*m as u64),
        Some(Value::Int(_)) => Err(Error::Unsupported(format!(
            "{name}: max_steps is not set (the run counted num_train_epochs, and its steps per epoch are in \
             trainer_state.json, not here): give a checkpoint-K/ folder of the run"
        ))),
        _ => Err(missing(name, "max_steps", "an int")),
    }
}

fn missing(name: &str, field: &str, what: &str) -> Error {
    Error::Value(format!("{name}: TrainingArguments' `{field}` is missing or not {what}"))
}

/// A field that is a number.
fn number(args: &Value, field: &str, name: &str) -> Result<f64> {
    match args.field(field) {
        Some(Value::Float(f)) if f.is_finite() => Ok(*f),
        Some(Value::Int(i)) => Ok(*i as f64),
        _ => Err(missing(name, field, "a finite number")),
    }
}

/// An enum field's value (a record holding `value`), or a plain str.
fn choice<'a>(args: &'a Value, field: &str, name: &str) -> Result<&'a str> {
    let v = args.field(field);
    match v.and_then(|v| v.field("value")).or(v) {
        Some(Value::Str(s)) => Ok(s),
        _ => Err(missing(name, field, "a str")),
    }
}

/// `num_warmup_steps` as `TrainingArguments.get_warmup_steps(max_steps)`
/// computes it.
fn warmup_steps(args: &Value, max_steps: u64, name: &str) -> Result<u64> {
    let w = number(args, "warmup_steps", name)?;
    if w < 0.0 {
        return Err(Error::Value(format!(
            "{name}: warmup_steps {w} is negative (an int of steps, or a ratio in [0, 1))"
        )));
    }
    let steps = if w >= 1.0 { w.trunc() } else { (max_steps as f64 * w).ceil() };
    Ok(steps as u64)
}

/// The Trainer's schedules that need a metric, refused.
const ON_METRIC: [&str; 2] = ["reduce_lr_on_plateau", "greedy"];

/// The config the arguments describe, and the start of the one line.
fn config(args: &Value, max_steps: u64, name: &str) -> Result<(Config, String)> {
    let kind = choice(args, "lr_scheduler_type", name)?;
    if ON_METRIC.contains(&kind) {
        return Err(Error::Unsupported(format!(
            "{name}: lr_scheduler_type {kind} steps on the run's evaluation metric, which its files do not hold: \
             tch-lr traces the other SchedulerTypes"
        )));
    }
    let lr = number(args, "learning_rate", name)?;
    let warmup = warmup_steps(args, max_steps, name)?;
    let mut scheduler = Mapping::new();
    scheduler.insert("name".into(), Y::String(format!("transformers.{kind}")));
    scheduler.insert("num_warmup_steps".into(), warmup.into());
    scheduler.insert("num_training_steps".into(), max_steps.into());
    match args.field("lr_scheduler_kwargs") {
        None | Some(Value::None) => {}
        Some(Value::Dict(items)) => {
            for (k, v) in items {
                let Value::Str(k) = k else { return Err(missing(name, "lr_scheduler_kwargs", "a dict of str keys")) };
                if scheduler.contains_key(k.as_str()) {
                    return Err(Error::Unsupported(format!(
                        "{name}: lr_scheduler_kwargs sets `{k}`, which the Trainer passes itself"
                    )));
                }
                let v = crate::interop::state::to_yaml(v, &format!("lr_scheduler_kwargs.{k}"))?;
                scheduler.insert(Y::String(k.clone()), v);
            }
        }
        Some(_) => return Err(missing(name, "lr_scheduler_kwargs", "a dict")),
    }
    let weight_decay = number(args, "weight_decay", name)?;
    let mut optimizer = Mapping::new();
    let optim = choice(args, "optim", name)?;
    match optim {
        "adamw_torch" | "adamw_torch_fused" => {
            optimizer.insert("name".into(), "adamw".into());
            let betas = [number(args, "adam_beta1", name)?, number(args, "adam_beta2", name)?];
            optimizer.insert("betas".into(), Y::Sequence(betas.iter().map(|&b| b.into()).collect()));
            optimizer.insert("eps".into(), number(args, "adam_epsilon", name)?.into());
        }
        "sgd" => {
            optimizer.insert("name".into(), "sgd".into());
            for (k, v) in sgd_args(args, name)? {
                optimizer.insert(k.into(), v);
            }
        }
        other => {
            return Err(Error::Unsupported(format!(
                "{name}: optim {other} is not one tch-lr steps (adamw_torch, adamw_torch_fused, sgd)"
            )))
        }
    }
    optimizer.insert("lr".into(), lr.into());
    optimizer.insert("groups".into(), 2.into());
    optimizer.insert("weight_decay".into(), Y::Sequence(vec![weight_decay.into(), 0.0.into()]));
    let mut top = Mapping::new();
    top.insert("optimizer".into(), Y::Mapping(optimizer));
    top.insert("scheduler".into(), Y::Mapping(scheduler));
    top.insert("interval".into(), "step".into());
    let config = Config::from_value(Y::Mapping(top)).map_err(|e| e.context(format!("{name}'s TrainingArguments")))?;
    let found = format!("transformers.{kind}, {warmup} warmup steps of {max_steps}, lr {lr}");
    Ok((config, found))
}

/// `optim_args` for `sgd` (`"momentum=0.9,nesterov=True"`), as the Trainer
/// reads it: `momentum` and `dampening` floats, `nesterov` true if `true`,
/// `1` or `yes`; `weight_decay` there is overridden by the groups' own.
fn sgd_args(args: &Value, name: &str) -> Result<Vec<(&'static str, Y)>> {
    let text = match args.field("optim_args") {
        None | Some(Value::None) => return Ok(vec![]),
        Some(Value::Str(s)) => s.clone(),
        Some(_) => return Err(missing(name, "optim_args", "a str")),
    };
    let mut out = Vec::new();
    for pair in text.replace(' ', "").split(',').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        let bad = || Error::Value(format!("{name}: optim_args `{pair}`: momentum and dampening take a number"));
        match k {
            "momentum" => out.push(("momentum", Y::from(v.parse::<f64>().map_err(|_| bad())?))),
            "dampening" => out.push(("dampening", Y::from(v.parse::<f64>().map_err(|_| bad())?))),
            "nesterov" => out.push(("nesterov", Y::Bool(matches!(v.to_lowercase().as_str(), "true" | "1" | "yes")))),
            _ => {}
        }
    }
    Ok(out)
}
