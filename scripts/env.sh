# shellcheck shell=bash
# Source this file (`. scripts/env.sh`) to put the project's `.venv` (torch and the
# reference packages) first on PATH, for the Python scripts. Cargo needs nothing from
# it: scripts/setup.sh wrote .cargo/config.toml, which points cargo at the .venv's
# libtorch from any shell.
_tch_lr_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export VIRTUAL_ENV="$_tch_lr_root/.venv"
export PATH="$VIRTUAL_ENV/bin:$PATH"
unset _tch_lr_root
