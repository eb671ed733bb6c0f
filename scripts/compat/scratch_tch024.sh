# shellcheck shell=bash
# Sourced by scripts/compat/compat.sh and scripts/compat/gpu_bundle.sh: copies the tree (the
# tracked and untracked-but-not-ignored files, as they are now) into
# "$scratch/src", sets that copy up with its own .venv holding torch==2.11.0
# (~4.7 GB, once) and pins tch and torch-sys to 0.24, then leaves the shell
# there with scripts/env.sh sourced and CARGO_TARGET_DIR="$scratch/target".
# Needs: root (this checkout) and scratch (the scratch folder); setup_flag (optional):
# `--test` to install the test references too (compat.sh runs the whole suite).
mkdir -p "$scratch/src"
git -C "$root" ls-files -z --cached --others --exclude-standard |
    (cd "$root" && tar --null -T - -cf -) | tar -xf - -C "$scratch/src"
cd "$scratch/src"
TORCH_VERSION=2.11.0 ./scripts/setup.sh ${setup_flag:-}
# shellcheck source=scripts/env.sh
. scripts/env.sh
cargo update --quiet -p tch --precise 0.24.0
cargo update --quiet -p torch-sys --precise 0.24.0
export CARGO_TARGET_DIR="$scratch/target"
