"""An orbit dataset as NeRF training data: every frame's rays and pixels, its split, and the scene's box.

Only `orbit` datasets qualify: one fixed scene seen from many cameras, with train/val/test in each frame's
`split`. Frame k's rays are `rays.rays_of_camera(spec.camera)`, row-major, so ray r of frame k is pixel
(r // W, r % W) of `rgb[k]` (linear RGB, float32).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import numpy as np
import torch

from frobnoscope.models.errors import ModelError
from frobnoscope.models.nerf.rays import rays_of_camera, scene_box
from frobnoscope.scenes.scene import Scene
from frobnoscope.scenes.spec import SceneSpec, parse_spec
from frobnoscope.scenes.store import DatasetStore

FAMILY = "orbit"
SPLITS = ("train", "val", "test")


@dataclass
class OrbitData:
    store: DatasetStore
    specs: list[SceneSpec]
    splits: dict[str, list[int]]  # split -> frame indices

    @property
    def height(self) -> int:
        return self.store.manifest["height"]

    @property
    def width(self) -> int:
        return self.store.manifest["width"]

    @cached_property
    def scene(self) -> Scene:
        """The scene every frame shows (frame 0's spec; the frames differ only in their cameras)."""
        return Scene(self.specs[0])

    @cached_property
    def box(self) -> np.ndarray:
        """(2, 3) world-frame box the field models: the scene's bounds with a margin (`rays.scene_box`)."""
        return scene_box(self.scene.bounds, self.scene.extent)

    @property
    def background(self) -> np.ndarray:
        return np.asarray(self.specs[0].background, dtype=np.float32)

    @cached_property
    def rgb(self) -> torch.Tensor:
        """(N, H, W, 3) float32 linear RGB of every frame."""
        return torch.from_numpy(np.asarray(self.store.channel("rgb")[:], dtype=np.float32))

    def rays(self, frames: list[int]) -> tuple[torch.Tensor, torch.Tensor]:
        """(len(frames), H*W, 3) origins and unit directions of the given frames."""
        pairs = [rays_of_camera(self.specs[k].camera) for k in frames]
        return torch.stack([o for o, _ in pairs]), torch.stack([d for _, d in pairs])

    def channel(self, name: str, frames: list[int]) -> np.ndarray:
        array = self.store.channel(name)
        return np.stack([array[k] for k in frames])


def load_orbit(data_dir) -> OrbitData:
    """Open an orbit dataset; one-line `ModelError`s for a missing, unfinished or non-orbit dataset."""
    data_dir = Path(data_dir)
    if not data_dir.is_dir():
        raise ModelError(f"{data_dir} does not exist; make an orbit dataset with `frob scenes generate --family orbit --out {data_dir}`")
    store = DatasetStore.open(data_dir)
    family = store.manifest.get("params", {}).get("family")
    if family != FAMILY:
        raise ModelError(f"{data_dir} is a {family!r} dataset; NeRFs need an orbit dataset (one scene, many cameras): "
                         "`frob scenes generate --family orbit ...`")
    if not store.complete:
        raise ModelError(f"{data_dir} is unfinished; finish it with the `frob scenes generate` command that made it")
    frames = store.manifest["frames"]
    specs = [parse_spec(frame["spec"], f"{data_dir} frame {frame['index']}") for frame in frames]
    splits = {split: [f["index"] for f in frames if f["split"] == split] for split in SPLITS}
    if not splits["train"] or not (splits["val"] or splits["test"]):
        raise ModelError(f"{data_dir} has {len(splits['train'])} train, {len(splits['val'])} val and {len(splits['test'])} "
                         "test frames; a NeRF needs train frames and held-out (val or test) frames: generate more views")
    return OrbitData(store, specs, splits)
