#!/usr/bin/env bash
# Runs the test suite against the oldest tch the crate accepts: tch 0.24 with
# libtorch 2.11.0, in a scratch copy of the tree (the checkout is not touched).
#   ./scripts/compat/compat.sh [SCRATCH_DIR]     (default /tmp/tch-lr-compat)
# Needs another ~4.7 GB for the torch==2.11.0 wheel. Not part of CI.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
scratch="${1:-/tmp/tch-lr-compat}"
# The suite runs the reference scripts too: the scratch .venv gets the test references.
setup_flag=--test
# shellcheck source=scripts/compat/scratch_tch024.sh
. "$root/scripts/compat/scratch_tch024.sh"
cargo test --features distributed
