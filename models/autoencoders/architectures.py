"""The autoencoders `frob train ae` can train: how to build each, save it, load it back and wrap it in an adapter.

- `kl-small`: diffusers `AutoencoderKL` with a small config (3 levels of 32/64/128 channels, one ResNet layer per
  level, 8 latent channels, 4x downsampling, scaling factor 1): the SD VAE's own code path, at a size that trains
  on a CPU in minutes.
- `conv`: `ConvAutoencoder`, a plain conv autoencoder (4x downsampling, 8 latent channels).

Both are saved with `save_pretrained` (config.json + safetensors) and loaded with `from_pretrained`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from torch import nn

from frobnoscope.models.adapter import AutoencoderAdapter
from frobnoscope.models.errors import ModelError
from frobnoscope.models.images import Encoding

KL_SMALL_CONFIG = {
    "in_channels": 3, "out_channels": 3,
    "down_block_types": ["DownEncoderBlock2D"] * 3, "up_block_types": ["UpDecoderBlock2D"] * 3,
    "block_out_channels": [32, 64, 128], "layers_per_block": 1, "latent_channels": 8, "norm_num_groups": 16,
    "sample_size": 64, "scaling_factor": 1.0,
}
CONV_CONFIG = {"channels": [32, 64, 96], "latent_channels": 8}


@dataclass(frozen=True)
class Architecture:
    name: str
    model_class: Callable[[], type]  # the diffusers-style class (imported lazily)
    config: dict
    make_adapter: Callable[..., AutoencoderAdapter]  # (model, name, encoding, latent, seed)

    @property
    def downsampling_factor(self) -> int:
        """2 per level after the first (both configs list one width per level)."""
        widths = self.config.get("block_out_channels") or self.config["channels"]
        return 2 ** (len(widths) - 1)

    def build(self) -> nn.Module:
        """A freshly initialised model (draws from torch's global generator: seed it first)."""
        return self.model_class()(**self.config)


def _autoencoder_kl() -> type:
    from diffusers import AutoencoderKL

    return AutoencoderKL


def _conv_autoencoder() -> type:
    from frobnoscope.models.autoencoders.conv_ae import ConvAutoencoder

    return ConvAutoencoder


def _kl_adapter(model, name: str, encoding: Encoding, latent: str = "mean", seed: int = 0) -> AutoencoderAdapter:
    from frobnoscope.models.autoencoders.sd_vae import KLAutoencoderAdapter

    return KLAutoencoderAdapter(model, name=name, encoding=encoding, latent=latent, seed=seed)


def _conv_adapter(model, name: str, encoding: Encoding, latent: str = "mean", seed: int = 0) -> AutoencoderAdapter:
    from frobnoscope.models.autoencoders.conv_ae import ConvAutoencoderAdapter

    if latent != "mean":
        raise ModelError(f"{name} is a plain autoencoder: its latents are not sampled (omit the latent-sampling option)")
    return ConvAutoencoderAdapter(model, name=name, encoding=encoding)


ArchitectureName = Literal["kl-small", "conv"]  # the keys of ARCHITECTURES
ARCHITECTURES = {
    "kl-small": Architecture("kl-small", _autoencoder_kl, KL_SMALL_CONFIG, _kl_adapter),
    "conv": Architecture("conv", _conv_autoencoder, CONV_CONFIG, _conv_adapter),
}


def architecture(name: str) -> Architecture:
    if name not in ARCHITECTURES:
        raise ModelError(f"unknown architecture {name!r}; choose one of {', '.join(ARCHITECTURES)}")
    return ARCHITECTURES[name]
