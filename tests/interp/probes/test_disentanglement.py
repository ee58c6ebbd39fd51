"""Disentanglement metrics are calibrated: factors themselves score near 1, a random rotation of them scores low."""

import numpy as np
import pytest

from frobnoscope.interp.probes import disentanglement

SHAPES3D_VALUES = (10, 10, 10, 8, 4, 15)  # floor hue, wall hue, object hue, scale, shape, orientation


@pytest.fixture(scope="module")
def shapes3d_factors():
    rng = np.random.default_rng(0)
    return np.stack([rng.integers(0, count, 3000) / (count - 1) for count in SHAPES3D_VALUES], axis=1)


def random_rotation(k: int, seed: int = 1) -> np.ndarray:
    q, r = np.linalg.qr(np.random.default_rng(seed).normal(size=(k, k)))
    return q * np.sign(np.diag(r))


def test_factors_themselves_score_near_one(shapes3d_factors):
    codes = shapes3d_factors * np.array([2.0, -1.0, 0.5, 3.0, 1.0, -2.0]) + 0.3  # per-axis scale and sign do not matter
    assert disentanglement.mig(codes, shapes3d_factors) > 0.9
    assert disentanglement.sap(codes, shapes3d_factors) > 0.9
    scores = disentanglement.dci(codes, shapes3d_factors)
    assert scores["disentanglement"] > 0.9 and scores["completeness"] > 0.9 and scores["informativeness"] > 0.9


def test_random_rotation_scores_low(shapes3d_factors):
    standardised = (shapes3d_factors - shapes3d_factors.mean(0)) / shapes3d_factors.std(0)
    codes = standardised @ random_rotation(len(SHAPES3D_VALUES))
    assert disentanglement.mig(codes, shapes3d_factors) < 0.3
    assert disentanglement.sap(codes, shapes3d_factors) < 0.4  # squared entries of a 6-d rotation still differ
    scores = disentanglement.dci(codes, shapes3d_factors)
    assert scores["disentanglement"] < 0.5 and scores["completeness"] < 0.5
    assert scores["informativeness"] > 0.9  # still linearly informative, just entangled


def test_noise_codes_are_uninformative(shapes3d_factors):
    codes = np.random.default_rng(3).normal(size=(len(shapes3d_factors), 6))
    assert disentanglement.mig(codes, shapes3d_factors) < 0.05
    assert disentanglement.dci(codes, shapes3d_factors)["informativeness"] < 0.05


def test_mutual_information_and_entropy_match_closed_forms():
    a = np.repeat(np.arange(4), 250)
    assert disentanglement.entropy(a) == pytest.approx(np.log(4))
    assert disentanglement.mutual_information(a, a) == pytest.approx(np.log(4))
    assert disentanglement.mutual_information(a, np.tile(np.arange(2), 500)) == pytest.approx(0.0, abs=1e-9)
