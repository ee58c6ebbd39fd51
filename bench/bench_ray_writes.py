"""Driver CPU per frame of a Ray `generate`, driver writes vs workers write (issue 17, "Ray at scale").

Starts a local Ray cluster in this process (`ray.init`, `--ray-cpus` CPUs, on loopback), then generates the same
dataset twice into fresh temporary directories on `--workers` actors: once with `workers_write=False` (each worker
returns its rendered frames through Ray's object store and this process, the driver, encodes and writes every
chunk) and once with the default (each worker encodes and writes its own chunks into the shared directory and
returns only their checksums). Driver CPU is this process's user + system time (`getrusage(RUSAGE_SELF)`: every
thread of the driver, not the Ray daemons or workers it started) over the whole `generate` call, so it includes
the manifest, journal and Ray's own bookkeeping, the same both ways; "block loop" counts only from the first
progress report (manifest written, actors started) to the last (every block journalled). A first small run warms imports and actors'
code paths. It prints a table and the ratio; nothing is kept.

    python bench/bench_ray_writes.py [--frames N] [--res R] [--chunk-frames C] [--workers W] [--ray-cpus K]
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import tempfile
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

from frobnoscope.scenes.generate import generate

console = Console(width=120)


def driver_cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def run(root: Path, name: str, args, workers_write: bool) -> dict:
    out = root / name
    loop: list[float] = []  # driver CPU at each progress report: the first comes after the manifest, before any block

    def on_progress(done: int, total: int) -> None:
        loop.append(driver_cpu_s())

    cpu, wall = driver_cpu_s(), time.perf_counter()
    generate("tabletop", n=args.frames, seed=0, settings={"res": args.res}, chunk_frames=args.chunk_frames, out=out,
             workers=args.workers, ray_address="auto", workers_write=workers_write, on_progress=on_progress)
    cpu, wall = driver_cpu_s() - cpu, time.perf_counter() - wall
    megabytes = sum(f.stat().st_size for f in out.rglob("*") if f.is_file()) / 1e6
    return {"cpu_ms_per_frame": 1e3 * cpu / args.frames, "loop_ms_per_frame": 1e3 * (loop[-1] - loop[0]) / args.frames,
            "wall_s": wall, "megabytes": megabytes}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=96)
    parser.add_argument("--res", type=int, default=128)
    parser.add_argument("--chunk-frames", type=int, default=8)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--ray-cpus", type=int, default=2)
    args = parser.parse_args()
    os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
    os.environ.setdefault("RAY_AUTH_MODE", "disabled")  # else ray.init writes ~/.ray/auth_token, and later local heads use it
    import ray

    with tempfile.TemporaryDirectory(prefix="frob-ray-bench-", dir="/tmp") as temp:
        root = Path(temp)
        ray.init(num_cpus=args.ray_cpus, include_dashboard=False, logging_level="ERROR", log_to_driver=False,
                 object_store_memory=300 * 1024**2, _temp_dir=str(root / "ray"))
        try:
            warm = argparse.Namespace(**{**vars(args), "frames": args.chunk_frames * args.workers})
            run(root, "warm-driver", warm, False)
            run(root, "warm-workers", warm, True)
            results = {"driver writes": run(root, "driver", args, False),
                       "workers write": run(root, "workers", args, True)}
        finally:
            ray.shutdown()
    table = Table(title=f"Ray generate: tabletop, {args.frames} frames at {args.res}x{args.res}, "
                        f"chunks of {args.chunk_frames}, {args.workers} actors ({platform.processor() or 'cpu'})")
    for column in ("who writes the chunks", "driver CPU ms/frame", "of which in the block loop", "wall s", "MB written"):
        table.add_column(column, justify="left" if column.startswith("who") else "right")
    for name, result in results.items():
        table.add_row(name, f"{result['cpu_ms_per_frame']:.2f}", f"{result['loop_ms_per_frame']:.2f}",
                      f"{result['wall_s']:.2f}", f"{result['megabytes']:.1f}")
    console.print(table)
    for key, what in (("cpu_ms_per_frame", "whole job"), ("loop_ms_per_frame", "block loop")):
        ratio = results["driver writes"][key] / results["workers write"][key]
        console.print(f"driver CPU per frame ({what}), driver writes / workers write: {ratio:.1f}x")


if __name__ == "__main__":
    main()
