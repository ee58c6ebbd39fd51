"""`orbit`: one fixed tabletop scene (drawn from the seed) seen from N cameras on a sphere, with
train/val/test splits, for NeRFs. View k's camera depends only on k (a golden-angle spiral), so
adding views never moves the existing ones."""

from __future__ import annotations

import numpy as np
from pydantic import Field, model_validator

from frobnoscope.scenes.families.base import Frame
from frobnoscope.scenes.families.common import orbit_camera
from frobnoscope.scenes.families.tabletop import Tabletop, TabletopConfig

GOLDEN_ANGLE_DEG = 180.0 * (3.0 - np.sqrt(5.0))
TARGET = (0.0, 0.3, 0.0)


class OrbitConfig(TabletopConfig):
    radius: float = Field(5.5, gt=0)
    min_elevation_deg: float = Field(10.0, ge=-90, le=90)
    max_elevation_deg: float = Field(80.0, ge=-90, le=90)
    test_every: int = Field(8, ge=2, description="view k is a test view when k % test_every == 0")
    val_every: int = Field(8, ge=2, description="view k is a val view when k % val_every == val_every // 2")

    @model_validator(mode="after")
    def _ordered(self):
        if self.min_elevation_deg > self.max_elevation_deg:
            raise ValueError("min_elevation_deg must not exceed max_elevation_deg")
        return self


class Orbit(Tabletop):
    name = "orbit"
    Config = OrbitConfig

    def __init__(self, config: OrbitConfig, seed: int):
        super().__init__(config, seed)
        self._scene = super().frame(0)  # the scene itself: tabletop frame 0 of this seed

    def split(self, k: int) -> str:
        if k % self.config.test_every == 0:
            return "test"
        if k % self.config.val_every == self.config.val_every // 2:
            return "val"
        return "train"

    def camera_angles(self, k: int) -> tuple[float, float]:
        """Azimuth and elevation of view k: golden-angle azimuths, elevations spread evenly in area."""
        low, high = np.sin(np.radians([self.config.min_elevation_deg, self.config.max_elevation_deg]))
        fraction = (k * (np.sqrt(5.0) - 1) / 2) % 1.0
        elevation = float(np.degrees(np.arcsin(low + fraction * (high - low))))
        return float((k * GOLDEN_ANGLE_DEG) % 360.0), elevation

    def frame(self, k: int) -> Frame:
        azimuth, elevation = self.camera_angles(k)
        camera = orbit_camera(azimuth, elevation, self.config.radius, self.config.res, target=TARGET)
        spec = self._scene.spec.model_copy(update={"camera": camera})
        factors = {"camera_azimuth_deg": azimuth, "camera_elevation_deg": elevation, "camera_distance": self.config.radius}
        factors["objects"] = self._scene.factors["objects"]
        return Frame(spec=spec, factors=factors, split=self.split(k), scene_key="orbit")
