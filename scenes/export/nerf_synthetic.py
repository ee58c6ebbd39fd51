"""`nerf-synthetic`: the Blender layout of the original NeRF data, as its `load_blender.py` reads it.

    transforms_{train,val,test}.json   camera_angle_x (horizontal field of view, radians) and frames[] with
                                       file_path "./train/r_0" (no extension: the loader adds ".png") and
                                       transform_matrix (camera-to-world, OpenGL, as ours)
    train/r_0.png                      RGBA: RGB the renderer's 8-bit pixels, alpha 255 where an object is
                                       seen (object_id > 0), 0 on background
    train/r_0_<channel>.npy            every chosen channel but rgb, lossless; its frame key <channel>_file_path

r_i counts frames within a split; `frobnoscope_index` in each frame is its index in the source store.
One `camera_angle_x` per file implies square pixels and the principal point at the image centre, so
frames must have fx = fy, cx = W/2, cy = H/2 and all the same focal length. The original NeRF code
casts rays through pixel corners ((i - W/2) / focal), half a pixel off the pixel centres that both
Blender and frobnoscope render; that is the loader's convention, kept as for the original data.
With --split only that split's transforms file is written.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path

import numpy as np

from .common import ExportError, ExportFormat, ExportFrame, ExportJob, foreground_u8, npy_bytes, png_bytes, rgb_to_u8, write_json


def camera_angle_x(frame: ExportFrame, job: ExportJob) -> float:
    """The horizontal field of view, after checking the frame's camera is one NeRF-synthetic can describe."""
    (fx, _, cx), (_, fy, cy), _ = frame.intrinsics.tolist()
    centred = math.isclose(cx, job.width / 2, rel_tol=1e-9) and math.isclose(cy, job.height / 2, rel_tol=1e-9)
    if not (math.isclose(fx, fy, rel_tol=1e-9) and centred):
        raise ExportError(f"frame {frame.index} has fx={fx:g} fy={fy:g} cx={cx:g} cy={cy:g}; nerf-synthetic needs square pixels "
                          "and a centred principal point: use --format nerfstudio")
    return 2 * math.atan(job.width / (2 * fx))


def _write_frame(frame: ExportFrame, position: int, directory: Path) -> dict:
    split = frame.split
    stem = f"{split}/r_{position}"
    rgba = np.dstack([rgb_to_u8(frame.channels["rgb"]), foreground_u8(frame.channels["object_id"])])
    (directory / f"{stem}.png").write_bytes(png_bytes(rgba))
    record = {"file_path": f"./{stem}", "transform_matrix": frame.camera_to_world.tolist(), "frobnoscope_index": frame.index}
    for name, values in frame.channels.items():
        if name != "rgb":
            record[f"{name}_file_path"] = f"./{stem}_{name}.npy"
            (directory / f"{stem}_{name}.npy").write_bytes(npy_bytes(values))
    return record


def write(job: ExportJob, directory: Path, advance: Callable[[], None]) -> None:
    splits: dict[str, list[dict]] = {}
    angle = None
    for frame in job.frames():
        frame_angle = camera_angle_x(frame, job)
        if angle is not None and not math.isclose(frame_angle, angle, rel_tol=1e-12):
            raise ExportError(f"frame {frame.index} has another focal length than the frames before it; nerf-synthetic has one "
                              "camera_angle_x per split: use --format nerfstudio")
        angle = frame_angle
        records = splits.setdefault(frame.split, [])
        if not records:
            (directory / frame.split).mkdir()
        records.append(_write_frame(frame, len(records), directory))
        advance()
    for split, records in splits.items():
        write_json(directory / f"transforms_{split}.json", {"camera_angle_x": angle, "frames": records})


FORMAT = ExportFormat(
    name="nerf-synthetic", summary="the original NeRF's Blender layout: transforms_{train,val,test}.json + RGBA PNGs",
    write=write, required_channels=("rgb", "object_id"), default_channels=("rgb", "object_id"), needs_splits=True,
)
