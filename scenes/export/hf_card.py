"""The dataset card (README.md) of an `hf` export: a YAML header the Hub reads (licence, data files per
split), then how to load it, the features with their meanings, the conventions and the licence."""

from __future__ import annotations

import yaml

from frobnoscope.engine.runs import package_version
from frobnoscope.scenes.channels import CHANNELS_BY_NAME
from frobnoscope.scenes.export.encodings import LINEAR_RGB_FROM_PNG
from frobnoscope.scenes.export.job import SPLITS, ExportJob
from frobnoscope.scenes.export.shards import ShardedFiles

DATA_LICENSE = "cc-by-4.0"
CONVENTIONS = f"""\
- World: right-handed, +Y up, scene units. Cameras: `camera_to_world` 4x4 in the OpenGL convention
  (+X right, +Y up, the camera looks down -Z), as pyrender and nerfstudio's `transform_matrix`.
- Intrinsics `fx fy cx cy` in pixels; pixel (row i, col j) is sampled at its centre, the image point
  (j + 0.5, i + 0.5) measured from the top-left corner.
- Depth: `depth_z` is the distance along the camera's -Z axis, `depth_ray` the distance along the pixel's ray.
- Background: `inf` in float channels, 0 in integer channels (object id 0 is the background).
- Normals: unit vectors, world frame (`normal_world`) and camera frame (`normal_cam`).
- RGB: PNG bytes are the renderer's own 8-bit output (1/2.2 gamma, shown by viewers as sRGB); the source
  dataset's linear float32 `rgb` is `{LINEAR_RGB_FROM_PNG}`, bit for bit
  (`frobnoscope.scenes.colors.render_to_linear`).
- Ids: object id = 1 + index in the frame's `spec.objects`; factors list each object with its `object_id`.
"""
LICENCE = (f"The frames were generated procedurally with frobnoscope (MIT-licensed software) by whoever ran the "
           f"generation and this export; that person is the licensor and releases them under CC BY 4.0 "
           f"(`{DATA_LICENSE}`). Meshes that a scene spec loads from files keep their own licences.")
COLUMN_MEANINGS = {
    "frobnoscope_index": "the frame's index in the source dataset store",
    "split": "train / val / test, null for a dataset without splits",
    "camera_to_world": "camera-to-world 4x4, OpenGL convention (+X right, +Y up, looking down -Z)",
    "intrinsics": "3x3 pinhole intrinsics in pixels (fx, fy, cx, cy from the top-left corner)",
}

FACTOR_PREFIX = "factor_"  # a row's factors are flattened into columns factor_<name>


def _size_category(n: int) -> str:
    for limit, name in ((1_000, "n<1K"), (10_000, "1K<n<10K"), (100_000, "10K<n<100K"), (1_000_000, "100K<n<1M")):
        if n < limit:
            return name
    return "1M<n<10M"


def _meaning(column: str) -> str:
    if column == "rgb":
        return f"rendered image: PNG of the renderer's 8-bit pixels; the source's linear float32 `rgb` is `{LINEAR_RGB_FROM_PNG}`"
    if column in CHANNELS_BY_NAME:
        return CHANNELS_BY_NAME[column].meaning
    if column.startswith(FACTOR_PREFIX):
        return "factor of variation that generated the frame (per-object factors carry the object's object_id)"
    return COLUMN_MEANINGS[column]


def dataset_card(job: ExportJob, features, shards: ShardedFiles) -> str:
    params = job.store.manifest["params"]
    splits = sorted(shards.shard_counts, key=SPLITS.index)
    header = {
        "license": DATA_LICENSE, "pretty_name": f"frobnoscope {params['family']} (seed {params['seed']})",
        "size_categories": [_size_category(len(job.indices))], "tags": ["synthetic", "3d", "ground-truth", "frobnoscope"],
        "configs": [{"config_name": "default",
                     "data_files": [{"split": s, "path": f"data/{s}-*.parquet"} for s in splits]}],
    }
    data_files = ", ".join(f'"{s}": "data/{s}-*.parquet"' for s in splits)
    lines = [
        "---", yaml.safe_dump(header, sort_keys=False).rstrip(), "---", "",
        f"# frobnoscope {params['family']} dataset", "",
        f"{len(job.indices)} frames at {job.width}x{job.height} of the procedural `{params['family']}` family "
        f"(seed {params['seed']}): pyrender images with exact per-pixel ground truth ray-cast from the same triangles. "
        f"Exported by frobnoscope {package_version()} from the dataset `{job.store.path.resolve().name}`"
        + (f" (split {job.split} only)." if job.split else "."), "",
        "## Loading", "", "```python", "import numpy as np", "from datasets import load_dataset", "",
        f'ds = load_dataset("parquet", data_files={{{data_files}}})',
        f'frame = ds["{splits[0]}"].with_format("numpy", dtype=None)[0]  # dtype=None: keep the stored dtypes',
        *(['png = frame["rgb"]', f"rgb = {LINEAR_RGB_FROM_PNG}  # the source's linear float32, bit for bit"]
          if "rgb" in job.channels else []),
        "```", "",
        "| split | frames | shards |", "|---|---|---|",
        *(f"| {s} | {shards.frame_counts[s]} | {shards.shard_counts[s]} |" for s in splits), "",
        "## Features", "", "| column | feature | meaning |", "|---|---|---|",
        *(f"| `{column}` | `{feature}` | {_meaning(column)} |" for column, feature in features.items()), "",
        "## Conventions", "", CONVENTIONS,
        "## Licence", "",
        LICENCE, "",
    ]
    return "\n".join(lines)
