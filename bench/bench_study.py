"""Wall time of a study, per stage (default: the built-in `demo`, what `make demo` runs).

Runs `frob study run STUDY --out WORKSPACE --workers W` as a user would (a subprocess, so start-up and imports are
counted), then reads each stage's wall time from the workspace's manifest and prints them with their share of the
total. The baseline, measured in the same run, is the rerun of the same command on the finished workspace: what
the runner costs when every stage is skipped (start-up, planning, checking settings), so the ratio says how much of
the first run was work. Without --keep, the workspace is a temporary directory removed at the end.

    python bench/bench_study.py [--study demo] [--workers 2] [--keep DIR]
"""

from __future__ import annotations

import argparse
import json
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

FROB = str(Path(sys.executable).parent / "frob")
console = Console(width=120)


def timed_run(study: str, workspace: Path, workers: int) -> float:
    start = time.perf_counter()
    subprocess.run([FROB, "study", "run", study, "--out", str(workspace), "--workers", str(workers)], check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--study", default="demo")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--keep", type=Path, help="workspace to keep (default: a temporary one)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as temp:
        workspace = args.keep or Path(temp) / "ws"
        first = timed_run(args.study, workspace, args.workers)
        rerun = timed_run(args.study, workspace, args.workers)
        stages = json.loads((workspace / "manifest.json").read_text())["stages"]
    table = Table("stage", "seconds", "share", title=f"frob study run {args.study} --workers {args.workers} "
                  f"({platform.processor() or platform.machine()}, {platform.python_version()})")
    work = sum(stage["seconds"] for stage in stages.values())
    for name, stage in stages.items():
        table.add_row(name, f"{stage['seconds']:.1f}", f"{100 * stage['seconds'] / work:.0f}%")
    table.add_row("stages", f"{work:.1f}", "100%")
    console.print(table)
    console.print(f"first run {first:.1f} s (stages {work:.1f} s, runner and start-up {first - work:.1f} s); "
                  f"rerun, every stage skipped (baseline): {rerun:.1f} s; ratio first / rerun {first / rerun:.0f}x")


if __name__ == "__main__":
    main()
