"""The TAESD architecture (madebyollin/taesd), written from the layout of its `.pth` state dicts.

Encoder and decoder are `nn.Sequential`s of 3x3 convolutions and residual `TinyBlock`s, with three 2x downsamplings
(stride-2 convolutions) and three 2x upsamplings (nearest), so latents are 1/8 of the image side. Images are in
[0, 1]; the decoder first soft-clamps latents with `tanh(x / 3) * 3`. The FLUX.2 variant (TAEF2, 32 latent
channels) gives the three 64-channel blocks next to the latents (encoder blocks 11-13, decoder blocks 3-5) an extra
`pool` branch: 1x1 conv 64->256, GroupNorm(4, 256), ReLU, 1x1 conv 256->64, added to the block input. Which blocks
carry it, and the latent channel count, are read from the state dict's keys and shapes.
"""

from __future__ import annotations

import torch
from torch import nn

WIDTH = 64
POOL_EXPANSION = 4
POOL_GROUPS = 4


def conv3x3(n_in: int, n_out: int, **kwargs) -> nn.Conv2d:
    return nn.Conv2d(n_in, n_out, 3, padding=1, **kwargs)


class SoftClamp(nn.Module):
    """tanh(x / 3) * 3: latents squeezed smoothly into (-3, 3)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.tanh(x / 3) * 3


class TinyBlock(nn.Module):
    """relu(conv(x') + x') with x' = x + pool(x) when the block has a pool branch, else x' = x."""

    def __init__(self, channels: int = WIDTH, pool: bool = False):
        super().__init__()
        self.conv = nn.Sequential(conv3x3(channels, channels), nn.ReLU(), conv3x3(channels, channels), nn.ReLU(),
                                  conv3x3(channels, channels))
        self.skip = nn.Identity()
        self.fuse = nn.ReLU()
        wide = channels * POOL_EXPANSION
        self.pool = nn.Sequential(
            nn.Conv2d(channels, wide, 1, bias=False), nn.GroupNorm(POOL_GROUPS, wide), nn.ReLU(),
            nn.Conv2d(wide, channels, 1, bias=False),
        ) if pool else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.pool is not None:
            x = x + self.pool(x)
        return self.fuse(self.conv(x) + self.skip(x))


def tiny_encoder(latent_channels: int, pool_blocks: frozenset[int] = frozenset()) -> nn.Sequential:
    def block(index):
        return TinyBlock(pool=index in pool_blocks)

    def down():
        return conv3x3(WIDTH, WIDTH, stride=2, bias=False)

    return nn.Sequential(
        conv3x3(3, WIDTH), block(1),
        down(), block(3), block(4), block(5),
        down(), block(7), block(8), block(9),
        down(), block(11), block(12), block(13),
        conv3x3(WIDTH, latent_channels),
    )


def tiny_decoder(latent_channels: int, pool_blocks: frozenset[int] = frozenset()) -> nn.Sequential:
    def block(index):
        return TinyBlock(pool=index in pool_blocks)

    def up():
        return [nn.Upsample(scale_factor=2), conv3x3(WIDTH, WIDTH, bias=False)]

    return nn.Sequential(
        SoftClamp(), conv3x3(latent_channels, WIDTH), nn.ReLU(),
        block(3), block(4), block(5), *up(),
        block(8), block(9), block(10), *up(),
        block(13), block(14), block(15), *up(),
        block(18), conv3x3(WIDTH, 3),
    )


class TinyAutoencoder(nn.Module):
    """TAESD encoder and decoder together; hook points are named `encoder.<i>...` and `decoder.<i>...`."""

    downsampling_factor = 8

    def __init__(self, encoder: nn.Sequential, decoder: nn.Sequential):
        super().__init__()
        self.encoder = encoder
        self.decoder = decoder

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.decoder(self.encoder(x))


def pool_blocks_in(state_dict: dict[str, torch.Tensor]) -> frozenset[int]:
    """Indices of the blocks whose keys include a `pool` branch (`11.pool.0.weight`, ...)."""
    return frozenset(int(key.split(".")[0]) for key in state_dict if key.split(".")[1:2] == ["pool"])


def encoder_latent_channels(state_dict: dict[str, torch.Tensor]) -> int:
    return state_dict["14.weight"].shape[0]


def decoder_latent_channels(state_dict: dict[str, torch.Tensor]) -> int:
    return state_dict["1.weight"].shape[1]
