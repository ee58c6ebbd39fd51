"""PNG figures of a NeRF judgement (matplotlib, no display). Images are shown as the renderer's 8-bit output
(1/2.2 gamma of linear RGB); error maps show the per-pixel RMS error (linear [0, 1]); distances in scene units."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

from frobnoscope.scenes.colors import linear_to_render

EXAMPLES = 4  # the worst three views and the best one


def plot_examples(renders: dict[str, dict], path: Path) -> None:
    """Per chosen view: true render, network render, RMS error, true depth_ray, expected termination distance."""
    ranked = sorted(renders.items(), key=lambda item: item[1]["psnr"])
    chosen = ranked[: EXAMPLES - 1] + ranked[-1:] if len(ranked) >= EXAMPLES else ranked
    figure = Figure(figsize=(12, 2.6 * len(chosen)), layout="constrained")
    axes = figure.subplots(len(chosen), 5, squeeze=False)
    for row, (name, render) in zip(axes, chosen):
        finite = np.isfinite(render["depth_ray"])
        low, high = (float(render["depth_ray"][finite].min()), float(render["depth_ray"][finite].max())) if finite.any() else (0, 1)
        row[0].imshow(linear_to_render(render["truth"]))
        row[0].set_title(f"{name}: true render", fontsize=8)
        row[1].imshow(linear_to_render(render["rgb"]))
        row[1].set_title(f"network, {render['psnr']:.1f} dB", fontsize=8)
        shown = row[2].imshow(np.sqrt(render["squared_error"]), cmap="magma", vmin=0)
        row[2].set_title("RMS error (linear)", fontsize=8)
        figure.colorbar(shown, ax=row[2], fraction=0.046)
        row[3].imshow(np.where(finite, render["depth_ray"], np.nan), cmap="viridis", vmin=low, vmax=high)
        row[3].set_title("true depth_ray", fontsize=8)
        shown = row[4].imshow(render["depth"], cmap="viridis", vmin=low, vmax=high)
        row[4].set_title("expected termination", fontsize=8)
        figure.colorbar(shown, ax=row[4], fraction=0.046)
        for ax in row:
            ax.set_axis_off()
    figure.savefig(path, dpi=100)


def plot_sdf_profile(profile: list[dict], sweep: list[dict], threshold: float, path: Path) -> None:
    """Left: median density and the share called solid against signed distance. Right: IoU against threshold."""
    figure = Figure(figsize=(11, 3.8), layout="constrained")
    left, right = figure.subplots(1, 2)
    rows = [row for row in profile if row["points"]]
    labels = [row["sdf_bin"] for row in rows]
    positions = np.arange(len(rows))
    left.bar(positions, [row["predicted_solid"] for row in rows],
             color=["tab:orange" if row["truly_solid"] else "tab:blue" for row in rows])
    left.set_xticks(positions, labels, rotation=40, ha="right", fontsize=7)
    left.set_ylabel(f"share with density > {threshold:.1f}")
    left.set_xlabel("signed distance to the surface (scene units; orange: inside)")
    twin = left.twinx()
    twin.plot(positions, [max(row["median_density"], 1e-3) for row in rows], color="black", marker="o")
    twin.set_yscale("log")
    twin.set_ylabel("median density (1 / unit)")
    left.set_title("network density against true SDF")
    thresholds = [row["threshold"] for row in sweep]
    right.plot(thresholds, [row["iou_uniform"] for row in sweep], marker="o", label="uniform in the box")
    right.plot(thresholds, [row["iou_shell"] for row in sweep], marker="o", label="near the surface")
    right.axvline(threshold, color="tab:red", linestyle="--", linewidth=1)
    right.set_xscale("log")
    right.set_xlabel("density threshold (1 / unit)")
    right.set_ylabel("IoU with the true solid")
    right.set_ylim(0, 1)
    right.legend(fontsize=8)
    right.set_title("occupancy IoU")
    figure.savefig(path, dpi=100)


def plot_termination(per_ray: dict[str, np.ndarray], path: Path) -> None:
    """Histograms of (network termination distance - true depth_ray) over hitting rays: expected, median, peak."""
    hit = np.isfinite(per_ray["depth_ray"])
    figure = Figure(figsize=(11, 3.4), layout="constrained")
    axes = figure.subplots(1, 3)
    for ax, (key, title) in zip(axes, (("depth", "expected"), ("median_depth", "median"), ("peak_depth", "peak (mode)"))):
        error = per_ray[key][hit] - per_ray["depth_ray"][hit]
        error = error[np.isfinite(error)]
        ax.hist(np.clip(error, -0.5, 0.5), bins=60, color="tab:blue")
        ax.axvline(0, color="black", linewidth=1)
        ax.set_xlabel("network - true depth_ray (scene units, clipped to +-0.5)")
        median = float(np.median(np.abs(error))) if error.size else float("nan")
        ax.set_title(f"{title}: median |error| {median:.3f}", fontsize=9)
    figure.savefig(path, dpi=100)
