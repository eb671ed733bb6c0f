#!/usr/bin/env bash
# Creates .venv/ with torch==2.13.0 (the libtorch that tch 0.26 expects) and the
# Python packages the fixture and benchmark scripts use. Idempotent: a second
# run finds everything in place and does nothing.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
TORCH_VERSION="${TORCH_VERSION:-2.13.0}"
py="${PYTHON:-python3}"
if [ ! -x .venv/bin/python ]; then
    echo "setup: creating .venv" >&2
    "$py" -m venv .venv
fi
if .venv/bin/python - "$TORCH_VERSION" <<'PY' 2>/dev/null
import sys, importlib.metadata as m
ok = m.version("torch").split("+")[0] == sys.argv[1] and m.version("pyyaml") and m.version("numpy")
sys.exit(0 if ok else 1)
PY
then
    exit 0
fi
echo "setup: installing torch==$TORCH_VERSION into .venv (about 4.7 GB, a few minutes)" >&2
.venv/bin/python -m pip install --quiet --disable-pip-version-check "torch==$TORCH_VERSION" pyyaml numpy
