"""What `frob attribute` attributes: a target string -> one scalar per image, as a torch module captum can call.

Target syntax (parts separated by ':'; REGION is optional and always last):
  error[:REGION]              the model's squared error against its optimal output (for an autoencoder the input
                              itself), averaged over colour channels and over the region's pixels
  output:X,Y | output:REGION  the model's output (linear RGB, mean of the three channels) at pixel column X, row Y,
                              or averaged over a region
  feature:HOOK:ID[:REGION]    channel ID of hook point HOOK's output, or with `--sae DIR` latent ID of that SAE
                              (trained on HOOK), summed over the hook's grid cells in the region (each cell weighted
                              by the fraction of its pixels inside); `at=X,Y`: the one cell holding that pixel
  probe:[HOOK:]FACTOR[:REGION]  a probe fitted by `frob probe` (`--probes DIR`): a pixel-level ridge probe's
                              prediction averaged over the region's cells (weighted as above), a frame-level probe's
                              prediction from the token-averaged activations; FACTOR=K for a categorical probe is
                              the log-probability of class K. Without HOOK: the hook where that probe's selectivity
                              is highest.

REGION (ground truth of each frame; an empty region makes the target 0 and the map all zeros):
  all (default)  background (object_id 0)  foreground (object_id > 0)  object=N  material=N  shape=N (the ids of
  the dataset's object_id, material_id, shape_id channels)  shadow=L (in the shadow of light L)  lit=L (shading of
  light L > 0)  texture=K (object pixels in texture bin K of `error_breakdown`: 0 flat, 1 low, 2 medium, 3 high
  local albedo gradient)  at=X,Y (one pixel: column X, row Y from the top left)  object-at=X,Y (the object under
  that pixel, background if none; differs per frame)

Every wrapper's `forward(images, mask)` takes linear [0, 1] images (B, 3, H, W) and the region mask (B, H, W) of
the same frames and returns (B,): one scalar per image, so captum needs no `target` index.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from frobnoscope.interp.errors import InterpError
from frobnoscope.models.adapter import AutoencoderAdapter

TARGET_KINDS = ("error", "output", "feature", "probe")
REGION_KINDS = ("all", "background", "foreground", "object", "material", "shape", "shadow", "lit", "texture", "at",
                "object-at")
_ID_CHANNELS = {"object": "object_id", "material": "material_id", "shape": "shape_id"}
TARGET_HELP = "error[:REGION], output:X,Y, feature:HOOK:ID[:REGION] or probe:[HOOK:]FACTOR[:REGION]"


@dataclass(frozen=True)
class Region:
    """A set of pixels of each frame, from its ground truth. `value`: the id, light index or pixel (x, y)."""

    kind: str = "all"
    value: tuple[int, ...] = ()

    def __str__(self) -> str:
        return self.kind if not self.value else f"{self.kind}={','.join(map(str, self.value))}"

    @property
    def is_point(self) -> bool:
        return self.kind == "at"

    def channels(self) -> tuple[str, ...]:
        """The ground-truth channels `mask` reads."""
        if self.kind in ("background", "foreground", "object-at"):
            return ("object_id",)
        if self.kind in _ID_CHANNELS:
            return (_ID_CHANNELS[self.kind],)
        if self.kind == "shadow":
            return ("shadow",)
        if self.kind == "lit":
            return ("shading",)
        if self.kind == "texture":
            return ("albedo", "object_id")
        return ()

    def mask(self, gt: dict[str, np.ndarray], shape: tuple[int, int, int]) -> np.ndarray:
        """(B, H, W) bool from the frames' ground truth (`channels()`, each (B, H, W[, ...]))."""
        b, h, w = shape
        if self.kind == "all":
            return np.ones(shape, dtype=bool)
        if self.kind in ("at", "object-at"):
            x, y = self.value
            if not (0 <= x < w and 0 <= y < h):
                raise InterpError(f"pixel {x},{y} is outside the {w}x{h} frames (X is the column, Y the row, from 0)")
            if self.kind == "at":
                mask = np.zeros(shape, dtype=bool)
                mask[:, y, x] = True
                return mask
            ids = gt["object_id"]
            return ids == ids[:, y, x][:, None, None]
        if self.kind == "background":
            return gt["object_id"] == 0
        if self.kind == "foreground":
            return gt["object_id"] > 0
        if self.kind in _ID_CHANNELS:
            return gt[_ID_CHANNELS[self.kind]] == self.value[0]
        if self.kind == "texture":
            from frobnoscope.interp.evaluation.error_breakdown import texture_labels

            return np.stack([texture_labels(albedo, ids) == self.value[0]
                             for albedo, ids in zip(gt["albedo"], gt["object_id"])])
        light = self.value[0]
        values = gt["shadow" if self.kind == "shadow" else "shading"]
        if values.ndim != 4 or light >= values.shape[-1]:
            raise InterpError(f"region {self}: the dataset has {values.shape[-1] if values.ndim == 4 else 0} lights")
        values = values[..., light]
        with np.errstate(invalid="ignore"):
            return (values == 1) if self.kind == "shadow" else (np.isfinite(values) & (values > 0))


def parse_region(text: str) -> Region:
    """'object=3' -> Region('object', (3,)); 'at=10,4' -> Region('at', (10, 4)); 'all' -> Region()."""
    kind, sep, value = text.strip().partition("=")
    if kind not in REGION_KINDS:
        raise InterpError(f"unknown region {text!r}; regions: all, background, foreground, object=N, material=N, "
                          "shape=N, shadow=L, lit=L, texture=K, at=X,Y, object-at=X,Y")
    wanted = 2 if kind in ("at", "object-at") else 0 if kind in ("all", "background", "foreground") else 1
    try:
        numbers = tuple(int(part) for part in value.split(",")) if sep else ()
    except ValueError:
        numbers = None
    if numbers is None or len(numbers) != wanted or any(n < 0 for n in numbers):
        shape = {0: kind, 1: f"{kind}=N", 2: f"{kind}=X,Y"}[wanted]
        raise InterpError(f"region {text!r} should read {shape} (non-negative integers)")
    return Region(kind, numbers)


def _is_region(part: str) -> bool:
    return part.partition("=")[0] in REGION_KINDS


@dataclass(frozen=True)
class TargetSpec:
    """A parsed target (see the module docstring)."""

    kind: str
    region: Region = Region()
    hook: str | None = None  # feature, probe (None: the probe's best hook)
    index: int | None = None  # feature: channel or SAE latent
    factor: str | None = None  # probe

    def __str__(self) -> str:
        if self.kind == "output" and self.region.is_point:
            return f"output:{self.region.value[0]},{self.region.value[1]}"
        middle = {"error": [], "output": [], "feature": [self.hook, str(self.index)],
                  "probe": [p for p in (self.hook, self.factor) if p]}[self.kind]
        tail = [] if self.region.kind == "all" else [str(self.region)]
        return ":".join([self.kind, *middle, *tail])

    def default_cause(self) -> Region | None:
        """The region whose pixels cause the target: its own region; for one pixel, the object under it."""
        if self.region.kind == "all":
            return None
        if self.region.kind == "at":
            return Region("object-at", self.region.value)
        return self.region


def parse_target(text: str) -> TargetSpec:
    parts = text.strip().split(":")
    kind, rest = parts[0], parts[1:]
    if kind not in TARGET_KINDS:
        raise InterpError(f"unknown target {text!r}; expected {TARGET_HELP}")
    region = Region()
    if rest and _is_region(rest[-1]):
        region = parse_region(rest.pop())
    if kind == "error":
        if rest:
            raise InterpError(f"target {text!r}: expected error or error:REGION, e.g. error:object=2")
        return TargetSpec("error", region)
    if kind == "output":
        if len(rest) == 1 and region.kind == "all":
            region = parse_region(f"at={rest.pop()}")
        if rest or region.kind == "all":
            raise InterpError(f"target {text!r}: expected output:X,Y (a pixel) or output:REGION")
        return TargetSpec("output", region)
    if kind == "feature":
        if len(rest) != 2:
            raise InterpError(f"target {text!r}: expected feature:HOOK:ID[:REGION], e.g. feature:encoder.4:7")
        try:
            index = int(rest[1])
        except ValueError:
            raise InterpError(f"target {text!r}: the feature id {rest[1]!r} is not an integer") from None
        if index < 0:
            raise InterpError(f"target {text!r}: the feature id must be at least 0")
        return TargetSpec("feature", region, hook=rest[0], index=index)
    if len(rest) not in (1, 2) or not all(rest):
        raise InterpError(f"target {text!r}: expected probe:FACTOR or probe:HOOK:FACTOR[:REGION], e.g. probe:depth_z")
    return TargetSpec("probe", region, hook=rest[0] if len(rest) == 2 else None, factor=rest[-1])


# --- the forward pass with gradients ------------------------------------------------------------------------------


class _StopForward(Exception):
    pass


def reconstruction(adapter: AutoencoderAdapter, images: torch.Tensor) -> torch.Tensor:
    """The adapter's output (B, 3, H, W), linear [0, 1], with gradients (`adapter.forward` runs without them)."""
    x = adapter.preprocess(images)
    with adapter.hooks.forward_pass():
        return adapter.postprocess(adapter.reconstruct_model(x))


def hook_output(adapter: AutoencoderAdapter, images: torch.Tensor, hook: str) -> torch.Tensor:
    """Hook point `hook`'s output for `images`, with gradients; the forward pass stops right after it."""
    captured = {}

    def grab(output: torch.Tensor):
        captured["output"] = output
        raise _StopForward

    x = adapter.preprocess(images)
    with adapter.hooks.forward_pass(), adapter.intervene(hook, grab):
        try:
            adapter.reconstruct_model(x)
        except _StopForward:
            pass
    if "output" not in captured:
        raise InterpError(f"hook point {hook!r} was not called in the forward pass")
    output = captured["output"]
    if output.ndim != 4:
        raise InterpError(f"hook point {hook!r} outputs shape {tuple(output.shape)}, not (B, C, h, w); choose an "
                          "image-like hook point")
    return output


def cell_weights(mask: torch.Tensor, grid: tuple[int, int], point: bool) -> torch.Tensor:
    """(B, H, W) pixel mask -> (B, h, w): the fraction of each grid cell's pixels in the mask (`point`: 1 for the
    cell holding the pixel, 0 elsewhere)."""
    pooled = F.adaptive_avg_pool2d(mask[:, None].float(), grid)[:, 0]
    return (pooled > 0).to(pooled.dtype) if point else pooled


def _region_mean(values: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    """(B, ...) values weighted by (B, ...) weights -> (B,) weighted mean (0 where the weights are all 0)."""
    total = weights.flatten(1).sum(1)
    return (values * weights).flatten(1).sum(1) / total.clamp_min(1e-12)


class ErrorTarget(nn.Module):
    """Returns, per image, the mean over the region's pixels of the squared error between the model's output and
    its optimal output (linear RGB, averaged over the three colour channels): `models.metrics.squared_error_map`
    with gradients, restricted to the region. The optimal output is that of the (perturbed) input captum passes,
    clipped to [0, 1] as the model sees it (SmoothGrad's noise leaves the range)."""

    def __init__(self, adapter: AutoencoderAdapter):
        super().__init__()
        self.adapter = adapter

    def forward(self, images: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        optimal = self.adapter.optimal_output(images).clamp(0, 1)
        squared = (reconstruction(self.adapter, images) - optimal).pow(2).mean(dim=1)
        return _region_mean(squared, mask.to(squared.dtype))


class OutputTarget(nn.Module):
    """Returns, per image, the model's output (linear RGB [0, 1], mean of the three channels) averaged over the
    region's pixels; for `output:X,Y` that is the one pixel's value."""

    def __init__(self, adapter: AutoencoderAdapter):
        super().__init__()
        self.adapter = adapter

    def forward(self, images: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        brightness = reconstruction(self.adapter, images).mean(dim=1)
        return _region_mean(brightness, mask.to(brightness.dtype))


class FeatureTarget(nn.Module):
    """Returns, per image, feature `index` at hook point `hook` summed over the grid cells in the region, each
    cell weighted by the fraction of its pixels in the region (`cell_weights`; a point region: its one cell).
    The feature is channel `index` of the hook's output, or with an SAE the latent `index` of the SAE's code of
    each cell's channel vector (`SparseAutoencoder.encode`)."""

    def __init__(self, adapter: AutoencoderAdapter, hook: str, index: int, point: bool, sae: nn.Module | None = None):
        super().__init__()
        self.adapter, self.hook, self.index, self.point, self.sae = adapter, hook, index, point, sae

    def forward(self, images: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        acts = hook_output(self.adapter, images, self.hook)
        b, c, h, w = acts.shape
        if self.sae is None:
            values = acts[:, self.index]
        else:
            tokens = acts.permute(0, 2, 3, 1).reshape(-1, c).float()
            values = self.sae.encode(tokens)[:, self.index].reshape(b, h, w)
        weights = cell_weights(mask, (h, w), self.point).to(values.dtype)
        return (values * weights).flatten(1).sum(1)


class ProbeTarget(nn.Module):
    """Returns, per image, a linear probe's output on hook point `hook`'s channel vectors: `pixel` level, the
    region-weighted mean over grid cells (`cell_weights`) of `tokens @ weights + intercept`; `frame` level,
    `mean token @ weights + intercept` over all cells. `weights` (C, K): K = 1 for ridge probes (the prediction);
    a categorical probe's K class logits become the log-probability of class `column`."""

    def __init__(self, adapter: AutoencoderAdapter, hook: str, weights: np.ndarray, intercept: np.ndarray,
                 level: str, point: bool, column: int = 0, categorical: bool = False):
        super().__init__()
        self.adapter, self.hook, self.level, self.point = adapter, hook, level, point
        self.column, self.categorical = column, categorical
        weights = np.asarray(weights, dtype=np.float32)
        self.register_buffer("weights", torch.as_tensor(weights.reshape(len(weights), -1)))
        self.register_buffer("intercept", torch.as_tensor(np.asarray(intercept, dtype=np.float32).reshape(-1)))

    def _read_out(self, tokens: torch.Tensor) -> torch.Tensor:
        scores = tokens @ self.weights + self.intercept
        if self.categorical:
            scores = torch.log_softmax(scores, dim=-1)
        return scores[..., self.column]

    def forward(self, images: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        acts = hook_output(self.adapter, images, self.hook).float()
        tokens = acts.permute(0, 2, 3, 1)  # (B, h, w, C)
        if self.level == "frame":
            return self._read_out(tokens.mean(dim=(1, 2)))
        weights = cell_weights(mask, acts.shape[-2:], self.point)
        return _region_mean(self._read_out(tokens), weights)

