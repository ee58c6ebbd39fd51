"""Shared helpers for the model tests: the real TAEF2 weights (skip or fail when absent), tiny random models saved
through the real loading paths, and a tiny dataset."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

from frobnoscope.models.autoencoders.taesd_arch import tiny_decoder, tiny_encoder
from frobnoscope.models.loading.weights import default_weights_dir
from frobnoscope.scenes.generate import generate

REQUIRE_WEIGHTS = "FROB_REQUIRE_WEIGHTS"
TINY_DATA = {"res": "32", "max_objects": "3"}


def taef2_weights_dir() -> Path:
    """The directory holding taef2_{encoder,decoder}.pth; skips the test when they are absent, or fails it when
    FROB_REQUIRE_WEIGHTS=1 (CI machines that must have them)."""
    directory = default_weights_dir()
    if all((directory / f"taef2_{part}.pth").is_file() for part in ("encoder", "decoder")):
        return directory
    message = f"TAEF2 weights not found in {directory} (set FROB_WEIGHTS_DIR)"
    if os.environ.get(REQUIRE_WEIGHTS) == "1":
        pytest.fail(f"{REQUIRE_WEIGHTS}=1 but {message}")
    pytest.skip(message)


@pytest.fixture(scope="session")
def taef2_dir() -> Path:
    return taef2_weights_dir()


def save_tiny_taesd_pair(directory: Path, name: str = "tiny", latent_channels: int = 4, pool: bool = True,
                         suffix: str = ".pth") -> Path:
    """A randomly initialised TAESD pair (with TAEF2-style pool branches) saved as <name>_encoder/_decoder."""
    torch.manual_seed(0)
    encoder = tiny_encoder(latent_channels, frozenset({11, 12, 13}) if pool else frozenset())
    decoder = tiny_decoder(latent_channels, frozenset({3, 4, 5}) if pool else frozenset())
    directory.mkdir(parents=True, exist_ok=True)
    for part, module in (("encoder", encoder), ("decoder", decoder)):
        path = directory / f"{name}_{part}{suffix}"
        if suffix == ".safetensors":
            from safetensors.torch import save_file

            save_file(module.state_dict(), str(path))
        else:
            torch.save(module.state_dict(), path)
    return directory / name


def tiny_autoencoder_kl(**overrides):
    from diffusers import AutoencoderKL

    torch.manual_seed(0)
    config = dict(block_out_channels=(8, 16), down_block_types=("DownEncoderBlock2D",) * 2,
                  up_block_types=("UpDecoderBlock2D",) * 2, layers_per_block=1, latent_channels=4, norm_num_groups=4,
                  sample_size=32, scaling_factor=0.5)
    config.update(overrides)
    return AutoencoderKL(**config)


@pytest.fixture(scope="session")
def tiny_dataset(tmp_path_factory):
    """8 tabletop frames at 32x32."""
    return generate("tabletop", n=8, seed=5, out=tmp_path_factory.mktemp("models-data") / "tabletop",
                    settings=TINY_DATA, chunk_frames=4)
