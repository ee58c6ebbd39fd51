"""The encodings every exporter uses at the file boundary: PNG, lossless `.npy`, JSON.

RGB: the store's `rgb` is float32 linear, decoded from pyrender's 8-bit output by
`colors.render_to_linear`. Exports write those 8-bit values back (`colors.linear_to_render`), so every
PNG holds exactly the rendered pixels and `render_to_linear(png)` gives the store's float32 back bit
for bit. The bytes are 1/2.2-gamma encoded, which viewers show as sRGB; re-encoding them with the
exact sRGB curve would merge 10 of the 256 levels and move others by up to 9, so exports do not.
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from pathlib import Path

import numpy as np
from PIL import Image

from frobnoscope.scenes.colors import RENDER_GAMMA, linear_to_render
from frobnoscope.scenes.export.job import ExportFrame

PNG_COMPRESS_LEVEL = 1  # zlib level: lossless at any level; 1 writes fastest
# the source's linear float32 `rgb` from an exported 8-bit PNG `png`, bit for bit (`colors.render_to_linear`)
LINEAR_RGB_FROM_PNG = f"np.power(png.astype(np.float32) / 255, np.float32({RENDER_GAMMA}))"


def rgb_to_u8(rgb: np.ndarray) -> np.ndarray:
    """Store `rgb` (float32 linear) -> the renderer's 8-bit pixels, exactly (see the module docstring)."""
    return linear_to_render(rgb)


def foreground_u8(object_id: np.ndarray) -> np.ndarray:
    """255 where a pixel sees an object (object_id > 0), 0 on background."""
    return np.where(object_id > 0, 255, 0).astype(np.uint8)


def png_bytes(image_u8: np.ndarray) -> bytes:
    """8-bit grey (H, W), RGB (H, W, 3) or RGBA (H, W, 4) -> PNG."""
    buffer = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(image_u8)).save(buffer, format="PNG", compress_level=PNG_COMPRESS_LEVEL)
    return buffer.getvalue()


def npy_bytes(array: np.ndarray) -> bytes:
    """Lossless `.npy` (dtype, shape, inf and NaN kept)."""
    buffer = io.BytesIO()
    np.save(buffer, np.ascontiguousarray(array), allow_pickle=False)
    return buffer.getvalue()


def npy_channels(frame: ExportFrame) -> Iterator[tuple[str, bytes]]:
    """(name, `.npy` bytes) for every channel of the frame but rgb (which goes to a PNG)."""
    for name, values in frame.channels.items():
        if name != "rgb":
            yield name, npy_bytes(values)


def write_json(path: Path, data) -> None:
    path.write_text(json.dumps(data, indent=1) + "\n")


def camera_record(frame: ExportFrame) -> dict:
    """The frame's camera as JSON: 4x4 camera-to-world (OpenGL) and 3x3 intrinsics (pixels)."""
    return {"camera_to_world": frame.camera_to_world.tolist(), "intrinsics": frame.intrinsics.tolist()}
