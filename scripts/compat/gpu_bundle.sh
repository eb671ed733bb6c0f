#!/usr/bin/env bash
# Builds the one-command GPU run: a folder (at most 64 MiB) with the training
# example and `tch-lr` built against tch 0.24 / libtorch 2.11 (what the GPU
# machines have: PyTorch 2.11, CUDA 13, in `python3`; no Rust, no internet),
# the configs, the PyTorch twin of the run and `run.sh`.
#
#   ./scripts/compat/gpu_bundle.sh [OUT_DIR]      (default dist/gpu-bundle)
#
# The build happens in a scratch copy of the tree (SCRATCH, default
# /tmp/tch-lr-gpu) with its own .venv holding torch==2.11.0 (~4.7 GB, once),
# so this checkout is not touched. On the GPU machine: `OUT_DIR/run.sh`
# (CUDA; `--device cpu` runs the same on the CPU, as this script's own check):
# one process, then data-parallel on every GPU (NCCL) beside PyTorch's DDP.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
out="${1:-$root/dist/gpu-bundle}"
scratch="${SCRATCH:-/tmp/tch-lr-gpu}"
# shellcheck source=scripts/compat/scratch_tch024.sh
. "$root/scripts/compat/scratch_tch024.sh"
# With data parallelism (c10d: NCCL on the GPUs, Gloo on the CPU).
cargo build --release --features distributed --bin train_resnet --bin tch-lr

rm -rf "$out"
mkdir -p "$out/bin" "$out/scripts/reference" "$out/scripts/fixtures"
for exe in "$CARGO_TARGET_DIR/release/train_resnet" "$CARGO_TARGET_DIR/release/tch-lr"; do
    cp "$exe" "$out/bin/"
    strip "$out/bin/$(basename "$exe")" 2>/dev/null || true
done
cp -r configs "$out/"
# The PyTorch twin and what it imports, in the checkout's layout.
cp scripts/reference/train_resnet_torch.py scripts/reference/references.py scripts/reference/trace_torch.py \
    "$out/scripts/reference/"
cp scripts/fixtures/common.py scripts/fixtures/gen_timm.py "$out/scripts/fixtures/"
cp scripts/compat/gpu/run.sh "$out/run.sh"
chmod +x "$out/run.sh" "$out/bin/"*
size=$(du -sb "$out" | cut -f1)
echo "gpu_bundle: $out, $((size / 1024 / 1024)) MiB ($size bytes)"
if [ "$size" -gt $((64 * 1024 * 1024)) ]; then
    echo "gpu_bundle: larger than 64 MiB" >&2
    exit 1
fi
