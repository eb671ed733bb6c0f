//! Adds libtorch's library directory to the rpath of every binary, test and
//! example of this crate, so that they run without `LD_LIBRARY_PATH`.
//!
//! `torch-sys` (links = "tch") exports that directory as `DEP_TCH_LIBTORCH_LIB`.
fn main() {
    println!("cargo:rerun-if-env-changed=DEP_TCH_LIBTORCH_LIB");
    if let Ok(dir) = std::env::var("DEP_TCH_LIBTORCH_LIB") {
        let os = std::env::var("CARGO_CFG_TARGET_OS").unwrap_or_default();
        if os == "linux" || os == "macos" {
            println!("cargo:rustc-link-arg=-Wl,-rpath,{dir}");
        }
    }
}
