# shellcheck shell=bash
# Source this file (`. scripts/env.sh`) to get the environment cargo needs to
# build against the libtorch that ships inside the project's `.venv` (torch from PyPI).
# Users with their own libtorch set LIBTORCH instead and skip this file.
_tch_lr_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export VIRTUAL_ENV="$_tch_lr_root/.venv"
export PATH="$VIRTUAL_ENV/bin:$PATH"
export LIBTORCH_USE_PYTORCH=1
unset _tch_lr_root
