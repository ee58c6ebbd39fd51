"""Input encodings of a coordinate MLP: sinusoidal positional encoding and a multiresolution hash grid.

Both take points already mapped into the field's unit box, coordinates in [0, 1] (see `field.NerfField`), and
return (..., out_dim) float32 features. Directions (unit vectors, world frame) use `PositionalEncoding` directly on
their components in [-1, 1].
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from pydantic import Field
from torch import nn

from frobnoscope.engine.config import Config

# instant-NGP's spatial hash primes (Teschner et al. 2003), the first one 1 so that x varies fastest
HASH_PRIMES = (1, 2654435761, 805459861)


class PositionalEncoding(nn.Module):
    """NeRF's gamma(p): [p, sin(2^0 pi p), cos(2^0 pi p), ..., sin(2^(L-1) pi p), cos(2^(L-1) pi p)] per component.

    Output layout (..., D * (1 + 2 L)) with D input components: the identity first, then for each frequency k
    (ascending) the sines of all components, then their cosines. `include_input=False` drops the identity.
    """

    def __init__(self, in_dim: int, n_frequencies: int, include_input: bool = True):
        super().__init__()
        self.in_dim, self.n_frequencies, self.include_input = in_dim, n_frequencies, include_input
        self.register_buffer("frequencies", math.pi * 2.0 ** torch.arange(n_frequencies, dtype=torch.float32), persistent=False)

    @property
    def out_dim(self) -> int:
        return self.in_dim * (2 * self.n_frequencies + int(self.include_input))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        scaled = x[..., None, :] * self.frequencies[:, None]  # (..., L, D)
        parts = torch.cat([torch.sin(scaled), torch.cos(scaled)], dim=-1).flatten(-2)  # (..., L * 2D)
        return torch.cat([x, parts], dim=-1) if self.include_input else parts


class HashGridConfig(Config):
    """Multiresolution hash encoding (Mueller et al. 2022) over a box whose sides have relative lengths `aspect`.

    Level l has r_l = floor(base_resolution * b^l) cells along the box's longest side,
    b = (max_resolution / base_resolution)^(1 / (n_levels - 1)), and max(1, round(r_l * aspect)) cells along each
    axis (cells are about as long on every axis). A level whose vertices fit in `2^log2_table_size` entries is a
    dense grid (sampled with `grid_sample`, fast on the CPU); a larger one hashes its vertices into a table of that
    size with instant-NGP's spatial hash."""

    n_levels: int = Field(8, ge=1, description="resolution levels")
    features_per_level: int = Field(2, ge=1, description="features stored per grid vertex and level")
    log2_table_size: int = Field(22, ge=1, description="log2 of the most entries a level stores")
    base_resolution: int = Field(16, ge=1, description="cells along the longest side at the coarsest level")
    max_resolution: int = Field(128, ge=1, description="cells along the longest side at the finest level")
    init_scale: float = Field(1e-4, ge=0, description="features start uniform in [-init_scale, init_scale]")


class HashGridEncoding(nn.Module):
    """Trilinearly interpolated features from every level, in plain torch. Input (..., 3) in [0, 1] (clamped),
    output (..., n_levels * features_per_level), level-major. Parameters: `dense.<l>` (F, nz, ny, nx) for dense
    levels, `hashed.<l>` (T, F) for hashed ones (l: the level)."""

    def __init__(self, config: HashGridConfig | None = None, aspect=(1.0, 1.0, 1.0),
                 generator: torch.Generator | None = None):
        super().__init__()
        self.config = config = config or HashGridConfig()
        aspect = torch.as_tensor(aspect, dtype=torch.float64)
        aspect = aspect / aspect.max()
        growth = (config.max_resolution / config.base_resolution) ** (1 / max(1, config.n_levels - 1))
        table_size = 2**config.log2_table_size
        self.cells: list[tuple[int, int, int]] = []  # (nx, ny, nz) per level
        self.dense, self.hashed = nn.ParameterDict(), nn.ParameterDict()
        for level in range(config.n_levels):
            longest = math.floor(config.base_resolution * growth**level + 1e-9)
            cells = tuple(max(1, round(longest * float(a))) for a in aspect)
            self.cells.append(cells)
            vertices = math.prod(c + 1 for c in cells)
            if vertices <= table_size:
                shape = (config.features_per_level, cells[2] + 1, cells[1] + 1, cells[0] + 1)
                self.dense[str(level)] = nn.Parameter(_uniform(shape, config.init_scale, generator))
            else:
                self.hashed[str(level)] = nn.Parameter(_uniform((table_size, config.features_per_level), config.init_scale, generator))
        corners = torch.tensor([[(c >> axis) & 1 for axis in range(3)] for c in range(8)], dtype=torch.int64)
        self.register_buffer("corners", corners, persistent=False)  # (8, 3) offsets of a cell's corners
        self.register_buffer("primes", torch.tensor(HASH_PRIMES, dtype=torch.int64), persistent=False)

    @property
    def out_dim(self) -> int:
        return self.config.n_levels * self.config.features_per_level

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shape = x.shape[:-1]
        x = x.reshape(-1, 3).clamp(0.0, 1.0)
        features = [self._dense_level(x, self.dense[str(level)]) if str(level) in self.dense
                    else self._hashed_level(x, self.hashed[str(level)], self.cells[level])
                    for level in range(self.config.n_levels)]
        return torch.cat(features, dim=-1).reshape(*shape, self.out_dim)

    @staticmethod
    def _dense_level(x: torch.Tensor, grid: torch.Tensor) -> torch.Tensor:
        """(N, 3) unit coordinates -> (N, F): grid_sample's trilinear interpolation between the grid's vertices
        (align_corners: unit coordinate 0 is the first vertex, 1 the last)."""
        sampled = F.grid_sample(grid[None], (2 * x - 1).view(1, 1, 1, -1, 3), mode="bilinear", align_corners=True)
        return sampled.view(grid.shape[0], -1).T

    def _hashed_level(self, x: torch.Tensor, table: torch.Tensor, cells: tuple[int, int, int]) -> torch.Tensor:
        """(N, 3) unit coordinates -> (N, F): the 8 corners of each point's cell, hashed into `table`, trilinearly
        weighted (the same interpolation as the dense levels)."""
        resolution = torch.tensor(cells, dtype=x.dtype, device=x.device)
        scaled = x * resolution
        lower = torch.minimum(scaled.floor(), resolution - 1)
        fraction = scaled - lower  # (N, 3) in [0, 1]
        vertices = lower.to(torch.int64)[:, None, :] + self.corners  # (N, 8, 3)
        hashed = (vertices * self.primes).unbind(-1)
        rows = (hashed[0] ^ hashed[1] ^ hashed[2]) % table.shape[0]
        weights = torch.where(self.corners.bool(), fraction[:, None, :], 1 - fraction[:, None, :]).prod(dim=-1)  # (N, 8)
        return (table.index_select(0, rows.reshape(-1)).view(*rows.shape, -1) * weights[..., None]).sum(dim=1)


def _uniform(shape, scale: float, generator: torch.Generator | None) -> torch.Tensor:
    return torch.empty(shape).uniform_(-scale, scale, generator=generator)
