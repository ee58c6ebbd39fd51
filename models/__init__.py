"""Model adapters: image autoencoders (TAESD family, Stable Diffusion VAEs, our own) behind one protocol.

`load_model(spec)` gives an adapter (see `registry` for the spec syntax); `adapter.forward(images)` reconstructs
float32 linear [0, 1] images, `hook_points()`/`capture()`/`intervene()` reach inside. See `adapter` and `hooks`.
`load_any_model(spec)` also takes the coordinate MLPs (`nerf:RUN_DIR`, `field:RUN_DIR`, `nerfstudio:CONFIG_YML`),
whose tokens are points.
"""

from frobnoscope.models.adapter import AutoencoderAdapter, ModelAdapter
from frobnoscope.models.loading.registry import load_any_model, load_model

__all__ = ["AutoencoderAdapter", "ModelAdapter", "load_any_model", "load_model"]
