#!/usr/bin/env python3
"""Writes what timm's own schedulers do (timm 1.0.31 on PyTorch 2.13.0):

- tests/fixtures/parity/timm.<Class>.json for CosineLRScheduler,
  TanhLRScheduler, StepLRScheduler, MultiStepLRScheduler, PolyLRScheduler and
  WSDLRScheduler, in the format of scripts/gen_fixtures.py: each case a tch-lr
  config (scheduler `name: timm.<Class>`, timm's keyword arguments) and, after
  construction (row 0) and after each `step(t)` (`step_update(t)` when
  `t_in_epochs` is false) with t = 1, 2, ... (or the case's `epochs`), each
  group's `lr`, the LRs written (`last_lr`: timm has no get_last_lr()) and
  momentum (beta1 for AdamW); the row, type and message of the first
  exception. Each file also holds timm's signature (`signature`: keyword,
  required, default) for tests/timm.rs to compare with the registry.
- tests/fixtures/timm_rng.json: what `torch.Generator` gives, as bits, for
  `torch.randn(1)` and `torch.rand(1)` over thousands of seeds, and timm's
  `Scheduler._calculate_noise` over thousands of (seed, t, std, pct), for
  the pure-Rust port of the generator (src/schedulers/timm/noise.rs).

    python scripts/gen_fixtures_timm.py          # (re)write the fixtures
    python scripts/gen_fixtures_timm.py --check  # fail if they differ from timm

The output is deterministic: the same timm and PyTorch give byte-identical files.
"""

import importlib.util
import inspect
import json
import logging
import random
import struct
import sys
import types
from importlib.metadata import version
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
import gen_fixtures as G  # noqa: E402
from gen_fixtures import TORCH_VERSION  # noqa: E402

# `import timm.scheduler` would import timm/__init__, which needs torchvision:
# a bare `timm` package whose path is the installed one gives the scheduler
# modules alone (they need torch and numpy only).
_spec = importlib.util.find_spec("timm")
_timm = types.ModuleType("timm")
_timm.__path__ = list(_spec.submodule_search_locations)
sys.modules["timm"] = _timm
from timm import scheduler as ts  # noqa: E402
from timm.scheduler.scheduler import Scheduler  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "tests" / "fixtures" / "parity"
RNG = ROOT / "tests" / "fixtures" / "timm_rng.json"
TIMM_VERSION = "1.0.31"

# Keywords tch-lr takes elsewhere: the optimizer the schedule is built on, and
# `initialize` (tch-lr always initializes, timm's default).
NOT_KWARGS = {"self", "optimizer", "initialize"}

# The exceptions timm's schedules may raise here, as tch-lr reports them.
KNOWN_ERRORS = {"ValueError", "ZeroDivisionError", "OverflowError", "AssertionError"}


# ---------------------------------------------------------------------------
# Running a case
# ---------------------------------------------------------------------------
def timm_class(name):
    assert name.startswith("timm."), name
    return getattr(ts, name[len("timm."):])


class Stepped:
    """A timm schedule stepped as tch-lr steps it: `step()` is timm's
    `step(t + 1)` (`step_update(t + 1)` when not `t_in_epochs`), `step(t)` is
    timm's `step(t)`; `get_last_lr()` is the LRs last written."""

    def __init__(self, sched):
        self.sched = sched
        self.optimizer = sched.optimizer
        self.t = 0

    def step(self, t=None):
        self.t = self.t + 1 if t is None else t
        if self.sched.t_in_epochs:
            self.sched.step(self.t)
        else:
            self.sched.step_update(self.t)

    def get_last_lr(self):
        return [g["lr"] for g in self.optimizer.param_groups]


def build_scheduler(opt, s):
    """The timm schedule of the config mapping `s` (`name: timm.<Class>`), as a
    `Stepped` (for scripts/references.py and scripts/trace_torch.py)."""
    return Stepped(timm_class(s["name"])(opt, **{k: v for k, v in s.items() if k != "name"}))


def run(case):
    """Runs one case through timm and fills case["expected"]; the exception
    types timm raises are known (anything else is a bug of the case)."""
    case = G.run(case, build_scheduler)
    error = case["expected"]["error"]
    assert error is None or error["type"] in KNOWN_ERRORS, f"{case['name']}: {error}"
    return case


def signature(name):
    """timm's keyword arguments: name, required, default (JSON)."""
    params = inspect.signature(timm_class(name).__init__).parameters.values()
    out = []
    for p in params:
        if p.name in NOT_KWARGS:
            continue
        required = p.default is inspect.Parameter.empty
        out.append({"name": p.name, "required": required, "default": None if required else p.default})
    return out


# ---------------------------------------------------------------------------
# The cases
# ---------------------------------------------------------------------------
GROUPS = [[0.1], [0.1, 0.01], [0.05, 0.2, 0.001]]
OPTS = [
    {"name": "sgd", "lr": 0.1},
    {"name": "adamw", "lr": [0.1, 0.01], "betas": [0.85, 0.99]},
    {"name": "sgd", "lr": [0.05, 0.2, 0.001], "momentum": 0.9},
    {"name": "adamw", "lr": 0.1},
    {"name": "sgd", "lr": [0.1, 0.01], "momentum": 0.9},
    {"name": "adamw", "lr": [0.05, 0.2, 0.001]},
]


class Cases:
    def __init__(self, name, seed):
        self.name = name
        self.cases = []
        self.i = 0
        self.rnd = random.Random(seed)

    def add(self, label, kwargs, steps, optimizer=None, **extra):
        if optimizer is None:
            optimizer = OPTS[self.i % len(OPTS)]
            self.i += 1
        scheduler = dict({"name": self.name}, **kwargs)
        case = {"name": label, "config": {"optimizer": optimizer, "scheduler": scheduler}, "steps": steps}
        case.update(extra)
        self.cases.append(case)

    def optimizer(self):
        """A random optimizer: SGD (with or without momentum) or AdamW, 1-3 groups."""
        r = self.rnd
        n = r.randint(1, 3)
        lrs = [r.choice([0.1, 0.05, 0.01, 1.0, 0.003, 0.2]) if r.random() < 0.5 else round(r.uniform(1e-4, 1.0), 5)
               for _ in range(n)]
        o = {"name": r.choice(["sgd", "adamw"]), "lr": lrs[0] if n == 1 else lrs}
        if o["name"] == "sgd" and r.random() < 0.5:
            o["momentum"] = 0.9
        if o["name"] == "adamw" and r.random() < 0.5:
            o["betas"] = [0.85, 0.99]
        return o

    def base_kwargs(self, warmup_prefix=True):
        """Random warmup, clock and (sometimes) noise arguments."""
        r = self.rnd
        kw = {}
        if r.random() < 0.6:
            kw["warmup_t"] = r.choice([1, 2, 3, 5, 10, 20])
            kw["warmup_lr_init"] = r.choice([0.0, 1e-5, 1e-4, 0.001])
        if warmup_prefix and r.random() < 0.5:
            kw["warmup_prefix"] = r.random() < 0.5
        if r.random() < 0.5:
            kw["t_in_epochs"] = False
        if r.random() < 0.3:
            kw.update(self.noise())
        return kw

    def noise(self):
        r = self.rnd
        a = r.randint(0, 30)
        kw = {"noise_range_t": a if r.random() < 0.4 else [a, a + r.randint(1, 100)]}
        if r.random() < 0.5:
            kw["noise_pct"] = r.choice([0.67, 0.1, 0.3, 1.0, 0.05])
        if r.random() < 0.5:
            kw["noise_std"] = r.choice([1.0, 0.5, 2.0, 0.1])
        if r.random() < 0.7:
            kw["noise_seed"] = r.randint(0, 2**31)
        return kw

    def random(self, count, kwargs_fn):
        """`count` random configs: the class's arguments from `kwargs_fn`, the base
        class's from `base_kwargs`, a random optimizer and length."""
        has_prefix = "warmup_prefix" in inspect.signature(timm_class(self.name).__init__).parameters
        for k in range(count):
            kw = dict(kwargs_fn(self.rnd), **self.base_kwargs(has_prefix))
            steps = self.rnd.choice([20, 25, 30, 40, 50, 60, 80, 100, 150, 200, 300])
            self.add(f"random {k}", kw, steps, optimizer=self.optimizer())


def cycles(r, k_decay=True):
    kw = {"t_initial": r.choice([1, 2, 5, 10, 20, 37, 50, 100, 200])}
    if r.random() < 0.6:
        kw["lr_min"] = r.choice([0.0, 1e-5, 1e-4, 0.001])
    if r.random() < 0.5:
        kw["cycle_mul"] = r.choice([1.0, 2.0, 1.5, 3.0])
    if r.random() < 0.5:
        kw["cycle_decay"] = r.choice([1.0, 0.5, 0.8, 0.1])
    if r.random() < 0.6:
        kw["cycle_limit"] = r.choice([1, 2, 3, 5, 100])
    if k_decay and r.random() < 0.4:
        kw["k_decay"] = r.choice([1.0, 0.5, 1.5, 2.0])
    return kw


def noise_cases(c, base):
    """The noise: ranges, bounds, spreads and seeds, timm's generator bit for bit."""
    for rng in [0, 5, [10, 40], [0, 1000], [3, 4], [50, 20]]:
        c.add(f"noise_range_t={rng}", dict(base, noise_range_t=rng), 60)
    for pct, std in [(0.67, 1.0), (0.05, 1.0), (0.01, 1.0), (1.0, 0.5), (0.3, 2.0), (0.5, 0.0), (0.2, -1.0), (2.0, 1.0)]:
        c.add(f"noise_pct={pct} noise_std={std}", dict(base, noise_range_t=0, noise_pct=pct, noise_std=std), 40)
    for seed in [0, 1, 42, 2**31 - 1, 2**32 - 10, 2**32, 2**40 + 7, 2**63 - 100, -5, -(2**40)]:
        c.add(f"noise_seed={seed}", dict(base, noise_range_t=0, noise_seed=seed), 30)
    c.add("noise per update", dict(base, noise_range_t=[5, 300], t_in_epochs=False), 300)
    c.add("noise at explicit t", dict(base, noise_range_t=2), 8, epochs=[0, 7, 3, 3, 100, 2, 1, 50])


def cosine(c):
    c.random(40, cycles)
    c.add("golden: design note step(87)", {"t_initial": 50, "warmup_t": 5, "warmup_lr_init": 1e-4, "cycle_mul": 2.0,
                                           "cycle_decay": 0.5, "cycle_limit": 3, "lr_min": 1e-5, "k_decay": 1.5}, 120,
          optimizer={"name": "sgd", "lr": 0.1})
    c.add("golden: noise [20, 80] step(33)", {"t_initial": 100, "noise_range_t": [20, 80]}, 100,
          optimizer={"name": "sgd", "lr": 0.1})
    c.add("warmup never reaches base (no warmup_prefix)", {"t_initial": 10, "warmup_t": 3, "warmup_lr_init": 0.1}, 15,
          optimizer={"name": "sgd", "lr": 1.0})
    c.add("warmup_prefix reaches base", {"t_initial": 10, "warmup_t": 3, "warmup_lr_init": 0.1, "warmup_prefix": True},
          15, optimizer={"name": "sgd", "lr": 1.0})
    c.add("restarts", {"t_initial": 10, "cycle_limit": 4, "cycle_decay": 0.5, "lr_min": 0.001}, 50)
    c.add("cycle_mul 2", {"t_initial": 5, "cycle_mul": 2.0, "cycle_limit": 5}, 160)
    c.add("cycle_mul 0.5 ends in a math domain error", {"t_initial": 10, "cycle_mul": 0.5, "cycle_limit": 100}, 40)
    c.add("k_decay 2", {"t_initial": 30, "k_decay": 2.0, "lr_min": 1e-4}, 40)
    c.add("t_initial 1", {"t_initial": 1}, 5)
    c.add("negative warmup_t", {"t_initial": 10, "warmup_t": -3, "warmup_lr_init": 0.01, "warmup_prefix": True}, 20)
    c.add("explicit t", {"t_initial": 20, "warmup_t": 2}, 8, epochs=[0, 5, 100, 3, 3, 50, 1, 19])
    c.add("t_initial 0", {"t_initial": 0}, 3)
    c.add("t_initial negative", {"t_initial": -5}, 3)
    c.add("lr_min negative", {"t_initial": 10, "lr_min": -0.1}, 3)
    noise_cases(c, {"t_initial": 50, "lr_min": 1e-4})


def tanh(c):
    def kwargs(r):
        kw = cycles(r, k_decay=False)
        if r.random() < 0.5:
            kw["lb"], kw["ub"] = r.choice([(-7.0, 3.0), (-5.0, 5.0), (-3.0, 2.0), (-10.0, 1.0)])
        return kw

    c.random(40, kwargs)
    c.add("defaults", {"t_initial": 20}, 25)
    c.add("warmup meets the curve (no warmup_prefix)", {"t_initial": 20, "warmup_t": 5, "warmup_lr_init": 0.001}, 30)
    c.add("warmup_prefix", {"t_initial": 20, "warmup_t": 5, "warmup_lr_init": 0.001, "warmup_prefix": True}, 30)
    c.add("restarts", {"t_initial": 8, "cycle_limit": 4, "cycle_decay": 0.7, "lr_min": 1e-4}, 40)
    c.add("cycle_mul 2", {"t_initial": 5, "cycle_mul": 2.0, "cycle_limit": 4}, 80)
    c.add("cycle_mul 0.5 ends in a math domain error", {"t_initial": 10, "cycle_mul": 0.5, "cycle_limit": 100}, 40)
    c.add("cycle_limit 0", {"t_initial": 10, "cycle_limit": 0}, 5)
    c.add("explicit t", {"t_initial": 20, "warmup_t": 2}, 6, epochs=[0, 4, 40, 2, 19, 1])
    c.add("t_initial 0", {"t_initial": 0}, 3)
    c.add("lr_min negative", {"t_initial": 10, "lr_min": -0.1}, 3)
    c.add("lb not below ub", {"t_initial": 10, "lb": 3.0, "ub": 3.0}, 3)
    c.add("cycle_limit negative", {"t_initial": 10, "cycle_limit": -1}, 3)
    c.add("warmup_t negative", {"t_initial": 10, "warmup_t": -1}, 3)
    c.add("warmup_lr_init negative", {"t_initial": 10, "warmup_lr_init": -0.1}, 3)
    c.add("math domain error in the constructor", {"t_initial": 10, "cycle_mul": 0.5, "warmup_t": 30}, 3)
    noise_cases(c, {"t_initial": 50, "lr_min": 1e-4})


def step(c):
    def kwargs(r):
        kw = {"decay_t": r.choice([1.0, 2.0, 2.5, 3.0, 7.0, 10.0, 30.0, 0.7]) if r.random() < 0.7
              else r.choice([1, 3, 5, 20])}
        if r.random() < 0.8:
            kw["decay_rate"] = r.choice([0.1, 0.5, 0.9, 1.0, 0.97])
        return kw

    c.random(40, kwargs)
    c.add("decay_t 30 decay_rate 0.1", {"decay_t": 30.0, "decay_rate": 0.1}, 95, optimizer={"name": "sgd", "lr": 0.05})
    c.add("defaults: decay_rate 1", {"decay_t": 3.0}, 10)
    c.add("int decay_t", {"decay_t": 4, "decay_rate": 0.5}, 20)
    c.add("fractional decay_t", {"decay_t": 2.5, "decay_rate": 0.5}, 20)
    c.add("warmup_prefix", {"decay_t": 3.0, "decay_rate": 0.5, "warmup_t": 4, "warmup_lr_init": 1e-4}, 20)
    c.add("no warmup_prefix", {"decay_t": 3.0, "decay_rate": 0.5, "warmup_t": 4, "warmup_lr_init": 1e-4,
                               "warmup_prefix": False}, 20)
    c.add("decay_rate 2 grows", {"decay_t": 2.0, "decay_rate": 2.0}, 12)
    c.add("decay_t 0", {"decay_t": 0.0}, 3)
    c.add("decay_t 0 after a warmup", {"decay_t": 0.0, "warmup_t": 3}, 6)
    c.add("negative decay_t", {"decay_t": -2.0, "decay_rate": 0.5}, 6)
    c.add("decay_rate 0 to a negative power", {"decay_t": -2.0, "decay_rate": 0.0}, 3)
    c.add("explicit t", {"decay_t": 5.0, "decay_rate": 0.5}, 6, epochs=[0, 4, 5, 100, 9, 1])
    noise_cases(c, {"decay_t": 10.0, "decay_rate": 0.5})


def multistep(c):
    def kwargs(r):
        k = r.randint(0, 4)
        kw = {"decay_t": sorted(r.randint(0, 150) for _ in range(k))}
        if r.random() < 0.8:
            kw["decay_rate"] = r.choice([0.1, 0.5, 0.9, 1.0])
        return kw

    c.random(40, kwargs)
    for ms in [[2, 5, 8], [30, 80], [0, 1], [1], [0], [3, 3, 6], [], [5, 2], [4, 4, 4]]:
        c.add(f"decay_t={ms}", {"decay_t": ms, "decay_rate": 0.5}, 12 if max(ms, default=0) < 10 else 90)
    c.add("decay_t [0, 1] with warmup", {"decay_t": [0, 1], "decay_rate": 0.5, "warmup_t": 2, "warmup_lr_init": 0.01},
          6)
    c.add("warmup_prefix", {"decay_t": [3, 6], "decay_rate": 0.5, "warmup_t": 4, "warmup_lr_init": 1e-4}, 15)
    c.add("no warmup_prefix", {"decay_t": [3, 6], "decay_rate": 0.5, "warmup_t": 4, "warmup_lr_init": 1e-4,
                               "warmup_prefix": False}, 15)
    c.add("defaults: decay_rate 1", {"decay_t": [2, 4]}, 6)
    c.add("negative milestone", {"decay_t": [-1, 2], "decay_rate": 0.5}, 5)
    c.add("explicit t", {"decay_t": [3, 6], "decay_rate": 0.1}, 6, epochs=[0, 2, 5, 1, 100, 3])
    noise_cases(c, {"decay_t": [10, 20, 30], "decay_rate": 0.5})


def poly(c):
    def kwargs(r):
        kw = cycles(r)
        if r.random() < 0.7:
            kw["power"] = r.choice([0.5, 1.0, 2.0, 0.9, 3.0])
        return kw

    c.random(40, kwargs)
    c.add("defaults", {"t_initial": 20}, 25)
    c.add("power 1 is linear", {"t_initial": 10, "power": 1.0}, 12, optimizer={"name": "sgd", "lr": 0.1})
    c.add("warmup, no warmup_prefix", {"t_initial": 20, "warmup_t": 5, "warmup_lr_init": 1e-4}, 25)
    c.add("warmup_prefix", {"t_initial": 20, "warmup_t": 5, "warmup_lr_init": 1e-4, "warmup_prefix": True}, 30)
    c.add("k_decay 2", {"t_initial": 30, "k_decay": 2.0, "power": 1.0}, 35)
    c.add("restarts", {"t_initial": 8, "cycle_limit": 3, "cycle_decay": 0.5, "lr_min": 1e-4}, 30)
    c.add("cycle_mul 2", {"t_initial": 5, "cycle_mul": 2.0, "cycle_limit": 4}, 80)
    c.add("cycle_mul 0.5 ends in a math domain error", {"t_initial": 10, "cycle_mul": 0.5, "cycle_limit": 100}, 40)
    c.add("explicit t", {"t_initial": 20, "warmup_t": 2}, 6, epochs=[0, 4, 40, 2, 19, 1])
    c.add("t_initial 0", {"t_initial": 0}, 3)
    c.add("lr_min negative", {"t_initial": 10, "lr_min": -0.1}, 3)
    noise_cases(c, {"t_initial": 50, "power": 1.0})


def wsd(c):
    def kwargs(r):
        t_initial = r.randint(5, 200)
        kw = {"t_initial": t_initial, "decay_t": r.randint(1, t_initial)}
        if r.random() < 0.6:
            kw["lr_min"] = r.choice([0.0, 1e-5, 1e-4, 0.001])
        if r.random() < 0.8:
            kw["decay_fn"] = r.choice(["linear", "1-sqrt", "cosine", "power", "exp"])
        if r.random() < 0.4:
            kw["decay_power"] = r.choice([0.5, 1.0, 2.0, 0.3])
        if r.random() < 0.4:
            kw["decay_ratio"] = r.choice([0.1, 0.01, 0.5])
        if r.random() < 0.4:
            kw["stable_fn"] = r.choice(["rsqrt", "power"])
            kw["stable_timescale"] = float(r.choice([1, 5, 10, 50]))
            if r.random() < 0.5:
                kw["stable_power"] = r.choice([0.5, 1.0, 0.25])
        return kw

    c.random(40, kwargs)
    c.add("golden: rsqrt step_update(95)", {"t_initial": 100, "decay_t": 20, "warmup_t": 10, "stable_fn": "rsqrt",
                                            "lr_min": 1e-4, "t_in_epochs": False}, 120,
          optimizer={"name": "sgd", "lr": 0.1})
    for fn in ["linear", "1-sqrt", "cosine", "power", "exp"]:
        c.add(f"decay_fn {fn}", {"t_initial": 30, "decay_t": 10, "decay_fn": fn, "lr_min": 1e-4, "warmup_t": 3}, 40)
    c.add("rsqrt, timescale from warmup_t", {"t_initial": 40, "decay_t": 10, "stable_fn": "rsqrt", "warmup_t": 5}, 50)
    c.add("power stable fn", {"t_initial": 40, "decay_t": 10, "stable_fn": "power", "stable_power": 1.0,
                              "stable_timescale": 4.0}, 50)
    c.add("stable below lr_min", {"t_initial": 40, "decay_t": 5, "stable_fn": "rsqrt", "stable_timescale": 1.0,
                                  "lr_min": 0.02}, 45)
    c.add("decay over all of t_initial", {"t_initial": 10, "decay_t": 10}, 15)
    c.add("explicit t", {"t_initial": 20, "decay_t": 5, "warmup_t": 2}, 6, epochs=[0, 20, 40, 2, 19, 1])
    c.add("t_initial 0", {"t_initial": 0, "decay_t": 1}, 3)
    c.add("decay_t 0", {"t_initial": 10, "decay_t": 0}, 3)
    c.add("decay_t above t_initial", {"t_initial": 10, "decay_t": 11}, 3)
    c.add("lr_min negative", {"t_initial": 10, "decay_t": 5, "lr_min": -0.001}, 3)
    c.add("decay_ratio 0", {"t_initial": 10, "decay_t": 5, "decay_ratio": 0.0}, 3)
    c.add("decay_ratio 1", {"t_initial": 10, "decay_t": 5, "decay_ratio": 1.0}, 3)
    c.add("decay_power 0", {"t_initial": 10, "decay_t": 5, "decay_power": 0.0}, 3)
    c.add("stable_power negative", {"t_initial": 10, "decay_t": 5, "stable_power": -1.0}, 3)
    c.add("rsqrt without warmup", {"t_initial": 10, "decay_t": 5, "stable_fn": "rsqrt"}, 3)
    c.add("power with a negative timescale", {"t_initial": 10, "decay_t": 5, "stable_fn": "power",
                                              "stable_timescale": -1.0, "warmup_t": 3}, 3)
    noise_cases(c, {"t_initial": 50, "decay_t": 20})


FILES = {
    "timm.CosineLRScheduler": (cosine, 1),
    "timm.TanhLRScheduler": (tanh, 2),
    "timm.StepLRScheduler": (step, 3),
    "timm.MultiStepLRScheduler": (multistep, 4),
    "timm.PolyLRScheduler": (poly, 5),
    "timm.WSDLRScheduler": (wsd, 6),
}


def render(name, build, seed):
    c = Cases(name, seed)
    build(c)
    cases = G.run_cases(c.cases, run)
    return dumps(name, cases), len(cases)


def dumps(name, cases):
    """The fixture file: JSON with one row of values per line (compact, and a
    diff shows which row changed)."""
    one = lambda v: json.dumps(v, allow_nan=False)  # noqa: E731
    out = [f'{{\n "torch_version": {one(TORCH_VERSION)},\n "timm_version": {one(TIMM_VERSION)},\n "signature": [\n']
    out.append(",\n".join(f"  {one(k)}" for k in signature(name)) + "\n ],\n \"cases\": [\n")
    rendered = []
    for case in cases:
        head = {k: v for k, v in case.items() if k != "expected"}
        e = case["expected"]
        rows = [f'   {one(k)}: [\n' + ",\n".join(f"    {one(r)}" for r in e[k]) + "\n   ]" for k in ("lr", "last_lr", "momentum")]
        rendered.append(f"  {one(head)[:-1]}, \"expected\": {{\n" + ",\n".join(rows)
                        + f',\n   "error": {one(e["error"])}\n  }}}}')
    out.append(",\n".join(rendered) + "\n ]\n}\n")
    return "".join(out)


# ---------------------------------------------------------------------------
# The generator
# ---------------------------------------------------------------------------
def f32_bits(v):
    return struct.unpack("<I", struct.pack("<f", v))[0]


def f64_bits(v):
    return struct.unpack("<Q", struct.pack("<d", v))[0]


def seeds():
    """Seeds from every corner of manual_seed's range (it takes -2^63 .. 2^64 - 1)."""
    r = random.Random(10)
    out = list(range(0, 1000))
    out += [2**31 - 1, 2**31, 2**32 - 1, 2**32, 2**32 + 1, 2**63 - 1, 2**63, 2**64 - 1, -1, -2, -(2**31), -(2**63)]
    out += [r.randrange(0, 2**32) for _ in range(1500)]
    out += [r.randrange(-(2**63), 2**64) for _ in range(1500)]
    return out


def render_rng():
    g = torch.Generator()
    randn = []
    for s in seeds():
        g.manual_seed(s)
        randn.append([s, [f32_bits(torch.randn(1, generator=g).item()) for _ in range(3)]])
    long = []
    for s in [0, 42, 2**32 - 1, 123456789]:
        g.manual_seed(s)
        long.append([s, [f32_bits(torch.randn(1, generator=g).item()) for _ in range(1000)]])
    rand = []
    for s in seeds()[::3]:
        g.manual_seed(s)
        rand.append([s, [f32_bits(torch.rand(1, generator=g).item()) for _ in range(3)]])
    noise = []
    r = random.Random(11)
    for k in range(4000):
        seed = r.choice([42, 0, r.randrange(0, 2**31), r.randrange(-(2**40), 2**40)])
        t = r.randrange(0, 10_000)
        std = r.choice([1.0, 0.5, 2.0, 0.1, 3.0])
        pct = r.choice([0.67, 0.1, 0.3, 1.0, 0.05, 0.01])
        me = types.SimpleNamespace(noise_seed=seed, noise_type="normal", noise_std=std, noise_pct=pct)
        noise.append([seed, t, std, pct, f64_bits(Scheduler._calculate_noise(me, t))])
    doc = {"torch_version": TORCH_VERSION, "randn": randn, "randn_long": long, "rand": rand, "noise": noise}
    # One entry per line: compact, and a diff shows which one changed.
    lines = [f"{json.dumps(k)}: [\n" + ",\n".join(json.dumps(e) for e in v) + "\n]" if isinstance(v, list)
             else f"{json.dumps(k)}: {json.dumps(v)}" for k, v in doc.items()]
    return "{\n" + ",\n".join(lines) + "\n}\n"


def main():
    logging.disable(logging.WARNING)  # timm's "will have no effect" warnings
    check = G.check_flag(__doc__)
    found = (torch.__version__.split("+")[0], version("timm"))
    if found != (TORCH_VERSION, TIMM_VERSION):
        sys.exit(f"gen_fixtures_timm: PyTorch {TORCH_VERSION} and timm {TIMM_VERSION} expected, found {found}")
    rendered = {name: render(name, build, seed) for name, (build, seed) in FILES.items()}
    outputs = [(OUT / f"{name}.json", text) for name, (text, _) in rendered.items()] + [(RNG, render_rng())]
    G.write_or_check("gen_fixtures_timm", outputs, check, f"timm {TIMM_VERSION}")
    total = sum(n for _, n in rendered.values())
    print(f"gen_fixtures_timm: {total} cases in {len(FILES)} files and {RNG.name} "
          f"{'match timm' if check else 'written'} in {OUT.parent.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
