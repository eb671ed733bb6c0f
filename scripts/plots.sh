#!/usr/bin/env bash
# Draws docs/<Scheduler>.png for each of the 15 schedulers with `tch-lr plot`,
# from the configs in configs/ (the seed post's examples).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
./scripts/setup.sh
# shellcheck source=scripts/env.sh
. scripts/env.sh
cargo build --quiet --release --bin tch-lr
mkdir -p docs
plot() { # name config steps [metrics]
    local extra=()
    if [ $# -ge 4 ]; then extra=(--metrics "$4"); fi
    target/release/tch-lr plot "configs/$2" --steps "$3" -o "docs/$1.png" "${extra[@]}"
}
plot StepLR step_lr.yaml 10
plot MultiStepLR multi_step_lr.yaml 10
plot ExponentialLR exponential_lr.yaml 10
plot LinearLR linear_lr.yaml 10
plot ConstantLR constant_lr.yaml 10
plot LambdaLR lambda_lr.yaml 30
plot MultiplicativeLR multiplicative_lr.yaml 30
plot CosineAnnealingLR cosine_annealing_lr.yaml 13
plot ChainedScheduler chained_scheduler.yaml 10
plot SequentialLR sequential_lr.yaml 10
plot ReduceLROnPlateau reduce_lr_on_plateau.yaml 16 docs/flat_metrics.txt
plot CyclicLR cyclic_lr.yaml 8001
plot OneCycleLR one_cycle_lr.yaml 100
plot CosineAnnealingWarmRestarts cosine_annealing_warm_restarts.yaml 71
plot PolynomialLR polynomial_lr.yaml 25
