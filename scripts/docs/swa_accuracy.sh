#!/usr/bin/env bash
# The weight-averaging table of docs/guide/swa.md: the training example and its PyTorch twin
# (scripts/reference/train_resnet_torch.py) from the same initial weights (the twin's, through
# --weights), without averaging, with --swa-start and with --ema, on the CPU; prints one line per
# run: the last epoch's validation accuracy of the trained model and of the average, and whether
# the per-epoch logs agree. Two sizes of the embedded synthetic data: 4096 training samples (which
# the ResNet-20 learns almost perfectly) and 512 (where it overfits).
#
#   ./scripts/docs/swa_accuracy.sh [OUT_DIR]     (default runs/swa_accuracy; about 15 minutes on 2 cores)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
./scripts/setup.sh
# shellcheck source=scripts/env.sh
. scripts/env.sh
out="${1:-runs/swa_accuracy}"
mkdir -p "$out"/{4096,512}
cargo build --quiet --release --bin train_resnet
cat > "$out/config.yaml" <<'YAML'
# SGD with cosine annealing over the 12 epochs, stepped per epoch.
optimizer: {name: sgd, lr: 0.1, momentum: 0.9, weight_decay: 5.0e-4}
scheduler: {name: CosineAnnealingLR, T_max: 12}
interval: epoch
YAML
last() { tail -1 "$1" | awk -F, '{ printf "%.4f %s", $4, (NF >= 6 ? sprintf("%.4f", $6) : "-") }'; }
# The EMA's decay for each size: a horizon of about an eighth of the run's 768 and 96 steps.
declare -A decay=([4096]=0.99 [512]=0.9)
for train in 4096 512; do
    run=(--config "$out/config.yaml" --epochs 12 --train-size "$train" --test-size 1024 --batch-size 64 --seed 0 --device cpu)
    init="$out/init-$train.pt"
    python scripts/reference/train_resnet_torch.py "${run[@]}" --stop-after 0 --save "$init" --log /dev/null >/dev/null
    for case in "none" "swa:--swa-start 7 --swa-lr 0.02 --swa-anneal-epochs 2" "ema:--ema ${decay[$train]}"; do
        name="${case%%:*}"
        extra=()
        [ "$name" = none ] || read -r -a extra <<<"${case#*:}"
        dir="$out/$train/$name"
        target/release/train_resnet "${run[@]}" --weights "$init" "${extra[@]}" --log "$dir/rust/log.csv" \
            >"$dir.rust.txt"
        python scripts/reference/train_resnet_torch.py "${run[@]}" --weights "$init" "${extra[@]}" \
            --log "$dir/torch/log.csv" >"$dir.torch.txt"
        same=$(python - "$dir/rust/log.epochs.csv" "$dir/torch/log.epochs.csv" <<'PY'
import csv, sys
a, b = [list(csv.reader(open(p))) for p in sys.argv[1:]]
worst = (0.0, "")
for r, s in zip(a[1:], b[1:]):
    for col, x, y in zip(a[0], r, s):
        if x and y and float(x) != float(y):
            worst = max(worst, (abs(float(x) - float(y)) / abs(float(y)), col))
print("identical" if worst[0] == 0 and len(a) == len(b) else f"{worst[1]} within {worst[0]:.1e} relative")
PY
)
        echo "$train | $name | rust: $(last "$dir/rust/log.epochs.csv") | pytorch: $(last "$dir/torch/log.epochs.csv") | epochs logs $same"
    done
done
