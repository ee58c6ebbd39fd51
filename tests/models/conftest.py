"""Fixtures of the model tests: a tiny randomly initialised diffusers AutoencoderKL."""

import pytest
import torch


def _tiny_autoencoder_kl(**overrides):
    """A two-level AutoencoderKL (8 and 16 channels, 4 latent channels, scaling factor 0.5) seeded with 0;
    `overrides` replace entries of its config."""
    from diffusers import AutoencoderKL

    torch.manual_seed(0)
    config = dict(block_out_channels=(8, 16), down_block_types=("DownEncoderBlock2D",) * 2,
                  up_block_types=("UpDecoderBlock2D",) * 2, layers_per_block=1, latent_channels=4, norm_num_groups=4,
                  sample_size=32, scaling_factor=0.5)
    config.update(overrides)
    return AutoencoderKL(**config)


@pytest.fixture(scope="session")
def tiny_autoencoder_kl():
    """The function `tiny_autoencoder_kl(**overrides) -> AutoencoderKL`."""
    return _tiny_autoencoder_kl
