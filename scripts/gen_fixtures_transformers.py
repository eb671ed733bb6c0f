#!/usr/bin/env python3
"""Writes tests/fixtures/parity/transformers.<type>.json: what Hugging Face
transformers' own `get_scheduler` does.

Every case is a tch-lr YAML config (as JSON) whose scheduler is
`{name: transformers.<type>, num_warmup_steps: W, num_training_steps: T, ...}`
with the `scheduler_specific_kwargs` flat beside W and T, plus what
`transformers.optimization.get_scheduler(<type>, optimizer, W, T, kwargs)`
(transformers 5.24.0 on PyTorch 2.13, from the project's .venv) produced for
it, in the format of scripts/gen_fixtures.py: each group's `lr`,
`get_last_lr()` and momentum after construction (row 0) and after each
`step()`, and the row, type and message of the first exception raised.

Per schedule: random configs (1-3 groups, SGD with and without momentum and
AdamW, 20-300 steps, a seeded generator), the design note's golden values,
edge cases (W = 0, W >= T, past T) and the reference's construction errors.
The optimizer's default LR (`optimizer.defaults["lr"]`, which `polynomial` and
`min_lr` read) is the first group's LR, as in tch-lr.

    python scripts/gen_fixtures_transformers.py          # (re)write the fixtures
    python scripts/gen_fixtures_transformers.py --check  # fail if they differ from transformers

The output is deterministic: the same versions give byte-identical files.
"""

import json
import random
import sys
import warnings
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import gen_fixtures as G  # noqa: E402  (build_optimizer, momenta, num, OUT, TORCH_VERSION)

import torch  # noqa: E402

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    import transformers  # noqa: E402
    from transformers.optimization import get_scheduler  # noqa: E402

TRANSFORMERS_VERSION = "5.24.0"
PREFIX = "transformers."


def build_scheduler(opt, s):
    """A transformers schedule through `get_scheduler`; PyTorch's composites
    and schedulers as scripts/gen_fixtures.py builds them."""
    kw = {k: v for k, v in s.items() if k != "name"}
    name = s["name"]
    if name.startswith(PREFIX):
        w = kw.pop("num_warmup_steps", None)
        t = kw.pop("num_training_steps", None)
        return get_scheduler(name[len(PREFIX):], opt, num_warmup_steps=w, num_training_steps=t,
                             scheduler_specific_kwargs=kw or None)
    if name in ("SequentialLR", "ChainedScheduler"):
        children = [build_scheduler(opt, c) for c in kw.pop("schedulers")]
        if name == "SequentialLR":
            return torch.optim.lr_scheduler.SequentialLR(opt, children, **kw)
        return torch.optim.lr_scheduler.ChainedScheduler(children, optimizer=opt)
    return G.build_scheduler(opt, s)


def run(case):
    """Runs one case through transformers and fills case["expected"]."""
    return G.run(case, build_scheduler)


# ---------------------------------------------------------------------------
# Optimizers: 1-3 groups; SGD, SGD with momentum, AdamW. The LRs of real
# fine-tuning runs and larger ones.
# ---------------------------------------------------------------------------
LRS = [
    [5e-5], [0.1], [2e-4], [0.01],
    [2e-5, 1e-4], [0.1, 0.01], [0.5, 1.0], [1e-3, 3e-3],
    [3e-4, 1e-3, 3e-5], [0.05, 0.2, 0.001], [1e-4, 1e-4, 1e-5],
]


def optimizer(rnd, i):
    lrs = rnd.choice(LRS)
    lr = lrs[0] if len(lrs) == 1 else list(lrs)
    kind = i % 3
    if kind == 0:
        return {"name": "sgd", "lr": lr}
    if kind == 1:
        return {"name": "sgd", "lr": lr, "momentum": 0.9}
    return {"name": "adamw", "lr": lr, "betas": [0.9, 0.999]}


def first_lr(o):
    return o["lr"][0] if isinstance(o["lr"], list) else o["lr"]


SGD = {"name": "sgd", "lr": 0.1}


class Cases:
    def __init__(self, type_):
        self.name = PREFIX + type_
        self.rnd = random.Random(self.name)
        self.cases = []
        self.i = 0

    def optimizer(self):
        o = optimizer(self.rnd, self.i)
        self.i += 1
        return o

    def add(self, label, kwargs, steps, optimizer=None):
        self.add_scheduler(label, dict({"name": self.name}, **kwargs), steps, optimizer)

    def add_scheduler(self, label, scheduler, steps, optimizer=None):
        if optimizer is None:
            optimizer = self.optimizer()
        self.cases.append({"name": label, "config": {"optimizer": optimizer, "scheduler": scheduler}, "steps": steps})

    def in_composites(self, kwargs):
        """The schedule as the second child of a SequentialLR and of a
        ChainedScheduler, two groups: the default LR stays the first group's
        LR at construction (`initial_lr`), as `optimizer.defaults["lr"]` does."""
        me = dict({"name": self.name}, **kwargs)
        two = {"name": "sgd", "lr": [0.1, 0.3], "momentum": 0.9}
        const = {"name": "ConstantLR", "factor": 0.5, "total_iters": 2}
        self.add_scheduler("second child of SequentialLR", {"name": "SequentialLR", "schedulers": [const, me],
                                                             "milestones": [3]}, 20, optimizer=two)
        warm = {"name": "LinearLR", "start_factor": 0.5, "total_iters": 4}
        self.add_scheduler("second child of ChainedScheduler", {"name": "ChainedScheduler", "schedulers": [warm, me]}, 20,
                           optimizer={"name": "adamw", "lr": [0.1, 0.3], "betas": [0.9, 0.999]})

    def random(self, n, extra, needs_t=True):
        """`n` random cases: W, T (sometimes below the number of steps, or
        below W) and the schedule's own keyword arguments from `extra(rnd, o)`."""
        rnd = self.rnd
        for k in range(n):
            steps = rnd.randint(20, 300)
            w = rnd.choice([0, 1, rnd.randint(1, steps // 3), rnd.randint(1, steps // 3)])
            t = rnd.choice([steps, rnd.randint(w + 1, steps + 20), rnd.randint(w + 1, steps + 20), rnd.randint(1, steps)])
            o = self.optimizer()
            kw = {"num_warmup_steps": w}
            if needs_t:
                kw["num_training_steps"] = t
            kw.update(extra(rnd, o))
            desc = " ".join(f"{key}={v}" for key, v in kw.items())
            self.add(f"random {k}: {desc} ({len(o['lr']) if isinstance(o['lr'], list) else 1} groups, {o['name']})", kw,
                     steps, optimizer=o)

    def missing_w(self, **kw):
        label = " ".join(["no num_warmup_steps"] + [f"{k}={v}" for k, v in kw.items()])
        self.add(label, dict({"num_training_steps": 10}, **kw), 3, optimizer=SGD)

    def missing_t(self, **kw):
        label = " ".join(["no num_training_steps"] + [f"{k}={v}" for k, v in kw.items()])
        self.add(label, dict({"num_warmup_steps": 2}, **kw), 3, optimizer=SGD)


def no_extra(rnd, o):
    return {}


def linear(c):
    c.random(12, no_extra)
    c.add("W=0 T=1", {"num_warmup_steps": 0, "num_training_steps": 1}, 5, optimizer=SGD)
    c.add("W=T=5", {"num_warmup_steps": 5, "num_training_steps": 5}, 8, optimizer=SGD)
    c.add("W above T", {"num_warmup_steps": 8, "num_training_steps": 4}, 12, optimizer=SGD)
    c.add("T=0", {"num_warmup_steps": 0, "num_training_steps": 0}, 4, optimizer=SGD)
    c.missing_w()
    c.missing_t()


def cosine_cycles(rnd, o):
    return {"num_cycles": rnd.choice([0.5, 0.5, 1.0, 0.25, 1.5, 2.0, round(rnd.uniform(0.1, 3.0), 3)])}


def cosine(c):
    c.random(12, cosine_cycles)
    c.add("golden W=10 T=100", {"num_warmup_steps": 10, "num_training_steps": 100}, 40, optimizer=SGD)
    c.in_composites({"num_warmup_steps": 3, "num_training_steps": 12})
    c.add("rebounds past T", {"num_warmup_steps": 0, "num_training_steps": 4}, 12, optimizer=SGD)
    c.add("default num_cycles, past T", {"num_warmup_steps": 5, "num_training_steps": 30}, 70)
    c.add("W above T", {"num_warmup_steps": 8, "num_training_steps": 4}, 12, optimizer=SGD)
    c.add("W=T", {"num_warmup_steps": 6, "num_training_steps": 6}, 10, optimizer=SGD)
    c.add("num_cycles 0", {"num_warmup_steps": 2, "num_training_steps": 10, "num_cycles": 0.0}, 12, optimizer=SGD)
    c.add("num_cycles negative", {"num_warmup_steps": 2, "num_training_steps": 10, "num_cycles": -0.5}, 12, optimizer=SGD)
    c.missing_w()
    c.missing_t()


def restarts_cycles(rnd, o):
    return {"num_cycles": rnd.choice([1, 2, 3, 5, 4, 2.5])}


def cosine_with_restarts(c):
    c.random(12, restarts_cycles)
    c.add("golden num_cycles=3", {"num_warmup_steps": 10, "num_training_steps": 100, "num_cycles": 3}, 60, optimizer=SGD)
    c.add("default num_cycles, past T", {"num_warmup_steps": 5, "num_training_steps": 30}, 40)
    c.add("W above T", {"num_warmup_steps": 8, "num_training_steps": 4}, 12, optimizer=SGD)
    c.add("num_cycles negative", {"num_warmup_steps": 2, "num_training_steps": 20, "num_cycles": -1.5}, 22, optimizer=SGD)
    c.missing_w()
    c.missing_t(num_cycles=2)


def polynomial_extra(rnd, o):
    kw = {}
    lr0 = first_lr(o)
    choice = rnd.randint(0, 3)
    if choice == 1:
        kw["lr_end"] = 0.0
    elif choice >= 2:
        kw["lr_end"] = round(lr0 * rnd.uniform(0.001, 0.5), 12)
    if rnd.random() < 0.8:
        kw["power"] = rnd.choice([1.0, 2.0, 0.5, 3.0, 1.7])
    return kw


def polynomial(c):
    c.random(12, polynomial_extra)
    c.add("golden lr_end=1e-4 power=2", {"num_warmup_steps": 10, "num_training_steps": 100, "lr_end": 1e-4, "power": 2.0},
          45, optimizer=SGD)
    c.add("groups 0.5 and 1.0 end at 0.1 and 0.2", {"num_warmup_steps": 2, "num_training_steps": 10, "lr_end": 0.1}, 14,
          optimizer={"name": "sgd", "lr": [0.5, 1.0]})
    c.add("first group smaller", {"num_warmup_steps": 3, "num_training_steps": 12, "lr_end": 0.01, "power": 0.5}, 16,
          optimizer={"name": "adamw", "lr": [0.05, 0.2, 0.001]})
    c.add("W above T", {"num_warmup_steps": 8, "num_training_steps": 4}, 12, optimizer=SGD)
    c.add("W=T divides by zero at T", {"num_warmup_steps": 5, "num_training_steps": 5}, 8, optimizer=SGD)
    c.add("W=0 T=0 divides by zero at once", {"num_warmup_steps": 0, "num_training_steps": 0}, 3, optimizer=SGD)
    c.add("power 0", {"num_warmup_steps": 1, "num_training_steps": 6, "power": 0.0}, 9, optimizer=SGD)
    c.add("power negative", {"num_warmup_steps": 1, "num_training_steps": 6, "power": -1.0}, 9, optimizer=SGD)
    c.add("lr_end negative", {"num_warmup_steps": 1, "num_training_steps": 6, "lr_end": -0.05}, 9, optimizer=SGD)
    c.add("lr_end equal to the LR", {"num_warmup_steps": 2, "num_training_steps": 10, "lr_end": 0.1}, 3, optimizer=SGD)
    c.add("lr_end above the LR", {"num_warmup_steps": 2, "num_training_steps": 10, "lr_end": 0.5}, 3,
          optimizer={"name": "sgd", "lr": [0.1, 1.0]})
    c.add("default lr_end above a small LR", {"num_warmup_steps": 2, "num_training_steps": 10}, 3,
          optimizer={"name": "adamw", "lr": 1e-8})
    c.add("LR 0", {"num_warmup_steps": 2, "num_training_steps": 10, "lr_end": -1e-3}, 3, optimizer={"name": "sgd", "lr": 0.0})
    c.in_composites({"num_warmup_steps": 2, "num_training_steps": 12, "lr_end": 0.01, "power": 2.0})
    c.missing_w(lr_end=1e-4)
    c.missing_t(power=2.0)


def inverse_sqrt_extra(rnd, o):
    return {} if rnd.random() < 0.4 else {"timescale": rnd.randint(1, 200)}


def inverse_sqrt(c):
    c.random(12, inverse_sqrt_extra, needs_t=False)
    c.add("golden W=10", {"num_warmup_steps": 10}, 50, optimizer=SGD)
    c.add("W=0: timescale 10000", {"num_warmup_steps": 0}, 30, optimizer=SGD)
    c.add("num_training_steps ignored", {"num_warmup_steps": 4, "num_training_steps": 6}, 20, optimizer=SGD)
    c.add("timescale below W", {"num_warmup_steps": 10, "timescale": 3}, 25, optimizer=SGD)
    c.add("timescale 0", {"num_warmup_steps": 3, "timescale": 0}, 6, optimizer=SGD)
    c.add("timescale negative", {"num_warmup_steps": 2, "timescale": -4}, 12, optimizer=SGD)
    c.missing_w()
    c.missing_w(timescale=5)


def constant(c):
    c.random(6, no_extra)
    c.add("nothing given", {}, 20)
    c.add("W and T ignored", {"num_warmup_steps": 5, "num_training_steps": 10}, 15, optimizer=SGD)
    c.add("three groups", {}, 25, optimizer={"name": "adamw", "lr": [0.05, 0.2, 0.001]})


def constant_with_warmup(c):
    c.random(12, no_extra)
    c.add("W=0", {"num_warmup_steps": 0}, 10, optimizer=SGD)
    c.add("W=1", {"num_warmup_steps": 1}, 10, optimizer=SGD)
    c.add("num_training_steps ignored", {"num_warmup_steps": 7, "num_training_steps": 3}, 20, optimizer=SGD)
    c.add("W negative", {"num_warmup_steps": -3}, 5, optimizer=SGD)
    c.missing_w()


def min_lr_extra(rnd, o, warmup=False):
    kw = {}
    if rnd.random() < 0.5:
        kw["min_lr_rate"] = rnd.choice([0.0, 0.1, 0.01, round(rnd.uniform(0.0, 0.5), 6)])
    else:
        kw["min_lr"] = round(first_lr(o) * rnd.uniform(0.0, 0.5), 12)
    if rnd.random() < 0.4:
        kw["num_cycles"] = rnd.choice([0.5, 1.0, 0.25, 1.5])
    if warmup and rnd.random() < 0.5:
        kw["warmup_lr_rate"] = rnd.choice([0.0, 0.1, round(rnd.uniform(0.0, 0.5), 6)])
    return kw


def cosine_with_min_lr(c):
    c.random(12, min_lr_extra)
    c.add("min_lr_rate 0.1, past T", {"num_warmup_steps": 10, "num_training_steps": 100, "min_lr_rate": 0.1}, 130,
          optimizer=SGD)
    c.add("min_lr from the first group", {"num_warmup_steps": 2, "num_training_steps": 12, "min_lr": 0.01}, 16,
          optimizer={"name": "sgd", "lr": [0.1, 0.02]})
    c.add("min_lr above the LR", {"num_warmup_steps": 2, "num_training_steps": 12, "min_lr": 0.3}, 16, optimizer=SGD)
    c.add("min_lr_rate negative", {"num_warmup_steps": 2, "num_training_steps": 12, "min_lr_rate": -0.5}, 16, optimizer=SGD)
    c.add("both min_lr and min_lr_rate", {"num_warmup_steps": 2, "num_training_steps": 12, "min_lr": 0.01,
                                          "min_lr_rate": 0.1}, 3, optimizer=SGD)
    c.add("neither min_lr nor min_lr_rate", {"num_warmup_steps": 2, "num_training_steps": 12}, 3, optimizer=SGD)
    c.add("min_lr with LR 0", {"num_warmup_steps": 2, "num_training_steps": 12, "min_lr": 0.01}, 3,
          optimizer={"name": "sgd", "lr": 0.0})
    c.in_composites({"num_warmup_steps": 2, "num_training_steps": 12, "min_lr": 0.01})
    c.missing_w(min_lr_rate=0.1)
    c.missing_t(min_lr_rate=0.1)


def cosine_warmup_with_min_lr(c):
    c.random(12, lambda rnd, o: min_lr_extra(rnd, o, warmup=True))
    c.add("golden min_lr_rate=0.1", {"num_warmup_steps": 10, "num_training_steps": 100, "min_lr_rate": 0.1}, 130,
          optimizer=SGD)
    c.add("warmup_lr_rate 0.1", {"num_warmup_steps": 5, "num_training_steps": 20, "min_lr_rate": 0.05,
                                 "warmup_lr_rate": 0.1}, 25, optimizer=SGD)
    c.add("W=1 with warmup_lr_rate", {"num_warmup_steps": 1, "num_training_steps": 8, "min_lr_rate": 0.0,
                                      "warmup_lr_rate": 0.5}, 10, optimizer=SGD)
    c.add("W=0", {"num_warmup_steps": 0, "num_training_steps": 8, "min_lr": 0.001}, 10,
          optimizer={"name": "adamw", "lr": [0.01, 0.1]})
    c.add("W above T", {"num_warmup_steps": 8, "num_training_steps": 4, "min_lr_rate": 0.2}, 12, optimizer=SGD)
    c.add("both min_lr and min_lr_rate", {"num_warmup_steps": 2, "num_training_steps": 12, "min_lr": 0.01,
                                          "min_lr_rate": 0.1}, 3, optimizer=SGD)
    c.add("neither min_lr nor min_lr_rate", {"num_warmup_steps": 2, "num_training_steps": 12, "warmup_lr_rate": 0.1}, 3,
          optimizer=SGD)
    c.add("min_lr with LR 0", {"num_warmup_steps": 2, "num_training_steps": 12, "min_lr": 0.01}, 3,
          optimizer={"name": "sgd", "lr": 0.0})
    c.in_composites({"num_warmup_steps": 2, "num_training_steps": 12, "min_lr": 0.01})
    c.missing_w(min_lr_rate=0.1)
    c.missing_t(min_lr_rate=0.1)


SHAPES = ["linear", "cosine", "1-sqrt"]


def wsd_extra(rnd, o):
    kw = {"num_decay_steps": rnd.randint(0, 80)}
    if rnd.random() < 0.3:
        kw["num_stable_steps"] = rnd.randint(0, 100)
    if rnd.random() < 0.7:
        kw["warmup_type"] = rnd.choice(SHAPES)
    if rnd.random() < 0.7:
        kw["decay_type"] = rnd.choice(SHAPES)
    if rnd.random() < 0.6:
        kw["min_lr_ratio"] = rnd.choice([0.0, 0.1, round(rnd.uniform(0.0, 0.5), 6)])
    if rnd.random() < 0.3:
        kw["num_cycles"] = rnd.choice([0.5, 1.0, 0.25])
    return kw


def warmup_stable_decay(c):
    c.random(14, wsd_extra)
    c.add("golden D=20 1-sqrt min_lr_ratio=0.1", {"num_warmup_steps": 10, "num_training_steps": 100, "num_decay_steps": 20,
                                                 "decay_type": "1-sqrt", "min_lr_ratio": 0.1}, 110, optimizer=SGD)
    for wt in SHAPES:
        for dt in SHAPES:
            c.add(f"{wt} warmup, {dt} decay", {"num_warmup_steps": 6, "num_training_steps": 30, "num_decay_steps": 10,
                                               "warmup_type": wt, "decay_type": dt, "min_lr_ratio": 0.05}, 34)
    c.add("num_stable_steps only", {"num_warmup_steps": 3, "num_stable_steps": 5, "num_decay_steps": 4}, 15, optimizer=SGD)
    c.add("num_stable_steps wins", {"num_warmup_steps": 3, "num_training_steps": 40, "num_stable_steps": 2,
                                    "num_decay_steps": 4}, 15, optimizer=SGD)
    c.add("negative stable phase", {"num_warmup_steps": 6, "num_training_steps": 8, "num_decay_steps": 5}, 15, optimizer=SGD)
    c.add("D=0", {"num_warmup_steps": 2, "num_training_steps": 6, "num_decay_steps": 0, "min_lr_ratio": 0.2}, 9,
          optimizer=SGD)
    c.add("min_lr_ratio above 1", {"num_warmup_steps": 2, "num_training_steps": 8, "num_decay_steps": 3,
                                   "min_lr_ratio": 1.5}, 10, optimizer=SGD)
    c.add("neither num_training_steps nor num_stable_steps", {"num_warmup_steps": 2, "num_decay_steps": 3}, 3,
          optimizer=SGD)
    c.add("no num_warmup_steps", {"num_training_steps": 10, "num_decay_steps": 3}, 3, optimizer=SGD)


FILES = {
    "linear": linear,
    "cosine": cosine,
    "cosine_with_restarts": cosine_with_restarts,
    "polynomial": polynomial,
    "constant": constant,
    "constant_with_warmup": constant_with_warmup,
    "inverse_sqrt": inverse_sqrt,
    "cosine_with_min_lr": cosine_with_min_lr,
    "cosine_warmup_with_min_lr": cosine_warmup_with_min_lr,
    "warmup_stable_decay": warmup_stable_decay,
}


def render(type_, build):
    c = Cases(type_)
    build(c)
    cases = G.run_cases(c.cases, run)
    doc = {"torch_version": G.TORCH_VERSION, "transformers_version": TRANSFORMERS_VERSION, "cases": cases}
    return json.dumps(doc, indent=1, allow_nan=False) + "\n", len(cases)


def main():
    check = G.check_flag(__doc__)
    found = {"PyTorch": (torch.__version__.split("+")[0], G.TORCH_VERSION),
             "transformers": (transformers.__version__, TRANSFORMERS_VERSION)}
    for lib, (have, want) in found.items():
        if have != want:
            sys.exit(f"gen_fixtures_transformers: {lib} {want} expected, found {have}")
    rendered = {type_: render(type_, build) for type_, build in FILES.items()}
    outputs = [(G.OUT / f"{PREFIX}{type_}.json", text) for type_, (text, _) in rendered.items()]
    G.write_or_check("gen_fixtures_transformers", outputs, check, f"transformers {TRANSFORMERS_VERSION}")
    total = sum(n for _, n in rendered.values())
    verb = "match transformers" if check else "written"
    print(f"gen_fixtures_transformers: {total} cases in {len(FILES)} files {verb} in {G.OUT.relative_to(G.ROOT)}")


if __name__ == "__main__":
    main()
