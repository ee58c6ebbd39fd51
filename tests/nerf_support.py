"""Shared fixtures of the NeRF tests: a tiny orbit dataset and a tiny training config."""

import pytest

from frobnoscope.models.nerf.field import FieldConfig
from frobnoscope.models.nerf.model import SamplingConfig
from frobnoscope.models.nerf.train import NerfTrainConfig
from frobnoscope.scenes.generate import generate

TINY_FIELD = FieldConfig(hidden_width=16, geometry_features=7, hash_levels=3, hash_log2_table_size=12,
                         hash_base_resolution=4, hash_max_resolution=16, direction_frequencies=2)
TINY = NerfTrainConfig(field=TINY_FIELD, sampling=SamplingConfig(8, 8), steps=6, rays_per_step=64, warmup_steps=2,
                       eval_every=2, checkpoint_every=2, threads=1)


@pytest.fixture(scope="session")
def tiny_orbit(tmp_path_factory):
    """10 views at 16x16: test 0 and 8, val 4, the rest train."""
    return generate("orbit", n=10, seed=0, out=tmp_path_factory.mktemp("orbit") / "orbit16", settings={"res": "16"})
