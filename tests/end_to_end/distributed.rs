//! The data-parallel engine (`tch_lr::distributed`, feature `distributed`)
//! against the running libtorch: the test binary itself runs as two workers
//! under the project's `torchrun` (Gloo over loopback), and each worker checks
//! the collectives on known tensors against exact expected values: sums and
//! means of known values, broadcasts from either rank, the start's
//! synchronisation of a `VarStore`, gradients averaged as DDP averages them
//! (each rank's gradient halved, then summed), and the global batch's shards.
//! Also: the shim emits no vtable of libtorch's backend classes (one would
//! shadow libtorch's); an unreachable store is one line within the timeout;
//! a batch the world size does not divide is one line.
//!
//! And every C++ block is freed with the size it was allocated with: the
//! workers above and the training example (2 processes under torchrun, as
//! `scripts/train.sh --nproc 2` runs it) run under an `LD_PRELOAD` interposer
//! of `operator new`/`delete` (`tests/sized_delete/interposer.cpp`) that
//! aborts with one line on a sized delete of another size, after a probe
//! program proved that it does.

use crate::common;

use std::os::unix::process::ExitStatusExt as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use tch::nn::{self, Module, VarStore};
use tch::{Device, Kind, Tensor};
use tch_lr::distributed::{shard, Launch, ProcessGroup};

/// Set in the workers torchrun starts.
const WORKER: &str = "TCH_LR_DIST_WORKER";

fn torchrun() -> PathBuf {
    common::root().join(".venv/bin/torchrun")
}

/// Runs this test binary's test `name` (of this module) as `n` workers under
/// torchrun; their combined output, and whether all succeeded.
fn launch(name: &str, n: usize) -> (bool, String) {
    launch_with(name, n, None)
}

/// [`launch`], each worker with `preload` as `LD_PRELOAD` when given.
fn launch_with(name: &str, n: usize, preload: Option<&Path>) -> (bool, String) {
    let exe = std::env::current_exe().unwrap();
    // The test's path in the binary: this module's, less the crate's name.
    let name = match module_path!().split_once("::") {
        Some((_, module)) => format!("{module}::{name}"),
        None => name.to_string(),
    };
    let out = workers(n, preload, &exe, &[name.as_str(), "--exact", "--nocapture", "--test-threads", "1"])
        .env(WORKER, "1")
        .output()
        .expect("running .venv/bin/torchrun");
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    (out.status.success(), text)
}

/// torchrun running `program` with `args` as `n` workers over loopback (Gloo),
/// each with `preload` as `LD_PRELOAD` when given (the workers only: `env`
/// sets it for them, not for torchrun's Python agent).
fn workers(n: usize, preload: Option<&Path>, program: &Path, args: &[&str]) -> Command {
    let mut cmd = common::command(torchrun());
    cmd.args(["--standalone", "--nnodes", "1", "--nproc-per-node", &n.to_string(), "--no-python", "--"]);
    if let Some(lib) = preload {
        cmd.arg("env").arg(format!("LD_PRELOAD={}", lib.display()));
    }
    cmd.arg(program).args(args).current_dir(common::root()).env("GLOO_SOCKET_IFNAME", "lo");
    cmd
}

fn f32s(t: &Tensor) -> Vec<f32> {
    Vec::<f32>::try_from(t.flatten(0, -1).to_kind(Kind::Float)).unwrap()
}

/// The gradient of rank `r`'s loss on a linear layer whose weights are `w`, `b`.
fn gradients_of_rank(w: &Tensor, b: &Tensor, r: usize) -> (Tensor, Tensor) {
    let vs = VarStore::new(Device::Cpu);
    let lin = nn::linear(vs.root() / "lin", 3, 2, Default::default());
    tch::no_grad(|| {
        lin.ws.shallow_clone().copy_(w);
        lin.bs.as_ref().unwrap().shallow_clone().copy_(b);
    });
    let x = (Tensor::arange(12, (Kind::Float, Device::Cpu)).view([4, 3]) * (0.37 + r as f64)).sin();
    lin.forward(&x).square().mean(Kind::Float).backward();
    (lin.ws.grad().copy(), lin.bs.as_ref().unwrap().grad().copy())
}

/// What each worker checks (only when launched by `launch`).
#[test]
fn worker_collectives() {
    if std::env::var_os(WORKER).is_none() {
        return;
    }
    let launch = Launch::from_env().unwrap().expect("torchrun's environment");
    let pg = ProcessGroup::join(&launch, Device::Cpu, Duration::from_secs(60)).unwrap();
    let (r, w) = (pg.rank(), pg.world_size());
    assert_eq!(w, 2);

    // Sums of known values, two dtypes in one call.
    let a = Tensor::from_slice(&[r as f32 + 1.0, 10.0 * (r as f32 + 1.0)]);
    let d = Tensor::from_slice(&[r as f64, 0.25]);
    pg.all_reduce_sum(&[&a, &d]).unwrap();
    assert_eq!(f32s(&a), [3.0, 30.0]);
    assert_eq!(Vec::<f64>::try_from(&d).unwrap(), [1.0, 0.5]);

    // Means: 0.1 and 0.7 halved and summed (DDP's order), exactly.
    let m = Tensor::from_slice(&[[0.1f32, 0.7][r], 1.0]);
    pg.all_reduce_mean(&[&m]).unwrap();
    let want = Tensor::from_slice(&[0.1f32, 0.7]) / 2.0;
    let want = want.get(0) + want.get(1);
    assert_eq!(f32s(&m), [f32::try_from(&want).unwrap(), 1.0]);

    // Broadcasts from each root.
    for root in 0..w {
        let t = Tensor::full([3], r as f64 + 0.5, (Kind::Float, Device::Cpu));
        pg.broadcast(&[&t], root).unwrap();
        assert_eq!(f32s(&t), [root as f32 + 0.5; 3]);
    }

    // The start: every rank's VarStore becomes rank 0's, buffers included.
    tch::manual_seed(r as i64);
    let vs = VarStore::new(Device::Cpu);
    let lin = nn::linear(vs.root() / "lin", 3, 2, Default::default());
    let _bn = nn::batch_norm1d(vs.root() / "bn", 2, Default::default());
    tch::manual_seed(0);
    let zero_vs = VarStore::new(Device::Cpu);
    let zero_lin = nn::linear(zero_vs.root() / "lin", 3, 2, Default::default());
    pg.sync_var_store(&vs).unwrap();
    assert!(lin.ws.equal(&zero_lin.ws) && lin.bs.as_ref().unwrap().equal(zero_lin.bs.as_ref().unwrap()));

    // Gradients averaged: each rank's own data; the result is (g0 / 2) + (g1 / 2),
    // computed here for both ranks.
    let gvs = VarStore::new(Device::Cpu);
    let lin = nn::linear(gvs.root() / "lin", 3, 2, Default::default());
    pg.sync_var_store(&gvs).unwrap();
    let x = (Tensor::arange(12, (Kind::Float, Device::Cpu)).view([4, 3]) * (0.37 + r as f64)).sin();
    lin.forward(&x).square().mean(Kind::Float).backward();
    pg.average_gradients(&gvs).unwrap();
    let (g0, b0) = gradients_of_rank(&lin.ws, lin.bs.as_ref().unwrap(), 0);
    let (g1, b1) = gradients_of_rank(&lin.ws, lin.bs.as_ref().unwrap(), 1);
    assert!(lin.ws.grad().equal(&(g0 / 2.0 + g1 / 2.0)), "weight gradient");
    assert!(lin.bs.as_ref().unwrap().grad().equal(&(b0 / 2.0 + b1 / 2.0)), "bias gradient");
    // A parameter the forward did not use: one line.
    let _unused = gvs.root().zeros("unused", &[2]);
    let e = pg.average_gradients(&gvs).unwrap_err().to_string();
    assert!(e.contains("`unused` has no gradient"), "{e}");

    // Buffers (BatchNorm's running statistics) from rank 0.
    let buffers = vs.variables().into_iter().filter(|(_, t)| !t.requires_grad()).collect::<Vec<_>>();
    assert_eq!(buffers.len(), 2);
    tch::no_grad(|| {
        for (_, t) in &buffers {
            let _ = t.shallow_clone().fill_(r as f64 + 2.0);
        }
    });
    pg.broadcast_buffers(&vs).unwrap();
    for (name, t) in &buffers {
        assert_eq!(f32s(t), [2.0, 2.0], "{name}");
    }

    // The shards of a global batch of 64: 0..32 and 32..64.
    assert_eq!(pg.shard(64).unwrap(), 32 * r as i64..32 * (r as i64 + 1));
    assert!(pg.shard(63).unwrap_err().to_string().contains("does not split into 2 equal parts"));
    pg.barrier().unwrap();
    // Left: the backend destroyed and its block freed, no reference left in libtorch.
    pg.leave().unwrap();
    println!("worker {r} of {w}: all checks passed");
}

#[test]
fn collectives_are_exact_across_two_processes_under_torchrun() {
    if std::env::var_os(WORKER).is_some() {
        return;
    }
    let (ok, text) = launch("worker_collectives", 2);
    assert!(ok, "{text}");
    for r in 0..2 {
        assert!(text.contains(&format!("worker {r} of 2: all checks passed")), "{text}");
    }
}

/// The shim's object file defines no vtable of the backend classes it
/// declares (the declarations make their destructors the key functions).
#[test]
fn the_shim_shadows_no_libtorch_vtable() {
    if std::env::var_os(WORKER).is_some() {
        return;
    }
    let lib = PathBuf::from(env!("OUT_DIR")).join("libtch_lr_distributed.a");
    let out = Command::new("nm").arg(&lib).output().expect("nm");
    assert!(out.status.success(), "nm {}", lib.display());
    let symbols = String::from_utf8_lossy(&out.stdout);
    for class in ["16ProcessGroupGloo", "16ProcessGroupNCCL"] {
        let defined: Vec<&str> = symbols
            .lines()
            .filter(|l| l.contains(&format!("_ZTVN4c10d{class}")) && !l.trim_start().starts_with('U'))
            .collect();
        assert!(defined.is_empty(), "the shim defines {defined:?}");
    }
    assert!(symbols.contains("tch_lr_dist_all_reduce"));
}

/// A store nobody serves: one line, within the timeout (no hang).
#[test]
fn an_unreachable_store_is_one_line_within_the_timeout() {
    if std::env::var_os(WORKER).is_some() {
        return;
    }
    // A port that was free a moment ago, now closed.
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let vars = |k: &str| -> Option<String> {
        Some(
            match k {
                "WORLD_SIZE" => "2",
                "RANK" => "1",
                "LOCAL_RANK" => "1",
                "MASTER_ADDR" => "127.0.0.1",
                "TORCHELASTIC_USE_AGENT_STORE" => "True",
                "MASTER_PORT" => return Some(port.to_string()),
                _ => return None,
            }
            .to_string(),
        )
    };
    let launch = Launch::from_vars(vars).unwrap().unwrap();
    let start = Instant::now();
    let e = ProcessGroup::join(&launch, Device::Cpu, Duration::from_secs(3)).unwrap_err().to_string();
    let took = start.elapsed();
    assert!(e.starts_with("distributed: joining the process group at 127.0.0.1:") && !e.contains('\n'), "{e}");
    assert!(!e.contains("distributed: distributed"), "{e}");
    assert!(took < Duration::from_secs(30), "took {took:?}");
    eprintln!("{e} ({took:?})");
}

#[test]
fn the_launch_environment_is_read_and_checked() {
    let env = |pairs: &'static [(&'static str, &'static str)]| {
        move |k: &str| pairs.iter().find(|(n, _)| *n == k).map(|(_, v)| v.to_string())
    };
    assert_eq!(Launch::from_vars(env(&[])).unwrap(), None);
    let full = [
        ("WORLD_SIZE", "4"),
        ("RANK", "3"),
        ("LOCAL_RANK", "1"),
        ("MASTER_ADDR", "10.0.0.1"),
        ("MASTER_PORT", "29500"),
        ("TORCHELASTIC_USE_AGENT_STORE", "True"),
        ("TORCHELASTIC_RESTART_COUNT", "2"),
    ];
    let l = Launch::from_vars(env(Box::leak(Box::new(full)))).unwrap().unwrap();
    assert_eq!(
        (l.rank, l.world_size, l.local_rank, l.master_port, l.agent_store, l.restart),
        (3, 4, 1, 29500, true, 2)
    );
    let e = Launch::from_vars(env(&[("WORLD_SIZE", "2"), ("RANK", "2")])).unwrap_err().to_string();
    assert!(e.contains("RANK 2 is not below WORLD_SIZE 2"), "{e}");
    let e =
        Launch::from_vars(env(&[("WORLD_SIZE", "2"), ("RANK", "0"), ("MASTER_PORT", "x")])).unwrap_err().to_string();
    assert!(e.contains("MASTER_PORT=\"x\" is not a whole number"), "{e}");
    assert_eq!(shard(96, 2, 3).unwrap(), 64..96);
    assert!(shard(100, 0, 3).unwrap_err().to_string().contains("give a batch size that 3 divides"));
}

// ---------------------------------------------------------------------------
// Every C++ block freed with the size it was allocated with.
// ---------------------------------------------------------------------------

/// The one line the interposer writes before it aborts.
const WRONG_SIZE: &str = "sized-delete interposer: freed with another";

/// `c++` building `source` (in tests/sized_delete) into `out` with `flags`:
/// into a name of this process first, then renamed (another test run may be
/// building the same file).
fn compile(source: &str, out: &Path, flags: &[&str]) {
    let tmp = out.with_extension(format!("tmp{}", std::process::id()));
    let src = common::root().join("tests/sized_delete").join(source);
    let status = Command::new("c++")
        .args(["-std=c++17", "-Wall", "-Wextra", "-Werror"])
        .args(flags)
        .arg("-o")
        .arg(&tmp)
        .arg(&src)
        .status()
        .expect("running c++");
    assert!(status.success(), "c++ {}", src.display());
    std::fs::rename(&tmp, out).unwrap();
}

/// The sized-delete interposer (tests/sized_delete/interposer.cpp), built once
/// per test run, after its probe proved it: every variant of new and delete
/// used rightly runs through it, and a block freed by sized delete with
/// another size (plain, array, aligned) aborts the process with one line,
/// where glibc alone frees it silently.
fn interposer() -> &'static Path {
    static BUILT: OnceLock<PathBuf> = OnceLock::new();
    BUILT.get_or_init(|| {
        let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("sized-delete");
        std::fs::create_dir_all(&dir).unwrap();
        let (lib, probe) = (dir.join("interposer.so"), dir.join("probe"));
        compile("interposer.cpp", &lib, &["-O2", "-shared", "-fPIC"]);
        compile("probe.cpp", &probe, &["-O0", "-fsized-deallocation"]);
        let run = |case: &str, preload: bool| -> Output {
            let mut cmd = Command::new(&probe);
            cmd.arg(case);
            if preload {
                cmd.env("LD_PRELOAD", &lib);
            }
            cmd.output().unwrap()
        };
        let out = run("right", true);
        assert!(out.status.success() && out.stdout == b"freed\n", "probe right: {out:?}");
        for case in ["size", "array", "aligned"] {
            let alone = run(case, false);
            assert!(alone.status.success(), "probe {case} without the interposer: {alone:?}");
            let out = run(case, true);
            let stderr = String::from_utf8_lossy(&out.stderr);
            assert_eq!(out.status.signal(), Some(6), "probe {case}: the interposer must abort: {out:?}");
            assert!(out.stdout.is_empty(), "probe {case}: {out:?}");
            assert!(stderr.starts_with(WRONG_SIZE) && stderr.lines().count() == 1, "probe {case}: {stderr}");
        }
        lib
    })
}

#[test]
fn the_interposer_stops_a_block_freed_with_another_size() {
    if std::env::var_os(WORKER).is_some() {
        return;
    }
    assert!(interposer().is_file());
}

/// The collectives' workers (join, every collective, leave) under the
/// interposer: both ranks pass and exit cleanly.
#[test]
fn the_workers_free_every_block_with_its_size() {
    if std::env::var_os(WORKER).is_some() {
        return;
    }
    let (ok, text) = launch_with("worker_collectives", 2, Some(interposer()));
    assert!(ok && !text.contains(WRONG_SIZE), "{text}");
    for r in 0..2 {
        assert!(text.contains(&format!("worker {r} of 2: all checks passed")), "{text}");
    }
}

/// The training program (Cargo's, built with this test's features).
fn example() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_train_resnet"))
}

/// `scripts/train.sh --nproc 2 --epochs 1 --train-size 256 --test-size 64`
/// (the example on 2 processes under torchrun, Gloo over loopback) under the
/// interposer: it trains, and both ranks exit cleanly.
#[test]
fn the_example_on_two_processes_frees_every_block_with_its_size() {
    if std::env::var_os(WORKER).is_some() {
        return;
    }
    let lib = interposer();
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("log.csv");
    let args = ["--epochs", "1", "--train-size", "256", "--test-size", "64", "--device", "cpu", "--log"];
    let out = workers(2, Some(lib), &example(), &[&args[..], &[log.to_str().unwrap()]].concat()).output().unwrap();
    let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success() && !stderr.contains(WRONG_SIZE), "{stdout}{stderr}");
    assert!(stdout.contains("done: 4 batches"), "{stdout}");
}
