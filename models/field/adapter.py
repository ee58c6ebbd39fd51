"""`FieldAdapter`: a trained field model behind the model-adapter protocol (`models.adapter`).

Its tokens are 3D points: a `PointBatch` (world frame, scene units; its directions are ignored, the field does not
depend on them), or an (N, 3) array. `forward` gives each point's `sdf` (N,) in scene units (negative inside),
`albedo` (N, 3) linear RGB and `object_logits` (N, n_objects) (id = argmax + 1); `optimal_output` the scene's own
answer there (`Scene.query`: sdf, occupancy, object_id, albedo), which is an optimum of the training loss at every
point. `n_objects`, `objects` (names, id k is objects[k - 1]) and `sdf_clamp` (the loss's clamp, scene units) say
how to read the outputs.

Hook points are the model's layer calls (`position_encoding`, `trunk.linear0`, `trunk.act0`, ..., `trunk.out`,
`trunk_activation`, `sdf_head`, `albedo_head`, `albedo_activation`, `object_head`), named by `models.hooks`; each
call of the model is one forward pass.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from frobnoscope.models.device import prepare_device, resolve_device, to_numpy
from frobnoscope.models.errors import InputError
from frobnoscope.models.field.model import FieldModel
from frobnoscope.models.field.run import load_field_run
from frobnoscope.models.field.sampling import scene_truth
from frobnoscope.models.hooks import CallSiteHooks, HookAccess
from frobnoscope.models.nerf.adapter import PointBatch
from frobnoscope.scenes.scene import Scene
from frobnoscope.scenes.spec import parse_spec

__all__ = ["FieldAdapter", "PointBatch", "load_field"]


class FieldAdapter(HookAccess):
    def __init__(self, model: FieldModel, scene: Scene | None, name: str = "field", objects: list[str] | None = None,
                 sdf_clamp: float | None = None):
        self.model = model.eval()
        self.scene = scene
        self.name = name
        self.objects = objects
        self.sdf_clamp = sdf_clamp
        self.hooks = CallSiteHooks(model, self._trace)
        model.register_forward_pre_hook(self._new_pass)

    @property
    def device(self) -> torch.device:
        return self.model.box.device

    @property
    def n_objects(self) -> int:
        return self.model.n_objects

    def preprocess(self, batch: PointBatch | np.ndarray | torch.Tensor) -> torch.Tensor:
        """(N, 3) float32 points on the model's device."""
        if not isinstance(batch, PointBatch):
            batch = PointBatch.of(batch)
        return batch.points.to(self.device)

    def postprocess(self, output: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        return output

    def forward(self, batch) -> dict[str, torch.Tensor]:
        """{"sdf": (N,), "albedo": (N, 3), "object_logits": (N, n_objects)} at each point, no gradients."""
        points = self.preprocess(batch)
        with torch.no_grad():
            return self.postprocess(self.model(points))

    def optimal_output(self, batch) -> dict[str, np.ndarray]:
        """The scene's truth at each point: `sdf` (N,) scene units, `occupancy` (N,) bool, `object_id` (N,) nearest
        object (1-based), `albedo` (N, 3) linear (`Scene.query`)."""
        if self.scene is None:
            raise InputError(f"{self.name} has no scene to take ground truth from")
        return scene_truth(self.scene, to_numpy(self.preprocess(batch).double()))

    def _new_pass(self, module, args) -> None:
        with self.hooks.forward_pass():  # each model call restarts the per-layer call counters
            pass

    def _trace(self) -> None:
        with torch.no_grad():
            self.model(self.model.box.mean(dim=0, keepdim=True))


def load_field(run_dir, *, device: str | torch.device | None = "cpu") -> FieldAdapter:
    """The adapter of a `frob train field` run on `device`, with its scene (from the run's manifest) as truth."""
    model, manifest = load_field_run(run_dir)
    model.to(prepare_device(resolve_device(device)))
    scene = Scene(parse_spec(manifest["scene"], f"{run_dir} manifest"))
    return FieldAdapter(model, scene, name=f"field:{Path(run_dir)}", objects=list(manifest["objects"]),
                        sdf_clamp=float(manifest["config"]["sdf_clamp"]))
