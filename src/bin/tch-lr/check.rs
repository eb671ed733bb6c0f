//! `tch-lr check`: the config validated, its schedule run over its horizon,
//! a run plan checked; one line of summary (one per config, given several).

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use tch_lr::config::{Config, Interval, SchedulerConfig};
use tch_lr::plan::RunPlan;
use tch_lr::trace::{horizon, trace_with, TraceOptions, DEFAULT_HORIZON};
use tch_lr::Error;

use super::MAX_STEPS;

/// `check --steps`: `step()` calls.
fn steps(s: &str) -> Result<usize, String> {
    super::count(s, 1, " (a number of step() calls)")
}

/// `check --epochs`: the run plan's epochs.
fn plan_epochs(s: &str) -> Result<usize, String> {
    super::count(s, 1, " (a number of epochs)")
}

/// `check --steps-per-epoch`: the run plan's optimizer updates per epoch.
fn steps_per_epoch(s: &str) -> Result<usize, String> {
    super::count(s, 1, " (a number of optimizer updates, batches, per epoch)")
}

/// `tch-lr check`'s flags.
#[derive(clap::Args)]
pub struct Args {
    /// The config: a tch-lr YAML config, DeepSpeed's JSON config, or a run's own files (a
    /// DeepSpeed checkpoint folder, ...: see tch_lr::recipe). Several (`configs/*.yaml`): each
    /// is checked with the same flags, one line each (stdout when it passes, an `error:` line
    /// when it fails), and the status is 1 when any fails.
    #[arg(required = true, value_name = "CONFIG")]
    config: Vec<PathBuf>,
    #[command(flatten)]
    recipe: super::RecipeArgs,
    /// The number of step() calls to run (1 to 10000000); `trace --steps N+1` prints them.
    #[arg(long, value_name = "N", value_parser = steps, allow_hyphen_values = true)]
    steps: Option<usize>,
    /// ReduceLROnPlateau's metric, one number per line: the k-th value goes to the k-th step
    /// (without --steps, one step per value).
    #[arg(long, value_name = "FILE")]
    metrics: Option<PathBuf>,
    /// The run plan's epochs (1 to 10000000), with --steps-per-epoch: checks the config
    /// against that run.
    #[arg(long, value_name = "N", value_parser = plan_epochs, allow_hyphen_values = true,
          requires = "steps_per_epoch")]
    epochs: Option<usize>,
    /// The run plan's optimizer updates (batches) per epoch (1 to 10000000), with --epochs.
    #[arg(long, value_name = "M", value_parser = steps_per_epoch, allow_hyphen_values = true,
          requires = "epochs")]
    steps_per_epoch: Option<usize>,
}

pub fn run(args: Args) -> Result<()> {
    if let [config] = &args.config[..] {
        return run_one(config, &args);
    }
    let mut failed = 0;
    for config in &args.config {
        if let Err(e) = run_one(config, &args) {
            tch_lr::cli::print_error(&e);
            failed += 1;
        }
    }
    if failed > 0 {
        bail!("{failed} of {} configs fail the check (each said above)", args.config.len());
    }
    Ok(())
}

/// Checks one config with `args`' flags; prints its line.
fn run_one(config: &Path, args: &Args) -> Result<()> {
    let at = || config.display().to_string();
    let cfg = super::read_config(config, &args.recipe)?.config;
    let groups = cfg.validate().with_context(at)?;
    let plan =
        args.epochs.zip(args.steps_per_epoch).map(|(e, m)| RunPlan { epochs: e as u64, steps_per_epoch: m as u64 });
    if let Some(plan) = &plan {
        for warning in tch_lr::plan::check(&cfg, plan).with_context(at)? {
            eprintln!("note: {warning}");
        }
    }
    let metrics = super::read_metrics(args.metrics.as_deref())?;
    let plan_steps = plan.map(|p| p.scheduler_steps(cfg.interval));
    let mut ran = run_horizon(&cfg, args.steps, metrics, plan_steps).with_context(at)?;
    if let (Some(p), Some(k)) = (plan, plan_steps) {
        let s = |n: u64| if n == 1 { "" } else { "s" };
        let (e, m) = (p.epochs, p.steps_per_epoch);
        ran.push_str(&format!("; plan checked: {e} epoch{} of {m} update{}, {k} scheduler step{}", s(e), s(m), s(k)));
    }
    let n = groups.len();
    println!(
        "{}: valid: {} on {} with {n} parameter group{}, stepped once per {}; {ran}",
        config.display(),
        describe(&cfg),
        groups.kind().name(),
        if n == 1 { "" } else { "s" },
        if cfg.interval == Interval::Step { "batch" } else { "epoch" },
    );
    Ok(())
}

/// `check`'s run: steps the schedule (on the optimizer `trace` builds) over
/// `--steps`, else the run plan's scheduler steps (`plan_steps`), else the
/// config's [`horizon`], else [`DEFAULT_HORIZON`] steps; says what it ran,
/// or fails naming the step (and the group, for a value that is not finite).
fn run_horizon(
    cfg: &Config,
    steps: Option<usize>,
    metrics: Option<Vec<f64>>,
    plan_steps: Option<u64>,
) -> Result<String> {
    // The run plan's scheduler steps, else the config's own length.
    let length = plan_steps.map(|k| (k, "the plan's scheduler steps")).or(horizon(cfg).map(|h| (h, "its length")));
    let (n, why) = match (steps, &metrics) {
        (Some(n), _) => (n, "--steps".to_string()),
        (None, Some(m)) if cfg.takes_metric() => (m.len(), "one per value in --metrics".into()),
        (None, None) if cfg.takes_metric() => {
            return Ok("steps on a metric: constructed only (give --metrics FILE to step it)".into())
        }
        (None, _) => match length {
            Some((h, what)) if h > MAX_STEPS as u64 => (MAX_STEPS, format!("the first {MAX_STEPS} of {what} {h}")),
            Some((h, what)) => (h as usize, what.into()),
            None => (DEFAULT_HORIZON as usize, "the default: it has no length of its own".into()),
        },
    };
    if let Some(m) = metrics.as_ref().filter(|m| m.len() < n && cfg.takes_metric()) {
        bail!("--steps {n} needs {n} metrics, one per step: --metrics gives {}", m.len());
    }
    let opts = TraceOptions { rows: n + 1, metrics, ..Default::default() };
    let mut last_row = None;
    trace_with(cfg, &opts, |r| last_row = Some(r.row)).map_err(|e| match last_row {
        // The error came with the step after the last row.
        Some(row) => {
            let at = format!("the schedule fails at step {} of {n}", row + 1);
            match e {
                Error::NonFinite { what, group, value } => {
                    anyhow::anyhow!("{at}: {what} of group {group} would be {value}")
                }
                e => anyhow::Error::new(e).context(at),
            }
        }
        None => e.into(),
    })?;
    Ok(format!("{n} step{} run without error ({why})", if n == 1 { "" } else { "s" }))
}

/// `SequentialLR(LinearLR, CosineAnnealingLR)`, and `; weight_decay: StepLR`
/// for each other hyper-parameter scheduled.
fn describe(cfg: &Config) -> String {
    fn name(s: &SchedulerConfig) -> String {
        match s.children() {
            [] => s.name().to_string(),
            children => format!("{}({})", s.name(), children.iter().map(name).collect::<Vec<_>>().join(", ")),
        }
    }
    let mut out = name(&cfg.scheduler);
    for (target, _, s) in cfg.hyper_sections() {
        out.push_str(&format!("; {}: {}", target.name(), name(s)));
    }
    out
}
