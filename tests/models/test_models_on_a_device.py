"""Models on a device other than the CPU, tried on the CPU with torch's `meta` device (shapes without data): a tensor
made on the CPU inside a forward pass, or a CPU generator handed to a device op, fails there as it would on a GPU."""

from __future__ import annotations

import pytest
import torch

META = torch.device("meta")


def test_an_image_model_takes_cpu_images_and_computes_on_its_device(tiny_model_spec, tiny_hooks):
    from frobnoscope.models import load_model

    adapter = load_model(tiny_model_spec, device=META)
    images = torch.rand(2, 3, 32, 32)
    assert adapter.device == META and adapter.forward(images).device == META
    captured = adapter.capture(images, tiny_hooks.split(","))
    assert {tensor.device for tensor in captured.values()} == {META}


def test_a_nerf_renders_jittered_rays_on_its_device_and_its_jitter_does_not_depend_on_the_device(tiny_nerf_config):
    from frobnoscope.models.nerf.sampling import uniform
    from frobnoscope.models.nerf.train import build_model

    model = build_model(tiny_nerf_config, [[-1.0, -1.0, -1.0], [1.0, 1.0, 1.0]], [1.0, 1.0, 1.0]).to(META)
    origins, directions = torch.zeros(4, 3), torch.tensor([[0.0, 0.0, 1.0]]).expand(4, 3)
    rendered = model.render_rays(origins.to(META), directions.to(META), torch.Generator().manual_seed(0))
    assert rendered["rgb"].device == META and rendered["rgb"].shape == (4, 3)
    # the jitter comes from the CPU generator whatever the device (then moved): the CPU's numbers
    drawn = uniform((3, 5), torch.Generator().manual_seed(7), torch.device("cpu"))
    assert torch.equal(drawn, torch.rand((3, 5), generator=torch.Generator().manual_seed(7)))


def test_a_device_name_that_is_not_one_is_refused_in_one_line():
    from frobnoscope.models.device import DeviceError, resolve_device

    assert resolve_device("auto") == resolve_device(" CPU ") == torch.device("cpu") or torch.cuda.is_available()
    for name in ("gpu", "cuda:", "cuda:x", "cpu:1", ""):
        with pytest.raises(DeviceError, match="unknown device") as error:
            resolve_device(name)
        assert "\n" not in str(error.value)
