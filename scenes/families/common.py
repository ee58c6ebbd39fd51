"""Pieces the families share: colours from hue, cameras on spheres, resting primitives on a floor."""

from __future__ import annotations

import colorsys

import numpy as np

from frobnoscope.scenes.colors import srgb_to_linear
from frobnoscope.scenes.spec import Box, Camera, Capsule, Cone, Cylinder, Sphere, Torus

FOV_Y_DEG = 45.0


def hue_color(hue: float, saturation: float = 0.8, value: float = 0.9) -> tuple[float, float, float]:
    """Linear RGB of an HSV colour (HSV taken in sRGB space, as a colour picker shows it)."""
    return tuple(float(c) for c in srgb_to_linear(colorsys.hsv_to_rgb(hue % 1.0, saturation, value)))


def spherical_eye(azimuth_deg: float, elevation_deg: float, distance: float, target=(0.0, 0.0, 0.0)) -> np.ndarray:
    """Point at `distance` from `target`; azimuth 0 is +Z, 90 is +X; elevation up from the XZ plane."""
    az, el = np.radians(azimuth_deg), np.radians(elevation_deg)
    offset = distance * np.array([np.cos(el) * np.sin(az), np.sin(el), np.cos(el) * np.cos(az)])
    return np.asarray(target, dtype=float) + offset


def orbit_camera(azimuth_deg, elevation_deg, distance, res: int, target=(0.0, 0.0, 0.0)) -> Camera:
    eye = spherical_eye(azimuth_deg, elevation_deg, distance, target)
    return Camera.look_at(eye, target, fov_y_deg=FOV_Y_DEG, width=res, height=res)


def light_direction(azimuth_deg: float, elevation_deg: float) -> tuple[float, float, float]:
    """Direction a light travels when it comes from the given azimuth and elevation."""
    return tuple(float(c) for c in -spherical_eye(azimuth_deg, elevation_deg, 1.0))


def resting_primitive(kind: str, size: float, rng: np.random.Generator):
    """A primitive of characteristic radius `size` standing on y = 0: (shape, centre height, footprint radius)."""
    if kind == "sphere":
        return Sphere(radius=size), size, size
    if kind == "box":
        extents = tuple(float(e) for e in 2 * size * rng.uniform(0.6, 1.1, 3))
        return Box(extents=extents), extents[1] / 2, float(np.hypot(extents[0], extents[2]) / 2)
    if kind == "cylinder":
        radius, height = size * rng.uniform(0.6, 1.0), 2 * size * rng.uniform(0.6, 1.4)
        return Cylinder(radius=float(radius), height=float(height)), height / 2, radius
    if kind == "cone":
        height = 2 * size * rng.uniform(0.8, 1.5)
        return Cone(radius=size, height=float(height)), height / 2, size
    if kind == "torus":
        minor = size * rng.uniform(0.2, 0.4)
        return Torus(major_radius=size, minor_radius=float(minor)), minor, size + minor
    if kind == "capsule":
        radius, height = size * 0.5, size * rng.uniform(0.6, 1.4)
        return Capsule(radius=radius, height=float(height)), height / 2 + radius, radius
    raise ValueError(f"no resting primitive for {kind!r}")
