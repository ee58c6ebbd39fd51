"""`FieldModel`: a coordinate MLP fitted directly to a scene's 3D ground truth, and its loss.

    p (world, scene units) -> unit box u = (p - box_min) / (box_max - box_min), per axis
      -> position_encoding (hash grid on u, clamped to [0, 1]; or sinusoidal on 2u - 1)
      -> trunk (MLP: linear0, act0, ..., out) -> trunk_activation (ReLU): shared features
      -> sdf_head (linear): signed distance, scene units, negative inside (unbounded; the loss clamps it)
      -> albedo_head (linear) -> albedo_activation (sigmoid): linear RGB in [0, 1]
      -> object_head (linear): logits over the scene's objects; object id = argmax + 1 (ids are 1-based)

Every layer is its own module, so each call is a hook point with a stable dotted name. `field_loss` is the training
loss (formula in `config`); the exact truth (`sampling.scene_truth`) is an optimum at every point.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from frobnoscope.models.field.config import FieldModelConfig, FieldTrainConfig
from frobnoscope.models.nerf.encoding import HashGridEncoding, PositionalEncoding
from frobnoscope.models.nerf.field import MLP


class FieldModel(nn.Module):
    def __init__(self, config: FieldModelConfig, box, n_objects: int, generator: torch.Generator | None = None):
        """`box`: (2, 3) world-frame min and max corners the encoding spans; `n_objects`: classes of the id head."""
        super().__init__()
        self.config = config
        self.n_objects = n_objects
        self.register_buffer("box", torch.as_tensor(box, dtype=torch.float32).reshape(2, 3).clone())
        if config.encoding == "hash":
            self.position_encoding = HashGridEncoding(config.hash_grid(), self.box[1] - self.box[0], generator)
        else:
            self.position_encoding = PositionalEncoding(3, config.position_frequencies)
        self.trunk = MLP(self.position_encoding.out_dim, config.hidden_width, config.hidden_layers - 1,
                         config.hidden_width)
        self.trunk_activation = nn.ReLU()
        self.sdf_head = nn.Linear(config.hidden_width, 1)
        self.albedo_head = nn.Linear(config.hidden_width, 3)
        self.albedo_activation = nn.Sigmoid()
        self.object_head = nn.Linear(config.hidden_width, n_objects)

    def forward(self, points: torch.Tensor) -> dict[str, torch.Tensor]:
        """(N, 3) world points -> {"sdf": (N,), "albedo": (N, 3), "object_logits": (N, n_objects)}."""
        unit = (points - self.box[0]) / (self.box[1] - self.box[0])
        encoded = self.position_encoding(unit if self.config.encoding == "hash" else 2 * unit - 1)
        features = self.trunk_activation(self.trunk(encoded))
        return {"sdf": self.sdf_head(features)[..., 0], "albedo": self.albedo_activation(self.albedo_head(features)),
                "object_logits": self.object_head(features)}


def build_model(config: FieldTrainConfig, box, n_objects: int) -> FieldModel:
    """The model a run trains, initialised from `config.seed` alone (torch's global generator is left as it was)."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(config.seed)  # nn.Linear initialises from the global generator
        return FieldModel(config.model, box, n_objects, torch.Generator().manual_seed(config.seed))


def field_loss(output: dict[str, torch.Tensor], truth: dict[str, torch.Tensor], config: FieldTrainConfig
               ) -> torch.Tensor:
    """The weighted sum of the clamped SDF's L1, the albedo's squared error and the object id's cross-entropy.
    `truth`: "sdf" (N,), "albedo" (N, 3), "object_id" (N,) int64, 1-based."""
    clamp = config.sdf_clamp
    sdf = (output["sdf"].clamp(-clamp, clamp) - truth["sdf"].clamp(-clamp, clamp)).abs().mean()
    albedo = (output["albedo"] - truth["albedo"]).pow(2).mean()
    object_id = F.cross_entropy(output["object_logits"], truth["object_id"] - 1)
    return config.sdf_weight * sdf + config.albedo_weight * albedo + config.id_weight * object_id
