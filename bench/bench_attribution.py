"""Images/s of integrated gradients (32 steps) at 128x128 on the kl-small autoencoder (random initial weights):
the `frob attribute` pipeline with 1 and 2 local workers against a naive per-image captum loop, in the same run.

The naive loop is what one writes from captum's documentation: the model as loaded, `IntegratedGradients` on the
same target (`ErrorTarget`: the model's squared error over the frame), one image per `attribute` call with captum's
default internal batching (all 32 steps in one pass), torch's default thread count. The pipeline is the whole job:
`interp.attribution.run.attribute` reading the dataset, writing zarr maps and the journal, start-up included.

    python bench/bench_attribution.py [--frames 32] [--res 128] [--quick]

Prints a table, then an estimate of the most a float32 pipeline could do here: the work per image (FLOPs of
direct convolutions, matmuls and attention, counted by torch) over the measured float32 matmul peak of all cores
(the better of one process on every core and one single-threaded process per core).
Also CPU seconds per image of this process (one-process rows only: pooled workers are the fork
server's children, whose CPU time this process cannot read), which other processes on the machine inflate less
than wall time.
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import time
from pathlib import Path

import numpy as np
import torch

from frobnoscope.engine.memory import keep_freed_memory
from frobnoscope.engine.runs import MANIFEST, write_json_atomic
from frobnoscope.interp.attribution.config import AttributeConfig
from frobnoscope.interp.attribution.image_job import load_attribution_model
from frobnoscope.interp.attribution.methods import MethodSettings
from frobnoscope.interp.attribution.run import attribute
from frobnoscope.interp.attribution.run_format import read_maps
from frobnoscope.interp.attribution.targets import ErrorTarget
from frobnoscope.models import load_model
from frobnoscope.models.autoencoders.architectures import architecture
from frobnoscope.models.autoencoders.train import MODEL_DIR, TRAIN_FORMAT, AutoencoderTrainConfig
from frobnoscope.scenes.generate import generate
from frobnoscope.scenes.store import DatasetStore

STEPS = 32


def random_kl_small_run(directory: Path) -> str:
    """A `run:` spec of kl-small with its initial weights (seed 0), saved as `frob train ae` saves a model."""
    if not (directory / MODEL_DIR / "config.json").is_file():
        torch.manual_seed(0)
        model = architecture("kl-small").build()
        model.save_pretrained(directory / MODEL_DIR)
        config = AutoencoderTrainConfig(arch="kl-small").to_dict()
        write_json_atomic(directory / MANIFEST, {"format": TRAIN_FORMAT, "config": config,
                                                 "note": "random initial weights, for benchmarks"})
    return f"run:{directory}"


def cpu_seconds() -> float:
    """CPU time of this process (all its threads)."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    return own.ru_utime + own.ru_stime


def naive_loop(store: DatasetStore, spec: str, frames: int) -> tuple[float, float, np.ndarray]:
    from captum.attr import IntegratedGradients

    adapter = load_model(spec)
    ig = IntegratedGradients(ErrorTarget(adapter))
    rgb = store.channel("rgb")
    maps = []
    wall, cpu = time.perf_counter(), cpu_seconds()
    for k in range(frames):
        image = torch.from_numpy(np.asarray(rgb[k:k + 1])).permute(0, 3, 1, 2)
        mask = torch.ones(1, *image.shape[-2:])
        maps.append(ig.attribute(image, baselines=0.0, additional_forward_args=(mask,), n_steps=STEPS)
                    .detach().sum(1).numpy())
    return time.perf_counter() - wall, cpu_seconds() - cpu, np.concatenate(maps)


def work_per_image(spec: str, res: int) -> float:
    """Floating-point operations of one image's integrated gradients: `STEPS` forward and backward passes of the
    target, convolutions, matmuls and attention only (torch's FlopCounterMode): a lower bound on the work."""
    from torch.utils.flop_counter import FlopCounterMode

    target = ErrorTarget(load_attribution_model(spec))
    image = torch.rand(1, 3, res, res, requires_grad=True)
    with FlopCounterMode(display=False) as counter:
        target(image, torch.ones(1, res, res)).sum().backward()
    return float(counter.get_total_flops()) * STEPS


def matmul_peak(threads: int, size: int = 2048, repeats: int = 8) -> float:
    """FLOP/s of a large float32 matmul with `threads` intra-op threads: what this machine's cores can do."""
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    a, b = torch.rand(size, size), torch.rand(size, size)
    a @ b
    start = time.perf_counter()
    for _ in range(repeats):
        a @ b
    elapsed = time.perf_counter() - start
    torch.set_num_threads(before)
    return 2 * size**3 * repeats / elapsed


def pipeline(data: Path, spec: str, frames: int, workers: int, out: Path) -> tuple[float, float, np.ndarray]:
    shutil.rmtree(out, ignore_errors=True)
    config = AttributeConfig(model=spec, target="error", methods=("integrated_gradients",),
                             batch_size=max(1, frames // 4),
                             frames=frames, settings=MethodSettings(n_steps=STEPS))
    wall, cpu = time.perf_counter(), cpu_seconds()
    attribute(data, out, config, workers=workers)
    return time.perf_counter() - wall, cpu_seconds() - cpu, read_maps(out, "integrated_gradients")[:]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--frames", type=int, default=32)
    parser.add_argument("--res", type=int, default=128)
    parser.add_argument("--root", type=Path, default=Path("bench-data/attribution"))
    parser.add_argument("--quick", action="store_true", help="4 frames at 32x32: checks that it runs")
    args = parser.parse_args()
    frames, res = (4, 32) if args.quick else (args.frames, args.res)
    keep_freed_memory()  # as `frob` runs
    root = args.root / f"{res}"
    data = root / "tabletop"
    if not (data / MANIFEST).is_file() or not DatasetStore.open(data).complete or len(DatasetStore.open(data)) < frames:
        shutil.rmtree(data, ignore_errors=True)
        generate("tabletop", n=frames, seed=0, out=data, settings={"res": str(res)}, workers=2)
    spec = random_kl_small_run(args.root / "kl-small-random")
    store = DatasetStore.open(data)
    print(f"integrated gradients, {STEPS} steps, kl-small (random weights), {frames} tabletop frames at {res}x{res}, "
          f"torch {torch.__version__}, {torch.get_num_threads()} threads by default", flush=True)
    results = {"naive per-image captum loop": naive_loop(store, spec, frames)}
    for workers in (1, 2):
        results[f"frob attribute, {workers} worker{'s' if workers > 1 else ''}"] = pipeline(
            data, spec, frames, workers, root / f"run-{workers}")
    baseline = frames / results["naive per-image captum loop"][0]
    reference = results["naive per-image captum loop"][2]
    print("| measurement | images/s | CPU s per image | ratio vs naive (same run) | "
          "max |map - naive map| / max |map| |")
    print("|---|---|---|---|---|")
    for name, (wall, cpu, maps) in results.items():
        difference = float(np.abs(maps - reference).max() / np.abs(reference).max())
        cpu_text = f"{cpu / frames:.2f}" if "2 workers" not in name else "-"
        print(f"| {name} | {frames / wall:.3f} | {cpu_text} | {frames / wall / baseline:.2f}x | {difference:.1e} |")
    threads = torch.get_num_threads()
    work, peak, single = work_per_image(spec, res), matmul_peak(threads), matmul_peak(1)
    ceiling = max(peak, threads * single) / work  # one process on every core, or one single-threaded worker per core
    print(f"work: {work / 1e9:.0f} GFLOP per image (direct convolutions, matmuls, attention); fp32 matmul peak: "
          f"{peak / 1e9:.0f} GFLOP/s with {threads} threads, {single / 1e9:.0f} with 1; a float32 pipeline running "
          f"every core at the better of {peak / 1e9:.0f} and {threads} x {single / 1e9:.0f} GFLOP/s would reach "
          f"{ceiling:.3f} images/s = {ceiling / baseline:.2f}x the naive loop, which runs at "
          f"{baseline * work / 1e9:.0f} GFLOP/s")
    print(json.dumps({**{name: {"wall_s": wall, "cpu_s": cpu} for name, (wall, cpu, _) in results.items()},
                      "gflop_per_image": work / 1e9, "matmul_peak_gflops": peak / 1e9,
                      "matmul_peak_1_thread_gflops": single / 1e9}))


if __name__ == "__main__":
    main()
