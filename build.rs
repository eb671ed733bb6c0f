//! Adds libtorch's library directory to the rpath of every binary, test and
//! example of this crate, so that they run without `LD_LIBRARY_PATH`, and
//! compiles the C++ shims against the same libtorch: `src/ffi/ffi.cpp` (what
//! they share), `src/optim/owned.cpp`, `pytorch_step.cpp` and `write.cpp` (the
//! owned optimizer), and with the `distributed` feature
//! `src/distributed/c10d.cpp`. Rust declares their C functions in
//! `src/ffi/mod.rs`.
//!
//! `torch-sys` (links = "tch") exports that directory as `DEP_TCH_LIBTORCH_LIB`;
//! the headers are beside it (`<lib>/../include`), as in a libtorch download
//! and in PyTorch's wheel. The C++ flags are torch-sys's own for its libtch:
//! C++17, the `_GLIBCXX_USE_CXX11_ABI` of the libtorch (from PyTorch when
//! `LIBTORCH_USE_PYTORCH` is set, else `LIBTORCH_CXX11_ABI`, default 1) and
//! `GLOG_USE_GLOG_EXPORT`. With the `doc-only` feature (docs.rs: no libtorch)
//! nothing is compiled.
use std::env;
use std::path::{Path, PathBuf};
use std::process::Command;

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    for file in SHIM {
        println!("cargo:rerun-if-changed={file}");
    }
    println!("cargo:rerun-if-changed=src/ffi/kind.hpp");
    println!("cargo:rerun-if-changed=src/ffi/protect.hpp");
    println!("cargo:rerun-if-env-changed=DEP_TCH_LIBTORCH_LIB");
    if env::var_os("CARGO_FEATURE_DOC_ONLY").is_some() {
        return;
    }
    println!("cargo:rerun-if-env-changed=LIBTORCH");
    let os = env::var("CARGO_CFG_TARGET_OS").unwrap_or_default();
    // torch-sys exports the directory on Linux and macOS; elsewhere, LIBTORCH.
    let dir = match env::var("DEP_TCH_LIBTORCH_LIB") {
        Ok(dir) => {
            if os == "linux" || os == "macos" {
                println!("cargo:rustc-link-arg=-Wl,-rpath,{dir}");
            }
            PathBuf::from(dir)
        }
        Err(_) => match env::var_os("LIBTORCH") {
            Some(libtorch) => PathBuf::from(libtorch).join("lib"),
            None => panic!(
                "where is libtorch? torch-sys did not export DEP_TCH_LIBTORCH_LIB and LIBTORCH is not set \
                 (build with the `doc-only` feature to document without libtorch)"
            ),
        },
    };
    compile_shim(&dir, &os);
}

/// The shim's C++ files, compiled as one translation unit.
const SHIM: [&str; 4] = ["src/ffi/ffi.cpp", "src/optim/owned.cpp", "src/optim/pytorch_step.cpp", "src/optim/write.cpp"];

/// `src/ffi/ffi.cpp`, `src/optim/owned.cpp`, `pytorch_step.cpp` and
/// `write.cpp` into a static library linked into this crate; with the
/// `distributed` feature, `src/distributed/c10d.cpp` at the same time (its own
/// library, on another thread).
///
/// The four files are compiled as one translation unit (a file in `OUT_DIR`
/// that `#include`s them, a "unity build"): parsing libtorch's headers is
/// nearly all of the time, and cargo runs this script once per profile and
/// feature set. Measured on a 2-core machine: 21 s for the one unit, 45 s for
/// the files one by one. Their file-local helpers live in anonymous
/// namespaces, which the one unit shares: two with one name fail to compile.
fn compile_shim(lib_dir: &Path, os: &str) {
    println!("cargo:rerun-if-env-changed=LIBTORCH_INCLUDE");
    // As torch-sys: LIBTORCH_INCLUDE names the folder that holds `include`.
    let base = env::var_os("LIBTORCH_INCLUDE").map(PathBuf::from).unwrap_or_else(|| lib_dir.join(".."));
    let include = base.join("include");
    let root = PathBuf::from(env::var_os("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"));
    let unity = PathBuf::from(env::var_os("OUT_DIR").expect("cargo sets OUT_DIR")).join("tch_lr_shim.cpp");
    let text: String = SHIM.iter().map(|f| format!("#include \"{}\"\n", root.join(f).display())).collect();
    std::fs::write(&unity, text).unwrap_or_else(|e| panic!("writing {}: {e}", unity.display()));
    let distributed = env::var_os("CARGO_FEATURE_DISTRIBUTED").is_some();
    std::thread::scope(|s| {
        if distributed {
            s.spawn(|| compile_distributed(&include, os));
        }
        let mut build = cc::Build::new();
        build
            .cpp(true)
            .pic(true)
            .warnings(false)
            .include(&include)
            .include(include.join("torch/csrc/api/include"))
            .file(&unity);
        if os == "windows" {
            build.flag("/std:c++17").flag("/p:DefineConstants=GLOG_USE_GLOG_EXPORT");
        } else {
            build
                .flag("-std=c++17")
                .flag(format!("-D_GLIBCXX_USE_CXX11_ABI={}", cxx11_abi()))
                .flag("-DGLOG_USE_GLOG_EXPORT");
        }
        build.compile("tch_lr_owned");
    });
}

/// `src/distributed/c10d.cpp` (the `distributed` feature: c10d's process
/// groups) into its own static library. Linux only: c10d's TCPStore and Gloo
/// are what torchrun's Linux jobs use.
fn compile_distributed(include: &Path, os: &str) {
    println!("cargo:rerun-if-changed=src/distributed/c10d.cpp");
    if os == "windows" {
        println!("cargo:warning=tch-lr's `distributed` feature is for Linux (c10d's Gloo and NCCL); it is off here");
        return;
    }
    cc::Build::new()
        .cpp(true)
        .pic(true)
        .warnings(false)
        // Optimized in every profile, so that the debug builds the tests run
        // link the code release builds link: an optimizer can turn a virtual
        // call into a direct one to a symbol libtorch does not export (NCCL's
        // Options' inline destructor), which then fails every build alike.
        .opt_level(2)
        .include(include)
        .include(include.join("torch/csrc/api/include"))
        .file("src/distributed/c10d.cpp")
        .flag("-std=c++17")
        .flag(format!("-D_GLIBCXX_USE_CXX11_ABI={}", cxx11_abi()))
        .flag("-DGLOG_USE_GLOG_EXPORT")
        .compile("tch_lr_distributed");
}

/// The `_GLIBCXX_USE_CXX11_ABI` libtorch was built with, found as torch-sys
/// finds it.
fn cxx11_abi() -> String {
    println!("cargo:rerun-if-env-changed=LIBTORCH_USE_PYTORCH");
    println!("cargo:rerun-if-env-changed=LIBTORCH_CXX11_ABI");
    if env::var_os("LIBTORCH_USE_PYTORCH").is_some() {
        // Which Python torch-sys asks (the venv's when one is active).
        println!("cargo:rerun-if-env-changed=VIRTUAL_ENV");
        let python = if env::var_os("VIRTUAL_ENV").is_some() { "python" } else { "python3" };
        let out = Command::new(python)
            .args(["-c", "import torch; print(torch._C._GLIBCXX_USE_CXX11_ABI)"])
            .output()
            .unwrap_or_else(|e| panic!("running {python} to ask PyTorch for its C++ ABI: {e}"));
        return match String::from_utf8_lossy(&out.stdout).trim() {
            "True" => "1".into(),
            "False" => "0".into(),
            other => panic!(
                "{python}: torch._C._GLIBCXX_USE_CXX11_ABI is {other:?}: {}",
                String::from_utf8_lossy(&out.stderr)
            ),
        };
    }
    env::var("LIBTORCH_CXX11_ABI").unwrap_or_else(|_| "1".into())
}
