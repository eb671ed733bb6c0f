#!/usr/bin/env bash
# The test command: installs what it needs (.venv with torch 2.13.0), checks that
# the committed PyTorch fixtures are exactly what the installed PyTorch produces,
# then runs formatting, lint and every test (unit, integration, doc).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
./scripts/setup.sh
# shellcheck source=scripts/env.sh
. scripts/env.sh

echo "== fixtures: regenerate from PyTorch and compare with the committed ones"
python scripts/gen_fixtures.py --check
python scripts/gen_config_fixtures.py --check
# The other reference libraries' fixtures (transformers, timm): one generator each.
for generator in scripts/gen_fixtures_*.py; do
    [ -e "$generator" ] || continue
    python "$generator" --check
done

echo "== cargo fmt --check"
cargo fmt --check
echo "== cargo clippy"
cargo clippy --all-targets -- -D warnings
echo "== cargo clippy, library alone (default features off)"
cargo clippy --lib --no-default-features -- -D warnings
echo "== registry: keyword arguments and defaults against PyTorch's signatures"
python scripts/check_defaults.py
echo "== cargo test"
cargo test "$@"
echo "== downstream crate (README example, default features off)"
./scripts/downstream.sh
