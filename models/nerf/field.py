"""`NerfField`: the coordinate MLP. World point -> volume density; (world point, view direction) -> colour.

    p (world, scene units) -> unit box u = (p - box_min) / (box_max - box_min), per axis, in [0, 1]
      -> position_encoding (hash grid on u, or sinusoidal on 2u - 1)
      -> density_mlp -> [raw density | geometry features]
           raw density -> density_activation (softplus, density >= 0, in 1 / scene units)
      -> color_mlp([geometry features | direction_encoding(d)]) -> color_activation (sigmoid): linear RGB in [0, 1]

`d` is the unit direction the camera ray travels (world frame), as in NeRF: the colour seen along d is the radiance
leaving the point along -d. Every layer is its own module, so each call is a hook point with a stable dotted name
(`density_mlp.linear0`, `density_mlp.act0`, ..., `color_mlp.out`, `color_activation`).
"""

from __future__ import annotations

from typing import Literal

import torch
from pydantic import Field
from torch import nn

from frobnoscope.engine.config import Config
from frobnoscope.models.nerf.encoding import HashGridConfig, HashGridEncoding, PositionalEncoding


class FieldConfig(Config):
    """The field's architecture: its position encoding, MLP sizes and initial density."""

    encoding: Literal["hash", "frequency"] = Field("hash", description="position encoding: hash (multiresolution "
                                                                       "grid) or frequency (NeRF's sinusoids)")
    position_frequencies: int = Field(10, ge=0, description="frequencies of the frequency position encoding")
    direction_frequencies: int = Field(4, ge=0, description="frequencies of the view-direction encoding")
    hidden_width: int = Field(64, ge=1, description="width of the MLP's hidden layers")
    density_layers: int = Field(1, ge=0, description="hidden layers before the density / geometry-feature output")
    color_layers: int = Field(2, ge=0, description="hidden layers of the colour head")
    geometry_features: int = Field(15, ge=0, description="features passed from the density MLP to the colour head")
    hash_levels: int = Field(8, ge=1, description="hash grid: resolution levels")
    hash_features_per_level: int = Field(2, ge=1, description="hash grid: features per vertex and level")
    hash_log2_table_size: int = Field(22, ge=1, description="hash grid: log2 of the most entries a level stores")
    hash_base_resolution: int = Field(16, ge=1, description="hash grid: cells along the longest side, coarsest level")
    hash_max_resolution: int = Field(128, ge=1, description="hash grid: cells along the longest side, finest level")
    density_bias: float = Field(-1.0, description="added to the raw density before softplus: the field starts "
                                                  "nearly empty")

    def hash_grid(self) -> HashGridConfig:
        return HashGridConfig(n_levels=self.hash_levels, features_per_level=self.hash_features_per_level,
                              log2_table_size=self.hash_log2_table_size, base_resolution=self.hash_base_resolution,
                              max_resolution=self.hash_max_resolution)


class MLP(nn.Module):
    """linear0 -> act0 -> ... -> linear{n-1} -> act{n-1} -> out (no activation after `out`)."""

    def __init__(self, in_dim: int, hidden_width: int, hidden_layers: int, out_dim: int):
        super().__init__()
        self.hidden_layers = hidden_layers
        width = in_dim
        for index in range(hidden_layers):
            self.add_module(f"linear{index}", nn.Linear(width, hidden_width))
            self.add_module(f"act{index}", nn.ReLU())
            width = hidden_width
        self.out = nn.Linear(width, out_dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for index in range(self.hidden_layers):
            x = getattr(self, f"act{index}")(getattr(self, f"linear{index}")(x))
        return self.out(x)


class DensityActivation(nn.Module):
    """softplus(raw + bias): a non-negative density in 1 / scene units."""

    def __init__(self, bias: float):
        super().__init__()
        self.bias = bias

    def forward(self, raw: torch.Tensor) -> torch.Tensor:
        return nn.functional.softplus(raw + self.bias)


class NerfField(nn.Module):
    def __init__(self, config: FieldConfig, box: torch.Tensor | list, generator: torch.Generator | None = None):
        """`box`: (2, 3) world-frame min and max corners of the region the field models (scene units)."""
        super().__init__()
        self.config = config
        self.register_buffer("box", torch.as_tensor(box, dtype=torch.float32).reshape(2, 3).clone())
        if config.encoding == "hash":
            self.position_encoding = HashGridEncoding(config.hash_grid(), self.box[1] - self.box[0], generator)
        else:
            self.position_encoding = PositionalEncoding(3, config.position_frequencies)
        self.density_mlp = MLP(self.position_encoding.out_dim, config.hidden_width, config.density_layers,
                               1 + config.geometry_features)
        self.density_activation = DensityActivation(config.density_bias)
        self.direction_encoding = PositionalEncoding(3, config.direction_frequencies)
        self.color_mlp = MLP(config.geometry_features + self.direction_encoding.out_dim, config.hidden_width,
                             config.color_layers, 3)
        self.color_activation = nn.Sigmoid()

    def unit_box(self, points: torch.Tensor) -> torch.Tensor:
        """World points -> the field's unit box (per axis; [0, 1] inside the box)."""
        return (points - self.box[0]) / (self.box[1] - self.box[0])

    def _geometry(self, points: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        unit = self.unit_box(points)
        encoded = self.position_encoding(unit if self.config.encoding == "hash" else 2 * unit - 1)
        hidden = self.density_mlp(encoded)
        density = self.density_activation(hidden[..., 0])
        inside = ((unit >= 0) & (unit <= 1)).all(dim=-1)
        return torch.where(inside, density, torch.zeros_like(density)), hidden[..., 1:]

    def density(self, points: torch.Tensor) -> torch.Tensor:
        """(..., 3) world points -> (...,) density, 1 / scene units; 0 outside the box."""
        return self(points)[0]

    def forward(self, points: torch.Tensor, directions: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor | None]:
        """(..., 3) world points and unit ray directions -> density (...,) and linear RGB (..., 3).
        Without directions only the density is computed (the colour head is skipped; rgb is None)."""
        density, features = self._geometry(points)
        if directions is None:
            return density, None
        color_input = torch.cat([features, self.direction_encoding(directions)], dim=-1)
        return density, self.color_activation(self.color_mlp(color_input))
