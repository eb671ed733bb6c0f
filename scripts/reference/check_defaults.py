#!/usr/bin/env python3
"""Checks every registered PyTorch schedule's keyword arguments against
PyTorch's own constructor: the same names, required where PyTorch has no
default, and the same defaults (`inspect.signature` of the installed
torch.optim.lr_scheduler or torch.optim.swa_utils class). Exits 1 on any difference.

    python scripts/reference/check_defaults.py
"""

import inspect
import sys
from pathlib import Path

from torch.optim import lr_scheduler, swa_utils

sys.path.insert(0, str(Path(__file__).resolve().parent))
from registry import registry  # noqa: E402

# Constructor parameters tch-lr takes elsewhere: the optimizer it is built on,
# `last_epoch` (resume through saved state instead) and the deprecated `verbose`.
NOT_KWARGS = {"optimizer", "last_epoch", "verbose"}


def main():
    problems = []
    checked = 0
    for s in registry():
        cls = getattr(lr_scheduler, s["name"], None) or getattr(swa_utils, s["name"], None)
        if cls is None:
            continue  # not a PyTorch schedule
        params = {
            n: p
            for n, p in inspect.signature(cls.__init__).parameters.items()
            if n != "self" and n not in NOT_KWARGS and p.kind is not p.VAR_KEYWORD
        }
        ours = {k["name"]: k for k in s["kwargs"]}
        if set(ours) != set(params):
            problems.append(f"{s['name']}: keywords {sorted(ours)}, PyTorch {sorted(params)}")
            continue
        for name, p in params.items():
            k = ours[name]
            has_default = p.default is not inspect.Parameter.empty
            if k["required"] == has_default:
                problems.append(f"{s['name']}.{name}: required={k['required']}, PyTorch default {p.default!r}")
            elif has_default and k["default"] != p.default:
                problems.append(f"{s['name']}.{name}: default {k['default']!r}, PyTorch {p.default!r}")
            checked += 1
    if problems:
        sys.exit("defaults differ from PyTorch:\n" + "\n".join(problems))
    print(f"check_defaults: {checked} keyword arguments agree with PyTorch's signatures")


if __name__ == "__main__":
    main()
