"""Training must learn: a short run of each trainer beats, on held-out frames, both an untrained copy of its model
(same seed, same architecture) and the best constant output (the held-out frames' own mean colour, the constant
that minimises their squared error), by a stated margin in PSNR.

PSNR is computed here from its definition, -10 log10(mean squared error) on linear RGB in [0, 1], not with the
library's metrics. Measured margins (one torch thread, seeds as below): conv autoencoder 60 steps about 16.0 dB
against a constant 9.2 dB and an untrained 4.7 dB; kl-small 40 steps about 14.1 dB against 9.2 and 8.3 dB; our
NeRF 300 steps of 256 rays about 16.7 dB against a constant 12.1 dB and an untrained 10.8 dB. The tests ask for
MARGIN_DB over the better of the two, so a trainer whose optimizer never steps (the untrained copy, exactly) fails.
"""

import numpy as np
import pytest
import torch

from frobnoscope.models import load_model
from frobnoscope.models.autoencoders.architectures import architecture
from frobnoscope.models.autoencoders.train import AutoencoderTrainConfig, train_autoencoder
from frobnoscope.models.device import torch_threads
from frobnoscope.models.nerf.data import load_orbit
from frobnoscope.models.nerf.train import NerfTrainConfig, build_model, load_nerf_run, train_nerf

MARGIN_DB = 3.0


@pytest.fixture(autouse=True)
def one_thread():
    """One torch thread: on a shared machine more threads only make these small steps slower."""
    with torch_threads(1):
        yield


def psnr(output: np.ndarray, reference: np.ndarray) -> float:
    return float(-10 * np.log10(((np.asarray(output, np.float64) - np.asarray(reference, np.float64)) ** 2).mean()))


def best_constant_psnr(reference: np.ndarray) -> float:
    """PSNR of the constant image whose colour is `reference`'s mean: the least-squares constant."""
    reference = np.asarray(reference, np.float64)
    return psnr(np.broadcast_to(reference.mean(axis=(0, 1, 2)), reference.shape), reference)


@pytest.mark.parametrize("arch, steps", [("conv", 60), ("kl-small", 40)])
def test_autoencoder_training_beats_an_untrained_copy_and_the_best_constant_held_out(arch, steps, tiny_dataset,
                                                                                      tmp_path):
    config = AutoencoderTrainConfig(arch=arch, steps=steps, batch_size=4, learning_rate=3e-3, warmup_steps=5,
                                    checkpoint_every=steps, holdout_every=4)
    train_autoencoder(tiny_dataset.path, tmp_path / "run", config)
    heldout = np.asarray(tiny_dataset.channel("rgb")[:], np.float32)[[3, 7]]  # k % 4 == 3
    trained = psnr(load_model(f"run:{tmp_path / 'run'}").forward(heldout), heldout)
    torch.manual_seed(config.seed)  # the trainer's own initialisation, never stepped
    untrained_model = architecture(arch).build().eval()
    untrained = psnr(architecture(arch).make_adapter(untrained_model, "untrained", "linear").forward(heldout), heldout)
    constant = best_constant_psnr(heldout)
    print(f"trained {trained:.2f} dB, untrained {untrained:.2f} dB, best constant {constant:.2f} dB")
    assert trained > max(untrained, constant) + MARGIN_DB, (trained, untrained, constant)


def test_nerf_training_beats_an_untrained_copy_and_the_best_constant_on_val_and_test(tiny_nerf_config, tiny_orbit,
                                                                                     tmp_path):
    config = NerfTrainConfig(**{**tiny_nerf_config.to_dict(), "steps": 300, "rays_per_step": 256, "warmup_steps": 5,
                                "eval_every": 300, "checkpoint_every": 300})
    train_nerf(tiny_orbit.path, tmp_path / "run", config)
    data = load_orbit(tiny_orbit.path)
    heldout = data.splits["val"] + data.splits["test"]
    assert heldout and not set(heldout) & set(data.splits["train"])
    origins, directions = (rays.reshape(-1, 3) for rays in data.rays(heldout))
    reference = data.rgb[heldout].numpy()

    def rendered(model) -> np.ndarray:
        with torch.no_grad():
            return model.render(origins, directions, keys=("rgb",))["rgb"].numpy().reshape(reference.shape)

    trained = psnr(rendered(load_nerf_run(tmp_path / "run")[0]), reference)
    untrained = psnr(rendered(build_model(config, data.box, data.background).eval()), reference)
    constant = best_constant_psnr(reference)
    print(f"trained {trained:.2f} dB, untrained {untrained:.2f} dB, best constant {constant:.2f} dB")
    assert trained > max(untrained, constant) + MARGIN_DB, (trained, untrained, constant)
