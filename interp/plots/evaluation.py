"""PNG figures of an evaluation run (matplotlib, no display needed). Images are shown as the renderer's 8-bit
output (1/2.2 gamma of linear RGB); error maps show the per-pixel RMS error (linear [0, 1])."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

from frobnoscope.scenes.colors import linear_to_render

EXAMPLES = 4  # the worst three frames and the best one


def plot_breakdown(rows: list[dict], overall_psnr: float, path: Path) -> None:
    """One bar chart per factor: PSNR of each bin, the bin's share of the factor's pixels written on its bar."""
    factors = list(dict.fromkeys(row["factor"] for row in rows))
    columns = 4
    lines = -(-len(factors) // columns)
    figure = Figure(figsize=(4.2 * columns, 3.6 * lines), layout="constrained")
    axes = figure.subplots(lines, columns, squeeze=False).ravel()
    for ax, factor in zip(axes, factors):
        bins = [row for row in rows if row["factor"] == factor]
        heights = [row["psnr"] if row["pixels"] else 0.0 for row in bins]
        bars = ax.bar(range(len(bins)), heights, color="tab:blue")
        for bar, row in zip(bars, bins):
            share = 100 * row["pixel_share"]
            ax.annotate(f"{share:.0f}%" if share >= 1 or share == 0 else f"{share:.1f}%", (bar.get_x() + bar.get_width() / 2, bar.get_height()),
                        ha="center", va="bottom", fontsize=7)
        ax.axhline(overall_psnr, color="tab:red", linestyle="--", linewidth=1)
        ax.set_xticks(range(len(bins)), [row["bin"] for row in bins], rotation=35, ha="right", fontsize=7)
        ax.set_title(factor)
        ax.set_ylabel("PSNR (dB)")
    for ax in axes[len(factors):]:
        ax.set_visible(False)
    figure.suptitle(f"PSNR by ground-truth factor (dashed: all pixels, {overall_psnr:.1f} dB; %: share of the factor's pixels)")
    figure.savefig(path, dpi=110)


def plot_frames(frames: list[dict], path: Path) -> None:
    """Histogram of per-frame PSNR, and PSNR against SSIM."""
    psnr = np.array([f["psnr"] for f in frames])
    ssim = np.array([f["ssim"] for f in frames])
    figure = Figure(figsize=(9, 3.6), layout="constrained")
    left, right = figure.subplots(1, 2)
    left.hist(psnr, bins=min(30, max(5, len(frames) // 3)), color="tab:blue")
    left.set_xlabel("PSNR (dB)")
    left.set_ylabel("frames")
    left.set_title(f"{len(frames)} frames, mean {psnr.mean():.2f} dB")
    right.scatter(psnr, ssim, s=8)
    right.set_xlabel("PSNR (dB)")
    right.set_ylabel("SSIM")
    figure.savefig(path, dpi=110)


def plot_examples(store, maps, frames: list[dict], path: Path) -> None:
    """Input, output and RMS error map of the worst three frames and the best one."""
    ranked = sorted(frames, key=lambda f: f["psnr"])
    chosen = ranked[: EXAMPLES - 1] + ranked[-1:] if len(ranked) >= EXAMPLES else ranked
    errors = [np.sqrt(maps["squared_error"][f["index"]]) for f in chosen]
    vmax = max(float(e.max()) for e in errors) or 1.0
    figure = Figure(figsize=(9, 3 * len(chosen)), layout="constrained")
    axes = figure.subplots(len(chosen), 3, squeeze=False)
    for row, frame, error in zip(axes, chosen, errors):
        k = frame["index"]
        row[0].imshow(linear_to_render(store.channel("rgb")[k]))
        row[0].set_title(f"frame {k}: optimal output (input)", fontsize=8)
        row[1].imshow(linear_to_render(maps["output"][k]))
        row[1].set_title(f"model output, {frame['psnr']:.1f} dB", fontsize=8)
        shown = row[2].imshow(error, cmap="magma", vmin=0, vmax=vmax)
        row[2].set_title("RMS error (linear)", fontsize=8)
        figure.colorbar(shown, ax=row[2], fraction=0.046)
        for ax in row:
            ax.set_axis_off()
    figure.savefig(path, dpi=110)
