"""Neighbours, absorption partners, histograms and the feature-page evidence against independent references:
numpy's corrcoef, brute-force cosine, `sae.analysis.absorption_candidates`, np.histogram, scikit-learn's Jaccard
and the held-out R^2 of `labels.gt_r2`."""

import numpy as np
import pytest
import torch
from sklearn.metrics import jaccard_score

from frobnoscope.interp.activations.tokens import TokenTruth
from frobnoscope.interp.features import evidence, examples, labels, neighbours
from frobnoscope.interp.sae.analysis import absorption_candidates
from frobnoscope.interp.sae.model import SAEConfig, SparseAutoencoder


def sparse_codes(rng, tokens=3000, width=40, firing=0.1):
    codes = rng.exponential(1.0, (tokens, width)) * (rng.random((tokens, width)) < firing)
    codes[:, 5] = codes[:, 4] * 2 + 0.1 * codes[:, 6]  # 5 follows 4
    return codes.astype(np.float32)


def reference_top(scores, k=neighbours.NEIGHBOURS):
    scores = scores.copy()
    np.fill_diagonal(scores, -np.inf)
    order = np.argsort(-scores, axis=1, kind="stable")[:, :k]
    return order, np.take_along_axis(scores, order, 1)


def test_correlation_neighbours_equal_numpy_corrcoef():
    codes = sparse_codes(np.random.default_rng(0))
    index, value = neighbours.correlated(codes)
    expected_index, expected_value = reference_top(np.corrcoef(codes.T.astype(np.float64)))
    np.testing.assert_allclose(value, expected_value, rtol=1e-4, atol=1e-6)
    assert index[4, 0] == 5 and index[5, 0] == 4
    assert (index == expected_index).mean() > 0.95  # ties may order differently


def test_decoder_cosine_neighbours_equal_brute_force():
    decoder = np.random.default_rng(1).standard_normal((50, 8))
    index, value = neighbours.decoder_cosine(decoder)
    unit = decoder / np.linalg.norm(decoder, axis=1, keepdims=True)
    expected_index, expected_value = reference_top(unit @ unit.T)
    np.testing.assert_array_equal(index, expected_index)
    np.testing.assert_allclose(value, expected_value, rtol=1e-5)


def test_absorption_partners_are_the_pairs_the_sae_analysis_flags():
    torch.manual_seed(0)
    sae = SparseAutoencoder(SAEConfig(d_in=6, width=24, k=3))
    rng = np.random.default_rng(2)
    with torch.no_grad():  # plant parent 0 / child 1: the child carries the parent's direction, the parent reads it not
        sae.W_dec[1] = 0.6 * sae.W_dec[0] + 0.8 * sae.W_dec[1]
        sae.W_enc[:, 0] = sae.W_dec[0] - 0.8 * sae.W_dec[1]
    codes = (rng.exponential(1, (4000, 24)) * (rng.random((4000, 24)) < 0.2)).astype(np.float32)
    codes[:, 1] *= rng.random(4000) < 0.3  # the child is narrower
    codes[codes[:, 1] > 0, 0] = 0  # and never fires with the parent
    pairs = {(p["parent"], p["child"]): p["gap"] for p in absorption_candidates(sae, codes, {})}
    index, value = neighbours.absorption(sae.W_enc.detach().numpy().T, sae.W_dec.detach().numpy(), codes)
    found = {(i, int(j)): float(v) for i in range(24) for j, v in zip(index[i], value[i]) if j >= 0}
    assert (0, 1) in pairs
    for (parent, child), gap in pairs.items():
        if list(index[parent]).count(child):
            assert found[(parent, child)] == pytest.approx(gap, rel=1e-5)  # + : the partner is the child
            assert found[(child, parent)] == pytest.approx(-gap, rel=1e-5)  # - : the partner is the parent
    assert found[(0, 1)] > 0 and found[(1, 0)] < 0
    flagged = {(i, j) for (i, j), v in found.items() if v > 0}
    assert flagged <= set(pairs)


def test_histograms_equal_numpy_histogram_of_the_positive_activations():
    codes = sparse_codes(np.random.default_rng(3))

    class Source:  # the minimum `scan_examples` reads: a store with one hook of 10 frames of 15 x 20 tokens
        hook, kinds = "h", lambda self: ["channel"]

    acts = codes.reshape(10, 15, 20, -1)
    source = Source()
    source.store = FakeStore(acts)
    out = examples.scan_examples(source, "channel", np.arange(10))
    for f in (0, 4, 5, 17):
        positive = codes[:, f][codes[:, f] > 0]
        counts, _ = np.histogram(positive, bins=examples.BINS, range=(0, positive.max()))
        np.testing.assert_array_equal(out["channel.hist"][f], counts)
        assert out["channel.max"][f] == pytest.approx(positive.max())
        assert out["channel.density"][f] == pytest.approx(len(positive) / len(codes))


class FakeStore:
    def __init__(self, acts):
        self._acts = acts

    def shape(self, hook):
        return self._acts.shape[1:]

    def acts(self, hook):
        return self._acts

    def frame_blocks(self, hook, frames):
        yield from (frames[i:i + 4] for i in range(0, len(frames), 4))

    def read_frames(self, array, frames):
        return array[frames]


def test_ground_truth_prediction_reproduces_gt_r2_and_correlations_and_ious_match_references():
    rng = np.random.default_rng(4)
    frames, per_frame = 20, 30
    frame = np.repeat(np.arange(frames), per_frame)
    depth = rng.uniform(1, 3, len(frame))
    shape = rng.integers(0, 3, len(frame))
    truth = TokenTruth({"depth_z": depth}, {"shape_id": shape}, frame, {"light": np.repeat(rng.random(frames), per_frame)})
    feature = np.sin(2 * depth) + (shape == 2) + 0.3 * rng.standard_normal(len(frame))
    predicted = evidence.GroundTruthFit(truth).predict(feature)
    held_out = frame % 2 == 1
    y = feature[held_out]
    r2 = 1 - ((y - predicted[held_out]) ** 2).sum() / ((y - y.mean()) ** 2).sum()
    assert r2 == pytest.approx(labels.gt_r2(feature[:, None], truth)[0], abs=1e-6)
    r = evidence.factor_correlations(feature, truth)
    assert r["depth_z"] == pytest.approx(np.corrcoef(feature, depth)[0, 1])
    assert r["light"] == pytest.approx(np.corrcoef(feature, truth.factors["light"])[0, 1])
    mask = (feature >= np.quantile(feature, 0.995)) & (feature > 0)
    for channel, label, iou in evidence.label_ious(feature, truth):
        assert iou == pytest.approx(jaccard_score(shape == label, mask, zero_division=0.0))
