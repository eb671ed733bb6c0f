#!/usr/bin/env bash
# The main job: sets up .venv (torch 2.13.0 only) if needed, then trains a CIFAR
# ResNet-20 on the embedded synthetic data (CUDA when present, else the CPU)
# with configs/one_cycle_per_batch.yaml, logging the LR of every batch.
# Extra arguments go to the example (`./scripts/train.sh --help`).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
./scripts/setup.sh
# shellcheck source=scripts/env.sh
. scripts/env.sh
exec cargo run --quiet --release --example train_resnet -- "$@"
