#!/usr/bin/env python3
"""Writes what the reference LR-finder suggestion rules choose on recorded loss
curves, for tests/lr_finder.rs to hold tch_lr::lr_finder's rules to:

- Lightning's `_LRFinder.suggestion(skip_begin, skip_end)` (pytorch-lightning
  2.6.6, pytorch_lightning/tuner/lr_finder.py; the same file as
  lightning.pytorch.tuner.lr_finder in `lightning` 2.6.6): the steepest descent
  of the smoothed loss against the LR, `torch.gradient(losses, spacing=[lrs])`;
- fastai's `valley` (fastai 2.8.12, fastai/callback/schedule.py) as
  `Learner.lr_find(suggest_funcs=valley)` applies it: its slice
  `[num_it//10:-5]`, float32 tensors, cut at the first NaN.

The curves (tests/fixtures/lr_finder/suggestions.json, each case: the LRs, the
smoothed losses, the number of steps planned, and the references' index and LR):
- real range tests, recorded by tch-lr's own finder through the training example
  (tests/fixtures/lr_finder/runs/*.csv: `lr,loss,smoothed_loss`; RUNS below
  gives the command that wrote each);
- synthetic shapes made here from a seeded generator: noisy U-curves, monotone
  and flat curves, NaN and infinite tails and holes, early stops, the linear
  mode, short curves, LRs that collide in float32, losses beyond float32.

    python scripts/gen_fixtures_lr_finder.py          # (re)write the fixture
    python scripts/gen_fixtures_lr_finder.py --check  # fail if it differs from the references

Deterministic: the same references give a byte-identical file. Every float is
written as Python's repr (a string), so that the test reads the exact value.

How the references are imported. Neither package's top level can be imported
here: `pytorch_lightning/__init__` pulls in lightning_fabric and torchmetrics
(which imports transformers' tokenizers, absent here), and fastai imports
torchvision, pandas, matplotlib and scipy (torchvision would replace torch). So:
- Lightning: the installed module pytorch_lightning/tuner/lr_finder.py itself
  is imported, under bare `pytorch_lightning` and `pytorch_lightning.tuner`
  packages (no `__init__` run), with stand-ins for the five Lightning modules it
  imports names from (Callback, MisconfigurationException, lightning_hasattr,
  lightning_setattr, rank_zero_warn, STEP_OUTPUT, LRSchedulerConfig: none of
  them is used by `_LRFinder.suggestion`), as gen_fixtures_timm.py does for timm.
- fastai: the source of `valley` and `lr_find` (fastai/callback/schedule.py)
  and of `tensor` (fastai/torch_core.py) is read from the installed files and
  executed alone, with fastcore's real `patch`, `tuplify` and `use_kwargs_dict`; `lr_find` runs on
  a stand-in Learner whose `fit` does nothing and whose recorder holds the curve,
  so that fastai's own slicing, tensor conversion and NaN cut are what run.
  A second suggestion function, `valley` called with LRs 0, 1, 2, ..., gives the
  index valley picks (fastai returns only the LR).
"""

import argparse
import ast
import collections
import csv
import functools
import importlib.util
import json
import logging
import math
import numbers
import random
import sys
import types
from importlib.metadata import version
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parent.parent
DIR = ROOT / "tests" / "fixtures" / "lr_finder"
OUT = DIR / "suggestions.json"
LIGHTNING_VERSION = "2.6.6"
FASTAI_VERSION = "2.8.12"
FASTCORE_VERSION = "2.2.38"

# Lightning's default suggestion and two other slices.
LIGHTNING_SKIPS = [(10, 1), (0, 1), (5, 3)]

# The recorded runs: file in runs/, steps planned, the command that wrote it
# (from the repository root, with `--log /tmp/run/log.csv`: the example writes
# /tmp/run/lr_find.csv, copied here under the file's name).
RUNS = [
    ("resnet20_sgd.csv", 100,
     "cargo run --release --example train_resnet -- --find-lr --config configs/one_cycle_per_batch.yaml "
     "--device cpu --train-size 1024 --batch-size 32 --seed 0 --find-lr-start 1e-6 --find-lr-end 10"),
    ("resnet20_adamw.csv", 80,
     "cargo run --release --example train_resnet -- --find-lr --config configs/transformers_cosine.yaml "
     "--device cpu --train-size 512 --batch-size 32 --seed 1 --find-lr-steps 80 --find-lr-start 1e-7 --find-lr-end 1"),
    ("resnet20_sgd_diverges.csv", 120,
     "cargo run --release --example train_resnet -- --find-lr --config configs/one_cycle_per_batch.yaml "
     "--device cpu --train-size 512 --batch-size 16 --seed 2 --find-lr-steps 120 --find-lr-start 1e-4 --find-lr-end 1000"),
    ("resnet20_short.csv", 30,
     "cargo run --release --example train_resnet -- --find-lr --config configs/one_cycle_per_batch.yaml "
     "--device cpu --train-size 256 --batch-size 16 --seed 3 --find-lr-steps 30 --find-lr-start 1e-5 --find-lr-end 3"),
]


# ---------------------------------------------------------------------------
# Lightning
# ---------------------------------------------------------------------------
def _bare_package(name, top):
    path = Path(top).joinpath(*name.split(".")[1:])
    module = types.ModuleType(name)
    module.__path__ = [str(path)]
    sys.modules[name] = module
    return module


def _stub(name, **names):
    module = types.ModuleType(name)
    module.__dict__.update(names)
    sys.modules[name] = module


def lightning_finder_class():
    """`_LRFinder` from the installed pytorch_lightning/tuner/lr_finder.py."""
    top = importlib.util.find_spec("pytorch_lightning").submodule_search_locations[0]
    for package in ("pytorch_lightning", "pytorch_lightning.tuner", "pytorch_lightning.utilities"):
        _bare_package(package, top)
    _stub("pytorch_lightning.callbacks", Callback=object)
    _stub("pytorch_lightning.utilities.exceptions", MisconfigurationException=Exception)
    _stub("pytorch_lightning.utilities.parsing", lightning_hasattr=None, lightning_setattr=None)
    _stub("pytorch_lightning.utilities.rank_zero", rank_zero_warn=None)
    _stub("pytorch_lightning.utilities.types", STEP_OUTPUT=object, LRSchedulerConfig=object)
    from pytorch_lightning.tuner import lr_finder  # noqa: E402 (the real file)

    logging.getLogger(lr_finder.__name__).disabled = True  # "Failed to compute suggestion ..."
    return lr_finder._LRFinder


def lightning(finder_class, case, skip_begin, skip_end):
    finder = finder_class(case["mode"], case["lrs"][0], case["lrs"][-1], case["num_steps"])
    finder.results = {"lr": list(case["lrs"]), "loss": list(case["losses"])}
    lr = finder.suggestion(skip_begin=skip_begin, skip_end=skip_end)
    index = finder._optimal_idx
    if lr is not None:
        assert lr == case["lrs"][index]
    return {"skip_begin": skip_begin, "skip_end": skip_end, "index": index, "lr": None if lr is None else repr(lr)}


# ---------------------------------------------------------------------------
# fastai
# ---------------------------------------------------------------------------
def _definitions(path, names):
    """The top-level definitions `names` of a source file, as a module AST."""
    tree = ast.parse(Path(path).read_text(), filename=str(path))
    found = {n.name: n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name in names}
    missing = set(names) - set(found)
    assert not missing, f"{path}: no {missing}"
    return ast.Module(body=[found[n] for n in names], type_ignores=[])


def fastai_lr_find():
    """fastai's `Learner.lr_find` and `valley`, run from the installed files."""
    from fastcore.basics import patch, tuplify
    from fastcore.meta import use_kwargs_dict

    pkg = Path(importlib.util.find_spec("fastai").submodule_search_locations[0])
    ns = {
        "torch": torch, "Tensor": torch.Tensor, "as_tensor": torch.as_tensor, "numbers": numbers,
        "ndarray": np.ndarray, "array": np.array, "collections": collections, "partial": functools.partial,
        "patch": patch, "tuplify": tuplify, "use_kwargs_dict": use_kwargs_dict,
    }
    exec(compile(_definitions(pkg / "torch_core.py", ["tensor"]), str(pkg / "torch_core.py"), "exec"), ns)
    schedule = pkg / "callback" / "schedule.py"
    exec(compile(_definitions(schedule, ["valley"]), str(schedule), "exec"), ns)

    class Learner:  # what lr_find touches of fastai's Learner
        def fit(self, n_epoch, cbs=None):
            pass

        def no_logging(self):
            return _Nothing()

    ns["Learner"] = Learner
    ns["SuggestionMethod"] = types.SimpleNamespace(Valley=ns["valley"])
    ns["LRFinder"] = lambda **kwargs: None
    exec(compile(_definitions(schedule, ["lr_find"]), str(schedule), "exec"), ns)
    valley = ns["valley"]

    def valley_index(lrs, losses, num_it):
        return valley(torch.arange(len(lrs), dtype=torch.float64), losses, num_it)

    def run(case):
        learn = Learner()
        learn.dls = types.SimpleNamespace(train=[None] * 8)
        learn.recorder = types.SimpleNamespace(lrs=list(case["lrs"]), losses=list(case["losses"]))
        try:
            got = learn.lr_find(num_it=case["num_steps"], show_plot=False, suggest_funcs=(valley, valley_index))
        except IndexError:  # nothing left to choose from
            return {"index": None, "lr": None}
        index = case["num_steps"] // 10 + int(got.valley_index)
        return {"index": index, "lr": repr(got.valley)}

    return run


class _Nothing:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


# ---------------------------------------------------------------------------
# Curves
# ---------------------------------------------------------------------------
def recorded():
    cases = []
    for file, num_steps, command in RUNS:
        path = DIR / "runs" / file
        with path.open() as f:
            rows = list(csv.DictReader(f))
        lrs = [float(r["lr"]) for r in rows]
        cases.append(dict(name=f"recorded {file}", source=command, mode="exponential", num_steps=num_steps,
                          lrs=lrs, losses=[float(r["smoothed_loss"]) for r in rows]))
    return cases


def exp_lrs(start, end, n):
    return [start * (end / start) ** (k / (n - 1)) for k in range(n)]


def lin_lrs(start, end, n):
    return [start + k / (n - 1) * (end - start) for k in range(n)]


def u_curve(lrs, rng, noise, floor=0.3, top=2.3, centre=-2.5, rise=1.0):
    """Falls from `top` to `floor` around 10^centre, then climbs past 10^rise."""
    out = []
    for lr in lrs:
        x = math.log10(lr)
        fall = (top - floor) / (1 + math.exp(3 * (x - centre)))
        climb = 4.0 * max(0.0, x - rise) ** 2
        out.append(floor + fall + climb + rng.gauss(0, noise))
    return out


def smoothed(raw, beta=0.98):
    """Exponential smoothing with bias correction, to give synthetic curves the
    look of a finder's record (the rules see smoothed losses)."""
    avg, out = 0.0, []
    for t, v in enumerate(raw, 1):
        avg = beta * avg + (1 - beta) * v
        out.append(avg / (1 - beta ** t))
    return out


def synthetic():
    rng = random.Random(20260611)
    cases = []

    def add(name, lrs, losses, num_steps=None, mode="exponential"):
        cases.append(dict(name=name, source="synthetic", mode=mode, num_steps=num_steps or len(lrs),
                          lrs=lrs, losses=losses))

    lrs = exp_lrs(1e-7, 10.0, 100)
    add("noisy U, smoothed", lrs, smoothed(u_curve(lrs, rng, 0.05)))
    add("noisy U, raw (noise 0.02)", lrs, u_curve(lrs, rng, 0.02))
    add("noisy U, raw (noise 0.3)", lrs, u_curve(lrs, rng, 0.3))
    add("U, no noise", lrs, u_curve(lrs, rng, 0.0))
    for seed in range(4):
        r = random.Random(seed)
        n = r.choice([40, 75, 100, 150, 200])
        l = exp_lrs(10 ** r.uniform(-8, -5), 10 ** r.uniform(-1, 1), n)
        add(f"noisy U {seed} ({n} steps)", l,
            smoothed(u_curve(l, r, r.uniform(0.01, 0.2), centre=r.uniform(-4, -1), rise=r.uniform(-1, 0.5))))
    add("monotone falling", lrs, [2.0 - 1.5 * k / 99 + rng.gauss(0, 0.01) for k in range(100)])
    add("monotone rising", lrs, [0.5 + 0.02 * k + 0.001 * k * k for k in range(100)])
    add("flat", lrs, [1.25] * 100)
    add("falls, then flat", lrs, [3.0, 2.0] + [2.0] * 98)
    # valley's longest run starts at -1 here, and it picks index -1: the last.
    add("falls once inside fastai's slice, then flat", lrs, [4.0] * 10 + [3.0] + [2.0] * 89)
    add("steps down", lrs, [2.0 - 0.25 * (k // 20) for k in range(100)])
    u = smoothed(u_curve(lrs, rng, 0.05))
    add("NaN tail", lrs, u[:90] + [float("nan")] * 10)
    add("one NaN at the end (a finder stopped on it)", lrs[:71], u[:70] + [float("nan")], num_steps=100)
    add("infinite tail", lrs, u[:92] + [float("inf")] * 8)
    add("NaN hole in the middle", lrs, u[:40] + [float("nan")] * 3 + u[43:])
    add("infinity hole in the middle", lrs, u[:55] + [float("inf"), float("-inf")] + u[57:])
    add("beyond float32", lrs, u[:80] + [1e39 * (k + 1) for k in range(20)])
    add("stopped early at 60 of 100", lrs[:60], u[:59] + [u[58] * 5], num_steps=100)
    lin = lin_lrs(1e-4, 1.0, 100)
    add("linear mode, noisy U", lin, smoothed(u_curve(lin, rng, 0.03, centre=-1.5, rise=-0.3)), mode="linear")
    lin0 = lin_lrs(0.0, 0.5, 50)
    add("linear mode from 0", lin0, [1.0 + (lr - 0.2) ** 2 + rng.gauss(0, 0.005) for lr in lin0], mode="linear")
    dup = lin_lrs(1.0, 1.0 + 4e-6, 40)  # consecutive LRs collide in float32: zero spacing
    add("LRs equal in float32", dup, [2.0 - 0.01 * k + rng.gauss(0, 0.001) for k in range(40)], mode="linear")
    for n in (2, 3, 6, 11, 12, 13, 16, 17):
        l = exp_lrs(1e-5, 1.0, n)
        add(f"short, {n} steps", l, [2.0 - 0.1 * k + rng.gauss(0, 0.02) for k in range(n)])
    add("short record of a long plan (9 of 100)", lrs[:9], u[:9], num_steps=100)
    l1000 = exp_lrs(1e-8, 1.0, 1000)
    add("1000 steps", l1000, smoothed(u_curve(l1000, rng, 0.1, centre=-3, rise=-0.5)))
    return cases


def render(lightning_class, valley_run):
    cases = recorded() + synthetic()
    out = []
    for case in cases:
        out.append({
            "name": case["name"],
            "source": case["source"],
            "mode": case["mode"],
            "num_steps": case["num_steps"],
            "lrs": [repr(v) for v in case["lrs"]],
            "smoothed_losses": [repr(v) for v in case["losses"]],
            "lightning": [lightning(lightning_class, case, b, e) for b, e in LIGHTNING_SKIPS],
            "fastai_valley": valley_run(case),
        })
    doc = {
        "references": {"pytorch-lightning": LIGHTNING_VERSION, "fastai": FASTAI_VERSION, "fastcore": FASTCORE_VERSION,
                       "torch": torch.__version__.split("+")[0]},
        "cases": out,
    }
    # One line per case.
    head = json.dumps(doc["references"])
    text = '{"references": ' + head + ',\n "cases": [\n' + ",\n".join(json.dumps(c) for c in out) + "\n]}\n"
    return text, len(out)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--check", action="store_true", help="compare with the committed file instead of writing it")
    args = ap.parse_args()
    for package, want in [("pytorch-lightning", LIGHTNING_VERSION), ("fastai", FASTAI_VERSION),
                          ("fastcore", FASTCORE_VERSION)]:
        if version(package) != want:
            sys.exit(f"gen_fixtures_lr_finder: {package} {want} expected, found {version(package)}")
    text, n = render(lightning_finder_class(), fastai_lr_find())
    if args.check:
        if not OUT.exists() or OUT.read_text() != text:
            sys.exit(f"gen_fixtures_lr_finder: {OUT.relative_to(ROOT)} differs from what Lightning {LIGHTNING_VERSION} "
                     f"and fastai {FASTAI_VERSION} choose\nrun `python scripts/gen_fixtures_lr_finder.py` and commit "
                     "the result")
    else:
        OUT.write_text(text)
    verb = "match the references" if args.check else "written"
    print(f"gen_fixtures_lr_finder: {n} curves {verb} in {OUT.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
