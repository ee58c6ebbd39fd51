"""Contact sheet: the RGB render beside every ground-truth channel of one frame, as one PNG."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from frobnoscope.scenes.colors import linear_to_srgb


def _finite(image: np.ndarray) -> np.ndarray:
    return np.where(np.isfinite(image), image, np.nan)


def _panels(channels: dict[str, np.ndarray]):
    """(title, image, colormap or None for RGB) for every channel, one panel per light for per-light ones."""
    yield "rgb (sRGB)", linear_to_srgb(channels["rgb"]), None
    for name in ("depth_z", "depth_ray"):
        yield name, _finite(channels[name]), "viridis"
    position = _finite(channels["position_world"])
    low, high = np.nanmin(position, axis=(0, 1)), np.nanmax(position, axis=(0, 1))
    yield "position_world (xyz->rgb)", np.nan_to_num((position - low) / np.maximum(high - low, 1e-9)), None
    for name in ("normal_world", "normal_cam"):
        yield f"{name} (0.5+0.5n)", np.nan_to_num(0.5 + 0.5 * _finite(channels[name])), None
    for name in ("object_id", "shape_id", "material_id"):
        yield name, np.where(channels[name] == 0, np.nan, channels[name]).astype(float), "tab20"
    yield "albedo (sRGB)", linear_to_srgb(np.nan_to_num(_finite(channels["albedo"]))), None
    uv = np.nan_to_num(_finite(channels["uv"]) % 1.0)
    yield "uv (frac, u->R v->G)", np.concatenate([uv, np.zeros_like(uv[..., :1])], axis=-1), None
    for name in ("shading", "shadow"):
        for light in range(channels[name].shape[-1]):
            yield f"{name}[{light}]", _finite(channels[name][..., light]), "gray"
    yield "specular (sRGB)", linear_to_srgb(np.nan_to_num(_finite(channels["specular"]))), None
    yield "edges (1 sil, 2 occ, 4 self)", channels["edges"].astype(float), "magma"


def contact_sheet(channels: dict[str, np.ndarray], path, title: str = "") -> Path:
    """Write a labelled grid of every channel to `path` (PNG) and return it."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels = list(_panels(channels))
    cols = 5
    rows = -(-len(panels) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(3.2 * cols, 3.3 * rows), squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for ax, (name, image, cmap) in zip(axes.flat, panels):
        shown = ax.imshow(np.clip(image, 0, 1) if cmap is None else image, cmap=cmap, interpolation="nearest")
        if cmap is not None and cmap != "tab20":
            fig.colorbar(shown, ax=ax, fraction=0.046, pad=0.02)
        ax.set_title(name, fontsize=9)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    path = Path(path)
    fig.savefig(path, dpi=80)
    plt.close(fig)
    return path
