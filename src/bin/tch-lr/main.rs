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
//! One file per subcommand (`trace.rs`, `plot.rs`, `check.rs`, `list.rs`),
//! each with its flags and its run; this file parses the command line and
//! reports an error as one line. Every numeric flag is checked where it is
//! parsed, with the parsers the training program uses too
//! ([`tch_lr::cli`]): a bad value is clap's usage error, exit status 2,
//! naming the flag and saying why; a flag that contradicts another is
//! refused the same way.

mod check;
mod list;
mod plot;
mod trace;

use std::path::Path;
use std::process::ExitCode;

use anyhow::{bail, Context, Result};
use clap::{Parser, Subcommand};

/// The most rows `trace` and `plot` make, and steps `check` runs.
const MAX_STEPS: usize = 10_000_000;

/// A whole number of rows or steps, `min..=MAX_STEPS`.
fn count(s: &str, min: usize, why: &str) -> Result<usize, String> {
    tch_lr::cli::whole(s, min as i128, MAX_STEPS as i128, why).map(|v| v as usize)
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
    Trace(trace::Args),
    /// Draw the LR of each group against the step (momentum when cycled or scheduled, and weight
    /// decay when scheduled, on a second axis).
    Plot(plot::Args),
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
    /// checks the config against the run, as the training program does before training
    /// (tch_lr::plan::check): transformers' schedules need `interval: step`; timm's need the
    /// interval `t_in_epochs` names; ReduceLROnPlateau needs `interval: epoch`; OneCycleLR's
    /// total_steps must cover the run's scheduler steps (N*M per step, N per epoch). A refusal is
    /// one line; what is allowed but likely unintended (a transformers cosine past
    /// num_training_steps, whose LR rises again) is a `note:` on stderr. The horizon is then the
    /// plan's scheduler steps, unless --steps is given. Without them the plan check is skipped.
    Check(check::Args),
    /// List every schedule a config can name: one per line, or as JSON with each schedule's
    /// keyword arguments (type, default), an example config and whether it steps on a metric.
    List(list::Args),
}

fn main() -> ExitCode {
    let command = Cli::parse().command;
    let result = match command {
        Command::Trace(args) => trace::run(args),
        Command::Plot(args) => plot::run(args),
        Command::Check(args) => check::run(args),
        Command::List(args) => list::run(args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) if tch_lr::cli::is_broken_pipe(&e) => ExitCode::SUCCESS,
        Err(e) => {
            tch_lr::cli::print_error(&e);
            ExitCode::FAILURE
        }
    }
}

/// `--updates-per-epoch` and `--world-size`: what a timm `args.yaml` leaves
/// to its run ([`tch_lr::recipe::RecipeOptions`]).
#[derive(clap::Args, Clone, Debug, Default)]
struct RecipeArgs {
    /// For timm's args.yaml: the optimizer updates per epoch (its train.py's
    /// `updates_per_epoch`, the loader's batches over grad_accum_steps), which a schedule on
    /// updates (`sched_on_updates`) multiplies its lengths by.
    #[arg(long, value_name = "U", value_parser = updates)]
    updates_per_epoch: Option<u64>,
    /// For timm's args.yaml: the processes the run trained on, which its global batch size (and
    /// so an LR resolved from `lr_base`) counts.
    #[arg(long, value_name = "W", value_parser = updates)]
    world_size: Option<u64>,
}

/// `--updates-per-epoch`, `--world-size`: 1 or more.
fn updates(s: &str) -> Result<u64, String> {
    tch_lr::cli::whole(s, 1, i128::from(u32::MAX), "").map(|v| v as u64)
}

/// The config at `path`: a tch-lr config or a run's own files
/// ([`tch_lr::recipe`]), what they were found to be printed as a note.
fn read_config(path: &Path, recipe: &RecipeArgs) -> Result<tch_lr::recipe::Recipe> {
    let options =
        tch_lr::recipe::RecipeOptions { updates_per_epoch: recipe.updates_per_epoch, world_size: recipe.world_size };
    let recipe = tch_lr::recipe::load(path, &options)?;
    if options != tch_lr::recipe::RecipeOptions::default() && recipe.kind != tch_lr::recipe::RecipeKind::Timm {
        bail!(
            "{}: --updates-per-epoch and --world-size are for timm's args.yaml (its train.py counts them at run time)",
            path.display()
        );
    }
    if let Some(found) = &recipe.found {
        eprintln!("note: {found}");
    }
    Ok(recipe)
}

/// Says that a config without an `optimizer:` section is traced on one SGD group.
fn note_default_optimizer(cfg: &tch_lr::config::Config) {
    if cfg.optimizer.is_none() {
        eprintln!("note: the config has no optimizer: section; using one SGD group with lr 0.1");
    }
}

/// `--metrics FILE`: one number per line (blank lines skipped).
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

/// The flags' checks, in this process: `tests/end_to_end/cli.rs` runs a few of
/// these cases as the program (status 2, nothing on stdout).
#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::{trace, Cli, Command};

    /// The values each numeric flag refuses: zero, negative, too large, not a
    /// number, NaN, infinite, fractional, empty.
    const BAD_COUNTS: &[&str] =
        &["0", "-1", "-0", "-inf", "-x", "10000001", "99999999999999999999999", "abc", "nan", "inf", "1.5", "1e3", ""];

    /// The usage error `tch-lr ARGS` gives, from parsing or from the pairs
    /// `trace` checks before it reads anything ([`trace::check_args`]).
    fn usage_error(args: &[&str]) -> Option<clap::Error> {
        let argv = [&["tch-lr"][..], args].concat();
        match Cli::try_parse_from(argv) {
            Err(e) => Some(e),
            Ok(Cli { command: Command::Trace(a) }) => trace::check_args(&a).err(),
            Ok(_) => None,
        }
    }

    /// Every bad value of a numeric flag, and every contradicting pair, is
    /// clap's usage error: status 2, one `error:` line that names the flag.
    #[test]
    fn bad_flag_values_are_usage_errors_naming_the_flag() {
        let step = "configs/step_lr.yaml";
        let mut cases: Vec<(Vec<&str>, &str)> = vec![];
        for bad in BAD_COUNTS {
            cases.push((vec!["trace", step, "--steps", bad], "--steps"));
            cases.push((vec!["plot", step, "--steps", bad, "-o", "never-written.png"], "--steps"));
            cases.push((vec!["check", step, "--steps", bad], "--steps"));
            cases.push((vec!["check", step, "--epochs", bad, "--steps-per-epoch", "4"], "--epochs"));
            cases.push((vec!["check", step, "--epochs", "3", "--steps-per-epoch", bad], "--steps-per-epoch"));
            if *bad != "0" && *bad != "-0" {
                cases.push((vec!["trace", step, "--steps", "3", "--checkpoint-at", bad], "--checkpoint-at"));
            }
        }
        // `--checkpoint-at` past the last row (`--steps 3` prints rows 0 to 2).
        for k in ["3", "4", "1000"] {
            cases.push((vec!["trace", step, "--steps", "3", "--checkpoint-at", k], "--checkpoint-at"));
        }
        for (args, flag) in cases {
            let e = usage_error(&args).unwrap_or_else(|| panic!("{args:?} should be a usage error"));
            assert_eq!(e.exit_code(), 2, "{args:?}: clap's usage error: {e}");
            let text = e.to_string();
            let errors: Vec<&str> = text.lines().filter(|l| l.starts_with("error:")).collect();
            assert_eq!(errors.len(), 1, "{args:?}: {text}");
            assert!(errors[0].contains(flag), "{args:?}: {:?} should name {flag}", errors[0]);
        }
        // The edges that are allowed.
        for args in [
            &["trace", step, "--steps", "1"][..],
            &["trace", step, "--steps", "3", "--checkpoint-at", "2"],
            &["trace", step, "--steps", "3", "--checkpoint-at", "0"],
            &["trace", step, "--steps", "10000000"],
        ] {
            assert!(usage_error(args).is_none(), "{args:?}");
        }
    }
}
