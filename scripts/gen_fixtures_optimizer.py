#!/usr/bin/env python3
"""Writes tests/fixtures/optimizer_checks.json: what PyTorch's optimizer
constructors (torch.optim.SGD, Adam, AdamW, RMSprop in PyTorch 2.13) say about
a set of hyper-parameters, valid and invalid: accepted, or the exception's type
and message. tests/validation.rs holds tch-lr's config reader and
`Optim::new` to the same answers (tch-lr also rejects NaN and infinity, which
PyTorch lets through in places: those cases say `"accepted": true` here and
are checked as tch-lr's documented difference).

    python scripts/gen_fixtures_optimizer.py          # (re)write the fixture
    python scripts/gen_fixtures_optimizer.py --check  # fail if it differs from PyTorch
"""

import json
import math
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
import gen_fixtures as G  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "tests" / "fixtures" / "optimizer_checks.json"
TORCH_VERSION = "2.13.0"

# One config key per PyTorch keyword (tch-lr's `optimizer:` section).
CLASSES = {"sgd": torch.optim.SGD, "adam": torch.optim.Adam, "adamw": torch.optim.AdamW, "rmsprop": torch.optim.RMSprop}
NAN, INF = float("nan"), float("inf")


def cases():
    out = []
    bad_numbers = [-0.1, -1e-05, -2.0, 1.0, 1.5, NAN, INF, -INF]
    for name in CLASSES:
        out.append({"name": name, "lr": 0.1})
        for lr in [-0.1, -1e-05, 0.0, NAN, INF]:
            out.append({"name": name, "lr": lr})
        out.append({"name": name, "lr": [0.1, -0.2]})
        keys = {
            "sgd": ["momentum", "dampening", "weight_decay"],
            "adam": ["eps", "weight_decay"],
            "adamw": ["eps", "weight_decay"],
            "rmsprop": ["momentum", "eps", "weight_decay", "alpha"],
        }[name]
        for key in keys:
            for v in bad_numbers:
                out.append({"name": name, "lr": 0.1, key: v})
        if name in ("adam", "adamw"):
            for b in [[1.0, 0.999], [0.9, 1.0], [-0.1, 0.999], [0.9, -1e-05], [0.0, 0.0], [NAN, 0.999], [0.9, INF]]:
                out.append({"name": name, "lr": 0.1, "betas": b})
        if name == "sgd":
            for momentum, dampening in [(0.9, 0.0), (0.0, 0.0), (0.9, 0.1), (-0.5, 0.0)]:
                out.append({"name": name, "lr": 0.1, "momentum": momentum, "dampening": dampening, "nesterov": True})
    return out


def kwargs(o):
    k = {key: (tuple(v) if key == "betas" else v) for key, v in o.items() if key not in ("name", "lr")}
    return k


def run(o):
    lrs = o["lr"] if isinstance(o["lr"], list) else [o["lr"]]
    params = [{"params": [torch.zeros(1, requires_grad=True)], "lr": lr} for lr in lrs]
    try:
        CLASSES[o["name"]](params, lr=lrs[0], **kwargs(o))
        result = {"accepted": True}
    except Exception as e:  # noqa: BLE001 - recorded as the fixture
        result = {"accepted": False, "type": type(e).__name__, "message": str(e)}
    return {"config": {k: num(v) for k, v in o.items()}, **result}


def num(v):
    if isinstance(v, list):
        return [num(x) for x in v]
    if isinstance(v, float) and not math.isfinite(v):
        return "nan" if math.isnan(v) else ("inf" if v > 0 else "-inf")
    return v


def render():
    data = {"torch_version": TORCH_VERSION, "cases": [run(o) for o in cases()]}
    return json.dumps(data, indent=1, allow_nan=False) + "\n", len(data["cases"])


def main():
    check = G.check_flag(__doc__)
    if torch.__version__.split("+")[0] != TORCH_VERSION:
        sys.exit(f"gen_fixtures_optimizer: PyTorch {TORCH_VERSION} expected, found {torch.__version__}")
    text, n = render()
    G.write_or_check("gen_fixtures_optimizer", [(OUT, text)], check, f"PyTorch {TORCH_VERSION}")
    print(f"gen_fixtures_optimizer: {n} cases {'match PyTorch' if check else 'written'}")


if __name__ == "__main__":
    main()
