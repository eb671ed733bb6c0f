//! `tch-lr plot`: the trace drawn, the LR on the left axis, momentum and
//! weight decay (when they move) on the right.

use std::path::PathBuf;

use anyhow::{Context, Result};
use tch_lr::config::Interval;
use tch_lr::plot::{Chart, Series};
use tch_lr::trace::{trace, TraceOptions};

/// `tch-lr plot`'s flags.
#[derive(clap::Args)]
pub struct Args {
    /// The config: a tch-lr YAML config, DeepSpeed's JSON config, or a run's own files (a
    /// DeepSpeed checkpoint folder, ...: see tch_lr::recipe).
    config: PathBuf,
    #[command(flatten)]
    recipe: super::RecipeArgs,
    /// The number of points: row 0, then one per step (1 to 10000000).
    #[arg(long, value_name = "N", value_parser = super::trace::rows, allow_hyphen_values = true)]
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
}

pub fn run(args: Args) -> Result<()> {
    let cfg = super::read_config(&args.config, &args.recipe)?.config;
    super::note_default_optimizer(&cfg);
    let opts =
        TraceOptions { rows: args.steps, metrics: super::read_metrics(args.metrics.as_deref())?, ..Default::default() };
    let t = trace(&cfg, &opts).with_context(|| args.config.display().to_string())?;
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
        title: args.title.unwrap_or_else(|| cfg.scheduler.name().to_string()),
        x_label: if cfg.interval == Interval::Step { "step (batch)" } else { "step (epoch)" }.into(),
        left_label: "learning rate".into(),
        left: Series::per_group("lr", &t.lr),
        right_label: right_label.join(", "),
        right,
    };
    chart.draw(&args.output)?;
    eprintln!("wrote {}", args.output.display());
    Ok(())
}
