#!/usr/bin/env bash
# The test command: installs what it needs (.venv with torch 2.13.0 and the
# reference packages: `scripts/setup.sh --test`), checks that the committed
# fixtures are what the installed references produce (exactly, but for the
# floats of CPU-dependent arithmetic, within the tolerance each generator names),
# then runs formatting, lint, every test (unit, integration, doc) and every
# shell command of the README and the guide as printed (scripts/docs/commands.py).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
./scripts/setup.sh --test
# shellcheck source=scripts/env.sh
. scripts/env.sh

echo "== fixtures: regenerate from the references and compare with the committed ones"
python scripts/fixtures/gen.py --check

echo "== cargo fmt --check"
cargo fmt --check
echo "== cargo clippy (with data parallelism: the distributed feature)"
cargo clippy --all-targets --features distributed -- -D warnings
echo "== cargo clippy, library alone (default features off)"
cargo clippy --lib --no-default-features -- -D warnings
echo "== registry: keyword arguments and defaults against PyTorch's signatures"
python scripts/reference/check_defaults.py
echo "== cargo test (with the distributed feature: its tests run 2 processes under torchrun)"
cargo test --features distributed "$@"
echo "== downstream crate (README example, default features off)"
./scripts/compat/downstream.sh
echo "== the README's and the guide's commands, as printed"
python scripts/docs/commands.py
