//! Helpers shared by the integration tests.
#![allow(dead_code)]

use std::path::{Path, PathBuf};

use serde::Deserialize;
use tch::{nn, Device};

/// The repository root.
pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Runs the fixture generator `scripts/fixtures/gen_{name}.py --out DIR` (the project's
/// .venv) into a temporary folder and returns the contents of `files` it wrote there: the
/// reference as PyTorch computes it on the machine running the test, with the libtorch
/// the tests link and as many threads. For tests that compare bit for bit with what
/// PyTorch's CPU kernels compute: those differ in their last bits between CPUs
/// (vectorized paths, MKL, oneDNN) and thread counts, so the committed fixture, written
/// on another machine, is checked by `gen.py --check` within a tolerance instead.
pub fn generate(name: &str, files: &[&str]) -> Vec<Vec<u8>> {
    let dir = tempfile::tempdir().unwrap();
    let python = root().join(".venv/bin/python");
    let script = root().join(format!("scripts/fixtures/gen_{name}.py"));
    // PyTorch with as many threads as this process's libtorch: a reduction (BatchNorm's
    // statistics) splits its work by the thread count, and so rounds by it.
    let threads = tch::get_num_threads().max(1).to_string();
    let out = command(&python)
        .env("OMP_NUM_THREADS", &threads)
        .env("MKL_NUM_THREADS", &threads)
        .arg(&script)
        .arg("--out")
        .arg(dir.path())
        .output()
        .unwrap_or_else(|e| panic!("{}: {e} (the tests need the project's .venv: scripts/setup.sh)", python.display()));
    assert!(out.status.success(), "{} failed:\n{}", script.display(), String::from_utf8_lossy(&out.stderr));
    files
        .iter()
        .map(|f| std::fs::read(dir.path().join(f)).unwrap_or_else(|e| panic!("{}: {f}: {e}", script.display())))
        .collect()
}

/// One case of a fixture written by `scripts/fixtures/gen_pytorch.py` from PyTorch.
#[derive(Debug, Deserialize)]
pub struct Case {
    pub name: String,
    pub config: serde_json::Value,
    pub steps: usize,
    #[serde(default)]
    pub metrics: Option<Vec<Num>>,
    #[serde(default)]
    pub epochs: Option<Vec<f64>>,
    pub expected: Expected,
}

#[derive(Debug, Deserialize)]
pub struct Expected {
    pub lr: Vec<Vec<Num>>,
    pub last_lr: Vec<Vec<Num>>,
    pub momentum: Vec<Vec<Num>>,
    /// Each group's `betas[1]` (null without betas), where the fixture has it
    /// (DeepSpeed's: `OneCycle` writes 0.99).
    #[serde(default)]
    pub beta2: Option<Vec<Vec<Option<Num>>>>,
    /// What the reference warned of at construction, where the fixture says (DeepSpeed's).
    #[serde(default)]
    pub notes: Option<Vec<String>>,
    /// Each group's weight decay, for a schedule that drives it (Megatron's).
    #[serde(default)]
    pub weight_decay: Option<Vec<Vec<Num>>>,
    pub error: Option<PyError>,
}

#[derive(Debug, Deserialize)]
pub struct PyError {
    pub row: usize,
    #[serde(rename = "type")]
    pub kind: String,
    pub message: String,
}

/// A float, or "inf" / "-inf" / "nan" for values JSON cannot hold.
#[derive(Clone, Copy, Debug, Deserialize)]
#[serde(untagged)]
pub enum Num {
    F(f64),
    S(NonFinite),
}

#[derive(Clone, Copy, Debug, Deserialize)]
pub enum NonFinite {
    #[serde(rename = "inf")]
    Inf,
    #[serde(rename = "-inf")]
    NegInf,
    #[serde(rename = "nan")]
    Nan,
}

impl Num {
    pub fn get(self) -> f64 {
        match self {
            Num::F(v) => v,
            Num::S(NonFinite::Inf) => f64::INFINITY,
            Num::S(NonFinite::NegInf) => f64::NEG_INFINITY,
            Num::S(NonFinite::Nan) => f64::NAN,
        }
    }
}

#[derive(Debug, Deserialize)]
struct FixtureFile {
    torch_version: String,
    cases: Vec<Case>,
}

/// The cases of one fixture file.
pub fn load_cases(path: &Path) -> Vec<Case> {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let exact = path.file_name().is_some_and(|n| n.to_string_lossy().starts_with("deepspeed."));
    let file: FixtureFile = if exact {
        // DeepSpeed's fixtures are compared to the bit: read by serde_yaml (JSON
        // is YAML), whose floats are correctly rounded; serde_json's default
        // parser may be an ulp off.
        serde_yaml::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
    } else {
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
    };
    assert_eq!(file.torch_version, "2.13.0", "{}", path.display());
    file.cases
}

/// Every fixture file under `tests/fixtures/parity`.
pub fn parity_files() -> Vec<PathBuf> {
    let dir = root().join("tests/fixtures/parity");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    files.sort();
    files
}

/// `a` and `b` agree to 1e-9 relative (exactly, for zeros and infinities).
pub fn close(a: f64, b: f64) -> bool {
    if a == b || (a.is_nan() && b.is_nan()) {
        return true;
    }
    (a - b).abs() <= 1e-9 * a.abs().max(b.abs())
}

/// One case of `tests/fixtures/cli/expected.json` (`scripts/fixtures/gen_config.py`,
/// PyTorch 2.13): a config traced for `steps` rows, the rows PyTorch gives
/// (weight decay where a `weight_decay_scheduler:` drives it), and where it
/// raises, the row and its message.
#[derive(Deserialize)]
pub struct CliCase {
    pub config: String,
    pub steps: usize,
    pub metrics: Option<String>,
    pub lr: Vec<Vec<Num>>,
    pub momentum: Vec<Vec<Num>>,
    #[serde(default)]
    pub weight_decay: Option<Vec<Vec<Num>>>,
    pub error: Option<CliError>,
}

/// Where PyTorch raises in a [`CliCase`] (the rows before it are printed).
#[derive(Deserialize)]
pub struct CliError {
    pub row: usize,
    pub message: String,
}

#[derive(Deserialize)]
struct CliFixture {
    torch_version: String,
    cases: Vec<CliCase>,
}

/// The cases of `tests/fixtures/cli/expected.json`: every file in `configs/` and the generated configs.
pub fn cli_cases() -> Vec<CliCase> {
    let text = std::fs::read_to_string(root().join("tests/fixtures/cli/expected.json")).unwrap();
    let f: CliFixture = serde_json::from_str(&text).unwrap();
    assert_eq!(f.torch_version, "2.13.0");
    f.cases
}

/// The first difference between the rows a trace gave and PyTorch's (a row count, or a row whose
/// per-group values are not [`close`]), as one message; `Ok` when every row agrees.
pub fn same_rows(case: &str, what: &str, got: &[Vec<f64>], want: &[Vec<Num>]) -> Result<(), String> {
    if got.len() != want.len() {
        return Err(format!("{case}: {} rows of {what}, PyTorch {}", got.len(), want.len()));
    }
    for (row, (g, w)) in got.iter().zip(want).enumerate() {
        if g.len() != w.len() || g.iter().zip(w).any(|(a, b)| !close(*a, b.get())) {
            return Err(format!("{case}: row {row}: {what} {g:?}, PyTorch {w:?}"));
        }
    }
    Ok(())
}

/// Asserts two rows of per-group values agree to 1e-9 relative.
pub fn assert_row(what: &str, case: &str, row: usize, got: &[f64], want: &[Num]) {
    assert_eq!(got.len(), want.len(), "{case}: row {row}: {what} has {} groups, PyTorch {}", got.len(), want.len());
    for (g, (a, b)) in got.iter().zip(want).enumerate() {
        let b = b.get();
        assert!(close(*a, b), "{case}: row {row}: {what}[{g}] = {a:e}, PyTorch gives {b:e}");
    }
}

/// A `VarStore` with one tiny trainable tensor in each of `groups` groups.
#[allow(unused_imports)] // not every test binary uses it
pub use tch_lr::internals::tiny_var_store as tiny_vs;

/// Maps a library error to the Python exception class PyTorch raises there.
pub fn py_type(e: &tch_lr::Error) -> &'static str {
    match e {
        tch_lr::Error::Value(_) => "ValueError",
        tch_lr::Error::ZeroDivision(_) => "ZeroDivisionError",
        tch_lr::Error::NotImplemented(_) => "NotImplementedError",
        tch_lr::Error::Overflow(_) => "OverflowError",
        tch_lr::Error::Assertion(_) => "AssertionError",
        _ => "other",
    }
}

/// A `VarStore` of `f64` scalars `w0`, `w1`, ... one per group, so that an
/// SGD step's parameter change shows the applied LR to the last bit.
pub fn probe_vs(groups: usize) -> (nn::VarStore, Vec<tch::Tensor>) {
    let mut vs = nn::VarStore::new(Device::Cpu);
    for g in 0..groups {
        let _ = vs.root().set_group(g).zeros(&format!("w{g}"), &[1]);
    }
    vs.set_kind(tch::Kind::Double);
    let ws = (0..groups).map(|g| vs.root().get(&format!("w{g}")).expect("probe variable")).collect::<Vec<_>>();
    (vs, ws)
}

/// Runs one optimizer step with gradient 1 on every probe parameter, starting
/// from 0, and returns each parameter's change (`-lr * momentum buffer` for SGD).
pub fn probe_step(opt: &mut tch_lr::Optim, ws: &[tch::Tensor]) -> Vec<f64> {
    tch::no_grad(|| {
        for w in ws {
            let _ = w.shallow_clone().fill_(0.0);
        }
    });
    let loss = ws.iter().map(|w| w.sum(tch::Kind::Double)).reduce(|a, b| a + b).expect("at least one group");
    opt.backward_step(&loss);
    ws.iter().map(|w| w.double_value(&[0])).collect()
}

/// Runs every `(description, case)` of `schedule`, each to its end even when an
/// earlier one fails, and returns how many ran. If any failed, panics with one
/// line per failure: `<schedule>: case <index> (<description>): <message>`.
pub fn check_cases<F: FnOnce()>(schedule: &str, cases: impl IntoIterator<Item = (String, F)>) -> usize {
    let mut total = 0;
    let mut failures = Vec::new();
    for (index, (what, case)) in cases.into_iter().enumerate() {
        total += 1;
        if let Err(p) = std::panic::catch_unwind(std::panic::AssertUnwindSafe(case)) {
            let msg = p
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_default();
            failures.push(format!("{schedule}: case {index} ({what}): {msg}"));
        }
    }
    assert!(failures.is_empty(), "{schedule}: {} of {total} cases failed:\n{}", failures.len(), failures.join("\n"));
    total
}

/// A command for a program the tests run (the binaries, the PyTorch twin,
/// torchrun): with one libtorch (OpenMP) thread, as the tests run side by side
/// on few cores (two programs with a thread per core each spin against each
/// other: measured 7x slower on 2 cores), and the same for the Rust and the
/// Python side of a comparison.
#[allow(dead_code)] // not every test binary uses it
pub fn command(program: impl AsRef<std::ffi::OsStr>) -> std::process::Command {
    let mut cmd = std::process::Command::new(program);
    cmd.env("OMP_NUM_THREADS", "1").env("MKL_NUM_THREADS", "1");
    cmd
}

/// Runs `check` on every registered schedule (`tch_lr::schedulers::REGISTRY`,
/// the one list), each to its end even when an earlier one fails, and fails
/// naming every schedule that failed, with its message. `TCH_LR_SCHEDULES`
/// (names, comma-separated) runs only those:
/// `TCH_LR_SCHEDULES=StepLR cargo test --test schedules parity`.
#[allow(dead_code)] // not every test binary uses it
pub fn for_each_schedule(suite: &str, check: fn(&str)) {
    let only = std::env::var("TCH_LR_SCHEDULES").ok();
    let only: Option<Vec<&str>> = only.as_deref().map(|s| s.split(',').map(str::trim).collect());
    if let Some(only) = &only
        && let Some(name) = only.iter().find(|n| tch_lr::schedulers::registry::info(n).is_none())
    {
        panic!("TCH_LR_SCHEDULES names `{name}`, which is not registered");
    }
    let mut failures = Vec::new();
    let mut ran = 0;
    for info in tch_lr::schedulers::REGISTRY {
        if only.as_ref().is_some_and(|o| !o.contains(&info.name)) {
            continue;
        }
        ran += 1;
        if let Err(p) = std::panic::catch_unwind(|| check(info.name)) {
            let msg = p
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_default();
            failures.push(format!("{suite}::{}: {msg}", info.name));
        }
    }
    assert!(ran > 0, "{suite}: no schedule ran");
    assert!(failures.is_empty(), "{} of {ran} schedules failed:\n{}", failures.len(), failures.join("\n"));
}

/// SplitMix64: small, fast, and the same sequence everywhere (the fuzz tests'
/// random source).
pub struct Rng(pub u64);

impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    pub fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
    pub fn chance(&mut self, p: f64) -> bool {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64 <= p
    }
    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
}
