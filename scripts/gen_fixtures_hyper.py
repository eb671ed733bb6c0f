#!/usr/bin/env python3
"""Writes tests/fixtures/hyper/*.json: what a `weight_decay_scheduler:` or a
`momentum_scheduler:` must do, from its oracle.

Such a section applies a schedule to each group's initial weight decay (momentum,
beta1) exactly as an LR schedule is applied to each group's initial LR. So its
oracle is the reference library's own scheduler (PyTorch 2.13, transformers
5.24.0, timm 1.0.31, through scripts/references.py) run on a second optimizer of
the same kind and momentum whose LRs are those weight decays (momenta): that
optimizer's LRs after construction and after each step are the expected values
(scripts/trace_torch.py, `trace`). The LR schedule of the same config runs on
the real optimizer beside it.

- weight_decay.json: random configs over all 15 PyTorch schedulers as the
  `weight_decay_scheduler:` (1-3 groups, SGD and AdamW, one weight decay or one
  per group, a random LR schedule beside it, a metric for ReduceLROnPlateau,
  fractional epochs for CosineAnnealingWarmRestarts), transformers' and timm's
  schedules, a `warmup:` block, and the references' errors.
- momentum.json: `momentum_scheduler:` configs (SGD's momentum, AdamW's beta1),
  some with a `weight_decay_scheduler:` as well.

Each case: a tch-lr config (as JSON), the steps, and each group's `lr`,
`weight_decay` (when scheduled) and `momentum` per row, and the reference's
first error (row, type, message).

    python scripts/gen_fixtures_hyper.py          # (re)write the fixtures
    python scripts/gen_fixtures_hyper.py --check  # fail if they differ from the references

The output is deterministic: the same references give byte-identical files.
"""

import json
import random
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import gen_fixtures as G  # noqa: E402
from trace_torch import trace  # noqa: E402

OUT = G.ROOT / "tests" / "fixtures" / "hyper"
TRANSFORMERS_VERSION = "5.24.0"
TIMM_VERSION = "1.0.31"

# Weight decays: SGD's are small, AdamW's larger; one per group, or one for all.
SGD_WDS = [[5e-4], [1e-4, 5e-4], [0.0, 1e-3, 5e-5], [1e-3]]
ADAMW_WDS = [[0.05], [0.1, 0.0], [0.01, 0.1, 0.05], [0.3]]
LRS = {1: 0.1, 2: [0.1, 0.01], 3: [0.05, 0.2, 0.001]}

LAMBDAS = ["0.95 ** epoch", "1 / (1 + epoch)", "min(1, (epoch + 1) / 5)", "cos(pi * epoch / 20) * 0.5 + 0.5",
           "max(0.1, 1 - epoch / 10)", "exp(-0.1 * epoch)"]
MULTIPLIERS = ["0.95", "0.9 ** (epoch % 3)", "min(1, 0.8 + epoch / 50)", "1.05"]


def optimizer(r):
    """A random optimizer section: SGD (with or without momentum) or AdamW, 1-3 groups."""
    kind = r.choice(["sgd", "sgd+momentum", "adamw"])
    wds = r.choice(ADAMW_WDS if kind == "adamw" else SGD_WDS)
    n = len(wds) if len(wds) > 1 else r.randint(1, 3)
    o = {"name": kind.split("+")[0], "lr": LRS[n]}
    if kind == "sgd+momentum":
        o["momentum"] = 0.9
    if kind == "adamw":
        o["betas"] = [0.9, 0.999]
    o["weight_decay"] = wds if len(wds) > 1 else wds[0]
    return o


def n_groups(o):
    return len(o["lr"]) if isinstance(o["lr"], list) else 1


def per_group(r, n, values):
    """One of `values` for all groups, or one each."""
    return r.choice(values) if n == 1 or r.random() < 0.5 else [r.choice(values) for _ in range(n)]


def simple(r):
    """A random chainable PyTorch schedule for the children of the composites."""
    return r.choice([
        lambda: {"name": "LinearLR", "start_factor": r.choice([0.1, 0.5]), "total_iters": r.randint(2, 6)},
        lambda: {"name": "ConstantLR", "factor": 0.5, "total_iters": r.randint(1, 5)},
        lambda: {"name": "ExponentialLR", "gamma": r.choice([0.8, 0.95])},
        lambda: {"name": "StepLR", "step_size": r.randint(2, 5), "gamma": 0.5},
        lambda: {"name": "CosineAnnealingLR", "T_max": r.randint(5, 20)},
        lambda: {"name": "MultiplicativeLR", "lr_lambda": r.choice(MULTIPLIERS)},
    ])()


# Each PyTorch scheduler as a weight decay schedule: (name, f(r, n groups, steps) -> scheduler mapping).
PYTORCH = [
    ("StepLR", lambda r, n, s: {"name": "StepLR", "step_size": r.randint(1, 10), "gamma": r.choice([0.1, 0.5, 0.9])}),
    ("MultiStepLR", lambda r, n, s: {"name": "MultiStepLR", "milestones": sorted(r.sample(range(1, 40), 3)),
                                     "gamma": r.choice([0.1, 0.5])}),
    ("ConstantLR", lambda r, n, s: {"name": "ConstantLR", "factor": r.choice([0.1, 1 / 3, 0.5, 1.0]),
                                    "total_iters": r.randint(0, 10)}),
    ("LinearLR", lambda r, n, s: {"name": "LinearLR", "start_factor": r.choice([1.0, 0.5, 0.01]),
                                  "end_factor": r.choice([1.0, 0.1, 0.0]), "total_iters": r.randint(1, 20)}),
    ("ExponentialLR", lambda r, n, s: {"name": "ExponentialLR", "gamma": r.choice([0.5, 0.9, 0.99, 1.05])}),
    ("PolynomialLR", lambda r, n, s: {"name": "PolynomialLR", "total_iters": r.randint(1, 30),
                                      "power": r.choice([0.5, 1.0, 2.0, 3.7])}),
    ("CosineAnnealingLR", lambda r, n, s: {"name": "CosineAnnealingLR", "T_max": r.randint(1, 40),
                                           "eta_min": r.choice([0.0, 1e-5, 0.001])}),
    ("LambdaLR", lambda r, n, s: {"name": "LambdaLR", "lr_lambda": r.choice(LAMBDAS) if n == 1 or r.random() < 0.5
                                  else [r.choice(LAMBDAS) for _ in range(n)]}),
    ("MultiplicativeLR", lambda r, n, s: {"name": "MultiplicativeLR", "lr_lambda": r.choice(MULTIPLIERS)
                                          if n == 1 or r.random() < 0.5 else [r.choice(MULTIPLIERS) for _ in range(n)]}),
    ("SequentialLR", lambda r, n, s: {"name": "SequentialLR", "schedulers": [simple(r), simple(r)],
                                      "milestones": [r.randint(1, 15)]}),
    ("ChainedScheduler", lambda r, n, s: {"name": "ChainedScheduler", "schedulers": [simple(r), simple(r)]}),
    ("ReduceLROnPlateau", lambda r, n, s: {"name": "ReduceLROnPlateau", "mode": r.choice(["min", "max"]),
                                           "patience": r.randint(0, 3), "factor": r.choice([0.1, 0.5]),
                                           "cooldown": r.randint(0, 2), "min_lr": per_group(r, n, [0.0, 1e-5])}),
    ("CyclicLR", lambda r, n, s: {"name": "CyclicLR", "base_lr": per_group(r, n, [1e-5, 1e-4]),
                                  "max_lr": per_group(r, n, [1e-3, 0.01]), "step_size_up": r.randint(1, 6),
                                  "mode": r.choice(["triangular", "triangular2", "exp_range"]), "gamma": 0.95,
                                  "cycle_momentum": r.random() < 0.5}),
    ("OneCycleLR", lambda r, n, s: {"name": "OneCycleLR", "max_lr": per_group(r, n, [0.01, 0.1]),
                                    "total_steps": s + r.randint(0, 5), "pct_start": r.choice([0.15, 0.3, 0.5]),
                                    "anneal_strategy": r.choice(["cos", "linear"]), "three_phase": r.random() < 0.3,
                                    "cycle_momentum": r.random() < 0.5}),
    ("CosineAnnealingWarmRestarts", lambda r, n, s: {"name": "CosineAnnealingWarmRestarts", "T_0": r.randint(1, 10),
                                                     "T_mult": r.choice([1, 2]), "eta_min": r.choice([0.0, 1e-5])}),
]

# LR schedules beside them (none cycles momentum: a momentum_scheduler may join them).
def lr_schedule(r, steps):
    return r.choice([
        lambda: {"name": "StepLR", "step_size": r.randint(2, 8), "gamma": 0.5},
        lambda: {"name": "CosineAnnealingLR", "T_max": r.randint(5, 40)},
        lambda: {"name": "ExponentialLR", "gamma": 0.95},
        lambda: {"name": "ConstantLR", "factor": 0.5, "total_iters": 3},
        lambda: {"name": "LinearLR", "start_factor": 0.1, "total_iters": r.randint(2, 10)},
    ])()


def metrics(r, n):
    """A validation loss that falls, then flattens and wobbles."""
    return [round(1.0 / (1 + 0.3 * min(k, 8)) + r.uniform(-0.02, 0.02), 4) for k in range(n)]


class Cases:
    def __init__(self):
        self.cases = []

    def add(self, name, config, steps, **extra):
        assert name not in (c["name"] for c in self.cases), name
        self.cases.append(dict({"name": name, "config": config, "steps": steps}, **extra))


def weight_decay_cases(c):
    r = random.Random(20260511)
    for name, make in PYTORCH:
        for i in range(8):
            o = optimizer(r)
            steps = r.randint(15, 60)
            wd = make(r, n_groups(o), steps)
            config = {"optimizer": o, "scheduler": lr_schedule(r, steps), "weight_decay_scheduler": wd}
            extra = {}
            if name == "ReduceLROnPlateau":
                extra["metrics"] = metrics(r, steps)
                if i % 2:
                    config["scheduler"] = {"name": "ReduceLROnPlateau", "patience": 1, "factor": 0.5}
            if name == "CosineAnnealingWarmRestarts" and i % 2:
                iters = r.randint(2, 5)
                extra["epochs"] = [k / iters for k in range(1, steps + 1)]
                config["scheduler"] = {"name": "CosineAnnealingWarmRestarts", "T_0": r.randint(2, 6)}
            c.add(f"{name} {i}", config, steps, **extra)
    # transformers' and timm's schedules on the weight decay.
    for i, wd in enumerate([
        {"name": "transformers.linear", "num_warmup_steps": 5, "num_training_steps": 40},
        {"name": "transformers.cosine", "num_warmup_steps": 3, "num_training_steps": 30},
        {"name": "transformers.cosine_with_restarts", "num_warmup_steps": 2, "num_training_steps": 40, "num_cycles": 3},
        {"name": "transformers.polynomial", "num_warmup_steps": 2, "num_training_steps": 30, "lr_end": 1e-7, "power": 2.0},
        {"name": "transformers.constant_with_warmup", "num_warmup_steps": 6},
        {"name": "transformers.inverse_sqrt", "num_warmup_steps": 4},
        {"name": "transformers.cosine_with_min_lr", "num_warmup_steps": 3, "num_training_steps": 30, "min_lr_rate": 0.1},
        {"name": "transformers.warmup_stable_decay", "num_warmup_steps": 3, "num_decay_steps": 10,
         "num_training_steps": 40},
        {"name": "timm.CosineLRScheduler", "t_initial": 20, "lr_min": 1e-5, "warmup_t": 3, "warmup_lr_init": 1e-4},
        {"name": "timm.TanhLRScheduler", "t_initial": 30, "lr_min": 1e-5},
        {"name": "timm.StepLRScheduler", "decay_t": 5, "decay_rate": 0.5},
        {"name": "timm.MultiStepLRScheduler", "decay_t": [5, 12, 20], "decay_rate": 0.3, "warmup_t": 2,
         "warmup_lr_init": 1e-4},
        {"name": "timm.PolyLRScheduler", "t_initial": 30, "power": 0.9, "lr_min": 1e-6},
        {"name": "timm.WSDLRScheduler", "t_initial": 30, "decay_t": 8, "warmup_t": 4},
    ]):
        o = optimizer(r)
        c.add(f"{wd['name']}", {"optimizer": o, "scheduler": lr_schedule(r, 40), "weight_decay_scheduler": wd}, 40)
    cos = {"name": "CosineAnnealingLR", "T_max": 20}
    adamw = {"name": "adamw", "lr": [1e-3, 1e-4], "weight_decay": [0.05, 0.1]}
    c.add("warmup block", {"optimizer": adamw, "scheduler": cos,
                           "weight_decay_scheduler": dict(cos, warmup={"steps": 4, "start_factor": 0.1})}, 25)
    c.add("default AdamW weight decay", {"optimizer": {"name": "adamw", "lr": 1e-3}, "scheduler": cos,
                                         "weight_decay_scheduler": {"name": "LinearLR", "start_factor": 0.1}}, 10)
    c.add("zero weight decay stays zero", {"optimizer": {"name": "sgd", "lr": 0.1}, "scheduler": cos,
                                           "weight_decay_scheduler": {"name": "ExponentialLR", "gamma": 0.5}}, 5)
    # The references' errors, at construction and at a step.
    c.add("constructor error", {"optimizer": adamw, "scheduler": cos,
                                "weight_decay_scheduler": {"name": "ConstantLR", "factor": 1.5}}, 3)
    c.add("count mismatch error", {"optimizer": adamw, "scheduler": cos,
                                   "weight_decay_scheduler": {"name": "CyclicLR", "base_lr": [0.01, 0.02, 0.03],
                                                              "max_lr": 0.1, "cycle_momentum": False}}, 3)
    c.add("OneCycleLR past its end", {"optimizer": adamw, "scheduler": cos,
                                      "weight_decay_scheduler": {"name": "OneCycleLR", "max_lr": 0.1,
                                                                 "total_steps": 6}}, 9)
    c.add("division by zero at a step", {"optimizer": adamw, "scheduler": cos,
                                         "weight_decay_scheduler": {"name": "LambdaLR", "lr_lambda": "1 / (4 - epoch)"}},
          8)


def momentum_cases(c):
    r = random.Random(20260512)
    # Schedules that give every group the same factor: AdamW's beta1 is one value for all groups in tch.
    uniform = [name for name, _ in PYTORCH if name not in ("ReduceLROnPlateau", "CyclicLR", "OneCycleLR")]
    makers = dict(PYTORCH)
    for i in range(40):
        name = uniform[i % len(uniform)]
        adamw = i % 3 == 2
        n = r.randint(1, 3)
        o = {"name": "adamw", "lr": LRS[n], "betas": [0.9, 0.999]} if adamw else \
            {"name": "sgd", "lr": LRS[n], "momentum": r.choice([0.9, 0.99])}
        steps = r.randint(15, 50)
        m = makers[name](r, 1, steps)
        extra = {}
        if name == "CosineAnnealingWarmRestarts" and i % 2:
            extra["epochs"] = [k / 3 for k in range(1, steps + 1)]
        config = {"optimizer": o, "scheduler": {"name": "CosineAnnealingWarmRestarts", "T_0": 3} if extra
                  else lr_schedule(r, steps), "momentum_scheduler": m}
        if i % 4 == 1:
            o["weight_decay"] = per_group(r, n, [1e-4, 0.05])
            config["weight_decay_scheduler"] = makers[uniform[(i * 7) % len(uniform)]](r, n, steps)
        c.add(f"{name} on {'beta1' if adamw else 'momentum'} {i}", config, steps, **extra)
    sgd = {"name": "sgd", "lr": [0.1, 0.01], "momentum": 0.9}
    cos = {"name": "CosineAnnealingLR", "T_max": 20}
    c.add("SGD per-group CyclicLR", {"optimizer": sgd, "scheduler": cos, "momentum_scheduler": {
        "name": "CyclicLR", "base_lr": [0.8, 0.5], "max_lr": [0.95, 0.9], "step_size_up": 4,
        "cycle_momentum": False}}, 30)
    c.add("SGD OneCycleLR", {"optimizer": sgd, "scheduler": cos, "momentum_scheduler": {
        "name": "OneCycleLR", "max_lr": [0.95, 0.9], "total_steps": 30, "cycle_momentum": False}}, 29)
    c.add("ReduceLROnPlateau on momentum", {"optimizer": sgd, "scheduler": cos, "momentum_scheduler": {
        "name": "ReduceLROnPlateau", "patience": 1, "factor": 0.9}}, 20, metrics=metrics(r, 20))


FILES = {"weight_decay": weight_decay_cases, "momentum": momentum_cases}


def run(case):
    """Runs one case through the references and fills case["expected"]."""
    traced, error = trace(case["config"], case["steps"] + 1, case.get("metrics"), case.get("epochs"))
    case["expected"] = dict(traced, error=error)
    return case


def render(build):
    c = Cases()
    build(c)
    cases = G.run_cases(c.cases, run)
    data = {"torch_version": G.TORCH_VERSION, "transformers_version": TRANSFORMERS_VERSION,
            "timm_version": TIMM_VERSION, "cases": cases}
    return json.dumps(data, indent=1, allow_nan=False) + "\n", len(cases)


def main():
    check = G.check_flag(__doc__)
    rendered = {name: render(build) for name, build in FILES.items()}
    outputs = [(OUT / f"{name}.json", text) for name, (text, _) in rendered.items()]
    G.write_or_check("gen_fixtures_hyper", outputs, check, "the references")
    total = sum(n for _, n in rendered.values())
    print(f"gen_fixtures_hyper: {total} cases {'match the references' if check else 'written'} "
          f"in {OUT.relative_to(G.ROOT)}")


if __name__ == "__main__":
    main()
