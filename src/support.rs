//! Helpers for the crate's own command line, examples, tests and benchmarks:
//! an atomic file write and the smallest `VarStore` with a given number of
//! parameter groups. Public so that those targets can share them; not part of
//! the API a training program is meant to use.

use std::fs;
use std::io::Write as _;
use std::path::Path;

use tch::{nn, Device};

use crate::error::{Error, Result};

/// Writes `bytes` to `path` through a temporary file and a rename, so that
/// `path` holds either the old or the new content, never a part.
///
/// # Errors
/// [`Error::Io`] when a write, flush or rename fails.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let io = |source| Error::Io { path: path.into(), source };
    let dir = path.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let name = path.file_name().ok_or_else(|| io(std::io::Error::other("not a file path")))?;
    let tmp = dir.join(format!(".{}.tmp-{}", name.to_string_lossy(), std::process::id()));
    let result = (|| {
        let mut f = fs::File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        fs::rename(&tmp, path)
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result.map_err(io)
}

/// A CPU `VarStore` with one zero `[1]` parameter in each of `groups`
/// parameter groups: the smallest model a real optimizer with that many
/// groups can be built on (what [`trace`](crate::trace::trace) steps).
pub fn tiny_var_store(groups: usize) -> nn::VarStore {
    let vs = nn::VarStore::new(Device::Cpu);
    for g in 0..groups {
        let _ = vs.root().set_group(g).zeros(&format!("w{g}"), &[1]);
    }
    vs
}
