//! Trains a CIFAR-style ResNet with the optimizer and LR scheduler of a YAML
//! config, logging the LR of every batch.
//!
//! ```sh
//! cargo run --release --bin train_resnet -- --config configs/one_cycle_per_batch.yaml
//! cargo run --release --bin train_resnet -- --config configs/warmup_cosine.yaml --data ~/cifar-10-batches-bin --epochs 100
//! ```
//!
//! With no `--data`, it trains on embedded synthetic data (no download). The
//! log (`--log`, default `runs/<config>/log.csv`) has one flushed row per batch:
//! `step,epoch,batch,lr_0,..,[momentum_0,..,][weight_decay_0,..,]loss,samples_per_sec`; beside it
//! `log.epochs.csv` (validation loss and accuracy per epoch) and `log.png` (LR and loss).
//! `--find-lr` runs the LR range test instead of training (`find_lr.rs`).
//! `--swa-start N` and `--ema DECAY` average the weights as PyTorch's
//! `torch.optim.swa_utils` recipes do, and evaluate the average (`average.rs`).
//!
//! [`run`] reads the run ([`prepare`]), has the library check its plan
//! ([`check_plan`]: each family's clock, OneCycleLR's length), then trains
//! epoch by epoch ([`Trainer`]). `hooks.rs` holds the test-only hooks
//! (`TRAIN_RESNET_DIE_AT`, `TRAIN_RESNET_PAUSE_AT`) that `tests/end_to_end/train.rs` uses.

mod average;
mod checkpoint;
mod data;
mod find_lr;
mod hooks;
mod log;
mod model;
mod parallel;
mod pytorch;

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{bail, Context, Result};
use clap::{CommandFactory, FromArgMatches, Parser};
use indicatif::{ProgressBar, ProgressStyle};
use tch::nn::{FuncT, ModuleT, VarStore};
use tch::{Device, Kind, Tensor};
use tch_lr::config::{Config, Interval};
use tch_lr::lr_finder::LrFinder;
use tch_lr::plan::RunPlan;
use tch_lr::plot::{Chart, Series};
use tch_lr::{Schedule, Scheduler};

use checkpoint::{Progress, RunSettings};
use model::Model;
use parallel::Parallel;

/// Train a ResNet with a tch-lr schedule from a YAML config; log the LR of every batch.
///
/// Every numeric flag is checked where it is parsed: a bad value (or two flags
/// that contradict each other) is a usage error naming the flag, before anything runs.
#[derive(Parser, Debug)]
#[command(name = "train_resnet")]
struct Args {
    /// The optimizer and scheduler (see configs/).
    #[arg(long, default_value = "configs/one_cycle_per_batch.yaml", conflicts_with = "resume")]
    config: PathBuf,
    /// Train with a Python run's schedule and optimizer settings instead of --config: its own
    /// files (a Hugging Face Trainer checkpoint folder, timm's args.yaml, a DeepSpeed or
    /// Megatron-LM checkpoint; see tch_lr::recipe), on this program's model, from step 0
    /// (--resume-pytorch continues it).
    #[arg(long, value_name = "PATH", conflicts_with_all = ["resume", "config"])]
    recipe: Option<PathBuf>,
    /// The network.
    #[arg(long, value_enum, default_value_t = Model::Resnet20, conflicts_with = "resume")]
    model: Model,
    /// `auto` (CUDA when available, else CPU), `cpu`, `cuda` or `cuda:N`.
    #[arg(long, default_value = "auto", value_parser = device_spec, allow_hyphen_values = true)]
    device: String,
    /// Mixed precision (autocast) on CUDA.
    #[arg(long)]
    amp: bool,
    /// CIFAR-10's binary files (data_batch_1.bin .. test_batch.bin). Default: embedded synthetic data.
    #[arg(long, value_name = "DIR", conflicts_with = "resume")]
    data: Option<PathBuf>,
    /// Epochs (1 to 1000000).
    #[arg(long, value_name = "N", default_value_t = 6, value_parser = epochs, allow_hyphen_values = true,
          conflicts_with = "resume")]
    epochs: usize,
    /// Batch size (1 to 100000, at most the training samples; the last partial batch of an epoch is dropped).
    #[arg(long, value_name = "N", default_value_t = 64, value_parser = batch_size, allow_hyphen_values = true,
          conflicts_with = "resume")]
    batch_size: i64,
    /// Training samples of the synthetic data (1 to 100000); with --data, the first N of
    /// CIFAR-10's, and 0 means all of them.
    #[arg(long, value_name = "N", default_value_t = 4096, value_parser = samples, allow_hyphen_values = true,
          conflicts_with = "resume")]
    train_size: i64,
    /// Test samples of the synthetic data (1 to 100000); with --data, the first N, and 0 means all.
    #[arg(long, value_name = "N", default_value_t = 1024, value_parser = samples, allow_hyphen_values = true,
          conflicts_with = "resume")]
    test_size: i64,
    /// Seed for the weights, the synthetic data and the batch order (any 64-bit integer).
    #[arg(long, default_value_t = 0, value_parser = seed, allow_hyphen_values = true, conflicts_with = "resume")]
    seed: i64,
    /// The per-batch CSV log (default: runs/NAME/log.csv, NAME the config's file name).
    #[arg(long, value_name = "FILE", conflicts_with = "resume")]
    log: Option<PathBuf>,
    /// Save checkpoints (model, scheduler, position) into this folder...
    #[arg(long, value_name = "DIR")]
    checkpoint_dir: Option<PathBuf>,
    /// ...every N batches and at each epoch's end; 0: only at each epoch's end.
    /// Default 100; a resumed run keeps its own. Needs --checkpoint-dir or --resume.
    #[arg(long, value_name = "N", value_parser = checkpoint_every, allow_hyphen_values = true)]
    checkpoint_every: Option<u64>,
    /// Continue the run saved in this checkpoint folder (its settings, log and
    /// schedule), checkpointing on into it (or into --checkpoint-dir). The
    /// run's settings come from the checkpoint: --config, --model, --data,
    /// --epochs, --batch-size, --train-size, --test-size, --seed and --log
    /// cannot be given with it.
    #[arg(long, value_name = "DIR")]
    resume: Option<PathBuf>,
    /// Continue a run saved as PyTorch's checkpoint: by the PyTorch twin
    /// (`scripts/reference/train_resnet_torch.py --save FILE`) or by
    /// --save-pytorch. The run's settings come from the flags (the same as
    /// the run saved: its --config, --seed, --batch-size, --train-size, ...);
    /// the log starts afresh at the step resumed. A Hugging Face Trainer
    /// checkpoint folder (checkpoint-K/, with --recipe the same folder)
    /// continues its schedule at step K; the weights and the optimizer's
    /// moments, which are the Trainer's model's, start afresh.
    #[arg(long, value_name = "FILE", conflicts_with_all = ["resume", "find_lr"])]
    resume_pytorch: Option<PathBuf>,
    /// When the run stops (at its end, or at --stop-after), save it as
    /// PyTorch's checkpoint for the PyTorch twin's --resume FILE.
    #[arg(long, value_name = "FILE", conflicts_with = "find_lr")]
    save_pytorch: Option<PathBuf>,
    /// Under torchrun: the longest wait, in seconds, for the other ranks (the
    /// rendezvous, each collective) before the run ends with an error.
    #[arg(long, value_name = "SECONDS", default_value_t = 300, value_parser = dist_timeout)]
    dist_timeout: u64,
    /// Start from these weights: PyTorch's `model.state_dict()` saved with
    /// `torch.save` (or a file holding it under "model", as the twin's --save
    /// writes). The optimizer and the schedule start afresh.
    #[arg(long, value_name = "FILE", conflicts_with_all = ["resume", "resume_pytorch"])]
    weights: Option<PathBuf>,
    /// Stochastic weight averaging as PyTorch's `torch.optim.swa_utils`
    /// documents it, `N` its `swa_start`: after each epoch > N the weights are
    /// averaged (`tch_lr::swa_utils::AveragedModel`) and `SWALR` steps instead of the
    /// config's schedule (the config becomes `SWA`; its interval must be
    /// epoch); the average's BatchNorm statistics are recomputed (`update_bn`)
    /// and it is evaluated. A config whose scheduler is `SWA` averages without
    /// this flag.
    #[arg(long, value_name = "N", value_parser = swa_start, allow_hyphen_values = true,
          conflicts_with_all = ["resume", "ema", "find_lr"])]
    swa_start: Option<i64>,
    /// `SWALR`'s `swa_lr` for --swa-start.
    #[arg(long, value_name = "LR", default_value_t = 0.05, value_parser = lr, requires = "swa_start")]
    swa_lr: f64,
    /// `SWALR`'s `anneal_epochs` for --swa-start (0 to 1000000).
    #[arg(long, value_name = "N", default_value_t = 10, value_parser = anneal_epochs, allow_hyphen_values = true,
          requires = "swa_start")]
    swa_anneal_epochs: i64,
    /// `SWALR`'s `anneal_strategy` for --swa-start.
    #[arg(long, value_enum, default_value_t = AnnealArg::Cos, requires = "swa_start")]
    swa_anneal_strategy: AnnealArg,
    /// An exponential moving average of the weights (PyTorch's
    /// `get_ema_multi_avg_fn(DECAY)`, `use_buffers=True`), updated after every
    /// optimizer step and evaluated after each epoch; DECAY in [0, 1].
    #[arg(long, value_name = "DECAY", value_parser = decay, conflicts_with_all = ["resume", "find_lr"])]
    ema: Option<f64>,
    /// Stop after this many batches in total, at least 1 (as if the run were killed there).
    #[arg(long, value_name = "N", value_parser = stop_after, allow_hyphen_values = true)]
    stop_after: Option<u64>,
    /// Instead of training, run the LR range test on this run's model,
    /// optimizer and batches: writes lr_find.csv and lr_find.png beside the
    /// log and prints the suggested LR.
    #[arg(long, conflicts_with_all = ["resume", "checkpoint_dir", "stop_after"])]
    find_lr: bool,
    /// The range test's number of steps (batches; Lightning's num_training; 2 to 100000).
    #[arg(long, value_name = "N", default_value_t = LrFinder::NUM_STEPS, value_parser = find_lr_steps,
          allow_hyphen_values = true)]
    find_lr_steps: usize,
    /// The range test's first LR, a finite number above 0 and below --find-lr-end
    /// (Lightning's default min_lr is 1e-8: this ResNet learns nothing below 1e-5).
    #[arg(long, value_name = "LR", default_value_t = 1e-5, value_parser = lr, allow_hyphen_values = true)]
    find_lr_start: f64,
    /// The range test's last LR, a finite number above --find-lr-start (Lightning's
    /// default max_lr is 1: this ResNet's loss still falls there; it diverges near 10).
    #[arg(long, value_name = "LR", default_value_t = 100.0, value_parser = lr, allow_hyphen_values = true)]
    find_lr_end: f64,
    /// The rule of the suggested LR: fastai's valley, or Lightning's steepest
    /// descent (the library's default, `suggestion()`; Lightning 2.6.6
    /// differentiates against the LR itself, which on a noisy curve picks
    /// one of the first LRs it may).
    #[arg(long, value_enum, default_value_t = find_lr::Rule::Valley)]
    find_lr_rule: find_lr::Rule,
}

/// The most samples of a split (CIFAR-10 has 50,000 training images).
const MAX_SAMPLES: i128 = 100_000;
/// The most epochs.
const MAX_EPOCHS: i128 = 1_000_000;

use tch_lr::cli::whole;

fn epochs(s: &str) -> Result<usize, String> {
    whole(s, 1, MAX_EPOCHS, " (an epoch is a pass over the training samples)").map(|v| v as usize)
}

fn batch_size(s: &str) -> Result<i64, String> {
    whole(s, 1, MAX_SAMPLES, " (a batch needs a sample)").map(|v| v as i64)
}

fn samples(s: &str) -> Result<i64, String> {
    whole(s, 0, MAX_SAMPLES, " (0: all of --data's samples)").map(|v| v as i64)
}

fn seed(s: &str) -> Result<i64, String> {
    whole(s, i64::MIN.into(), i64::MAX.into(), "").map(|v| v as i64)
}

fn checkpoint_every(s: &str) -> Result<u64, String> {
    whole(s, 0, u64::MAX as i128, " (0: only at each epoch's end)").map(|v| v as u64)
}

fn dist_timeout(s: &str) -> Result<u64, String> {
    Ok(whole(s, 1, 86_400, "seconds to wait for the other ranks")? as u64)
}

fn stop_after(s: &str) -> Result<u64, String> {
    whole(s, 1, u64::MAX as i128, " (a number of batches)").map(|v| v as u64)
}

fn swa_start(s: &str) -> Result<i64, String> {
    whole(s, -1, MAX_EPOCHS, " (-1: average from the first epoch)").map(|v| v as i64)
}

fn anneal_epochs(s: &str) -> Result<i64, String> {
    whole(s, 0, MAX_EPOCHS, " (0: no annealing)").map(|v| v as i64)
}

/// An EMA decay: in [0, 1], as `get_ema_multi_avg_fn` documents it.
fn decay(s: &str) -> Result<f64, String> {
    tch_lr::cli::float(s, 0.0, 1.0, false, " (the weight of the average so far)")
}

/// `SWALR`'s `anneal_strategy`, as a flag value.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
enum AnnealArg {
    /// Half a cosine.
    Cos,
    /// A straight line.
    Linear,
}

fn find_lr_steps(s: &str) -> Result<usize, String> {
    whole(s, 2, MAX_SAMPLES, " (the range test needs a first and a last LR)").map(|v| v as usize)
}

/// An LR of the range test: finite and above 0 (it rises exponentially).
fn lr(s: &str) -> Result<f64, String> {
    tch_lr::cli::float(s, 0.0, f64::MAX, true, " (the range test's LR rises exponentially)")
}

/// `--device`: `auto`, `cpu`, `cuda` or `cuda:N` (whether it is there is checked later).
fn device_spec(s: &str) -> Result<String, String> {
    match s {
        "auto" | "cpu" | "cuda" => Ok(s.to_string()),
        _ if s.strip_prefix("cuda:").is_some_and(|n| n.parse::<u16>().is_ok()) => Ok(s.to_string()),
        _ => Err("expected auto, cpu, cuda or cuda:N".into()),
    }
}

/// The flags that contradict each other (each alone is valid): clap's usage error.
fn check_pairs(args: &Args, matches: &clap::ArgMatches) -> Result<(), clap::Error> {
    use clap::parser::ValueSource;
    let given = |id: &str| matches.value_source(id) == Some(ValueSource::CommandLine);
    let mut problem = None;
    if given("checkpoint_every") && args.checkpoint_dir.is_none() && args.resume.is_none() {
        problem = Some(format!(
            "--checkpoint-every {} needs --checkpoint-dir DIR (or --resume DIR): there is nowhere to save",
            args.checkpoint_every.unwrap_or_default()
        ));
    }
    if !args.find_lr {
        for (flag, id) in [
            ("--find-lr-steps", "find_lr_steps"),
            ("--find-lr-start", "find_lr_start"),
            ("--find-lr-end", "find_lr_end"),
            ("--find-lr-rule", "find_lr_rule"),
        ] {
            if given(id) {
                problem = Some(format!("{flag} is a setting of the LR range test: add --find-lr"));
            }
        }
    }
    if args.data.is_none() && args.resume.is_none() {
        for (flag, id, n) in
            [("--train-size", "train_size", args.train_size), ("--test-size", "test_size", args.test_size)]
        {
            if n == 0 && given(id) {
                problem = Some(format!(
                    "{flag} 0 means all of --data's samples: the synthetic data needs a number (1 to {MAX_SAMPLES})"
                ));
            }
        }
    }
    if args.resume.is_none() && args.train_size > 0 && args.batch_size > args.train_size {
        problem = Some(format!(
            "--batch-size {} is larger than --train-size {}: no batch would be full (the partial one is dropped)",
            args.batch_size, args.train_size
        ));
    }
    if args.find_lr && args.find_lr_start >= args.find_lr_end {
        problem =
            Some(format!("--find-lr-start {} must be below --find-lr-end {}", args.find_lr_start, args.find_lr_end));
    }
    match problem {
        Some(msg) => Err(Args::command().error(clap::error::ErrorKind::ArgumentConflict, msg)),
        None => Ok(()),
    }
}

/// The flags of `argv` (the program's name first), parsed and checked: each
/// value where it is parsed, then the pairs ([`check_pairs`]). An `Err` is
/// clap's usage error (status 2, one `error:` line).
fn parse_args<I, T>(argv: I) -> Result<Args, clap::Error>
where
    I: IntoIterator<Item = T>,
    T: Into<std::ffi::OsString> + Clone,
{
    let matches = Args::command().try_get_matches_from(argv)?;
    let args = Args::from_arg_matches(&matches)?;
    check_pairs(&args, &matches)?;
    Ok(args)
}

/// Parses and checks the flags, then [`run`]s; an error is one `error:` line, status 1.
fn main() {
    let args = parse_args(std::env::args_os()).unwrap_or_else(|e| e.exit());
    if let Err(e) = run(args) {
        tch_lr::cli::print_error(&e);
        std::process::exit(1);
    }
}

/// The device `--device` names, checked to be there (CUDA with cuDNN's autotuner on).
fn pick_device(spec: &str) -> Result<Device> {
    let device = match spec {
        "auto" => Device::cuda_if_available(),
        "cpu" => Device::Cpu,
        "cuda" => Device::Cuda(0),
        s => match s.strip_prefix("cuda:").map(str::parse::<usize>) {
            Some(Ok(n)) => Device::Cuda(n),
            _ => bail!("--device {s}: expected auto, cpu, cuda or cuda:N"),
        },
    };
    // Under torchrun, each process takes its local rank's GPU.
    let local_rank = std::env::var("LOCAL_RANK").ok().and_then(|r| r.parse::<usize>().ok());
    let device = match (device, local_rank) {
        (Device::Cuda(0), Some(r)) if spec == "auto" || spec == "cuda" => Device::Cuda(r),
        (d, _) => d,
    };
    if let Device::Cuda(n) = device {
        if !tch::Cuda::is_available() {
            bail!("--device {spec}: CUDA is not available here (tch::Cuda::is_available() is false); use --device cpu or auto");
        }
        if n >= tch::Cuda::device_count() as usize {
            bail!("--device {spec}: there are {} CUDA devices", tch::Cuda::device_count());
        }
        tch::Cuda::cudnn_set_benchmark(true);
    }
    Ok(device)
}

/// A new run's settings, from the flags (the config file read whole: a
/// checkpoint keeps its text).
fn settings(args: &Args) -> Result<RunSettings> {
    let (config_text, stem) = match &args.recipe {
        Some(path) => recipe(args, path)?,
        None => {
            let text =
                std::fs::read_to_string(&args.config).with_context(|| format!("--config {}", args.config.display()))?;
            (text, args.config.file_stem().map_or("run".into(), |s| s.to_string_lossy().to_string()))
        }
    };
    Ok(RunSettings {
        config_text,
        model: format!("{:?}", args.model).to_lowercase(),
        epochs: args.epochs,
        batch_size: args.batch_size,
        train_size: args.train_size,
        test_size: args.test_size,
        seed: args.seed,
        data: args.data.clone(),
        log: args.log.clone().unwrap_or_else(|| PathBuf::from("runs").join(stem).join("log.csv")),
        checkpoint_every: args.checkpoint_every,
        swa: args.swa_start.map(|start| average::SwaSettings {
            start,
            lr: args.swa_lr,
            anneal_epochs: args.swa_anneal_epochs,
            anneal_strategy: match args.swa_anneal_strategy {
                AnnealArg::Cos => tch_lr::schedulers::AnnealStrategy::Cos,
                AnnealArg::Linear => tch_lr::schedulers::AnnealStrategy::Linear,
            },
        }),
        ema: args.ema,
    })
}

/// `--recipe PATH`: the config a run's own files describe, as YAML text (a
/// checkpoint keeps it), and the log's folder name; what was found is said.
/// A recipe that leaves the updates per epoch to its run (timm's, on
/// updates) gets this run's: the training samples over the batch size.
fn recipe(args: &Args, path: &Path) -> Result<(String, String)> {
    let updates = (args.train_size > 0 && args.data.is_none()).then(|| (args.train_size / args.batch_size) as u64);
    let options = tch_lr::recipe::RecipeOptions { updates_per_epoch: updates.filter(|&u| u > 0), world_size: None };
    let recipe = tch_lr::recipe::load(path, &options).with_context(|| format!("--recipe {}", path.display()))?;
    if let Some(found) = &recipe.found {
        println!("recipe: {found}");
    }
    let text = serde_yaml::to_string(&recipe.config).context("--recipe: its config as YAML")?;
    let stem = path.file_name().map_or("recipe".into(), |s| s.to_string_lossy().to_string());
    Ok((text, stem))
}

/// A checkpoint's settings hold what the flags would have allowed (a
/// hand-edited `progress.yaml` is refused in one line, not a panic).
fn check_settings(run: &RunSettings) -> Result<()> {
    let checks = [
        ("epochs", run.epochs as i128, 1, MAX_EPOCHS),
        ("batch_size", run.batch_size.into(), 1, MAX_SAMPLES),
        ("train_size", run.train_size.into(), 0, MAX_SAMPLES),
        ("test_size", run.test_size.into(), 0, MAX_SAMPLES),
    ];
    for (key, v, min, max) in checks {
        if !(min..=max).contains(&v) {
            bail!("run.{key} is {v}: it must be {min} to {max} (as --{})", key.replace('_', "-"));
        }
    }
    Ok(())
}

/// A run once its flags, checkpoint, config, device and data are read:
/// what the steps after [`prepare`] share.
struct Prepared {
    /// The run's settings: from the flags, or from the checkpoint resumed.
    run: RunSettings,
    /// The optimizer and schedules.
    config: Config,
    /// The network.
    model: Model,
    /// Where it trains.
    device: Device,
    /// The training split, on `device`.
    train: data::Split,
    /// The test split, on `device`.
    test: data::Split,
    /// Full batches per epoch (the last partial one is dropped).
    batches: usize,
    /// Where checkpoints go (`--checkpoint-dir`, else the folder resumed).
    checkpoint_dir: Option<PathBuf>,
    /// Batches between checkpoints; 0: only at each epoch's end.
    checkpoint_every: u64,
    /// The checkpoint resumed: its folder and where the run stood.
    resume: Option<(PathBuf, Progress)>,
    /// The checkpoint folders' locks, held until the process ends.
    _locks: Vec<checkpoint::Lock>,
}

/// The whole run: [`prepare`], [`check_plan`], then either the LR range test
/// or training ([`Trainer::start`], [`Trainer::train_epoch`] and
/// [`Trainer::end_epoch`] for each epoch, [`Trainer::finish`]).
fn run(args: Args) -> Result<()> {
    let device = pick_device(&args.device)?;
    let par = Parallel::from_env(device, args.dist_timeout)?;
    if par.world() > 1 && args.find_lr {
        bail!("--find-lr runs in one process: launch it without torchrun");
    }
    let p = prepare(&args, device, &par)?;
    check_plan(&p.config, &p.run, p.batches)?;
    let (vs, net) = build_model(&p)?;
    if args.find_lr {
        return range_test(&args, &p, &vs, &net);
    }
    let mut t = Trainer::start(&p, &args, &par, vs, net)?;
    let (epoch0, batch0) = t.position;
    for epoch in epoch0..p.run.epochs {
        let first = if epoch == epoch0 { batch0 } else { 0 };
        let Some(train_loss) = t.train_epoch(epoch, first)? else { break };
        t.end_epoch(epoch, train_loss)?;
    }
    if let Some(path) = args.save_pytorch.as_ref().filter(|_| par.is_writer()) {
        pytorch::save(path, &p.config, &p.run, &t.vs, &t.sched, t.avg.as_ref(), (t.step, t.position.0, t.position.1))?;
    }
    hooks::dump(&t.vs, par.rank());
    par.barrier()?;
    t.finish()
}

/// Reads what the run is: takes the checkpoint folders' locks, the settings
/// ([`read_settings`]), the config, the device ([`pick_device`]) and the data
/// ([`load_data`]).
fn prepare(args: &Args, device: Device, par: &Parallel) -> Result<Prepared> {
    // One run per checkpoint folder at a time, held until the process ends
    // (by rank 0, the one that writes). A resumed run checkpoints on into its
    // folder unless told otherwise.
    let checkpoint_dir = args.checkpoint_dir.clone().or_else(|| args.resume.clone());
    let mut dirs: Vec<&PathBuf> = args.resume.iter().chain(&checkpoint_dir).collect();
    dirs.dedup();
    if !par.is_writer() {
        dirs.clear();
    }
    let _locks = dirs.into_iter().map(|d| checkpoint::lock(d)).collect::<Result<Vec<_>>>()?;
    let (run, resume) = read_settings(args, par)?;
    // 0: only at each epoch's end.
    let checkpoint_every = args.checkpoint_every.or(run.checkpoint_every).unwrap_or(100);
    let run = RunSettings { checkpoint_every: Some(checkpoint_every), ..run };
    let source = args
        .recipe
        .as_ref()
        .map_or_else(|| format!("--config {}", args.config.display()), |r| format!("--recipe {}", r.display()));
    let config = Config::from_yaml(&run.config_text).with_context(|| source)?;
    let config = average::with_swa(config, run.swa.as_ref())?;
    let model = if run.model == "resnet18" { Model::Resnet18 } else { Model::Resnet20 };
    if args.amp && device == Device::Cpu {
        bail!("--amp needs CUDA (autocast is for the GPU here)");
    }
    println!("device: {}", if let Device::Cuda(n) = device { format!("CUDA {n}") } else { "CPU".into() });
    let (train, test, batches) = load_data(&run, device)?;
    Ok(Prepared { run, config, model, device, train, test, batches, checkpoint_dir, checkpoint_every, resume, _locks })
}

/// The run's settings: the flags' ([`settings`]), or, with `--resume`, the
/// latest checkpoint's (checked as the flags are) with its position.
fn read_settings(args: &Args, par: &Parallel) -> Result<(RunSettings, Option<(PathBuf, Progress)>)> {
    // After a torchrun restart, every rank resumes from the newest complete
    // checkpoint of --checkpoint-dir, as --resume would.
    let restarted = args.checkpoint_dir.as_ref().filter(|d| par.restart() > 0 && checkpoint::latest(d).is_ok());
    let Some(dir) = args.resume.as_ref().or(restarted) else { return Ok((settings(args)?, None)) };
    let (path, progress) = checkpoint::latest(dir)?;
    check_settings(&progress.run).with_context(|| format!("{}", path.join("progress.yaml").display()))?;
    Ok((progress.run.clone(), Some((path, progress))))
}

/// The training and test splits on `device`, cut to the run's sizes, and the
/// number of full batches per epoch; says what they are.
fn load_data(run: &RunSettings, device: Device) -> Result<(data::Split, data::Split, usize)> {
    let data = match &run.data {
        Some(dir) => data::cifar10(dir)?,
        None => data::synthetic(run.train_size, run.test_size, run.seed),
    };
    let take = |s: &data::Split, n: i64| {
        let n = if n <= 0 { s.len() } else { n.min(s.len()) };
        data::Split { images: s.images.narrow(0, 0, n), labels: s.labels.narrow(0, 0, n) }
    };
    let train = take(&data.train, run.train_size).to(device);
    let test = take(&data.test, run.test_size).to(device);
    let batches = (train.len() / run.batch_size) as usize;
    if batches == 0 {
        bail!("--batch-size {} is larger than the {} training samples", run.batch_size, train.len());
    }
    println!(
        "data: {} ({} train, {} test), {batches} batches of {} per epoch",
        data.source,
        train.len(),
        test.len(),
        run.batch_size
    );
    Ok((train, test, batches))
}

/// The library's check of the run plan ([`tch_lr::plan::check`]): each
/// family's clock against `interval`, the schedules' lengths against the
/// run's. A refusal ends the run before training; a warning is a `note:`.
fn check_plan(config: &Config, run: &RunSettings, batches: usize) -> Result<()> {
    let plan = RunPlan { epochs: run.epochs as u64, steps_per_epoch: batches as u64 };
    for warning in tch_lr::plan::check(config, &plan)? {
        eprintln!("note: {warning}");
    }
    Ok(())
}

/// The seeded model, with one parameter group per group of the config's
/// optimizer (at most 2: backbone, head).
fn build_model(p: &Prepared) -> Result<(VarStore, FuncT<'static>)> {
    tch::manual_seed(p.run.seed);
    let vs = VarStore::new(p.device);
    let groups = p.config.optimizer.as_ref().map(|o| o.lrs()).transpose()?.map_or(1, |l| l.len());
    if groups > 2 {
        bail!("the ResNet has at most 2 parameter groups (0: backbone, 1: head); the config has {groups}");
    }
    let net = model::build(p.model, &vs.root(), 10, groups - 1)?;
    Ok((vs, net))
}

/// `--find-lr`: the LR range test on the run's model, optimizer and batches, instead of training.
fn range_test(args: &Args, p: &Prepared, vs: &VarStore, net: &FuncT<'static>) -> Result<()> {
    find_lr::run(find_lr::Inputs {
        finder: LrFinder::new(args.find_lr_start, args.find_lr_end).num_steps(args.find_lr_steps),
        rule: args.find_lr_rule,
        config: &p.config,
        vs,
        net,
        train: &p.train,
        batch_size: p.run.batch_size,
        seed: p.run.seed,
        amp: args.amp,
        log: &p.run.log,
    })
}

/// The per-batch log and the per-epoch one beside it.
struct Logs {
    /// One row per batch.
    batches: log::Csv,
    /// One row per epoch: losses and accuracy.
    epochs: log::Csv,
    /// The per-epoch log's path.
    epochs_path: PathBuf,
}

/// The training loop's state, which its steps advance.
struct Trainer<'a> {
    p: &'a Prepared,
    /// The ranks (one, without torchrun).
    par: &'a Parallel,
    /// This rank's samples of each global batch.
    shard: std::ops::Range<i64>,
    /// `--amp`.
    amp: bool,
    /// `--stop-after`.
    stop_after: Option<u64>,
    vs: VarStore,
    net: FuncT<'static>,
    sched: Scheduler<Box<dyn Schedule>>,
    /// Whether momentum, and weight decay, are scheduled: logged per group.
    cycles: bool,
    decays: bool,
    /// Rank 0's logs (the other ranks write none).
    logs: Option<Logs>,
    bar: ProgressBar,
    /// The next batch to train: its epoch and index in the epoch (the
    /// first batch of the next epoch once an epoch ended).
    position: (usize, usize),
    /// The next batch's global step.
    step: u64,
    /// Samples trained on by this process, and since when.
    samples: i64,
    started: Instant,
    /// The last epoch's validation loss and accuracy.
    last: (f64, f64),
    /// The averaged model (--swa-start, --ema, a config's SWA).
    avg: Option<average::Averaged>,
}

impl<'a> Trainer<'a> {
    /// Builds the optimizer and scheduler, resumes or starts the run
    /// ([`resume_or_start`]), and opens the logs and the progress bar.
    fn start(p: &'a Prepared, args: &Args, par: &'a Parallel, mut vs: VarStore, net: FuncT<'static>) -> Result<Self> {
        // libtorch's optimizer owned by tch-lr: its state goes into the checkpoints.
        let optim = p.config.build_optim(&vs, tch_lr::optim::Backend::Owned)?;
        let mut sched = p.config.build(optim)?;
        if let Some(path) = &args.weights {
            pytorch::load_weights(path, &mut vs)?;
        }
        let (cycles, decays) = (sched.last_momentum().is_some(), sched.last_weight_decay().is_some());
        // A checkpoint of this run (--resume, or after a torchrun restart)
        // comes before the PyTorch checkpoint the run started from.
        let groups = sched.groups().lrs().len();
        let mut avg = average::Averaged::new(&p.config, p.run.ema, || build_model(p))?;
        let (step, epoch0, batch0) = match (&p.resume, &args.resume_pytorch) {
            (None, Some(path)) => pytorch::load(path, &p.config, &p.run, p.batches, &mut vs, &mut sched, avg.as_mut())?,
            _ => resume_or_start(p.resume.as_ref(), &mut vs, &mut sched)?,
        };
        if let (Some(a), Some((path, _))) = (&mut avg, &p.resume) {
            a.load(path)?;
        }
        // A run resumed from its checkpoint folder keeps its log's rows before the step.
        let resumed_at = p.resume.as_ref().map(|_| (step, epoch0));
        // Every rank starts from rank 0's weights and buffers (DDP's start).
        par.sync_start(&vs)?;
        let shard = par.shard(p.run.batch_size)?;
        let logs = match par.is_writer() {
            true => Some(open_logs(&p.run.log, groups, cycles, decays, avg.is_some(), resumed_at)?),
            false => None,
        };
        let bar = match par.is_writer() {
            true => ProgressBar::new((p.run.epochs * p.batches) as u64).with_position(step),
            false => ProgressBar::hidden(),
        };
        bar.set_style(
            ProgressStyle::with_template("{bar:30} {pos}/{len} batches, {elapsed} < {eta} | {msg}")
                .expect("a valid template"),
        );
        Ok(Trainer {
            p,
            par,
            shard,
            amp: args.amp,
            stop_after: args.stop_after,
            vs,
            net,
            sched,
            cycles,
            decays,
            logs,
            bar,
            position: (epoch0, batch0),
            step,
            samples: 0,
            started: Instant::now(),
            last: (f64::NAN, f64::NAN),
            avg,
        })
    }

    /// Trains the batches `first..` of `epoch` ([`train_batch`](Self::train_batch));
    /// the mean training loss, or `None` when `--stop-after` stops the run.
    fn train_epoch(&mut self, epoch: usize, first: usize) -> Result<Option<f64>> {
        let order = data::epoch_order(self.p.train.len(), self.p.run.seed, epoch).to_device(self.p.device);
        let (mut sum, mut n) = (0.0, 0usize);
        for batch in first..self.p.batches {
            if self.stop_after.is_some_and(|n| self.step >= n) {
                self.bar.abandon_with_message(format!("stopped after {} batches (--stop-after)", self.step));
                return Ok(None);
            }
            sum += self.train_batch(epoch, batch, &order)?;
            n += 1;
        }
        Ok(Some(sum / n.max(1) as f64))
    }

    /// One batch: the optimizer's step, its log row (with the values it was
    /// trained with), the scheduler's step when it steps per update, and a
    /// checkpoint every `checkpoint_every` batches. Its loss.
    fn train_batch(&mut self, epoch: usize, batch: usize, order: &Tensor) -> Result<f64> {
        let p = self.p;
        let (run, train) = (&p.run, &p.train);
        let t0 = Instant::now();
        // This rank's shard of the global batch.
        let first = batch as i64 * run.batch_size + self.shard.start;
        let idx = order.narrow(0, first, self.shard.end - self.shard.start);
        let (x, y) = (train.images.index_select(0, &idx), train.labels.index_select(0, &idx));
        let lrs = self.sched.groups().lrs();
        let momenta = self.sched.groups().momenta();
        let weight_decays = self.sched.groups().weight_decays();
        let net = &self.net;
        self.par.sync_buffers(&self.vs)?;
        let loss = tch::autocast(self.amp, || cross_entropy(&net.forward_t(&x, true), &y));
        self.sched.optimizer_mut().zero_grad();
        loss.backward();
        self.par.average_gradients(&self.vs)?;
        self.sched.optimizer_mut().step();
        if let Some(avg) = &mut self.avg {
            avg.after_step(&self.vs)?;
        }
        hooks::at("batch", None);
        let loss = self.par.mean_loss(&loss)?;
        let rate = run.batch_size as f64 / t0.elapsed().as_secs_f64();
        let mut row = vec![self.step.to_string(), epoch.to_string(), batch.to_string()];
        row.extend(lrs.iter().map(|v| v.to_string()));
        if self.cycles {
            row.extend(momenta.iter().map(|v| v.to_string()));
        }
        if self.decays {
            row.extend(weight_decays.iter().map(|v| v.to_string()));
        }
        // The loss in full (the shortest text that reads back to it), as the twin's repr().
        row.extend([loss.to_string(), format!("{rate:.1}")]);
        if let Some(logs) = &mut self.logs {
            logs.batches.row(&row)?;
            hooks::at("row", None);
        }
        if p.config.interval == Interval::Step {
            self.sched.step().context("scheduler step")?;
            hooks::at("step", None);
        }
        self.step += 1;
        self.position = (epoch, batch + 1);
        self.samples += run.batch_size;
        self.bar.set_position(self.step);
        self.bar.set_message(format!("epoch {epoch} loss {loss:.4} lr {:.3e} {rate:.0} samples/s", lrs[0]));
        if p.checkpoint_every > 0 && self.step.is_multiple_of(p.checkpoint_every) {
            self.checkpoint(epoch, batch + 1)?;
        }
        Ok(loss)
    }

    /// After the last batch of `epoch`: [`evaluate`] on the test split, the
    /// epoch's log row, the scheduler's step when it steps per epoch (on the
    /// validation loss for ReduceLROnPlateau), and a checkpoint.
    fn end_epoch(&mut self, epoch: usize, train_loss: f64) -> Result<()> {
        // Every rank evaluates with rank 0's buffers: the same validation loss
        // (ReduceLROnPlateau steps alike on every rank).
        self.par.sync_buffers(&self.vs)?;
        let (val_loss, val_acc) = evaluate(&self.net, &self.p.test, self.p.run.batch_size.max(256));
        self.last = (val_loss, val_acc);
        let mut row = vec![epoch.to_string(), train_loss.to_string(), val_loss.to_string(), val_acc.to_string()];
        let p = self.p;
        let averaged = match &mut self.avg {
            Some(avg) => avg.after_epoch(epoch, &self.vs, &p.train, &p.test, p.run.batch_size)?,
            None => None,
        };
        if self.avg.is_some() {
            let (loss, acc) = averaged.map_or((String::new(), String::new()), |(l, a)| (l.to_string(), a.to_string()));
            row.extend([loss, acc]);
        }
        if let Some(logs) = &mut self.logs {
            logs.epochs.row(&row)?;
            hooks::at("epoch", None);
        }
        if self.par.is_writer() {
            self.bar.suspend(|| {
                println!(
                    "epoch {epoch}: train loss {train_loss:.4}, val loss {val_loss:.4}, val accuracy {:.1}%",
                    100.0 * val_acc
                );
                if let Some((loss, acc)) = averaged {
                    println!("epoch {epoch}: averaged model's val loss {loss:.4}, val accuracy {:.1}%", 100.0 * acc);
                }
            });
        }
        if self.p.config.interval == Interval::Epoch {
            if self.p.config.takes_metric() {
                self.sched.step_metric(val_loss).context("scheduler step")?;
            } else {
                self.sched.step().context("scheduler step")?;
            }
        }
        self.position = (epoch + 1, 0);
        self.checkpoint(epoch + 1, 0)
    }

    /// Saves a checkpoint (when the run has a checkpoint folder) whose next
    /// batch is `batch` of `epoch`.
    fn checkpoint(&self, epoch: usize, batch: usize) -> Result<()> {
        let Some(dir) = &self.p.checkpoint_dir else { return Ok(()) };
        if self.par.is_writer() {
            let progress = Progress { step: self.step, epoch, batch, run: self.p.run.clone() };
            checkpoint::save(dir, &self.vs, &self.sched, self.avg.as_ref(), &progress)?;
        }
        // The others wait for it: a restart finds it complete.
        self.par.barrier()
    }

    /// Says how the run went, and draws the log's plot.
    fn finish(self) -> Result<()> {
        self.bar.finish_and_clear();
        let Some(logs) = &self.logs else { return Ok(()) };
        let secs = self.started.elapsed().as_secs_f64();
        let (step, (val_loss, val_acc)) = (self.step, self.last);
        let ranks = match self.par.world() {
            1 => String::new(),
            n => format!(" on {n} processes"),
        };
        println!(
            "done: {step} batches in {secs:.1} s ({:.0} samples/s{ranks}); val loss {val_loss:.4}, val accuracy {:.1}%",
            self.samples as f64 / secs.max(1e-9),
            100.0 * val_acc
        );
        let log = &self.p.run.log;
        let plot = log.with_extension("png");
        plot_log(log, &plot, self.p.config.scheduler.name())?;
        println!("log: {}\nper epoch: {}\nplot: {}", log.display(), logs.epochs_path.display(), plot.display());
        Ok(())
    }
}

/// Loads the checkpoint resumed, if any, into the model, the scheduler and
/// the optimizer; where the run goes on: its global step, epoch and batch
/// (0, 0, 0 for a fresh run).
fn resume_or_start(
    resume: Option<&(PathBuf, Progress)>,
    vs: &mut VarStore,
    sched: &mut Scheduler<Box<dyn Schedule>>,
) -> Result<(u64, usize, usize)> {
    let Some((path, progress)) = resume else { return Ok((0, 0, 0)) };
    vs.load(path.join("model.ot")).with_context(|| format!("loading {}", path.join("model.ot").display()))?;
    sched.load(path.join("scheduler.yaml"))?;
    let optimizer = path.join("optimizer.pt");
    if optimizer.is_file() {
        sched.optimizer_mut().load(&optimizer)?;
    } else {
        eprintln!(
            "note: {} has no optimizer.pt (an older checkpoint): the optimizer's state starts afresh",
            path.display()
        );
    }
    let (step, epoch, batch) = (progress.step, progress.epoch, progress.batch);
    println!("resuming {} at step {step} (epoch {epoch}, batch {batch})", path.display());
    Ok((step, epoch, batch))
}

/// Opens the per-batch log at `path` (`step,epoch,batch,lr_0,..,[momentum_0,..,]
/// [weight_decay_0,..,]loss,samples_per_sec`) and the per-epoch log beside
/// it (with the averaged model's validation loss and accuracy when `averaged`);
/// a resumed run (`resumed_at`: its step and epoch) keeps their rows before it.
fn open_logs(
    path: &Path,
    groups: usize,
    cycles: bool,
    decays: bool,
    averaged: bool,
    resumed_at: Option<(u64, usize)>,
) -> Result<Logs> {
    let mut header = vec!["step".to_string(), "epoch".into(), "batch".into()];
    header.extend((0..groups).map(|g| format!("lr_{g}")));
    if cycles {
        header.extend((0..groups).map(|g| format!("momentum_{g}")));
    }
    if decays {
        header.extend((0..groups).map(|g| format!("weight_decay_{g}")));
    }
    header.extend(["loss".into(), "samples_per_sec".into()]);
    let batches = log::Csv::open(path, &header.join(","), resumed_at.map(|(step, _)| step))?;
    let epochs_path = path.with_extension("epochs.csv");
    let epochs_header = match averaged {
        true => "epoch,train_loss,val_loss,val_accuracy,avg_val_loss,avg_val_accuracy",
        false => "epoch,train_loss,val_loss,val_accuracy",
    };
    let epochs = log::Csv::open(&epochs_path, epochs_header, resumed_at.map(|(_, epoch)| epoch as u64))?;
    Ok(Logs { batches, epochs, epochs_path })
}

/// PyTorch's `F.cross_entropy(logits, labels)`: the same libtorch op
/// (`cross_entropy_loss`, mean over the batch), so the twin's losses and
/// gradients are these, bit for bit.
fn cross_entropy(logits: &Tensor, labels: &Tensor) -> Tensor {
    logits.cross_entropy_loss(labels, None::<Tensor>, tch::Reduction::Mean, -100, 0.0)
}

/// Mean loss and accuracy on `split`, in evaluation mode, without gradients.
fn evaluate(net: &impl ModuleT, split: &data::Split, batch: i64) -> (f64, f64) {
    tch::no_grad(|| {
        let (mut loss, mut correct) = (0.0, 0.0);
        let n = split.len();
        let mut start = 0;
        while start < n {
            let len = batch.min(n - start);
            let x = split.images.narrow(0, start, len);
            let y = split.labels.narrow(0, start, len);
            let logits = net.forward_t(&x, false);
            loss += cross_entropy(&logits, &y).double_value(&[]) * len as f64;
            correct += logits.argmax(-1, false).eq_tensor(&y).to_kind(Kind::Float).sum(Kind::Float).double_value(&[]);
            start += len;
        }
        (loss / n as f64, correct / n as f64)
    })
}

/// Draws the LR of each group and the loss against the step from the log.
fn plot_log(log: &Path, out: &Path, title: &str) -> Result<()> {
    let text = std::fs::read_to_string(log)?;
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().unwrap_or_default().split(',').collect();
    let rows: Vec<Vec<f64>> = lines.map(|l| l.split(',').map(|v| v.parse().unwrap_or(f64::NAN)).collect()).collect();
    let col = |name: &str| header.iter().position(|h| *h == name);
    let series =
        |name: &str, i: usize| Series { name: name.into(), points: rows.iter().map(|r| (r[0], r[i])).collect() };
    let left = header.iter().enumerate().filter(|(_, h)| h.starts_with("lr_")).map(|(i, h)| series(h, i)).collect();
    let right = col("loss").map(|i| vec![series("loss", i)]).unwrap_or_default();
    let chart = Chart {
        title: format!("{title}: learning rate and loss per batch"),
        x_label: "step (batch)".into(),
        left_label: "learning rate".into(),
        left,
        right_label: "training loss".into(),
        right,
    };
    Ok(chart.draw(out)?)
}

/// The flags' checks, in this process: `tests/end_to_end/train.rs` runs a few
/// of these cases as the program (status 2, nothing written).
#[cfg(test)]
mod tests {
    use super::parse_args;

    /// Every bad value of the numeric flags (zero, negative, huge, not a number,
    /// NaN, infinite) and every contradicting pair is a usage error (status 2;
    /// never a panic, as `--batch-size 0` was): one `error:` line naming the flag.
    #[test]
    fn bad_flag_values_are_usage_errors_naming_the_flag() {
        let huge = "99999999999999999999999";
        let mut cases: Vec<(Vec<&str>, &str)> = vec![];
        /// `with`, then `flag` with each of `bad` and the values no numeric flag takes.
        fn each<'a>(cases: &mut Vec<(Vec<&'a str>, &'a str)>, flag: &'a str, bad: &[&'a str], with: &[&'a str]) {
            let fractions: &[&str] =
                if flag.starts_with("--find-lr-s") || flag == "--find-lr-end" { &[] } else { &["1.5", "1e3"] };
            for b in bad.iter().chain(&["abc", "nan", "inf", "-inf", ""]).chain(fractions) {
                let mut a = with.to_vec();
                a.extend([flag, b]);
                cases.push((a, flag));
            }
        }
        each(&mut cases, "--batch-size", &["0", "-1", "-64", "100001", huge], &[]);
        each(&mut cases, "--epochs", &["0", "-1", "1000001", huge], &[]);
        each(&mut cases, "--train-size", &["-1", "100001", huge], &[]);
        each(&mut cases, "--test-size", &["-1", "100001", huge], &[]);
        each(&mut cases, "--seed", &[huge, "-99999999999999999999"], &[]);
        each(&mut cases, "--checkpoint-every", &["-1", huge], &["--checkpoint-dir", "ckpt"]);
        each(&mut cases, "--stop-after", &["0", "-1", huge], &[]);
        each(&mut cases, "--find-lr-steps", &["0", "1", "-1", "100001", huge], &["--find-lr"]);
        each(&mut cases, "--find-lr-start", &["0", "-1e-5", "1e400", "NaN"], &["--find-lr"]);
        each(&mut cases, "--find-lr-end", &["0", "-1", "1e400", "-nan"], &["--find-lr"]);
        each(&mut cases, "--device", &["tpu", "cuda:x", "cuda:-1", "cuda:99999999999"], &[]);
        // Pairs: each flag valid alone.
        let pairs: [(&[&str], &str); 9] = [
            (&["--train-size", "0"], "--train-size"),
            (&["--test-size", "0"], "--test-size"),
            (&["--batch-size", "100", "--train-size", "50"], "--batch-size"),
            (&["--checkpoint-every", "5"], "--checkpoint-every"),
            (&["--find-lr-steps", "10"], "--find-lr-steps"),
            (&["--find-lr-start", "1e-3"], "--find-lr-start"),
            (&["--find-lr", "--find-lr-start", "1", "--find-lr-end", "0.5"], "--find-lr-start"),
            (&["--find-lr", "--find-lr-start", "1", "--find-lr-end", "1"], "--find-lr-end"),
            (&["--resume", "ckpt", "--epochs", "3"], "--epochs"),
        ];
        cases.extend(pairs.iter().map(|(a, f)| (a.to_vec(), *f)));
        assert!(cases.len() > 90, "{} cases", cases.len());
        for (args, flag) in cases {
            let mut argv = vec!["train_resnet"];
            if !args.contains(&"--resume") {
                argv.extend(["--config", "c.yaml", "--log", "log.csv"]);
            }
            if !args.contains(&"--device") {
                argv.extend(["--device", "cpu"]);
            }
            argv.extend(&args);
            let e = parse_args(&argv).err().unwrap_or_else(|| panic!("{args:?} should be a usage error"));
            assert_eq!(e.exit_code(), 2, "{args:?}: clap's usage error: {e}");
            let text = e.to_string();
            let errors: Vec<&str> = text.lines().filter(|l| l.starts_with("error:")).collect();
            assert_eq!(errors.len(), 1, "{args:?}: {text}");
            assert!(errors[0].contains(flag), "{args:?}: {:?} should name {flag}", errors[0]);
        }
    }

    /// The values at the edges are taken.
    #[test]
    fn the_edges_are_allowed() {
        for args in [
            &["--batch-size", "1"][..],
            &["--epochs", "1000000"],
            &["--train-size", "100000"],
            &["--find-lr", "--find-lr-steps", "2"],
            &["--device", "cuda:7"],
            &["--checkpoint-dir", "ckpt", "--checkpoint-every", "0"],
        ] {
            let argv = [&["train_resnet", "--config", "c.yaml"][..], args].concat();
            assert!(parse_args(&argv).is_ok(), "{args:?}: {}", parse_args(&argv).unwrap_err());
        }
    }
}
