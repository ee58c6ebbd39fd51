"""The settings of a field model and of `frob train field`: frozen `Config`s, stored in the run's manifest.

Units: lengths (sdf_clamp, near_sigma) in scene units; `box_padding` a fraction of the scene's bounding-box
diagonal. The loss of one batch of points (`model.field_loss`) is

    sdf_weight * mean |clamp(f, -C, C) - clamp(s, -C, C)|        f: predicted, s: true SDF, C = sdf_clamp
  + albedo_weight * mean over points and channels (a_pred - a)^2  linear RGB
  + id_weight * cross-entropy(object logits, true object id - 1)

so the exact SDF, albedo and nearest-object id are an optimum at every point (loss 0 for the first two terms).
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from frobnoscope.engine.config import Config
from frobnoscope.models.nerf.encoding import HashGridConfig


class FieldModelConfig(Config):
    """The coordinate MLP: position encoding, trunk sizes. Its heads (sdf, albedo, object id) are fixed."""

    encoding: Literal["hash", "frequency"] = Field("hash", description="position encoding: hash (multiresolution "
                                                                       "grid) or frequency (NeRF's sinusoids)")
    position_frequencies: int = Field(6, ge=0, description="frequencies of the frequency position encoding")
    hidden_width: int = Field(64, ge=1, description="width of the trunk's hidden layers")
    hidden_layers: int = Field(2, ge=1, description="hidden layers of the trunk shared by the three heads")
    hash_levels: int = Field(8, ge=1, description="hash grid: resolution levels")
    hash_features_per_level: int = Field(2, ge=1, description="hash grid: features per vertex and level")
    hash_log2_table_size: int = Field(19, ge=1, description="hash grid: log2 of the most entries a level stores")
    hash_base_resolution: int = Field(16, ge=1, description="hash grid: cells along the longest side, coarsest level")
    hash_max_resolution: int = Field(256, ge=1, description="hash grid: cells along the longest side, finest level")

    def hash_grid(self) -> HashGridConfig:
        return HashGridConfig(n_levels=self.hash_levels, features_per_level=self.hash_features_per_level,
                              log2_table_size=self.hash_log2_table_size, base_resolution=self.hash_base_resolution,
                              max_resolution=self.hash_max_resolution)


class PointSamplingConfig(Config):
    """Where training points lie: a share near the surfaces, the rest uniform in the field's box."""

    points_per_step: int = Field(1024, ge=1, description="points per optimizer step")
    near_fraction: float = Field(0.75, ge=0, le=1, description="share of the points near the surfaces (the rest are "
                                                              "uniform in the box)")
    near_sigma: float = Field(0.05, gt=0, description="near-surface points are offset along the surface normal by "
                                                      "N(0, sigma) truncated to 3 sigma (scene units)")
    box_padding: float = Field(0.05, ge=0, description="the field's box: the scene's bounds grown by this fraction of "
                                                       "their diagonal on every side")


class FieldTrainConfig(Config):
    """The settings of `frob train field`: a rerun must give the same ones."""

    model: FieldModelConfig = Field(default_factory=FieldModelConfig, description="the field's architecture")
    sampling: PointSamplingConfig = Field(default_factory=PointSamplingConfig, description="training points")
    steps: int = Field(2000, ge=1, description="optimizer steps")
    learning_rate: float = Field(1e-2, gt=0, description="peak Adam learning rate (linear warmup, cosine decay to 10%)")
    warmup_steps: int = Field(20, ge=0, description="steps of linear learning-rate warmup")
    sdf_clamp: float = Field(0.3, gt=0, description="the SDF loss compares both SDFs clamped to +-this (scene units)")
    sdf_weight: float = Field(1.0, ge=0, description="weight of the clamped SDF's L1 loss (per scene unit); much "
                                                     "larger (10) starves the id and albedo heads of a hash grid")
    albedo_weight: float = Field(1.0, ge=0, description="weight of the albedo's squared error")
    id_weight: float = Field(0.1, ge=0, description="weight of the object id's cross-entropy")
    heldout_points: int = Field(4096, ge=1, description="held-out points (a fixed seeded set) measured every "
                                                        "eval_every steps")
    seed: int = Field(0, ge=0, description="initialisation, training points and held-out points")
    eval_every: int = Field(100, ge=1, description="steps between held-out measurements")
    checkpoint_every: int = Field(250, ge=1, description="steps between checkpoints")
    threads: int = Field(2, ge=1, description="torch threads (results are reproducible for a fixed count)")
