#!/usr/bin/env bash
# Draws docs/<Scheduler>.png for each registered schedule with `tch-lr plot`,
# from the configs in configs/ (the seed post's examples).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
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
plot SWALR swalr.yaml 12
plot SWA swa.yaml 40
plot transformers.linear transformers_linear.yaml 3000
plot transformers.cosine transformers_cosine.yaml 2400
plot transformers.cosine_with_restarts transformers_cosine_with_restarts.yaml 2000
plot transformers.polynomial transformers_polynomial.yaml 2200
plot transformers.constant transformers_constant.yaml 1000
plot transformers.constant_with_warmup transformers_constant_with_warmup.yaml 2000
plot transformers.inverse_sqrt transformers_inverse_sqrt.yaml 10000
plot transformers.cosine_with_min_lr transformers_cosine_with_min_lr.yaml 2000
plot transformers.cosine_warmup_with_min_lr transformers_cosine_warmup_with_min_lr.yaml 2000
plot transformers.warmup_stable_decay transformers_warmup_stable_decay.yaml 4000
plot timm.CosineLRScheduler timm_cosine_lr_scheduler.yaml 160
plot timm.TanhLRScheduler timm_tanh_lr_scheduler.yaml 110
plot timm.StepLRScheduler timm_step_lr_scheduler.yaml 100
plot timm.MultiStepLRScheduler timm_multi_step_lr_scheduler.yaml 100
plot timm.PolyLRScheduler timm_poly_lr_scheduler.yaml 110
plot timm.WSDLRScheduler timm_wsd_lr_scheduler.yaml 1100
plot deepspeed.LRRangeTest deepspeed_lr_range_test.yaml 60
plot deepspeed.OneCycle deepspeed_one_cycle.yaml 260
plot deepspeed.WarmupLR deepspeed_warmup_lr.yaml 150
plot deepspeed.WarmupDecayLR deepspeed_warmup_decay_lr.yaml 330
plot deepspeed.WarmupCosineLR deepspeed_warmup_cosine_lr.yaml 560
# Megatron-core (issue 25): GPT's cosine in samples with a rising weight decay, and WSD with its 1 - sqrt cooldown.
plot megatron.OptimizerParamScheduler megatron_cosine.yaml 101
plot megatron.OptimizerParamScheduler.WSD megatron_wsd.yaml 101
