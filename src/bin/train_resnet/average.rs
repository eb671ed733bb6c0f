//! Weight averaging, as PyTorch's `torch.optim.swa_utils` documents it:
//! `--swa-start N` (SWA: the equal mean of the weights after each epoch past
//! `swa_start`, `SWALR` instead of the config's schedule, `update_bn` before
//! each evaluation) and `--ema DECAY` (an exponential moving average updated
//! after every optimizer step, buffers averaged too). The PyTorch twin
//! (`scripts/reference/train_resnet_torch.py`) has the same flags.

use std::path::Path;

use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};
use tch::nn::{FuncT, ModuleT, VarStore};
use tch_lr::config::{Config, Interval, SWAConfig, SWALRConfig, SchedulerConfig};
use tch_lr::groups::PerGroup;
use tch_lr::schedulers::AnnealStrategy;
use tch_lr::swa_utils::{update_bn, AveragedModel};

use crate::data::Split;

/// tch's BatchNorm momentum, which the ResNets' layers keep (update_bn needs it).
const BN_MOMENTUM: f64 = 0.1;

/// `--swa-start` and its SWALR, as a checkpoint keeps them.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SwaSettings {
    /// PyTorch's `swa_start`: averaging after each epoch > start.
    pub start: i64,
    /// `swa_lr`.
    pub lr: f64,
    /// `anneal_epochs`.
    pub anneal_epochs: i64,
    /// `anneal_strategy`.
    pub anneal_strategy: AnnealStrategy,
}

/// The config with `--swa-start`: its scheduler becomes `SWA` (the config's,
/// then `SWALR` after `swa_start`), as PyTorch's loop steps them.
pub fn with_swa(mut config: Config, swa: Option<&SwaSettings>) -> Result<Config> {
    let Some(s) = swa else { return Ok(config) };
    if config.interval != Interval::Epoch {
        bail!("--swa-start steps SWALR once per epoch, as PyTorch's SWA loop: the config's interval must be epoch");
    }
    if matches!(config.scheduler, SchedulerConfig::SWA(_)) {
        bail!("--swa-start: the config's scheduler is SWA already (its own swa_start); drop the flag");
    }
    let swalr =
        SWALRConfig { swa_lr: PerGroup::All(s.lr), anneal_epochs: s.anneal_epochs, anneal_strategy: s.anneal_strategy };
    let schedulers = vec![config.scheduler, SchedulerConfig::SWALR(swalr)];
    config.scheduler = SchedulerConfig::SWA(SWAConfig { schedulers, swa_start: s.start });
    Ok(config)
}

/// Which average the run keeps.
enum Kind {
    /// SWA's equal mean, from the epoch after `start` on.
    Swa { start: i64 },
    /// An EMA updated after every optimizer step.
    Ema,
}

/// The averaged model: its store (an [`AveragedModel`]) and the network built on it.
pub struct Averaged {
    model: AveragedModel,
    net: FuncT<'static>,
    kind: Kind,
}

impl Averaged {
    /// The run's average, if it keeps one: SWA when the config's scheduler is
    /// `SWA` (from --swa-start or written so), an EMA with --ema; `build`
    /// builds the network a second time, on a new store, for it.
    pub fn new(
        config: &Config,
        ema: Option<f64>,
        build: impl FnOnce() -> Result<(VarStore, FuncT<'static>)>,
    ) -> Result<Option<Self>> {
        let kind = match (&config.scheduler, ema) {
            (SchedulerConfig::SWA(c), None) => Kind::Swa { start: c.swa_start },
            (SchedulerConfig::SWA(_), Some(_)) => bail!("--ema: the config's SWA averages already (one average a run)"),
            (_, Some(_)) => Kind::Ema,
            (_, None) => return Ok(None),
        };
        let (vs, net) = build()?;
        let model = match (&kind, ema) {
            (Kind::Ema, Some(decay)) => AveragedModel::new(vs).ema(decay)?.use_buffers(true),
            _ => AveragedModel::new(vs),
        };
        Ok(Some(Averaged { model, net, kind }))
    }

    /// After each optimizer step: the EMA's update.
    pub fn after_step(&mut self, vs: &VarStore) -> Result<()> {
        if let Kind::Ema = self.kind {
            self.model.update_parameters(vs)?;
        }
        Ok(())
    }

    /// After `epoch`'s evaluation: SWA's update past `swa_start` (then
    /// `update_bn` over the training samples in order, in batches of `batch`);
    /// the average's validation loss and accuracy, or `None` before it exists.
    pub fn after_epoch(
        &mut self,
        epoch: usize,
        vs: &VarStore,
        train: &Split,
        test: &Split,
        batch: i64,
    ) -> Result<Option<(f64, f64)>> {
        if let Kind::Swa { start } = self.kind {
            if (epoch as i64) <= start {
                return Ok(None);
            }
            self.model.update_parameters(vs)?;
            let n = train.len();
            let batches = (0..n).step_by(batch as usize).map(|s| train.images.narrow(0, s, batch.min(n - s)));
            let net = &self.net;
            update_bn(self.model.var_store(), BN_MOMENTUM, batches, |x| net.forward_t(x, true))?;
        }
        Ok(Some(crate::evaluate(&self.net, test, batch.max(256))))
    }

    /// PyTorch's `AveragedModel.state_dict()` of the average.
    pub fn state_dict(&self) -> Result<tch_lr::interop::Value> {
        Ok(self.model.state_dict()?)
    }

    /// Loads PyTorch's `AveragedModel.state_dict()` into the average, all or nothing.
    pub fn load_state_dict(&mut self, state_dict: &tch_lr::interop::Value) -> Result<()> {
        Ok(self.model.load_state_dict(state_dict)?)
    }

    /// Saves the average into a checkpoint folder (`averaged.pt`, PyTorch's
    /// `AveragedModel.state_dict()`).
    pub fn save(&self, dir: &Path) -> Result<()> {
        Ok(self.model.save(dir.join("averaged.pt"))?)
    }

    /// Loads it from a checkpoint folder, if the checkpoint has one.
    pub fn load(&mut self, dir: &Path) -> Result<()> {
        let path = dir.join("averaged.pt");
        if path.is_file() {
            self.model.load(&path).with_context(|| format!("loading {}", path.display()))?;
        }
        Ok(())
    }
}
