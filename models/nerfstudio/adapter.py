"""`NerfstudioAdapter`: a trained nerfstudio model (nerfacto-like: `model.field`, `model.proposal_sampler`) behind
the adapter protocol, speaking the scene's frame and units.

Loaded with nerfstudio's `eval_setup` from any run's `config.yml` (which nerfstudio itself reads with PyYAML's
full loader: load only runs you trust); its checkpoint goes through `torch.load(weights_only=True)`, with numpy
scalars allowed (`numpy_scalar_types`). Its frame: the run's `dataparser_transforms.json` gives [R | t] and `scale`
with p_ns = scale (R p + t) for scene points p; directions map by R, distances scale by `scale`, densities (per
unit length) by 1 / scale. Everything this adapter returns is in scene units: points and directions in, density in
1 / scene units, distances along rays in scene units. Colour: nerfstudio learns the exported PNGs' values (the
renderer's 1/2.2 gamma), so its RGB is raised to the power 2.2 (`display_to_linear`) to give linear RGB like the
ground truth and our own MLP.

Tokens are 3D points with the directions of the rays that see them (`models.nerf.adapter.PointBatch`), queried as
zero-length frustums at the point (its positions are the points themselves). Appearance: the average appearance
embedding, as nerfacto evaluates. Hook points are the calls inside `model.field` (`mlp_base.encoder`,
`mlp_base.mlp.layers.0`, ..., `mlp_head.layers.2`; `.callK` for a module called K times), one forward pass per
field evaluation; the proposal networks are not hooked. The ground truth is the scene of the dataset the export
came from.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch

from frobnoscope.engine.runs import MANIFEST
from frobnoscope.models.device import prepare_device, resolve_device, to_numpy
from frobnoscope.models.errors import ModelError
from frobnoscope.models.hooks import CallSiteHooks, HookAccess
from frobnoscope.models.nerf.adapter import DOWN, PointBatch
from frobnoscope.models.nerf.rendering import expected_depth, median_depth, peak_depth
from frobnoscope.models.nerfstudio.compat import ensure_torchvision_importable
from frobnoscope.scenes.colors import RENDER_GAMMA
from frobnoscope.scenes.scene import Scene
from frobnoscope.scenes.spec import parse_spec
from frobnoscope.scenes.store import DatasetStore

RENDER_CHUNK = 4096


class NerfstudioAdapter(HookAccess):
    def __init__(self, pipeline, transform, scale: float, scene: Scene | None, dataset: DatasetStore | None, name: str):
        self.pipeline = pipeline
        self.model = pipeline.model.eval()
        self.field = self.model.field
        self.device = next(self.model.parameters()).device
        matrix = torch.as_tensor(np.asarray(transform, dtype=np.float32), device=self.device)
        self.rotation, self.translation, self.scale = matrix[:3, :3], matrix[:3, 3], float(scale)
        self.scene, self.dataset, self.name = scene, dataset, name
        self.hooks = CallSiteHooks(self.field, self._trace)

    # --- frames --------------------------------------------------------------------------------

    def to_nerfstudio(self, points: torch.Tensor, directions: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Scene points and unit directions -> the model's frame (p_ns = scale (R p + t), d_ns = R d), on the
        model's device."""
        points, directions = points.to(self.device), directions.to(self.device)
        return self.scale * (points @ self.rotation.T + self.translation), directions @ self.rotation.T

    # --- the protocol ----------------------------------------------------------------------------

    def preprocess(self, batch) -> tuple[torch.Tensor, torch.Tensor]:
        batch = batch if isinstance(batch, PointBatch) else PointBatch.of(batch)
        return self.to_nerfstudio(batch.points, batch.directions)

    def postprocess(self, outputs: dict) -> dict[str, torch.Tensor]:
        from nerfstudio.field_components.field_heads import FieldHeadNames

        return {"density": outputs[FieldHeadNames.DENSITY][:, 0, 0] * self.scale,
                "rgb": display_to_linear(outputs[FieldHeadNames.RGB][:, 0])}

    def forward(self, batch) -> dict[str, torch.Tensor]:
        """{"density": (N,) 1 / scene units, "rgb": (N, 3) linear} at each point, no gradients."""
        points, directions = self.preprocess(batch)
        with torch.no_grad(), self.hooks.forward_pass():
            return self.postprocess(self.field.forward(_point_samples(points, directions)))

    def optimal_output(self, batch) -> dict[str, np.ndarray]:
        """The scene's answer at each point (see `models.nerf.adapter.NerfAdapter.optimal_output`)."""
        if self.scene is None:
            raise ModelError(f"{self.name} has no scene to take ground truth from (its export's dataset is gone)")
        batch = batch if isinstance(batch, PointBatch) else PointBatch.of(batch)
        points, directions = to_numpy(batch.points.double()), to_numpy(batch.directions.double())
        return {**self.scene.query(points), "radiance": self.scene.radiance(points, directions)}

    # --- rays ----------------------------------------------------------------------------------

    def render_rays(self, origins: torch.Tensor, directions: torch.Tensor,
                    keys=("rgb", "accumulation", "depth")) -> dict[str, torch.Tensor]:
        """Render scene-frame rays with the model's own samplers: `rgb` linear, `accumulation`, `depth` (expected),
        `median_depth`, `peak_depth` (scene units along the ray; NaN where nothing stops the ray)."""
        parts = []
        with torch.no_grad():
            for start in range(0, len(origins), RENDER_CHUNK):
                parts.append(self._render_chunk(origins[start:start + RENDER_CHUNK].float(),
                                                directions[start:start + RENDER_CHUNK].float(), keys))
        return {key: torch.cat([part[key] for part in parts]) for key in keys}

    def _render_chunk(self, origins: torch.Tensor, directions: torch.Tensor, keys) -> dict[str, torch.Tensor]:
        from nerfstudio.cameras.rays import RayBundle
        from nerfstudio.field_components.field_heads import FieldHeadNames

        origins_ns, directions_ns = self.to_nerfstudio(origins, directions)
        count = len(origins)
        bundle = RayBundle(origins=origins_ns, directions=directions_ns, pixel_area=origins_ns.new_ones(count, 1),
                           camera_indices=torch.zeros(count, 1, dtype=torch.long, device=self.device))
        bundle = self.model.collider(bundle)
        samples, _, _ = self.model.proposal_sampler(bundle, density_fns=self.model.density_fns)
        with self.hooks.forward_pass():
            field_outputs = self.field.forward(samples)
        weights = samples.get_weights(field_outputs[FieldHeadNames.DENSITY])
        edges = torch.cat([samples.frustums.starts[..., 0], samples.frustums.ends[:, -1:, 0]], dim=-1) / self.scale
        flat = weights[..., 0]
        derived = {"rgb": lambda: display_to_linear(self.model.renderer_rgb(rgb=field_outputs[FieldHeadNames.RGB],
                                                                            weights=weights)),
                   "accumulation": lambda: flat.sum(dim=-1), "depth": lambda: expected_depth(flat, edges),
                   "median_depth": lambda: median_depth(flat, edges), "peak_depth": lambda: peak_depth(flat, edges)}
        return {key: derived[key]() for key in keys}

    def _trace(self) -> None:
        points, directions = self.to_nerfstudio(torch.zeros(1, 3), torch.tensor([DOWN]))
        with torch.no_grad():
            self.field.forward(_point_samples(points, directions))


def display_to_linear(rgb: torch.Tensor) -> torch.Tensor:
    """The exported PNGs' encoding (the renderer's 1/2.2 gamma, what nerfstudio learns) -> linear RGB."""
    return rgb.clamp(0, 1) ** RENDER_GAMMA


def _point_samples(points: torch.Tensor, directions: torch.Tensor):
    """Zero-length frustums at the points (N, 1 sample each), camera 0 (eval mode averages the appearance)."""
    from nerfstudio.cameras.rays import Frustums, RaySamples

    count = len(points)
    zeros = points.new_zeros(count, 1, 1)
    frustums = Frustums(origins=points[:, None], directions=directions[:, None], starts=zeros, ends=zeros,
                        pixel_area=points.new_ones(count, 1, 1))
    return RaySamples(frustums=frustums, camera_indices=torch.zeros(count, 1, 1, dtype=torch.long,
                                                                    device=points.device))


def numpy_scalar_types() -> list:
    """What nerfstudio checkpoints hold besides tensors and containers: numpy scalars (a class that rebuilds a
    number from its dtype and bytes) and dtypes. Allowing these, and nothing else, lets `torch.load` keep
    `weights_only=True` (its default since torch 2.6), which nerfstudio's `eval_setup` relies on; no code runs."""
    dtypes = [getattr(np.dtypes, name) for name in dir(np.dtypes) if name.endswith("DType")]
    return [np.core.multiarray.scalar, np.dtype, *dtypes]


def find_config(run) -> Path:
    """A nerfstudio run's config.yml: the file itself, or the newest one under a directory."""
    run = Path(run)
    if run.is_file() and run.suffix in (".yml", ".yaml"):
        return run
    found = sorted(run.rglob("config.yml"), key=lambda p: p.stat().st_mtime) if run.is_dir() else []
    if not found:
        raise ModelError(f"{run} is not a nerfstudio run (no config.yml in it); train one with "
                         "`python -m frobnoscope.models.nerfstudio.train frob-nerfacto --data EXPORT`")
    return found[-1]


def load_nerfstudio(run, *, device: str | torch.device | None = "cpu") -> NerfstudioAdapter:
    """Any nerfstudio run (its config.yml or a directory holding one) through `eval_setup`, on `device`, with the
    scene of the dataset its frobnoscope export came from as ground truth."""
    device = prepare_device(resolve_device(device))
    config_path = find_config(run)
    ensure_torchvision_importable()
    try:
        from nerfstudio.utils.eval_utils import eval_setup
    except ImportError as error:
        raise ModelError(f"{run} is a nerfstudio run, and nerfstudio does not import here ({error}); use the Python of "
                         "the environment with frobnoscope[nerfstudio] (docs/guides/nerf.md)") from None

    def on_device(config):
        config.machine.device_type = device.type
        return config

    with torch.serialization.safe_globals(numpy_scalar_types()):  # torch.load stays weights_only
        config, pipeline, _, _ = eval_setup(config_path, test_mode="inference", update_config_callback=on_device)
    pipeline.to(device)  # eval_setup places it on the device type's default index
    transforms = json.loads((config_path.parent / "dataparser_transforms.json").read_text())
    dataset = _source_dataset(Path(config.pipeline.datamanager.data or config.data))
    scene = Scene(parse_spec(dataset.manifest["frames"][0]["spec"])) if dataset is not None else None
    return NerfstudioAdapter(pipeline, transforms["transform"], transforms["scale"], scene, dataset,
                             name=f"nerfstudio:{config_path}")


def source_dataset_path(export_dir: Path) -> Path | None:
    """The frobnoscope dataset a nerfstudio export was made from (its manifest's `source`), if it is still there."""
    manifest_path = export_dir / MANIFEST
    if not manifest_path.is_file():
        return None
    source = Path(json.loads(manifest_path.read_text())["source"]["path"])
    return source if (source / MANIFEST).is_file() else None


def _source_dataset(export_dir: Path) -> DatasetStore | None:
    source = source_dataset_path(export_dir)
    return DatasetStore.open(source) if source is not None else None
