"""SAE training throughput (tokens/s) against the matmul rate torch reaches on this machine, in the same run.

Roofline: one training step of an SAE with d inputs and M latents does, per token, the encoder and decoder
matmuls forward (2 x 2dM FLOPs) and backward (twice that again): 12 dM FLOPs, the usual "3 x forward" count, all
dense. The matmul rate is the better of two float32 GEMMs timed here: the encoder's own shape ((B, d) @ (d, M)) and a
square 2048^3 product. roofline tokens/s = rate / (12 dM); the table gives the measured tokens/s as a share of it
(target: >= 40% at M = 4096, k = 32). Everything else a step does (top-k selection, the AuxK pass, Adam on both
matrices, the decoder projection and renormalisation) counts against the SAE; latents silent for 4 batches count as
dead, so AuxK runs in the timed steps as it does in real training. Synthetic tokens; prints only.

    python bench/bench_sae.py [--quick] [--d 64,256] [--width 4096] [--k 32] [--batch 4096] [--steps 30]
"""

from __future__ import annotations

import argparse
import platform
import time

import torch
from rich.console import Console
from rich.table import Table

from frobnoscope.interp.sae.model import SAEConfig, SparseAutoencoder
from frobnoscope.interp.sae.training import training_step

console = Console(width=120)


def gemm_rate(m: int, k: int, n: int, seconds: float = 1.0) -> float:
    """FLOP/s of float32 (m, k) @ (k, n), best of repeated timings over about `seconds`."""
    a, b = torch.randn(m, k), torch.randn(k, n)
    torch.mm(a, b)
    best, spent = float("inf"), 0.0
    while spent < seconds:
        start = time.perf_counter()
        torch.mm(a, b)
        elapsed = time.perf_counter() - start
        best, spent = min(best, elapsed), spent + elapsed
    return 2 * m * k * n / best


def training_rate(d: int, width: int, k: int, batch: int, steps: int, arch: str) -> float:
    """Tokens/s of `training_step` (median of the timed steps after 3 warmup steps)."""
    torch.manual_seed(0)
    sae = SparseAutoencoder(SAEConfig(d_in=d, width=width, arch=arch, k=k, dead_tokens=batch * 4))
    tokens = torch.randn(batch * 4, d)
    sae.initialise_from(tokens[:batch])
    sae.train()
    optimizer = torch.optim.Adam(sae.parameters(), lr=1e-4)
    times = []
    for step in range(steps + 3):
        x = tokens[(step % 4) * batch:][:batch]
        start = time.perf_counter()
        training_step(sae, optimizer, x, 1e-4)
        times.append(time.perf_counter() - start)
    timed = sorted(times[3:])
    return batch / timed[len(timed) // 2]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="10 timed steps per configuration")
    parser.add_argument("--d", default="64,256", help="comma-separated input widths (hook channel counts)")
    parser.add_argument("--width", type=int, default=4096)
    parser.add_argument("--k", type=int, default=32)
    parser.add_argument("--batch", type=int, default=4096)
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--archs", default="topk,batchtopk,jumprelu")
    args = parser.parse_args()
    steps = 10 if args.quick else args.steps
    square = gemm_rate(2048, 2048, 2048)
    table = Table("arch", "d", "M", "k", "GEMM (B,d)@(d,M) GFLOP/s", "best GEMM GFLOP/s", "roofline tok/s",
                  "SAE tok/s", "ratio", title=f"SAE training vs the matmul roofline ({platform.processor() or platform.machine()}, "
                  f"{torch.get_num_threads()} threads, batch {args.batch})", title_justify="left")
    for d in (int(v) for v in args.d.split(",")):
        same_shape = gemm_rate(args.batch, d, args.width)
        rate = max(same_shape, square)
        roofline = rate / (12 * d * args.width)
        for arch in args.archs.split(","):
            measured = training_rate(d, args.width, args.k, args.batch, steps, arch)
            ratio = measured / roofline
            table.add_row(arch, str(d), str(args.width), str(args.k), f"{same_shape / 1e9:.1f}", f"{rate / 1e9:.1f}",
                          f"{roofline:,.0f}", f"{measured:,.0f}",
                          f"[{'green' if ratio >= 0.4 else 'red'}]{100 * ratio:.0f}%")
    console.print(table)


if __name__ == "__main__":
    main()
