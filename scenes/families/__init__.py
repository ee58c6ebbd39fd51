"""Procedural scene families: seeded samplers of `SceneSpec`s with their factors of variation."""

from __future__ import annotations

from pydantic import ValidationError

from frobnoscope.scenes.errors import SpecError
from frobnoscope.scenes.families.base import Family, FamilyConfig, Frame
from frobnoscope.scenes.families.orbit import Orbit
from frobnoscope.scenes.families.shapes3d import Shapes3D
from frobnoscope.scenes.families.tabletop import Tabletop

FAMILIES: dict[str, type[Family]] = {f.name: f for f in (Tabletop, Shapes3D, Orbit)}


def make_family(name: str, seed: int = 0, settings: dict | None = None) -> Family:
    """Build a family from its name, the job seed and `key=value` settings (strings are parsed)."""
    if name not in FAMILIES:
        raise SpecError(f"unknown family {name!r}; choose one of {', '.join(FAMILIES)}")
    family = FAMILIES[name]
    settings = {k: v for k, v in (settings or {}).items() if v is not None}
    known = family.Config.model_fields
    for key in settings:
        if key not in known:
            raise SpecError(f"unknown setting {key!r} for family {name}; known settings: {', '.join(known)}")
    try:
        config = family.Config.model_validate(settings)
    except ValidationError as error:
        first = error.errors()[0]
        where = ".".join(map(str, first["loc"])) or name
        raise SpecError(f"invalid setting for family {name}: {where}: {first['msg']}") from None
    return family(config, seed)


__all__ = ["FAMILIES", "Family", "FamilyConfig", "Frame", "make_family"]
