"""Rays in the scene's world frame, exactly as the ground truth casts them, and where they cross the field's box.

A ray is (origin, unit direction): the camera centre and the direction through a pixel centre, row-major, from
`scenes.ground_truth.camera_rays` (OpenGL camera-to-world, pixel (i, j) sampled at image point (j + 0.5, i + 0.5)).
Distances t along a ray are in scene units, so t at a surface is that pixel's `depth_ray`.
"""

from __future__ import annotations

import numpy as np
import torch

from frobnoscope.scenes.ground_truth import camera_rays
from frobnoscope.scenes.spec import Camera

BOX_PADDING = 0.02  # of the scene's diagonal, on every side of its bounds


def scene_box(bounds: np.ndarray, extent: float, padding: float = BOX_PADDING) -> np.ndarray:
    """(2, 3) box around a scene's (2, 3) bounds, grown by `padding` x its diagonal `extent` on every side
    (a ground plane has zero thickness; the margin gives the field room below and above every surface)."""
    margin = padding * extent
    return np.stack([np.asarray(bounds[0]) - margin, np.asarray(bounds[1]) + margin])


def rays_of_camera(camera: Camera) -> tuple[torch.Tensor, torch.Tensor]:
    """(H*W, 3) float32 origins and unit directions, world frame, row-major over the pixels."""
    origins, directions = camera_rays(camera)
    return torch.from_numpy(np.array(origins, dtype=np.float32)), torch.from_numpy(directions.astype(np.float32))


def near_far(origins: torch.Tensor, directions: torch.Tensor, box: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Slab test: where each ray enters (near) and leaves (far) the axis-aligned `box` (2, 3), t >= 0.
    A ray that misses the box gets near = far (an empty segment, rendered as background)."""
    safe = torch.where(directions.abs() < 1e-12, torch.full_like(directions, 1e-12), directions)
    t0, t1 = (box[0] - origins) / safe, (box[1] - origins) / safe
    near = torch.minimum(t0, t1).amax(dim=-1).clamp_min(0.0)
    far = torch.maximum(t0, t1).amin(dim=-1)
    far = torch.maximum(far, near)
    return near, far
