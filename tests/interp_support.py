"""Shared fixtures for the interp tests: a 16-frame 32x32 tabletop dataset and a tiny random TAESD model."""

from __future__ import annotations

import pytest
from models_support import save_tiny_taesd_pair

from frobnoscope.scenes.generate import generate

TINY_HOOKS = "encoder.4,encoder.14"  # 16x16 and 4x4 grids at 32x32


@pytest.fixture(scope="session")
def interp_dataset(tmp_path_factory):
    """16 tabletop frames at 32x32, chunks of 4."""
    return generate("tabletop", n=16, seed=7, out=tmp_path_factory.mktemp("interp-data") / "tabletop",
                    settings={"res": "32"}, chunk_frames=4)


@pytest.fixture(scope="session")
def tiny_model_spec(tmp_path_factory):
    return f"taesd:{save_tiny_taesd_pair(tmp_path_factory.mktemp('interp-model'))}"
