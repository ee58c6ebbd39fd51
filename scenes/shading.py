"""pyrender's material model (its `mesh.frag`), in numpy, so ground truth uses the renderer's own terms.

Per light: `nl * radiance * ((1 - F) c_diff / pi + F G D / (4 nl nv + 0.001))` with Schlick Fresnel F,
Smith-Schlick G (k = (roughness + 1)^2 / 8) and GGX D (alpha = roughness^2); roughness is clamped
to [0.04, 1], c_diff = base (1 - 0.04)(1 - metallic), f0 = mix(0.04, base, metallic). Plus
`ambient * base`. The render is `clamp(pow(colour, 1/2.2))`; pyrender shadows directional and spot
lights with shadow maps and never shadows point lights, where ground truth uses exact visibility.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from frobnoscope.scenes.spec import DirectionalLight, PointLight, SpotLight

MIN_ROUGHNESS = 0.04


def _dot(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.einsum("ij,ij->i", a, b)


def _unit(v: np.ndarray) -> np.ndarray:
    return v / np.maximum(np.sqrt(np.einsum("...i,...i->...", v, v)), 1e-30)[..., None]


@dataclass
class LightSample:
    """For each point: unit direction towards the light, incoming radiance (3), distance to the light."""

    to_light: np.ndarray
    radiance: np.ndarray
    distance: np.ndarray  # inf for directional lights


def sample_light(light, points: np.ndarray) -> LightSample:
    color = np.asarray(light.color) * light.intensity
    n = len(points)
    if isinstance(light, DirectionalLight):
        to_light = np.broadcast_to(-_unit(np.asarray(light.direction, dtype=float)[None]), (n, 3))
        return LightSample(to_light, np.broadcast_to(color, (n, 3)), np.full(n, np.inf))
    offset = np.asarray(light.position) - points
    distance = np.linalg.norm(offset, axis=1)
    to_light = offset / np.maximum(distance, 1e-30)[:, None]
    attenuation = light.intensity / np.maximum(distance, 1e-30) ** 2
    if isinstance(light, SpotLight):
        cos_inner, cos_outer = np.cos(np.radians([light.inner_cone_deg, light.outer_cone_deg]))
        scale = 1.0 / max(0.001, cos_inner - cos_outer)
        spot_dir = _unit(np.asarray(light.direction, dtype=float)[None])
        cone = np.clip(np.clip(-_dot(np.broadcast_to(spot_dir, (n, 3)), to_light), 0, 1) * scale - cos_outer * scale, 0, 1)
        attenuation = attenuation * cone**2
    elif not isinstance(light, PointLight):
        raise TypeError(f"unknown light {light!r}")
    return LightSample(to_light, attenuation[:, None] * np.asarray(light.color), distance)


def brdf_terms(normals, to_camera, to_light, radiance, base_color, metallic, roughness):
    """Diffuse and specular outgoing radiance (each (n, 3)) for one light, exactly as pyrender computes them.

    `metallic` and `roughness` are per point (n,); `base_color` is (n, 3) linear. Scalar factors stay
    (n,) until the last multiplication (this runs on every hit pixel of every frame).
    """
    roughness = np.clip(roughness, MIN_ROUGHNESS, 1.0)
    metallic = np.clip(metallic, 0.0, 1.0)[:, None]
    half = _unit(to_light + to_camera)
    nl = np.clip(_dot(normals, to_light), 0.001, 1.0)
    nv = np.clip(np.abs(_dot(normals, to_camera)), 0.001, 1.0)
    nh = np.clip(_dot(normals, half), 0.0, 1.0)
    vh = np.clip(_dot(to_camera, half), 0.0, 1.0)
    f0 = MIN_ROUGHNESS * (1 - metallic) + base_color * metallic
    fresnel = f0 + (1 - f0) * ((1 - vh) ** 5)[:, None]
    k = (roughness + 1) ** 2 / 8
    geometric = nv / (nv * (1 - k) + k) * nl / (nl * (1 - k) + k)
    alpha2 = roughness**4
    distribution = alpha2 / (np.pi * (nh * nh * (alpha2 - 1) + 1) ** 2)
    c_diff = base_color * ((1 - MIN_ROUGHNESS) / np.pi) * (1 - metallic)
    diffuse = (radiance * nl[:, None]) * (1 - fresnel) * c_diff
    specular = (radiance * (nl * geometric * distribution / (4 * nl * nv + 0.001))[:, None]) * fresnel
    return diffuse, specular
