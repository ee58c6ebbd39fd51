"""SAE training batches streamed from an activation run: coverage, shuffling across chunks, bounded memory, resume."""

import numpy as np
import pytest
import torch

from frobnoscope.interp.activations.capture import CaptureConfig, capture
from frobnoscope.interp.activations.store import ActivationStore
from frobnoscope.interp.sae.model import SAEConfig
from frobnoscope.interp.sae.tokens import StreamedTokenBatches
from frobnoscope.interp.sae.training import SAETrainConfig, train_sae

HOOK = "encoder.14"  # 4x4 grid at 32x32: 16 tokens a frame, 64 a chunk of 4 frames


@pytest.fixture(scope="module")
def run(interp_dataset, tiny_model_spec, tmp_path_factory):
    out = tmp_path_factory.mktemp("sae-tokens") / "run"
    capture(interp_dataset.path, out, CaptureConfig(model=tiny_model_spec, hooks=HOOK, batch_size=4, dtype="float32"))
    return ActivationStore.open(out)


def token_frames(run: ActivationStore) -> dict[bytes, int]:
    """Each token's bytes -> its frame (activations of a random-init model: no two tokens are equal)."""
    lookup = {}
    for acts, index in run.tokens(HOOK):
        lookup.update({row.tobytes(): int(k) for row, k in zip(acts, index[:, 0])})
    assert len(lookup) == len(run) * 16
    return lookup


def test_an_epoch_reads_each_token_once_shuffled_across_chunks_with_two_windows_at_most(run):
    frames = np.arange(1, 16)  # 15 frames: chunks of 4, 4, 4 and 3 frames
    batches = StreamedTokenBatches(run, HOOK, frames, batch_tokens=50, seed=0, window_tokens=150)
    assert batches.tokens == 15 * 16 and batches.per_epoch == 4
    lookup = token_frames(run)
    seen = []
    for step in range(batches.per_epoch):
        batch = batches(step)
        assert batch.shape == (50, run.shape(HOOK)[2]) and batch.dtype == torch.float32
        assert batches.loaded_tokens <= 2 * (150 + 64)
        seen += [lookup[row.tobytes()] for row in batch.numpy()]
    assert len(seen) == 200 and set(seen) <= set(frames)
    assert len({frame // 4 for frame in seen[:50]}) >= 2  # the first batch already mixes chunks
    second_epoch = [lookup[row.tobytes()] for row in batches(batches.per_epoch).numpy()]
    assert second_epoch != seen[:50]


def test_a_batch_is_a_function_of_the_step_alone(run):
    frames = np.arange(16)
    sequential = StreamedTokenBatches(run, HOOK, frames, batch_tokens=48, seed=3, window_tokens=100)
    expected = [sequential(step) for step in range(3 * sequential.per_epoch)]
    for step in (11, 2, 7, 0, 14):  # a fresh reader (a resumed run) jumping to any step
        fresh = StreamedTokenBatches(run, HOOK, frames, batch_tokens=48, seed=3, window_tokens=100)
        assert torch.equal(fresh(step), expected[step]), step
    other_seed = StreamedTokenBatches(run, HOOK, frames, batch_tokens=48, seed=4, window_tokens=100)
    assert not torch.equal(other_seed(0), expected[0])


def test_streamed_training_resumes_to_the_uninterrupted_weights(run, tmp_path):
    config = SAEConfig(d_in=run.shape(HOOK)[2], width=32, k=4, dead_tokens=500)
    train = SAETrainConfig(steps=30, batch_tokens=64, learning_rate=4e-3, checkpoint_every=10)

    def batches():
        return StreamedTokenBatches(run, HOOK, np.arange(16), train.batch_tokens, train.seed, window_tokens=128)

    whole = train_sae(batches(), tmp_path / "whole", config, train)

    def interrupt(report):
        if report.step == 25:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        train_sae(batches(), tmp_path / "cut", config, train, on_step=interrupt)
    resumed = train_sae(batches(), tmp_path / "cut", config, train)
    for name, value in whole.state_dict().items():
        assert torch.equal(value, resumed.state_dict()[name]), name
