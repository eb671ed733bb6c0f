#!/usr/bin/env bash
# Runs the scheduler benchmarks and writes docs/benchmarks.md:
#   1. cargo bench --bench schedulers   (tch-lr, the floor, index, ResNet-20)
#   2. scripts/bench/pytorch.py         (PyTorch's scheduler.step(), same setup)
#   3. scripts/bench/table.py           (the tables, from criterion's estimates)
# BENCH_QUICK=1: short runs for a smoke test (rough numbers, marked as such).
# BENCH_MEASURE=SECONDS: each case measured that long (after 0.5 s of warm-up) instead of
# criterion's 3 s + 5 s: the full table in a fraction of the time.
# Honours CARGO_TARGET_DIR (criterion writes under $CARGO_TARGET_DIR/criterion).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
./scripts/setup.sh --test  # PyTorch, transformers and timm: pytorch.py times all three
# shellcheck source=scripts/env.sh
. scripts/env.sh

target="${CARGO_TARGET_DIR:-target}"
out="$target/bench"
mkdir -p "$out"
rm -rf "$target/criterion"

crit_args=()
quick=()
export BENCH_QUICK="${BENCH_QUICK:-0}"
if [[ "$BENCH_QUICK" != 0 ]]; then
    crit_args=(--warm-up-time 0.1 --measurement-time 0.2 --sample-size 10)
    quick=(--quick)
elif [[ -n "${BENCH_MEASURE:-}" ]]; then
    # Shorter than criterion's defaults (3 s + 5 s a case): BENCH_MEASURE seconds a case.
    crit_args=(--warm-up-time 0.5 --measurement-time "$BENCH_MEASURE")
fi

start=$SECONDS
BENCH_IN_SITU_OUT="$out/in_situ.json" cargo bench --bench schedulers -- "${crit_args[@]}"
echo "cargo bench: $((SECONDS - start)) s"
python scripts/bench/pytorch.py "$out/pytorch.json" "${quick[@]}"
echo "cargo bench + PyTorch: $((SECONDS - start)) s"
python scripts/bench/table.py "$target/criterion" "$out/pytorch.json" "$out/in_situ.json" docs/benchmarks.md "${quick[@]}"
