#!/usr/bin/env bash
# Creates .venv/ with torch==2.13.0 (the libtorch that tch 0.26 expects) and
# writes .cargo/config.toml, which points cargo at that libtorch: after it, plain
# `cargo build`, `cargo run`, `cargo test`, `cargo bench` and `cargo doc` work in
# this checkout from any shell, with nothing exported and no venv activated, and
# share the main job's build. (A libtorch of your own: export LIBTORCH, and
# LIBTORCH_CXX11_ABI; the environment wins over the file.)
#
#   scripts/setup.sh           torch, and pyyaml for the PyTorch twin
#                              (scripts/reference/train_resnet_torch.py)
#   scripts/setup.sh --test    torch and what the test command's Python runs (the
#                              fixture generators, scripts/reference/, the bench):
#                              pyyaml, numpy and the reference packages
#                              (transformers 5.24.0 with accelerate for its Trainer,
#                              timm 1.0.31, Lightning, fastai), DeepSpeed 0.19.8's
#                              source package, downloaded (not installed: pip
#                              download --no-deps, from PyPI) into .venv/share/tch-lr/
#                              for its lr_schedules.py, and megatron-core 0.19.2's
#                              wheel, downloaded into .cache/ for its one file
#
# The reference packages are installed with --no-deps, with the few packages they
# import at run time named here, so that pip can never change torch (a plain
# `pip install timm` would pull torchvision and upgrade torch, breaking tch). Their
# other requirements (torchvision, tokenizers, torchmetrics, pandas, ...) are left
# out on purpose; the scripts import only the modules that do without them.
# Quiet: prints its own progress lines only, and only when it installs something.
# Idempotent: a second run finds everything in place and does nothing.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
TORCH_VERSION="${TORCH_VERSION:-2.13.0}"
TRANSFORMERS_VERSION=5.24.0
TIMM_VERSION=1.0.31
# What the generators import besides torch and the references: pyyaml, numpy, and
# what `from transformers.optimization import get_scheduler` imports.
TEST_RUNTIME=(pyyaml numpy packaging regex tqdm safetensors "huggingface_hub==2.4.0" psutil)
# What transformers' Trainer needs besides (scripts/fixtures/gen_hf_trainer.py runs it on the
# CPU to write Trainer checkpoint folders): accelerate, --no-deps like the references.
TRAINER_REFS=("accelerate==1.16.0")
# The LR finder's references (scripts/fixtures/gen_lr_finder.py runs their suggestion
# rules): pure Python, --no-deps like transformers and timm (lightning would pull
# torchmetrics, fastai torchvision); the generator imports only the files it needs.
LR_FINDER_REFS=("pytorch-lightning==2.6.6" "lightning-utilities==0.15.3" "fastai==2.8.12" "fastcore==2.2.38")
case "${1:-}" in
    "") test=0 ;;
    --test) test=1 ;;
    *) echo "usage: scripts/setup.sh [--test]" >&2; exit 2 ;;
esac
py="${PYTHON:-python3}"
# --no-warn-conflicts: after a resolved install, pip lists the references'
# requirements left out on purpose (above) as "ERROR: pip's dependency resolver
# ..."; the references are checked by importing them instead (below).
pip=(.venv/bin/python -m pip install --quiet --disable-pip-version-check --no-warn-conflicts)

# Exit status 0 when .venv holds torch==$TORCH_VERSION and each requirement named
# (NAME: any version, NAME==VERSION: that one).
have() {
    .venv/bin/python - "torch==$TORCH_VERSION" "$@" <<'PY' 2>/dev/null
import sys, importlib.metadata as m
for req in sys.argv[1:]:
    name, _, want = req.partition("==")
    if want and m.version(name).split("+")[0] != want:
        sys.exit(1)
    m.version(name)  # raises (status 1) when absent
PY
}
TEST_REQS=("${TEST_RUNTIME[@]}" "transformers==$TRANSFORMERS_VERSION" "timm==$TIMM_VERSION" "${LR_FINDER_REFS[@]}"
    "${TRAINER_REFS[@]}")

if [ ! -x .venv/bin/python ]; then
    echo "setup: creating .venv" >&2
    "$py" -m venv .venv
fi
installed=0
if ! have; then
    installed=1
    echo "setup: installing torch==$TORCH_VERSION into .venv (about 4.7 GB, a few minutes)" >&2
    "${pip[@]}" "torch==$TORCH_VERSION"
fi
if [ "$test" = 1 ] && ! have "${TEST_REQS[@]}"; then
    installed=1
    echo "setup: installing the test references: transformers==$TRANSFORMERS_VERSION, timm==$TIMM_VERSION," \
        "${LR_FINDER_REFS[*]} (--no-deps: torch stays $TORCH_VERSION)" >&2
    # What they need at run time first (torch pinned, so that pip keeps it), then
    # the references themselves, which pip installs without resolving anything.
    "${pip[@]}" "${TEST_RUNTIME[@]}" "torch==$TORCH_VERSION"
    "${pip[@]}" --no-deps "transformers==$TRANSFORMERS_VERSION" "timm==$TIMM_VERSION" "${LR_FINDER_REFS[@]}" \
        "${TRAINER_REFS[@]}"
    # The modules the scripts import (timm's scheduler package without timm/__init__,
    # which needs torchvision, as scripts/fixtures/gen_timm.py imports it).
    .venv/bin/python - <<'PY'
import importlib.util, sys, types, warnings
with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from transformers.optimization import get_scheduler  # noqa: F401
    from transformers import Trainer, TrainingArguments  # noqa: F401
spec = importlib.util.find_spec("timm")
timm = types.ModuleType("timm")
timm.__path__ = list(spec.submodule_search_locations)
sys.modules["timm"] = timm
from timm import scheduler  # noqa: F401,E402
for name in ("pytorch_lightning", "fastai", "fastcore", "lightning_utilities"):
    assert importlib.util.find_spec(name), name
PY
fi
# DeepSpeed's source package: its lr_schedules.py and engine.py are the references of the deepspeed.*
# fixtures, loaded by path (scripts/fixtures/gen_deepspeed.py fetches it once, its SHA-256 checked).
if [ "$test" = 1 ]; then
    .venv/bin/python - <<'PY'
import sys
sys.path.insert(0, "scripts/fixtures")
import gen_deepspeed
for member in gen_deepspeed.MEMBERS:
    gen_deepspeed.fetch(member)
PY
fi
if ! have pyyaml; then
    installed=1
    echo "setup: installing pyyaml into .venv (the PyTorch twin reads the configs)" >&2
    "${pip[@]}" pyyaml "torch==$TORCH_VERSION"
fi
if [ "$installed" = 1 ] && ! have; then
    echo "setup: torch is $(.venv/bin/python -c 'import torch; print(torch.__version__)'), expected $TORCH_VERSION" >&2
    exit 1
fi

# Megatron-core (issue 25): scripts/fixtures/gen_megatron.py runs megatron-core's own
# optimizer_param_scheduler.py, taken from its wheel (PyPI publishes them for Python >= 3.12 only; the
# one file needs torch alone): downloaded, not installed, into .cache/megatron-core/.
MEGATRON_CORE_VERSION=0.19.2
if [ "$test" = 1 ] && ! ls .cache/megatron-core/megatron_core-$MEGATRON_CORE_VERSION-*.whl >/dev/null 2>&1; then
    installed=1
    echo "setup: downloading megatron-core==$MEGATRON_CORE_VERSION's wheel into .cache/megatron-core (not installed)" >&2
    .venv/bin/python -m pip download --quiet --disable-pip-version-check --no-deps \
        "megatron-core==$MEGATRON_CORE_VERSION" --python-version 3.12 --only-binary=:all: -d .cache/megatron-core
fi

# cargo's configuration for this checkout: the .venv's libtorch (its folder and
# C++ ABI, asked of the installed torch), for every cargo command run here.
config=$(.venv/bin/python - <<'PY'
import pathlib, torch
print("# Written by scripts/setup.sh: cargo builds against the libtorch of this checkout's .venv")
print(f"# (torch {torch.__version__} from PyPI), from any shell. A libtorch of your own: export LIBTORCH")
print("# (and LIBTORCH_CXX11_ABI): the environment wins over this file. Remove it to stop using the .venv's.")
print("[env]")
print(f'LIBTORCH = "{pathlib.Path(torch.__file__).resolve().parent}"')
print(f'LIBTORCH_CXX11_ABI = "{1 if torch._C._GLIBCXX_USE_CXX11_ABI else 0}"')
PY
)
if [ ! -f .cargo/config.toml ] || [ "$(cat .cargo/config.toml)" != "$config" ]; then
    echo "setup: writing .cargo/config.toml (cargo uses the .venv's libtorch from any shell)" >&2
    mkdir -p .cargo
    printf '%s\n' "$config" > .cargo/config.toml
fi
