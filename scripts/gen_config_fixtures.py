#!/usr/bin/env python3
"""Writes tests/fixtures/cli/: what PyTorch does with every config `tch-lr trace` is tested on.

The configs are every file in configs/ and a broad generated set (every fourth
case of the parity fixtures and every twelfth of the weight decay and momentum
ones, written as YAML files under tests/fixtures/cli/generated/, with
one-LR-plus-`groups:` variants). For each, tests/fixtures/cli/expected.json
holds PyTorch 2.13's LR and momentum rows, and weight decay rows where a
`weight_decay_scheduler:` drives them (as `tch-lr trace --format json` prints
them), and the error, if PyTorch raises.

    python scripts/gen_config_fixtures.py          # (re)write
    python scripts/gen_config_fixtures.py --check  # fail if anything differs
"""

import argparse
import json
import sys
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))
import gen_fixtures  # noqa: E402
import gen_fixtures_hyper  # noqa: E402
from trace_torch import trace  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "tests" / "fixtures" / "cli"
GENERATED = OUT / "generated"

# Rows traced for each file in configs/ (the others: 30).
ROWS = {"cyclic_lr.yaml": 4500, "one_cycle_lr.yaml": 100, "one_cycle_per_batch.yaml": 384, "warmup_cosine.yaml": 100,
        "cosine_annealing_warm_restarts.yaml": 80, "multi_step_lr.yaml": 12, "step_lr.yaml": 10,
        "timm_cosine_lr_scheduler.yaml": 160, "timm_multi_step_lr_scheduler.yaml": 40, "timm_wsd_lr_scheduler.yaml": 1100,
        "weight_decay_cosine.yaml": 100, "momentum_warmup.yaml": 12}
PLATEAU_METRICS = [round(1.0 / (1 + 0.3 * k) + (0.02 if k % 4 == 3 else 0.0), 6) for k in range(40)]
PLATEAU_METRICS[12:] = [PLATEAU_METRICS[11]] * 28


def generated_files():
    """{relative yaml path: (text, rows, metrics text or None)}."""
    out = {}
    for name, build in gen_fixtures.FILES.items():
        if name == "seed":
            continue
        c = gen_fixtures.Cases()
        build(c)
        for i, case in enumerate(c.cases):
            if i % 4 or "epochs" in case:
                continue
            config = dict(case["config"])
            o = dict(config["optimizer"])
            if i % 8 == 0 and isinstance(o["lr"], list) and len(set(o["lr"])) > 1:
                o = dict(o, lr=o["lr"][0], groups=len(o["lr"]))
            config["optimizer"] = o
            if i % 3 == 0:
                config["interval"] = "step"
            stem = f"{name}-{i:03d}"
            text = f"# {name}: {case['name']}\n" + yaml.safe_dump(config, sort_keys=False, default_flow_style=i % 2 == 1)
            metrics = None
            if "metrics" in case:
                metrics = "".join(f"{float(v)!r}\n" for v in case["metrics"])
            out[f"{stem}.yaml"] = (text, case["steps"] + 1, metrics)
    for name, build in gen_fixtures_hyper.FILES.items():
        c = gen_fixtures_hyper.Cases()
        build(c)
        for i, case in enumerate(c.cases):
            if i % 12 or "epochs" in case:
                continue
            text = f"# hyper {name}: {case['name']}\n" + yaml.safe_dump(case["config"], sort_keys=False,
                                                                        default_flow_style=i % 24 == 0)
            metrics = "".join(f"{float(v)!r}\n" for v in case["metrics"]) if "metrics" in case else None
            out[f"hyper.{name}-{i:03d}.yaml"] = (text, case["steps"] + 1, metrics)
    return out


def render():
    files = {}  # path relative to ROOT -> text
    cases = []
    plateau = "".join(f"{v!r}\n" for v in PLATEAU_METRICS)
    files["tests/fixtures/cli/plateau_metrics.txt"] = plateau
    for path in sorted((ROOT / "configs").glob("*.yaml")):
        config = yaml.safe_load(path.read_text())
        metrics = None
        if config["scheduler"]["name"] == "ReduceLROnPlateau":
            metrics = "tests/fixtures/cli/plateau_metrics.txt"
        rows = ROWS.get(path.name, 30)
        cases.append((f"configs/{path.name}", config, rows, metrics, PLATEAU_METRICS if metrics else None))
    for rel, (text, rows, metrics) in sorted(generated_files().items()):
        yaml_path = f"tests/fixtures/cli/generated/{rel}"
        files[yaml_path] = text
        mpath = None
        values = None
        if metrics is not None:
            mpath = yaml_path.replace(".yaml", ".metrics")
            files[mpath] = metrics
            values = [float(v) for v in metrics.split()]
        cases.append((yaml_path, yaml.safe_load(text), rows, mpath, values))
    expected = []
    for path, config, rows, mpath, values in cases:
        traced, err = trace(config, rows, values)
        expected.append({"config": path, "steps": rows, "metrics": mpath, **traced,
                         "error": None if err is None else {"row": err["row"], "message": err["message"]}})
    files["tests/fixtures/cli/expected.json"] = json.dumps(
        {"torch_version": gen_fixtures.TORCH_VERSION, "cases": expected}, indent=0, allow_nan=False) + "\n"
    return files


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--check", action="store_true")
    args = ap.parse_args()
    files = render()
    if args.check:
        stale = [p for p, t in files.items() if not (ROOT / p).exists() or (ROOT / p).read_text() != t]
        extra = [str(p.relative_to(ROOT)) for p in GENERATED.glob("*") if str(p.relative_to(ROOT)) not in files]
        if stale or extra:
            sys.exit(f"gen_config_fixtures: differ from PyTorch or stale: {', '.join(stale + extra)}\n"
                     "run `python scripts/gen_config_fixtures.py` and commit the result")
    else:
        if GENERATED.exists():
            for p in GENERATED.glob("*"):
                p.unlink()
        for p, t in files.items():
            (ROOT / p).parent.mkdir(parents=True, exist_ok=True)
            (ROOT / p).write_text(t)
    n = len(json.loads(files["tests/fixtures/cli/expected.json"])["cases"])
    print(f"gen_config_fixtures: {n} configs {'match PyTorch' if args.check else 'written'}")


if __name__ == "__main__":
    main()
