"""How an SAE's training converged, checkpoint by checkpoint (matplotlib, no display; `sae.run` writes it as
curves.png beside curves.csv and stability.csv).

Panels: held-out FVU (log scale), L0 (training batch and held-out), dead fraction, and, with a stability curve
(against another seed), the mean Hungarian-matched decoder cosine and the share above 0.9, beside chance: the
same matching of two random dictionaries of that shape.
"""

from __future__ import annotations

from pathlib import Path

from matplotlib.figure import Figure


def plot_curves(curve: list[dict], stability: list[dict], path: Path) -> None:
    """Write the figure of `curve` (rows of curves.csv) and `stability` (rows of stability.csv, or []) to `path`."""
    steps = [row["step"] for row in curve]
    panels = 4 if stability else 3
    figure = Figure(figsize=(4.0 * panels, 3.2), layout="constrained")
    axes = figure.subplots(1, panels)
    if "heldout_fvu" in curve[0]:
        axes[0].plot(steps, [row["heldout_fvu"] for row in curve], marker="o")
        axes[0].set_yscale("log")
    axes[0].set(title="held-out FVU", xlabel="step")
    axes[1].plot(steps, [row["l0"] for row in curve], marker="o", label="training batch")
    if "heldout_l0" in curve[0]:
        axes[1].plot(steps, [row["heldout_l0"] for row in curve], marker="o", label="held out")
    axes[1].set(title="L0 (active latents per token)", xlabel="step")
    axes[1].legend(fontsize=8)
    axes[2].plot(steps, [row["dead_fraction"] for row in curve], marker="o")
    axes[2].set(title="dead fraction", xlabel="step", ylim=(0, 1))
    if stability:
        stable_steps = [row["step"] for row in stability]
        axes[3].plot(stable_steps, [row["mean_matched_cosine"] for row in stability], marker="o", label="mean cosine")
        axes[3].plot(stable_steps, [row["fraction_above"] for row in stability], marker="o", label="share > 0.9")
        if "chance" in stability[0]:
            axes[3].axhline(stability[0]["chance"], color="grey", linestyle="--", label="chance (random dictionaries)")
        axes[3].set(title=f"stability vs {stability[0]['against']}", xlabel="step", ylim=(0, 1))
        axes[3].legend(fontsize=8)
    figure.savefig(path, dpi=90)
