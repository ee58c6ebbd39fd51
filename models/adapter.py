"""The model adapter protocol, and its implementation for image autoencoders.

Every model frobnoscope studies is reached through an adapter with the same small surface (docs/concepts/adapters.md):
`name`, `preprocess`/`postprocess`, `forward`, `optimal_output`, `hook_points`, `capture` and `intervene`.
Images cross it as float32 linear RGB in [0, 1], numpy (B, H, W, 3) or torch (B, 3, H, W); results come back in the
layout they came in. What the model itself sees (its value range, its colour encoding) is the adapter's business.
"""

from __future__ import annotations

from collections.abc import Iterable
from contextlib import AbstractContextManager
from typing import Protocol, runtime_checkable

import torch
from torch import nn

from frobnoscope.models import images
from frobnoscope.models.hooks import CallSiteHooks, HookAccess, Intervention
from frobnoscope.models.images import Encoding, ImageBatch


@runtime_checkable
class ModelAdapter(Protocol):
    name: str

    def preprocess(self, batch: ImageBatch) -> torch.Tensor: ...
    def postprocess(self, output: torch.Tensor) -> torch.Tensor: ...
    def forward(self, batch: ImageBatch) -> ImageBatch: ...
    def optimal_output(self, batch: ImageBatch) -> ImageBatch: ...
    def hook_points(self) -> list[str]: ...
    def capture(self, batch: ImageBatch, names: Iterable[str] | None = None) -> dict[str, torch.Tensor]: ...
    def intervene(self, name: str, fn: Intervention) -> AbstractContextManager[None]: ...


class AutoencoderAdapter(HookAccess):
    """An image autoencoder: images -> latents -> images. Its optimal output is its input.

    Subclasses say how the model encodes and decodes in its own terms (`encode_model`, `decode_model`: images in
    `value_range`, colour in `encoding`), and set `downsampling_factor`: image sides must be multiples of it.
    `preprocess` maps our linear [0, 1] images to the model's input (colour `encoding` first: `display` is the
    renderer's 1/2.2 gamma, as in our PNGs; then [0, 1] -> `value_range`); `postprocess` maps the model's output
    back, clamped to [0, 1], as a (B, 3, H, W) tensor.
    """

    def __init__(self, module: nn.Module, *, name: str, downsampling_factor: int, encoding: Encoding,
                 value_range: tuple[float, float]):
        if encoding not in images.ENCODINGS:
            raise ValueError(f"encoding must be one of {images.ENCODINGS}, got {encoding!r}")
        self.module = module.eval()
        self.name = name
        self.downsampling_factor = downsampling_factor
        self.encoding = encoding
        self.value_range = (float(value_range[0]), float(value_range[1]))
        self.hooks = CallSiteHooks(module, self._trace)

    # --- what subclasses provide (model range in, model range out; gradients as the caller's mode says) ----

    def encode_model(self, x: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def decode_model(self, latents: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def reconstruct_model(self, x: torch.Tensor) -> torch.Tensor:
        """One autoencoder pass in the model's own range."""
        return self.decode_model(self.encode_model(x))

    def training_reconstruction(self, x: torch.Tensor, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        """(output, regulariser) for one training pass in the model's range; a plain autoencoder has none (0)."""
        return self.reconstruct_model(x), x.new_zeros(())

    # --- the protocol ----------------------------------------------------------------------------

    @property
    def device(self) -> torch.device:
        return next(self.module.parameters()).device

    def preprocess(self, batch: ImageBatch) -> torch.Tensor:
        """Linear [0, 1] images (numpy (B, H, W, 3) or torch (B, 3, H, W)) -> model input (B, 3, H, W) in
        `value_range` and `encoding`. One-line `InputError` for a wrong layout, size or NaN values."""
        linear = images.to_channels_first(batch)
        images.check_images(linear, self.downsampling_factor, self.name)
        return images.to_range(images.encode(linear.to(self.device), self.encoding), self.value_range)

    def postprocess(self, output: torch.Tensor) -> torch.Tensor:
        """Model output (B, 3, H, W) in `value_range` and `encoding` -> linear [0, 1] (clamped)."""
        return images.decode(images.from_range(output, self.value_range), self.encoding)

    def forward(self, batch: ImageBatch) -> ImageBatch:
        """Reconstruct a batch (no gradients): linear [0, 1] in, linear [0, 1] out, in the input's layout."""
        x = self.preprocess(batch)
        with torch.no_grad(), self.hooks.forward_pass():
            output = self.reconstruct_model(x)
        return images.like_input(self.postprocess(output), batch)

    def optimal_output(self, batch: ImageBatch) -> ImageBatch:
        """What a perfect autoencoder returns: the input itself (checked like a forward pass's input)."""
        images.check_images(images.to_channels_first(batch), self.downsampling_factor, self.name)
        return batch

    def encode(self, batch: ImageBatch) -> torch.Tensor:
        """Linear [0, 1] images -> latents (B, C, H / factor, W / factor), as the model's users see them."""
        x = self.preprocess(batch)
        with torch.no_grad(), self.hooks.forward_pass():
            return self.encode_model(x)

    def decode(self, latents: torch.Tensor) -> torch.Tensor:
        """Latents -> linear [0, 1] images (B, 3, H, W)."""
        with torch.no_grad(), self.hooks.forward_pass():
            return self.postprocess(self.decode_model(latents.to(self.device)))

    def _trace(self) -> None:
        size = 2 * self.downsampling_factor
        x = torch.full((1, 3, size, size), 0.5, device=self.device)
        with torch.no_grad():
            self.reconstruct_model(images.to_range(x, self.value_range))
