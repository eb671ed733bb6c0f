"""The registered schedules, as `tch-lr list --format json` prints them: the
one list the Python scripts use instead of keeping their own."""

import json
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def registry():
    """A list of {name, kwargs, example, takes_metric}, in the registry's order."""
    cmd = ["cargo", "run", "--quiet", "--bin", "tch-lr", "--", "list", "--format", "json"]
    out = subprocess.run(cmd, cwd=ROOT, check=True, capture_output=True, text=True).stdout
    return json.loads(out)


def names():
    """The registered schedules' names."""
    return [s["name"] for s in registry()]
