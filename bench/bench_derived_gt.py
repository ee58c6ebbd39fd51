"""What the derived ground truth (`interp.activations.derived_gt`) adds to a capture, per frame: deriving the maps
and pooling them, beside pooling the stored channels and TAEF2's forward pass with capture of two hook points, all
measured in this run on the same frames (tabletop at RES x RES, batch 8, median of REPEATS).

    python bench/bench_derived_gt.py [--res 128] [--frames 16] [--repeats 3]
"""

from __future__ import annotations

import argparse
import platform
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from rich.console import Console
from rich.table import Table

from frobnoscope.interp.activations import derived_gt, gt_pooling
from frobnoscope.interp.activations.capture import capture_until_last
from frobnoscope.models import load_model
from frobnoscope.scenes.generate import generate
from frobnoscope.scenes.spec import parse_spec

BATCH, HOOKS, GRID = 8, ["encoder.5", "decoder.12"], (16, 16)


def per_frame_ms(work, frames: int, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        work()
        times.append(time.perf_counter() - start)
    return 1000 * statistics.median(times) / frames


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--res", type=int, default=128)
    parser.add_argument("--frames", type=int, default=16)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    store = generate("tabletop", n=args.frames, seed=3, out=Path(tempfile.mkdtemp()) / "data",
                     settings={"res": str(args.res)})
    blocks = [(start, min(start + BATCH, args.frames)) for start in range(0, args.frames, BATCH)]
    stored = [{name: np.asarray(store.channel(name)[a:b]) for name in gt_pooling.SOURCE_CHANNELS} for a, b in blocks]
    specs = [[parse_spec(store.manifest["frames"][k]["spec"]) for k in range(a, b)] for a, b in blocks]
    derived = [derived_gt.derive_block(channels, block_specs) for channels, block_specs in zip(stored, specs)]
    adapter = load_model("taef2")
    images = [torch.from_numpy(channels["rgb"]).permute(0, 3, 1, 2) for channels in stored]
    rows = {
        "TAEF2 forward + capture of two hook points": lambda: [capture_until_last(adapter, x, HOOKS) for x in images],
        "pool the stored channels (as before)": lambda: [gt_pooling.pool_frames(c, *GRID) for c in stored],
        "derive the new maps": lambda: [derived_gt.derive_block(c, s) for c, s in zip(stored, specs)],
        "pool the derived maps": lambda: [gt_pooling.pool_frames(d, *GRID) for d in derived],
    }
    measured = {name: per_frame_ms(work, args.frames, args.repeats) for name, work in rows.items()}
    baseline = measured["TAEF2 forward + capture of two hook points"] + measured["pool the stored channels (as before)"]
    added = measured["derive the new maps"] + measured["pool the derived maps"]
    table = Table("step", "ms / frame", title=f"derived ground truth at {args.res}x{args.res}, {args.frames} frames, "
                  f"torch {torch.__version__}, {torch.get_num_threads()} threads, {platform.machine()}")
    for name, ms in measured.items():
        table.add_row(name, f"{ms:.1f}")
    table.add_row("capture before (forward + pooling)", f"{baseline:.1f}")
    table.add_row("capture now / before", f"{(baseline + added) / baseline:.2f}x")
    Console(width=120).print(table)


if __name__ == "__main__":
    main()
