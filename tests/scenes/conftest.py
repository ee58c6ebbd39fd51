"""Fixtures of the scene tests: one session-wide renderer, a showcase scene (every primitive on a checkered floor)
and each primitive shape on its own."""

import numpy as np
import pytest

from frobnoscope.scenes.render import Renderer
from frobnoscope.scenes.spec import (
    Box,
    Camera,
    Capsule,
    Cone,
    Cylinder,
    DirectionalLight,
    Material,
    ObjectSpec,
    Plane,
    SceneSpec,
    Sphere,
    SpotLight,
    Texture,
    Torus,
    Transform,
)

PRIMITIVES = {
    "sphere": Sphere(radius=0.5),
    "box": Box(extents=(0.6, 0.4, 0.8)),
    "cylinder": Cylinder(radius=0.3, height=0.8),
    "cone": Cone(radius=0.4, height=0.9),
    "torus": Torus(major_radius=0.45, minor_radius=0.15),
    "capsule": Capsule(radius=0.25, height=0.5),
}


def _showcase_spec(res: int = 96, lights=None) -> SceneSpec:
    """Every primitive on a checkered floor, some textured, metallic and rough, one key light."""
    checker = Texture(kind="checker", color_a=(0.9, 0.9, 0.85), color_b=(0.15, 0.2, 0.3), repeats=(4, 4))
    stripes = Texture(kind="stripes", color_a=(1.0, 0.8, 0.0), color_b=(0.0, 0.1, 0.9), repeats=(8, 4))
    placements = [(-1.2, 0.0, -0.6), (0.0, 0.0, -0.9), (1.2, 0.0, -0.5),
                  (-1.0, 0.0, 0.8), (0.2, 0.0, 0.6), (1.3, 0.0, 0.9)]
    objects = [ObjectSpec(name="floor", shape=Plane(size=6), material=Material(texture=checker, roughness=0.9))]
    for (name, shape), (x, _, z), hue in zip(PRIMITIVES.items(), placements, np.linspace(0, 1, 7)):
        lift = {"sphere": 0.5, "box": 0.2, "cylinder": 0.4, "cone": 0.45, "torus": 0.4, "capsule": 0.5}[name]
        material = Material(base_color=(0.3 + 0.6 * hue, 0.8 - 0.5 * hue, 0.4),
                            metallic=float(name in ("torus", "box")), roughness=0.35,
                            texture=stripes if name in ("sphere", "capsule") else None)
        rotation = (60.0, 20.0, 0.0) if name == "torus" else (0.0, 30.0, 0.0)
        objects.append(ObjectSpec(name=name, shape=shape, material=material,
                                  transform=Transform(position=(x, lift, z), rotation_deg=rotation)))
    camera = Camera.look_at((2.5, 3.0, 4.5), (0.0, 0.3, 0.0), fov_y_deg=45, width=res, height=res)
    lights = lights if lights is not None else [DirectionalLight(direction=(-0.5, -1.0, -0.3), intensity=3.0)]
    return SceneSpec(objects=objects, lights=lights, ambient=(0.2, 0.2, 0.2), camera=camera)


def _spot_spec(res: int = 64) -> SceneSpec:
    """The showcase lit by one spot light from straight above instead."""
    return _showcase_spec(res, lights=[SpotLight(position=(0.0, 4.0, 0.0), direction=(0.0, -1.0, 0.0), intensity=30.0,
                                                 inner_cone_deg=20, outer_cone_deg=40)])


@pytest.fixture(scope="session")
def showcase_spec():
    """The function `showcase_spec(res=96, lights=None) -> SceneSpec`."""
    return _showcase_spec


@pytest.fixture(scope="session")
def spot_spec():
    """The function `spot_spec(res=64) -> SceneSpec`."""
    return _spot_spec


@pytest.fixture(params=list(PRIMITIVES.values()), ids=list(PRIMITIVES))
def primitive(request):
    """Each primitive shape of the showcase in turn (test ids are the shape names)."""
    return request.param


@pytest.fixture(scope="session")
def renderer():
    with Renderer() as r:
        yield r
