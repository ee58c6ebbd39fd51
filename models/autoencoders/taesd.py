"""The TAESD family (tiny distilled autoencoders for the SD, SDXL, FLUX.1 and FLUX.2 latent spaces) behind the
autoencoder adapter, from the original `<name>_encoder.pth`/`<name>_decoder.pth` pairs or diffusers `AutoencoderTiny`.

Original pairs take images in [0, 1] and return latents as the diffusion model sees them; diffusers' AutoencoderTiny
takes [-1, 1]. Both are display-encoded (the renderer's 1/2.2 gamma, as in our PNGs). Image sides: multiples of 8.
"""

from __future__ import annotations

from pathlib import Path

import torch

from frobnoscope.engine.tensor_files import load_state_dict
from frobnoscope.models.adapter import AutoencoderAdapter
from frobnoscope.models.autoencoders.taesd_arch import (
    TinyAutoencoder,
    decoder_latent_channels,
    encoder_latent_channels,
    pool_blocks_in,
    tiny_decoder,
    tiny_encoder,
)
from frobnoscope.models.autoencoders.weights import default_weights_dir
from frobnoscope.models.errors import WeightsError

WEIGHT_SUFFIXES = (".safetensors", ".pth")
TAEF2_PREFIX = "taef2"


class TAESDAdapter(AutoencoderAdapter):
    """An original TAESD pair: model range [0, 1], display encoding."""

    def __init__(self, model: TinyAutoencoder, *, name: str):
        super().__init__(model, name=name, downsampling_factor=TinyAutoencoder.downsampling_factor, encoding="display",
                         value_range=(0.0, 1.0))

    def encode_model(self, x: torch.Tensor) -> torch.Tensor:
        return self.module.encoder(x)

    def decode_model(self, latents: torch.Tensor) -> torch.Tensor:
        return self.module.decoder(latents)


class AutoencoderTinyAdapter(AutoencoderAdapter):
    """diffusers' AutoencoderTiny: model range [-1, 1], display encoding, latents times its `scaling_factor`."""

    def __init__(self, model, *, name: str):
        factor = 2 ** (len(model.config.encoder_block_out_channels) - 1)
        super().__init__(model, name=name, downsampling_factor=factor, encoding="display", value_range=(-1.0, 1.0))
        self.scaling_factor = float(model.config.scaling_factor)

    def encode_model(self, x: torch.Tensor) -> torch.Tensor:
        return self.module.encode(x).latents * self.scaling_factor

    def decode_model(self, latents: torch.Tensor) -> torch.Tensor:
        return self.module.decode(latents / self.scaling_factor).sample


def load_tiny_pair(prefix: Path) -> TinyAutoencoder:
    """`<prefix>_encoder` and `<prefix>_decoder` (.safetensors or .pth), loaded strictly into the TAESD layout."""
    try:
        encoder_state = load_state_dict(_weight_file(prefix, "encoder"))
        decoder_state = load_state_dict(_weight_file(prefix, "decoder"))
    except WeightsError as error:
        raise WeightsError(f"{error}; fetch the model's weights again") from None
    try:
        encoder = tiny_encoder(encoder_latent_channels(encoder_state), pool_blocks_in(encoder_state))
        decoder = tiny_decoder(decoder_latent_channels(decoder_state), pool_blocks_in(decoder_state))
    except (KeyError, IndexError, ValueError) as error:
        raise WeightsError(f"{prefix}_encoder/_decoder do not have the TAESD layout (no {error})") from None
    for part, module, state in (("encoder", encoder, encoder_state), ("decoder", decoder, decoder_state)):
        try:
            module.load_state_dict(state, strict=True)
        except RuntimeError as error:
            detail = str(error).splitlines()[1].strip() if len(str(error).splitlines()) > 1 else str(error)
            raise WeightsError(f"{_weight_file(prefix, part)} does not fit the TAESD {part} layout: "
                               f"{detail.rstrip('.')}; give the encoder and decoder files of one TAESD model") from None
    return TinyAutoencoder(encoder, decoder).eval()


def _weight_file(prefix: Path, part: str) -> Path:
    for suffix in WEIGHT_SUFFIXES:
        candidate = prefix.with_name(f"{prefix.name}_{part}{suffix}")
        if candidate.is_file():
            return candidate
    return prefix.with_name(f"{prefix.name}_{part}.pth")  # missing: load_state_dict names it


def pair_prefixes(directory: Path) -> list[str]:
    """Names X with both X_encoder and X_decoder weight files in `directory`."""
    found = set()
    for suffix in WEIGHT_SUFFIXES:
        for path in directory.glob(f"*_encoder{suffix}"):
            prefix = path.name.removesuffix(f"_encoder{suffix}")
            if any((directory / f"{prefix}_decoder{s}").is_file() for s in WEIGHT_SUFFIXES):
                found.add(prefix)
    return sorted(found)


def load_taesd(location: str) -> AutoencoderAdapter:
    """`taesd:` models: a diffusers AutoencoderTiny directory (or hub id), a directory holding one encoder/decoder
    pair, or a pair's path prefix (`DIR/taesdxl` for `DIR/taesdxl_encoder.pth` + `DIR/taesdxl_decoder.pth`)."""
    path = Path(location).expanduser()
    if path.is_dir() and not _is_diffusers_dir(path):
        prefixes = pair_prefixes(path)
        if len(prefixes) != 1:
            found = f"pairs {', '.join(prefixes)}; name one, e.g. taesd:{path / prefixes[0]}" if prefixes else "no <name>_encoder/<name>_decoder weight pair"
            raise WeightsError(f"{path} holds {found}")
        return TAESDAdapter(load_tiny_pair(path / prefixes[0]), name=prefixes[0])
    if any(path.with_name(f"{path.name}_{part}{s}").exists() for part in ("encoder", "decoder") for s in WEIGHT_SUFFIXES):
        return TAESDAdapter(load_tiny_pair(path), name=path.name)
    from diffusers import AutoencoderTiny

    from frobnoscope.models.autoencoders.pretrained import load_pretrained

    return AutoencoderTinyAdapter(load_pretrained(AutoencoderTiny, location, "taesd"), name=f"taesd:{location}")


def _is_diffusers_dir(path: Path) -> bool:
    return (path / "config.json").is_file() or (path / "vae" / "config.json").is_file()


def load_taef2(directory: str | None = None) -> TAESDAdapter:
    """TAEF2 (FLUX.2 latents, 32 channels) from `directory`, default `$FROB_WEIGHTS_DIR` or ../shared/weights."""
    directory = Path(directory).expanduser() if directory else default_weights_dir()
    return TAESDAdapter(load_tiny_pair(directory / TAEF2_PREFIX), name=TAEF2_PREFIX)

