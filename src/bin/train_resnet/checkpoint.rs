//! Checkpoints: the model (`VarStore::save`), the scheduler state, the
//! optimizer's state (`Optim::save`: momentum buffers, moments, step counts),
//! the averaged model if the run keeps one (`averaged.pt`)
//! and the run's position, written into a fresh folder that is renamed into place,
//! then named in `latest` (written atomically). A crash at any point leaves the
//! previous checkpoint intact.

use std::fs::{File, OpenOptions, TryLockError};
use std::io::Write as _;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};
use tch::nn::VarStore;
use tch_lr::cli::write_atomic;
use tch_lr::{Schedule, Scheduler};

/// Where the run stands and what it is, saved with each checkpoint.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Progress {
    /// The next batch's global step.
    pub step: u64,
    /// The epoch of the next batch.
    pub epoch: usize,
    /// The next batch within that epoch (may equal batches per epoch: the epoch's end is next).
    pub batch: usize,
    /// The run's settings, so that `--resume` continues the same run.
    pub run: RunSettings,
}

/// What defines a run (besides the device).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RunSettings {
    pub config_text: String,
    pub model: String,
    pub epochs: usize,
    pub batch_size: i64,
    pub train_size: i64,
    pub test_size: i64,
    pub seed: i64,
    pub data: Option<PathBuf>,
    pub log: PathBuf,
    /// Batches between checkpoints (absent in checkpoints of older runs).
    #[serde(default)]
    pub checkpoint_every: Option<u64>,
    /// `--swa-start` and its SWALR (absent: none).
    #[serde(default)]
    pub swa: Option<crate::average::SwaSettings>,
    /// `--ema DECAY` (absent: none).
    #[serde(default)]
    pub ema: Option<f64>,
}

/// Saves a checkpoint into `dir` and drops older ones but the previous.
pub fn save(
    dir: &Path,
    vs: &VarStore,
    sched: &Scheduler<Box<dyn Schedule>>,
    averaged: Option<&crate::average::Averaged>,
    progress: &Progress,
) -> Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let name = format!("step-{:09}", progress.step);
    let tmp = dir.join(format!(".{name}.tmp"));
    let _ = std::fs::remove_dir_all(&tmp);
    std::fs::create_dir_all(&tmp)?;
    vs.save(tmp.join("model.ot")).with_context(|| format!("saving the model into {}", tmp.display()))?;
    crate::hooks::at("save:model", Some(dir));
    sched.save(tmp.join("scheduler.yaml"))?;
    crate::hooks::at("save:scheduler", Some(dir));
    sched.optimizer().save(tmp.join("optimizer.pt"))?;
    crate::hooks::at("save:optimizer", Some(dir));
    if let Some(a) = averaged {
        a.save(&tmp)?;
    }
    write_atomic(&tmp.join("progress.yaml"), serde_yaml::to_string(progress)?.as_bytes())?;
    let dst = dir.join(&name);
    let _ = std::fs::remove_dir_all(&dst);
    std::fs::rename(&tmp, &dst).with_context(|| format!("renaming {} to {}", tmp.display(), dst.display()))?;
    crate::hooks::at("save:renamed", Some(dir));
    let previous = std::fs::read_to_string(dir.join("latest")).ok();
    write_atomic(&dir.join("latest"), name.as_bytes())?;
    crate::hooks::at("save:latest", Some(dir));
    // Keep the new checkpoint and the one before it.
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let n = entry.file_name().to_string_lossy().to_string();
        if n.starts_with("step-") && n != name && Some(n.as_str()) != previous.as_deref().map(str::trim) {
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
    Ok(())
}

/// An exclusive hold on a checkpoint folder for as long as it lives: a second
/// run on the same folder (two `--resume DIR`, say) stops with an error
/// instead of interleaving its log and checkpoints with the first. The OS
/// releases the lock when the process ends, killed or not.
pub struct Lock {
    _file: File,
}

/// Takes the lock of `dir` (its file `lock`, holding the owner's pid).
pub fn lock(dir: &Path) -> Result<Lock> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let path = dir.join("lock");
    let mut file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .read(true)
        .write(true)
        .open(&path)
        .with_context(|| format!("opening {}", path.display()))?;
    match file.try_lock() {
        Ok(()) => {}
        Err(TryLockError::WouldBlock) => {
            let owner = std::fs::read_to_string(&path).unwrap_or_default();
            bail!(
                "{} is in use by another run (pid {}): wait for it to end, or use another --checkpoint-dir",
                dir.display(),
                owner.trim()
            );
        }
        Err(TryLockError::Error(e)) => return Err(e).with_context(|| format!("locking {}", path.display())),
    }
    file.set_len(0)?;
    write!(file, "{}", std::process::id())?;
    Ok(Lock { _file: file })
}

/// The latest checkpoint of `dir`: its folder and progress. A checkpoint
/// exists once its folder is renamed into place (the commit point), so the
/// newest `step-*` folder is taken, whether or not a kill came before
/// `latest` was rewritten.
pub fn latest(dir: &Path) -> Result<(PathBuf, Progress)> {
    let entries = std::fs::read_dir(dir).with_context(|| format!("--resume {}", dir.display()))?;
    let mut names: Vec<String> =
        entries.filter_map(|e| e.ok()?.file_name().into_string().ok()).filter(|n| n.starts_with("step-")).collect();
    names.sort();
    let name = names.pop().with_context(|| format!("--resume {}: no checkpoint there", dir.display()))?;
    let path = dir.join(name);
    let text = std::fs::read_to_string(path.join("progress.yaml"))
        .with_context(|| format!("--resume: reading {}", path.join("progress.yaml").display()))?;
    let progress: Progress = serde_yaml::from_str(&text).with_context(|| format!("{}: corrupt", path.display()))?;
    if !path.join("model.ot").is_file() || !path.join("scheduler.yaml").is_file() {
        bail!("{}: incomplete checkpoint", path.display());
    }
    Ok((path, progress))
}
