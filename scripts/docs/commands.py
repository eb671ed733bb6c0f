#!/usr/bin/env python3
"""Runs every shell block of README.md and docs/guide/*.md as printed, from a copy of the checkout: a command
the docs show that stops working fails (the test command runs this after the tests).

    python3 scripts/docs/commands.py            # every block; prints the ones skipped, and why
    python3 scripts/docs/commands.py --list     # the blocks and what will be done with each, nothing run

A block is the text between a ```sh (bash, shell, console) fence and its end; it runs as one `bash -e -o pipefail`
script in a copy of the checkout's tracked files (with its .venv and target/ linked in and .cargo/ copied, so that
the builds of the main job are reused), in a shell with no variable of scripts/env.sh set and no venv active: what a reader
who opens a new terminal gets. An HTML comment on the line just above the fence (invisible in the rendered page)
may say how the block is run; what the reader sees is never changed:

    <!-- docs-test: skip REASON -->                 not run (a GPU, several machines, a placeholder path); listed
    <!-- docs-test: skip-line TEXT: REASON -->      the block's lines that start with TEXT are not run; listed
    <!-- docs-test: add-to PREFIX: ARGS -->         ARGS (flags the command already has: sizes) added to each of the
                                                    block's commands that starts with PREFIX
    <!-- docs-test: before COMMAND -->              COMMAND runs first (a file the block reads, made as the docs say)

Several directives can be given, one comment each, on consecutive lines above the fence.
"""

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SHELLS = {"sh", "bash", "shell", "console"}
DIRECTIVE = re.compile(r"^<!--\s*docs-test:\s*(skip-line|skip|add-to|before)\s+(.*?)\s*-->$")
# Variables that make a shell not a new one.
PROJECT_ENV = ["VIRTUAL_ENV", "LIBTORCH_USE_PYTORCH", "LIBTORCH", "LIBTORCH_CXX11_ABI", "CARGO_TARGET_DIR"]


class Block:
    def __init__(self, path, line, text, directives):
        self.path, self.line, self.text = path, line, text
        self.skip = None
        self.skip_lines = []
        self.add = []
        self.before = []
        for kind, arg in directives:
            if kind == "skip":
                self.skip = arg
            elif kind == "skip-line":
                prefix, _, reason = arg.partition(": ")
                self.skip_lines.append((prefix, reason))
            elif kind == "add-to":
                prefix, _, flags = arg.partition(": ")
                self.add.append((prefix, flags))
            else:
                self.before.append(arg)

    def where(self):
        return f"{self.path.relative_to(ROOT)}:{self.line}"

    def script(self):
        """The block as it runs: skipped lines out, `add-to`'s flags in, `before`'s commands first; and the
        lines skipped, with their reasons."""
        out, skipped = list(self.before), []
        logical = []
        for raw in self.text.splitlines():
            if logical and logical[-1].endswith("\\"):
                logical[-1] = logical[-1] + "\n" + raw
            else:
                logical.append(raw)
        for line in logical:
            stripped = line.strip()
            reason = next((r for p, r in self.skip_lines if stripped.startswith(p)), None)
            if reason is not None:
                skipped.append((stripped.splitlines()[0], reason))
                continue
            for prefix, flags in self.add:
                if stripped.startswith(prefix):
                    command, sep, comment = line.partition("  #")
                    line = f"{command.rstrip()} {flags}" + (f"  #{comment}" if sep else "")
            out.append(line)
        return "\n".join(out) + "\n", skipped


def blocks():
    files = [ROOT / "README.md"] + sorted((ROOT / "docs" / "guide").glob("*.md"))
    for path in files:
        lines = path.read_text().split("\n")
        i = 0
        while i < len(lines):
            fence = lines[i].strip()
            if not fence.startswith("```"):
                i += 1
                continue
            lang = fence[3:].strip()
            end = next((j for j in range(i + 1, len(lines)) if lines[j].strip().startswith("```")), len(lines))
            if lang in SHELLS:
                directives, k = [], i - 1
                while k >= 0 and DIRECTIVE.match(lines[k].strip()):
                    directives.insert(0, DIRECTIVE.match(lines[k].strip()).groups())
                    k -= 1
                yield Block(path, i + 1, "\n".join(lines[i + 1:end]), directives)
            i = end + 1


def copy_checkout(dest):
    """The tracked files (as they are in the working tree), with .venv and target/ linked in, .cargo/ copied."""
    files = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, check=True, capture_output=True).stdout
    for name in files.decode().split("\0"):
        if not name:
            continue
        src, dst = ROOT / name, dest / name
        if not src.exists():
            continue
        dst.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(src, dst, follow_symlinks=False)
    for linked in [".venv", "target"]:
        if (ROOT / linked).exists():
            (dest / linked).symlink_to(ROOT / linked)
    # A copy, not a link: the copy's setup.sh must not rewrite this checkout's file. Its LIBTORCH is the
    # .venv's real path, the same in the copy (whose .venv is a link here): the shared target/ stays built.
    if (ROOT / ".cargo").is_dir():
        shutil.copytree(ROOT / ".cargo", dest / ".cargo")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--list", action="store_true", help="list the blocks and what would be done, run nothing")
    ap.add_argument("--timeout", type=int, default=1800, help="seconds each block may take (default 1800)")
    args = ap.parse_args()
    all_blocks = list(blocks())
    skipped, failed, ran = [], [], 0
    env = {k: v for k, v in os.environ.items() if k not in PROJECT_ENV}
    venv_bin = str(ROOT / ".venv" / "bin")
    env["PATH"] = os.pathsep.join(p for p in env.get("PATH", "").split(os.pathsep) if p != venv_bin)
    with tempfile.TemporaryDirectory(prefix="tch-lr-docs-") as tmp:
        work = Path(tmp)
        if not args.list:
            copy_checkout(work)
        for b in all_blocks:
            if b.skip:
                skipped.append((b.where(), b.text.strip().splitlines()[0], b.skip))
                continue
            script, lines_skipped = b.script()
            skipped += [(b.where(), line, reason) for line, reason in lines_skipped]
            if args.list:
                print(f"== {b.where()}: runs\n{script}")
                continue
            print(f"== {b.where()}", flush=True)
            start = time.monotonic()
            try:
                done = subprocess.run(["bash", "-e", "-o", "pipefail", "-c", script], cwd=work, env=env,
                                      timeout=args.timeout)
                ok = done.returncode == 0
            except subprocess.TimeoutExpired:
                ok = False
            ran += 1
            print(f"   ({b.where()}: {'ok' if ok else 'FAILED'}, {time.monotonic() - start:.0f} s)", flush=True)
            if not ok:
                failed.append(b.where())
    print(f"\ndocs: {ran} shell blocks run, {len(skipped)} blocks or lines not run:")
    for where, line, reason in skipped:
        print(f"  {where}: `{line[:70]}`: {reason}")
    if failed:
        sys.exit(f"docs: these blocks fail as printed: {', '.join(failed)}")


if __name__ == "__main__":
    main()
