#!/usr/bin/env bash
# Runs the test suite against the oldest tch the crate accepts: tch 0.24 with
# libtorch 2.11.0, in a scratch copy of the tree (the checkout is not touched).
#   ./scripts/compat.sh [SCRATCH_DIR]     (default /tmp/tch-lr-compat)
# Needs another ~4.7 GB for the torch==2.11.0 wheel. Not part of CI.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
scratch="${1:-/tmp/tch-lr-compat}"
mkdir -p "$scratch/src"
# The tracked and untracked-but-not-ignored files, as they are now.
git -C "$root" ls-files -z --cached --others --exclude-standard |
    (cd "$root" && tar --null -T - -cf -) | tar -xf - -C "$scratch/src"
cd "$scratch/src"
TORCH_VERSION=2.11.0 ./scripts/setup.sh
# shellcheck source=scripts/env.sh
. scripts/env.sh
cargo update -p tch --precise 0.24.0
cargo update -p torch-sys --precise 0.24.0
export CARGO_TARGET_DIR="$scratch/target"
cargo test
