#!/usr/bin/env python3
"""Writes tests/fixtures/parity/*.json: what PyTorch's own schedulers do.

Every case is a tch-lr YAML config (as JSON) plus what
`torch.optim.lr_scheduler` (PyTorch 2.13, from the project's .venv) produced
for it: each group's `lr`, `get_last_lr()` and momentum (beta1 for Adam and
AdamW) after construction (row 0) and after each `step()`, and the row, type
and message of the first exception PyTorch raised, if any.

    python scripts/gen_fixtures.py          # (re)write the fixtures
    python scripts/gen_fixtures.py --check  # fail if they differ from PyTorch

The output is deterministic: the same PyTorch gives byte-identical files.
"""

import argparse
import itertools
import json
import math
import random
import sys
import warnings
from pathlib import Path

import torch
from torch.optim import lr_scheduler as lrs

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "tests" / "fixtures" / "parity"
TORCH_VERSION = "2.13.0"

# ---------------------------------------------------------------------------
# Expressions (lr_lambda, scale_fn): the subset of tch-lr's grammar that is
# also Python. `**` is power in both; tch-lr's `ln` is math.log.
# ---------------------------------------------------------------------------
_FUNCS = {
    "min": min,
    "max": max,
    "exp": math.exp,
    "ln": math.log,
    "sqrt": math.sqrt,
    "cos": math.cos,
    "sin": math.sin,
    "floor": lambda v: float(math.floor(v)),
    "abs": abs,
    "pi": math.pi,
}


def expr_fn(src, var):
    code = compile(src.replace("^", "**"), "<expr>", "eval")

    def f(v):
        return float(eval(code, {"__builtins__": {}}, dict(_FUNCS, **{var: float(v)})))

    return f


# ---------------------------------------------------------------------------
# Building PyTorch objects from a config
# ---------------------------------------------------------------------------
def build_optimizer(o):
    lrs_ = o["lr"] if isinstance(o["lr"], list) else [o["lr"]] * o.get("groups", 1)
    params = [{"params": [torch.zeros(1, requires_grad=True)], "lr": lr} for lr in lrs_]
    name = o["name"]
    if name == "sgd":
        return torch.optim.SGD(params, lr=lrs_[0], momentum=o.get("momentum", 0.0))
    if name == "rmsprop":
        return torch.optim.RMSprop(params, lr=lrs_[0], momentum=o.get("momentum", 0.0))
    betas = tuple(o.get("betas", [0.9, 0.999]))
    if name == "adam":
        return torch.optim.Adam(params, lr=lrs_[0], betas=betas)
    if name == "adamw":
        return torch.optim.AdamW(params, lr=lrs_[0], betas=betas)
    raise ValueError(name)


def lambdas(v):
    return [expr_fn(s, "epoch") for s in v] if isinstance(v, list) else expr_fn(v, "epoch")


def build_scheduler(opt, s):
    kw = {k: v for k, v in s.items() if k != "name"}
    name = s["name"]
    if name in ("SequentialLR", "ChainedScheduler"):
        children = [build_scheduler(opt, c) for c in kw.pop("schedulers")]
        if name == "SequentialLR":
            return lrs.SequentialLR(opt, children, **kw)
        return lrs.ChainedScheduler(children, optimizer=opt)
    if name in ("LambdaLR", "MultiplicativeLR"):
        kw["lr_lambda"] = lambdas(kw["lr_lambda"])
    if name == "CyclicLR" and "scale_fn" in kw:
        kw["scale_fn"] = expr_fn(kw["scale_fn"], "x")
    return getattr(lrs, name)(opt, **kw)


def momenta(opt):
    return [g["betas"][0] if "betas" in g else g["momentum"] for g in opt.param_groups]


def num(v):
    v = float(v)
    if math.isnan(v):
        return "nan"
    if math.isinf(v):
        return "inf" if v > 0 else "-inf"
    return v


def run(case, builder=None):
    """Runs one case through PyTorch (or the reference `builder(opt, scheduler
    config)` builds) and fills case["expected"]."""
    cfg = case["config"]
    opt = build_optimizer(cfg["optimizer"])
    rows = {"lr": [], "last_lr": [], "momentum": []}
    error = None

    def record(sched):
        rows["lr"].append([num(g["lr"]) for g in opt.param_groups])
        rows["last_lr"].append([num(v) for v in sched.get_last_lr()])
        rows["momentum"].append([num(v) for v in momenta(opt)])

    try:
        sched = (builder or build_scheduler)(opt, cfg["scheduler"])
        record(sched)
        for k in range(case["steps"]):
            row = k + 1
            if "metrics" in case:
                sched.step(float(case["metrics"][k]))
            elif "epochs" in case:
                sched.step(case["epochs"][k])
            else:
                sched.step()
            record(sched)
    except Exception as e:  # noqa: BLE001 - the exception is the expected output
        row = len(rows["lr"])
        error = {"row": row, "type": type(e).__name__, "message": str(e)}
    case["expected"] = dict(rows, error=error)
    return case


# ---------------------------------------------------------------------------
# The cases
# ---------------------------------------------------------------------------
GROUPS = [[0.1], [0.1, 0.01], [0.05, 0.2, 0.001]]


def optimizers():
    """Optimizer sections to rotate through: 1-3 groups, the four kinds."""
    out = []
    for lr in GROUPS:
        lr_ = lr[0] if len(lr) == 1 else lr
        out += [
            {"name": "sgd", "lr": lr_},
            {"name": "sgd", "lr": lr_, "momentum": 0.9},
            {"name": "adam", "lr": lr_},
            {"name": "adamw", "lr": lr_, "betas": [0.85, 0.99]},
            {"name": "rmsprop", "lr": lr_, "momentum": 0.5},
        ]
    return out


OPTS = optimizers()


class Cases:
    def __init__(self):
        self.cases = []
        self.i = 0

    def add(self, name, scheduler, steps, optimizer=None, **extra):
        if optimizer is None:
            optimizer = OPTS[self.i % len(OPTS)]
            self.i += 1
        case = {"name": name, "config": {"optimizer": optimizer, "scheduler": scheduler}, "steps": steps}
        if "metrics" in extra:
            extra["metrics"] = [num(v) for v in extra["metrics"]]
        case.update(extra)
        self.cases.append(case)


def label(o):
    """A short name for an optimizer section: `sgd+momentum x2`."""
    return f"{o['name']}{'+momentum' if o.get('momentum') else ''} x{n_groups(o)}"


def n_groups(o):
    return len(o["lr"]) if isinstance(o["lr"], list) else o.get("groups", 1)


def step_lr(c):
    for step_size, gamma in itertools.product([1, 2, 3, 7], [0.1, 0.5, 0.9, 1.0]):
        c.add(f"step_size={step_size} gamma={gamma}", {"name": "StepLR", "step_size": step_size, "gamma": gamma}, 25)
    c.add("default gamma", {"name": "StepLR", "step_size": 30}, 95)
    c.add("gamma 2 grows", {"name": "StepLR", "step_size": 2, "gamma": 2.0}, 12)
    c.add("gamma 0", {"name": "StepLR", "step_size": 2, "gamma": 0.0}, 6)
    c.add("step_size 0", {"name": "StepLR", "step_size": 0}, 3)
    c.add("step_size negative", {"name": "StepLR", "step_size": -2, "gamma": 0.5}, 6)


def multi_step_lr(c):
    for ms in [[2, 5, 8], [30, 80], [3, 3, 6], [5, 2], [0, 1], [1], [4, 4, 4]]:
        for gamma in [0.1, 0.5]:
            c.add(f"milestones={ms} gamma={gamma}", {"name": "MultiStepLR", "milestones": ms, "gamma": gamma}, 12 if max(ms) < 10 else 90)
    c.add("empty milestones", {"name": "MultiStepLR", "milestones": []}, 5)
    c.add("negative milestone", {"name": "MultiStepLR", "milestones": [-1, 2]}, 5)


def constant_lr(c):
    for factor, total in itertools.product([1 / 3, 0.1, 0.5, 1.0, 0.0], [0, 1, 4, 5]):
        c.add(f"factor={factor} total_iters={total}", {"name": "ConstantLR", "factor": factor, "total_iters": total}, 9)
    c.add("defaults", {"name": "ConstantLR"}, 8)
    c.add("factor above 1", {"name": "ConstantLR", "factor": 1.5}, 3)
    c.add("factor negative", {"name": "ConstantLR", "factor": -0.1}, 3)
    c.add("total_iters negative", {"name": "ConstantLR", "factor": 0.5, "total_iters": -1}, 4)


def linear_lr(c):
    for sf, ef, total in itertools.product([1 / 3, 0.5, 1.0, 0.01], [1.0, 0.1, 0.0], [1, 4, 5, 10]):
        c.add(
            f"start={sf} end={ef} total_iters={total}",
            {"name": "LinearLR", "start_factor": sf, "end_factor": ef, "total_iters": total},
            total + 4,
        )
    c.add("defaults", {"name": "LinearLR"}, 8)
    c.add("start_factor 0", {"name": "LinearLR", "start_factor": 0.0}, 3)
    c.add("start_factor above 1", {"name": "LinearLR", "start_factor": 1.5}, 3)
    c.add("end_factor above 1", {"name": "LinearLR", "end_factor": 1.5}, 3)
    c.add("end_factor negative", {"name": "LinearLR", "end_factor": -0.5}, 3)
    c.add("total_iters 0", {"name": "LinearLR", "start_factor": 0.5, "total_iters": 0}, 3)


def exponential_lr(c):
    for gamma in [0.1, 0.5, 0.9, 0.99, 1.0, 1.1, 0.0]:
        c.add(f"gamma={gamma}", {"name": "ExponentialLR", "gamma": gamma}, 30)
    c.add("gamma negative", {"name": "ExponentialLR", "gamma": -0.5}, 6)


def polynomial_lr(c):
    for total, power in itertools.product([1, 4, 5, 10], [1.0, 2.0, 0.5, 0.0, 3.7]):
        c.add(f"total_iters={total} power={power}", {"name": "PolynomialLR", "total_iters": total, "power": power}, total + 4)
    c.add("defaults", {"name": "PolynomialLR"}, 8)
    c.add("total_iters 0", {"name": "PolynomialLR", "total_iters": 0}, 3)
    c.add("power negative", {"name": "PolynomialLR", "total_iters": 4, "power": -1.0}, 6)


def cosine_annealing_lr(c):
    for t_max, eta_min in itertools.product([1, 3, 10, 50], [0.0, 0.001, 0.05]):
        c.add(f"T_max={t_max} eta_min={eta_min}", {"name": "CosineAnnealingLR", "T_max": t_max, "eta_min": eta_min}, 3 * t_max + 5)
    c.add("eta_min above base lr", {"name": "CosineAnnealingLR", "T_max": 4, "eta_min": 0.5}, 12)
    c.add("T_max 0", {"name": "CosineAnnealingLR", "T_max": 0}, 3)
    c.add("T_max negative", {"name": "CosineAnnealingLR", "T_max": -3}, 8)


def lambda_lr(c):
    for e in ["epoch / 30", "0.95 ** epoch", "1 / (1 + epoch)", "min(1, (epoch + 1) / 5)", "cos(pi * epoch / 20) * 0.5 + 0.5",
              "exp(-0.1 * epoch)", "floor(epoch / 3) % 2 + 0.5", "sqrt(epoch + 1)", "max(0.1, 1 - epoch / 10)", "abs(sin(epoch))",
              "ln(epoch + 2)", "-epoch + 10", "2 ^ -epoch"]:
        c.add(f"lambda {e}", {"name": "LambdaLR", "lr_lambda": e}, 20)
    for o in OPTS:
        n = n_groups(o)
        if n > 1:
            exprs = ["0.9 ** epoch", "1 / (epoch + 1)", "epoch % 3 + 1"][:n]
            c.add(f"per-group lambdas {label(o)}", {"name": "LambdaLR", "lr_lambda": exprs}, 10, optimizer=o)
    c.add("too few lambdas", {"name": "LambdaLR", "lr_lambda": ["1"]}, 3, optimizer={"name": "sgd", "lr": [0.1, 0.2]})
    c.add("too many lambdas", {"name": "LambdaLR", "lr_lambda": ["1", "2", "3"]}, 3, optimizer={"name": "sgd", "lr": [0.1, 0.2]})
    c.add("division by zero raises", {"name": "LambdaLR", "lr_lambda": "1 / (5 - epoch)"}, 7)
    c.add("math domain error", {"name": "LambdaLR", "lr_lambda": "ln(epoch - 3)"}, 2)
    c.add("math range error", {"name": "LambdaLR", "lr_lambda": "exp(epoch * 200)"}, 6)
    c.add("modulo by zero", {"name": "LambdaLR", "lr_lambda": "1 % (epoch - 2) + 1"}, 4)


def multiplicative_lr(c):
    for e in ["0.95", "0.5", "1", "1.05", "1 - epoch / 100", "min(1, 0.8 + epoch / 50)", "0.9 ** (epoch % 3)", "exp(-0.05)"]:
        c.add(f"lambda {e}", {"name": "MultiplicativeLR", "lr_lambda": e}, 20)
    for o in OPTS:
        n = n_groups(o)
        if n > 1:
            exprs = ["0.9", "0.99 ** epoch", "1.01"][:n]
            c.add(f"per-group lambdas {label(o)}", {"name": "MultiplicativeLR", "lr_lambda": exprs}, 10, optimizer=o)
    c.add("too few lambdas", {"name": "MultiplicativeLR", "lr_lambda": ["1"]}, 3, optimizer={"name": "sgd", "lr": [0.1, 0.2]})
    c.add("division by zero raises", {"name": "MultiplicativeLR", "lr_lambda": "1 / (3 - epoch)"}, 5)


def sequential_lr(c):
    warm = {"name": "LinearLR", "start_factor": 0.1, "total_iters": 5}
    cos = {"name": "CosineAnnealingLR", "T_max": 20}
    const = {"name": "ConstantLR", "factor": 0.1, "total_iters": 2}
    exp = {"name": "ExponentialLR", "gamma": 0.9}
    step = {"name": "StepLR", "step_size": 3, "gamma": 0.5}
    multi = {"name": "MultiStepLR", "milestones": [2, 6], "gamma": 0.5}
    poly = {"name": "PolynomialLR", "total_iters": 6, "power": 2.0}
    lam = {"name": "LambdaLR", "lr_lambda": "0.9 ** epoch"}
    mul = {"name": "MultiplicativeLR", "lr_lambda": "0.9"}
    cawr = {"name": "CosineAnnealingWarmRestarts", "T_0": 4}
    for a, b, m in [(const, exp, 2), (warm, cos, 5), (warm, cos, 3), (warm, cos, 8), (exp, step, 4), (step, multi, 5),
                    (multi, poly, 3), (poly, warm, 7), (lam, cos, 4), (mul, exp, 3), (cos, cawr, 6), (warm, mul, 5),
                    (const, lam, 1), (exp, const, 3), (warm, const, 0)]:
        c.add(f"{a['name']} then {b['name']} at {m}", {"name": "SequentialLR", "schedulers": [a, b], "milestones": [m]}, 30)
    c.add("three phases", {"name": "SequentialLR", "schedulers": [warm, const, cos], "milestones": [5, 10]}, 40)
    c.add("duplicate milestones", {"name": "SequentialLR", "schedulers": [warm, const, exp], "milestones": [4, 4]}, 12)
    c.add("unsorted milestones", {"name": "SequentialLR", "schedulers": [exp, step, cos], "milestones": [8, 3]}, 15)
    c.add("nested chained", {"name": "SequentialLR", "milestones": [4],
                             "schedulers": [warm, {"name": "ChainedScheduler", "schedulers": [exp, step]}]}, 10)
    c.add("nested sequential", {"name": "SequentialLR", "milestones": [3],
                                "schedulers": [{"name": "SequentialLR", "schedulers": [const, exp], "milestones": [2]}, cos]}, 10)
    c.add("milestone count mismatch", {"name": "SequentialLR", "schedulers": [warm, cos], "milestones": [2, 4]}, 3)
    c.add("no schedulers", {"name": "SequentialLR", "schedulers": [], "milestones": []}, 3)
    c.add("with plateau", {"name": "SequentialLR", "schedulers": [warm, {"name": "ReduceLROnPlateau"}], "milestones": [3]}, 3)
    c.add("one scheduler", {"name": "SequentialLR", "schedulers": [cos], "milestones": []}, 25)


def chained_scheduler(c):
    const = {"name": "ConstantLR", "factor": 0.1, "total_iters": 2}
    exp = {"name": "ExponentialLR", "gamma": 0.9}
    warm = {"name": "LinearLR", "start_factor": 0.25, "total_iters": 4}
    cos = {"name": "CosineAnnealingLR", "T_max": 10, "eta_min": 0.001}
    step = {"name": "StepLR", "step_size": 3, "gamma": 0.5}
    multi = {"name": "MultiStepLR", "milestones": [2, 5]}
    poly = {"name": "PolynomialLR", "total_iters": 8}
    mul = {"name": "MultiplicativeLR", "lr_lambda": "0.95"}
    lam = {"name": "LambdaLR", "lr_lambda": "1 / (epoch + 1)"}
    cawr = {"name": "CosineAnnealingWarmRestarts", "T_0": 3, "T_mult": 2}
    for group in [[const, exp], [exp, const], [warm, cos], [cos, warm], [step, multi], [warm, step, exp], [poly, mul],
                  [mul, warm], [lam, step], [cawr, const], [multi, poly, mul], [cos], [exp, exp], [warm, cawr]]:
        c.add("+".join(s["name"] for s in group), {"name": "ChainedScheduler", "schedulers": group}, 20)
    c.add("nested sequential", {"name": "ChainedScheduler",
                                "schedulers": [{"name": "SequentialLR", "schedulers": [warm, cos], "milestones": [4]}, step]}, 20)
    c.add("nested chained", {"name": "ChainedScheduler",
                             "schedulers": [{"name": "ChainedScheduler", "schedulers": [const, exp]}, step]}, 12)


def metrics_sequence(kind, n, rnd):
    if kind == "falling":
        return [1.0 / (k + 1) for k in range(n)]
    if kind == "flat":
        return [1.0] * n
    if kind == "rising":
        return [float(k) for k in range(n)]
    if kind == "tiny-improvements":
        return [1.0 - 1e-5 * k for k in range(n)]
    if kind == "abs-steps":
        return [1.0 - 0.005 * k for k in range(n)]
    if kind == "noisy":
        return [round(1.0 / (1 + 0.2 * k) + rnd.uniform(-0.05, 0.05), 6) for k in range(n)]
    if kind == "plateaus":
        return [float(3 - min(k // 7, 3)) for k in range(n)]
    if kind == "negative":
        return [-1.0 - 0.01 * (k % 5) for k in range(n)]
    raise ValueError(kind)


def reduce_lr_on_plateau(c):
    rnd = random.Random(1234)
    kinds = ["falling", "flat", "rising", "tiny-improvements", "abs-steps", "noisy", "plateaus", "negative"]
    for mode, tmode, kind in itertools.product(["min", "max"], ["rel", "abs"], kinds):
        metrics = metrics_sequence(kind, 30, rnd)
        c.add(f"{mode} {tmode} {kind}", {"name": "ReduceLROnPlateau", "mode": mode, "threshold_mode": tmode,
                                          "patience": 2, "threshold": 0.01}, 30, metrics=metrics)
    for patience, cooldown in itertools.product([0, 1, 3], [0, 1, 2, 5]):
        c.add(f"patience={patience} cooldown={cooldown}", {"name": "ReduceLROnPlateau", "patience": patience, "cooldown": cooldown,
                                                           "factor": 0.5}, 30, metrics=[1.0] * 30)
    c.add("seed example", {"name": "ReduceLROnPlateau", "mode": "min", "patience": 2, "cooldown": 2}, 15,
          metrics=[1.0] * 15, optimizer={"name": "sgd", "lr": 0.1, "momentum": 0.9})
    c.add("per-group min_lr", {"name": "ReduceLROnPlateau", "patience": 0, "factor": 0.5, "min_lr": [0.02, 0.004]}, 12,
          metrics=[1.0] * 12, optimizer={"name": "sgd", "lr": [0.1, 0.01]})
    c.add("per-group min_lr three", {"name": "ReduceLROnPlateau", "patience": 1, "factor": 0.3, "min_lr": [0.01, 0.1, 0.0]}, 15,
          metrics=[2.0] * 15, optimizer={"name": "adam", "lr": [0.05, 0.2, 0.001]})
    c.add("scalar min_lr", {"name": "ReduceLROnPlateau", "patience": 0, "factor": 0.5, "min_lr": 0.03}, 8,
          metrics=[1.0] * 8, optimizer={"name": "sgd", "lr": [0.1, 0.05]})
    c.add("eps stops tiny updates", {"name": "ReduceLROnPlateau", "patience": 0, "factor": 0.5, "eps": 0.01}, 10,
          metrics=[1.0] * 10, optimizer={"name": "sgd", "lr": [0.1, 0.05]})
    c.add("min_lr count mismatch", {"name": "ReduceLROnPlateau", "min_lr": [0.1, 0.2, 0.3]}, 2, metrics=[1.0, 1.0],
          optimizer={"name": "sgd", "lr": [0.1, 0.05]})
    c.add("factor 1", {"name": "ReduceLROnPlateau", "factor": 1.0}, 2, metrics=[1.0, 1.0])
    c.add("factor 0", {"name": "ReduceLROnPlateau", "factor": 0.0, "patience": 0}, 4, metrics=[1.0] * 4)
    c.add("infinite metrics", {"name": "ReduceLROnPlateau", "patience": 0}, 4, metrics=[float("inf"), 1.0, 1.0, float("inf")])
    c.add("zero threshold", {"name": "ReduceLROnPlateau", "threshold": 0.0, "patience": 1}, 12,
          metrics=[1.0, 1.0, 0.9, 0.9, 0.9, 0.8, 0.8, 0.8, 0.8, 0.7, 0.7, 0.7])


def cyclic_lr(c):
    for mode, up, down in itertools.product(["triangular", "triangular2", "exp_range"], [1, 2, 5], [None, 3]):
        s = {"name": "CyclicLR", "base_lr": 0.01, "max_lr": 0.1, "step_size_up": up, "mode": mode, "gamma": 0.95}
        if down is not None:
            s["step_size_down"] = down
        c.add(f"{mode} up={up} down={down}", s, 40, optimizer={"name": "sgd", "lr": 0.1, "momentum": 0.9})
    for o in OPTS:
        n = n_groups(o)
        base = [0.001, 0.01, 0.005][:n] if n > 1 else 0.001
        mx = [0.1, 0.05, 0.2][:n] if n > 1 else 0.1
        s = {"name": "CyclicLR", "base_lr": base, "max_lr": mx, "step_size_up": 4, "step_size_down": 2}
        if o["name"] == "sgd" and o.get("momentum", 0) == 0:
            s["cycle_momentum"] = False
        if o["name"] == "sgd" and n > 1 and o.get("momentum"):
            s["base_momentum"] = [0.8, 0.7, 0.6][:n]
            s["max_momentum"] = [0.9, 0.95, 0.99][:n]
        c.add(f"{label(o)} momentum", s, 20, optimizer=o)
    for e, sm in itertools.product(["1 / (2 ^ (x - 1))", "0.9 ** x", "1 / (1 + x / 10)"], ["cycle", "iterations"]):
        c.add(f"scale_fn {e} {sm}", {"name": "CyclicLR", "base_lr": 0.01, "max_lr": 0.1, "step_size_up": 3, "scale_fn": e,
                                     "scale_mode": sm, "cycle_momentum": False}, 30)
    c.add("scale_fn raises", {"name": "CyclicLR", "base_lr": 0.01, "max_lr": 0.1, "step_size_up": 2, "scale_fn": "1 / (x - 2)",
                              "cycle_momentum": False}, 8)
    c.add("seed example", {"name": "CyclicLR", "base_lr": 0.01, "max_lr": 0.1, "step_size_up": 5}, 30,
          optimizer={"name": "sgd", "lr": 0.1, "momentum": 0.9})
    c.add("defaults long", {"name": "CyclicLR", "base_lr": 0.001, "max_lr": 0.006}, 4100,
          optimizer={"name": "sgd", "lr": 0.1, "momentum": 0.9})
    c.add("fractional step_size", {"name": "CyclicLR", "base_lr": 0.01, "max_lr": 0.1, "step_size_up": 3, "step_size_down": 4,
                                   "cycle_momentum": False}, 20)
    c.add("cycle_momentum without momentum", {"name": "CyclicLR", "base_lr": 0.01, "max_lr": 0.1}, 3,
          optimizer={"name": "sgd", "lr": 0.1})
    c.add("base_lr count mismatch", {"name": "CyclicLR", "base_lr": [0.01, 0.02, 0.03], "max_lr": 0.1, "cycle_momentum": False}, 3,
          optimizer={"name": "sgd", "lr": [0.1, 0.2]})
    c.add("max_lr count mismatch", {"name": "CyclicLR", "base_lr": 0.01, "max_lr": [0.1], "cycle_momentum": False}, 3,
          optimizer={"name": "sgd", "lr": [0.1, 0.2]})
    c.add("max below base", {"name": "CyclicLR", "base_lr": 0.1, "max_lr": 0.01, "step_size_up": 2, "cycle_momentum": False}, 10)
    c.add("step_size_up 0", {"name": "CyclicLR", "base_lr": 0.01, "max_lr": 0.1, "step_size_up": 0, "step_size_down": 0,
                             "cycle_momentum": False}, 3)


def one_cycle_lr(c):
    for total, pct, anneal, three in itertools.product([10, 25, 100], [0.3, 0.5, 0.15], ["cos", "linear"], [False, True]):
        s = {"name": "OneCycleLR", "max_lr": 0.1, "total_steps": total, "pct_start": pct, "anneal_strategy": anneal,
             "three_phase": three}
        c.add(f"total={total} pct={pct} {anneal} three_phase={three}", s, total - 1,
              optimizer={"name": "sgd", "lr": 0.1, "momentum": 0.9})
    for o in OPTS:
        n = n_groups(o)
        mx = [0.1, 0.05, 0.2][:n] if n > 1 else 0.1
        s = {"name": "OneCycleLR", "max_lr": mx, "epochs": 3, "steps_per_epoch": 5}
        if o["name"] == "sgd" and o.get("momentum", 0) == 0:
            s["cycle_momentum"] = False
        if o["name"] == "sgd" and n > 1 and o.get("momentum"):
            s["base_momentum"] = [0.8, 0.7, 0.6][:n]
            s["max_momentum"] = [0.9, 0.95, 0.99][:n]
        c.add(f"{label(o)} last legal step", s, 14, optimizer=o)
        c.add(f"{label(o)} step past the end", s, 16, optimizer=o)
    c.add("seed example", {"name": "OneCycleLR", "max_lr": 0.01, "steps_per_epoch": 10, "epochs": 10}, 100,
          optimizer={"name": "sgd", "lr": 0.1, "momentum": 0.9})
    c.add("div factors", {"name": "OneCycleLR", "max_lr": 1.0, "total_steps": 20, "div_factor": 10.0, "final_div_factor": 100.0,
                          "cycle_momentum": False}, 19)
    c.add("momentum bounds", {"name": "OneCycleLR", "max_lr": 0.1, "total_steps": 12, "base_momentum": 0.5,
                              "max_momentum": 0.99}, 11, optimizer={"name": "sgd", "lr": 0.1, "momentum": 0.9})
    c.add("no total_steps", {"name": "OneCycleLR", "max_lr": 0.1}, 1)
    c.add("total_steps 0", {"name": "OneCycleLR", "max_lr": 0.1, "total_steps": 0}, 1)
    c.add("epochs 0", {"name": "OneCycleLR", "max_lr": 0.1, "epochs": 0, "steps_per_epoch": 5}, 1)
    c.add("steps_per_epoch negative", {"name": "OneCycleLR", "max_lr": 0.1, "epochs": 2, "steps_per_epoch": -5}, 1)
    c.add("pct_start above 1", {"name": "OneCycleLR", "max_lr": 0.1, "total_steps": 10, "pct_start": 1.5}, 1)
    c.add("zero-length phase", {"name": "OneCycleLR", "max_lr": 0.1, "total_steps": 2, "pct_start": 0.3,
                                "cycle_momentum": False}, 2)
    c.add("max_lr count mismatch", {"name": "OneCycleLR", "max_lr": [0.1, 0.2, 0.3], "total_steps": 10,
                                    "cycle_momentum": False}, 2, optimizer={"name": "sgd", "lr": [0.1, 0.2]})
    c.add("cycle_momentum without momentum", {"name": "OneCycleLR", "max_lr": 0.1, "total_steps": 10}, 9,
          optimizer={"name": "sgd", "lr": 0.1})


def cosine_annealing_warm_restarts(c):
    for t0, mult, eta in itertools.product([1, 3, 10], [1, 2, 3], [0.0, 0.001]):
        c.add(f"T_0={t0} T_mult={mult} eta_min={eta}", {"name": "CosineAnnealingWarmRestarts", "T_0": t0, "T_mult": mult,
                                                          "eta_min": eta}, 40)
    for t0, mult, iters in [(2, 1, 4), (3, 2, 5), (5, 1, 3), (1, 3, 7)]:
        epochs = [e + i / iters for e in range(8) for i in range(iters)]
        c.add(f"fractional T_0={t0} T_mult={mult} iters={iters}", {"name": "CosineAnnealingWarmRestarts", "T_0": t0,
                                                                    "T_mult": mult}, len(epochs), epochs=epochs)
    c.add("explicit epochs going back", {"name": "CosineAnnealingWarmRestarts", "T_0": 4, "T_mult": 2}, 8,
          epochs=[0.0, 5.5, 2.25, 20.0, 3.0, 0.5, 13.75, 100.0])
    c.add("negative epoch", {"name": "CosineAnnealingWarmRestarts", "T_0": 4}, 3, epochs=[1.0, -1.0, 2.0])
    c.add("T_0 0", {"name": "CosineAnnealingWarmRestarts", "T_0": 0}, 3)
    c.add("T_mult 0", {"name": "CosineAnnealingWarmRestarts", "T_0": 3, "T_mult": 0}, 3)
    c.add("eta_min above base", {"name": "CosineAnnealingWarmRestarts", "T_0": 3, "eta_min": 0.5}, 10)


def seed_examples(c):
    """The examples of ../shared/seed/lr-decay-strategies-pytorch.md, one per section."""
    one = {"name": "sgd", "lr": 1.0}
    sgd = {"name": "sgd", "lr": 0.05}
    c.add("StepLR step_size=3 gamma=0.1", {"name": "StepLR", "step_size": 3, "gamma": 0.1}, 9, optimizer=sgd)
    c.add("StepLR step_size=30 (the 0.05 / 0.005 / 0.0005 example)", {"name": "StepLR", "step_size": 30}, 95, optimizer=sgd)
    c.add("MultiStepLR milestones=[2,5,8]", {"name": "MultiStepLR", "milestones": [2, 5, 8], "gamma": 0.1}, 9, optimizer=sgd)
    c.add("MultiStepLR milestones=[30,80]", {"name": "MultiStepLR", "milestones": [30, 80]}, 95, optimizer=sgd)
    c.add("ExponentialLR gamma=0.1", {"name": "ExponentialLR", "gamma": 0.1}, 9, optimizer=sgd)
    c.add("LinearLR start_factor=0.5 total_iters=4", {"name": "LinearLR", "start_factor": 0.5, "total_iters": 4}, 9, optimizer=sgd)
    c.add("ConstantLR factor=0.5 total_iters=4", {"name": "ConstantLR", "factor": 0.5, "total_iters": 4}, 9, optimizer=sgd)
    c.add("LambdaLR epoch/30", {"name": "LambdaLR", "lr_lambda": "epoch / 30"}, 9, optimizer=sgd)
    c.add("MultiplicativeLR 0.95", {"name": "MultiplicativeLR", "lr_lambda": "0.95"}, 9, optimizer=sgd)
    c.add("CosineAnnealingLR T_max=3", {"name": "CosineAnnealingLR", "T_max": 3, "eta_min": 0.0}, 12,
          optimizer={"name": "sgd", "lr": 0.01})
    const = {"name": "ConstantLR", "factor": 0.1, "total_iters": 2}
    exp = {"name": "ExponentialLR", "gamma": 0.9}
    c.add("ChainedScheduler ConstantLR+ExponentialLR", {"name": "ChainedScheduler", "schedulers": [const, exp]}, 9, optimizer=one)
    c.add("SequentialLR ConstantLR then ExponentialLR at 2", {"name": "SequentialLR", "schedulers": [const, exp],
                                                             "milestones": [2]}, 9, optimizer=one)
    c.add("ReduceLROnPlateau patience=2 cooldown=2", {"name": "ReduceLROnPlateau", "mode": "min", "patience": 2, "cooldown": 2},
          12, metrics=[1.0] * 12, optimizer=sgd)
    mom = {"name": "sgd", "lr": 0.1, "momentum": 0.9}
    c.add("CyclicLR base_lr=0.01 max_lr=0.1", {"name": "CyclicLR", "base_lr": 0.01, "max_lr": 0.1}, 8000, optimizer=mom)
    c.add("OneCycleLR max_lr=0.01 steps_per_epoch=10 epochs=10", {"name": "OneCycleLR", "max_lr": 0.01, "steps_per_epoch": 10,
                                                                   "epochs": 10}, 99, optimizer=mom)
    iters = 5
    epochs = [e + i / iters for e in range(20) for i in range(iters)]
    c.add("CosineAnnealingWarmRestarts T_0=3 T_mult=2 step(epoch + i / iters)",
          {"name": "CosineAnnealingWarmRestarts", "T_0": 3, "T_mult": 2}, len(epochs), epochs=epochs, optimizer=sgd)
    c.add("PolynomialLR total_iters=4 power=1", {"name": "PolynomialLR", "total_iters": 4, "power": 1.0}, 6, optimizer=sgd)


FILES = {
    "StepLR": step_lr,
    "MultiStepLR": multi_step_lr,
    "ConstantLR": constant_lr,
    "LinearLR": linear_lr,
    "ExponentialLR": exponential_lr,
    "PolynomialLR": polynomial_lr,
    "CosineAnnealingLR": cosine_annealing_lr,
    "LambdaLR": lambda_lr,
    "MultiplicativeLR": multiplicative_lr,
    "SequentialLR": sequential_lr,
    "ChainedScheduler": chained_scheduler,
    "ReduceLROnPlateau": reduce_lr_on_plateau,
    "CyclicLR": cyclic_lr,
    "OneCycleLR": one_cycle_lr,
    "CosineAnnealingWarmRestarts": cosine_annealing_warm_restarts,
    "seed": seed_examples,
}


def run_cases(cases, runner=None):
    """Runs every case (their names must be unique) through `runner` (default
    `run`), with the references' warnings silenced: the generators' loop."""
    names = [case["name"] for case in cases]
    dup = {n for n in names if names.count(n) > 1}
    assert not dup, f"duplicate case names: {dup}"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return [(runner or run)(case) for case in cases]


def render(build):
    c = Cases()
    build(c)
    cases = run_cases(c.cases)
    return json.dumps({"torch_version": TORCH_VERSION, "cases": cases}, indent=1, allow_nan=False) + "\n", len(cases)


def check_flag(doc):
    """The generators' command line: `--check` compares with the committed
    files instead of writing them."""
    ap = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--check", action="store_true", help="compare with the committed files instead of writing them")
    return ap.parse_args().check


def write_or_check(tool, outputs, check, reference):
    """Writes each `(path, text)`, or with `check` exits naming the files that
    differ from what `reference` (e.g. "PyTorch 2.13.0") produces."""
    stale = []
    for path, text in outputs:
        path.parent.mkdir(parents=True, exist_ok=True)
        if check:
            if not path.exists() or path.read_text() != text:
                stale.append(path.name)
        else:
            path.write_text(text)
    if stale:
        sys.exit(f"{tool}: these fixtures differ from what {reference} produces: {', '.join(stale)}\n"
                 f"run `python scripts/{tool}.py` and commit the result")


def main():
    check = check_flag(__doc__)
    version = torch.__version__.split("+")[0]
    if version != TORCH_VERSION:
        sys.exit(f"gen_fixtures: PyTorch {TORCH_VERSION} expected, found {torch.__version__}")
    rendered = {name: render(build) for name, build in FILES.items()}
    outputs = [(OUT / f"{name}.json", text) for name, (text, _) in rendered.items()]
    write_or_check("gen_fixtures", outputs, check, f"PyTorch {TORCH_VERSION}")
    total = sum(n for _, n in rendered.values())
    print(f"gen_fixtures: {total} cases in {len(FILES)} files {'match PyTorch' if check else 'written'} in {OUT.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
