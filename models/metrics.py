"""Image quality against a reference, per frame: PSNR, SSIM and per-pixel squared error.

Inputs are torch tensors (B, 3, H, W) with values in [0, 1] (data range 1), normally linear RGB: frobnoscope judges
models in its own linear space. PSNR is 10 log10(1 / MSE) with the MSE over all pixels and channels, floored at
1e-10 (so at most 100 dB). SSIM follows Wang et al. (2004): an 11x11 Gaussian window with sigma 1.5, C1 = (0.01)^2,
C2 = (0.03)^2, computed per channel over the window positions that fit inside the image ("valid"), averaged
over positions and channels. Computed in float64.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

MSE_FLOOR = 1e-10
SSIM_WINDOW = 11
SSIM_SIGMA = 1.5
SSIM_C1 = 0.01**2
SSIM_C2 = 0.03**2


def squared_error_map(output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """(B, 3, H, W) pair -> (B, H, W): squared error averaged over the colour channels."""
    return (output.double() - target.double()).pow(2).mean(dim=1)


def psnr(output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """(B,) PSNR in dB of each frame."""
    mse = squared_error_map(output, target).flatten(1).mean(dim=1)
    return mse_to_psnr(mse)


def mse_to_psnr(mse: torch.Tensor) -> torch.Tensor:
    return -10 * torch.log10(mse.clamp_min(MSE_FLOOR))


def gaussian_window(size: int = SSIM_WINDOW, sigma: float = SSIM_SIGMA) -> torch.Tensor:
    """(size,) float64 weights summing to 1."""
    offsets = torch.arange(size, dtype=torch.float64) - (size - 1) / 2
    weights = torch.exp(-(offsets**2) / (2 * sigma**2))
    return weights / weights.sum()


def ssim_map(output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """(B, 3, H - 10, W - 10) SSIM at every window position that fits in the image."""
    x, y = output.double(), target.double()
    if min(x.shape[-2:]) < SSIM_WINDOW:
        raise ValueError(f"SSIM needs images of at least {SSIM_WINDOW}x{SSIM_WINDOW} pixels, got {tuple(x.shape[-2:])}")
    window = gaussian_window().to(x.device)
    channels = x.shape[1]

    def blur(image: torch.Tensor) -> torch.Tensor:  # separable Gaussian, per channel, valid region only
        image = F.conv2d(image, window.view(1, 1, 1, -1).expand(channels, 1, 1, -1), groups=channels)
        return F.conv2d(image, window.view(1, 1, -1, 1).expand(channels, 1, -1, 1), groups=channels)

    mu_x, mu_y = blur(x), blur(y)
    var_x = blur(x * x) - mu_x**2
    var_y = blur(y * y) - mu_y**2
    cov = blur(x * y) - mu_x * mu_y
    return ((2 * mu_x * mu_y + SSIM_C1) * (2 * cov + SSIM_C2)) / ((mu_x**2 + mu_y**2 + SSIM_C1) * (var_x + var_y + SSIM_C2))


def ssim(output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """(B,) mean SSIM of each frame."""
    return ssim_map(output, target).flatten(1).mean(dim=1)
