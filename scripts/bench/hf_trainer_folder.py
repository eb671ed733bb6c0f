#!/usr/bin/env python3
"""Writes a Hugging Face Trainer checkpoint folder whose optimizer.pt holds about 1 GiB of AdamW moments,
and measures `tch-lr trace CONFIG --steps N --resume-from FOLDER` on it (wall time and max RSS, from
/usr/bin/time -v), beside the same trace from step 0: reading the folder must not read the moments
(docs/guide/pytorch-interop.md records the numbers).

The folder is what `transformers.Trainer` saves at step K, less what tch-lr does not read (the model's
weights, RNG states, training_args.bin): `optimizer.pt` (`torch.optim.AdamW(fused=True)`, the Trainer's
two groups, with and without weight decay, after K steps), `scheduler.pt` (transformers' linear schedule
with warmup, a LambdaLR) and `trainer_state.json` (`global_step`, `max_steps` and the learning rate
logged at each step, as transformers 5 logs it: the rate the step ran with). Beside it, `trainer.yaml`
is the tch-lr config that describes the run (the guide's mapping; tests/fixtures/hf_trainer/ holds
small folders written by the real Trainer, scripts/fixtures/gen_hf_trainer.py).

    . scripts/env.sh
    python scripts/bench/hf_trainer_folder.py /tmp/hf-big                      # write it (~1 min)
    python scripts/bench/hf_trainer_folder.py /tmp/hf-big --measure target/release/tch-lr
"""

import argparse
import json
import statistics
import subprocess
from pathlib import Path

import torch

LR, WARMUP, MAX_STEPS, STEPS, WD = 1e-3, 2, 20, 3, 0.01


def write(out, moments_gib):
    from transformers import get_scheduler  # noqa: PLC0415 - slow import

    # Square weights in the decay group, a bias and a norm weight per layer in the other: the
    # moments (exp_avg and exp_avg_sq, float32) take 8 bytes per parameter.
    width = 4096
    layers = max(1, round(moments_gib * 2**30 / 8 / (width * width)))
    decay = [torch.nn.Parameter(torch.zeros(width, width)) for _ in range(layers)]
    no_decay = [torch.nn.Parameter(torch.zeros(width)) for _ in range(2 * layers)]
    groups = [{"params": decay, "weight_decay": WD}, {"params": no_decay, "weight_decay": 0.0}]
    optimizer = torch.optim.AdamW(groups, lr=LR, fused=True)
    scheduler = get_scheduler("linear", optimizer, num_warmup_steps=WARMUP, num_training_steps=MAX_STEPS)
    log = []
    for step in range(1, STEPS + 1):
        for p in decay + no_decay:
            p.grad = torch.full_like(p, 1e-3 * step)
        log.append({"learning_rate": scheduler.get_last_lr()[0], "loss": 0.0, "step": step})
        optimizer.step()
        scheduler.step()
    folder = out / f"checkpoint-{STEPS}"
    folder.mkdir(parents=True, exist_ok=True)
    torch.save(optimizer.state_dict(), folder / "optimizer.pt")
    torch.save(scheduler.state_dict(), folder / "scheduler.pt")
    state = {"global_step": STEPS, "max_steps": MAX_STEPS, "log_history": log}
    (folder / "trainer_state.json").write_text(json.dumps(state, indent=2))
    config = {"optimizer": {"name": "adamw", "lr": LR, "groups": 2, "weight_decay": [WD, 0.0]},
              "scheduler": {"name": "transformers.linear", "num_warmup_steps": WARMUP,
                            "num_training_steps": MAX_STEPS}, "interval": "step"}
    (out / "trainer.yaml").write_text(json.dumps(config, indent=1) + "\n")  # JSON is YAML
    size = (folder / "optimizer.pt").stat().st_size
    print(f"{folder}: optimizer.pt {size / 2**30:.2f} GiB ({layers} x {width}x{width} weights)")


def time_v(cmd, runs):
    """The median wall time (s) and max RSS (MiB) of `runs` runs of `cmd`, from /usr/bin/time -v."""
    walls, rss = [], []
    for _ in range(runs):
        p = subprocess.run(["/usr/bin/time", "-v", *cmd], capture_output=True, text=True, check=True)
        fields = dict(line.strip().split(": ", 1) for line in p.stderr.splitlines() if ": " in line)
        m, s = fields["Elapsed (wall clock) time (h:mm:ss or m:ss)"].rsplit(":", 1)
        walls.append(int(m.split(":")[-1]) * 60 + float(s))
        rss.append(int(fields["Maximum resident set size (kbytes)"]) / 1024)
    return (f"wall median {statistics.median(walls):.2f} s (min {min(walls):.2f}, max {max(walls):.2f}); "
            f"max RSS median {statistics.median(rss):.0f} MiB (max {max(rss):.0f})")


def measure(out, binary, runs):
    """The trace resumed from the folder, and the same trace from step 0 (the process's floor: libtorch
    loaded, no file read)."""
    trace = [str(binary), "trace", str(out / "trainer.yaml"), "--steps", str(MAX_STEPS + 1)]
    resumed = [*trace, "--resume-from", str(out / f"checkpoint-{STEPS}")]
    for what, cmd in (("resumed from the folder", resumed), ("from step 0, no file", trace)):
        print(f"/usr/bin/time -v {' '.join(cmd)}")
        print(f"  {what}, {runs} runs: {time_v(cmd, runs)}")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("out", type=Path, help="where to write checkpoint-3/ and trainer.yaml")
    ap.add_argument("--moments-gib", type=float, default=1.0)
    ap.add_argument("--measure", type=Path, metavar="TCH_LR", help="time this tch-lr binary on the folder")
    ap.add_argument("--runs", type=int, default=5)
    args = ap.parse_args()
    if args.measure is None or not (args.out / f"checkpoint-{STEPS}").is_dir():
        write(args.out, args.moments_gib)
    if args.measure is not None:
        measure(args.out, args.measure, args.runs)


if __name__ == "__main__":
    main()
