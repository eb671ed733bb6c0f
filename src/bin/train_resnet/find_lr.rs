//! `--find-lr`: the LR range test (`tch_lr::lr_finder`) on the run's model,
//! optimizer and training batches, instead of training. Writes
//! `lr_find.csv` (`lr,loss,smoothed_loss`, one row per step) and
//! `lr_find.png` (the smoothed loss against the LR, log axis, the suggestions
//! marked) beside the run's log, and prints the suggestion.

use std::fmt::Write as _;
use std::path::Path;

use anyhow::{bail, Result};
use tch::nn::{FuncT, ModuleT, VarStore};
use tch_lr::config::{Config, SchedulerConfig};
use tch_lr::groups::PerGroup;
use tch_lr::lr_finder::{LrFinder, LrFinderResult, Suggestion};
use tch_lr::plot::{Chart, ChartOptions, Marker, Series};

use crate::data;

/// Which rule gives the suggestion.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Rule {
    /// fastai's: two thirds and a half down the longest valley.
    Valley,
    /// Lightning's: the steepest descent of the smoothed loss against the LR.
    Steepest,
}

/// What the range test runs on.
pub struct Inputs<'a> {
    pub finder: LrFinder,
    pub rule: Rule,
    pub config: &'a Config,
    pub vs: &'a VarStore,
    pub net: &'a FuncT<'static>,
    pub train: &'a data::Split,
    pub batch_size: i64,
    pub seed: i64,
    pub amp: bool,
    /// The run's log: the outputs go beside it.
    pub log: &'a Path,
}

/// Runs the test and reports it.
pub fn run(inputs: Inputs) -> Result<()> {
    let Inputs { finder, rule, config, vs, net, train, batch_size, seed, amp, log } = inputs;
    finder.check()?;
    // The run's optimizer, as the config builds it for training.
    let mut optim = config.build_optim(vs, tch_lr::optim::Backend::Owned)?;
    let batches = train.len() / batch_size;
    let mut order = (usize::MAX, tch::Tensor::new());
    println!(
        "lr range test: {} steps from {} to {} ({:?}), {batches} batches of {batch_size} per epoch",
        finder.num_steps,
        num(finder.start_lr),
        num(finder.end_lr),
        finder.mode
    );
    let found = finder.run(&mut optim, vs, |step| {
        // The training run's batches, in its order (epoch by epoch).
        let (epoch, batch) = (step / batches as usize, step as i64 % batches);
        if order.0 != epoch {
            order = (epoch, data::epoch_order(train.len(), seed, epoch).to_device(vs.device()));
        }
        let idx = order.1.narrow(0, batch * batch_size, batch_size);
        let (x, y) = (train.images.index_select(0, &idx), train.labels.index_select(0, &idx));
        tch::autocast(amp, || net.forward_t(&x, true).cross_entropy_for_logits(&y))
    })?;
    let csv = log.with_file_name("lr_find.csv");
    let png = log.with_file_name("lr_find.png");
    write_csv(&csv, &found)?;
    let steepest = found.suggestion();
    let valley = found.suggestion_valley();
    plot(
        &png,
        &found,
        [
            (steepest, "Lightning's steepest descent", rule == Rule::Steepest),
            (valley, "fastai's valley", rule == Rule::Valley),
        ],
    )?;
    if found.stopped_early {
        println!(
            "stopped after {} of {} steps: the smoothed loss passed {} × its best (or was not finite)",
            found.lrs.len(),
            found.num_steps,
            finder.early_stop_threshold.unwrap_or(f64::INFINITY)
        );
    }
    println!("csv: {}\nplot: {}", csv.display(), png.display());
    if let Some(s) = steepest {
        println!("steepest descent: {} (step {}; Lightning's rule)", num(s.lr), s.index);
    }
    if let Some(v) = valley {
        println!("fastai valley: {} (step {}; fastai's rule)", num(v.lr), v.index);
    }
    let (chosen, name) = match rule {
        Rule::Steepest => (steepest, "steepest descent of the smoothed loss, Lightning's rule"),
        Rule::Valley => (valley, "the longest valley, fastai's rule"),
    };
    let Some(s) = chosen else {
        bail!(
            "the range test recorded {} losses: too few for a suggestion by {name}; raise --find-lr-steps",
            found.lrs.len()
        );
    };
    println!("suggested lr: {} ({name})", num(s.lr));
    for max_lr in one_cycle_max_lrs(&config.scheduler) {
        println!(
            "OneCycleLR: would use max_lr: {} (the suggestion, for every group; the config has {max_lr})",
            num(s.lr)
        );
    }
    Ok(())
}

/// The configured `max_lr` of each OneCycleLR in the config, as written.
fn one_cycle_max_lrs(s: &SchedulerConfig) -> Vec<String> {
    let mut out = vec![];
    if let SchedulerConfig::OneCycleLR(c) = s {
        out.push(match &c.max_lr {
            PerGroup::All(v) => v.to_string(),
            PerGroup::Each(v) => format!("{v:?}"),
        });
    }
    for child in s.children() {
        out.extend(one_cycle_max_lrs(child));
    }
    out
}

fn write_csv(path: &Path, found: &LrFinderResult) -> Result<()> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)?;
    }
    let mut text = String::from("lr,loss,smoothed_loss\n");
    for ((lr, loss), smoothed) in found.lrs.iter().zip(&found.losses).zip(&found.smoothed_losses) {
        writeln!(text, "{},{},{}", num(*lr), num(*loss), num(*smoothed))?;
    }
    Ok(tch_lr::cli::write_atomic(path, text.as_bytes())?)
}

/// A number as Python's `repr` writes it: the shortest digits that read back
/// exactly, in scientific notation below 1e-4.
fn num(v: f64) -> String {
    if v != 0.0 && v.is_finite() && (v.abs() < 1e-4 || v.abs() >= 1e16) {
        format!("{v:e}")
    } else {
        format!("{v}")
    }
}

/// Draws the smoothed loss, with each rule's choice (name, whether it is the suggestion).
fn plot(path: &Path, found: &LrFinderResult, choices: [(Option<Suggestion>, &str, bool); 2]) -> Result<()> {
    // As fastai's plot_lr_find: without the last 5 steps, where a diverging
    // loss would flatten the rest of the curve (the CSV has them).
    let shown = if found.lrs.len() > 10 { found.lrs.len() - 5 } else { found.lrs.len() };
    let points = found.lrs.iter().copied().zip(found.smoothed_losses.iter().copied()).take(shown).collect();
    let chart = Chart {
        title: "LR range test: smoothed training loss against the LR".into(),
        x_label: "learning rate (log scale)".into(),
        left_label: "smoothed loss".into(),
        left: vec![Series { name: "smoothed loss".into(), points }],
        right_label: String::new(),
        right: vec![],
    };
    let markers = choices
        .into_iter()
        .filter_map(|(s, name, chosen)| {
            let s = s?;
            let name = format!("{name}: {:.3e}{}", s.lr, if chosen { " (suggested)" } else { "" });
            Some(Marker { name, point: (s.lr, s.loss) })
        })
        .collect();
    Ok(chart.draw_with(path, &ChartOptions { log_x: true, markers })?)
}
