#!/usr/bin/env bash
# The test command: installs what it needs (.venv with torch 2.13.0 and the
# reference packages: `scripts/setup.sh --test`), checks that the committed
# fixtures are what the installed references produce (exactly, but for the
# floats of CPU-dependent arithmetic, within the tolerance each generator names),
# then runs formatting, lint, every test (unit, integration, doc) and every
# shell command of the README and the guide as printed (scripts/docs/commands.py).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
# Each phase prints the seconds since the start, so that a slow one shows.
start=$SECONDS
phase() { echo "== $* (at $((SECONDS - start)) s)"; }
# Lint while compiling: clippy-driver compiles this crate's own targets with
# -Dwarnings (what `cargo clippy` does for a check build, here for the build
# the tests run), so that the dependencies are compiled once, not once more in
# check mode. Every cargo command below that builds this crate's debug targets
# runs with it, or cargo would compile them again without it.
lint=(env "RUSTC_WORKSPACE_WRAPPER=$(rustc --print sysroot)/bin/clippy-driver" "CLIPPY_ARGS=-Dwarnings")
# Work that overlaps the next phases, each in its own process group with its
# own log; on exit (a failure), what still runs is stopped with its children.
background=()
logs=()
trap 'for p in "${background[@]}"; do kill -- "-$p" 2>/dev/null || true; done; rm -f "${logs[@]}"' EXIT
later() { # later LOG COMMAND...: COMMAND in the background, its output in LOG; its pid in $!
    local log="$1"
    shift
    setsid "$@" >"$log" 2>&1 &
    background+=("$!")
}
new_log() { logs+=("$(mktemp)"); }

phase "setup: .venv with torch and the references (meanwhile: the dependencies that need no libtorch)"
# pip installs on one core; cargo compiles on the other what needs no libtorch
# (clap, serde, plotters, zstd, ...): the build below finds them built. torch-sys
# and what depends on it fail here, without a libtorch yet (--keep-going: the rest goes on).
new_log
deps_log="${logs[-1]}"
later "$deps_log" nice -n 10 "${lint[@]}" cargo build --all-targets --features distributed --keep-going
deps=$!
./scripts/setup.sh --test
# shellcheck source=scripts/env.sh
. scripts/env.sh
wait "$deps" || true
echo "   ($(grep -c '^ *Compiling' "$deps_log" || true) crates compiled during the setup)"

# The fixture check is Python on one core: it runs while cargo compiles, and
# its output is printed when it is waited for (below, before the tests run).
phase "fixtures: regenerate from the references and compare with the committed ones (while cargo builds)"
new_log
fixtures_log="${logs[-1]}"
later "$fixtures_log" python scripts/fixtures/gen.py --check
fixtures=$!
# The release builds the README's and the guide's commands make (below, at the
# end: ./scripts/train.sh with and without --nproc, cargo run --release --bin
# tch-lr), at nice 19 in their own session: where the kernel schedules by session
# (autogroup, as on the 2-core machine this was measured on), that session gets a
# fair share of the cores beside the foreground's, elsewhere what the debug build
# and the tests leave idle (linking, single-threaded build scripts, the tests' own
# waits). Either way the commands find them built (measured: no wait on 2 cores).
# A failure shows again there, in the command's own build.
new_log
release_log="${logs[-1]}"
later "$release_log" bash -c 'nice -n 19 cargo build --release --bin train_resnet --bin tch-lr &&
    nice -n 19 cargo build --release --features distributed --bin train_resnet'
release=$!

phase "cargo fmt --check"
cargo fmt --check
phase "build and lint every target (cargo test --all-targets --no-run, the distributed feature, clippy -Dwarnings)"
"${lint[@]}" cargo test --all-targets --features distributed --no-run
phase "build and lint the library alone (default features off; the downstream crate below reuses this build)"
"${lint[@]}" cargo build --lib --no-default-features

phase "fixtures: waiting for the check started above"
status=0
wait "$fixtures" || status=$?
cat "$fixtures_log"
[ "$status" = 0 ] || { echo "test.sh: the fixtures differ from what the references produce (above)" >&2; exit "$status"; }
phase "registry: keyword arguments and defaults against PyTorch's signatures"
TCH_LR_BIN=target/debug/tch-lr python scripts/reference/check_defaults.py
phase "cargo test (with the distributed feature: its tests run 2 processes under torchrun)"
"${lint[@]}" cargo test --features distributed "$@"
phase "downstream crate (README example, default features off)"
./scripts/compat/downstream.sh
phase "release builds: waiting for the ones started after the setup"
wait "$release" || echo "   (the release build failed: the commands below build again and say why)"
phase "the README's and the guide's commands, as printed"
python scripts/docs/commands.py
phase "all passed"
