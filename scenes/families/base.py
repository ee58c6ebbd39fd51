"""What every procedural family provides: a config, a frame count, and `frame(k)`.

`frame(k)` depends only on the family config, the job seed and k: its random choices come from
`numpy.random.default_rng([seed, k])`, so frame k is the same alone, in a batch or on any worker.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

import numpy as np
from pydantic import Field

from frobnoscope.engine import config as engine_config
from frobnoscope.scenes.spec import SceneSpec


class FamilyConfig(engine_config.Config):
    """Settings shared by every family; subclasses add their own (a dataset's `settings`; on the command line
    `--set key=value`)."""

    res: int = Field(128, gt=0, le=4096, description="image width and height in pixels")


@dataclass(frozen=True)
class Frame:
    spec: SceneSpec
    factors: dict  # named values that generated the frame (JSON-able); per-object ones under "objects"
    split: str | None = None  # "train" / "val" / "test" where the family defines splits
    scene_key: object = field(default=None, compare=False)  # frames with equal keys share one scene


class Family:
    name: ClassVar[str]
    Config: ClassVar[type[FamilyConfig]] = FamilyConfig

    def __init__(self, config: FamilyConfig, seed: int):
        self.config = config
        self.seed = seed

    def default_n(self) -> int | None:
        """Frames in a complete dataset, where the family fixes it (a full grid); None where any n will do."""
        return None

    def frame_rng(self, k: int) -> np.random.Generator:
        return np.random.default_rng([self.seed, k])

    def frame(self, k: int) -> Frame:
        raise NotImplementedError
