//! Tracing a config: the LR, momentum and (when scheduled) weight decay of
//! every group after construction and after each `step()`, with a real tch
//! optimizer (one tiny parameter per group). This is what `tch-lr trace`
//! prints and `tch-lr plot` draws.

use std::path::PathBuf;

use crate::config::{Config, OptimizerConfig};
use crate::error::{Error, Result};
use crate::groups::{OptimizerKind, PerGroup};
use crate::scheduler::Scheduler;
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
    /// Whether a `weight_decay_scheduler:` drives the weight decay.
    pub schedules_weight_decay: bool,
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

/// The optimizer section a trace uses: the config's, or one SGD group with LR 0.1.
pub fn optimizer_or_default(config: &Config) -> OptimizerConfig {
    config.optimizer.clone().unwrap_or(OptimizerConfig {
        name: OptimizerKind::Sgd,
        lr: PerGroup::All(0.1),
        groups: None,
        momentum: None,
        betas: None,
        weight_decay: None,
        dampening: None,
        nesterov: None,
        eps: None,
        alpha: None,
        amsgrad: None,
        centered: None,
    })
}

fn build(config: &Config, optimizer: &OptimizerConfig) -> Result<Scheduler<Box<dyn Schedule>>> {
    let vs = tiny_var_store(optimizer.lrs()?.len());
    let optim = optimizer.build(&vs)?;
    let config = Config { optimizer: Some(optimizer.clone()), ..config.clone() };
    config.build(optim)
}

/// Traces `config`, calling `on_row` with each [`Row`] as it is made, so that
/// a caller can print rows before an error stops the run.
///
/// # Errors
/// The config's build errors, a step's error (PyTorch's, such as OneCycleLR
/// stepped past `total_steps`), a missing metric, and checkpoint I/O errors.
pub fn trace_with(config: &Config, opts: &TraceOptions, mut on_row: impl FnMut(Row<'_>)) -> Result<()> {
    let optimizer = optimizer_or_default(config);
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
    for row in 0..opts.rows {
        if row > 0 {
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
    Ok(())
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
    let mut t = Trace {
        cycles_momentum: config.schedule()?.cycles_momentum() || config.momentum_scheduler.is_some(),
        schedules_weight_decay: config.weight_decay_scheduler.is_some(),
        ..Trace::default()
    };
    trace_with(config, opts, |r| {
        t.lr.push(r.lr.to_vec());
        t.momentum.push(r.momentum.to_vec());
        t.weight_decay.push(r.weight_decay.to_vec());
    })?;
    Ok(t)
}
