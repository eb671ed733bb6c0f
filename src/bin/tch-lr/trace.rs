//! `tch-lr trace`: every group's values, row by row, as CSV or JSON; resumed
//! from a PyTorch file or a Trainer folder, saved for PyTorch.

use std::io::{self, Write};
use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::error::ErrorKind;
use clap::{CommandFactory, ValueEnum};
use tch_lr::config::Config;
use tch_lr::trace::{trace, trace_with, TraceOptions};

/// `trace --steps`, `plot --steps`: rows, row 0 included.
pub fn rows(s: &str) -> Result<usize, String> {
    super::count(s, 1, " (row 0 is the state after construction)")
}

/// `trace --checkpoint-at`: a row.
fn row(s: &str) -> Result<usize, String> {
    super::count(s, 0, "")
}

/// `tch-lr trace`'s flags.
#[derive(clap::Args)]
pub struct Args {
    /// The config: a tch-lr YAML config, DeepSpeed's JSON config, or a run's own files (a
    /// DeepSpeed checkpoint folder, ...: see tch_lr::recipe).
    config: PathBuf,
    #[command(flatten)]
    recipe: super::RecipeArgs,
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
    /// give), or a Megatron-LM checkpoint (iter_XXXXXXX/mp_rank_00/model_optim_rng.pt, its
    /// iter_ folder, or the save folder); prints rows k to N-1 (row k: the state as loaded), as
    /// the uninterrupted trace does.
    #[arg(long, value_name = "FILE|DIR")]
    resume_from: Option<PathBuf>,
    /// After the last row, write `{"optimizer": ..., "scheduler": ...}` to FILE (a
    /// `torch.save` file) for PyTorch's `load_state_dict` on the same config.
    #[arg(long, value_name = "FILE")]
    save_pytorch: Option<PathBuf>,
}

#[derive(Clone, Copy, ValueEnum)]
enum Format {
    Csv,
    Json,
}

/// The flags that contradict each other (each alone is valid): clap's usage
/// error (status 2), as for a value clap refuses.
pub fn check_args(args: &Args) -> Result<(), clap::Error> {
    if let Some(k) = args.checkpoint_at.filter(|&k| k >= args.steps) {
        let msg = format!(
            "--checkpoint-at {k} is past the last row: --steps {} prints rows 0 to {}",
            args.steps,
            args.steps - 1
        );
        let mut cli = super::Cli::command();
        cli.build();
        let trace = cli.find_subcommand_mut("trace").expect("tch-lr has a trace subcommand");
        return Err(trace.error(ErrorKind::ArgumentConflict, msg));
    }
    Ok(())
}

pub fn run(args: Args) -> Result<()> {
    check_args(&args).unwrap_or_else(|e| e.exit());
    let recipe = super::read_config(&args.config, &args.recipe)?;
    let cfg = recipe.config;
    let opts = TraceOptions {
        rows: args.steps,
        metrics: super::read_metrics(args.metrics.as_deref())?,
        checkpoint_at: args.checkpoint_at,
        // A checkpoint given as the config is where the trace starts, unless --resume-from says otherwise.
        resume_from: args.resume_from.or(recipe.resume_from),
        save_pytorch: args.save_pytorch,
        updates_per_epoch: args.recipe.updates_per_epoch,
    };
    super::note_default_optimizer(&cfg);
    let notes = match args.format {
        Format::Csv => csv(&cfg, &opts),
        Format::Json => json(&cfg, &opts),
    }
    .with_context(|| args.config.display().to_string())?;
    for note in notes {
        eprintln!("note: {note}");
    }
    Ok(())
}

/// The rows as CSV, written as they are made (the rows before an error are
/// printed); what the trace read, as notes.
fn csv(cfg: &Config, opts: &TraceOptions) -> Result<Vec<String>> {
    let groups = cfg.optimizer_or_default().lrs()?.len();
    let weight_decay = cfg.schedules_weight_decay();
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

/// JSON's numbers, and `"nan"`, `"inf"`, `"-inf"` for the others.
fn json_rows(rows: &[Vec<f64>]) -> serde_json::Value {
    let num = |v: f64| match v {
        v if v.is_finite() => serde_json::json!(v),
        v if v.is_nan() => serde_json::json!("nan"),
        v if v > 0.0 => serde_json::json!("inf"),
        _ => serde_json::json!("-inf"),
    };
    rows.iter().map(|r| r.iter().map(|v| num(*v)).collect::<Vec<_>>()).collect()
}

/// The rows as one JSON object; what the trace read, as notes.
fn json(cfg: &Config, opts: &TraceOptions) -> Result<Vec<String>> {
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
    Ok(t.notes)
}
