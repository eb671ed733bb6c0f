//! `tch-lr`: see what a scheduler config will do before a long run.
//!
//! ```text
//! tch-lr trace CONFIG --steps N [--metrics FILE] [--format csv|json] [--checkpoint-at K]
//!     [--resume-from FILE] [--save-pytorch FILE]
//! tch-lr plot  CONFIG --steps N -o FILE.png|FILE.svg [--metrics FILE]
//! tch-lr check CONFIG [--steps N] [--metrics FILE] [--epochs N --steps-per-epoch M]
//! tch-lr list  [--format text|json]
//! ```
//!
//! Every numeric flag is checked where it is parsed (a bad value is clap's
//! usage error, exit status 2, naming the flag and saying why); a flag that
//! contradicts another is refused the same way.

use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{bail, Context, Result};
use clap::error::ErrorKind;
use clap::{CommandFactory, Parser, Subcommand, ValueEnum};
use tch_lr::config::Config;
use tch_lr::plan::RunPlan;
use tch_lr::plot::{Chart, Series};
use tch_lr::trace::{horizon, trace, trace_with, TraceOptions, DEFAULT_HORIZON};
use tch_lr::Error;

/// The most rows `trace` and `plot` make, and steps `check` runs.
const MAX_STEPS: usize = 10_000_000;

/// A whole number in `min..=MAX_STEPS` for a flag's value parser; the message
/// (after clap's `invalid value 'V' for '--flag <N>'`) says why it is refused.
fn count(s: &str, min: usize, why: &str) -> Result<usize, String> {
    let t = s.trim();
    match t.parse::<i128>() {
        Ok(v) if v < min as i128 => Err(format!("must be at least {min}{why}")),
        Ok(v) if v > MAX_STEPS as i128 => Err(format!("must be at most {MAX_STEPS}")),
        Ok(v) => Ok(v as usize),
        Err(_) if !t.is_empty() && t.trim_start_matches(['-', '+']).bytes().all(|b| b.is_ascii_digit()) => {
            Err(format!("must be at most {MAX_STEPS}"))
        }
        Err(_) if t.parse::<f64>().is_ok() => Err("not a whole number".into()),
        Err(_) => Err("not a number".into()),
    }
}

/// `trace --steps`, `plot --steps`: rows, row 0 included.
fn rows(s: &str) -> Result<usize, String> {
    count(s, 1, " (row 0 is the state after construction)")
}

/// `check --steps`: `step()` calls.
fn steps(s: &str) -> Result<usize, String> {
    count(s, 1, " (a number of step() calls)")
}

/// `check --epochs`: the run plan's epochs.
fn plan_epochs(s: &str) -> Result<usize, String> {
    count(s, 1, " (a number of epochs)")
}

/// `check --steps-per-epoch`: the run plan's optimizer updates per epoch.
fn steps_per_epoch(s: &str) -> Result<usize, String> {
    count(s, 1, " (a number of optimizer updates, batches, per epoch)")
}

/// `trace --checkpoint-at`: a row.
fn row(s: &str) -> Result<usize, String> {
    count(s, 0, "")
}

/// PyTorch's learning-rate schedulers for tch: trace, plot and check a YAML config.
#[derive(Parser)]
#[command(name = "tch-lr", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Print the LR and momentum (and weight decay, when scheduled) of every group after
    /// construction (row 0) and after each step.
    ///
    /// Builds the optimizer the config describes (a real tch optimizer with one tiny parameter
    /// per group; one SGD group with LR 0.1 when the config has no `optimizer:` section) and
    /// steps the scheduler. A step PyTorch would refuse (OneCycleLR past total_steps, ...)
    /// prints PyTorch's message on stderr and exits with status 1, after the rows before it.
    Trace {
        /// The YAML config.
        config: PathBuf,
        /// The number of rows to print: row 0, then one row per step (1 to 10000000).
        #[arg(long, value_name = "N", value_parser = rows, allow_hyphen_values = true)]
        steps: usize,
        /// ReduceLROnPlateau's metric, one number per line: the k-th value goes to the k-th step.
        #[arg(long, value_name = "FILE")]
        metrics: Option<PathBuf>,
        /// Output format: `csv` (header `step,lr_0,..,momentum_0,..[,weight_decay_0,..]`) or `json`
        /// (`{"lr": [[..]], "momentum": [[..]]}`, and `"weight_decay": [[..]]` when a
        /// `weight_decay_scheduler:` drives it).
        #[arg(long, value_enum, default_value_t = Format::Csv)]
        format: Format,
        /// After row K, save the state, rebuild scheduler and optimizer from the config, load the
        /// state and go on: the output is the same as without it (a check of resuming). A row
        /// that is printed: 0 to N-1.
        #[arg(long, value_name = "K", value_parser = row, allow_hyphen_values = true)]
        checkpoint_at: Option<usize>,
        /// Continue a PyTorch run: FILE is `torch.save({"optimizer": optimizer.state_dict(),
        /// "scheduler": scheduler.state_dict()}, FILE)` written after k steps of the same config,
        /// or a Hugging Face Trainer checkpoint folder (checkpoint-k/: its scheduler.pt,
        /// optimizer.pt and trainer_state.json, whose logged learning rates the config must
        /// give); prints rows k to N-1 (row k: the state as loaded), as the uninterrupted trace does.
        #[arg(long, value_name = "FILE|DIR")]
        resume_from: Option<PathBuf>,
        /// After the last row, write `{"optimizer": ..., "scheduler": ...}` to FILE (a
        /// `torch.save` file) for PyTorch's `load_state_dict` on the same config.
        #[arg(long, value_name = "FILE")]
        save_pytorch: Option<PathBuf>,
    },
    /// Draw the LR of each group against the step (momentum when cycled or scheduled, and weight
    /// decay when scheduled, on a second axis).
    Plot {
        /// The YAML config.
        config: PathBuf,
        /// The number of points: row 0, then one per step (1 to 10000000).
        #[arg(long, value_name = "N", value_parser = rows, allow_hyphen_values = true)]
        steps: usize,
        /// The image to write: `.png` or `.svg`.
        #[arg(short, long, value_name = "FILE")]
        output: PathBuf,
        /// ReduceLROnPlateau's metric, one number per line.
        #[arg(long, value_name = "FILE")]
        metrics: Option<PathBuf>,
        /// The chart's title (default: the scheduler's name).
        #[arg(long)]
        title: Option<String>,
    },
    /// Validate a config (YAML, names, keys, PyTorch's argument checks), run its schedule over
    /// its horizon, and print a one-line summary.
    ///
    /// The horizon is `--steps N`, else the config's own length (OneCycleLR's total_steps,
    /// CosineAnnealingLR's T_max, transformers' num_training_steps, timm's cycles and warmup, the
    /// last milestone and some, ...), else 1000 steps. A step where a value would be NaN or
    /// infinite, or where PyTorch would raise (OneCycleLR past its end), fails the check, in one
    /// line naming the step: passing means a run of that length will not fail because of its
    /// schedule. ReduceLROnPlateau is only constructed, unless --metrics gives its metric.
    ///
    /// With --epochs N --steps-per-epoch M (a run plan: N epochs of M optimizer updates), it also
    /// checks the config against the run, as the training example does before training
    /// (tch_lr::plan::check): transformers' schedules need `interval: step`; timm's need the
    /// interval `t_in_epochs` names; ReduceLROnPlateau needs `interval: epoch`; OneCycleLR's
    /// total_steps must cover the run's scheduler steps (N*M per step, N per epoch). A refusal is
    /// one line; what is allowed but likely unintended (a transformers cosine past
    /// num_training_steps, whose LR rises again) is a `note:` on stderr. The horizon is then the
    /// plan's scheduler steps, unless --steps is given. Without them the plan check is skipped.
    Check {
        /// The YAML config.
        config: PathBuf,
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
    },
    /// List every schedule a config can name: one per line, or as JSON with each schedule's
    /// keyword arguments (type, default), an example config and whether it steps on a metric.
    List {
        /// Output format.
        #[arg(long, value_enum, default_value_t = ListFormat::Text)]
        format: ListFormat,
    },
}

#[derive(Clone, Copy, ValueEnum)]
enum ListFormat {
    Text,
    Json,
}

#[derive(Clone, Copy, ValueEnum)]
enum Format {
    Csv,
    Json,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Command::Trace { steps, checkpoint_at: Some(k), .. } = cli.command {
        if k >= steps {
            let msg =
                format!("--checkpoint-at {k} is past the last row: --steps {steps} prints rows 0 to {}", steps - 1);
            let mut cli = Cli::command();
            cli.build();
            match cli.find_subcommand_mut("trace") {
                Some(trace) => trace.error(ErrorKind::ArgumentConflict, msg).exit(),
                None => cli.error(ErrorKind::ArgumentConflict, msg).exit(),
            }
        }
    }
    match run(cli.command) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) if is_broken_pipe(&e) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {}", message(&e));
            ExitCode::FAILURE
        }
    }
}

/// The error and its causes, each cause once (a library error's message may
/// already include its source's).
fn message(e: &anyhow::Error) -> String {
    let mut out = String::new();
    for cause in e.chain() {
        // libtorch's own errors carry a C++ backtrace: its first line says it.
        let text = tch_lr::error::one_line(&cause.to_string());
        if !out.contains(&text) {
            if !out.is_empty() {
                out.push_str(": ");
            }
            out.push_str(&text);
        }
    }
    out
}

fn is_broken_pipe(e: &anyhow::Error) -> bool {
    e.chain().any(|c| c.downcast_ref::<io::Error>().is_some_and(|io| io.kind() == io::ErrorKind::BrokenPipe))
}

fn run(command: Command) -> Result<()> {
    match command {
        Command::List { format } => {
            let mut out = io::stdout().lock();
            match format {
                ListFormat::Text => {
                    for s in tch_lr::schedulers::REGISTRY {
                        writeln!(out, "{}", s.name)?;
                    }
                }
                ListFormat::Json => {
                    let all: Vec<_> = tch_lr::schedulers::REGISTRY.iter().map(|s| s.describe()).collect();
                    serde_json::to_writer_pretty(&mut out, &all).map_err(io::Error::from)?;
                    writeln!(out)?;
                }
            }
            Ok(())
        }
        Command::Trace { config, steps, metrics, format, checkpoint_at, resume_from, save_pytorch } => {
            let cfg = Config::from_path(&config)?;
            let opts = TraceOptions {
                rows: steps,
                metrics: read_metrics(metrics.as_deref())?,
                checkpoint_at,
                resume_from,
                save_pytorch,
            };
            note_default_optimizer(&cfg);
            if let Some(dir) = opts.resume_from.as_deref().filter(|p| tch_lr::interop::hf::is_trainer_checkpoint(p)) {
                note_trainer_checkpoint(dir);
            }
            match format {
                Format::Csv => trace_csv(&cfg, &opts),
                Format::Json => trace_json(&cfg, &opts),
            }
            .with_context(|| config.display().to_string())
        }
        Command::Plot { config, steps, output, metrics, title } => {
            let cfg = Config::from_path(&config)?;
            note_default_optimizer(&cfg);
            let opts = TraceOptions {
                rows: steps,
                metrics: read_metrics(metrics.as_deref())?,
                checkpoint_at: None,
                ..Default::default()
            };
            let t = trace(&cfg, &opts).with_context(|| config.display().to_string())?;
            let kind = cfg.optimizer_or_default().name;
            let mut right = vec![];
            let mut right_label = vec![];
            if t.cycles_momentum {
                right.extend(Series::per_group(kind.momentum_name(), &t.momentum));
                right_label.push(kind.momentum_name());
            }
            if t.schedules_weight_decay {
                right.extend(Series::per_group("weight decay", &t.weight_decay));
                right_label.push("weight decay");
            }
            let chart = Chart {
                title: title.unwrap_or_else(|| cfg.scheduler.name().to_string()),
                x_label: if cfg.interval == tch_lr::config::Interval::Step { "step (batch)" } else { "step (epoch)" }
                    .into(),
                left_label: "learning rate".into(),
                left: Series::per_group("lr", &t.lr),
                right_label: right_label.join(", "),
                right,
            };
            chart.draw(&output)?;
            eprintln!("wrote {}", output.display());
            Ok(())
        }
        Command::Check { config, steps, metrics, epochs, steps_per_epoch } => {
            let cfg = Config::from_path(&config)?;
            let groups = cfg.validate().with_context(|| config.display().to_string())?;
            let plan =
                epochs.zip(steps_per_epoch).map(|(e, m)| RunPlan { epochs: e as u64, steps_per_epoch: m as u64 });
            if let Some(plan) = &plan {
                for warning in tch_lr::plan::check(&cfg, plan).with_context(|| config.display().to_string())? {
                    eprintln!("note: {warning}");
                }
            }
            let metrics = read_metrics(metrics.as_deref())?;
            let plan_steps = plan.map(|p| p.scheduler_steps(cfg.interval));
            let mut ran =
                run_horizon(&cfg, steps, metrics, plan_steps).with_context(|| config.display().to_string())?;
            if let (Some(p), Some(k)) = (plan, plan_steps) {
                let s = |n: u64| if n == 1 { "" } else { "s" };
                let (e, m) = (p.epochs, p.steps_per_epoch);
                ran.push_str(&format!(
                    "; plan checked: {e} epoch{} of {m} update{}, {k} scheduler step{}",
                    s(e),
                    s(m),
                    s(k)
                ));
            }
            let n = groups.len();
            println!(
                "{}: valid: {} on {} with {n} parameter group{}, stepped once per {}; {ran}",
                config.display(),
                describe(&cfg),
                groups.kind().name(),
                if n == 1 { "" } else { "s" },
                if cfg.interval == tch_lr::config::Interval::Step { "batch" } else { "epoch" },
            );
            Ok(())
        }
    }
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
    let opts = TraceOptions { rows: n + 1, metrics, checkpoint_at: None, ..Default::default() };
    let mut last_row = None;
    trace_with(cfg, &opts, |r| last_row = Some(r.row)).map_err(|e| match last_row {
        // The error came with the step after the last row.
        Some(row) => {
            let step = row + 1;
            match e {
                Error::NonFinite { what, group, value } => {
                    anyhow::anyhow!(
                        "the schedule fails at step {step} of {n}: {what} of group {group} would be {value}"
                    )
                }
                e => anyhow::Error::new(e).context(format!("the schedule fails at step {step} of {n}")),
            }
        }
        None => e.into(),
    })?;
    Ok(format!("{n} step{} run without error ({why})", if n == 1 { "" } else { "s" }))
}

/// `SequentialLR(LinearLR, CosineAnnealingLR)`, and `; weight_decay: StepLR`
/// for each other hyper-parameter scheduled.
fn describe(cfg: &Config) -> String {
    fn name(s: &tch_lr::config::SchedulerConfig) -> String {
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

fn note_default_optimizer(cfg: &Config) {
    if cfg.optimizer.is_none() {
        eprintln!("note: the config has no optimizer: section; using one SGD group with lr 0.1");
    }
}

/// Says what a Hugging Face Trainer checkpoint folder is, and what its import drops.
fn note_trainer_checkpoint(dir: &Path) {
    // An unreadable folder is reported by the trace itself.
    if let Ok(c) = tch_lr::interop::hf::load(dir) {
        eprintln!(
            "note: {}: a Hugging Face Trainer checkpoint at step {} of max_steps {}",
            dir.display(),
            c.global_step,
            c.max_steps
        );
        for d in &c.dropped {
            eprintln!("note: dropped {d}: the schedule does not depend on it");
        }
    }
}

fn read_metrics(path: Option<&Path>) -> Result<Option<Vec<f64>>> {
    let Some(path) = path else { return Ok(None) };
    let text = std::fs::read_to_string(path).with_context(|| format!("--metrics {}", path.display()))?;
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        match line.parse::<f64>() {
            Ok(v) => out.push(v),
            Err(_) => bail!("--metrics {}: line {}: {line:?} is not a number", path.display(), i + 1),
        }
    }
    Ok(Some(out))
}

fn trace_csv(cfg: &Config, opts: &TraceOptions) -> Result<()> {
    let groups = cfg.optimizer_or_default().lrs()?.len();
    let weight_decay = cfg.weight_decay_scheduler.is_some();
    let stdout = io::stdout();
    let mut out = io::BufWriter::new(stdout.lock());
    let header: Vec<String> = std::iter::once("step".to_string())
        .chain((0..groups).map(|g| format!("lr_{g}")))
        .chain((0..groups).map(|g| format!("momentum_{g}")))
        .chain((0..groups).filter(|_| weight_decay).map(|g| format!("weight_decay_{g}")))
        .collect();
    writeln!(out, "{}", header.join(","))?;
    let mut write_err = None;
    let result = trace_with(cfg, opts, |r| {
        if write_err.is_some() {
            return;
        }
        let mut line = r.row.to_string();
        let wd = if weight_decay { r.weight_decay } else { &[] };
        for v in r.lr.iter().chain(r.momentum).chain(wd) {
            line.push(',');
            line.push_str(&v.to_string());
        }
        if let Err(e) = writeln!(out, "{line}") {
            write_err = Some(e);
        }
    });
    let flushed = out.flush();
    if let Some(e) = write_err {
        return Err(e.into());
    }
    flushed?;
    Ok(result?)
}

fn json_rows(rows: &[Vec<f64>]) -> serde_json::Value {
    let num = |v: f64| {
        if v.is_finite() {
            serde_json::json!(v)
        } else {
            serde_json::json!(if v.is_nan() {
                "nan"
            } else if v > 0.0 {
                "inf"
            } else {
                "-inf"
            })
        }
    };
    rows.iter().map(|r| r.iter().map(|v| num(*v)).collect::<Vec<_>>()).collect()
}

fn trace_json(cfg: &Config, opts: &TraceOptions) -> Result<()> {
    let t = trace(cfg, opts)?;
    let mut value = serde_json::json!({"lr": json_rows(&t.lr), "momentum": json_rows(&t.momentum)});
    if t.schedules_weight_decay {
        value["weight_decay"] = json_rows(&t.weight_decay);
    }
    let stdout = io::stdout();
    let mut out = stdout.lock();
    serde_json::to_writer(&mut out, &value)?;
    writeln!(out)?;
    out.flush()?;
    Ok(())
}
