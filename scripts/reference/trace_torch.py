#!/usr/bin/env python3
"""The reference side of `tch-lr trace`: the same config, stepped by the reference library
(torch.optim.lr_scheduler; transformers and timm for their names; see references.py).

    python scripts/reference/trace_torch.py CONFIG --steps N [--metrics FILE]
        [--save-to FILE --save-at K] [--resume-from FILE]

prints `{"lr": [[...]], "momentum": [[...]]}` exactly as `tch-lr trace --format json`
does (row 0 after construction, row k after k steps), with `"weight_decay": [[...]]`
when the config has a `weight_decay_scheduler:` or a scheduler that drives the weight decay itself (Megatron's
OptimizerParamScheduler), so the two can be diffed. A
`weight_decay_scheduler:` (`momentum_scheduler:`) is its schedule run on a second
optimizer of the same kind whose LRs are the groups' weight decays (momenta): its
LRs are the rows (references.shadow_optimizer). A step the reference refuses prints
its message on stderr and exits with status 1.

`--save-to FILE --save-at K` writes, after row K, `torch.save({"optimizer":
optimizer.state_dict(), "scheduler": scheduler.state_dict()}, FILE)` (the file
`tch-lr trace --resume-from` reads) and goes on; for a timm schedule, timm's own
`scheduler.state_dict()` and, as timm keeps no step count, `"t"`: the last `step(t)`'s
t (`{"optimizer", "scheduler", "t"}`); for `SWA` (PyTorch's SWA loop) its two schedulers' states, as a
user saves them (`{"optimizer", "scheduler", "swa_scheduler"}`). With a `weight_decay_scheduler:` (`momentum_scheduler:`)
the file has the key `weight_decay_scheduler` (`momentum_scheduler`): the same
`{"optimizer", "scheduler"}` for its shadow optimizer and its scheduler. `--resume-from FILE` loads such
a file (`weights_only=True`; written after k steps, by PyTorch or by `tch-lr
trace --save-pytorch`) into the optimizer and scheduler built from CONFIG and
prints rows k..N-1 (row k: the state as loaded; `--metrics` by global step).

CONFIG may be DeepSpeed's JSON config: its "optimizer" and "scheduler" blocks built as
DeepSpeed's engine builds them (gen_deepspeed.engine_build); a DeepSpeed schedule's state
is `{'last_batch_iteration': i}`, i + 1 steps.
"""

import argparse
import json
import sys
import warnings
from pathlib import Path

import torch
import yaml
from torch.optim import lr_scheduler as L

SCRIPTS = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(SCRIPTS / "fixtures"), str(SCRIPTS / "reference")]
from common import momenta, num  # noqa: E402
from gen_deepspeed import engine_build, is_deepspeed_config  # noqa: E402
from references import build_optimizer, build_scheduler, shadow_optimizer  # noqa: E402

DEFAULT_OPTIMIZER = {"name": "sgd", "lr": 0.1}

# The sections that schedule another hyper-parameter, and the group key each drives.
HYPERS = (("weight_decay_scheduler", "weight_decay"), ("momentum_scheduler", "momentum"))


def step(sched, metric, epoch):
    """`step(epoch)`, `step(metric)` for ReduceLROnPlateau, else `step()`."""
    if epoch is not None:
        sched.step(epoch)
    elif metric is not None and isinstance(sched, L.ReduceLROnPlateau):
        sched.step(metric)
    else:
        sched.step()


def resumed_at(sd):
    """The steps a scheduler state_dict has taken: its last_epoch (a ChainedScheduler's first child's)."""
    while "last_epoch" not in sd:
        sd = sd["_schedulers"][0]
    return sd["last_epoch"]


def deepspeed_steps(sched):
    """A DeepSpeed schedule's steps since construction (gen_deepspeed.Stepped), or None."""
    return sched.steps_taken() if hasattr(sched, "steps_taken") else None


def saved_state(sched):
    """The scheduler's part of a saved file: {"scheduler": its state_dict()}; for a timm
    schedule (gen_timm.Stepped) timm's own state_dict() and, as timm keeps no step count,
    {"t": the last step(t)'s t}."""
    if hasattr(sched, "saved_state"):  # a schedule that says what a run saves of it (Megatron's)
        return sched.saved_state()
    if hasattr(sched, "sched"):
        return {"scheduler": sched.sched.state_dict(), "t": sched.t}
    if hasattr(sched, "swa_scheduler"):  # PyTorch's SWA loop (common.SwaLoop): its two schedulers
        return {"scheduler": sched.scheduler.state_dict(), "swa_scheduler": sched.swa_scheduler.state_dict()}
    return {"scheduler": sched.state_dict()}


def load_state(sched, saved):
    """Loads saved_state()'s keys of `saved` into `sched`; returns the steps it had taken."""
    if hasattr(sched, "load_saved"):
        return sched.load_saved(saved)
    if hasattr(sched, "sched"):
        sched.sched.load_state_dict(saved["scheduler"])
        sched.t = saved["t"]
        return sched.t
    if hasattr(sched, "swa_scheduler"):
        sched.scheduler.load_state_dict(saved["scheduler"])
        sched.swa_scheduler.load_state_dict(saved["swa_scheduler"])
        sched.resumed(resumed_at(saved["scheduler"]) + resumed_at(saved["swa_scheduler"]))
        return sched.epoch
    sched.load_state_dict(saved["scheduler"])
    if deepspeed_steps(sched) is not None:
        return deepspeed_steps(sched)
    return resumed_at(saved["scheduler"])


def trace(config, rows, metrics=None, epochs=None, save_to=None, save_at=None, resume_from=None):
    """Returns (rows, error): rows holds each row's "lr" and "momentum" (and "weight_decay"
    with a weight_decay_scheduler:) per group; error is None or {"row", "type", "message"}.
    With save_to, saves {"optimizer", "scheduler"} there after row save_at (and
    {"weight_decay_scheduler": {"optimizer", "scheduler"}} for the shadow optimizer and its
    scheduler, the same for momentum_scheduler:); with resume_from, loads such a file and traces
    from its step on."""
    deepspeed = is_deepspeed_config(config)
    o = config.get("optimizer") or DEFAULT_OPTIMIZER
    opt = None if deepspeed else build_optimizer(o)
    out = {"lr": [], "momentum": []}
    if config.get("weight_decay_scheduler") or str(config["scheduler"].get("name", "")).startswith("megatron."):
        out["weight_decay"] = []
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            if deepspeed:
                opt, first_sched = engine_build(config)
            else:
                first_sched = build_scheduler(opt, config["scheduler"])
            scheds = [first_sched]
            shadows = {}
            parts = [(None, opt, scheds[0])]  # (the file's key, optimizer, scheduler)
            for key, target in HYPERS:
                if config.get(key):
                    values = momenta(opt) if target == "momentum" else [g[target] for g in opt.param_groups]
                    shadow = shadow_optimizer(o, values)
                    scheds.append(build_scheduler(shadow, config[key]))
                    shadows[target] = shadow
                    parts.append((key, shadow, scheds[-1]))
            first = 0
            if resume_from is not None:
                saved = torch.load(resume_from, weights_only=True)
                for key, o_, s_ in parts:
                    part = saved if key is None else saved[key]
                    o_.load_state_dict(part["optimizer"])
                    at = load_state(s_, part)
                    first = at if key is None else first
            for row in range(first, rows):
                if row > first:
                    for sched in scheds:
                        step(sched, metrics[row - 1] if metrics is not None else None,
                             epochs[row - 1] if epochs is not None else None)
                out["lr"].append([num(g["lr"]) for g in opt.param_groups])
                m = shadows.get("momentum")
                out["momentum"].append([num(g["lr"]) for g in m.param_groups] if m else [num(v) for v in momenta(opt)])
                if "weight_decay" in out:
                    wd = shadows.get("weight_decay")  # the shadow's LRs, or the scheduler's own (Megatron's)
                    out["weight_decay"].append([num(g["lr"]) for g in wd.param_groups] if wd else
                                               [num(g["weight_decay"]) for g in opt.param_groups])
                if save_to is not None and row == save_at:
                    torch.save({"optimizer": opt.state_dict(), **saved_state(scheds[0]),
                                **{key: {"optimizer": o_.state_dict(), **saved_state(s_)}
                                   for key, o_, s_ in parts[1:]}}, save_to)
    except Exception as e:  # noqa: BLE001 - reported like tch-lr does
        return out, {"row": len(out["lr"]), "type": type(e).__name__, "message": str(e)}
    return out, None


def read_metrics(path):
    return [float(line) for line in Path(path).read_text().splitlines() if line.strip()]


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("config")
    ap.add_argument("--steps", type=int, required=True)
    ap.add_argument("--metrics")
    ap.add_argument("--save-to")
    ap.add_argument("--save-at", type=int)
    ap.add_argument("--resume-from")
    args = ap.parse_args()
    if (args.save_to is None) != (args.save_at is None):
        ap.error("--save-to and --save-at go together")
    text = Path(args.config).read_text()
    # DeepSpeed's config as JSON: PyYAML (YAML 1.1) reads `1e-8` as a string.
    config = json.loads(text) if args.config.endswith(".json") else yaml.safe_load(text)
    rows, err = trace(config, args.steps, read_metrics(args.metrics) if args.metrics else None,
                      save_to=args.save_to, save_at=args.save_at, resume_from=args.resume_from)
    if err:
        sys.exit(f"error: {err['message']}")
    print(json.dumps(rows, separators=(",", ":")))


if __name__ == "__main__":
    main()
