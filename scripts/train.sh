#!/usr/bin/env bash
# The main job: sets up .venv (torch 2.13.0 only) if needed, then trains a CIFAR
# ResNet-20 on the embedded synthetic data (CUDA when present, else the CPU)
# with configs/one_cycle_per_batch.yaml, logging the LR of every batch.
# Extra arguments go to the example (`./scripts/train.sh --help`).
#
#   ./scripts/train.sh --nproc N [ARGS]   the same job data-parallel on N processes
#                                         of this machine, launched by the .venv's
#                                         torchrun (--standalone, loopback; Gloo on
#                                         the CPU, NCCL with one GPU per process)
#
# On several machines, run on each (one rendezvous endpoint for all):
#   .venv/bin/torchrun --nnodes M --nproc-per-node N --rdzv-backend c10d \
#       --rdzv-endpoint HOST:29400 --rdzv-id JOB --no-python -- \
#       target/release/train_resnet ARGS
# (built with `cargo build --release --features distributed --bin train_resnet`).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
nproc=""
if [ "${1:-}" = "--nproc" ]; then
    nproc="${2:-}"
    case "$nproc" in
        '' | *[!0-9]* | 0) echo "usage: scripts/train.sh --nproc N [ARGS] (N: a number of processes, 1 or more)" >&2; exit 2 ;;
    esac
    shift 2
fi
./scripts/setup.sh
# cargo's own progress on stderr: the first build compiles libtorch's bindings and tch-lr (a few minutes).
if [ -z "$nproc" ]; then
    echo "train.sh: building train_resnet (release)" >&2
    cargo build --release --bin train_resnet
    exec target/release/train_resnet "$@"
fi
echo "train.sh: building train_resnet (release, with the distributed feature)" >&2
cargo build --release --features distributed --bin train_resnet
echo "train.sh: starting $nproc processes under torchrun" >&2
# Loopback for Gloo on one machine, unless told otherwise.
export GLOO_SOCKET_IFNAME="${GLOO_SOCKET_IFNAME:-lo}"
exec .venv/bin/torchrun --standalone --nnodes 1 --nproc-per-node "$nproc" --no-python -- \
    target/release/train_resnet "$@"
