#!/usr/bin/env python3
"""Writes tests/fixtures/parity/warmup.json: what a `warmup:` block means,
from its oracle. A scheduler mapping X with `warmup: {steps: W, start_factor: f}`
is defined as

    SequentialLR(optimizer, [LinearLR(optimizer, start_factor=f, end_factor=1.0, total_iters=W), X],
                 milestones=[W])

so PyTorch 2.13 (and transformers 5.24.0 for X = transformers.<type>) runs
exactly that for every case: random PyTorch and transformers schedules X,
random W and f, 1-3 groups, SGD and AdamW, and edge cases (W = 0, f = 1, a
warmup inside a SequentialLR, PyTorch's errors for a bad start_factor).
The format is scripts/gen_fixtures.py's.

    python scripts/gen_fixtures_warmup.py          # (re)write the fixture
    python scripts/gen_fixtures_warmup.py --check  # fail if it differs from the references
"""

import json
import random
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import gen_fixtures as G  # noqa: E402
import references  # noqa: E402,F401 - routes G.run's builds through every family and `warmup:`

OUT = G.OUT / "warmup.json"
TRANSFORMERS_VERSION = "5.24.0"

BASES = [
    lambda r: {"name": "StepLR", "step_size": r.randint(1, 10), "gamma": r.choice([0.1, 0.5, 0.9])},
    lambda r: {"name": "MultiStepLR", "milestones": sorted(r.sample(range(1, 60), 3)), "gamma": 0.5},
    lambda r: {"name": "ExponentialLR", "gamma": r.choice([0.9, 0.97, 0.99])},
    lambda r: {"name": "PolynomialLR", "total_iters": r.randint(5, 80), "power": r.choice([0.5, 1.0, 2.0])},
    lambda r: {"name": "CosineAnnealingLR", "T_max": r.randint(5, 100), "eta_min": r.choice([0.0, 1e-4])},
    lambda r: {"name": "CosineAnnealingWarmRestarts", "T_0": r.randint(2, 20), "T_mult": r.choice([1, 2])},
    lambda r: {"name": "LambdaLR", "lr_lambda": "0.95 ** epoch"},
    lambda r: {"name": "ConstantLR", "factor": 0.5, "total_iters": r.randint(1, 20)},
    lambda r: {"name": "transformers.linear", "num_warmup_steps": r.randint(0, 10), "num_training_steps": r.randint(20, 200)},
    lambda r: {"name": "transformers.cosine", "num_warmup_steps": 0, "num_training_steps": r.randint(20, 200)},
    lambda r: {"name": "transformers.constant"},
    lambda r: {"name": "transformers.inverse_sqrt", "num_warmup_steps": r.randint(1, 10)},
    lambda r: {"name": "transformers.polynomial", "num_warmup_steps": 0, "num_training_steps": r.randint(20, 200),
               "lr_end": 1e-5, "power": 2.0},
    lambda r: {"name": "transformers.warmup_stable_decay", "num_warmup_steps": 0, "num_decay_steps": r.randint(5, 30),
               "num_training_steps": r.randint(60, 200)},
]

OPTIMIZERS = [
    {"name": "sgd", "lr": 0.1},
    {"name": "sgd", "lr": [0.1, 0.02], "momentum": 0.9},
    {"name": "adamw", "lr": [0.05, 0.2, 0.001]},
    {"name": "adamw", "lr": 0.001, "betas": [0.9, 0.95]},
]


def cases(c):
    r = random.Random(20261126)
    for i in range(80):
        base = BASES[i % len(BASES)](r)
        w = {"steps": r.randint(1, 30)}
        if r.random() < 0.8:
            w["start_factor"] = r.choice([0.001, 0.01, 0.1, 0.25, 0.5])
        c.add(f"{base['name']} after warmup {i}", dict(base, warmup=w), r.randint(20, 150), OPTIMIZERS[i % len(OPTIMIZERS)])
    cos = {"name": "CosineAnnealingLR", "T_max": 20}
    c.add("default start_factor", dict(cos, warmup={"steps": 5}), 30)
    c.add("steps 0", dict(cos, warmup={"steps": 0, "start_factor": 0.1}), 10)
    c.add("start_factor 1", dict(cos, warmup={"steps": 4, "start_factor": 1.0}), 10)
    c.add("start_factor 0 (PyTorch's error)", dict(cos, warmup={"steps": 4, "start_factor": 0.0}), 5)
    c.add("start_factor above 1 (PyTorch's error)", dict(cos, warmup={"steps": 4, "start_factor": 1.5}), 5)
    c.add("warmup inside a SequentialLR", {
        "name": "SequentialLR", "milestones": [15],
        "schedulers": [dict(cos, warmup={"steps": 5, "start_factor": 0.1}), {"name": "ExponentialLR", "gamma": 0.9}],
    }, 30)
    c.add("warmup of a SequentialLR", {
        "name": "SequentialLR", "milestones": [6], "warmup": {"steps": 3, "start_factor": 0.2},
        "schedulers": [{"name": "ConstantLR", "factor": 0.5, "total_iters": 4}, cos],
    }, 30)


def render():
    c = G.Cases()
    cases(c)
    out = G.run_cases(c.cases)
    data = {"torch_version": G.TORCH_VERSION, "transformers_version": TRANSFORMERS_VERSION, "cases": out}
    return json.dumps(data, indent=1, allow_nan=False) + "\n", len(out)


def main():
    check = G.check_flag(__doc__)
    text, n = render()
    G.write_or_check("gen_fixtures_warmup", [(OUT, text)], check, "PyTorch and transformers")
    print(f"gen_fixtures_warmup: {n} cases {'match PyTorch and transformers' if check else 'written'}")


if __name__ == "__main__":
    main()
