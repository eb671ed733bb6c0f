//! Test hooks, for `tests/train.rs` only: off unless their variable is set,
//! they let a test act at an exact moment of a run (a checkpoint write
//! included), which a signal from outside cannot hit.
//!
//! - `TRAIN_RESNET_DIE_AT=<point>:<n>`: the n-th time the run reaches
//!   `<point>`, it kills itself with SIGKILL (the kill/resume test).
//! - `TRAIN_RESNET_PAUSE_AT=<point>:<n>`: there it writes `.paused` (its pid)
//!   into the checkpoint folder and waits forever, to be killed (the test of
//!   the checkpoint folder's lock).
//!
//! The points: `row` (a log row written), `step` (the scheduler stepped per
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
    if DIE.get_or_init(|| Hook::from_env(DIE_AT)).reached(point) {
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

/// Ends the process with SIGKILL, as a crash would: no destructor, no flush.
fn die() {
    extern "C" {
        fn kill(pid: i32, sig: i32) -> i32;
    }
    // SAFETY: kill(2) on this process's own pid with SIGKILL (9) touches
    // no memory of ours; the process ends here.
    unsafe {
        kill(std::process::id() as i32, 9);
    }
}
