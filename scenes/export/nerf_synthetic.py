"""`nerf-synthetic`: the Blender layout of the original NeRF data, as its `load_blender.py` reads it.

    transforms_{train,val,test}.json   camera_angle_x (horizontal field of view, radians) and frames[] with
                                       file_path "./train/r_0" (no extension: the loader adds ".png") and
                                       transform_matrix (camera-to-world, OpenGL, as ours)
    train/r_0.png                      RGBA: RGB the renderer's 8-bit pixels, alpha 255 where an object is
                                       seen (object_id > 0), 0 on background
    train/r_0_<channel>.npy            every chosen channel but rgb, lossless; its frame key <channel>_file_path

r_i counts frames within a split; `frobnoscope_index` in each frame is its index in the source store.
`load_blender.py` opens all three transforms files, concatenates their images (an empty split breaks
that) and takes one focal length from the last file it read, so the export always holds all three
splits, none empty (a split is refused), and every frame must have square pixels, the principal point
at the image centre and the same focal length; `check_cameras` refuses other cameras before anything is
written. The original NeRF code casts rays through pixel corners ((i - W/2) / focal), half a pixel off
the pixel centres that both Blender and frobnoscope render; that is the loader's convention, kept as for
the original data.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path

import numpy as np

from frobnoscope.scenes.export.encodings import foreground_u8, npy_channels, png_bytes, rgb_to_u8, write_json
from frobnoscope.scenes.export.job import ExportError, ExportFormat, ExportFrame, ExportJob, pinhole


def check_cameras(job: ExportJob) -> None:
    """Refuse cameras one `camera_angle_x` cannot describe: non-square pixels, an off-centre principal point,
    or focal lengths that differ between frames."""
    indices = np.asarray(job.indices)
    fx, fy, cx, cy = pinhole(job.intrinsics[indices])
    describable = (np.isclose(fx, fy, rtol=1e-9, atol=0) & np.isclose(cx, job.width / 2, rtol=1e-9, atol=0)
                   & np.isclose(cy, job.height / 2, rtol=1e-9, atol=0))
    if not describable.all():
        i = int(np.argmin(describable))
        raise ExportError(f"frame {indices[i]} has fx={fx[i]:g} fy={fy[i]:g} cx={cx[i]:g} cy={cy[i]:g} at {job.width}x{job.height}; "
                          "nerf-synthetic needs square pixels and a centred principal point: use format nerfstudio")
    same_focal = np.isclose(fx, fx[0], rtol=1e-12, atol=0)
    if not same_focal.all():
        i = int(np.argmin(same_focal))
        raise ExportError(f"frame {indices[i]} has focal length {fx[i]:g} and frame {indices[0]} {fx[0]:g}; nerf-synthetic has "
                          "one camera_angle_x for all frames: use format nerfstudio")


def camera_angle_x(job: ExportJob) -> float:
    """The horizontal field of view shared by every frame (`check_cameras` made sure there is one)."""
    fx, _, _, _ = pinhole(job.intrinsics[job.indices[0]])
    return 2 * math.atan(job.width / (2 * float(fx)))


def _write_frame(frame: ExportFrame, position: int, directory: Path) -> dict:
    stem = f"{frame.split}/r_{position}"
    rgba = np.dstack([rgb_to_u8(frame.channels["rgb"]), foreground_u8(frame.channels["object_id"])])
    (directory / f"{stem}.png").write_bytes(png_bytes(rgba))
    record = {"file_path": f"./{stem}", "transform_matrix": frame.camera_to_world.tolist(), "frobnoscope_index": frame.index}
    for name, data in npy_channels(frame):
        record[f"{name}_file_path"] = f"./{stem}_{name}.npy"
        (directory / f"{stem}_{name}.npy").write_bytes(data)
    return record


def write(job: ExportJob, directory: Path, advance: Callable[[], None]) -> None:
    splits: dict[str, list[dict]] = {}
    for frame in job.frames():
        records = splits.setdefault(frame.split, [])
        if not records:
            (directory / frame.split).mkdir()
        records.append(_write_frame(frame, len(records), directory))
        advance()
    angle = camera_angle_x(job)
    for split, records in splits.items():
        write_json(directory / f"transforms_{split}.json", {"camera_angle_x": angle, "frames": records})


FORMAT = ExportFormat(
    name="nerf-synthetic", summary="the original NeRF's Blender layout: transforms_{train,val,test}.json + RGBA PNGs",
    write=write, required_channels=("rgb", "object_id"), default_channels=("rgb", "object_id"), needs_every_split=True,
    check=check_cameras,
)
