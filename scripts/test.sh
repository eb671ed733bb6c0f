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
phase "setup: .venv with torch and the references"
./scripts/setup.sh --test
# shellcheck source=scripts/env.sh
. scripts/env.sh

# The fixture check is Python on one core: it runs while cargo compiles, and
# its output is printed when it is waited for (below, before the tests run).
phase "fixtures: regenerate from the references and compare with the committed ones (while cargo builds)"
fixtures_log="$(mktemp)"
fixtures=""
trap '[ -z "$fixtures" ] || kill "$fixtures" 2>/dev/null || true; rm -f "$fixtures_log"' EXIT
python scripts/fixtures/gen.py --check >"$fixtures_log" 2>&1 &
fixtures=$!

phase "cargo fmt --check"
cargo fmt --check
# Lint while compiling: clippy-driver compiles this crate's own targets with
# -Dwarnings (what `cargo clippy` does for a check build, here for the build
# the tests run), so that the dependencies are compiled once, not once more in
# check mode. Every cargo command below that builds this crate's targets runs
# with it, or cargo would compile them again without it.
lint=(env "RUSTC_WORKSPACE_WRAPPER=$(rustc --print sysroot)/bin/clippy-driver" "CLIPPY_ARGS=-Dwarnings")
phase "build and lint every target (cargo test --all-targets --no-run, the distributed feature, clippy -Dwarnings)"
"${lint[@]}" cargo test --all-targets --features distributed --no-run
phase "build and lint the library alone (default features off; the downstream crate below reuses this build)"
"${lint[@]}" cargo build --lib --no-default-features

phase "fixtures: waiting for the check started above"
status=0
wait "$fixtures" || status=$?
fixtures=""
cat "$fixtures_log"
[ "$status" = 0 ] || { echo "test.sh: the fixtures differ from what the references produce (above)" >&2; exit "$status"; }
phase "registry: keyword arguments and defaults against PyTorch's signatures"
TCH_LR_BIN=target/debug/tch-lr python scripts/reference/check_defaults.py
phase "cargo test (with the distributed feature: its tests run 2 processes under torchrun)"
"${lint[@]}" cargo test --features distributed "$@"
phase "downstream crate (README example, default features off)"
./scripts/compat/downstream.sh
phase "the README's and the guide's commands, as printed"
python scripts/docs/commands.py
phase "all passed"
