"""The dataset's channels: dtype, per-pixel shape, and what each value means (tests/app/test_docs.py checks the
table in docs/concepts/channels.md against this, so the two cannot drift apart). Float channels are `inf` on
background pixels, integer channels 0. Per-light channels have one entry per light, in `spec.lights` order."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Channel:
    name: str
    dtype: str
    components: int | str  # per pixel: a count, or "lights"
    meaning: str


CHANNELS = (
    Channel("rgb", "float32", 3, "rendered image (pyrender), linear RGB in [0, 1], decoded from its 8-bit 1/2.2-gamma output; background colour where no object"),
    Channel("depth_z", "float32", 1, "distance along the camera's -Z axis to the surface, scene units"),
    Channel("depth_ray", "float32", 1, "distance along the pixel's ray from the camera centre, scene units"),
    Channel("position_world", "float32", 3, "surface point in the world frame (+Y up), scene units"),
    Channel("normal_world", "float32", 3, "unit shading normal (as the renderer interpolates it), world frame"),
    Channel("normal_cam", "float32", 3, "the same normal in the camera frame (+X right, +Y up, +Z towards the viewer)"),
    Channel("object_id", "uint16", 1, "1 + index in the frame's spec.objects; 0 = background"),
    Channel("shape_id", "uint8", 1, "1 + index in SHAPE_KINDS (sphere, box, cylinder, cone, torus, capsule, plane, mesh); 0 = background"),
    Channel("material_id", "uint16", 1, "1 + index among the frame's distinct materials, in order of first use; 0 = background"),
    Channel("albedo", "float32", 3, "linear base colour including texture, as the renderer samples it"),
    Channel("uv", "float32", 2, "texture coordinates (texture periods; textures repeat with period 1)"),
    Channel("shading", "float32", "lights", "max(N.L, 0) x visibility, per light (N: shading normal, L: towards the light)"),
    Channel("shadow", "float32", "lights", "1 where the segment to the light is blocked (secondary ray), else 0, per light"),
    Channel("specular", "float32", 3, "linear RGB specular term of the renderer's BRDF, summed over unshadowed lights"),
    Channel("edges", "uint8", 1, "bitmask: 1 silhouette (next to background), 2 occlusion boundary (next to another object), 4 self-occlusion; 0 elsewhere"),
)
CHANNELS_BY_NAME = {channel.name: channel for channel in CHANNELS}


def pixel_shape(channel: Channel, n_lights: int) -> tuple[int, ...]:
    count = n_lights if channel.components == "lights" else channel.components
    return () if count == 1 and channel.components != "lights" else (count,)
