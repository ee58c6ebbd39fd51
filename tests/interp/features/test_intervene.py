"""Live intervention: scale 1 changes nothing, scale 0 is exactly the ablation `features label` measures importance
with (latent: its decoder contribution removed; channel: mean ablation), and the errors are MSE against the optimal
output."""

import numpy as np
import pytest
import torch

from frobnoscope.interp.features import effects
from frobnoscope.interp.features.intervene import Intervention, intervene, scale_edit
from frobnoscope.interp.sae.model import SAEConfig, SparseAutoencoder


@pytest.fixture(scope="module")
def sae():
    torch.manual_seed(0)
    model = SparseAutoencoder(SAEConfig(d_in=5, width=12, k=3))
    model.initialise_from(torch.randn(64, 5))
    return model.eval()


def test_scale_zero_is_the_ablation_and_scale_one_leaves_the_tokens(sae):
    tokens = torch.randn(40, 5)
    for feature in (0, 7):
        ablated = scale_edit("latent", feature, 0.0, sae=sae)(tokens)
        torch.testing.assert_close(ablated, effects.latent_ablation(sae, feature)(tokens))
        torch.testing.assert_close(scale_edit("latent", feature, 1.0, sae=sae)(tokens), tokens)
        doubled = scale_edit("latent", feature, 2.0, sae=sae)(tokens)
        code = sae.encode(tokens)[:, feature:feature + 1]
        torch.testing.assert_close(doubled, tokens + code * sae.directions()[feature])
    mean = float(tokens[:, 2].mean())
    torch.testing.assert_close(scale_edit("channel", 2, 0.0, channel_mean=mean)(tokens),
                               effects.channel_ablation(2, mean)(tokens))
    halved = scale_edit("channel", 2, 0.5, channel_mean=mean)(tokens)
    torch.testing.assert_close(halved[:, 2], mean + 0.5 * (tokens[:, 2] - mean))
    torch.testing.assert_close(halved[:, [0, 1, 3, 4]], tokens[:, [0, 1, 3, 4]])


def test_the_intervention_reports_mse_against_the_optimal_output(tiny_model_spec):
    from frobnoscope.models import load_model

    adapter = load_model(tiny_model_spec)
    hook = adapter.hook_points()[len(adapter.hook_points()) // 2]
    rgb = np.random.default_rng(0).random((32, 32, 3)).astype(np.float32)
    unchanged = intervene(adapter, rgb, hook, lambda tokens: tokens)
    np.testing.assert_allclose(unchanged.edited, unchanged.clean, atol=1e-6)
    zeroed = intervene(adapter, rgb, hook, torch.zeros_like)
    batch = torch.from_numpy(rgb).permute(2, 0, 1)[None]
    optimal = adapter.optimal_output(batch)[0].permute(1, 2, 0).numpy()
    np.testing.assert_allclose(zeroed.optimal, optimal)
    assert zeroed.clean_mse == pytest.approx(float(((zeroed.clean - optimal) ** 2).mean()), rel=1e-5)
    assert zeroed.edited_mse == pytest.approx(float(((zeroed.edited - optimal) ** 2).mean()), rel=1e-5)
    assert zeroed.edited_mse != pytest.approx(zeroed.clean_mse)
    np.testing.assert_allclose(zeroed.change, np.abs(zeroed.edited - zeroed.clean).sum(-1))
    assert Intervention.psnr(0.01) == pytest.approx(20.0)
