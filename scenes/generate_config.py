"""`GenerateConfig`: what defines a dataset (family, its settings, n, seed, chunk_frames), validated against the
family: unset settings take the family's defaults, unknown ones are named, and `n` is checked against the family
(a full-grid family such as shapes3d fixes it)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, ValidationInfo, field_validator

from frobnoscope.engine.config import Config
from frobnoscope.scenes.families import FAMILIES, make_family

FamilyName = Literal[tuple(FAMILIES)]  # "tabletop", "shapes3d", "orbit", ...: the names in families.FAMILIES


class GenerateConfig(Config):
    """What defines a dataset. Validated, `settings` holds the family's full settings and `n` the frame count."""

    family: FamilyName = Field("tabletop", description="tabletop, shapes3d or orbit")
    settings: dict[str, Any] = Field(default_factory=dict, validate_default=True, description="the family's "
                                     "settings by name, e.g. max_objects: 3 (unset ones: the family's)")
    n: int | None = Field(None, ge=1, validate_default=True, description="number of frames (shapes3d: omit; it is "
                                                                         "the grid size)")
    seed: int = Field(0, ge=0, description="job seed: frame k's random choices are seeded by (seed, k)")
    chunk_frames: int = Field(8, ge=1, description="frames per zarr chunk (and per unit of resumable work)")

    @field_validator("settings")
    @classmethod
    def _family_settings(cls, settings: dict, info: ValidationInfo) -> dict:
        """The family's settings with its defaults filled in (a None value: the default); problems name the key."""
        if "family" not in info.data:
            return settings
        family_config = FAMILIES[info.data["family"]].Config
        given = {key: value for key, value in settings.items() if value is not None}
        unknown = [key for key in given if key not in family_config.model_fields]
        if unknown:
            raise ValueError(f"unknown setting {unknown[0]!r} for {info.data['family']}; "
                             f"known settings: {', '.join(family_config.model_fields)}")
        return family_config.model_validate(given).model_dump(mode="json")

    @field_validator("n")
    @classmethod
    def _frame_count(cls, n: int | None, info: ValidationInfo) -> int | None:
        """A full-grid family fixes n (None: take it); any other family needs one."""
        if "family" not in info.data or "settings" not in info.data:
            return n
        fixed = make_family(info.data["family"], 0, info.data["settings"]).default_n()
        if fixed is None and n is None:
            raise ValueError(f"family {info.data['family']} needs the number of frames")
        if fixed is not None and n not in (None, fixed):
            raise ValueError(f"{info.data['family']} is a full grid of {fixed} frames; leave n unset or change the "
                             "grid levels")
        return fixed if n is None else n
