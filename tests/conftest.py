"""Fixtures shared across packages: tiny random TAESD models saved through the real loading paths, the real TAEF2
weights, the nerfstudio environment, tiny datasets (tabletop frames, a NeRF orbit) with a tiny NeRF config, and the
source tree's modules.

The real weights and the nerfstudio environment skip a test when absent, or fail it where CI requires them
(FROB_REQUIRE_WEIGHTS=1, FROB_REQUIRE_NERFSTUDIO=1; see `.ci/run`). Each fixture imports what it needs, so a
broken module fails only the tests that use it.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import NoReturn

import pytest

ROOT = Path(__file__).resolve().parents[1]
REQUIRE_WEIGHTS = "FROB_REQUIRE_WEIGHTS"
NERFSTUDIO_PYTHON = "FROB_NERFSTUDIO_PYTHON"
REQUIRE_NERFSTUDIO = "FROB_REQUIRE_NERFSTUDIO"


def _skip_or_fail(require_variable: str, message: str) -> NoReturn:
    if os.environ.get(require_variable) == "1":
        pytest.fail(f"{require_variable}=1 but {message}")
    pytest.skip(message)


def _save_tiny_taesd_pair(directory: Path, name: str = "tiny", latent_channels: int = 4, pool: bool = True,
                          suffix: str = ".pth") -> Path:
    """A randomly initialised TAESD pair (with TAEF2-style pool branches) saved as <name>_encoder/_decoder;
    returns the prefix directory / name."""
    import torch

    from frobnoscope.models.autoencoders.taesd_arch import tiny_decoder, tiny_encoder

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


def _tiny_autoencoder_kl(**overrides):
    """A two-level AutoencoderKL (8 and 16 channels, 4 latent channels, scaling factor 0.5) seeded with 0;
    `overrides` replace entries of its config."""
    import torch
    from diffusers import AutoencoderKL

    torch.manual_seed(0)
    config = dict(block_out_channels=(8, 16), down_block_types=("DownEncoderBlock2D",) * 2,
                  up_block_types=("UpDecoderBlock2D",) * 2, layers_per_block=1, latent_channels=4, norm_num_groups=4,
                  sample_size=32, scaling_factor=0.5)
    config.update(overrides)
    return AutoencoderKL(**config)


@pytest.fixture(scope="session")
def tiny_autoencoder_kl():
    """The function `tiny_autoencoder_kl(**overrides) -> AutoencoderKL`: a tiny random diffusers AutoencoderKL (its
    mid-block attention has hook points that are not image-like)."""
    return _tiny_autoencoder_kl


TWO_OBJECTS = {  # a sphere and a box side by side: the field model's tests fit and judge it
    "objects": [
        {"name": "ball", "shape": {"kind": "sphere", "radius": 0.4}, "transform": {"position": [-0.45, 0, 0]},
         "material": {"base_color": [0.8, 0.15, 0.1]}},
        {"name": "block", "shape": {"kind": "box", "extents": [0.5, 0.5, 0.5]}, "transform": {"position": [0.5, 0, 0]},
         "material": {"base_color": [0.1, 0.3, 0.9]}},
    ],
    "camera": {"eye": [0, 0.5, 2.5], "target": [0, 0, 0], "fov_y_deg": 40, "width": 16, "height": 16},
}


@pytest.fixture(scope="session")
def two_objects() -> dict:
    """A scene spec (dict, read-only) of a sphere and a box side by side, the camera in front (16 x 16)."""
    return TWO_OBJECTS


@pytest.fixture(scope="session")
def source_modules() -> dict[str, Path]:
    """{dotted name: file} of every .py in the source tree: the top-level folders with an `__init__.py` are the
    subpackages of `frobnoscope` (`engine/runs.py` is `frobnoscope.engine.runs`)."""
    tops = [top for top in sorted(ROOT.iterdir()) if (top / "__init__.py").is_file() and top.name != "tests"]
    modules = {}
    for path in (path for top in tops for path in sorted(top.rglob("*.py")) if "__pycache__" not in path.parts):
        parts = ("frobnoscope", *path.relative_to(ROOT).with_suffix("").parts)
        modules[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return modules


@pytest.fixture(scope="session")
def save_tiny_taesd_pair():
    """The function `save_tiny_taesd_pair(directory, name="tiny", latent_channels=4, pool=True, suffix=".pth")`."""
    return _save_tiny_taesd_pair


@pytest.fixture(scope="session")
def tiny_model_spec(tmp_path_factory) -> str:
    """`taesd:PREFIX` of one tiny random TAESD pair."""
    return f"taesd:{_save_tiny_taesd_pair(tmp_path_factory.mktemp('tiny-taesd'))}"


@pytest.fixture(scope="session")
def tiny_hooks() -> str:
    """Two hook points of the tiny TAESD pair: 16x16 and 4x4 grids at 32x32."""
    return "encoder.4,encoder.14"


@pytest.fixture(scope="session")
def taef2_dir() -> Path:
    """The directory holding taef2_{encoder,decoder}.pth (FROB_WEIGHTS_DIR or the default)."""
    from frobnoscope.models.autoencoders.weights import default_weights_dir

    directory = default_weights_dir()
    if not all((directory / f"taef2_{part}.pth").is_file() for part in ("encoder", "decoder")):
        _skip_or_fail(REQUIRE_WEIGHTS, f"TAEF2 weights not found in {directory} (set FROB_WEIGHTS_DIR)")
    return directory


@pytest.fixture(scope="session")
def nerfstudio_python() -> str:
    """The nerfstudio environment's Python (nerfstudio needs numpy<2: its own environment). `make test` builds
    .venv-nerfstudio (`make nerfstudio-env`) and sets FROB_NERFSTUDIO_PYTHON to it."""
    python = os.environ.get(NERFSTUDIO_PYTHON)
    if not python:
        _skip_or_fail(REQUIRE_NERFSTUDIO, f"{NERFSTUDIO_PYTHON} is not set; `make nerfstudio-env` builds "
                                          f".venv-nerfstudio, then {NERFSTUDIO_PYTHON}=.venv-nerfstudio/bin/python")
    if not (os.path.isfile(python) and os.access(python, os.X_OK)):
        pytest.fail(f"{NERFSTUDIO_PYTHON}={python} is not an executable Python; run `make nerfstudio-env`")
    return python


@pytest.fixture(scope="session")
def tiny_dataset(tmp_path_factory):
    """8 tabletop frames at 32x32, at most 3 objects, chunks of 4."""
    from frobnoscope.scenes.generate import generate

    return generate("tabletop", n=8, seed=5, out=tmp_path_factory.mktemp("models-data") / "tabletop",
                    settings={"res": "32", "max_objects": "3"}, chunk_frames=4)


@pytest.fixture(scope="session")
def tiny_orbit(tmp_path_factory):
    """10 orbit views at 16x16: test 0 and 8, val 4, the rest train."""
    from frobnoscope.scenes.generate import generate

    return generate("orbit", n=10, seed=0, out=tmp_path_factory.mktemp("orbit") / "orbit16", settings={"res": "16"})


@pytest.fixture(scope="session")
def tiny_nerf_config():
    """A NerfTrainConfig small enough to train in a second: 3 hash levels, 8 + 8 samples, 6 steps of 64 rays."""
    from frobnoscope.models.nerf.field import FieldConfig
    from frobnoscope.models.nerf.model import SamplingConfig
    from frobnoscope.models.nerf.train import NerfTrainConfig

    field = FieldConfig(hidden_width=16, geometry_features=7, hash_levels=3, hash_log2_table_size=12,
                        hash_base_resolution=4, hash_max_resolution=16, direction_frequencies=2)
    return NerfTrainConfig(field=field, sampling=SamplingConfig(coarse_samples=8, fine_samples=8), steps=6,
                           rays_per_step=64, warmup_steps=2, eval_every=2, checkpoint_every=2, threads=1)


@pytest.fixture
def frob_cli(monkeypatch, capsys):
    """`frob_cli(*args)` -> (exit code, stderr) of `frob ARGS` run through the CLI's `main()`, as a shell runs it."""

    def run(*args) -> tuple[int, str]:
        from frobnoscope.app.cli.main import main

        monkeypatch.setattr(sys, "argv", ["frob", *map(str, args)])
        with pytest.raises(SystemExit) as exit_info:
            main()
        return exit_info.value.code, capsys.readouterr().err

    return run
