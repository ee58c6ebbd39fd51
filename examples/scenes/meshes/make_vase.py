"""Writes vase.obj beside this file: a lathed vase (profile revolved in 24 sections, 432 faces), base at y = 0,
1 unit tall, axis along +Y. Run `.venv/bin/python examples/scenes/meshes/make_vase.py` to regenerate it."""

from pathlib import Path

import numpy as np
import trimesh

# (radius, height) from the base centre up the outside and back down the inside to the floor of the bowl
PROFILE = [(0.0, 0.0), (0.22, 0.0), (0.3, 0.15), (0.33, 0.35), (0.25, 0.6), (0.15, 0.8), (0.2, 1.0),
           (0.17, 1.0), (0.12, 0.8), (0.21, 0.6), (0.0, 0.55)]
SECTIONS = 24

if __name__ == "__main__":
    vase = trimesh.creation.revolve(np.array(PROFILE), sections=SECTIONS)  # around +Z
    vase.apply_transform(trimesh.transformations.rotation_matrix(-np.pi / 2, [1, 0, 0]))  # +Z -> +Y
    assert vase.is_watertight and vase.volume > 0
    vase.export(Path(__file__).with_name("vase.obj"))
    print(f"vase.obj: {len(vase.faces)} faces, extents {np.round(vase.extents, 3).tolist()}")
