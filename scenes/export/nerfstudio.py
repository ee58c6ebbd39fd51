"""`nerfstudio`: a directory that nerfstudio's `nerfstudio-data` dataparser reads as it is.

    transforms.json          camera_model, fl_x fl_y cx cy w h (top level when every frame shares them),
                             frames[] with file_path, transform_matrix (camera-to-world, OpenGL, as ours),
                             depth_file_path, mask_path, <channel>_file_path; train/val/test_filenames
                             (only for a whole export whose three splits all have frames, see below)
    images/frame_000012.png  RGB, the renderer's 8-bit pixels (frame 12 of the source store)
    depths/frame_000012.npy  depth_z in millimetres, float32, 0 on background: nerfstudio multiplies depth
                             files by its `depth_unit_scale_factor` (default 1e-3) and reads 0 as "no depth"
    masks/frame_000012.png   255 where an object is seen, 0 on background (nerfstudio ignores 0 pixels)
    <channel>/frame_000012.npy   every chosen channel but rgb, lossless (inf on background)
    frame_transform.json     how to map a trained model's frame back to the scene's (see below)

Once transforms.json has any `*_filenames` list nerfstudio takes every split from the lists and never
falls back, so an empty list leaves it nothing to train or evaluate on. The lists are therefore written
only when the whole dataset is exported and train, val and test all have frames; an export of one split
(`--split`), or of a dataset without splits, has none, and nerfstudio splits its frames by its
`--eval-mode` (fraction, 90% train, by default; `all` trains and evaluates on every frame).

nerfstudio re-orients, re-centres and re-scales poses unless told not to; with `DATAPARSER_SETTINGS`
its frame is ours. In general a nerfstudio run writes `dataparser_transforms.json` (a 3x4 `transform`
[R | t] and a `scale`) and p_scene = R^T (p_nerfstudio / scale - t) (`scene_points_from_nerfstudio`).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np

from frobnoscope.scenes.export.encodings import foreground_u8, npy_bytes, npy_channels, png_bytes, rgb_to_u8, write_json
from frobnoscope.scenes.export.job import SPLITS, ExportFormat, ExportFrame, ExportJob, frame_key, pinhole

CAMERA_MODEL = "PINHOLE"
DEPTH_UNIT_SCALE_FACTOR = 1e-3  # nerfstudio's default: depth files hold 1/1000 scene units ("millimetres")
DATAPARSER_SETTINGS = {"orientation_method": "none", "center_method": "none", "auto_scale_poses": False, "scale_factor": 1.0}
# ns-train (nerfstudio 1.1.5) takes dataparser options after the dataparser's subcommand, last on the line;
# `--pipeline.datamanager.dataparser.*` is not accepted there
TRAIN_FLAGS = "nerfstudio-data --orientation-method none --center-method none --auto-scale-poses False --scale-factor 1.0"
INVERSE = ("p_scene = R^T (p_nerfstudio / scale - t), with [R | t] = `transform` (3x4) and `scale` from the run's "
           "dataparser_transforms.json (identity and 1 with these flags)")


def depth_file(depth_z: np.ndarray) -> np.ndarray:
    """depth_z (scene units, inf on background) -> what nerfstudio reads: 1/1000 scene units, 0 = no depth."""
    return np.where(np.isfinite(depth_z), depth_z * np.float32(1000), 0).astype(np.float32)


def scene_points_from_nerfstudio(points: np.ndarray, transform, scale: float) -> np.ndarray:
    """(..., 3) points in a nerfstudio model's frame -> the scene's frame, given dataparser_transforms.json's
    3x4 `transform` [R | t] and `scale` (nerfstudio applies p_ns = scale * (R p + t))."""
    transform = np.asarray(transform, dtype=float)
    rotation, translation = transform[:3, :3], transform[:3, 3]
    return (np.asarray(points, dtype=float) / scale - translation) @ rotation


def _intrinsics(frame: ExportFrame, job: ExportJob) -> dict:
    fx, fy, cx, cy = map(float, pinhole(frame.intrinsics))
    return {"fl_x": fx, "fl_y": fy, "cx": cx, "cy": cy, "w": job.width, "h": job.height}


def writes_split_lists(job: ExportJob) -> bool:
    """Whether transforms.json gets train/val/test_filenames: a whole export whose three splits all have frames."""
    return job.split is None and all(any(job.frame_split(k) == split for k in job.indices) for split in SPLITS)


def _write_frame(frame: ExportFrame, job: ExportJob, directory: Path) -> dict:
    stem = frame_key(frame.index)
    record = {"file_path": f"images/{stem}.png", "transform_matrix": frame.camera_to_world.tolist(),
              **_intrinsics(frame, job), "frobnoscope_index": frame.index}
    (directory / record["file_path"]).write_bytes(png_bytes(rgb_to_u8(frame.channels["rgb"])))
    if "depth_z" in frame.channels:
        record["depth_file_path"] = f"depths/{stem}.npy"
        (directory / record["depth_file_path"]).write_bytes(npy_bytes(depth_file(frame.channels["depth_z"])))
    if "object_id" in frame.channels:
        record["mask_path"] = f"masks/{stem}.png"
        (directory / record["mask_path"]).write_bytes(png_bytes(foreground_u8(frame.channels["object_id"])))
    for name, data in npy_channels(frame):
        record[f"{name}_file_path"] = f"{name}/{stem}.npy"
        (directory / record[f"{name}_file_path"]).write_bytes(data)
    return record


def _transforms(job: ExportJob, records: list[dict]) -> dict:
    """Intrinsics go to the top level when every frame shares them (nerfstudio reads either)."""
    keys = ("fl_x", "fl_y", "cx", "cy", "w", "h")
    shared = {key: records[0][key] for key in keys} if all(
        all(r[key] == records[0][key] for key in keys) for r in records) else {}
    frames = [{k: v for k, v in r.items() if k not in shared} for r in records]
    transforms = {"camera_model": CAMERA_MODEL, **shared, "frames": frames}
    if writes_split_lists(job):
        for split in SPLITS:
            transforms[f"{split}_filenames"] = [r["file_path"] for r in records if job.frame_split(r["frobnoscope_index"]) == split]
    return transforms


def frame_transform() -> dict:
    """Contents of frame_transform.json: from a trained nerfstudio model's frame to the scene's."""
    identity = np.eye(4)
    return {
        "description": "maps points of a nerfstudio model trained on this export to the source dataset's world frame",
        "nerfstudio_dataparser": DATAPARSER_SETTINGS, "ns_train": f"ns-train nerfacto --data <this directory> {TRAIN_FLAGS}",
        "expected_dataparser_transforms": {"transform": identity[:3].tolist(), "scale": 1.0},
        "scene_from_nerfstudio": identity.tolist(),
        "general_inverse": INVERSE,
        "depth_unit_scale_factor": DEPTH_UNIT_SCALE_FACTOR,
    }


def write(job: ExportJob, directory: Path, advance: Callable[[], None]) -> None:
    for folder in ("images", *(("depths",) if "depth_z" in job.channels else ()),
                   *(("masks",) if "object_id" in job.channels else ()), *(n for n in job.channels if n != "rgb")):
        (directory / folder).mkdir()
    records = []
    for frame in job.frames():
        records.append(_write_frame(frame, job, directory))
        advance()
    write_json(directory / "transforms.json", _transforms(job, records))
    write_json(directory / "frame_transform.json", frame_transform())


def notes(job: ExportJob) -> str:
    lines = ["train with nerfstudio in the scene's own frame (no re-orienting, re-centring or re-scaling):",
             f"  ns-train nerfacto --data {job.out} {TRAIN_FLAGS}",
             f"back to the scene's frame: {INVERSE} (see {job.out / 'frame_transform.json'})"]
    if not writes_split_lists(job):
        if job.split:
            what = f"only the {job.split} split was exported"
        elif any(job.frame_split(k) for k in job.indices):
            what = "one of the dataset's splits is empty"
        else:
            what = "the dataset has no train/val/test splits"
        lines.append(f"transforms.json lists no train/val/test files ({what}): nerfstudio splits these frames by its "
                     "--eval-mode (fraction, 90% train, by default; add --eval-mode all after nerfstudio-data to use every frame)")
    return "\n".join(lines)


FORMAT = ExportFormat(
    name="nerfstudio", summary="transforms.json + images, depths (mm), masks, for nerfstudio's nerfstudio-data parser",
    write=write, required_channels=("rgb",), default_channels=("rgb", "depth_z", "object_id"), notes=notes,
)
