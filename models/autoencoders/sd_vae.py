"""Stable Diffusion VAEs (diffusers `AutoencoderKL`) behind the autoencoder adapter; our `kl-small` shares this path.

Model input: images in [-1, 1], display-encoded for pretrained VAEs (the renderer's 1/2.2 gamma, as in our PNGs).
Latents are what a diffusion model sees: `(z - shift_factor) * scaling_factor`, where z is the posterior mean
(`latent="mean"`, the default) or a sample from it (`latent="sample"`, noise from a generator seeded with `seed` on
every pass, so a batch always gets the same noise). Image sides must be multiples of 2^(number of blocks - 1), 8 for SD.
"""

from __future__ import annotations

from typing import Literal

import torch

from frobnoscope.models.adapter import AutoencoderAdapter
from frobnoscope.models.errors import ModelError
from frobnoscope.models.images import Encoding

LatentMode = Literal["mean", "sample"]
LATENT_MODES = ("mean", "sample")


class KLAutoencoderAdapter(AutoencoderAdapter):
    def __init__(self, vae, *, name: str, latent: LatentMode = "mean", seed: int = 0, encoding: Encoding = "display"):
        if latent not in LATENT_MODES:
            raise ModelError(f"latent must be one of {', '.join(LATENT_MODES)}, got {latent!r}")
        super().__init__(vae, name=name, downsampling_factor=2 ** (len(vae.config.block_out_channels) - 1),
                         encoding=encoding, value_range=(-1.0, 1.0))
        self.latent = latent
        self.seed = seed
        self.scaling_factor = float(vae.config.scaling_factor)
        self.shift_factor = float(vae.config.shift_factor or 0.0)

    def posterior(self, x: torch.Tensor):
        """The encoder's diagonal Gaussian over (unscaled) latents."""
        return self.module.encode(x).latent_dist

    def encode_model(self, x: torch.Tensor) -> torch.Tensor:
        posterior = self.posterior(x)
        if self.latent == "mean":
            z = posterior.mean
        else:
            z = posterior.sample(generator=torch.Generator(x.device).manual_seed(self.seed))
        return (z - self.shift_factor) * self.scaling_factor

    def decode_model(self, latents: torch.Tensor) -> torch.Tensor:
        return self.module.decode(latents / self.scaling_factor + self.shift_factor).sample

    def training_reconstruction(self, x: torch.Tensor, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        """Decode a posterior sample (reparameterised); the regulariser is the KL divergence to N(0, I),
        summed over latent elements and averaged over the batch."""
        posterior = self.posterior(x)
        return self.module.decode(posterior.sample(generator=generator)).sample, posterior.kl().mean()


def load_sd_vae(location: str, *, latent: LatentMode = "mean", seed: int = 0) -> KLAutoencoderAdapter:
    """An SD VAE from a diffusers directory (or a pipeline directory with `vae/`) or a hub id (needs a network)."""
    from diffusers import AutoencoderKL

    from frobnoscope.models.autoencoders.pretrained import load_pretrained

    vae = load_pretrained(AutoencoderKL, location, "sd-vae")
    return KLAutoencoderAdapter(vae, name=f"sd-vae:{location}", latent=latent, seed=seed)
