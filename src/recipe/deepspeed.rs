//! A DeepSpeed checkpoint folder as the config: its model-states file holds
//! the `ds_config` the engine ran with, read as DeepSpeed's JSON config is
//! ([`Config::from_value`]), and the run continues at its `global_steps`.

use std::path::Path;

use super::Recipe;
use crate::config::Config;
use crate::error::{Error, Result};
use crate::interop::state::to_yaml;

/// The checkpoint at `path` (a tag folder, its model-states file, or the
/// save folder with `latest`) as a [`Recipe`].
pub(super) fn load(path: &Path) -> Result<Recipe> {
    let checkpoint = crate::interop::deepspeed::load(path)?;
    let file = checkpoint.file.display().to_string();
    let Some(ds_config) = &checkpoint.ds_config else {
        return Err(Error::State(format!(
            "{file}: no `ds_config` (DeepSpeed writes it since 0.3): give the JSON config and --resume-from this folder"
        )));
    };
    let config = Config::from_value(to_yaml(ds_config, "ds_config")?)
        .map_err(|e| e.context(format!("{file}: its ds_config")))?;
    let version = checkpoint.ds_version.as_deref().map(|v| format!(" {v}")).unwrap_or_default();
    let found = format!(
        "{}, lr {}, from the ds_config of a DeepSpeed{version} checkpoint at global step {}",
        config.scheduler.name(),
        lrs(&config),
        checkpoint.global_steps
    );
    Ok(Recipe { kind: super::RecipeKind::DeepSpeed, config, resume_from: Some(path.to_path_buf()), found: Some(found) })
}

/// The groups' LRs, as the one line says them.
pub(super) fn lrs(config: &Config) -> String {
    match config.optimizer_or_default().lrs() {
        Ok(l) if l.len() == 1 => l[0].to_string(),
        Ok(l) => format!("{l:?}"),
        Err(_) => "?".into(),
    }
}
