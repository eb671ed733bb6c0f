"""The reference implementations, behind one `build_scheduler(opt, config)`:
PyTorch's `torch.optim.lr_scheduler` (scripts/fixtures/common.py), transformers'
`get_scheduler` (names `transformers.<type>`), timm's schedulers (names
`timm.<Class>`, stepped with the explicit t tch-lr uses), DeepSpeed's (names
`deepspeed.<Class>`, its lr_schedules.py loaded by path), Megatron-core's OptimizerParamScheduler
(`megatron.OptimizerParamScheduler`, stepped by its `increment`), and the `warmup:`
block on any PyTorch or transformers schedule, which means
`SequentialLR([LinearLR(start_factor, 1.0, total_iters=steps), X], milestones=[steps])`.

trace_torch.py (the reference side of `tch-lr trace`), train_resnet_torch.py and the
fixture generators (scripts/fixtures/) build every config through it.
"""

import sys
import warnings
from pathlib import Path

from torch.optim import lr_scheduler as L

SCRIPTS = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(SCRIPTS / "fixtures"), str(SCRIPTS / "reference")]
import common as G  # noqa: E402

_torch_build = G.build_scheduler


def build_optimizer(o):
    """The optimizer of a config's `optimizer:` section (scripts/fixtures/common.py's), with its
    `weight_decay` (one, or one per group) in each param group, as tch-lr builds it."""
    opt = G.build_optimizer(o)
    wd = o.get("weight_decay")
    if wd is not None:
        wds = wd if isinstance(wd, list) else [wd] * len(opt.param_groups)
        for group, w in zip(opt.param_groups, wds):
            group["weight_decay"] = w
    return opt


def shadow_optimizer(o, values):
    """What a `weight_decay_scheduler:` or `momentum_scheduler:` means: its schedule, run by the
    reference library on an optimizer of section `o`'s kind and momentum (beta1) whose LRs are
    `values` (each group's weight decay or momentum); its LRs are the scheduled values."""
    return G.build_optimizer(dict(o, lr=list(values)))


def build_scheduler(opt, s):
    """A scheduler object with `step([metric])` and `get_last_lr()` for the config mapping `s`."""
    s = dict(s)
    w = s.pop("warmup", None)
    if w is not None:
        warm = L.LinearLR(opt, start_factor=w.get("start_factor", 1.0 / 3), end_factor=1.0, total_iters=w["steps"])
        return L.SequentialLR(opt, [warm, build_scheduler(opt, s)], milestones=[w["steps"]])
    name = s["name"]
    if name.startswith("transformers."):
        return _transformers_build(opt, s)
    if name.startswith("timm."):
        return _timm_build(opt, s)
    if name.startswith("deepspeed."):
        return _deepspeed_build(opt, s)
    if name.startswith("megatron."):
        return _megatron_build(opt, s)
    return _torch_build(opt, s)


# The composites of every family build their children through this module.
G.build_scheduler = build_scheduler


def _transformers_build(opt, s):
    """`transformers.<type>` through transformers' own `get_scheduler`, the flat
    keys beside `num_warmup_steps` and `num_training_steps` as its
    `scheduler_specific_kwargs`."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from transformers.optimization import get_scheduler  # noqa: PLC0415 - slow import, only when used
    kw = {k: v for k, v in s.items() if k != "name"}
    w = kw.pop("num_warmup_steps", None)
    t = kw.pop("num_training_steps", None)
    return get_scheduler(s["name"][len("transformers."):], opt, num_warmup_steps=w, num_training_steps=t,
                         scheduler_specific_kwargs=kw or None)


def _timm_build(opt, s):
    import gen_timm as M  # noqa: PLC0415 - only when used

    return M.build_scheduler(opt, s)


def _deepspeed_build(opt, s):
    import gen_deepspeed as M  # noqa: PLC0415 - only when used

    return M.build_scheduler(opt, s)


def _megatron_build(opt, s):
    """`megatron.OptimizerParamScheduler`: megatron-core's own file (gen_megatron.py), stepped by
    its `increment`; it drives every group's weight decay too."""
    import gen_megatron as M  # noqa: PLC0415 - only when used

    return M.build_scheduler(opt, s)
