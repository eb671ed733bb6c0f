//! Tracing a config: the LR, momentum and (when scheduled) weight decay of
//! every group after construction and after each `step()`, with a real tch
//! optimizer (one tiny parameter per group). This is what `tch-lr trace`
//! prints and `tch-lr plot` draws, and what `tch-lr check` runs over the
//! schedule's own length ([`horizon`]).

use std::path::{Path, PathBuf};

use crate::config::{Config, OptimizerConfig, SchedulerConfig};
use crate::error::{Error, Result};
use crate::interop::hf::TrainerCheckpoint;
use crate::scheduler::{Scheduler, SchedulerState};
use crate::schedulers::Schedule;
use crate::support::tiny_var_store;

/// What to trace.
#[derive(Clone, Debug, Default)]
pub struct TraceOptions {
    /// The number of rows: row 0 after construction, row k after k steps.
    pub rows: usize,
    /// The metric for each step of `ReduceLROnPlateau` (the k-th value goes to the k-th step).
    pub metrics: Option<Vec<f64>>,
    /// After this row, save the state, drop the scheduler and its optimizer,
    /// build both afresh, load the state and go on (the output must not change).
    pub checkpoint_at: Option<usize>,
    /// Start from PyTorch's `torch.save({"optimizer": ..., "scheduler": ...})` of the same
    /// config after k steps, or from a Hugging Face Trainer checkpoint folder
    /// ([`crate::interop::hf`]): the rows are k.. (row k is the state as loaded).
    pub resume_from: Option<PathBuf>,
    /// The optimizer updates per epoch, for a timm checkpoint (which counts
    /// epochs) resumed by a schedule that steps per update (`interval: step`):
    /// timm's train.py resumes it at `(epoch + 1) * updates_per_epoch`.
    pub updates_per_epoch: Option<u64>,
    /// After the last row, write `{"optimizer": ..., "scheduler": ...}` for PyTorch's
    /// `load_state_dict` on the same config ([`crate::interop::state::to_pytorch`]).
    pub save_pytorch: Option<PathBuf>,
}

/// The traced rows: `lr[row][group]`, `momentum[row][group]` (beta1 for Adam
/// and AdamW) and `weight_decay[row][group]`.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Trace {
    /// Each group's LR, per row.
    pub lr: Vec<Vec<f64>>,
    /// Each group's momentum (or beta1), per row.
    pub momentum: Vec<Vec<f64>>,
    /// Each group's weight decay, per row.
    pub weight_decay: Vec<Vec<f64>>,
    /// Whether momentum changes: the scheduler cycles it, or a
    /// `momentum_scheduler:` drives it.
    pub cycles_momentum: bool,
    /// Whether the weight decay changes: a `weight_decay_scheduler:` drives
    /// it, or the scheduler drives it itself (Megatron's).
    pub schedules_weight_decay: bool,
    /// What the trace read besides the config ([`trace_with`]'s notes).
    pub notes: Vec<String>,
}

/// One traced row: each group's values after construction (row 0) or a step.
#[derive(Clone, Copy, Debug)]
pub struct Row<'a> {
    /// The row: 0 after construction, k after k steps.
    pub row: usize,
    /// Each group's LR.
    pub lr: &'a [f64],
    /// Each group's momentum (or beta1).
    pub momentum: &'a [f64],
    /// Each group's weight decay.
    pub weight_decay: &'a [f64],
}

fn build(config: &Config, optimizer: &OptimizerConfig) -> Result<Scheduler<Box<dyn Schedule>>> {
    let vs = tiny_var_store(optimizer.lrs()?.len());
    let optim = optimizer.build(&vs, crate::optim::Backend::Tch)?;
    let config = Config { optimizer: Some(optimizer.clone()), ..config.clone() };
    config.build(optim)
}

/// Traces `config`, calling `on_row` with each [`Row`] as it is made, so that
/// a caller can print rows before an error stops the run.
///
/// Returns what it read besides the config, one line each: a Hugging Face
/// Trainer checkpoint folder's step and the options its import dropped.
///
/// # Errors
/// The config's build errors, a step's error (PyTorch's, such as OneCycleLR
/// stepped past `total_steps`), a missing metric, and checkpoint I/O errors.
pub fn trace_with(config: &Config, opts: &TraceOptions, mut on_row: impl FnMut(Row<'_>)) -> Result<Vec<String>> {
    let optimizer = config.optimizer_or_default();
    let mut sched = build(config, &optimizer)?;
    let takes_metric = sched.takes_metric();
    match (&opts.metrics, takes_metric) {
        (None, true) if opts.rows > 1 => {
            return Err(Error::Unsupported(
                "ReduceLROnPlateau steps on a metric: give one value per step (--metrics FILE)".into(),
            ))
        }
        (Some(_), false) => {
            return Err(Error::Unsupported(format!(
                "{} takes no metric: --metrics is for ReduceLROnPlateau",
                sched.schedule().name()
            )))
        }
        _ => {}
    }
    let mut first = 0;
    // The reference's warnings at construction (DeepSpeed's), and a beta2 a
    // schedule sets, which no column shows.
    let mut notes = sched.schedule().notes();
    if let Some(b2) = sched.groups().iter().find_map(|g| g.beta2) {
        notes.push(format!(
            "{} sets betas[1] = {b2} (not a column): the owned optimizer applies it, tch's nn::Optimizer cannot",
            sched.schedule().name()
        ));
    }
    if let Some(path) = &opts.resume_from {
        let state = resume_state(config, &sched, path, opts.updates_per_epoch, &mut notes)
            .map_err(|e| e.context(path.display()))?;
        sched.load_state(state)?;
        first = usize::try_from(sched.last_epoch()).unwrap_or(usize::MAX);
        if first >= opts.rows {
            return Err(Error::Unsupported(format!(
                "{} was saved after {first} steps: --steps {} prints rows 0 to {}, none after it",
                path.display(),
                opts.rows,
                opts.rows.saturating_sub(1)
            )));
        }
    }
    for row in first..opts.rows {
        if row > first {
            let metric = match &opts.metrics {
                Some(m) => Some(*m.get(row - 1).ok_or_else(|| {
                    Error::Unsupported(format!("step {row} needs a metric, but only {} were given", m.len()))
                })?),
                None => None,
            };
            sched.step_with(metric)?;
        }
        let g = sched.groups();
        on_row(Row { row, lr: &g.lrs(), momentum: &g.momenta(), weight_decay: &g.weight_decays() });
        if opts.checkpoint_at == Some(row) {
            let path = checkpoint_path();
            let saved = sched.save(&path);
            drop(sched);
            saved?;
            sched = build(config, &optimizer)?;
            let loaded = sched.load(&path);
            let _ = std::fs::remove_file(&path);
            loaded?;
        }
    }
    if let Some(path) = &opts.save_pytorch {
        crate::interop::torch_file::save(path, &crate::interop::state::to_pytorch(config, &sched)?)?;
    }
    Ok(notes)
}

/// The state of PyTorch's file, or of a Hugging Face Trainer checkpoint
/// folder (held to the learning rates it logged), a DeepSpeed, Megatron-LM
/// or timm checkpoint, at `path`; what it is, into `notes`.
fn resume_state(
    config: &Config,
    sched: &Scheduler<Box<dyn Schedule>>,
    path: &Path,
    updates_per_epoch: Option<u64>,
    notes: &mut Vec<String>,
) -> Result<SchedulerState> {
    if crate::interop::deepspeed::is_deepspeed_checkpoint(path) {
        let checkpoint = crate::interop::deepspeed::load(path)?;
        notes.push(format!(
            "{}: a DeepSpeed {}checkpoint at global step {} ({} skipped: no scheduler step on them)",
            checkpoint.file.display(),
            checkpoint.ds_version.as_deref().map(|v| format!("{v} ")).unwrap_or_default(),
            checkpoint.global_steps,
            checkpoint.skipped_steps
        ));
        if checkpoint.has_optimizer() {
            return crate::interop::state::from_pytorch(config, sched, &checkpoint.state);
        }
        notes.push("its optimizer is in ZeRO's files (not read): the groups' values follow from the schedule's".into());
        return crate::interop::state::from_scheduler_alone(config, sched, &checkpoint.state);
    }
    let file = if crate::interop::megatron::is_checkpoint(path) {
        let checkpoint = crate::interop::megatron::load(path)?;
        let at = checkpoint.iteration.map_or_else(String::new, |i| format!(" at iteration {i}"));
        let key = if checkpoint.legacy_key { "lr_scheduler (legacy)" } else { "opt_param_scheduler" };
        notes.push(format!("{}: a Megatron-LM checkpoint{at}, its {key}", checkpoint.file.display()));
        checkpoint.state
    } else if crate::interop::hf::is_trainer_checkpoint(path) {
        let checkpoint = crate::interop::hf::load(path)?;
        notes.push(format!(
            "{}: a Hugging Face Trainer checkpoint at step {} of max_steps {}",
            path.display(),
            checkpoint.global_step,
            checkpoint.max_steps
        ));
        notes.extend(checkpoint.dropped.iter().map(|d| format!("dropped {d}: the schedule does not depend on it")));
        let (theirs, ours) = (checkpoint.param_groups(), sched.groups().len());
        if theirs != ours {
            return Err(Error::OptimizerState(format!(
                "the file's optimizer has {theirs} parameter group(s), this one has {ours} (the Trainer's optimizer \
                 has two, with and without weight decay: write `groups: 2, weight_decay: [WEIGHT_DECAY, 0.0]`)"
            )));
        }
        check_logged_lr(config, &checkpoint)?;
        checkpoint.state
    } else {
        let file = crate::interop::torch_file::load(path)?;
        if crate::interop::timm::is_checkpoint(&file) {
            return timm_resume(config, sched, &file, updates_per_epoch, notes);
        }
        file
    };
    crate::interop::state::from_pytorch(config, sched, &file)
}

/// The state timm's train.py resumes a checkpoint with (which saves no
/// scheduler): a timm schedule on the checkpoint's base LRs (its groups'
/// `initial_lr`), stepped to `epoch + 1` (times the updates per epoch for a
/// schedule on updates).
fn timm_resume(
    config: &Config,
    sched: &Scheduler<Box<dyn Schedule>>,
    file: &crate::interop::Value,
    updates_per_epoch: Option<u64>,
    notes: &mut Vec<String>,
) -> Result<SchedulerState> {
    let checkpoint = crate::interop::timm::read(file)?;
    let name = sched.schedule().name();
    if !name.starts_with("timm.") {
        return Err(Error::Unsupported(format!(
            "a timm checkpoint saves its epoch, not a scheduler: it continues a timm schedule (timm's args.yaml or a \
             timm.* config), not {name}"
        )));
    }
    let start = checkpoint.epoch.saturating_add(1);
    let (t, call) = if config.interval == crate::config::Interval::Step {
        let u = updates_per_epoch.ok_or_else(|| {
            Error::Unsupported(format!(
                "the checkpoint counts epochs (epoch {}), the schedule steps per update (interval: step): give \
                 --updates-per-epoch U",
                checkpoint.epoch
            ))
        })?;
        let t = start.saturating_mul(i64::try_from(u).unwrap_or(i64::MAX));
        (t, format!("step_update({t}), {u} updates an epoch"))
    } else {
        (start, format!("step({start})"))
    };
    let ours = sched.groups().len();
    if checkpoint.base_lrs.len() != ours {
        return Err(Error::OptimizerState(format!(
            "the checkpoint's optimizer has {} parameter group(s), this one has {ours} (timm's has two with weight \
             decay: biases and norms without it, then the rest)",
            checkpoint.base_lrs.len()
        )));
    }
    let optimizer = config.optimizer_or_default();
    let arch = checkpoint.arch.as_deref().map(|a| format!(" of {a}")).unwrap_or_default();
    notes.push(format!(
        "a timm checkpoint{arch} after epoch {}: train.py resumes at epoch {start} with {call}",
        checkpoint.epoch
    ));
    let lrs = optimizer.lrs()?;
    if lrs != checkpoint.base_lrs {
        notes.push(format!(
            "its groups' initial_lr {:?} are not the config's lr {:?} (a run's LR from lr_base: its --world-size?): \
             timm goes on from the checkpoint's",
            checkpoint.base_lrs, lrs
        ));
    }
    let resumed = OptimizerConfig { lr: crate::groups::PerGroup::Each(checkpoint.base_lrs), groups: None, ..optimizer };
    let mut s = build(config, &resumed)?;
    s.step_to(t as f64)?;
    s.state()
}

/// Checks that `config` gives the learning rates the Trainer logged up to
/// the checkpoint (the first group's, within 1e-12 relative): the config
/// describes the run. transformers 5 logs at step `s` the learning rate that
/// step ran with (row `s - 1` of a trace), earlier versions the one after it
/// (row `s`): either reading is accepted when every logged rate fits it.
/// Nothing to check for a schedule that steps on a metric.
///
/// # Errors
/// [`Error::State`] in one line naming the first step where the config's
/// learning rate is not the logged one.
fn check_logged_lr(config: &Config, checkpoint: &TrainerCheckpoint) -> Result<()> {
    let logged: Vec<(u64, f64)> =
        checkpoint.logged_lr.iter().copied().filter(|(s, _)| *s <= checkpoint.global_step).collect();
    let Some(&(last, _)) = logged.last() else { return Ok(()) };
    if config.takes_metric() {
        return Ok(());
    }
    let rows = usize::try_from(last)
        .map_err(|_| Error::State("a logged step beyond this machine's counts".into()))?
        .saturating_add(1);
    let opts = TraceOptions { rows, ..Default::default() };
    let mut lrs = Vec::with_capacity(rows);
    trace_with(config, &opts, |row| lrs.push(row.lr[0]))?;
    // The first logged step whose rate is not row `step - before` (1: the
    // rate before the step, 0: after it).
    let first_miss = |before: u64| {
        logged.iter().copied().find(|&(step, want)| {
            let got = step.checked_sub(before).map(|r| lrs[r as usize]);
            !got.is_some_and(|got| (got - want).abs() <= 1e-12 * want.abs())
        })
    };
    let Some((step, want)) = first_miss(1) else { return Ok(()) };
    if first_miss(0).is_none() {
        return Ok(());
    }
    let got = step.checked_sub(1).map_or(f64::NAN, |r| lrs[r as usize]);
    Err(Error::State(format!(
        "the config does not describe this run: step {step} ran with learning_rate {want} (its log), the config \
         gives {got} (its schedule, warmup, kwargs and lr must be the run's lr_scheduler_type, warmup_steps, \
         lr_scheduler_kwargs and learning_rate)"
    )))
}

fn checkpoint_path() -> PathBuf {
    use std::sync::atomic::{AtomicUsize, Ordering};
    static N: AtomicUsize = AtomicUsize::new(0);
    std::env::temp_dir().join(format!("tch-lr-trace-{}-{}.yaml", std::process::id(), N.fetch_add(1, Ordering::Relaxed)))
}

/// Traces `config` into memory.
///
/// ```
/// use tch_lr::config::Config;
/// use tch_lr::trace::{trace, TraceOptions};
///
/// let config = Config::from_yaml("optimizer: {name: sgd, lr: 0.1}\nscheduler: {name: StepLR, step_size: 2}")?;
/// let t = trace(&config, &TraceOptions { rows: 4, ..Default::default() })?;
/// assert_eq!(t.lr.len(), 4);
/// assert!((t.lr[2][0] - 0.01).abs() < 1e-12);
/// # Ok::<(), tch_lr::Error>(())
/// ```
///
/// # Errors
/// As [`trace_with`].
pub fn trace(config: &Config, opts: &TraceOptions) -> Result<Trace> {
    let main = config.schedule()?;
    let mut t = Trace {
        cycles_momentum: main.cycles_momentum() || config.momentum_scheduler.is_some(),
        schedules_weight_decay: config.schedules_weight_decay(),
        ..Trace::default()
    };
    let notes = trace_with(config, opts, |r| {
        t.lr.push(r.lr.to_vec());
        t.momentum.push(r.momentum.to_vec());
        t.weight_decay.push(r.weight_decay.to_vec());
    })?;
    Ok(Trace { notes, ..t })
}

/// The number of `step()` calls a schedule is made for, where its arguments
/// say (`None` where they do not: `StepLR`, `ExponentialLR`, `LambdaLR`,
/// `CyclicLR`, `CosineAnnealingWarmRestarts`, `ReduceLROnPlateau`, ...):
/// - `OneCycleLR`: `total_steps`, or `epochs * steps_per_epoch` (one more
///   step raises in PyTorch);
/// - `CosineAnnealingLR`: `T_max`; `PolynomialLR`: `total_iters` (not
///   `LinearLR`'s and `ConstantLR`'s: a warmup's length, not the run's);
/// - `MultiStepLR`: the last milestone, plus one step at the last LR;
/// - `SequentialLR`: the last milestone plus the last schedule's length
///   ([`DEFAULT_HORIZON`] when it has none); `ChainedScheduler`: the longest
///   of its schedules';
/// - transformers' schedules: `num_training_steps` (`WarmupStableDecay`: its
///   three phases when it is not given);
/// - timm's: the warmup (when before the cycles) and every cycle
///   (`t_initial`, `cycle_mul`, `cycle_limit`: timm's `get_cycle_length`);
///   `MultiStepLRScheduler`: the last `decay_t` plus one; `WSDLRScheduler`:
///   `warmup_t + t_initial`;
/// - Megatron's `OptimizerParamScheduler`: the steps of `increment` until
///   `lr_decay_steps` and `wd_incr_steps` (Megatron-LM's `train_iters`).
///
/// ```
/// use tch_lr::config::Config;
///
/// let config = Config::from_yaml("scheduler: {name: OneCycleLR, max_lr: 0.1, epochs: 3, steps_per_epoch: 10}")?;
/// assert_eq!(tch_lr::trace::length(&config.scheduler), Some(30));
/// # Ok::<(), tch_lr::Error>(())
/// ```
pub fn length(s: &SchedulerConfig) -> Option<u64> {
    use SchedulerConfig as S;
    let n = |v: i64| u64::try_from(v).unwrap_or(0);
    let sum = |a: i64, b: i64| n(a).saturating_add(n(b));
    // timm's get_cycle_length(): t_initial * (cycle_mul^cycle_limit - 1) / (cycle_mul - 1).
    let cycles = |t_initial: i64, cycle_mul: f64, cycle_limit: i64, warmup: i64| {
        let (t, k) = (n(t_initial) as f64, cycle_limit.max(1) as f64);
        let len = if cycle_mul == 1.0 { t * k } else { (-t * (cycle_mul.powf(k) - 1.0) / (1.0 - cycle_mul)).floor() };
        let len = if len.is_finite() && len >= 0.0 { (len as u64).min(u64::MAX / 2) } else { u64::MAX / 2 };
        len.saturating_add(n(warmup))
    };
    match s {
        S::OneCycleLR(c) => c.total_steps.or(c.epochs.zip(c.steps_per_epoch).map(|(e, k)| e.saturating_mul(k))).map(n),
        S::CosineAnnealingLR(c) => Some(n(c.T_max)),
        S::PolynomialLR(c) => Some(n(c.total_iters)),
        S::MultiStepLR(c) => c.milestones.iter().max().map(|&m| sum(m, 1)),
        S::SequentialLR(c) => {
            let last = c.milestones.iter().max().copied().unwrap_or(0);
            let tail = c.schedulers.last().and_then(length).unwrap_or(DEFAULT_HORIZON);
            Some(n(last).saturating_add(tail))
        }
        S::ChainedScheduler(c) => c.schedulers.iter().filter_map(length).max(),
        S::TransformersLinear(c) => c.num_training_steps.map(n),
        S::TransformersCosine(c) => c.num_training_steps.map(n),
        S::TransformersCosineWithRestarts(c) => c.num_training_steps.map(n),
        S::TransformersPolynomial(c) => c.num_training_steps.map(n),
        S::TransformersCosineWithMinLr(c) => c.num_training_steps.map(n),
        S::TransformersCosineWarmupWithMinLr(c) => c.num_training_steps.map(n),
        S::TransformersWarmupStableDecay(c) => c.num_training_steps.map(n).or_else(|| {
            let stable = c.num_stable_steps?;
            Some(sum(c.num_warmup_steps.unwrap_or(0), stable).saturating_add(n(c.num_decay_steps)))
        }),
        S::TimmCosineLRScheduler(c) => Some(cycles(
            c.t_initial,
            c.cycles.cycle_mul,
            c.cycles.cycle_limit,
            if c.warmup_prefix { c.warmup.warmup_t } else { 0 },
        )),
        S::TimmTanhLRScheduler(c) => Some(cycles(
            c.t_initial,
            c.cycles.cycle_mul,
            c.cycles.cycle_limit,
            if c.warmup_prefix { c.warmup.warmup_t } else { 0 },
        )),
        S::TimmPolyLRScheduler(c) => Some(cycles(
            c.t_initial,
            c.cycles.cycle_mul,
            c.cycles.cycle_limit,
            if c.warmup_prefix { c.warmup.warmup_t } else { 0 },
        )),
        S::TimmMultiStepLRScheduler(c) => c
            .decay_t
            .iter()
            .max()
            .map(|&m| sum(m, 1).saturating_add(if c.warmup_prefix { n(c.warmup.warmup_t) } else { 0 })),
        S::TimmWSDLRScheduler(c) => Some(sum(c.warmup.warmup_t, c.t_initial)),
        // Megatron: the steps (of `increment` samples) until the LR and the weight decay end.
        S::MegatronOptimizerParamScheduler(c) => {
            let end = n(c.lr_decay_steps).max(n(c.wd_incr_steps));
            Some(end.div_ceil(n(c.increment).max(1)))
        }
        _ => None,
    }
}

/// How many steps `tch-lr check` runs when a config has no length of its
/// own ([`horizon`] is `None`) and no `--steps` is given.
pub const DEFAULT_HORIZON: u64 = 1000;

/// The config's own length: the longest [`length`] of its `scheduler:` and
/// its weight decay and momentum schedules (they step together), `None` when
/// none of them has one.
pub fn horizon(config: &Config) -> Option<u64> {
    std::iter::once(&config.scheduler).chain(config.hyper_sections().map(|(_, _, s)| s)).filter_map(length).max()
}
