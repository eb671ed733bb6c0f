"""The registered schedules, as `tch-lr list --format json` prints them: the
one list the Python scripts use instead of keeping their own.

`cargo run --bin tch-lr` builds it first; with TCH_LR_BIN set (the test command
sets it to the binary it has just built), that program runs instead.
"""

import json
import os
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def registry():
    """A list of {name, kwargs, example, takes_metric}, in the registry's order."""
    binary = os.environ.get("TCH_LR_BIN")
    cmd = [binary] if binary else ["cargo", "run", "--quiet", "--bin", "tch-lr", "--"]
    cmd += ["list", "--format", "json"]
    out = subprocess.run(cmd, cwd=ROOT, check=True, capture_output=True, text=True).stdout
    return json.loads(out)


def names():
    """The registered schedules' names."""
    return [s["name"] for s in registry()]
