"""`GenerateConfig`: what defines a dataset, validated with every problem named by its field path, resolved to the
family's full settings and frame count; the `params` a dataset's manifest stores keep their layout."""

from typing import get_args

import pytest

from frobnoscope.engine.config import ConfigError, validate_config
from frobnoscope.scenes.errors import StoreError
from frobnoscope.scenes.families import FAMILIES
from frobnoscope.scenes.families.orbit import OrbitConfig
from frobnoscope.scenes.generate import generate
from frobnoscope.scenes.generate_config import FamilyName, GenerateConfig

# `params` of the tiny dataset (tests/conftest.py) as `generate` wrote them before GenerateConfig: datasets made
# then resume only if these stay the same.
LEGACY_PARAMS = {"family": "tabletop", "seed": 5, "n": 8, "config": {"res": 32, "min_objects": 1, "max_objects": 3,
                 "table_radius": 1.8, "texture_probability": 0.3}, "chunk_frames": 4}


def problems(values: dict) -> dict[str, str]:
    with pytest.raises(ConfigError) as error:
        validate_config(GenerateConfig, values)
    assert "\n" not in str(error.value) and "--" not in str(error.value)
    return dict(error.value.problems)


def test_settings_and_frame_count_are_resolved_from_the_family():
    orbit = validate_config(GenerateConfig, {"family": "orbit", "n": 10, "settings": {"res": "16", "radius": None}})
    assert orbit.settings == {**OrbitConfig().to_dict(), "res": 16} and orbit.seed == 0 and orbit.chunk_frames == 8
    assert GenerateConfig(family="orbit", n=3).settings == OrbitConfig().to_dict()  # defaults are resolved too
    grid = validate_config(GenerateConfig, {"family": "shapes3d", "settings": {"floor_hue_levels": 2}})
    assert grid.n == 2 * 3 * 4 * 3 * 4 * 3
    assert get_args(FamilyName) == tuple(FAMILIES)


def test_every_problem_is_named_by_its_field_path():
    assert problems({"family": "nope", "n": 2}) == {"family": "Input should be 'tabletop', 'shapes3d' or 'orbit'"}
    assert problems({"n": 0, "seed": -1, "settings": {"max_objects": 0}, "chunk_frames": 0, "workers": 2}) == {
        "settings.max_objects": "Input should be greater than or equal to 1",
        "n": "Input should be greater than or equal to 1", "seed": "Input should be greater than or equal to 0",
        "chunk_frames": "Input should be greater than or equal to 1", "workers": "unknown field"}
    assert problems({"family": "tabletop"}) == {"n": "family tabletop needs the number of frames"}
    assert problems({"family": "shapes3d", "n": 5})["n"].startswith("shapes3d is a full grid of 1296 frames")
    assert problems({"n": 2, "settings": {"colour": "red"}})["settings"].startswith(
        "unknown setting 'colour' for tabletop; known settings: res, min_objects")


def test_the_manifest_params_keep_their_layout_so_older_datasets_resume(tiny_dataset):
    assert tiny_dataset.manifest["params"] == LEGACY_PARAMS
    dataset = {"family": "tabletop", "n": 8, "seed": 5, "settings": {"res": 32, "max_objects": 3}, "chunk_frames": 4}
    assert generate(GenerateConfig(**dataset), out=tiny_dataset.path).complete  # finished: nothing to do
    with pytest.raises(StoreError, match=r"different parameters \(config\)"):
        generate("tabletop", n=8, seed=5, settings={"res": 32}, chunk_frames=4, out=tiny_dataset.path)
