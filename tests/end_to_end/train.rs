//! The training program (`src/bin/train_resnet`), run small: per-batch and
//! per-epoch stepping, its LR log against `tch-lr trace`, ReduceLROnPlateau fed
//! by the validation loss, CIFAR-10 binary files, errors before training, and
//! stop-then-resume.

use crate::common;
use std::os::unix::process::ExitStatusExt as _;
use std::path::{Path, PathBuf};
use std::process::{Output, Stdio};

/// The training program (`src/bin/train_resnet`), which Cargo builds for
/// the tests with their features (`distributed` for the torchrun tests below).
fn example() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_train_resnet"))
}

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn train(args: &[&str]) -> Output {
    let out = common::command(example()).args(args).current_dir(root()).output().unwrap();
    assert!(!String::from_utf8_lossy(&out.stderr).contains("panicked"), "{}", String::from_utf8_lossy(&out.stderr));
    out
}

fn ok(out: &Output) -> String {
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(out.status.success(), "{}\n{}", text, String::from_utf8_lossy(&out.stderr));
    text
}

/// A config file in `dir`.
fn config(dir: &Path, name: &str, yaml: &str) -> String {
    let p = dir.join(name);
    std::fs::write(&p, yaml).unwrap();
    p.to_str().unwrap().to_string()
}

/// `epochs` epochs of 4 batches of 16 (64 samples), ResNet-20, on `device`.
fn sized<'a>(cfg: &'a str, log: &'a str, epochs: &'a str, device: &'a str) -> Vec<&'a str> {
    let mut a = vec!["--config", cfg, "--log", log, "--device", device, "--train-size", "64", "--test-size", "32"];
    a.extend(["--batch-size", "16", "--epochs", epochs]);
    a
}

/// 2 epochs of 4 batches of 16 on the CPU.
fn small<'a>(cfg: &'a str, log: &'a str) -> Vec<&'a str> {
    sized(cfg, log, "2", "cpu")
}

/// The CSV's rows as string fields, by column name.
struct Csv {
    header: Vec<String>,
    rows: Vec<Vec<String>>,
}

impl Csv {
    fn read(path: &Path) -> Csv {
        let text = std::fs::read_to_string(path).unwrap();
        let mut lines = text.lines().map(|l| l.split(',').map(String::from).collect::<Vec<_>>());
        Csv { header: lines.next().unwrap(), rows: lines.collect() }
    }

    fn col(&self, name: &str) -> Vec<String> {
        let i = self.header.iter().position(|h| h == name).unwrap_or_else(|| panic!("no column {name}"));
        self.rows.iter().map(|r| r[i].clone()).collect()
    }

    /// The columns that must not depend on timing or the loss.
    fn schedule_columns(&self) -> Vec<Vec<String>> {
        let keep: Vec<usize> = (0..self.header.len())
            .filter(|&i| !matches!(self.header[i].as_str(), "loss" | "samples_per_sec"))
            .collect();
        self.rows.iter().map(|r| keep.iter().map(|&i| r[i].clone()).collect()).collect()
    }
}

/// `tch-lr trace CONFIG --steps N [--metrics FILE]` as CSV.
fn trace(cfg: &str, steps: usize, metrics: Option<&str>) -> Csv {
    let n = steps.to_string();
    let mut args = vec!["trace", cfg, "--steps", &n];
    if let Some(m) = metrics {
        args.extend(["--metrics", m]);
    }
    let out = common::command(env!("CARGO_BIN_EXE_tch-lr")).args(&args).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("t.csv");
    std::fs::write(&p, out.stdout).unwrap();
    Csv::read(&p)
}

const ONE_CYCLE: &str = "optimizer: {name: sgd, lr: [0.05, 0.1], momentum: 0.9}
scheduler: {name: OneCycleLR, max_lr: [0.05, 0.1], total_steps: 8, base_momentum: [0.85, 0.8]}
interval: step
";

#[test]
fn per_batch_log_has_one_row_per_batch_and_the_lr_of_tch_lr_trace() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path(), "c.yaml", ONE_CYCLE);
    let log = dir.path().join("run/log.csv");
    let stdout = ok(&train(&small(&cfg, log.to_str().unwrap())));
    assert!(stdout.contains("device: CPU") && stdout.contains("plot:"), "{stdout}");
    let csv = Csv::read(&log);
    assert_eq!(
        csv.header,
        ["step", "epoch", "batch", "lr_0", "lr_1", "momentum_0", "momentum_1", "loss", "samples_per_sec"]
    );
    assert_eq!(csv.rows.len(), 8);
    assert_eq!(csv.col("step"), (0..8).map(|i| i.to_string()).collect::<Vec<_>>());
    assert_eq!(csv.col("epoch"), ["0", "0", "0", "0", "1", "1", "1", "1"]);
    let t = trace(&cfg, 8, None);
    for col in ["lr_0", "lr_1", "momentum_0", "momentum_1"] {
        assert_eq!(csv.col(col), t.col(col), "{col}: the log and `tch-lr trace` differ");
    }
    assert!(csv.col("loss").iter().all(|v| v.parse::<f64>().unwrap().is_finite()));
    assert!(log.with_extension("png").exists() && dir.path().join("run/log.epochs.csv").exists());
}

#[test]
fn per_epoch_stepping_keeps_the_lr_for_a_whole_epoch() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(
        dir.path(),
        "c.yaml",
        "optimizer: {name: adam, lr: 0.01}\nscheduler: {name: StepLR, step_size: 1, gamma: 0.5}\ninterval: epoch\n",
    );
    let log = dir.path().join("log.csv");
    ok(&train(&sized(&cfg, log.to_str().unwrap(), "3", "cpu")));
    let csv = Csv::read(&log);
    let t = trace(&cfg, 3, None);
    let lr = t.col("lr_0");
    for (row, epoch) in csv.col("epoch").iter().enumerate() {
        let e: usize = epoch.parse().unwrap();
        assert_eq!(csv.col("lr_0")[row], lr[e], "row {row}");
    }
    assert_eq!(csv.rows.len(), 12);
}

#[test]
fn plateau_is_fed_the_validation_loss_once_per_epoch() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(
        dir.path(),
        "c.yaml",
        "optimizer: {name: sgd, lr: 0.1, momentum: 0.9}\nscheduler: {name: ReduceLROnPlateau, patience: 0, factor: 0.5, threshold: 0.5}\n",
    );
    let log = dir.path().join("log.csv");
    ok(&train(&sized(&cfg, log.to_str().unwrap(), "4", "cpu")));
    let epochs = Csv::read(&dir.path().join("log.epochs.csv"));
    let metrics = dir.path().join("metrics.txt");
    std::fs::write(&metrics, epochs.col("val_loss").join("\n")).unwrap();
    let t = trace(&cfg, 4, Some(metrics.to_str().unwrap()));
    let csv = Csv::read(&log);
    for (row, epoch) in csv.col("epoch").iter().enumerate() {
        assert_eq!(csv.col("lr_0")[row], t.col("lr_0")[epoch.parse::<usize>().unwrap()], "row {row}");
    }
    assert!(t.col("lr_0").iter().collect::<std::collections::BTreeSet<_>>().len() > 1, "the LR must be cut");
}

/// CIFAR-10's binary format: a label byte, then 3072 pixel bytes, per record.
fn write_cifar(dir: &Path, records: usize) {
    let names = [
        "data_batch_1.bin",
        "data_batch_2.bin",
        "data_batch_3.bin",
        "data_batch_4.bin",
        "data_batch_5.bin",
        "test_batch.bin",
    ];
    for (f, name) in names.iter().enumerate() {
        let mut bytes = Vec::with_capacity(records * 3073);
        for r in 0..records {
            bytes.push(((r + f) % 10) as u8);
            bytes.extend((0..3072).map(|i| ((i * 7 + r * 13 + f) % 256) as u8));
        }
        std::fs::write(dir.join(name), bytes).unwrap();
    }
}

#[test]
fn cifar10_binary_files_are_read() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("cifar");
    std::fs::create_dir(&data).unwrap();
    write_cifar(&data, 8);
    let cfg = config(
        dir.path(),
        "c.yaml",
        "optimizer: {name: sgd, lr: 0.01}\nscheduler: {name: ExponentialLR, gamma: 0.9}\n",
    );
    let log = dir.path().join("log.csv");
    let args = ["--config", &cfg, "--log", log.to_str().unwrap(), "--data", data.to_str().unwrap()];
    let stdout = ok(&train(
        &[&args[..], &["--train-size", "0", "--test-size", "0", "--batch-size", "8", "--epochs", "1"]].concat(),
    ));
    assert!(stdout.contains("CIFAR-10 from") && stdout.contains("(40 train, 8 test)"), "{stdout}");
    assert_eq!(Csv::read(&log).rows.len(), 5);
}

#[test]
fn missing_or_broken_data_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let cfg =
        config(dir.path(), "c.yaml", "scheduler: {name: ExponentialLR, gamma: 0.9}\noptimizer: {name: sgd, lr: 0.1}\n");
    let out = train(&["--config", &cfg, "--data", "/nonexistent/cifar"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no such directory"));
    let data = dir.path().join("cifar");
    std::fs::create_dir(&data).unwrap();
    write_cifar(&data, 2);
    std::fs::remove_file(data.join("data_batch_3.bin")).unwrap();
    let out = train(&["--config", &cfg, "--data", data.to_str().unwrap()]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("missing data_batch_3.bin"));
    std::fs::write(data.join("data_batch_3.bin"), [1u8; 100]).unwrap();
    let out = train(&["--config", &cfg, "--data", data.to_str().unwrap()]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("not a whole number of CIFAR-10 records"));
}

#[test]
fn one_cycle_shorter_than_the_run_is_refused_before_training() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(
        dir.path(),
        "c.yaml",
        "optimizer: {name: sgd, lr: 0.1, momentum: 0.9}\nscheduler: {name: OneCycleLR, max_lr: 0.1, total_steps: 5}\ninterval: step\n",
    );
    let log = dir.path().join("log.csv");
    let out = train(&small(&cfg, log.to_str().unwrap()));
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("total_steps is 5") && err.contains("8 times"), "{err}");
    assert!(!log.exists(), "nothing is trained or logged");
}

/// The checkpoint holds the model, the scheduler and the optimizer's state
/// (SGD's momentum buffers, AdamW's moments and step counts): the resumed
/// run's losses are the uninterrupted run's, to the last logged digit.
#[test]
fn a_stopped_run_resumes_with_the_same_lr_sequence_losses_and_log() {
    for (yaml, stop) in [
        (ONE_CYCLE, "5"),
        ("optimizer: {name: adamw, lr: [0.01, 0.02]}\nscheduler: {name: CosineAnnealingLR, T_max: 2}\ninterval: epoch\n", "6"),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let cfg = config(dir.path(), "c.yaml", yaml);
        let full = dir.path().join("full/log.csv");
        ok(&train(&small(&cfg, full.to_str().unwrap())));

        let part = dir.path().join("part/log.csv");
        let ckpt = dir.path().join("ckpt");
        let mut args = small(&cfg, part.to_str().unwrap());
        args.extend(["--checkpoint-dir", ckpt.to_str().unwrap(), "--checkpoint-every", "3", "--stop-after", stop]);
        ok(&train(&args));
        assert_eq!(Csv::read(&part).rows.len(), stop.parse::<usize>().unwrap(), "stopped part-way");
        // The checkpoint is at step 3: the rows after it are dropped and redone.
        let stdout = ok(&train(&["--resume", ckpt.to_str().unwrap(), "--device", "cpu"]));
        assert!(stdout.contains("resuming"), "{stdout}");
        let (a, b) = (Csv::read(&full), Csv::read(&part));
        assert_eq!(a.header, b.header);
        assert_eq!(a.schedule_columns(), b.schedule_columns(), "{yaml}");
        assert_eq!(a.col("loss"), b.col("loss"), "{yaml}: the losses");
    }
}

#[test]
fn devices() {
    let dir = tempfile::tempdir().unwrap();
    let cfg =
        config(dir.path(), "c.yaml", "optimizer: {name: sgd, lr: 0.1}\nscheduler: {name: ExponentialLR, gamma: 0.9}\n");
    let log = dir.path().join("log.csv");
    let stdout = ok(&train(&sized(&cfg, log.to_str().unwrap(), "1", "auto")));
    let cuda = tch::Cuda::is_available();
    assert!(stdout.contains(if cuda { "device: CUDA 0" } else { "device: CPU" }), "{stdout}");
    if !cuda {
        let out = train(&["--config", &cfg, "--device", "cuda"]);
        assert_eq!(out.status.code(), Some(1));
        assert!(String::from_utf8_lossy(&out.stderr).contains("CUDA is not available"));
        let out = train(&["--config", &cfg, "--amp"]);
        assert!(String::from_utf8_lossy(&out.stderr).contains("--amp needs CUDA"));
    }
    let out = train(&["--config", &cfg, "--device", "tpu"]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("expected auto, cpu, cuda or cuda:N"));
}

/// 3 epochs of 4 batches (12 steps), OneCycleLR per batch, a checkpoint every 2 batches.
const KILLED: &str = "optimizer: {name: sgd, lr: [0.05, 0.1], momentum: 0.9}
scheduler: {name: OneCycleLR, max_lr: [0.05, 0.1], total_steps: 12}
interval: step
";

/// Killed with SIGKILL at many moments (after a log row, after a scheduler
/// step, at an epoch's end, at each stage of a checkpoint write, and from
/// outside at an arbitrary time), the run resumes from its last complete
/// checkpoint, as often as it takes, to a log whose schedule columns and
/// losses equal the uninterrupted run's, with every step exactly once.
#[test]
fn a_killed_run_resumes_to_the_uninterrupted_runs_schedule() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path(), "c.yaml", KILLED);
    let full = dir.path().join("full/log.csv");
    ok(&train(&sized(&cfg, full.to_str().unwrap(), "3", "cpu")));
    let want = Csv::read(&full);
    assert_eq!(want.rows.len(), 12);

    let points = ["row:3", "step:5", "epoch:1", "save:model:2", "save:renamed:1", "save:latest:4"];
    for (k, point) in points.iter().enumerate() {
        let run = dir.path().join(format!("run{k}"));
        let (log, ckpt) = (run.join("log.csv"), run.join("ckpt"));
        let mut args = sized(&cfg, log.to_str().unwrap(), "3", "cpu");
        args.extend(["--checkpoint-dir", ckpt.to_str().unwrap(), "--checkpoint-every", "2"]);
        let out = common::command(example())
            .args(&args)
            .env("TRAIN_RESNET_DIE_AT", point)
            .current_dir(root())
            .output()
            .unwrap();
        assert_eq!(out.status.signal(), Some(9), "{point}: the run should have been killed: {out:?}");
        // Resume (killing nothing now) until the run is complete.
        let resumed = train(&["--resume", ckpt.to_str().unwrap(), "--device", "cpu"]);
        ok(&resumed);
        let got = Csv::read(&log);
        let steps: Vec<String> = got.col("step");
        assert_eq!(steps, (0..12).map(|s| s.to_string()).collect::<Vec<_>>(), "{point}: every step exactly once");
        assert_eq!(got.schedule_columns(), want.schedule_columns(), "{point}: the LR columns of the uninterrupted run");
        assert_eq!(got.col("loss"), want.col("loss"), "{point}: the losses of the uninterrupted run");
    }

    // From outside, at whatever moment the process has reached.
    let run = dir.path().join("outside");
    let (log, ckpt) = (run.join("log.csv"), run.join("ckpt"));
    let mut args = sized(&cfg, log.to_str().unwrap(), "3", "cpu");
    args.extend(["--checkpoint-dir", ckpt.to_str().unwrap(), "--checkpoint-every", "2"]);
    let mut child = common::command(example()).args(&args).current_dir(root()).stdout(Stdio::null()).spawn().unwrap();
    let start = std::time::Instant::now();
    while !ckpt.join("latest").exists() && start.elapsed().as_secs() < 60 {
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    std::thread::sleep(std::time::Duration::from_millis(30));
    child.kill().unwrap(); // SIGKILL
    let status = child.wait().unwrap();
    ok(&train(&["--resume", ckpt.to_str().unwrap(), "--device", "cpu"]));
    let got = Csv::read(&log);
    assert_eq!(got.col("step"), (0..12).map(|s| s.to_string()).collect::<Vec<_>>(), "outside kill ({status:?})");
    assert_eq!(got.schedule_columns(), want.schedule_columns(), "outside kill");
    assert_eq!(got.col("loss"), want.col("loss"), "outside kill: the losses");
}

/// Two runs on one checkpoint folder: the second stops at once with a clear
/// error, and the first's log is not touched by it.
#[test]
fn a_second_run_on_the_same_checkpoint_folder_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path(), "c.yaml", KILLED);
    let (log, ckpt) = (dir.path().join("log.csv"), dir.path().join("ckpt"));
    let mut args = sized(&cfg, log.to_str().unwrap(), "3", "cpu");
    args.extend(["--checkpoint-dir", ckpt.to_str().unwrap(), "--checkpoint-every", "2", "--stop-after", "4"]);
    ok(&train(&args));
    // The first resumer holds the lock while it is stopped at a checkpoint write.
    let mut first = common::command(example())
        .args(["--resume", ckpt.to_str().unwrap(), "--device", "cpu"])
        .env("TRAIN_RESNET_PAUSE_AT", "save:model:1")
        .current_dir(root())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let start = std::time::Instant::now();
    while !ckpt.join(".paused").exists() && start.elapsed().as_secs() < 60 {
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    assert!(ckpt.join(".paused").exists(), "the first run should be paused in a checkpoint write");
    let before = std::fs::read_to_string(&log).unwrap();
    let second = train(&["--resume", ckpt.to_str().unwrap(), "--device", "cpu"]);
    let err = String::from_utf8_lossy(&second.stderr);
    assert_eq!(second.status.code(), Some(1), "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("in use by another run") && err.contains(&first.id().to_string()), "{err}");
    assert_eq!(std::fs::read_to_string(&log).unwrap(), before, "the second run must not touch the log");
    first.kill().unwrap();
    first.wait().unwrap();
    // The lock dies with its process: a later resume goes on.
    ok(&train(&["--resume", ckpt.to_str().unwrap(), "--device", "cpu"]));
    assert_eq!(Csv::read(&log).col("step"), (0..12).map(|s| s.to_string()).collect::<Vec<_>>());
}

/// transformers' schedules step per optimizer update, timm's by the clock
/// `t_in_epochs` names: the log's LRs are `tch-lr trace`'s at that clock, a
/// transformers cosine run past its `num_training_steps` is said to rebound,
/// and a config whose `interval` contradicts the family's clock is refused
/// before training.
#[test]
fn transformers_and_timm_schedules_step_on_their_own_clock() {
    let dir = tempfile::tempdir().unwrap();
    // 2 epochs of 4 batches: 8 updates, 2 past T = 6.
    let cfg = config(
        dir.path(),
        "hf.yaml",
        "optimizer: {name: adamw, lr: [0.01, 0.02]}\n\
         scheduler: {name: transformers.cosine, num_warmup_steps: 2, num_training_steps: 6}\ninterval: step\n",
    );
    let log = dir.path().join("hf/log.csv");
    let out = train(&small(&cfg, log.to_str().unwrap()));
    ok(&out);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("num_training_steps is 6") && err.contains("rises again"), "{err}");
    let (csv, t) = (Csv::read(&log), trace(&cfg, 8, None));
    assert_eq!(csv.col("lr_0"), t.col("lr_0"));
    assert_eq!(csv.col("lr_1"), t.col("lr_1"));

    // timm per epoch (t_in_epochs, the default): one LR per epoch, trace's row = epoch.
    let cfg = config(
        dir.path(),
        "timm.yaml",
        "optimizer: {name: sgd, lr: 0.1, momentum: 0.9}\n\
         scheduler: {name: timm.CosineLRScheduler, t_initial: 3, warmup_t: 1, warmup_lr_init: 0.001}\n",
    );
    let log = dir.path().join("timm/log.csv");
    ok(&train(&sized(&cfg, log.to_str().unwrap(), "3", "cpu")));
    let (csv, t) = (Csv::read(&log), trace(&cfg, 3, None));
    for (row, epoch) in csv.col("epoch").iter().enumerate() {
        assert_eq!(csv.col("lr_0")[row], t.col("lr_0")[epoch.parse::<usize>().unwrap()], "row {row}");
    }

    for (yaml, want) in [
        (
            "scheduler: {name: transformers.linear, num_warmup_steps: 1, num_training_steps: 8}\ninterval: epoch\n",
            "set `interval: step`",
        ),
        (
            "scheduler: {name: timm.CosineLRScheduler, t_initial: 8, t_in_epochs: false}\ninterval: epoch\n",
            "set `interval: step`",
        ),
        ("scheduler: {name: timm.StepLRScheduler, decay_t: 2}\ninterval: step\n", "set `interval: epoch`"),
    ] {
        let cfg = config(dir.path(), "bad.yaml", &format!("optimizer: {{name: sgd, lr: 0.1}}\n{yaml}"));
        let log = dir.path().join("bad/log.csv");
        let out = train(&small(&cfg, log.to_str().unwrap()));
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{yaml}: {err}");
        assert!(err.contains(want) && err.lines().count() == 1, "{yaml}: {err}");
        assert!(!log.exists(), "{yaml}: refused before any log is written");
    }
}

/// A `weight_decay_scheduler:` and a `momentum_scheduler:`: the log has a
/// weight decay and a momentum column per group, row for row what `tch-lr
/// trace` prints.
#[test]
fn scheduled_weight_decay_and_momentum_are_logged_per_group() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(
        dir.path(),
        "c.yaml",
        "optimizer: {name: sgd, lr: [0.05, 0.1], momentum: 0.9, weight_decay: [5.0e-4, 0.0]}\n\
         scheduler: {name: CosineAnnealingLR, T_max: 8}\n\
         weight_decay_scheduler: {name: LinearLR, start_factor: 0.1, total_iters: 6}\n\
         momentum_scheduler: {name: ExponentialLR, gamma: 0.95}\ninterval: step\n",
    );
    let log = dir.path().join("log.csv");
    ok(&train(&small(&cfg, log.to_str().unwrap())));
    let csv = Csv::read(&log);
    let header = ["lr_0", "lr_1", "momentum_0", "momentum_1", "weight_decay_0", "weight_decay_1", "loss"];
    assert_eq!(csv.header[3..10], header);
    let t = trace(&cfg, 8, None);
    for col in &header[..6] {
        assert_eq!(csv.col(col), t.col(col), "{col}: the log and `tch-lr trace` differ");
    }
    assert_ne!(csv.col("weight_decay_0")[0], csv.col("weight_decay_0")[7], "the weight decay is scheduled");
}

/// `--find-lr`: the LR range test on the run's model and batches instead of
/// training (Lightning's `Tuner.lr_find`): `lr_find.csv` with one row per step
/// and the LR rising, `lr_find.png`, the suggestion (one of the LRs tried)
/// and, for a OneCycleLR config, the `max_lr` it would use.
#[test]
fn find_lr_writes_the_curve_and_the_plot_and_prints_the_suggestion() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path(), "c.yaml", ONE_CYCLE);
    let log = dir.path().join("run/log.csv");
    let mut args = small(&cfg, log.to_str().unwrap());
    args.extend(["--find-lr", "--find-lr-steps", "16", "--find-lr-start", "1e-4", "--find-lr-end", "0.05"]);
    let stdout = ok(&train(&args));
    let csv = Csv::read(&dir.path().join("run/lr_find.csv"));
    assert_eq!(csv.header, ["lr", "loss", "smoothed_loss"]);
    assert_eq!(csv.rows.len(), 16, "{stdout}");
    let lrs: Vec<f64> = csv.col("lr").iter().map(|v| v.parse().unwrap()).collect();
    assert!(lrs.windows(2).all(|w| w[1] > w[0]) && lrs[0] == 1e-4, "{lrs:?}");
    assert!(csv.col("loss").iter().all(|v| v.parse::<f64>().unwrap().is_finite()));
    let png = std::fs::read(dir.path().join("run/lr_find.png")).unwrap();
    assert!(png.starts_with(b"\x89PNG"), "lr_find.png is a PNG");
    let line = |prefix: &str| {
        let l = stdout.lines().find_map(|l| l.strip_prefix(prefix)).unwrap_or_else(|| panic!("no {prefix}: {stdout}"));
        l.split_whitespace().next().unwrap().parse::<f64>().unwrap()
    };
    // fastai's valley by default; Lightning's steepest descent on request.
    let suggested = line("suggested lr: ");
    assert!(lrs.contains(&suggested), "the suggestion {suggested} is one of the LRs tried");
    assert_eq!(suggested, line("fastai valley: "));
    assert_eq!(line("OneCycleLR: would use max_lr: "), suggested);
    assert!(!log.exists(), "training did not run");
    args.extend(["--find-lr-rule", "steepest"]);
    let stdout = ok(&train(&args));
    let line = |prefix: &str| stdout.lines().find_map(|l| l.strip_prefix(prefix)).unwrap().split_whitespace().next();
    assert_eq!(line("suggested lr: "), line("steepest descent: "), "{stdout}");
    // Flags that do not go with it.
    let out = train(&[&args[..], &["--stop-after", "2"]].concat());
    assert!(!out.status.success() && String::from_utf8_lossy(&out.stderr).contains("--stop-after"));
}

/// A bad flag value or a contradicting pair is a usage error of the program:
/// status 2, one `error:` line naming the flag, nothing on stdout, and nothing
/// made or written (no data, log, checkpoint or range test). Every bad value of
/// every numeric flag is checked where the flags are parsed, in
/// `src/bin/train_resnet/main.rs`'s unit tests (`parse_args`, as `main` calls
/// it); these cases are the program's side of it: a value, a device, a pair.
#[test]
fn bad_flag_values_are_usage_errors_naming_the_flag() {
    let dir = tempfile::tempdir().unwrap();
    let cfg =
        config(dir.path(), "c.yaml", "optimizer: {name: sgd, lr: 0.1}\nscheduler: {name: ExponentialLR, gamma: 0.9}\n");
    let log = dir.path().join("log.csv");
    let ckpt_dir = dir.path().join("ckpt");
    let (ckpt, log_s) = (ckpt_dir.to_str().unwrap(), log.to_str().unwrap());
    let cases: [(&[&str], &str); 5] = [
        (&["--batch-size", "0"], "--batch-size"),
        (&["--epochs", "99999999999999999999999"], "--epochs"),
        (&["--device", "cuda:x"], "--device"),
        (&["--batch-size", "100", "--train-size", "50", "--checkpoint-dir", ckpt], "--batch-size"),
        (&["--find-lr", "--find-lr-start", "1", "--find-lr-end", "0.5"], "--find-lr-start"),
    ];
    for (args, flag) in cases {
        let mut a = vec!["--config", cfg.as_str(), "--log", log_s];
        if !args.contains(&"--device") {
            a.extend(["--device", "cpu"]);
        }
        a.extend(args);
        let out = train(&a);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: clap's usage error: {err}");
        let errors: Vec<&str> = err.lines().filter(|l| l.starts_with("error:")).collect();
        assert_eq!(errors.len(), 1, "{args:?}: {err}");
        assert!(errors[0].contains(flag), "{args:?}: {:?} should name {flag}", errors[0]);
        assert!(out.stdout.is_empty(), "{args:?}: nothing ran: {}", String::from_utf8_lossy(&out.stdout));
    }
    assert!(!log.exists() && !Path::new(ckpt).exists(), "nothing was trained");
    assert!(!dir.path().join("lr_find.csv").exists(), "no range test ran");
}

/// Where 0 is allowed, `--help` says what it means, and it means that:
/// `--train-size 0` and `--test-size 0` take all of `--data`'s samples
/// (`cifar10_binary_files_are_read`), `--checkpoint-every 0` checkpoints only
/// at each epoch's end. A checkpoint whose settings no flag would allow (a
/// hand-edited `progress.yaml`) is refused in one line.
#[test]
fn zero_means_what_help_says_and_bad_checkpoint_settings_are_one_line() {
    let help = ok(&train(&["--help"]));
    for want in ["0 means all", "0: only at each epoch's end", "1 to 100000", "cannot be given with it"] {
        assert!(help.contains(want), "--help should say {want:?}: {help}");
    }
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(
        dir.path(),
        "c.yaml",
        "optimizer: {name: sgd, lr: 0.1}\nscheduler: {name: ExponentialLR, gamma: 0.9}\ninterval: step\n",
    );
    let log = dir.path().join("log.csv");
    let ckpt = dir.path().join("ckpt");
    let mut args = small(&cfg, log.to_str().unwrap());
    args.extend(["--checkpoint-dir", ckpt.to_str().unwrap(), "--checkpoint-every", "0", "--stop-after", "7"]);
    ok(&train(&args));
    // 4 batches per epoch: saved at the end of epoch 0 (step 4) only.
    let latest = std::fs::read_to_string(ckpt.join("latest")).unwrap();
    assert_eq!(latest.trim(), "step-000000004");
    let steps: Vec<String> = std::fs::read_dir(&ckpt)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().to_string())
        .filter(|n| n.starts_with("step-"))
        .collect();
    assert_eq!(steps, ["step-000000004"]);

    let progress = ckpt.join("step-000000004/progress.yaml");
    let text = std::fs::read_to_string(&progress).unwrap();
    assert!(text.contains("batch_size: 16"), "{text}");
    std::fs::write(&progress, text.replace("batch_size: 16", "batch_size: 0")).unwrap();
    let out = train(&["--resume", ckpt.to_str().unwrap(), "--device", "cpu"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("batch_size is 0") && err.contains("progress.yaml"), "{err}");
}

/// `--resume-pytorch checkpoint-K/` of a Hugging Face Trainer run (issue 26),
/// with `--recipe` the same folder: the run's schedule continues at step K on
/// this model (its weights and moments afresh: the Trainer's are its own
/// model's), each logged LR from step K on the row `tch-lr trace checkpoint-K/`
/// prints; another config than the run's is one line.
#[test]
fn resume_pytorch_continues_a_trainer_runs_schedule() {
    let dir = tempfile::tempdir().unwrap();
    let folder = root().join("tests/fixtures/recipes_hf/runs/ratio/checkpoint-10");
    let folder = folder.to_str().unwrap();
    let log = dir.path().join("log.csv");
    // 4 epochs of 4 batches: steps 10 to 15 after the checkpoint's 10.
    let mut args = sized("x", log.to_str().unwrap(), "4", "cpu");
    args.drain(..2);
    args.extend(["--recipe", folder, "--resume-pytorch", folder]);
    let stdout = ok(&train(&args));
    assert!(stdout.contains("at step 10 (epoch 2, batch 2): its schedule"), "{stdout}");
    let csv = Csv::read(&log);
    assert_eq!(csv.col("step"), (10..16).map(|i| i.to_string()).collect::<Vec<_>>());
    let t = trace(folder, 16, None);
    for col in ["lr_0", "lr_1"] {
        assert_eq!(csv.col(col), t.col(col), "{col}: the log and `tch-lr trace` differ");
    }

    let cfg = config(
        dir.path(),
        "c.yaml",
        "optimizer: {name: adamw, lr: 0.001}\nscheduler: {name: ConstantLR}\ninterval: step\n",
    );
    let mut args = small(&cfg, log.to_str().unwrap());
    args.extend(["--resume-pytorch", folder]);
    let out = train(&args);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert_eq!(err.trim_end().lines().count(), 1, "{err}");
    assert!(err.contains("--resume-pytorch") && err.contains("checkpoint-10"), "{err}");
}

// ---------------------------------------------------------------------------
// A run across the two languages: PyTorch's own checkpoint (the example's
// --save-pytorch / --resume-pytorch, the twin's --save / --resume).
// ---------------------------------------------------------------------------

/// The PyTorch twin (scripts/reference/train_resnet_torch.py) with `args`.
fn twin(args: &[&str]) -> String {
    let out = common::command(root().join(".venv/bin/python"))
        .arg(root().join("scripts/reference/train_resnet_torch.py"))
        .args(args)
        .current_dir(root())
        .output()
        .expect("running .venv/bin/python");
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(out.status.success(), "the twin {args:?}: {text}{}", String::from_utf8_lossy(&out.stderr));
    text
}

/// A `state_dict`'s entries by name, in name order.
fn by_name(state_dict: &tch_lr::interop::Value) -> Vec<(String, tch_lr::interop::Value)> {
    use tch_lr::interop::Value;
    let mut out: Vec<_> = state_dict
        .items()
        .unwrap()
        .iter()
        .map(|(k, v)| match k {
            Value::Str(k) => (k.clone(), v.clone()),
            _ => panic!("{k:?}"),
        })
        .collect();
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

/// A saved run's model weights and optimizer state, by name and index, and
/// where it stood.
fn saved_run(path: &Path) -> Vec<(String, tch_lr::interop::Value)> {
    use tch_lr::interop::torch_file;
    let file = torch_file::load(path).unwrap();
    let mut out: Vec<_> =
        by_name(file.get("model").unwrap()).into_iter().map(|(k, v)| (format!("model {k}"), v)).collect();
    for (i, state) in file.get("optimizer").unwrap().get("state").unwrap().items().unwrap() {
        for (name, t) in state.items().unwrap() {
            out.push((format!("optimizer state {i:?} {name:?}"), t.clone()));
        }
    }
    out.push(("progress".into(), file.get("progress").unwrap().clone()));
    // The averaged model (--swa-start, --ema), when the run keeps one; tch's
    // BatchNorm keeps no num_batches_tracked (PyTorch's averages or copies it).
    if let Some(avg) = file.get("averaged_model") {
        let avg = by_name(avg).into_iter().filter(|(k, _)| !k.ends_with("num_batches_tracked"));
        out.extend(avg.map(|(k, v)| (format!("averaged_model {k}"), v)));
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

/// Every row of `resumed` (from step `k` on) against the uninterrupted run's:
/// the step, epoch and batch equal, the LRs and momenta within 1e-12 relative,
/// the loss bit for bit.
fn same_rows(full: &Csv, resumed: &Csv, k: usize, what: &str) {
    assert_eq!(resumed.rows.len(), full.rows.len() - k, "{what}: rows");
    for col in &full.header {
        if col == "samples_per_sec" {
            continue;
        }
        let (want, got) = (&full.col(col)[k..], resumed.col(col));
        for (row, (w, g)) in want.iter().zip(&got).enumerate() {
            let (w, g): (f64, f64) = (w.parse().unwrap(), g.parse().unwrap());
            let ok = if col.starts_with("lr_") || col.starts_with("momentum_") {
                (w - g).abs() <= 1e-12 * w.abs()
            } else {
                w == g
            };
            assert!(ok, "{what}: step {}, {col}: {g} resumed, {w} uninterrupted", row + k);
        }
    }
}

/// Runs `cfg` for 2 epochs of 8 batches uninterrupted on side `first`, and
/// stopped after `k` batches on `first` then continued on the other side;
/// the continued run's rows, final weights and optimizer state must be the
/// uninterrupted run's.
fn across(cfg_yaml: &str, k: usize, rust_first: bool) {
    across_with(cfg_yaml, k, rust_first, &["--epochs", "2"]);
}

/// [`across`] with more flags for both sides (`--epochs` among them).
fn across_with(cfg_yaml: &str, k: usize, rust_first: bool, flags: &[&str]) {
    let dir = tempfile::tempdir().unwrap();
    let d = |n: &str| dir.path().join(n).to_str().unwrap().to_string();
    let cfg = config(dir.path(), "c.yaml", cfg_yaml);
    let run =
        [&["--config", &cfg, "--train-size", "128", "--test-size", "32", "--batch-size", "16"][..], flags].concat();
    let rust = |extra: &[&str]| {
        ok(&train(&[&run[..], &["--device", "cpu"], extra].concat()));
    };
    let python = |extra: &[&str]| {
        twin(&[&run[..], extra].concat());
    };
    let kk = k.to_string();
    let (full, cut, resumed, end_full, end_resumed) =
        (d("full.csv"), d("cut.pt"), d("resumed.csv"), d("full.pt"), d("resumed.pt"));
    if rust_first {
        rust(&["--log", &full, "--save-pytorch", &end_full]);
        rust(&["--log", &d("first.csv"), "--stop-after", &kk, "--save-pytorch", &cut]);
        python(&["--log", &resumed, "--resume", &cut, "--save", &end_resumed]);
    } else {
        python(&["--log", &full, "--save", &end_full]);
        python(&["--log", &d("first.csv"), "--stop-after", &kk, "--save", &cut]);
        rust(&["--log", &resumed, "--resume-pytorch", &cut, "--save-pytorch", &end_resumed]);
    }
    let what = format!(
        "{} → {} at step {k}",
        if rust_first { "Rust" } else { "PyTorch" },
        if rust_first { "PyTorch" } else { "Rust" }
    );
    same_rows(&Csv::read(Path::new(&full)), &Csv::read(Path::new(&resumed)), k, &what);
    let (want, got) = (saved_run(Path::new(&end_full)), saved_run(Path::new(&end_resumed)));
    assert_eq!(want.iter().map(|e| &e.0).collect::<Vec<_>>(), got.iter().map(|e| &e.0).collect::<Vec<_>>(), "{what}");
    for ((name, w), (_, g)) in want.iter().zip(&got) {
        if name.starts_with("averaged_model") && name.contains(".running_") {
            // update_bn's statistics: PyTorch's cumulative mean, recovered
            // from what tch's BatchNorm writes (within ~1e-7 relative).
            assert!(close_tensors(w, g, 1e-6), "{what}: {name} differs from the uninterrupted run's by more than 1e-6");
        } else {
            assert!(w == g, "{what}: {name} differs from the uninterrupted run's");
        }
    }
}

/// Two saved tensors equal to `rel` relative (of the larger magnitude, at least 1e-6).
fn close_tensors(a: &tch_lr::interop::Value, b: &tch_lr::interop::Value, rel: f64) -> bool {
    use tch_lr::interop::{torch_file::to_tch, Value};
    let (Value::Tensor(a), Value::Tensor(b)) = (a, b) else { return a == b };
    let (a, b) = (to_tch(a).unwrap().to_kind(tch::Kind::Double), to_tch(b).unwrap().to_kind(tch::Kind::Double));
    if a.size() != b.size() {
        return false;
    }
    let scale = a.abs().maximum(&b.abs()).clamp_min(1e-6);
    ((&a - &b).abs() / scale).max().double_value(&[]) <= rel
}

/// SGD with momentum and weight decay, OneCycleLR per batch (momentum cycled).
const SGD_ONE_CYCLE: &str = "optimizer: {name: sgd, lr: 0.1, momentum: 0.9, weight_decay: 0.0005}
scheduler: {name: OneCycleLR, max_lr: 0.1, total_steps: 16}
interval: step
";

/// SGD with Nesterov momentum and weight decay per group, two groups, StepLR per epoch.
const NESTEROV_STEP: &str =
    "optimizer: {name: sgd, lr: [0.05, 0.1], momentum: 0.9, nesterov: true, weight_decay: [0.001, 0.0]}
scheduler: {name: StepLR, step_size: 1, gamma: 0.5}
interval: epoch
";

/// AdamW (amsgrad), cosine annealing per batch after a warmup.
const ADAMW_WARMUP_COSINE: &str = "optimizer: {name: adamw, lr: 0.002, weight_decay: 0.05, amsgrad: true}
scheduler: {name: CosineAnnealingLR, T_max: 12, warmup: {steps: 4}}
interval: step
";

#[test]
fn pytorch_to_rust_sgd_momentum_one_cycle() {
    across(SGD_ONE_CYCLE, 5, false);
}

#[test]
fn rust_to_pytorch_sgd_momentum_one_cycle() {
    across(SGD_ONE_CYCLE, 11, true);
}

#[test]
fn pytorch_to_rust_sgd_nesterov_two_groups_at_an_epochs_end() {
    across(NESTEROV_STEP, 8, false);
}

#[test]
fn rust_to_pytorch_sgd_nesterov_two_groups() {
    across(NESTEROV_STEP, 3, true);
}

#[test]
fn pytorch_to_rust_adamw() {
    across(ADAMW_WARMUP_COSINE, 6, false);
}

#[test]
fn rust_to_pytorch_adamw() {
    across(ADAMW_WARMUP_COSINE, 9, true);
}

/// PyTorch's SWA loop moves across mid-averaging: the file holds the loop's
/// two schedulers (`scheduler`, `swa_scheduler`) and the average
/// (`averaged_model`, PyTorch's `AveragedModel.state_dict()`); the final
/// average is the uninterrupted run's, bit for bit (saved_run compares it).
#[test]
fn pytorch_to_rust_swa_mid_averaging() {
    across_with(
        SWA_CONFIG,
        19,
        false,
        &["--epochs", "3", "--swa-start", "0", "--swa-lr", "0.02", "--swa-anneal-epochs", "2"],
    );
}

#[test]
fn rust_to_pytorch_swa_mid_averaging() {
    across_with(
        SWA_CONFIG,
        21,
        true,
        &["--epochs", "3", "--swa-start", "0", "--swa-lr", "0.02", "--swa-anneal-epochs", "2"],
    );
}

/// An EMA updated after every optimizer step moves across mid-epoch.
#[test]
fn rust_to_pytorch_ema() {
    across_with(SWA_CONFIG, 11, true, &["--epochs", "2", "--ema", "0.8"]);
}

#[test]
fn pytorch_to_rust_ema() {
    across_with(SWA_CONFIG, 5, false, &["--epochs", "2", "--ema", "0.8"]);
}

// ---------------------------------------------------------------------------
// Data parallelism under torchrun (Gloo over loopback, 2 processes).
// ---------------------------------------------------------------------------

/// The example with `args` under the project's torchrun, `n` processes
/// (`torchrun_args` first: `--max-restarts 1`).
fn torchrun(n: usize, torchrun_args: &[&str], args: &[&str], env: &[(&str, &str)]) -> Output {
    launch(n, &[torchrun_args, &["--no-python"]].concat(), &example(), args, env)
}

/// `program` with `args` under the project's torchrun, `n` processes over
/// loopback (a Python script runs in the `.venv`'s Python; a binary needs
/// `--no-python` among `torchrun_args`).
fn launch(n: usize, torchrun_args: &[&str], program: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = common::command(root().join(".venv/bin/torchrun"));
    cmd.args(["--standalone", "--nnodes", "1", "--nproc-per-node", &n.to_string()])
        .args(torchrun_args)
        .arg("--")
        .arg(program)
        .args(args)
        .current_dir(root())
        .env("GLOO_SOCKET_IFNAME", "lo");
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().expect("running .venv/bin/torchrun");
    assert!(!String::from_utf8_lossy(&out.stderr).contains("panicked"), "{}", String::from_utf8_lossy(&out.stderr));
    out
}

/// The run of the data-parallel tests, on both sides: 2 epochs of 4 global
/// batches of 32 (128 samples).
fn parallel_flags(cfg: &str) -> Vec<&str> {
    vec!["--config", cfg, "--train-size", "128", "--test-size", "32", "--batch-size", "32", "--epochs", "2"]
}

/// The example's run on the CPU, from the twin's initial weights.
fn parallel_run<'a>(cfg: &'a str, init: &'a str, log: &'a str) -> Vec<&'a str> {
    [parallel_flags(cfg), vec!["--device", "cpu", "--resume-pytorch", init, "--log", log]].concat()
}

/// The twin's initial weights, saved before its first step.
fn twin_init(dir: &Path, cfg: &str) -> String {
    let init = dir.join("init.pt").to_str().unwrap().to_string();
    twin(&[&parallel_flags(cfg)[..], &["--stop-after", "0", "--save", &init, "--log", "/dev/null"]].concat());
    init
}

/// Two processes under torchrun: every global step logged once, by rank 0;
/// the LR and momentum columns those of one process; both ranks end with the
/// same weights and buffers; and the losses and weights are PyTorch DDP's (the
/// twin under torchrun, Gloo, from the same initial weights) exactly: with
/// two ranks the averaged gradient (g0/2 + g1/2) has one rounding whichever
/// rank comes first, so the tolerance is zero.
#[test]
fn two_processes_under_torchrun_match_one_process_schedule_and_pytorch_ddp() {
    let dir = tempfile::tempdir().unwrap();
    let d = |n: &str| dir.path().join(n).to_str().unwrap().to_string();
    let cfg = config(dir.path(), "c.yaml", SGD_ONE_CYCLE);
    let init = twin_init(dir.path(), &cfg);
    let (rs_dump, py_dump) = (d("rs"), d("py"));
    std::fs::create_dir_all(&rs_dump).unwrap();
    std::fs::create_dir_all(&py_dump).unwrap();

    let two = d("two.csv");
    let out = torchrun(2, &[], &parallel_run(&cfg, &init, &two), &[("TRAIN_RESNET_DUMP", &rs_dump)]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(stdout.matches("done: 8 batches").count(), 1, "rank 0 alone reports: {stdout}");
    let one = d("one.csv");
    ok(&train(&parallel_run(&cfg, &init, &one)));
    let (two_log, one_log) = (Csv::read(Path::new(&two)), Csv::read(Path::new(&one)));
    assert_eq!(two_log.col("step"), (0..8).map(|i| i.to_string()).collect::<Vec<_>>(), "each step once");
    assert_eq!(two_log.schedule_columns(), one_log.schedule_columns(), "LR and momentum: 2 processes vs 1");

    // Both ranks' weights and buffers, bit for bit.
    let ranks: Vec<_> = (0..2).map(|r| saved_weights(&Path::new(&rs_dump).join(format!("rank{r}.pt")))).collect();
    assert!(!ranks[0].is_empty() && ranks[0] == ranks[1], "the ranks' weights differ");

    // PyTorch's DDP from the same weights: the same losses and weights.
    let py = d("py.csv");
    let script = root().join("scripts/reference/train_resnet_torch.py");
    let args = [parallel_flags(&cfg), vec!["--resume", &init, "--log", &py, "--dump", &py_dump]].concat();
    let out = launch(2, &[], &script, &args, &[]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    same_rows(&Csv::read(Path::new(&py)), &two_log, 0, "2-process Rust vs PyTorch DDP");
    for (r, ours) in ranks.iter().enumerate() {
        let theirs = saved_weights(&Path::new(&py_dump).join(format!("rank{r}.pt")));
        for (name, w) in ours {
            assert!(theirs.iter().any(|(n, t)| n == name && t == w), "rank {r}: {name} differs from DDP's");
        }
    }
}

/// A `state_dict` file's tensors by name.
fn saved_weights(path: &Path) -> Vec<(String, tch_lr::interop::Value)> {
    by_name(&tch_lr::interop::torch_file::load(path).unwrap_or_else(|e| panic!("{}: {e}", path.display())))
}

/// Rank 1 killed (SIGKILL) in its 6th step, under `torchrun --max-restarts 1`:
/// torchrun restarts both ranks, which resume from the newest complete
/// checkpoint (step 4, the first epoch's end; one every 3 steps too); the run ends with every step logged once and
/// the uninterrupted run's rows, losses included.
#[test]
fn a_rank_killed_under_torchrun_restarts_from_the_newest_checkpoint() {
    let dir = tempfile::tempdir().unwrap();
    let d = |n: &str| dir.path().join(n).to_str().unwrap().to_string();
    let cfg = config(dir.path(), "c.yaml", SGD_ONE_CYCLE);
    let init = twin_init(dir.path(), &cfg);
    let full = d("full.csv");
    let out = torchrun(2, &[], &parallel_run(&cfg, &init, &full), &[]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));

    let (log, ck) = (d("killed.csv"), d("ck"));
    let mut args = parallel_run(&cfg, &init, &log);
    args.extend(["--checkpoint-dir", &ck, "--checkpoint-every", "3"]);
    let env = [("TRAIN_RESNET_DIE_AT", "batch:6"), ("TRAIN_RESNET_DIE_RANK", "1")];
    let out = torchrun(2, &["--max-restarts", "1"], &args, &env);
    let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "{stdout}{stderr}");
    assert!(stdout.contains("ck/step-000000004 at step 4"), "the newest checkpoint before the kill: {stdout}");
    let (got, want) = (Csv::read(Path::new(&log)), Csv::read(Path::new(&full)));
    assert_eq!(got.col("step"), (0..8).map(|i| i.to_string()).collect::<Vec<_>>(), "each step once");
    same_rows(&want, &got, 0, "restarted vs uninterrupted");
}

/// A global batch the world size does not divide: one line per rank, a
/// non-zero exit, no hang.
#[test]
fn a_batch_the_world_size_does_not_divide_is_one_line() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path(), "c.yaml", SGD_ONE_CYCLE);
    let log = dir.path().join("log.csv");
    let args = [
        "--config",
        &cfg,
        "--train-size",
        "99",
        "--test-size",
        "32",
        "--batch-size",
        "33",
        "--epochs",
        "1",
        "--device",
        "cpu",
        "--log",
        log.to_str().unwrap(),
    ];
    let start = std::time::Instant::now();
    let out = torchrun(2, &[], &args, &[]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    let errors: Vec<&str> = stderr.lines().filter(|l| l.starts_with("error: ")).collect();
    assert_eq!(errors.len(), 2, "{stderr}");
    assert!(errors.iter().all(|e| e.contains("does not split into 2 equal parts")), "{stderr}");
    assert!(start.elapsed() < std::time::Duration::from_secs(120));
}

/// A rank whose store nobody serves (torchrun's environment by hand, the
/// port closed): one `error:` line within --dist-timeout, exit status 1.
#[test]
fn a_rank_that_cannot_reach_the_store_is_one_line_within_the_timeout() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path(), "c.yaml", SGD_ONE_CYCLE);
    let log = dir.path().join("log.csv");
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port().to_string();
    let mut args = small(&cfg, log.to_str().unwrap());
    args.extend(["--dist-timeout", "2"]);
    let start = std::time::Instant::now();
    let out = common::command(example())
        .args(&args)
        .current_dir(root())
        .envs([
            ("WORLD_SIZE", "2"),
            ("RANK", "1"),
            ("LOCAL_RANK", "1"),
            ("MASTER_ADDR", "127.0.0.1"),
            ("MASTER_PORT", port.as_str()),
            ("TORCHELASTIC_USE_AGENT_STORE", "True"),
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    let lines: Vec<&str> = stderr.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(lines.len(), 1, "{stderr}");
    assert!(lines[0].starts_with("error: distributed: joining the process group at 127.0.0.1:"), "{stderr}");
    assert!(start.elapsed() < std::time::Duration::from_secs(60), "{:?}", start.elapsed());
}

// ---------------------------------------------------------------------------
// Weight averaging (--swa-start, --ema): PyTorch's torch.optim.swa_utils
// recipes, beside the twin's.
// ---------------------------------------------------------------------------

const SWA_CONFIG: &str = "optimizer: {name: sgd, lr: 0.05, momentum: 0.9, weight_decay: 5.0e-4}\n\
                          scheduler: {name: CosineAnnealingLR, T_max: 4}\ninterval: epoch\n";

/// 4 epochs of 4 batches of 16, on the CPU.
fn swa_run<'a>(cfg: &'a str, log: &'a str) -> Vec<&'a str> {
    vec![
        "--config",
        cfg,
        "--log",
        log,
        "--device",
        "cpu",
        "--train-size",
        "64",
        "--test-size",
        "64",
        "--batch-size",
        "16",
        "--epochs",
        "4",
        "--seed",
        "3",
    ]
}

/// The example and the twin from the same initial weights (the twin's, through
/// `--weights`), with PyTorch's SWA loop (`--swa-start 1`: SWALR and the
/// average after epochs 2 and 3, `update_bn` before each evaluation) and with
/// an EMA: the LRs, the losses and the per-epoch log, the averaged model's
/// validation loss and accuracy included, are PyTorch's. Measured on the CPU:
/// identical to the last digit (`update_bn`'s statistics agree to ~1e-7
/// relative, below what the logged loss shows); the test allows 1e-5 on the
/// averaged model's loss.
#[test]
fn swa_and_ema_match_pytorchs_swa_utils() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path(), "c.yaml", SWA_CONFIG);
    let init = dir.path().join("init.pt").to_str().unwrap().to_string();
    twin(&[&swa_run(&cfg, "/dev/null")[..], &["--stop-after", "0", "--save", &init]].concat());
    for extra in [
        &["--swa-start", "1", "--swa-lr", "0.02", "--swa-anneal-epochs", "2"][..],
        &["--swa-start", "0", "--swa-lr", "0.01", "--swa-anneal-epochs", "0", "--swa-anneal-strategy", "linear"],
        &["--ema", "0.9"],
    ] {
        let (ours, theirs) = (dir.path().join("rust/log.csv"), dir.path().join("torch/log.csv"));
        ok(&train(&[&swa_run(&cfg, ours.to_str().unwrap())[..], &["--weights", &init], extra].concat()));
        twin(&[&swa_run(&cfg, theirs.to_str().unwrap())[..], &["--weights", &init], extra].concat());
        let (a, b) = (Csv::read(&ours), Csv::read(&theirs));
        assert_eq!(a.header, b.header, "{extra:?}");
        // The whole row but the throughput, every number exactly (Rust and
        // Python may print the same f64 with different last digits).
        same_rows(&b, &a, 0, &format!("{extra:?}"));
        let (a, b) = (Csv::read(&ours.with_extension("epochs.csv")), Csv::read(&theirs.with_extension("epochs.csv")));
        assert_eq!(a.header, b.header, "{extra:?}");
        assert!(a.header.contains(&"avg_val_accuracy".to_string()), "{:?}", a.header);
        let num = |v: &String| v.parse::<f64>().ok();
        for col in ["epoch", "train_loss", "val_loss", "val_accuracy", "avg_val_accuracy"] {
            assert_eq!(
                a.col(col).iter().map(num).collect::<Vec<_>>(),
                b.col(col).iter().map(num).collect::<Vec<_>>(),
                "{extra:?}: {col}"
            );
        }
        let averaged = a.col("avg_val_loss").iter().filter(|v| !v.is_empty()).count();
        assert!(averaged >= 2, "{extra:?}: the averaged model is evaluated: {:?}", a.col("avg_val_loss"));
        for (x, y) in a.col("avg_val_loss").iter().zip(b.col("avg_val_loss")) {
            let (x, y) = (x.parse::<f64>().unwrap_or(f64::NAN), y.parse::<f64>().unwrap_or(f64::NAN));
            assert!(x == y || (x - y).abs() <= 1e-5 * y.abs() || (x.is_nan() && y.is_nan()), "{extra:?}: {x} vs {y}");
        }
    }
}

/// A run averaging its weights, stopped mid-averaging and resumed from its checkpoint: the
/// checkpoint holds the average (`averaged.pt`, PyTorch's
/// `AveragedModel.state_dict()`) and the SWA schedule's two states, so the
/// per-epoch log, the averaged model's evaluations included, is the
/// uninterrupted run's.
#[test]
fn a_stopped_swa_run_resumes_with_its_average() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path(), "c.yaml", SWA_CONFIG);
    for extra in [&["--swa-start", "0", "--swa-lr", "0.02", "--swa-anneal-epochs", "2"][..], &["--ema", "0.8"]] {
        let full = dir.path().join("full/log.csv");
        ok(&train(&[&swa_run(&cfg, full.to_str().unwrap())[..], extra].concat()));
        let part = dir.path().join("part/log.csv");
        let ckpt = dir.path().join("ckpt");
        let _ = std::fs::remove_dir_all(&ckpt);
        let stop = ["--checkpoint-dir", ckpt.to_str().unwrap(), "--checkpoint-every", "3", "--stop-after", "11"];
        ok(&train(&[&swa_run(&cfg, part.to_str().unwrap())[..], extra, &stop].concat()));
        assert!(ckpt.read_dir().unwrap().flatten().any(|e| e.path().join("averaged.pt").is_file()), "{extra:?}");
        ok(&train(&["--resume", ckpt.to_str().unwrap(), "--device", "cpu"]));
        let (a, b) = (Csv::read(&full), Csv::read(&part));
        assert_eq!(a.schedule_columns(), b.schedule_columns(), "{extra:?}");
        assert_eq!(a.col("loss"), b.col("loss"), "{extra:?}");
        let (a, b) = (Csv::read(&full.with_extension("epochs.csv")), Csv::read(&part.with_extension("epochs.csv")));
        assert_eq!(a.header, b.header, "{extra:?}");
        // train_loss is the mean over the batches this process ran: the
        // resumed epoch's covers those after the checkpoint.
        for col in ["epoch", "val_loss", "val_accuracy", "avg_val_loss", "avg_val_accuracy"] {
            assert_eq!(a.col(col), b.col(col), "{extra:?}: {col}, the average's evaluations included");
        }
    }
}

/// The averaging flags' refusals: one line each, before training.
#[test]
fn averaging_flags_are_checked_before_training() {
    let dir = tempfile::tempdir().unwrap();
    let per_step = config(dir.path(), "s.yaml", ONE_CYCLE);
    let cfg = config(dir.path(), "c.yaml", SWA_CONFIG);
    let log = dir.path().join("log.csv");
    let log = log.to_str().unwrap();
    for (args, want) in [
        (vec!["--config", &per_step, "--swa-start", "1"], "interval must be epoch"),
        (vec!["--config", &cfg, "--swa-start", "1", "--ema", "0.9"], "cannot be used with"),
        (vec!["--config", &cfg, "--ema", "1.5"], "must be in [0, 1]"),
        (vec!["--config", &cfg, "--swa-lr", "0.1"], "--swa-start"),
        (vec!["--config", &cfg, "--swa-start", "1", "--swa-anneal-epochs", "-2"], "must be at least 0"),
        (vec!["--config", &cfg, "--weights", "/nonexistent/w.pt"], "--weights /nonexistent/w.pt"),
    ] {
        let out = train(&[&args[..], &["--log", log, "--device", "cpu"]].concat());
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success() && err.contains(want), "{args:?}: {err}");
        assert!(!err.contains("panicked") && !std::path::Path::new(log).exists(), "{args:?}: {err}");
    }
}

/// `--recipe PATH` (issue 26): a Python run's own files give the schedule and
/// the optimizer's settings, on this program's model from step 0: a Megatron-LM
/// checkpoint's args (the schedule configs/megatron_cosine.yaml writes out,
/// its weight decay per group) and a DeepSpeed checkpoint's ds_config, each
/// row the LR (and weight decay) `tch-lr trace` gives that config. A recipe
/// with more groups than the model has is one line.
#[test]
fn a_python_runs_own_files_are_the_recipe() {
    let dir = tempfile::tempdir().unwrap();
    let root = root();
    for (recipe, same) in [
        ("tests/fixtures/megatron/cosine", "configs/megatron_cosine.yaml".to_string()),
        ("tests/fixtures/interop_state/ds_checkpoint.torch_adam", {
            let case = std::fs::read_to_string(root.join("tests/fixtures/interop_state/cases.json")).unwrap();
            let all: serde_json::Value = serde_json::from_str(&case).unwrap();
            let c = all["cases"].as_array().unwrap().iter().find(|c| c["name"] == "ds_checkpoint.torch_adam").unwrap();
            config(dir.path(), "ds.json", &c["config"].to_string())
        }),
    ] {
        let log = dir.path().join(format!("{}.csv", recipe.replace('/', "_")));
        let path = root.join(recipe);
        let mut args = sized("x", log.to_str().unwrap(), "1", "cpu");
        args.drain(..2);
        args.extend(["--recipe", path.to_str().unwrap()]);
        let stdout = ok(&train(&args));
        assert!(stdout.contains("recipe: "), "{stdout}");
        let csv = Csv::read(&log);
        let t = trace(&same, 4, None);
        let cols: Vec<&String> =
            csv.header.iter().filter(|h| h.starts_with("lr_") || h.starts_with("weight_decay_")).collect();
        assert!(!cols.is_empty());
        for col in cols {
            assert_eq!(csv.col(col), t.col(col), "{recipe}: {col}");
        }
    }
    let samples = root.join("tests/fixtures/megatron/samples");
    let out = train(&["--recipe", samples.to_str().unwrap(), "--epochs", "1", "--train-size", "64"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && stderr.contains("at most 2 parameter groups"), "{stderr}");
}
