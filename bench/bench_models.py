"""Throughput of the image models: forward, and forward + capture of every hook point, at 64, 128 and 256 px.

For TAEF2 (the real weights, from $FROB_WEIGHTS_DIR or ../shared/weights) and kl-small (randomly initialised: speed
does not depend on the weights), measures images/s of `adapter.forward(batch)` and of `adapter.capture(batch)` (all
hook points), interleaved in the same run, `--repeats` times each after one warm-up call, and reports the median.
Everything is measured twice in the same process: first with glibc's default malloc settings, then after
`engine.memory.keep_freed_memory()` (what the `frob` commands run with), which stops freed memory going back to the
kernel and being faulted in again. Target: capture costs at most 1.15x a plain forward, checked on the second
setting (the hooks store references to the outputs, never copies). It prints only; nothing is written.

    python bench/bench_models.py [--sizes 64,128,256] [--batch 4] [--repeats 5] [--quick]
"""

from __future__ import annotations

import argparse
import platform
import statistics
import time

import numpy as np
import torch
from rich.console import Console
from rich.table import Table

from frobnoscope.engine.memory import keep_freed_memory
from frobnoscope.models import AutoencoderAdapter, load_model
from frobnoscope.models.autoencoders.architectures import architecture
from frobnoscope.models.errors import WeightsError

TARGET_RATIO = 1.15
console = Console()


def kl_small() -> AutoencoderAdapter:
    arch = architecture("kl-small")
    torch.manual_seed(0)
    return arch.make_adapter(arch.build().eval(), "kl-small", "linear")


def models() -> dict[str, AutoencoderAdapter]:
    found = {}
    try:
        found["taef2"] = load_model("taef2")
    except WeightsError as error:
        console.print(f"[yellow]TAEF2 skipped: {error}[/]")
    found["kl-small"] = kl_small()
    return found


def seconds(call) -> float:
    """Wall-clock seconds of one `call()`, its result released before returning."""
    start = time.perf_counter()
    result = call()
    elapsed = time.perf_counter() - start
    del result
    return elapsed


def measure(adapter: AutoencoderAdapter, size: int, batch: int, repeats: int) -> dict:
    images = torch.from_numpy(np.random.default_rng(0).random((batch, 3, size, size), dtype=np.float32))
    names = adapter.hook_points()
    adapter.forward(images)
    captured = adapter.capture(images, names)
    storages = {t.untyped_storage().data_ptr(): t.untyped_storage().nbytes() for t in captured.values()}
    stored_mb = sum(storages.values()) / 1e6  # distinct storages: a tensor captured at two hook points counts once
    del captured
    forward, capture = [], []
    for _ in range(repeats):
        forward.append(seconds(lambda: adapter.forward(images)))
        capture.append(seconds(lambda: adapter.capture(images, names)))
    forward_s, capture_s = statistics.median(forward), statistics.median(capture)
    return {"forward": batch / forward_s, "capture": batch / capture_s, "ratio": capture_s / forward_s,
            "hook_points": len(names), "stored_mb": stored_mb}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="64,128,256", help="image sides in pixels, comma-separated")
    parser.add_argument("--batch", type=int, default=4, help="images per call")
    parser.add_argument("--repeats", type=int, default=5, help="timed calls of each kind per measurement")
    parser.add_argument("--quick", action="store_true", help="a smoke run: 64 px only, batch 2, 2 repeats")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    if args.quick:
        sizes, args.batch, args.repeats = [64], 2, 2
    console.print(f"{platform.processor() or platform.machine()}, torch {torch.__version__}, {torch.get_num_threads()} threads; "
                  f"batch {args.batch}, median of {args.repeats}")
    table = Table(title="image models: images/s", title_justify="left")
    for name in ("model", "size", "malloc", "hook points", "stored MB", "forward img/s", "forward + capture img/s",
                 "capture / forward (same run)", f"target <= {TARGET_RATIO}"):
        table.add_column(name, justify="left" if name in ("model", "malloc") else "right")
    adapters = models()
    results = {}
    for setting in ("glibc default", "freed memory kept"):
        if setting == "freed memory kept" and not keep_freed_memory():
            console.print("[yellow]not glibc: the malloc settings cannot be changed here[/]")
            break
        for model_name, adapter in adapters.items():
            for size in sizes:
                results[model_name, size, setting] = measure(adapter, size, args.batch, args.repeats)
    failures = 0
    for (model_name, size, setting), result in sorted(results.items(), key=lambda item: (list(adapters).index(item[0][0]), item[0][1])):
        checked = setting == "freed memory kept"
        ok = result["ratio"] <= TARGET_RATIO
        failures += checked and not ok
        verdict = ("[green]PASS[/]" if ok else "[red]FAIL[/]") if checked else ""
        table.add_row(model_name, f"{size}x{size}", setting, str(result["hook_points"]), f"{result['stored_mb']:.0f}",
                      f"{result['forward']:.2f}", f"{result['capture']:.2f}", f"{result['ratio']:.3f}x", verdict)
    console.print(table)
    if args.quick:
        console.print("[yellow]--quick: tiny runs, the numbers (and PASS/FAIL) are not meaningful[/]")
    elif failures:
        console.print(f"[red]{failures} measurement(s) above the {TARGET_RATIO}x target[/]")


if __name__ == "__main__":
    main()
