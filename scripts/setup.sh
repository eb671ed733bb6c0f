#!/usr/bin/env bash
# Creates .venv/ with torch==2.13.0 (the libtorch that tch 0.26 expects) and the
# Python packages the fixture and benchmark scripts use, including the reference
# packages of the non-PyTorch schedules (transformers 5.24.0, timm 1.0.31). Those
# are installed with --no-deps, with the few packages they import at run time
# named here, so that pip can never change torch (a plain `pip install timm`
# would pull torchvision and upgrade torch, breaking tch). Idempotent: a second
# run finds everything in place and does nothing.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
TORCH_VERSION="${TORCH_VERSION:-2.13.0}"
TRANSFORMERS_VERSION=5.24.0
TIMM_VERSION=1.0.31
# What `from transformers.optimization import get_scheduler` imports besides torch.
HF_RUNTIME=(packaging regex tqdm safetensors "huggingface_hub==2.4.0")
# The LR finder's references (scripts/gen_fixtures_lr_finder.py runs their suggestion
# rules): pure Python, --no-deps like transformers and timm (lightning would pull
# torchmetrics, fastai torchvision); the generator imports only the files it needs.
LR_FINDER_REFS=("pytorch-lightning==2.6.6" "lightning-utilities==0.15.3" "fastai==2.8.12" "fastcore==2.2.38")
py="${PYTHON:-python3}"
if [ ! -x .venv/bin/python ]; then
    echo "setup: creating .venv" >&2
    "$py" -m venv .venv
fi
if .venv/bin/python - "$TORCH_VERSION" "$TRANSFORMERS_VERSION" "$TIMM_VERSION" "${LR_FINDER_REFS[@]}" <<'PY' 2>/dev/null
import sys, importlib.metadata as m
ok = m.version("torch").split("+")[0] == sys.argv[1] and m.version("pyyaml") and m.version("numpy")
ok = ok and m.version("transformers") == sys.argv[2] and m.version("timm") == sys.argv[3]
ok = ok and all(m.version(p) for p in ("packaging", "regex", "tqdm", "safetensors", "huggingface_hub"))
ok = ok and all(m.version(p) == v for p, v in (r.split("==") for r in sys.argv[4:]))
sys.exit(0 if ok else 1)
PY
then
    exit 0
fi
echo "setup: installing torch==$TORCH_VERSION into .venv (about 4.7 GB, a few minutes)" >&2
.venv/bin/python -m pip install --quiet --disable-pip-version-check "torch==$TORCH_VERSION" pyyaml numpy
echo "setup: installing transformers==$TRANSFORMERS_VERSION and timm==$TIMM_VERSION (--no-deps: torch stays $TORCH_VERSION)" >&2
.venv/bin/python -m pip install --quiet --disable-pip-version-check --no-deps \
    "transformers==$TRANSFORMERS_VERSION" "timm==$TIMM_VERSION"
.venv/bin/python -m pip install --quiet --disable-pip-version-check "${HF_RUNTIME[@]}" "torch==$TORCH_VERSION"
echo "setup: installing ${LR_FINDER_REFS[*]} (--no-deps: torch stays $TORCH_VERSION)" >&2
.venv/bin/python -m pip install --quiet --disable-pip-version-check --no-deps "${LR_FINDER_REFS[@]}"
.venv/bin/python - "$TORCH_VERSION" <<'PY'
import importlib.metadata as m, sys
got = m.version("torch").split("+")[0]
sys.exit(0 if got == sys.argv[1] else f"setup: torch is {got}, expected {sys.argv[1]}")
PY
