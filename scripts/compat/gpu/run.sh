#!/usr/bin/env bash
# The GPU run (written into the bundle by scripts/compat/gpu_bundle.sh). Needs only
# `python3` with PyTorch 2.11 (and pyyaml): the binaries load that PyTorch's
# libtorch.
#
#   ./run.sh                   # CUDA: fp32, --amp, SWA, the PyTorch twin, then data-parallel
#                              # on every GPU (NCCL, one process each) beside PyTorch's DDP
#   ./run.sh --device cpu      # the same on the CPU (fp32 only; data-parallel: 2 Gloo
#                              # processes), as a check
#   EPOCHS=6 TRAIN_SIZE=4096 ./run.sh
#
# Writes results/: the logs, results/table.md (samples/s, LR identical or not,
# final accuracy) and prints the table.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cd "$here"
device=cuda
if [ "${1:-}" = "--device" ]; then device="$2"; fi
py="${PYTHON:-python3}"
epochs="${EPOCHS:-6}"
train_size="${TRAIN_SIZE:-4096}"
config="${CONFIG:-configs/one_cycle_per_batch.yaml}"

torch_lib="$("$py" -c 'import os, torch; print(os.path.join(os.path.dirname(torch.__file__), "lib"))')"
torch_version="$("$py" -c 'import torch; print(torch.__version__)')"
case "$torch_version" in
    2.11.*) ;;
    *) echo "run.sh: these binaries were built for PyTorch 2.11 (tch 0.24); $py has $torch_version" >&2; exit 1 ;;
esac
export LD_LIBRARY_PATH="$torch_lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
gpu="$("$py" -c 'import torch; print(torch.cuda.get_device_name(0) if torch.cuda.is_available() else "none")')"
if [ "$device" != cpu ] && [ "$gpu" = none ]; then
    echo "run.sh: no CUDA device visible to PyTorch; use --device cpu" >&2
    exit 1
fi

mkdir -p results
common=(--config "$config" --epochs "$epochs" --train-size "$train_size" --test-size 1024 --batch-size 64)
variants=(fp32)
if [ "$device" != cpu ]; then variants+=(amp); fi
declare -A rate acc secs
for v in "${variants[@]}"; do
    amp=(); [ "$v" = amp ] && amp=(--amp)
    echo "== tch-lr, $device, $v"
    bin/train_resnet "${common[@]}" --device "$device" "${amp[@]}" --log "results/tch_$v/log.csv" | tee "results/tch_$v.out"
    echo "== PyTorch $torch_version, $device, $v"
    "$py" scripts/reference/train_resnet_torch.py "${common[@]}" --device "$device" "${amp[@]}" --log "results/torch_$v/log.csv" \
        | tee "results/torch_$v.out"
done

# Weight averaging (PyTorch's SWA loop: SWALR and AveragedModel after epoch $epochs/2, update_bn before
# each evaluation), both sides from the twin's initial weights; the last accuracy is the average's.
cat > results/swa_config.yaml <<YAML
optimizer: {name: sgd, lr: 0.1, momentum: 0.9, weight_decay: 5.0e-4}
scheduler: {name: CosineAnnealingLR, T_max: $epochs}
interval: epoch
YAML
swa=(--config results/swa_config.yaml --epochs "$epochs" --train-size "$train_size" --test-size 1024 --batch-size 64)
swa_flags=(--swa-start "$((epochs / 2))" --swa-lr 0.02 --swa-anneal-epochs 1)
"$py" scripts/reference/train_resnet_torch.py "${swa[@]}" --device "$device" --stop-after 0 --save results/swa_init.pt --log /dev/null
echo "== tch-lr, $device, SWA"
bin/train_resnet "${swa[@]}" "${swa_flags[@]}" --weights results/swa_init.pt --device "$device" --log results/tch_swa/log.csv \
    | tee results/tch_swa.out
echo "== PyTorch $torch_version, $device, SWA"
"$py" scripts/reference/train_resnet_torch.py "${swa[@]}" "${swa_flags[@]}" --weights results/swa_init.pt --device "$device" \
    --log results/torch_swa/log.csv | tee results/torch_swa.out
variants+=(swa)

# Data-parallel: one process per GPU (world size 1 on a one-GPU machine, through the
# same code path), tch-lr's c10d engine beside PyTorch's DDP, the same global batch.
if [ "$device" = cpu ]; then nproc=2; else nproc="$("$py" -c 'import torch; print(torch.cuda.device_count())')"; fi
export GLOO_SOCKET_IFNAME="${GLOO_SOCKET_IFNAME:-lo}"
run=("$py" -m torch.distributed.run --standalone --nnodes 1 --nproc-per-node "$nproc")
echo "== tch-lr, $device, data-parallel on $nproc process(es)"
"${run[@]}" --no-python -- bin/train_resnet "${common[@]}" --device "$device" --log results/tch_ddp/log.csv \
    | tee results/tch_ddp.out
echo "== PyTorch $torch_version DDP, $device, $nproc process(es)"
"${run[@]}" -- scripts/reference/train_resnet_torch.py "${common[@]}" --device "$device" --log results/torch_ddp/log.csv \
    | tee results/torch_ddp.out
variants+=(ddp)

# The table: per-batch samples/s and LR identity from the logs, accuracy from each run's last epoch line.
"$py" - "$device" "$gpu" "$torch_version" "${variants[@]}" <<'PY'
import csv, re, sys
device, gpu, torch_version, *variants = sys.argv[1:]

def rows(p):
    return list(csv.DictReader(open(p)))

def rate(rs):
    return sum(float(r["samples_per_sec"]) for r in rs[1:]) / max(1, len(rs) - 1)

def accuracy(out):
    found = re.findall(r"val accuracy ([0-9.]+)%", open(out).read())
    return found[-1] + "%" if found else "?"

lines = [f"| {device} ({gpu}), PyTorch {torch_version} | samples/s per batch, tch-lr | samples/s per batch, PyTorch | "
         "ratio | LR and momentum columns | final accuracy, tch-lr / PyTorch |", "|---|---:|---:|---:|---|---|"]
for v in variants:
    a, b = rows(f"results/tch_{v}/log.csv"), rows(f"results/torch_{v}/log.csv")
    cols = [c for c in a[0] if c.startswith(("lr_", "momentum_"))]
    same = len(a) == len(b) and all(x[c] == y[c] or float(x[c]) == float(y[c]) for x, y in zip(a, b) for c in cols)
    worst = max((abs(float(x[c]) - float(y[c])) / max(abs(float(y[c])), 1e-300) for x, y in zip(a, b) for c in cols), default=0)
    ident = f"identical ({len(a)} rows)" if same else f"differ (largest relative difference {worst:.3g})"
    lines.append(f"| {v} | {rate(a):.0f} | {rate(b):.0f} | {rate(a) / rate(b):.2f} | {ident} | "
                 f"{accuracy(f'results/tch_{v}.out')} / {accuracy(f'results/torch_{v}.out')} |")
table = "\n".join(lines) + "\n"
open("results/table.md", "w").write(table)
print(table)
PY
