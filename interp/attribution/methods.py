"""Attribution methods through captum, each called the one captum way: `Method(forward).attribute(inputs, ...)`.

`forward(images, mask)` returns one scalar per image (`targets`); every method returns (B, H, W)
float32 maps aligned with the frames:
  integrated_gradients   IG from a black image (baseline 0), `n_steps` Gauss-Legendre steps
  saliency               |d target / d pixel| (captum's default abs=True)
  input_x_gradient       pixel value x gradient
  smoothgrad             NoiseTunnel(Saliency): mean |gradient| over `smoothgrad_samples` copies of the image with
                         Gaussian noise of std `smoothgrad_stdev` (in [0, 1] units); the noise of frame k comes from
                         torch's generator seeded with (job seed, k), so a frame's map does not depend on its batch
  occlusion              a black square of side `window` (default max(2, H // 8)) slid with stride window // 2;
                         each pixel gets the mean target drop of the windows covering it
  feature_ablation       the image cut into square patches of side max(1, H // 16), each set to black in turn; a
                         patch's pixels all get its target drop
  layer_conductance      conductance of hook point `layer` (captum LayerConductance, baseline input 0, `n_steps`)
  layer_integrated_gradients  IG to hook point `layer`'s activations (LayerIntegratedGradients)
Input-space maps are the sum over the three colour channels of captum's attribution (signed, except saliency and
smoothgrad, which are sums of absolute values). Layer maps are the sum over the layer's channels, spread over the
frame's pixels: each grid cell's value divided evenly among the pixels it covers (nearest-neighbour upsampling /
pixels per cell), so a map's total is the layer attribution's total.

Memory: a gradient method runs at most `GRADIENT_PIXELS / (H * W)` images (frames x steps, or noise samples)
per forward and backward pass (captum's `internal_batch_size`; 1 at 256x256, 4 at 128x128, 16 at 64x64); a
perturbation method at most `PERTURBATION_PIXELS / (H * W)` per forward pass without gradients (frames x
`perturbations_per_eval`; 16 at 256x256). A block of frames is split into captum calls of at most that many frames.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from pydantic import Field
from torch import nn

from frobnoscope.engine.config import Config
from frobnoscope.interp.errors import InterpError
from frobnoscope.models.device import to_numpy

GRADIENT_PIXELS = 2**16  # also the fastest: per image, batches beyond this run slower on a CPU (cache)
PERTURBATION_PIXELS = 2**20
INPUT_METHODS = ("integrated_gradients", "saliency", "input_x_gradient", "smoothgrad", "occlusion", "feature_ablation")
LAYER_METHODS = ("layer_conductance", "layer_integrated_gradients")
METHODS = INPUT_METHODS + LAYER_METHODS
GRADIENT_METHODS = ("integrated_gradients", "saliency", "input_x_gradient", "smoothgrad") + LAYER_METHODS
ALIASES = {"ig": "integrated_gradients", "ixg": "input_x_gradient", "lc": "layer_conductance",
           "lig": "layer_integrated_gradients"}


class MethodSettings(Config):
    """The methods' settings (the module docstring says where each applies); `AttributeConfig.settings`."""

    n_steps: int = Field(32, ge=1, description="integration steps (integrated gradients, layer methods)")
    smoothgrad_samples: int = Field(16, ge=1, description="noisy copies per image (smoothgrad)")
    smoothgrad_stdev: float = Field(0.1, gt=0, description="noise standard deviation in [0, 1] image units "
                                                           "(smoothgrad; for a NeRF, x the field box's diagonal)")
    seed: int = Field(0, ge=0, description="smoothgrad noise of frame k and the random baseline's map of frame k")
    internal_batch_size: int | None = Field(None, ge=1, description="images per forward+backward (default: 2^16 / "
                                                                    "pixels)")
    perturbations_per_eval: int | None = Field(None, ge=1, description="perturbations per forward (default: 2^20 / "
                                                                       "pixels / frames)")
    occlusion_window: int | None = Field(None, ge=1, description="side of occlusion's black square in pixels "
                                                                 "(default: max(2, H // 8))")
    ablation_patch: int | None = Field(None, ge=1, description="side of feature ablation's square patches in pixels "
                                                               "(default: max(1, H // 16))")


def parse_methods(text: str) -> tuple[str, ...]:
    """'ig,saliency' -> ('integrated_gradients', 'saliency'); 'all' -> every method (the layer ones need a layer)."""
    names = [part.strip().replace("-", "_") for part in text.split(",") if part.strip()]
    if names == ["all"]:
        return METHODS
    methods = []
    for name in names:
        name = ALIASES.get(name, name)
        if name not in METHODS:
            raise InterpError(f"unknown method {name!r}; choose from {', '.join(METHODS)} (or ig, ixg, lc, lig, all)")
        if name not in methods:
            methods.append(name)
    if not methods:
        raise InterpError("no method given; choose from " + ", ".join(METHODS))
    return tuple(methods)


def gradient_batch(settings: MethodSettings, height: int, width: int) -> int:
    """Images per forward and backward pass of a gradient method."""
    return settings.internal_batch_size or max(1, GRADIENT_PIXELS // (height * width))


def perturbation_batch(height: int, width: int) -> int:
    """Images per forward pass of a perturbation method."""
    return max(1, PERTURBATION_PIXELS // (height * width))


class LayerTap(nn.Identity):
    """Called on hook point `layer`'s output (an adapter intervention), so captum's layer methods hook exactly that
    call site, even for a module the model calls more than once."""


def frame_noise_seed(seed: int, frame: int, part: int = 0) -> int:
    """SmoothGrad's torch seed for frame `frame` (and part `part` of it) of a job seeded with `seed`."""
    entropy = [seed, frame] + ([part] if part else [])
    return int(np.random.SeedSequence(entropy).generate_state(1)[0])


def attribute(method: str, forward: Callable, images: torch.Tensor, mask: torch.Tensor, frames: Sequence[int],
              settings: MethodSettings, tap: LayerTap | None = None) -> np.ndarray:
    """(B, H, W) float32 maps of `method` for target `forward` on `images` (B, 3, H, W) with region `mask`
    (B, H, W); `frames` are the dataset indices (SmoothGrad's noise seeds); `tap` is the layer methods' layer."""
    b, _, h, w = images.shape
    per_call = gradient_batch(settings, h, w) if method in GRADIENT_METHODS else perturbation_batch(h, w)
    if method == "smoothgrad":
        parts = [_smoothgrad(forward, images[i:i + 1], mask[i:i + 1], frames[i], settings) for i in range(b)]
    else:
        parts = [_call(method, forward, images[i:i + per_call], mask[i:i + per_call], settings, tap)
                 for i in range(0, b, per_call)]
    maps = torch.cat(parts).detach().float().sum(dim=1)
    if method in LAYER_METHODS:
        maps = _spread(maps, (h, w))
    return to_numpy(maps)


def _spread(cells: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """(B, h, w) per-cell values -> (B, H, W), each cell's value divided evenly among the pixels that
    nearest-neighbour upsampling gives it."""
    h, w = cells.shape[-2:]
    index = torch.arange(h * w, dtype=torch.float32).view(1, 1, h, w)
    cell_of_pixel = F.interpolate(index, size=size, mode="nearest").long().view(-1).to(cells.device)
    counts = torch.bincount(cell_of_pixel, minlength=h * w).to(cells.dtype)
    return (cells.flatten(1)[:, cell_of_pixel] / counts[cell_of_pixel]).view(len(cells), *size)


def _call(method: str, forward: Callable, images: torch.Tensor, mask: torch.Tensor, settings: MethodSettings,
          tap: LayerTap | None) -> torch.Tensor:
    from captum import attr

    h, w = images.shape[-2:]
    inputs = images.clone().requires_grad_(method in GRADIENT_METHODS)
    args = (mask,)
    steps_batch = gradient_batch(settings, h, w)
    if method == "integrated_gradients":
        return attr.IntegratedGradients(forward).attribute(
            inputs, baselines=0.0, additional_forward_args=args, n_steps=settings.n_steps,
            internal_batch_size=steps_batch)
    if method == "saliency":
        return attr.Saliency(forward).attribute(inputs, additional_forward_args=args)
    if method == "input_x_gradient":
        return attr.InputXGradient(forward).attribute(inputs, additional_forward_args=args)
    if method == "occlusion":
        window = settings.occlusion_window or max(2, h // 8)
        stride = max(1, window // 2)
        per_eval = settings.perturbations_per_eval or max(1, perturbation_batch(h, w) // len(images))
        return attr.Occlusion(forward).attribute(
            inputs, sliding_window_shapes=(3, window, window), strides=(3, stride, stride), baselines=0.0,
            additional_forward_args=args, perturbations_per_eval=per_eval)
    if method == "feature_ablation":
        patch = settings.ablation_patch or max(1, h // 16)
        rows = torch.arange(h, device=images.device) // patch
        cols = torch.arange(w, device=images.device) // patch
        patches = rows[:, None] * (cols.max() + 1) + cols[None, :]
        feature_mask = patches.expand(1, 3, h, w)
        per_eval = settings.perturbations_per_eval or max(1, perturbation_batch(h, w) // len(images))
        return attr.FeatureAblation(forward).attribute(
            inputs, baselines=0.0, feature_mask=feature_mask, additional_forward_args=args,
            perturbations_per_eval=per_eval)
    if tap is None:
        raise InterpError(f"{method} needs a hook point: give a layer")
    if method == "layer_conductance":
        return attr.LayerConductance(forward, tap).attribute(
            inputs, baselines=0.0, additional_forward_args=args, n_steps=settings.n_steps,
            internal_batch_size=steps_batch)
    return attr.LayerIntegratedGradients(forward, tap).attribute(
        inputs, baselines=0.0, additional_forward_args=args, n_steps=settings.n_steps,
        internal_batch_size=steps_batch)


def _smoothgrad(forward: Callable, image: torch.Tensor, mask: torch.Tensor, frame: int,
                settings: MethodSettings) -> torch.Tensor:
    from captum import attr

    h, w = image.shape[-2:]
    inputs = image.clone().requires_grad_(True)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(frame_noise_seed(settings.seed, frame))
        return attr.NoiseTunnel(attr.Saliency(forward)).attribute(
            inputs, nt_type="smoothgrad", nt_samples=settings.smoothgrad_samples,
            nt_samples_batch_size=min(settings.smoothgrad_samples, gradient_batch(settings, h, w)),
            stdevs=settings.smoothgrad_stdev, additional_forward_args=(mask,))
