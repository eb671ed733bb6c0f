//! Test hooks, for `tests/end_to_end/train.rs` only: off unless their variable is set,
//! they let a test act at an exact moment of a run (a checkpoint write
//! included), which a signal from outside cannot hit.
//!
//! - `TRAIN_RESNET_DIE_AT=<point>:<n>`: the n-th time the run reaches
//!   `<point>`, it kills itself with SIGKILL (the kill/resume test).
//!   With `TRAIN_RESNET_DIE_RANK=<r>` only rank r dies, and only before
//!   torchrun's first restart (the data-parallel restart test).
//! - `TRAIN_RESNET_PAUSE_AT=<point>:<n>`: there it writes `.paused` (its pid)
//!   into the checkpoint folder and waits forever, to be killed (the test of
//!   the checkpoint folder's lock).
//! - `TRAIN_RESNET_DUMP=<dir>`: at the end of training each rank writes its
//!   model's `state_dict` to `<dir>/rank<r>.pt` (the test that the ranks end
//!   with the same weights).
//!
//! The points: `batch` (an optimizer step, on every rank), `row` (a log row written), `step` (the scheduler stepped per
//! batch), `epoch` (an epoch's row written), and the stages of a checkpoint
//! write: `save:model`, `save:scheduler`, `save:optimizer`, `save:renamed`,
//! `save:latest`.

use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;

/// The variable that names where the run kills itself.
const DIE_AT: &str = "TRAIN_RESNET_DIE_AT";
/// The variable that names where the run pauses.
const PAUSE_AT: &str = "TRAIN_RESNET_PAUSE_AT";

/// One hook: `<point>:<n>` from its variable, and how often the point was reached.
struct Hook {
    at: Option<(String, u64)>,
    seen: AtomicU64,
}

impl Hook {
    /// The hook its variable `var` describes (off when unset or malformed).
    fn from_env(var: &str) -> Hook {
        let at = std::env::var(var).ok().and_then(|v| {
            let (p, n) = v.rsplit_once(':')?;
            Some((p.to_string(), n.parse().ok()?))
        });
        Hook { at, seen: AtomicU64::new(0) }
    }

    /// Counts a visit of `point`; true on the n-th visit of the hook's point.
    fn reached(&self, point: &str) -> bool {
        matches!(&self.at, Some((p, n)) if p == point && self.seen.fetch_add(1, Ordering::SeqCst) + 1 == *n)
    }
}

/// The run reached `point` (in the checkpoint folder `dir`, for the
/// `save:*` points): kills or pauses the process there when a hook says so,
/// else returns at once.
pub fn at(point: &str, dir: Option<&Path>) {
    static DIE: OnceLock<Hook> = OnceLock::new();
    static PAUSE: OnceLock<Hook> = OnceLock::new();
    if DIE.get_or_init(|| Hook::from_env(DIE_AT)).reached(point) && this_rank_dies() {
        die();
    }
    if PAUSE.get_or_init(|| Hook::from_env(PAUSE_AT)).reached(point) {
        if let Some(dir) = dir {
            let _ = std::fs::write(dir.join(".paused"), std::process::id().to_string());
        }
        loop {
            std::thread::park();
        }
    }
}

/// Whether the die hook applies to this process: always, or with
/// `TRAIN_RESNET_DIE_RANK=<r>` on rank r before torchrun's first restart.
fn this_rank_dies() -> bool {
    let var = |k: &str| std::env::var(k).ok();
    match var("TRAIN_RESNET_DIE_RANK") {
        None => true,
        Some(r) => var("RANK") == Some(r) && var("TORCHELASTIC_RESTART_COUNT").is_none_or(|c| c == "0"),
    }
}

/// `TRAIN_RESNET_DUMP=<dir>`: writes the model's weights to `<dir>/rank<r>.pt`.
pub fn dump(vs: &tch::nn::VarStore, rank: usize) {
    let Some(dir) = std::env::var_os("TRAIN_RESNET_DUMP") else { return };
    let path = Path::new(&dir).join(format!("rank{rank}.pt"));
    let saved = tch_lr::interop::model::state_dict(vs).and_then(|sd| tch_lr::interop::torch_file::save(&path, &sd));
    if let Err(e) = saved {
        eprintln!("TRAIN_RESNET_DUMP: {e}");
    }
}

/// Ends the process with SIGKILL, as a crash would: no destructor, no flush.
fn die() {
    unsafe extern "C" {
        fn kill(pid: i32, sig: i32) -> i32;
    }
    // SAFETY: kill(2) on this process's own pid with SIGKILL (9) touches
    // no memory of ours; the process ends here.
    unsafe {
        kill(std::process::id() as i32, 9);
    }
}
