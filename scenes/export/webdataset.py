"""`webdataset`: POSIX tar shards that the `webdataset` library streams, one sample per frame.

    {split}-00000-of-00003.tar       frames of one split (`train` for a dataset without splits), about
                                     SHARD_BYTES of raw channel data per shard, in store order
    frame_000012.rgb.png             RGB, the renderer's 8-bit pixels
    frame_000012.<channel>.npy       every other chosen channel, lossless (dtype kept, inf on background)
    frame_000012.camera.json         camera_to_world (4x4, OpenGL), intrinsics (3x3, pixels), width, height
    frame_000012.factors.json        the frame's factors, as in the source manifest

The key `frame_000012` is the frame's index in the source store; the shard's name is its split.

    import webdataset as wds
    for sample in wds.WebDataset("out/train-{00000..00002}-of-00003.tar").decode("rgb8"):
        sample["rgb.png"], sample["depth_z.npy"], sample["camera.json"]
"""

from __future__ import annotations

import io
import json
import tarfile
from collections.abc import Callable
from pathlib import Path

from frobnoscope.scenes.export.encodings import camera_record, npy_channels, png_bytes, rgb_to_u8
from frobnoscope.scenes.export.job import ExportFormat, ExportFrame, ExportJob, frame_key
from frobnoscope.scenes.export.shards import ShardedFiles

SHARD_BYTES = 1 << 30  # raw channel bytes per shard: about 1 GiB


def sample_files(frame: ExportFrame, job: ExportJob) -> dict[str, bytes]:
    """The tar members of one frame's sample, by extension (the part after the key)."""
    files = {}
    if "rgb" in frame.channels:
        files["rgb.png"] = png_bytes(rgb_to_u8(frame.channels["rgb"]))
    files.update((f"{name}.npy", data) for name, data in npy_channels(frame))
    files["camera.json"] = json.dumps({**camera_record(frame), "width": job.width, "height": job.height}).encode()
    files["factors.json"] = json.dumps(frame.factors).encode()
    return files


def _add(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size, info.mode = len(data), 0o644
    tar.addfile(info, io.BytesIO(data))


def write(job: ExportJob, directory: Path, advance: Callable[[], None]) -> None:
    shards = ShardedFiles(job, directory, ".tar", SHARD_BYTES, open_shard=lambda path: tarfile.open(path, "w", format=tarfile.PAX_FORMAT),
                          close_shard=lambda tar: tar.close())
    try:
        for frame in job.frames():
            tar = shards.writer_for(frame.index)
            for extension, data in sample_files(frame, job).items():
                _add(tar, f"{frame_key(frame.index)}.{extension}", data)
            advance()
    finally:
        shards.close()


FORMAT = ExportFormat(
    name="webdataset", summary="tar shards for the webdataset library: .png RGB, .npy channels, .json camera and factors",
    write=write,
)
