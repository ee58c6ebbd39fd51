"""Driver CPU per frame of a Ray `generate`, driver writes vs workers write (issue 17, "Ray at scale").

Starts a local Ray cluster in this process (`ray.init`, `--ray-cpus` CPUs, on loopback), then generates the same
dataset twice into fresh temporary directories on `--workers` actors: once with `workers_write=False` (each worker
returns its rendered frames through Ray's object store and this process, the driver, encodes and writes every
chunk) and once with the default (each worker encodes and writes its own chunks into the shared directory and
returns only their checksums). With `--storage s3` (or `both`, the default) it does the same into an object store:
`s3://frob-bench/...` on moto's S3 server, started in a process of its own on a free loopback port (so its CPU is
not the driver's) and reached by the driver and the workers through AWS_ENDPOINT_URL. Driver CPU is this process's user + system time (`getrusage(RUSAGE_SELF)`: every
thread of the driver, not the Ray daemons or workers it started) over the whole `generate` call, so it includes
the manifest, journal and Ray's own bookkeeping, the same both ways; "block loop" counts only from the first
progress report (manifest written, actors started) to the last (every block journalled). A first small run warms imports and actors'
code paths. It prints a table and the ratio; nothing is kept.

    python bench/bench_ray_writes.py [--frames N] [--res R] [--chunk-frames C] [--workers W] [--ray-cpus K]
                                     [--storage fs|s3|both]
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import socket
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

from rich.console import Console
from rich.table import Table

from frobnoscope.engine.storage import location
from frobnoscope.scenes.generate import generate

console = Console(width=120)


def driver_cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


@contextmanager
def moto_server():
    """moto's S3 server in a process of its own on a free loopback port, with a bucket `frob-bench`; this process
    (and the Ray cluster it starts afterwards) reaches it through the AWS_* variables."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if time.monotonic() > deadline or server.poll() is not None:
                    raise RuntimeError("moto's server did not start") from None
                time.sleep(0.2)
        os.environ.update({"AWS_ENDPOINT_URL": f"http://127.0.0.1:{port}", "AWS_ACCESS_KEY_ID": "bench",
                           "AWS_SECRET_ACCESS_KEY": "bench", "AWS_DEFAULT_REGION": "us-east-1"})
        location("s3://frob-bench/probe").fs.mkdir("frob-bench")
        yield "s3://frob-bench"
    finally:
        server.terminate()
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


def run(root, name: str, args, workers_write: bool) -> dict:
    """One generate into `root/name` (`root`: a temporary directory, or an s3:// URL)."""
    out = f"{root}/{name}" if isinstance(root, str) else root / name
    loop: list[float] = []  # driver CPU at each progress report: the first comes after the manifest, before any block

    def on_progress(done: int, total: int) -> None:
        loop.append(driver_cpu_s())

    cpu, wall = driver_cpu_s(), time.perf_counter()
    generate("tabletop", n=args.frames, seed=0, settings={"res": args.res}, chunk_frames=args.chunk_frames, out=out,
             workers=args.workers, ray_address="auto", workers_write=workers_write, on_progress=on_progress)
    cpu, wall = driver_cpu_s() - cpu, time.perf_counter() - wall
    megabytes = location(out).size() / 1e6
    return {"cpu_ms_per_frame": 1e3 * cpu / args.frames, "loop_ms_per_frame": 1e3 * (loop[-1] - loop[0]) / args.frames,
            "wall_s": wall, "megabytes": megabytes}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=96)
    parser.add_argument("--res", type=int, default=128)
    parser.add_argument("--chunk-frames", type=int, default=8)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--ray-cpus", type=int, default=2)
    parser.add_argument("--storage", choices=("fs", "s3", "both"), default="both",
                        help="where the dataset goes: a local directory, moto's S3 server, or both")
    args = parser.parse_args()
    os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
    os.environ.setdefault("RAY_AUTH_MODE", "disabled")  # else ray.init writes ~/.ray/auth_token, and later local heads use it
    import ray

    results = {}
    with tempfile.TemporaryDirectory(prefix="frob-ray-bench-", dir="/tmp") as temp, \
            (moto_server() if args.storage != "fs" else _no_server()) as bucket:
        roots = {**({"filesystem": Path(temp)} if args.storage != "s3" else {}),
                 **({"S3 (moto)": bucket} if args.storage != "fs" else {})}
        ray.init(num_cpus=args.ray_cpus, include_dashboard=False, logging_level="ERROR", log_to_driver=False,
                 object_store_memory=300 * 1024**2, _temp_dir=str(Path(temp) / "ray"))
        try:
            warm = argparse.Namespace(**{**vars(args), "frames": args.chunk_frames * args.workers})
            for storage, root in roots.items():
                run(root, "warm-driver", warm, False)
                run(root, "warm-workers", warm, True)
                results[f"{storage}: driver writes"] = run(root, "driver", args, False)
                results[f"{storage}: workers write"] = run(root, "workers", args, True)
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
    for storage in dict.fromkeys(name.split(":")[0] for name in results):
        for key, what in (("cpu_ms_per_frame", "whole job"), ("loop_ms_per_frame", "block loop")):
            ratio = results[f"{storage}: driver writes"][key] / results[f"{storage}: workers write"][key]
            console.print(f"{storage}: driver CPU per frame ({what}), driver writes / workers write: {ratio:.1f}x")


@contextmanager
def _no_server():
    yield None


if __name__ == "__main__":
    main()
