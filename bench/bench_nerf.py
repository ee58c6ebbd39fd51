"""NeRF benchmark: time to 25 dB held-out PSNR for our coordinate MLP on 64x64 orbit data; points/s of the
scene's 3D ground truth (`Scene.query`) and of capturing every hook point of the trained field.

Training runs `frob train nerf`'s defaults (`NerfTrainConfig()`) on a 40-view orbit dataset (30 train, 5 val,
5 test) and stops at the first val evaluation at or above 25 dB, or at `--budget` seconds; seconds count
everything the training loop does, evaluations included. Baselines, measured in the same run:
`Scene.query` against `Scene.signed_distances` (the analytic SDF alone; `query` adds the nearest mesh point for
albedo), and capture against a plain forward pass of the same points. nerfacto (nerfstudio) has no row yet.

    python bench/bench_nerf.py            # the full benchmark (about 10 minutes at most)
    python bench/bench_nerf.py --quick    # 16x16 views, 20 steps, few points: checks that it runs
"""

from __future__ import annotations

import argparse
import platform
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch
from rich.console import Console
from rich.table import Table

from frobnoscope.models.nerf.adapter import PointBatch, load_nerf
from frobnoscope.models.nerf.data import load_orbit
from frobnoscope.models.nerf.train import NerfTrainConfig, train_nerf
from frobnoscope.scenes.generate import generate

TARGET_DB = 25.0
console = Console(width=120)


class ReachedTarget(Exception):
    pass


def time_to_target(data: Path, run: Path, config: NerfTrainConfig, budget: float) -> dict:
    """Train until the first held-out evaluation at or above TARGET_DB (or `budget` seconds); the last report."""
    started = time.perf_counter()
    last = {"step": 0, "heldout_psnr": float("nan"), "seconds": float("nan"), "reached": False}

    def on_step(report) -> None:
        if report.heldout_psnr is not None:
            last.update(step=report.step, heldout_psnr=report.heldout_psnr, seconds=time.perf_counter() - started)
            if report.heldout_psnr >= TARGET_DB:
                last["reached"] = True
                raise ReachedTarget
            if time.perf_counter() - started > budget:
                raise ReachedTarget

    try:
        train_nerf(data, run, config, on_step=on_step)
    except ReachedTarget:
        pass
    return last


def points_per_second(function, points: np.ndarray, repeats: int = 1) -> float:
    function(points[:100])  # warm up (lazy imports, caches)
    start = time.perf_counter()
    for _ in range(repeats):
        function(points)
    return repeats * len(points) / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny sizes: check that the benchmark runs")
    parser.add_argument("--budget", type=float, default=600.0, help="training time limit in seconds (default 600)")
    args = parser.parse_args()
    res, views, points = (16, 10, 2_000) if args.quick else (64, 40, 100_000)
    config = replace(NerfTrainConfig(), steps=20, eval_every=10) if args.quick else NerfTrainConfig()
    torch.set_num_threads(config.threads)
    with tempfile.TemporaryDirectory(prefix="bench-nerf-") as temp:
        data, run = Path(temp) / "orbit", Path(temp) / "run"
        generate("orbit", n=views, seed=0, out=data, settings={"res": str(res)})
        console.print(f"training on {views} orbit views at {res}x{res} until {TARGET_DB} dB held out "
                      f"(val) or {args.budget:.0f} s ...")
        reached = time_to_target(data, run, config, args.budget)
        scene = load_orbit(data).scene
        adapter = load_nerf(run)
        box = adapter.model.box.double().numpy()
        sample = np.random.default_rng(0).uniform(box[0], box[1], (points, 3))
        rates = {
            "sdf": points_per_second(scene.signed_distances, sample),
            "query": points_per_second(scene.query, sample),
            "forward": points_per_second(lambda p: adapter.forward(PointBatch.of(p)), sample, repeats=3),
            "capture": points_per_second(lambda p: adapter.capture(PointBatch.of(p)), sample, repeats=3),
        }
    machine = platform.processor() or platform.machine()
    table = Table(title=f"NeRF on {res}x{res} orbit views, {config.threads} threads, {machine}", title_justify="left")
    for column in ("measurement", "value", "baseline (same run)", "ratio"):
        table.add_column(column, justify="left" if column == "measurement" else "right")
    status = "reached" if reached["reached"] else "NOT reached"
    table.add_row(f"ours: seconds to {TARGET_DB:g} dB val PSNR ({status}; step {reached['step']}, "
                  f"{reached['heldout_psnr']:.2f} dB)", f"{reached['seconds']:.1f} s", "-", "1.00x")
    table.add_row("nerfacto: seconds to 25 dB", "not run", "ours", "-")
    table.add_row("Scene.query (sdf, occupancy, object_id, albedo)", f"{rates['query']:,.0f} points/s",
                  f"{rates['sdf']:,.0f} (signed_distances)", f"{rates['query'] / rates['sdf']:.2f}x")
    table.add_row(f"capture, all {len(adapter.hook_points())} hook points", f"{rates['capture']:,.0f} points/s",
                  f"{rates['forward']:,.0f} (forward)", f"{rates['capture'] / rates['forward']:.2f}x")
    console.print(table)


if __name__ == "__main__":
    main()
