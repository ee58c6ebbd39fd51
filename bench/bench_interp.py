"""Activation capture and streaming ridge: throughput, and capture's peak memory as the dataset grows.

1. capture: a tabletop dataset at 128x128 is generated (once per size, in a temporary directory), then
   `frob capture`'s `capture()` runs in a fresh subprocess per dataset size; the child reports its own peak RSS
   (ru_maxrss) and images/s. Flat memory means the peak barely moves between the sizes (the dataset manifest,
   which holds every frame's spec, is the one part that grows with N). Target: 10,000 frames under 2 GB RSS.
2. streaming ridge: rows/s of `RidgeStats.add` on (65,536 x C) float32 token batches.

    python bench/bench_interp.py --quick            # sizes 32 and 128 frames
    python bench/bench_interp.py --sizes 1000 10000
    python bench/bench_interp.py --data D1000 D10000 --model run:AE --hooks encoder.7   # datasets made beforehand
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

CHILD = """
import json, resource, sys, time
from frobnoscope.interp.activations.capture import CaptureConfig, capture
data, out, model, hooks = sys.argv[1:5]
start = time.perf_counter()
capture(data, out, CaptureConfig(model=model, hooks=hooks, batch_size=8))
elapsed = time.perf_counter() - start
print(json.dumps({"seconds": elapsed, "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def bench_capture(datasets: list[Path], model: str, hooks: str, workdir: Path) -> list[dict]:
    from frobnoscope.scenes.store import DatasetStore

    results = []
    for data in datasets:
        n = len(DatasetStore.open(data))
        proc = subprocess.run([sys.executable, "-c", CHILD, str(data), str(workdir / f"run{n}"), model, hooks],
                              capture_output=True, text=True, check=True)
        report = json.loads(proc.stdout.strip().splitlines()[-1])
        stored = sum(f.stat().st_size for f in (workdir / f"run{n}").rglob("*") if f.is_file())
        results.append({"frames": n, **report, "images_per_s": n / report["seconds"], "stored_mb": stored / 1e6})
    return results


def generate_datasets(sizes: list[int], res: int, workdir: Path) -> list[Path]:
    from frobnoscope.scenes.generate import generate

    return [generate("tabletop", n=n, seed=0, out=workdir / f"data{n}", workers=1, settings={"res": str(res)}).path
            for n in sizes]


def bench_ridge(channels: int, batches: int = 20) -> float:
    from frobnoscope.interp.probes.ridge import RidgeStats

    x = np.random.default_rng(0).normal(size=(65536, channels)).astype(np.float32)
    y = x[:, :3] @ np.ones((3, 4), dtype=np.float32)
    stats = RidgeStats(channels, 4)
    start = time.perf_counter()
    for _ in range(batches):
        stats.add(x, y)
    return batches * len(x) / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="sizes 32 and 128 frames")
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 10000])
    parser.add_argument("--model", default="taef2")
    parser.add_argument("--hooks", default="encoder.4,encoder.14", help="at 128x128: 64x64x64 and 16x16x32 grids")
    parser.add_argument("--res", type=int, default=128)
    parser.add_argument("--data", type=Path, nargs="+", help="existing datasets to capture (instead of generating)")
    args = parser.parse_args()
    sizes = [32, 128] if args.quick else args.sizes
    with tempfile.TemporaryDirectory(prefix="bench-interp-") as workdir:
        datasets = args.data or generate_datasets(sizes, args.res, Path(workdir))
        rows = bench_capture(datasets, args.model, args.hooks, Path(workdir))
    for row in rows:
        print(f"capture {row['frames']:6d} frames ({args.model}: {args.hooks}): "
              f"{row['images_per_s']:.2f} images/s, peak RSS {row['peak_rss_mb']:.0f} MB, stored {row['stored_mb']:.1f} MB")
    growth = rows[-1]["peak_rss_mb"] - rows[0]["peak_rss_mb"]
    print(f"peak RSS growth from {rows[0]['frames']} to {rows[-1]['frames']} frames: {growth:+.0f} MB "
          f"(target: 10,000 frames under 2048 MB)")
    for channels in (64, 256):
        print(f"streaming ridge, C={channels}: {bench_ridge(channels) / 1e6:.2f} M rows/s")


if __name__ == "__main__":
    main()
