"""Sparse autoencoders over a hook point's tokens (one token = one spatial position's channel vector).

Conventions (x: a token, d = its channel count, M = the dictionary width):
  input normalisation  x_n = s * x with one stored scalar s = sqrt(d / E||x||^2) (buffer `input_scale`, measured
                       on the first training batch), so that E||x_n||^2 = d whatever the hook's units are.
  encoder (untied)     pre = (x_n - b_dec) @ W_enc + b_enc          W_enc (d, M), b_enc (M,)
  activation           topk:      keep each token's k largest of relu(pre) (Gao et al. 2024)
                       batchtopk: keep the batch's k * B largest of relu(pre) (Bussmann et al. 2024); outside
                                  training a token keeps relu(pre) > `threshold`, the running mean of the smallest
                                  kept value per batch, so a token's code does not depend on its batch
                       jumprelu:  z = relu(pre) * H(relu(pre) - theta), theta = exp(log_threshold) per latent; the
                                  threshold learns through the straight-through estimator of Rajamanoharan et al.
                                  2024 (rectangle kernel of width `bandwidth`, 0.05; theta starts at 0.1: the paper's 0.001 for
                                  both suits its 1e5-step runs, not short ones)
  decoder (untied)     x_n_hat = z @ W_dec + b_dec                     W_dec (M, d): row i is latent i's direction
                       ("decoder column" in the papers' (d, M) layout); rows are kept at unit norm (gradients
                       projected onto the tangent space before each step, rows renormalised after it).
  back to hook units   x_hat = x_n_hat / s

Losses (per token, averaged over the batch; all in normalised units):
  reconstruction  ||x_n - x_n_hat||^2 / d
  AuxK            ||e - e_hat||^2 / d with e = x_n - x_n_hat (detached) and e_hat the decoder's reconstruction of e
                  from the `aux_k` largest pre-activations among dead latents (no token fired them in the last
                  `dead_tokens` tokens); weight `aux_coefficient` (Gao et al.: 1/32)
  JumpReLU L0     lambda * sum_i H(relu(pre_i) - theta_i); lambda follows a multiplicative controller so that the
                  batch L0 approaches k: lambda <- lambda * exp(0.05 * (L0 - k) / k)
  frequency cost  optional (`frequency_cost` = gamma > 0): gamma * sum_i w_i * |z_i| / d (JumpReLU: the L0 penalty
                  becomes lambda * sum_i w_i * H(.), gamma only switches it on) with
                  w_i = min(2, ln(1 / f_i) / ln(d)), f_i the latent's firing frequency (EMA over batches, floor
                  1e-6). A latent firing on 1/d of tokens costs 1, one firing on every token costs 0: frequent
                  latents are cheaper, so a compositional code is cheaper as two common latents than one rare one
                  (the absorption note's proposal, its lost formula replaced by this log-frequency discount).
"""

from __future__ import annotations

import math
from typing import Annotated, Literal

import torch
from pydantic import Field, ValidationInfo, field_validator
from torch import nn

from frobnoscope.engine.config import Config

L0_CONTROL_RATE = 0.05

# the settings an SAE run (`sae.run.SAERunConfig`) passes on to its SAE, described once for both
Arch = Annotated[Literal["topk", "batchtopk", "jumprelu"], Field(description="topk, batchtopk or jumprelu")]
Width = Annotated[int, Field(ge=1, description="dictionary size M (latents)")]
K = Annotated[int, Field(ge=1, description="active latents per token (topk, batchtopk); target L0 (jumprelu)")]
FrequencyCost = Annotated[float, Field(ge=0, description="weight of the frequency-discounted sparsity cost (see "
                                                         "`frobnoscope.interp.sae.model`)")]


def k_within_width(cls, k: int, info: ValidationInfo) -> int:
    """A field validator of `k`: at most `width` latents can be active."""
    width = info.data.get("width")
    if width is not None and k > width:
        raise ValueError(f"must be at most width ({width}), got {k}")
    return k


class SAEConfig(Config):
    """An SAE's shape and losses (the module docstring's symbols); stored in its directory's manifest and in the
    metadata of sae.safetensors as `to_dict()`."""

    d_in: int = Field(ge=1, description="the hook's channel count d")
    width: Width
    arch: Arch = "topk"
    k: K = 32
    aux_k: int = Field(0, ge=0, description="latents the AuxK loss reconstructs from (0: min(2 * d_in, width // 2))")
    aux_coefficient: float = Field(1 / 32, ge=0, description="weight of the AuxK loss")
    dead_tokens: int = Field(200_000, ge=1, description="a latent no token fired in this many tokens is dead")
    bandwidth: float = Field(0.05, gt=0, description="JumpReLU straight-through kernel width (normalised units)")
    initial_threshold: float = Field(0.1, gt=0, description="JumpReLU's starting threshold theta (the paper's 0.001 "
                                                            "needs ~1e5 Adam steps on log(theta) to reach O(1) values)")
    frequency_cost: FrequencyCost = 0.0

    _k_within_width = field_validator("k")(classmethod(k_within_width))

    @property
    def effective_aux_k(self) -> int:
        return self.aux_k or max(1, min(2 * self.d_in, self.width // 2))


class _JumpReLU(torch.autograd.Function):
    """z * H(z - theta); d/dz = H(z - theta), d/dtheta = -(theta / eps) * rect((z - theta) / eps)."""

    @staticmethod
    def forward(ctx, z, theta, bandwidth):
        ctx.save_for_backward(z, theta)
        ctx.bandwidth = bandwidth
        return z * (z > theta)

    @staticmethod
    def backward(ctx, grad):
        z, theta = ctx.saved_tensors
        eps = ctx.bandwidth
        window = ((z - theta).abs() < eps / 2).to(grad.dtype)
        grad_theta = (-(theta / eps) * window * grad).sum(0)
        return grad * (z > theta), grad_theta, None


class _Step(torch.autograd.Function):
    """H(z - theta); d/dz = 0, d/dtheta = -(1 / eps) * rect((z - theta) / eps)."""

    @staticmethod
    def forward(ctx, z, theta, bandwidth):
        ctx.save_for_backward(z, theta)
        ctx.bandwidth = bandwidth
        return (z > theta).to(z.dtype)

    @staticmethod
    def backward(ctx, grad):
        z, theta = ctx.saved_tensors
        eps = ctx.bandwidth
        window = ((z - theta).abs() < eps / 2).to(grad.dtype)
        return None, (-(1.0 / eps) * window * grad).sum(0), None


class SparseAutoencoder(nn.Module):
    def __init__(self, config: SAEConfig, generator: torch.Generator | None = None):
        super().__init__()
        self.config = config
        d, m = config.d_in, config.width
        decoder = torch.randn(m, d, generator=generator)
        decoder /= decoder.norm(dim=1, keepdim=True)
        self.W_dec = nn.Parameter(decoder)
        self.W_enc = nn.Parameter(decoder.t().clone())  # Gao et al.: encoder initialised as the decoder's transpose
        self.b_enc = nn.Parameter(torch.zeros(m))
        self.b_dec = nn.Parameter(torch.zeros(d))
        if config.arch == "jumprelu":
            self.log_threshold = nn.Parameter(torch.full((m,), math.log(config.initial_threshold)))
        self.register_buffer("input_scale", torch.zeros(()))
        self.register_buffer("threshold", torch.zeros(()))  # batchtopk's inference threshold
        self.register_buffer("l0_coefficient", torch.tensor(1e-3))  # jumprelu's lambda (controlled)
        self.register_buffer("tokens_since_fired", torch.zeros(m, dtype=torch.int64))
        self.register_buffer("firing_frequency", torch.full((m,), 1.0 / m))

    # --- normalisation ---------------------------------------------------------------------------

    def initialise_from(self, x: torch.Tensor) -> None:
        """Set `input_scale` from a batch of raw tokens, and b_dec to the batch's normalised mean."""
        with torch.no_grad():
            self.input_scale.fill_(math.sqrt(self.config.d_in / x.pow(2).sum(1).mean().clamp_min(1e-12).item()))
            self.b_dec.copy_((x * self.input_scale).mean(0))

    def normalise(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.input_scale

    # --- encoding and decoding -------------------------------------------------------------------

    def pre_activations(self, x_n: torch.Tensor) -> torch.Tensor:
        return torch.relu(torch.addmm(self.b_enc, x_n - self.b_dec, self.W_enc))

    def activate(self, pre: torch.Tensor) -> torch.Tensor:
        """Sparse codes (B, M) from relu'd pre-activations, as the architecture says (training or not)."""
        arch = self.config.arch
        if arch == "topk" or (arch == "batchtopk" and not self.training and self.threshold <= 0):
            values, indices = pre.topk(self.config.k, dim=1)
            return torch.zeros_like(pre).scatter_(1, indices, values)
        if arch == "batchtopk":
            if not self.training:
                return pre * (pre > self.threshold)
            flat = pre.flatten()
            values, indices = flat.topk(self.config.k * pre.shape[0])
            with torch.no_grad():
                smallest = values[-1].clamp_min(0)
                self.threshold.copy_(smallest if self.threshold <= 0 else 0.99 * self.threshold + 0.01 * smallest)
            return torch.zeros_like(flat).scatter_(0, indices, values).view_as(pre)
        return _JumpReLU.apply(pre, self.log_threshold.exp(), self.config.bandwidth)

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """Raw tokens (B, d) in hook units -> codes (B, M)."""
        return self.activate(self.pre_activations(self.normalise(x)))

    def decode_normalised(self, z: torch.Tensor) -> torch.Tensor:
        return torch.addmm(self.b_dec, z, self.W_dec)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """Codes (B, M) -> reconstructed tokens (B, d) in hook units."""
        return self.decode_normalised(z) / self.input_scale

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.decode(self.encode(x))

    def directions(self) -> torch.Tensor:
        """Latent i's contribution to a token in hook units per unit of activation: W_dec[i] / s (M, d)."""
        return self.W_dec / self.input_scale

    # --- training --------------------------------------------------------------------------------

    def dead_mask(self) -> torch.Tensor:
        return self.tokens_since_fired >= self.config.dead_tokens

    def losses(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        """Training losses for raw tokens `x` (B, d); updates the firing statistics. 'loss' is their weighted sum.

        TopK and BatchTopK train on the selected (token, latent) pairs only: the dense pre-activations are computed
        without gradients to choose them, then the chosen ones are recomputed with gradients from gathered encoder
        columns and decoded from gathered decoder rows (TopK's k per token as batched dot products, BatchTopK's
        pairs with index_add), so the backward pass costs O(B k d), not O(B M d)."""
        x_n = self.normalise(x)
        if self.config.arch == "jumprelu":
            return self._dense_losses(x_n)
        return self._sparse_losses(x_n)

    def _sparse_losses(self, x_n: torch.Tensor) -> dict[str, torch.Tensor]:
        config = self.config
        batch = x_n.shape[0]
        centred = x_n - self.b_dec
        with torch.no_grad():
            pre = torch.addmm(self.b_enc, centred, self.W_enc).relu_()
            tokens, latents = self._select(pre)
        values = self._pair_pre_activations(centred, tokens, latents)
        x_hat = self._decode_pairs(tokens, latents, values, batch) + self.b_dec
        residual = x_n - x_hat
        out = {"reconstruction": residual.pow(2).sum(1).mean() / config.d_in}
        fired = values.detach() > 0
        out["l0"] = fired.sum() / batch
        self._update_firing_counts(torch.bincount(latents[fired], minlength=config.width), batch)
        loss = out["reconstruction"]
        dead = self.dead_mask()
        if config.aux_coefficient > 0 and bool(dead.any()):
            k_aux = min(config.effective_aux_k, int(dead.sum()))
            with torch.no_grad():
                aux_latents = pre.masked_fill(~dead, -1.0).topk(k_aux, dim=1).indices
            aux_values = self._pair_pre_activations(centred.detach(), None, aux_latents)
            residual_hat = self._decode_pairs(None, aux_latents, aux_values, batch)
            out["aux"] = (residual.detach() - residual_hat).pow(2).sum(1).mean() / config.d_in
            loss = loss + config.aux_coefficient * out["aux"]
        if config.frequency_cost > 0:
            out["sparsity"] = (values * self._frequency_weights()[latents]).sum() / batch / config.d_in
            loss = loss + config.frequency_cost * out["sparsity"]
        out["loss"] = loss
        return out

    def _select(self, pre: torch.Tensor) -> tuple[torch.Tensor | None, torch.Tensor]:
        """(token index, latent index) of the pairs the architecture keeps (training mode); TopK keeps k per token:
        (None, latents (B, k))."""
        batch, k = pre.shape[0], self.config.k
        if self.config.arch == "topk":
            return None, pre.topk(k, dim=1).indices
        values, flat = pre.flatten().topk(k * batch)
        smallest = values[-1].clamp_min(0)
        self.threshold.copy_(smallest if self.threshold <= 0 else 0.99 * self.threshold + 0.01 * smallest)
        return flat // self.config.width, flat % self.config.width

    def _pair_pre_activations(self, centred: torch.Tensor, tokens: torch.Tensor | None,
                              latents: torch.Tensor) -> torch.Tensor:
        """Relu'd pre-activations of the pairs (tokens[i], latents[i]); with tokens None, latents (B, j) holds j
        latents per token and the result is (B, j), computed as batched dot products (no gathered token copies)."""
        columns = torch.nn.functional.embedding(latents, self.W_enc.t())
        if tokens is None:
            return torch.relu(torch.bmm(columns, centred.unsqueeze(2)).squeeze(2) + self.b_enc[latents])
        return torch.relu((centred[tokens] * columns).sum(1) + self.b_enc[latents])

    def _decode_pairs(self, tokens: torch.Tensor | None, latents: torch.Tensor, values: torch.Tensor,
                      batch: int) -> torch.Tensor:
        """sum over pairs of values[i] W_dec[latents[i]] into row tokens[i] (tokens None: latents and values (B, j))."""
        rows = torch.nn.functional.embedding(latents, self.W_dec)
        if tokens is None:
            return torch.bmm(values.unsqueeze(1), rows).squeeze(1)
        return torch.zeros(batch, self.config.d_in, dtype=rows.dtype).index_add(0, tokens, rows * values[:, None])

    def _dense_losses(self, x_n: torch.Tensor) -> dict[str, torch.Tensor]:
        config = self.config
        pre = self.pre_activations(x_n)
        z = self.activate(pre)
        residual = x_n - self.decode_normalised(z)
        out = {"reconstruction": residual.pow(2).sum(1).mean() / config.d_in}
        fired = z > 0
        l0 = fired.sum(1).float().mean()
        out["l0"] = l0.detach()
        self._update_firing_counts(fired.sum(0), fired.shape[0])
        loss = out["reconstruction"]
        dead = self.dead_mask()
        if config.aux_coefficient > 0 and bool(dead.any()):
            out["aux"] = self._aux_loss(pre, residual.detach(), dead)
            loss = loss + config.aux_coefficient * out["aux"]
        active = _Step.apply(pre, self.log_threshold.exp(), config.bandwidth)
        if config.frequency_cost > 0:
            active = active * self._frequency_weights()
        out["sparsity"] = active.sum(1).mean()
        loss = loss + self.l0_coefficient.clone() * out["sparsity"]
        with torch.no_grad():
            self.l0_coefficient.mul_(math.exp(L0_CONTROL_RATE * (l0.item() - config.k) / config.k))
        out["loss"] = loss
        return out

    def _aux_loss(self, pre: torch.Tensor, residual: torch.Tensor, dead: torch.Tensor) -> torch.Tensor:
        """AuxK on dense pre-activations (JumpReLU): the dead latents' top pre-activations reconstruct `residual`."""
        batch, k_aux = pre.shape[0], min(self.config.effective_aux_k, int(dead.sum()))
        indices = pre.detach().masked_fill(~dead, -1.0).topk(k_aux, dim=1).indices
        residual_hat = self._decode_pairs(None, indices, pre.gather(1, indices), batch)
        return (residual - residual_hat).pow(2).sum(1).mean() / self.config.d_in

    def _update_firing_counts(self, counts: torch.Tensor, batch: int) -> None:
        """counts (M,): tokens of this batch each latent fired on."""
        with torch.no_grad():
            self.tokens_since_fired.add_(batch).masked_fill_(counts > 0, 0)
            self.firing_frequency.mul_(0.99).add_(0.01 * counts.float() / batch)

    def _frequency_weights(self) -> torch.Tensor:
        frequency = self.firing_frequency.clamp_min(1e-6)
        return (torch.log(1 / frequency) / math.log(max(self.config.d_in, 2))).clamp(0, 2)

    @torch.no_grad()
    def project_decoder_gradient(self) -> None:
        """Remove the radial part of each decoder row's gradient (rows stay on the unit sphere to first order)."""
        if self.W_dec.grad is not None:
            radial = (self.W_dec.grad * self.W_dec).sum(1, keepdim=True)
            self.W_dec.grad.sub_(radial * self.W_dec)

    @torch.no_grad()
    def normalise_decoder(self) -> None:
        self.W_dec.div_(self.W_dec.norm(dim=1, keepdim=True).clamp_min(1e-12))
