"""Fixtures of the interp tests: a small tabletop dataset (the tiny model is `tiny_model_spec`, tests/conftest.py)."""

import pytest

from frobnoscope.scenes.generate import generate


@pytest.fixture(scope="session")
def interp_dataset(tmp_path_factory):
    """16 tabletop frames at 32x32, chunks of 4."""
    return generate("tabletop", n=16, seed=7, out=tmp_path_factory.mktemp("interp-data") / "tabletop",
                    settings={"res": "32"}, chunk_frames=4)
