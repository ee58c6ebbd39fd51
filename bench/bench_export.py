"""Throughput of `frob export`, per format, on an orbit dataset (default: 1,000 frames at 128x128).

The dataset is generated once into a temporary directory (2 workers; that takes a while), then each
format is exported with its default channels into a fresh directory and timed end to end (reading the
store, encoding, writing, the atomic rename). The baseline, measured in the same run, is the raw store
read of the same frames and channels (`ExportJob.frames()`, block by block), so the ratio says how many
times longer than reading the data its export takes. It prints only; everything is written to a
temporary directory that is removed at the end.

    python bench/bench_export.py [--frames N] [--res R]
"""

from __future__ import annotations

import argparse
import platform
import tempfile
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

from frobnoscope.scenes.export import format_names, plan_export, run_export
from frobnoscope.scenes.generate import generate

SEED = 0
console = Console(width=120)


def directory_megabytes(path: Path) -> float:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file()) / 1e6


def time_store_read(job) -> float:
    start = time.perf_counter()
    for _ in job.frames():
        pass
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=1000, help="frames in the dataset (default 1000)")
    parser.add_argument("--res", type=int, default=128, help="image width and height (default 128)")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="bench-export-") as temp:
        data = Path(temp) / "orbit"
        console.print(f"generating {args.frames} orbit frames at {args.res}x{args.res} (2 workers) ...")
        start = time.perf_counter()
        generate("orbit", n=args.frames, seed=SEED, out=data, workers=2, settings={"res": str(args.res)})
        console.print(f"generated in {time.perf_counter() - start:.1f} s")

        table = Table(title=f"export throughput: {args.frames} orbit frames at {args.res}x{args.res}, "
                            f"{platform.processor() or platform.machine()}", title_justify="left")
        table.caption = "read: the raw store read of the same frames and channels, timed in the same run"
        for column in ("format", "channels", "seconds", "frames/s", "MB written", "read frames/s", "export/read time"):
            table.add_column(column, justify="left" if column in ("format", "channels") else "right")
        for name in format_names():
            out = Path(temp) / f"export-{name}"
            job = plan_export(data, name, out)
            read_seconds = time_store_read(job)
            start = time.perf_counter()
            run_export(job)
            seconds = time.perf_counter() - start
            channels = ",".join(job.channels) if len(job.channels) < 4 else f"all {len(job.channels)}"
            table.add_row(name, channels, f"{seconds:.2f}", f"{len(job.indices) / seconds:.1f}",
                          f"{directory_megabytes(out):.1f}", f"{len(job.indices) / read_seconds:.1f}",
                          f"{seconds / read_seconds:.2f}x")
        console.print(table)


if __name__ == "__main__":
    main()
