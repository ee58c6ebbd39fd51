"""`conv`: a small plain convolutional autoencoder for training on our datasets (`frob train ae --arch conv`).

No normalisation, no attention. Encoder: 3x3 conv to `channels[0]`, then per further width a stride-2 3x3 conv and a
residual block (x + conv(silu(conv(silu(x))))), then a 1x1 conv to `latent_channels`. The decoder mirrors it with
nearest 2x upsampling. Images in [0, 1], linear (what our datasets hold); latents are (B, latent_channels, H / f,
W / f) with f = 2^(len(channels) - 1).
Saved and loaded like any diffusers model (`save_pretrained`/`from_pretrained`: config.json + safetensors).
"""

from __future__ import annotations

import torch
from diffusers.configuration_utils import ConfigMixin, register_to_config
from diffusers.models.modeling_utils import ModelMixin
from torch import nn

from frobnoscope.models.adapter import AutoencoderAdapter
from frobnoscope.models.images import Encoding


def _conv(n_in: int, n_out: int, stride: int = 1) -> nn.Conv2d:
    return nn.Conv2d(n_in, n_out, 3, stride=stride, padding=1)


class ResidualBlock(nn.Module):
    """x + conv(silu(conv(silu(x))))."""

    def __init__(self, channels: int):
        super().__init__()
        self.activation = nn.SiLU()
        self.conv1 = _conv(channels, channels)
        self.conv2 = _conv(channels, channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.conv2(self.activation(self.conv1(self.activation(x))))


class ConvAutoencoder(ModelMixin, ConfigMixin):
    @register_to_config
    def __init__(self, channels: tuple[int, ...] = (32, 64, 96), latent_channels: int = 8):
        super().__init__()
        channels = tuple(channels)
        encoder: list[nn.Module] = [_conv(3, channels[0]), nn.SiLU()]
        for n_in, n_out in zip(channels, channels[1:]):
            encoder += [_conv(n_in, n_out, stride=2), ResidualBlock(n_out)]
        encoder += [nn.SiLU(), nn.Conv2d(channels[-1], latent_channels, 1)]
        decoder: list[nn.Module] = [_conv(latent_channels, channels[-1]), ResidualBlock(channels[-1])]
        for n_in, n_out in zip(channels[::-1], channels[::-1][1:]):
            decoder += [nn.Upsample(scale_factor=2), _conv(n_in, n_out), ResidualBlock(n_out)]
        decoder += [nn.SiLU(), _conv(channels[0], 3)]
        self.encoder = nn.Sequential(*encoder)
        self.decoder = nn.Sequential(*decoder)

    @property
    def downsampling_factor(self) -> int:
        return 2 ** (len(self.config.channels) - 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.decoder(self.encoder(x))


class ConvAutoencoderAdapter(AutoencoderAdapter):
    """Model range [0, 1]; `encoding` is what the model was trained on (`frob train ae` default: linear)."""

    def __init__(self, model: ConvAutoencoder, *, name: str, encoding: Encoding = "linear"):
        super().__init__(model, name=name, downsampling_factor=model.downsampling_factor, encoding=encoding,
                         value_range=(0.0, 1.0))

    def encode_model(self, x: torch.Tensor) -> torch.Tensor:
        return self.module.encoder(x)

    def decode_model(self, latents: torch.Tensor) -> torch.Tensor:
        return self.module.decoder(latents)
