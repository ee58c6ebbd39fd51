"""NeRF benchmark: time to 25 dB held-out PSNR on the same 64x64 orbit data for our coordinate MLP and for
nerfstudio's nerfacto (torch implementation), as a ratio; points/s of the scene's 3D ground truth (`Scene.query`)
and of capturing every hook point of our trained field.

Ours: `frob train nerf`'s defaults (`NerfTrainConfig()`) on a 40-view orbit dataset (30 train, 5 val, 5 test),
stopped at the first val evaluation (every 100 steps) at or above 25 dB, or at `--budget` seconds; seconds count
everything the training loop does, evaluations included. nerfacto: `frob-nerfacto` with NERFACTO_OPTIONS on the
nerfstudio export of the same dataset, in the nerfstudio environment (`--nerfstudio-python`, default
$FROB_NERFSTUDIO_PYTHON or .venv-nerfstudio; `make nerfstudio-env`), through
`frobnoscope.models.nerfstudio.time_to_psnr`: the same val views, rays and PSNR (linear RGB, all pixels pooled),
every NERFACTO_EVAL_EVERY steps, seconds from its trainer's setup, evaluations included. Baselines, measured in
the same run: `Scene.query` against `Scene.signed_distances` (the analytic SDF alone; `query` adds the nearest
mesh point for albedo), and capture against a plain forward pass of the same points.

    python bench/bench_nerf.py                   # both models in one run (about 10 + 10 minutes at most)
    python bench/bench_nerf.py --part ours --results R.json      # the same as two runs,
    python bench/bench_nerf.py --part nerfacto --results R.json  # whose results R.json gathers
    python bench/bench_nerf.py --quick           # 16x16 views, a few steps, few points: checks that it runs
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from rich.console import Console
from rich.table import Table

from frobnoscope.engine.runs import write_json_atomic
from frobnoscope.models.nerf.adapter import PointBatch, load_nerf
from frobnoscope.models.nerf.data import load_orbit
from frobnoscope.models.nerf.train import NerfTrainConfig, train_nerf
from frobnoscope.scenes.export import plan_export, run_export
from frobnoscope.scenes.generate import generate

TARGET_DB = 25.0
# what differs from frob-nerfacto's defaults (1,024 rays; 256 + 96 proposal and 48 field samples per ray;
# 16 hash levels of 2^19 entries up to 2,048 cells; initial density 0.01): fewer samples, a smaller, coarser field
# grid, and NerfactoModelConfig's own initial density 1 (nerfstudio's `nerfacto` method sets 0.01, and from 0.01
# this data stalls near 18 dB)
NERFACTO_OPTIONS = ["--pipeline.datamanager.train-num-rays-per-batch", "1024",
                    "--pipeline.model.average-init-density", "1.0",
                    "--pipeline.model.num-proposal-samples-per-ray", "64", "32",
                    "--pipeline.model.num-nerf-samples-per-ray", "32",
                    "--pipeline.model.num-levels", "8", "--pipeline.model.log2-hashmap-size", "17",
                    "--pipeline.model.max-res", "256"]
NERFACTO_EVAL_EVERY = 100
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


def measure_ours(data: Path, run: Path, config: NerfTrainConfig, budget: float, points: int) -> dict:
    """Our time to the target, then points/s of Scene.query and of capture against their baselines."""
    torch.set_num_threads(config.threads)
    reached = time_to_target(data, run, config, budget)
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
    return {**reached, "threads": config.threads, "rates": rates, "hook_points": len(adapter.hook_points())}


def nerfstudio_python(given: str | None) -> str | None:
    """The nerfstudio environment's Python: --nerfstudio-python, $FROB_NERFSTUDIO_PYTHON or .venv-nerfstudio."""
    default = Path(__file__).resolve().parent.parent / ".venv-nerfstudio" / "bin" / "python"
    return given or os.environ.get("FROB_NERFSTUDIO_PYTHON") or (str(default) if default.is_file() else None)


def measure_nerfacto(python: str, data: Path, work: Path, budget: float, eval_every: int) -> dict:
    """nerfacto's time to the target on the nerfstudio export of `data` (in its own environment)."""
    export, result = work / "export", work / "nerfacto.json"
    run_export(plan_export(data, "nerfstudio", export, ["rgb"], None))
    command = [python, "-m", "frobnoscope.models.nerfstudio.time_to_psnr", str(export), "--out", str(result),
               "--target", str(TARGET_DB), "--budget", str(budget), "--eval-every", str(eval_every),
               *NERFACTO_OPTIONS, "nerfstudio-data"]
    # HOME: an empty torch hub, so the stand-in for LPIPS is used and nothing is downloaded
    completed = subprocess.run(command, env={**os.environ, "HOME": str(work)}, stdout=subprocess.DEVNULL)
    if completed.returncode != 0:
        sys.exit(f"error: nerfacto's run failed (exit {completed.returncode}): {' '.join(command)}")
    return json.loads(result.read_text())


def print_table(results: dict, res: int) -> None:
    ours, nerfacto = results.get("ours"), results.get("nerfacto")
    machine = platform.processor() or platform.machine()
    table = Table(title=f"NeRF on {res}x{res} orbit views, 2 threads, {machine}", title_justify="left")
    for column in ("measurement", "value", "baseline (same run)", "ratio"):
        table.add_column(column, justify="left" if column == "measurement" else "right")

    def row(name: str, run: dict | None, baseline: str, ratio: str) -> None:
        if run is None:
            table.add_row(f"{name}: seconds to {TARGET_DB:g} dB val PSNR", "not run", baseline, "-")
            return
        status = "reached" if run["reached"] else "NOT reached"
        table.add_row(f"{name}: seconds to {TARGET_DB:g} dB val PSNR ({status}; step {run['step']}, "
                      f"{run['heldout_psnr']:.2f} dB)", f"{run['seconds']:.1f} s", baseline, ratio)

    both = ours is not None and nerfacto is not None and ours["reached"] and nerfacto["reached"]
    row("ours", ours, "-", "1.00x")
    row("nerfacto", nerfacto, "ours", f"{nerfacto['seconds'] / ours['seconds']:.2f}x" if both else "-")
    if ours is not None:
        rates = ours["rates"]
        table.add_row("Scene.query (sdf, occupancy, object_id, albedo)", f"{rates['query']:,.0f} points/s",
                      f"{rates['sdf']:,.0f} (signed_distances)", f"{rates['query'] / rates['sdf']:.2f}x")
        table.add_row(f"capture, all {ours['hook_points']} hook points", f"{rates['capture']:,.0f} points/s",
                      f"{rates['forward']:,.0f} (forward)", f"{rates['capture'] / rates['forward']:.2f}x")
    console.print(table)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny sizes: check that the benchmark runs")
    parser.add_argument("--budget", type=float, default=600.0, help="training time limit per model, seconds (600)")
    parser.add_argument("--part", choices=("both", "ours", "nerfacto"), default="both", help="which model to time")
    parser.add_argument("--results", type=Path, help="JSON file gathering the parts' results across runs")
    parser.add_argument("--nerfstudio-python", help="the nerfstudio environment's Python")
    args = parser.parse_args()
    res, views, points = (16, 10, 2_000) if args.quick else (64, 40, 100_000)
    config = NerfTrainConfig(steps=20, eval_every=10) if args.quick else NerfTrainConfig()
    eval_every, budget = (10, 0.0) if args.quick else (NERFACTO_EVAL_EVERY, args.budget)
    results = json.loads(args.results.read_text()) if args.results and args.results.is_file() else {}
    python = nerfstudio_python(args.nerfstudio_python)
    if args.part != "ours" and python is None:
        sys.exit("error: no nerfstudio environment for nerfacto; run `make nerfstudio-env` (or pass "
                 "--nerfstudio-python, or --part ours)")
    with tempfile.TemporaryDirectory(prefix="bench-nerf-") as temp:
        data = Path(temp) / "orbit"
        generate("orbit", n=views, seed=0, out=data, settings={"res": str(res)})
        stamp = {"date": time.strftime("%Y-%m-%d %H:%M"), "res": res, "views": views}
        if args.part in ("both", "ours"):
            console.print(f"ours: training on {views} orbit views at {res}x{res} until {TARGET_DB} dB held out (val) "
                          f"or {args.budget:.0f} s ...")
            results["ours"] = {**measure_ours(data, Path(temp) / "run", config, args.budget, points), **stamp}
        if args.part in ("both", "nerfacto"):
            console.print(f"nerfacto: the same, in {python} ...")
            results["nerfacto"] = {**measure_nerfacto(python, data, Path(temp), budget, eval_every), **stamp}
    if args.results:
        write_json_atomic(args.results, results)
    print_table(results, res)


if __name__ == "__main__":
    main()
