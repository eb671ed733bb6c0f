#!/usr/bin/env python3
"""The reference side of `tch-lr trace`: the same config, stepped by the reference library
(torch.optim.lr_scheduler; transformers and timm for their names; see references.py).

    python scripts/trace_torch.py CONFIG --steps N [--metrics FILE]

prints `{"lr": [[...]], "momentum": [[...]]}` exactly as `tch-lr trace --format json`
does (row 0 after construction, row k after k steps), so the two can be diffed.
A step PyTorch refuses prints its message on stderr and exits with status 1.
"""

import argparse
import json
import sys
import warnings
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))
from gen_fixtures import build_optimizer, momenta, num  # noqa: E402
from references import build_scheduler  # noqa: E402

DEFAULT_OPTIMIZER = {"name": "sgd", "lr": 0.1}


def trace(config, rows, metrics=None):
    """Returns (lr rows, momentum rows, error) where error is None or (row, message)."""
    opt = build_optimizer(config.get("optimizer") or DEFAULT_OPTIMIZER)
    lr, mom = [], []
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            sched = build_scheduler(opt, config["scheduler"])
            for row in range(rows):
                if row > 0:
                    if metrics is not None:
                        sched.step(metrics[row - 1])
                    else:
                        sched.step()
                lr.append([num(g["lr"]) for g in opt.param_groups])
                mom.append([num(m) for m in momenta(opt)])
    except Exception as e:  # noqa: BLE001 - reported like tch-lr does
        return lr, mom, (len(lr), str(e))
    return lr, mom, None


def read_metrics(path):
    return [float(line) for line in Path(path).read_text().splitlines() if line.strip()]


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("config")
    ap.add_argument("--steps", type=int, required=True)
    ap.add_argument("--metrics")
    args = ap.parse_args()
    config = yaml.safe_load(Path(args.config).read_text())
    lr, mom, err = trace(config, args.steps, read_metrics(args.metrics) if args.metrics else None)
    if err:
        sys.exit(f"error: {err[1]}")
    print(json.dumps({"lr": lr, "momentum": mom}, separators=(",", ":")))


if __name__ == "__main__":
    main()
