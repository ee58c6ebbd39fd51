"""Adapters: loading each model kind through its real path, conversions, hook points, capture, intervention, input checks."""

import numpy as np
import pytest
import torch

from frobnoscope.models import ModelAdapter, load_model, metrics
from frobnoscope.models.errors import InputError, ModelError, WeightsError
from frobnoscope.models.hooks import CallSiteHooks
from frobnoscope.scenes.render import Renderer
from frobnoscope.scenes.scene import Scene
from frobnoscope.scenes.spec import (
    Box,
    Camera,
    DirectionalLight,
    Material,
    ObjectSpec,
    Plane,
    SceneSpec,
    Sphere,
    Transform,
)


def simple_scene(res: int) -> np.ndarray:
    """A sphere and a box on a plain floor, one key light: (1, res, res, 3) linear RGB."""
    objects = [
        ObjectSpec(name="floor", shape=Plane(size=8), material=Material(base_color=(0.6, 0.6, 0.6), roughness=0.9)),
        ObjectSpec(name="ball", shape=Sphere(radius=0.5), material=Material(base_color=(0.8, 0.3, 0.2)),
                   transform=Transform(position=(-0.5, 0.5, 0.0))),
        ObjectSpec(name="box", shape=Box(extents=(0.6, 0.6, 0.6)), material=Material(base_color=(0.2, 0.4, 0.8), roughness=0.6),
                   transform=Transform(position=(0.7, 0.3, 0.2), rotation_deg=(0, 30, 0))),
    ]
    camera = Camera.look_at((2.5, 2.5, 4.0), (0.0, 0.3, 0.0), fov_y_deg=45, width=res, height=res)
    spec = SceneSpec(objects=objects, lights=[DirectionalLight(direction=(-0.5, -1.0, -0.3), intensity=3.0)],
                     ambient=(0.2, 0.2, 0.2), camera=camera)
    with Renderer() as renderer:
        return renderer.render(Scene(spec), camera).rgb[None]


@pytest.fixture(scope="module")
def kl_dir(tiny_autoencoder_kl, tmp_path_factory):
    directory = tmp_path_factory.mktemp("sd-vae")
    tiny_autoencoder_kl().save_pretrained(directory)
    return directory


@pytest.fixture(scope="module")
def taesd_prefix(save_tiny_taesd_pair, tmp_path_factory):
    return save_tiny_taesd_pair(tmp_path_factory.mktemp("taesd"))


def images(batch=2, res=32, seed=0) -> np.ndarray:
    return np.random.default_rng(seed).random((batch, res, res, 3), dtype=np.float32)


# --- TAEF2, the real weights ---------------------------------------------------------------------------------


def test_taef2_loads_strictly_and_reconstructs_a_rendered_scene_well(taef2_dir):
    adapter = load_model(f"taef2:{taef2_dir}")
    assert isinstance(adapter, ModelAdapter) and adapter.name == "taef2" and adapter.downsampling_factor == 8
    scene = simple_scene(256)
    output = adapter.forward(scene)
    assert output.shape == scene.shape and output.dtype == np.float32
    to_tensor = lambda a: torch.from_numpy(a).permute(0, 3, 1, 2)  # noqa: E731
    psnr = float(metrics.psnr(to_tensor(output), to_tensor(scene)))
    assert psnr > 34.0  # measured 35.2 dB (linear RGB); the weights' README: about 40 dB on a tabletop frame
    latents = adapter.encode(scene)
    assert latents.shape == (1, 32, 32, 32) and float(latents.abs().max()) < 10
    with adapter.intervene("decoder.3.pool", torch.zeros_like):  # the FLUX.2 GroupNorm branch matters
        ablated = adapter.forward(scene)
    assert float(metrics.psnr(to_tensor(ablated), to_tensor(scene))) < psnr - 3


# --- hook points, capture, intervene --------------------------------------------------------------------------


def test_hook_points_are_one_per_call_site_with_call_suffixes_for_reused_modules(kl_dir):
    adapter = load_model(f"sd-vae:{kl_dir}")
    names = adapter.hook_points()
    assert len(names) == len(set(names))
    # diffusers' ResnetBlock2D applies one `nonlinearity` module twice: two hook points
    assert "encoder.down_blocks.0.resnets.0.nonlinearity.call0" in names
    assert "encoder.down_blocks.0.resnets.0.nonlinearity.call1" in names
    assert "encoder.down_blocks.0.resnets.0.nonlinearity" not in names
    assert names.index("encoder.conv_in") < names.index("quant_conv") < names.index("post_quant_conv") < names.index("decoder.conv_out")
    assert load_model(f"sd-vae:{kl_dir}").hook_points() == names  # stable across loads


def test_capture_returns_every_hook_point_by_reference_and_leaves_the_output_alone(kl_dir):
    adapter = load_model(f"sd-vae:{kl_dir}")
    batch = images()
    plain = adapter.forward(batch)
    captured = adapter.capture(batch)
    assert list(captured) == adapter.hook_points()
    np.testing.assert_array_equal(adapter.forward(batch), plain)
    first, second = (captured[f"encoder.down_blocks.0.resnets.0.nonlinearity.call{k}"] for k in (0, 1))
    assert first.shape == second.shape == (2, 8, 32, 32) and not torch.equal(first, second)
    # the decoder's output is what postprocess turns into the images
    np.testing.assert_allclose(adapter.postprocess(captured["decoder"]).permute(0, 2, 3, 1).numpy(), plain, atol=1e-6)
    # a Sequential's output is its last layer's output: the same tensor, stored once
    assert captured["decoder.conv_out"].data_ptr() == captured["decoder"].data_ptr()
    subset = adapter.capture(batch, ["quant_conv", "decoder.mid_block"])
    assert list(subset) == ["quant_conv", "decoder.mid_block"]
    torch.testing.assert_close(subset["quant_conv"], captured["quant_conv"])
    assert not any(m._forward_hooks for m in adapter.module.modules())  # hooks live only inside capture


def test_capture_clones_only_outputs_the_model_changes_in_place():
    class InPlace(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.first = torch.nn.Conv2d(3, 3, 1)
            self.second = torch.nn.Conv2d(3, 3, 1)

        def forward(self, x):
            y = self.first(x)
            y.mul_(2)  # changes `first`'s output after its hook ran
            return self.second(y)

    model = InPlace()
    x = torch.randn(1, 3, 4, 4)
    hooks = CallSiteHooks(model, lambda: model(x))
    assert hooks.sites()["first"].mutated_later and not hooks.sites()["second"].mutated_later
    with hooks.forward_pass(), hooks.capturing(["first", "second"]) as store, torch.no_grad():
        model(x)
    torch.testing.assert_close(store["first"], model.first(x).detach())


def test_intervene_replaces_one_call_site_only_and_restores_on_exit(kl_dir):
    adapter = load_model(f"sd-vae:{kl_dir}")
    batch = images()
    plain = adapter.forward(batch)
    name = "encoder.down_blocks.0.resnets.0.nonlinearity.call1"
    before = adapter.capture(batch, [name.replace("call1", "call0"), name])
    with adapter.intervene(name, torch.zeros_like):
        ablated = adapter.forward(batch)
        during = adapter.capture(batch, [name.replace("call1", "call0"), name])
    torch.testing.assert_close(during[name.replace("call1", "call0")], before[name.replace("call1", "call0")])
    assert float(during[name].abs().max()) == 0.0
    assert np.abs(ablated - plain).max() > 1e-4
    steer = torch.zeros(1, 8, 1, 1)
    with adapter.intervene(name, lambda a: a + steer):  # steering by zero changes nothing
        np.testing.assert_allclose(adapter.forward(batch), plain, atol=1e-6)
    np.testing.assert_array_equal(adapter.forward(batch), plain)
    assert not any(m._forward_hooks for m in adapter.module.modules())
    with pytest.raises(ModelError, match="no hook point 'encoder.nope'"):
        with adapter.intervene("encoder.nope", torch.zeros_like):
            pass


# --- SD VAE ---------------------------------------------------------------------------------------------------


def test_sd_vae_scales_latents_samples_with_a_seed_and_converts_ranges(kl_dir, tiny_autoencoder_kl, tmp_path):
    adapter = load_model(f"sd-vae:{kl_dir}")
    batch = torch.from_numpy(images()).permute(0, 3, 1, 2)
    x = adapter.preprocess(batch)
    assert float(x.min()) >= -1 and float(x.max()) <= 1  # [-1, 1], display-encoded
    torch.testing.assert_close(x, (batch.clamp(0, 1) ** (1 / 2.2)) * 2 - 1)
    torch.testing.assert_close(adapter.postprocess(x), batch, atol=1e-5, rtol=0)
    latents = adapter.encode(batch)
    with torch.no_grad():
        mean = adapter.module.encode(x).latent_dist.mean
    torch.testing.assert_close(latents, mean * 0.5)  # scaling_factor of the tiny config
    assert latents.shape == (2, 4, 16, 16)
    sampled = load_model(f"sd-vae:{kl_dir}", latent="sample", seed=3)
    again = load_model(f"sd-vae:{kl_dir}", latent="sample", seed=3)
    torch.testing.assert_close(sampled.encode(batch), again.encode(batch))
    assert not torch.allclose(sampled.encode(batch), latents)
    assert isinstance(adapter.forward(batch), torch.Tensor) and adapter.forward(batch).shape == batch.shape
    assert adapter.optimal_output(batch) is batch
    pipeline = tmp_path / "pipeline"
    tiny_autoencoder_kl().save_pretrained(pipeline / "vae")
    np.testing.assert_allclose(load_model(f"sd-vae:{pipeline}").forward(images()), adapter.forward(images()), atol=1e-6)


def test_hub_id_offline_is_a_one_line_error_naming_the_fix(monkeypatch):
    import huggingface_hub.constants

    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    with pytest.raises(WeightsError) as error:
        load_model("sd-vae:nobody-here/no-such-vae")
    message = str(error.value)
    assert "\n" not in message and "hf download nobody-here/no-such-vae --local-dir DIR" in message and "sd-vae:DIR" in message


# --- TAESD family ---------------------------------------------------------------------------------------------


def test_taesd_pairs_load_from_prefix_directory_or_safetensors(taesd_prefix, save_tiny_taesd_pair, tmp_path):
    def same_weights(a, b):
        return all(torch.equal(x, y) for x, y in zip(a.module.state_dict().values(), b.module.state_dict().values()))

    by_prefix = load_model(f"taesd:{taesd_prefix}")
    assert by_prefix.name == "tiny" and by_prefix.value_range == (0.0, 1.0)
    assert same_weights(by_prefix, load_model(f"taesd:{taesd_prefix.parent}"))
    assert same_weights(by_prefix, load_model(f"taesd:{save_tiny_taesd_pair(tmp_path, suffix='.safetensors')}"))
    assert by_prefix.module.decoder[3].pool is not None and by_prefix.module.decoder[8].pool is None
    save_tiny_taesd_pair(tmp_path, name="other", pool=False)
    with pytest.raises(WeightsError, match="pairs other, tiny; name one"):
        load_model(f"taesd:{tmp_path}")


def test_taesd_pair_with_another_layout_is_refused(save_tiny_taesd_pair, tmp_path):
    prefix = save_tiny_taesd_pair(tmp_path, pool=False)
    decoder = torch.load(f"{prefix}_decoder.pth", weights_only=True)
    decoder["3.extra.weight"] = torch.zeros(1)
    torch.save(decoder, f"{prefix}_decoder.pth")
    with pytest.raises(WeightsError, match=r"tiny_decoder.pth does not fit the TAESD decoder layout: Unexpected key"):
        load_model(f"taesd:{prefix}")


def test_diffusers_autoencoder_tiny_directory(tmp_path):
    from diffusers import AutoencoderTiny

    torch.manual_seed(0)
    AutoencoderTiny(encoder_block_out_channels=(8, 8, 8, 8), decoder_block_out_channels=(8, 8, 8, 8),
                    num_encoder_blocks=(1, 1, 1, 1), num_decoder_blocks=(1, 1, 1, 1), latent_channels=4).save_pretrained(tmp_path)
    adapter = load_model(f"taesd:{tmp_path}")
    assert adapter.downsampling_factor == 8 and adapter.value_range == (-1.0, 1.0)
    assert adapter.forward(images()).shape == (2, 32, 32, 3)
    assert adapter.encode(images()).shape == (2, 4, 4, 4)


# --- input checks ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("batch, message", [
    (np.zeros((1, 36, 36, 3), np.float32), "image size 36x36 is not a multiple of 8, tiny's downsampling factor; crop or resize to e.g. 32x32"),
    (np.zeros((1, 32, 32, 4), np.float32), "images need 3 colour channels"),
    (torch.zeros(1, 1, 32, 32), "images need 3 colour channels"),
    (np.full((2, 32, 32, 3), np.nan, np.float32), "input has NaN values in frames 0, 1"),
    (np.zeros((32, 32, 3), np.float32), "expected a numpy batch of shape (B, H, W, 3)"),
])
def test_bad_input_is_a_one_line_error(taesd_prefix, batch, message):
    adapter = load_model(f"taesd:{taesd_prefix}")
    with pytest.raises(InputError) as error:
        adapter.forward(batch)
    assert message in str(error.value) and "\n" not in str(error.value)


@pytest.mark.parametrize("spec, message", [
    ("vqgan:foo", "unknown model spec 'vqgan:foo'"),
    ("taesd", "needs a location"),
    ("sd-vae:./missing-dir", "./missing-dir does not exist"),
    ("taef2", None),
])
def test_model_specs(spec, message, monkeypatch, tmp_path):
    monkeypatch.setenv("FROB_WEIGHTS_DIR", str(tmp_path))
    if message is None:  # taef2 honours FROB_WEIGHTS_DIR: here an empty directory
        with pytest.raises(WeightsError, match=f"weight file {tmp_path}/taef2_encoder.pth does not exist"):
            load_model(spec)
        return
    with pytest.raises((ModelError, WeightsError), match=message):
        load_model(spec)
