"""Model specs: one string names any model frobnoscope can load.

  taef2[:DIR]             TAEF2 (FLUX.2 latents) from DIR/taef2_{encoder,decoder}.pth; DIR defaults to
                          $FROB_WEIGHTS_DIR, else ../shared/weights beside the repository
  taesd:PATH              a TAESD pair's prefix (DIR/taesdxl -> DIR/taesdxl_encoder.pth + _decoder.pth, or
                          .safetensors), a directory holding one pair, a diffusers AutoencoderTiny directory, or a hub id
  sd-vae:PATH_OR_HUB_ID   a diffusers AutoencoderKL directory (or a pipeline directory with vae/), or a hub id
                          owner/name[/subfolder] (needs a network)
  run:RUN_DIR             a model trained by `frob train ae`
  nerf:RUN_DIR            a coordinate MLP trained by `frob train nerf` (`load_any_model` only: its tokens are points)
  field:RUN_DIR           a field model trained by `frob train field` (`load_any_model` only: its tokens are points)
  nerfstudio:CONFIG_YML   a nerfstudio run, its config.yml or a directory holding one (`load_any_model` only; needs
                          the nerfstudio extra's environment)

`latent="sample"` (KL models only: sd-vae, run of kl-small) decodes a posterior sample instead of the mean.
"""

from __future__ import annotations

import torch

from frobnoscope.models.adapter import AutoencoderAdapter
from frobnoscope.models.device import prepare_device, resolve_device
from frobnoscope.models.errors import ModelError

KINDS = ("taef2", "taesd", "sd-vae", "run", "nerf", "field", "nerfstudio")
POINT_KINDS = ("nerf", "field", "nerfstudio")  # coordinate MLPs: their tokens are 3D points, not images
IMAGE_KINDS = tuple(kind for kind in KINDS if kind not in POINT_KINDS)
SPEC_FORMS = {"taef2": "taef2[:DIR]", "taesd": "taesd:PATH", "sd-vae": "sd-vae:PATH_OR_HUB_ID", "run": "run:RUN_DIR",
              "nerf": "nerf:RUN_DIR", "field": "field:RUN_DIR", "nerfstudio": "nerfstudio:CONFIG_YML"}


def spec_help(kinds: tuple[str, ...] = KINDS) -> str:
    """The spec forms of `kinds`, e.g. 'taef2[:DIR], taesd:PATH or run:RUN_DIR': the one text every help shows."""
    forms = [SPEC_FORMS[kind] for kind in kinds]
    return forms[0] if len(forms) == 1 else f"{', '.join(forms[:-1])} or {forms[-1]}"


SPEC_HELP = spec_help()
IMAGE_MODEL_HELP = f"{spec_help(IMAGE_KINDS)} (model specs: docs/guides/models.md)"
ANY_MODEL_HELP = f"{SPEC_HELP} (model specs: docs/guides/models.md)"


def parse_spec(spec: str) -> tuple[str, str | None]:
    """'sd-vae:stabilityai/sd-vae-ft-mse' -> ('sd-vae', 'stabilityai/sd-vae-ft-mse'); 'taef2' -> ('taef2', None)."""
    kind, sep, location = spec.partition(":")
    if kind not in KINDS:
        raise ModelError(f"unknown model spec {spec!r}; expected {SPEC_HELP}")
    if not location and kind != "taef2":
        raise ModelError(f"model spec {spec!r} needs a location: {kind}:...; expected {SPEC_HELP}")
    return kind, location or None


def load_model(spec: str, *, latent: str = "mean", seed: int = 0, device: str | torch.device | None = "cpu"
               ) -> AutoencoderAdapter:
    """The image model's adapter for `spec` (see the module docstring), in eval mode, on `device` (a name as
    `models.device.resolve_device` takes it: auto, cpu, cuda[:N], mps)."""
    device = prepare_device(resolve_device(device))
    adapter = _load_image_model(spec, latent=latent, seed=seed)
    adapter.module.to(device)
    return adapter


def _load_image_model(spec: str, *, latent: str, seed: int) -> AutoencoderAdapter:
    kind, location = parse_spec(spec)
    if kind in POINT_KINDS:
        raise ModelError(f"{spec} is a coordinate MLP (its tokens are 3D points, not images); this command takes "
                         "an image model (taef2, taesd, sd-vae or run); `frob models hooks` and `frob eval-nerf` take "
                         "NeRFs")
    if latent != "mean" and kind in ("taef2", "taesd"):
        raise ModelError(f"{kind} models have deterministic latents; latent sampling applies to sd-vae and kl-small runs")
    if kind == "taef2":
        from frobnoscope.models.autoencoders.taesd import load_taef2

        return load_taef2(location)
    if kind == "taesd":
        from frobnoscope.models.autoencoders.taesd import load_taesd

        return load_taesd(location)
    if kind == "sd-vae":
        from frobnoscope.models.autoencoders.sd_vae import load_sd_vae

        return load_sd_vae(location, latent=latent, seed=seed)
    from frobnoscope.models.autoencoders.train import load_run

    return load_run(location, latent=latent, seed=seed)


def load_any_model(spec: str, *, device: str | torch.device | None = "cpu"):
    """The adapter for any spec, NeRFs included (`nerf:` and `nerfstudio:` give point adapters, whose tokens are
    `models.nerf.adapter.PointBatch`es), on `device`; image models as `load_model` loads them by default."""
    kind, location = parse_spec(spec)
    if kind == "nerf":
        from frobnoscope.models.nerf.adapter import load_nerf

        return load_nerf(location, device=device)
    if kind == "field":
        from frobnoscope.models.field.adapter import load_field

        return load_field(location, device=device)
    if kind == "nerfstudio":
        from frobnoscope.models.nerfstudio.adapter import load_nerfstudio

        return load_nerfstudio(location, device=device)
    return load_model(spec, device=device)
