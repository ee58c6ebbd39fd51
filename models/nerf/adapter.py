"""`NerfAdapter`: a trained coordinate MLP behind the model-adapter protocol (`models.adapter`, docs/concepts/adapters.md).

Its tokens are 3D sample points, each with the direction of the ray that looks at it: a `PointBatch` of world-frame
points (N, 3), scene units, and unit directions (N, 3) that the ray travels (the colour is the radiance leaving the
point along -direction). `forward` gives each point's density (1 / scene units) and linear RGB; `optimal_output` the
scene's own answer there (`Scene.query`: occupancy, sdf, object_id, albedo; `Scene.radiance`: the true colour seen
along the direction, NaN off the surface). Per ray, `render_rays` composites the samples into a pixel, comparable
with the dataset's `rgb` and `depth_ray`.

Hook points are the field's layer calls (`position_encoding`, `density_mlp.linear0`, `density_mlp.act0`, ...,
`density_activation`, `direction_encoding`, `color_mlp.*`, `color_activation`), named by `models.hooks`. Every call
of the field is one forward pass (the sampler's density-only call and the shading call of a render each run the
layers once), so an intervention applies to both, and a capture during a render holds the shading pass's values,
shaped (rays, samples, features).

What attribution and NeRF judging need, so that `interp` reads no `models.nerf` module but this one (R rays, K
samples per ray; world frame, scene units, linear RGB; tensors float32):
  rays_of_camera(camera)          (H*W, 3) origins and (H*W, 3) unit directions, row-major over the pixels, exactly
                                  as the ground truth casts them (a ray's t at a surface is that pixel's `depth_ray`)
  scene_box(bounds, extent)       (2, 3) box around a scene's bounds with the training margin
  read_nerf_manifest(run_dir)     a `frob train nerf` run's manifest (dict; one-line error if it is not one)
  midpoints(edges)                (R, K) sample distances t_k: the midpoints of the (R, K + 1) interval edges
  NerfAdapter.box                 (2, 3) the field's box (min, max corners); the field is empty outside it
  NerfAdapter.samples_per_ray     K, coarse + fine
  NerfAdapter.sample_intervals(origins, directions)  (R, K + 1) interval edges t (no gradient), as a render
                                  samples them: deterministic, in chunks of `RENDER_CHUNK` rays
  NerfAdapter.evaluate_field(points, directions)  density (...) in 1 / scene units and rgb (..., 3) at points
                                  (..., 3) seen along unit directions (..., 3); differentiable, interventions apply
  NerfAdapter.sample_weights(density, edges)  (R, K) compositing weights w_k = T_k alpha_k (`rendering`)
  NerfAdapter.composite_colour(weights, rgb)  (R, 3) pixel colour: sum_k w_k c_k + (1 - sum_k w_k) background
  NerfAdapter.freeze()            stops gradients to the weights (attribution differentiates inputs only)
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from frobnoscope.models.device import prepare_device, resolve_device, to_numpy
from frobnoscope.models.errors import InputError
from frobnoscope.models.hooks import CallSiteHooks, HookAccess
from frobnoscope.models.nerf.model import RENDER_CHUNK, NerfModel
from frobnoscope.models.nerf.rays import rays_of_camera, scene_box
from frobnoscope.models.nerf.rendering import composite, midpoints, render_weights
from frobnoscope.models.nerf.train import load_nerf_run, read_nerf_manifest
from frobnoscope.scenes.scene import Scene
from frobnoscope.scenes.spec import Camera, parse_spec

__all__ = ["NerfAdapter", "PointBatch", "load_nerf", "midpoints", "rays_of_camera", "read_nerf_manifest", "scene_box"]

DOWN = (0.0, -1.0, 0.0)


@dataclass
class PointBatch:
    """World-frame points (N, 3) and the unit directions (N, 3) of the rays that see them (float32 tensors)."""

    points: torch.Tensor
    directions: torch.Tensor

    @classmethod
    def of(cls, points, directions=None) -> PointBatch:
        """From arrays or tensors; directions default to straight down (-Y), a camera looking at the floor."""
        points = _float_tensor(points)
        if points.ndim != 2 or points.shape[-1] != 3:
            raise InputError(f"expected points of shape (N, 3), got {tuple(points.shape)}")
        if directions is None:
            directions = torch.tensor(DOWN).expand_as(points)
        directions = _float_tensor(directions)
        if directions.shape != points.shape:
            raise InputError(f"directions {tuple(directions.shape)} must match points {tuple(points.shape)}")
        if not bool(torch.isfinite(points).all() and torch.isfinite(directions).all()):
            raise InputError("points or directions hold NaN or infinite values")
        return cls(points, torch.nn.functional.normalize(directions, dim=-1))

    def __len__(self) -> int:
        return len(self.points)


def _float_tensor(values) -> torch.Tensor:
    tensor = values if isinstance(values, torch.Tensor) else torch.as_tensor(np.asarray(values, dtype=np.float32))
    return tensor.float()


class NerfAdapter(HookAccess):
    def __init__(self, model: NerfModel, scene: Scene | None, name: str = "nerf"):
        self.model = model.eval()
        self.scene = scene
        self.name = name
        self.hooks = CallSiteHooks(model.field, self._trace)
        model.field.register_forward_pre_hook(self._new_pass)

    # --- the protocol ---------------------------------------------------------------------------

    @property
    def device(self) -> torch.device:
        return self.model.box.device

    def preprocess(self, batch: PointBatch) -> tuple[torch.Tensor, torch.Tensor]:
        """Points and directions on the model's device."""
        if not isinstance(batch, PointBatch):
            batch = PointBatch.of(batch)
        return batch.points.to(self.device), batch.directions.to(self.device)

    def postprocess(self, output: tuple[torch.Tensor, torch.Tensor]) -> dict[str, torch.Tensor]:
        density, rgb = output
        return {"density": density, "rgb": rgb}

    def forward(self, batch: PointBatch) -> dict[str, torch.Tensor]:
        """{"density": (N,) 1 / scene units, "rgb": (N, 3) linear} at each point, no gradients."""
        points, directions = self.preprocess(batch)
        with torch.no_grad():
            return self.postprocess(self.model.field(points, directions))

    def optimal_output(self, batch: PointBatch) -> dict[str, np.ndarray]:
        """The scene's ground truth at each point: `occupancy` (N,) bool, `sdf` (N,) scene units (negative inside),
        `object_id` (N,) nearest object, `albedo` (N, 3) linear, `radiance` (N, 3) linear seen along the direction
        (NaN where the point is more than 1e-3 off the surface)."""
        if self.scene is None:
            raise InputError(f"{self.name} has no scene to take ground truth from")
        points, directions = self.preprocess(batch)
        points, directions = to_numpy(points.double()), to_numpy(directions.double())
        return {**self.scene.query(points), "radiance": self.scene.radiance(points, directions)}

    # --- rays ----------------------------------------------------------------------------------

    def render_rays(self, origins: torch.Tensor, directions: torch.Tensor,
                    keys=("rgb", "accumulation", "depth")) -> dict[str, torch.Tensor]:
        """Deterministic render of (R, 3) rays (interventions in force apply)."""
        return self.model.render(origins.float().to(self.device), directions.float().to(self.device), keys=keys)

    def render_camera(self, camera: Camera) -> dict[str, np.ndarray]:
        """`rgb` (H, W, 3) linear, `accumulation` (H, W), `depth` (H, W) expected distance along the ray (NaN where
        the ray does not stop): comparable with a frame's `rgb` and `depth_ray`."""
        origins, directions = rays_of_camera(camera)
        out = self.render_rays(origins, directions)
        shape = (camera.height, camera.width)
        return {key: to_numpy(value.reshape(*shape, *value.shape[1:])) for key, value in out.items()}

    def ray_samples(self, origins: torch.Tensor, directions: torch.Tensor) -> tuple[PointBatch, torch.Tensor]:
        """The points a render evaluates the field at, as a `PointBatch` (R * K points, ray-major) and the
        (R, K + 1) interval edges (t, scene units) they are the midpoints of."""
        edges = self.sample_intervals(origins, directions)
        t = midpoints(edges)
        points = origins[:, None].float() + directions[:, None].float() * t[..., None]
        return PointBatch(points.reshape(-1, 3), directions[:, None].float().expand_as(points).reshape(-1, 3)), edges

    # --- samples along rays (attribution differentiates through these) ---------------------------

    @property
    def box(self) -> torch.Tensor:
        """(2, 3) min and max corners of the field's box, world frame, scene units."""
        return self.model.box

    @property
    def samples_per_ray(self) -> int:
        return self.model.sampling.coarse_samples + self.model.sampling.fine_samples

    def sample_intervals(self, origins: torch.Tensor, directions: torch.Tensor) -> torch.Tensor:
        """(R, K + 1) interval edges t along (R, 3) rays, scene units, exactly as `render_rays` samples them
        (deterministic, `RENDER_CHUNK` rays at a time); no gradient."""
        origins, directions = origins.float().to(self.device), directions.float().to(self.device)
        with torch.no_grad():
            return torch.cat([self.model.sample_edges(origins[i:i + RENDER_CHUNK], directions[i:i + RENDER_CHUNK])
                              for i in range(0, len(origins), RENDER_CHUNK)])

    def evaluate_field(self, points: torch.Tensor, directions: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """density (...) in 1 / scene units and linear rgb (..., 3) at world points (..., 3) seen along unit
        directions (..., 3), with gradients (interventions in force apply)."""
        return self.model.field(points, directions)

    def sample_weights(self, density: torch.Tensor, edges: torch.Tensor) -> torch.Tensor:
        """(R, K) compositing weights w_k = T_k alpha_k of the densities (R, K) on the intervals (R, K + 1)."""
        return render_weights(density, edges)

    def composite_colour(self, weights: torch.Tensor, rgb: torch.Tensor) -> torch.Tensor:
        """(R, 3) linear pixel colour: sum_k w_k c_k over (R, K, 3) sample colours, plus the rest of the ray's
        weight, 1 - sum_k w_k, on the background."""
        return composite(weights, rgb, self.model.background)

    def freeze(self) -> NerfAdapter:
        """Stop gradients to the weights (attribution needs gradients for inputs only); returns the adapter."""
        for parameter in self.model.parameters():
            parameter.requires_grad_(False)
        return self

    # --- internals -------------------------------------------------------------------------------

    def _new_pass(self, module, args) -> None:
        with self.hooks.forward_pass():  # each field call restarts the per-layer call counters
            pass

    def _trace(self) -> None:
        centre = self.model.box.mean(dim=0, keepdim=True)
        with torch.no_grad():
            self.model.field(centre, torch.tensor([DOWN], device=centre.device))


def load_nerf(run_dir, *, device: str | torch.device | None = "cpu") -> NerfAdapter:
    """The adapter of a `frob train nerf` run on `device`, with its scene (from the run's manifest) as ground
    truth."""
    model, manifest = load_nerf_run(run_dir)
    model.to(prepare_device(resolve_device(device)))
    scene = Scene(parse_spec(manifest["scene"], f"{run_dir} manifest")) if "scene" in manifest else None
    return NerfAdapter(model, scene, name=f"nerf:{Path(run_dir)}")
