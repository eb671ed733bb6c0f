#!/usr/bin/env python3
"""PyTorch's side of the scheduler benchmark (`benches/schedulers.rs`).

Times `scheduler.step()` of each registered schedule (PyTorch's
`torch.optim.lr_scheduler`, transformers', timm's, DeepSpeed's 0.19.8
lr_schedules.py loaded by path), built exactly as the Rust benchmark builds them:
an SGD optimizer (momentum 0.9) with 1, 16 or 256 parameter groups of one
`[1]` parameter each, group `i` of `n` at LR `0.1 * (1 + i / n)`.

Each case is stepped in chunks timed with `time.perf_counter_ns` (the garbage
collector off, as `timeit` does); the result is the median of the chunks' ns
per step. `OneCycleLR` (100,000 steps) is rebuilt outside the timing before it
would run past its end, as the Rust benchmark reloads its state. timm's
schedules take the time explicitly: they are stepped with `step(t)`
(`step_update(t)` when not `t_in_epochs`), t = 1, 2, ..., as tch-lr steps them.

Usage: scripts/bench/pytorch.py OUT.json [--quick]
"""

import gc
import json
import platform
import statistics
import sys
import time
import warnings
from pathlib import Path

import torch
from torch.optim import lr_scheduler as L
from torch.optim.swa_utils import SWALR
from transformers.optimization import get_scheduler

sys.path[:0] = [str(Path(__file__).resolve().parents[1] / d) for d in ("reference", "fixtures")]
from common import SwaLoop, bare_timm  # noqa: E402 - PyTorch's SWA loop, as the fixtures run it
from gen_deepspeed import lr_schedules  # noqa: E402 - DeepSpeed's lr_schedules.py, loaded by path
from registry import names  # noqa: E402

bare_timm()  # timm's scheduler modules without timm/__init__ (which needs torchvision)
from timm import scheduler as T  # noqa: E402

GROUPS = [1, 16, 256]
ONE_CYCLE_TOTAL = 100_000
ONE_CYCLE_PERIOD = 90_000


def lrs(n):
    return [0.1 * (1.0 + i / n) for i in range(n)]


def optimizer(n):
    params = [torch.zeros(1, requires_grad=True) for _ in range(n)]
    return torch.optim.SGD([{"params": [p], "lr": lr} for p, lr in zip(params, lrs(n))], lr=0.1, momentum=0.9)


def times(v, k):
    return [x * k for x in v]


# name -> (opt, lrs) -> scheduler; the same parameters as benches/schedulers.rs,
# one per registered schedule in the registry's order (checked in main()).
CASES = {
    "StepLR": lambda o, l: L.StepLR(o, 1_000_000, gamma=0.1),
    "MultiStepLR": lambda o, l: L.MultiStepLR(o, [10_000 * k for k in range(1, 1001)], gamma=0.999),
    "ConstantLR": lambda o, l: L.ConstantLR(o, factor=0.5, total_iters=5),
    "LinearLR": lambda o, l: L.LinearLR(o, start_factor=0.1, end_factor=1.0, total_iters=1_000_000_000),
    "ExponentialLR": lambda o, l: L.ExponentialLR(o, 0.999999),
    "PolynomialLR": lambda o, l: L.PolynomialLR(o, total_iters=1_000_000_000, power=2.0),
    "CosineAnnealingLR": lambda o, l: L.CosineAnnealingLR(o, 10_000, eta_min=1e-6),
    "LambdaLR": lambda o, l: L.LambdaLR(o, lambda e: 1.0 / (1.0 + 1e-4 * e)),
    "MultiplicativeLR": lambda o, l: L.MultiplicativeLR(o, lambda e: 0.999999),
    "SequentialLR": lambda o, l: L.SequentialLR(
        o, [L.LinearLR(o, start_factor=0.01, total_iters=5), L.CosineAnnealingLR(o, 10_000)], milestones=[5]
    ),
    "ChainedScheduler": lambda o, l: L.ChainedScheduler(
        [L.ConstantLR(o, factor=0.5, total_iters=5), L.ExponentialLR(o, 0.999999)]
    ),
    "ReduceLROnPlateau": lambda o, l: L.ReduceLROnPlateau(o),
    "CyclicLR": lambda o, l: L.CyclicLR(o, base_lr=l, max_lr=times(l, 10.0), step_size_up=2000),
    "OneCycleLR": lambda o, l: L.OneCycleLR(o, max_lr=times(l, 10.0), total_steps=ONE_CYCLE_TOTAL),
    "CosineAnnealingWarmRestarts": lambda o, l: L.CosineAnnealingWarmRestarts(o, 1000, T_mult=2, eta_min=1e-6),
    "SWALR": lambda o, l: SWALR(o, swa_lr=1e-4, anneal_epochs=1_000_000_000),
    "SWA": lambda o, l: SwaLoop(L.CosineAnnealingLR(o, 10_000), SWALR(o, swa_lr=1e-4, anneal_epochs=1_000_000_000), 5),
    "transformers.linear": lambda o, l: get_scheduler("linear", o, num_warmup_steps=1000, num_training_steps=100_000_000),
    "transformers.cosine": lambda o, l: get_scheduler("cosine", o, num_warmup_steps=1000, num_training_steps=100_000_000),
    "transformers.cosine_with_restarts": lambda o, l: get_scheduler(
        "cosine_with_restarts", o, num_warmup_steps=1000, num_training_steps=100_000_000,
        scheduler_specific_kwargs={"num_cycles": 3},
    ),
    "transformers.polynomial": lambda o, l: get_scheduler(
        "polynomial", o, num_warmup_steps=1000, num_training_steps=100_000_000,
        scheduler_specific_kwargs={"lr_end": 1e-7, "power": 2.0},
    ),
    "transformers.constant": lambda o, l: get_scheduler("constant", o),
    "transformers.constant_with_warmup": lambda o, l: get_scheduler("constant_with_warmup", o, num_warmup_steps=100_000_000),
    "transformers.inverse_sqrt": lambda o, l: get_scheduler("inverse_sqrt", o, num_warmup_steps=1000),
    "transformers.cosine_with_min_lr": lambda o, l: get_scheduler(
        "cosine_with_min_lr", o, num_warmup_steps=1000, num_training_steps=100_000_000,
        scheduler_specific_kwargs={"min_lr_rate": 0.1},
    ),
    "transformers.cosine_warmup_with_min_lr": lambda o, l: get_scheduler(
        "cosine_warmup_with_min_lr", o, num_warmup_steps=1000, num_training_steps=100_000_000,
        scheduler_specific_kwargs={"min_lr_rate": 0.1},
    ),
    "transformers.warmup_stable_decay": lambda o, l: get_scheduler(
        "warmup_stable_decay", o, num_warmup_steps=1000,
        scheduler_specific_kwargs={"num_decay_steps": 100_000_000, "num_stable_steps": 0, "decay_type": "1-sqrt",
                                   "min_lr_ratio": 0.1},
    ),
    # transformers cases
    "timm.CosineLRScheduler": lambda o, l: T.CosineLRScheduler(o, 10_000, lr_min=1e-6, cycle_limit=1_000_000),
    "timm.TanhLRScheduler": lambda o, l: T.TanhLRScheduler(o, 10_000, lr_min=1e-6, cycle_limit=1_000_000),
    "timm.StepLRScheduler": lambda o, l: T.StepLRScheduler(o, 1.0, decay_rate=0.999999),
    "timm.MultiStepLRScheduler": lambda o, l: T.MultiStepLRScheduler(o, [10_000 * k for k in range(1, 1001)],
                                                                     decay_rate=0.999),
    "timm.PolyLRScheduler": lambda o, l: T.PolyLRScheduler(o, 1_000_000_000, power=2.0, lr_min=1e-6),
    "timm.WSDLRScheduler": lambda o, l: T.WSDLRScheduler(o, 1_000_000_000, 500_000_000, stable_fn="rsqrt",
                                                         stable_timescale=10_000.0),
    # timm cases
    # DeepSpeed cases (issue 25): its lr_schedules.py, as benches/schedulers.rs builds them.
    "deepspeed.LRRangeTest": lambda o, l: lr_schedules().LRRangeTest(o, lr_range_test_min_lr=l,
                                                                      lr_range_test_step_size=1000),
    "deepspeed.OneCycle": lambda o, l: lr_schedules().OneCycle(o, l, times(l, 10.0), cycle_first_step_size=10_000,
                                                                decay_step_size=1000, decay_lr_rate=0.001),
    "deepspeed.WarmupLR": lambda o, l: lr_schedules().WarmupLR(o, warmup_num_steps=1_000_000_000),
    "deepspeed.WarmupDecayLR": lambda o, l: lr_schedules().WarmupDecayLR(o, 1_000_000_000, warmup_max_lr=l,
                                                                          warmup_num_steps=1000),
    "deepspeed.WarmupCosineLR": lambda o, l: lr_schedules().WarmupCosineLR(o, 1_000_000_000, warmup_num_steps=1000),
    # Megatron-core (issue 25): its own class, stepped with step(1) (Case.chunk).
    "megatron.OptimizerParamScheduler": lambda o, l: megatron(o, l),
}


def megatron(o, l):
    """megatron-core's own OptimizerParamScheduler (loaded by scripts/fixtures/gen_megatron.py), as the Rust
    benchmark builds it: each group's max_lr its LR, a cosine over 1e12 samples and a linear weight decay, so
    that the LR and every group's weight decay change at every step."""
    import gen_megatron  # noqa: PLC0415 - only when used

    for group, lr in zip(o.param_groups, l):
        group["max_lr"] = lr
    m = gen_megatron.reference_module()
    return m.OptimizerParamScheduler(o, init_lr=0.0, max_lr=l[0], min_lr=1e-6, lr_warmup_steps=1000,
                                     lr_decay_steps=10**12, lr_decay_style="cosine", start_wd=0.0, end_wd=0.1,
                                     wd_incr_steps=10**12, wd_incr_style="linear",
                                     use_checkpoint_opt_param_scheduler=False)


class Case:
    """One scheduler over a fresh optimizer, rebuilt when it must restart."""

    def __init__(self, name, n):
        self.name, self.n = name, n
        self.k = 0
        self.build()

    def build(self):
        opt = optimizer(self.n)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            self.sched = CASES[self.name](opt, lrs(self.n))
        # No gradients: a no-op, after which step() does not warn about the order.
        opt.step()
        self.done = 0

    def chunk(self, steps):
        """Times `steps` steps; returns ns."""
        if self.name == "OneCycleLR" and self.done + steps > ONE_CYCLE_PERIOD:
            self.build()
        s = self.sched
        if self.name == "ReduceLROnPlateau":
            k = self.k
            t = time.perf_counter_ns()
            for i in range(k, k + steps):
                s.step(-float(i))  # a metric that improves at every step
            t = time.perf_counter_ns() - t
            self.k += steps
        elif self.name.startswith("megatron."):
            # Megatron-LM's loop: step(increment), here 1.
            step = s.step
            t = time.perf_counter_ns()
            for _ in range(steps):
                step(1)
            t = time.perf_counter_ns() - t
        elif self.name.startswith("timm."):
            # timm takes the time explicitly: step(t) (step_update(t) per update), t = 1, 2, ...
            step = s.step if s.t_in_epochs else s.step_update
            k = self.k
            t = time.perf_counter_ns()
            for i in range(k + 1, k + steps + 1):
                step(i)
            t = time.perf_counter_ns() - t
            self.k += steps
        else:
            step = s.step
            t = time.perf_counter_ns()
            for _ in range(steps):
                step()
            t = time.perf_counter_ns() - t
        self.done += steps
        return t


def measure(name, n, seconds):
    case = Case(name, n)
    # Warm up and size a chunk of about seconds / 20.
    steps = 16
    while True:
        t = case.chunk(steps)
        if t > seconds * 1e9 / 20 or steps >= ONE_CYCLE_PERIOD // 2:
            break
        steps *= 2
    per = []
    start = time.perf_counter()
    while time.perf_counter() - start < seconds or len(per) < 5:
        per.append(case.chunk(steps) / steps)
    return {"ns": statistics.median(per), "min": min(per), "chunks": len(per), "steps_per_chunk": steps}


def main():
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    out = sys.argv[1]
    quick = "--quick" in sys.argv[2:]
    seconds = 0.15 if quick else 0.6
    torch.set_num_threads(1)
    results = {}
    registered = names()
    if list(CASES) != registered:
        sys.exit(f"scripts/bench/pytorch.py: CASES {list(CASES)} differ from the registry {registered}")
    gc.disable()
    try:
        for name in CASES:
            for n in GROUPS:
                r = measure(name, n, seconds)
                results[f"step/{name}/{n}"] = r
                print(f"pytorch step/{name}/{n}: {r['ns']:.0f} ns/step", flush=True)
    finally:
        gc.enable()
    meta = {"torch": torch.__version__, "python": platform.python_version(), "quick": quick}
    with open(out, "w") as f:
        json.dump({"meta": meta, "results": results}, f, indent=1)


if __name__ == "__main__":
    main()
