"""Which hook points a capture takes: a glob that also matches hook points whose output is not image-like (an SD
VAE's mid-block attention, (B, tokens, C)) skips them with a note; naming one exactly is a one-line error."""

from __future__ import annotations

import pytest

from frobnoscope.interp.activations.capture import CaptureConfig, capture
from frobnoscope.interp.activations.store import ActivationStore
from frobnoscope.interp.errors import InterpError


@pytest.fixture(scope="module")
def sd_vae_spec(tiny_autoencoder_kl, tmp_path_factory) -> str:
    directory = tmp_path_factory.mktemp("sd-vae")
    tiny_autoencoder_kl().save_pretrained(directory)
    return f"sd-vae:{directory}"


def test_a_glob_skips_hook_points_that_are_not_image_like_and_records_them(interp_dataset, sd_vae_spec, tmp_path,
                                                                          frob_cli):
    config = CaptureConfig(model=sd_vae_spec, hooks="decoder.mid_block.*", batch_size=8, frames=8)
    store = ActivationStore.open(capture(interp_dataset.path, tmp_path / "run", config))
    skipped = store.manifest["skipped_hooks"]
    assert "decoder.mid_block.attentions.0.to_q" in skipped and store.hooks()
    assert not set(skipped) & set(store.hooks())
    assert all(len(store.shape(hook)) == 3 for hook in store.hooks())  # (h, w, C) per frame
    code, err = frob_cli("capture", interp_dataset.path, "--model", sd_vae_spec, "--hooks", "decoder.mid_block.*",
                         "--frames", "8", "--out", tmp_path / "cli")
    assert code == 0 and f"note: skipped {len(skipped)} hook points" in err


def test_naming_a_hook_point_that_is_not_image_like_is_one_line(interp_dataset, sd_vae_spec, tmp_path):
    config = CaptureConfig(model=sd_vae_spec, hooks="decoder.mid_block.attentions.0.to_q", batch_size=8, frames=8)
    with pytest.raises(InterpError, match=r"outputs shape \(1, \d+, \d+\), not \(B, C, h, w\)"):
        capture(interp_dataset.path, tmp_path / "run", config)
    assert not (tmp_path / "run" / "manifest.json").exists()
