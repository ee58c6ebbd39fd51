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


# --- against references written from the papers' definitions, with more codes than factors ---------------------------


def reference_discretise(column: np.ndarray, bins: int = 20) -> np.ndarray:
    """disentanglement_lib's histogram discretisation (equal-width bins), a column with few values kept as it is."""
    distinct, inverse = np.unique(column, return_inverse=True)
    if len(distinct) <= bins:
        return inverse
    edges = np.linspace(column.min(), column.max(), bins + 1)
    return np.digitize(column, edges[1:-1])


def reference_mig(codes: np.ndarray, factors: np.ndarray) -> float:
    """Chen et al. 2018, eq. 6: mean over factors k of (I(v_k; z_j*) - max_{j != j*} I(v_k; z_j)) / H(v_k)."""
    from scipy.stats import entropy
    from sklearn.metrics import mutual_info_score

    codes_d = [reference_discretise(c) for c in codes.T]
    gaps = []
    for factor in factors.T:
        v = reference_discretise(factor)
        mi = sorted((mutual_info_score(v, z) for z in codes_d), reverse=True)
        gaps.append((mi[0] - mi[1]) / entropy(np.bincount(v)))
    return float(np.mean(gaps))


def reference_sap(codes: np.ndarray, factors: np.ndarray) -> float:
    """Kumar et al. 2018 (regression variant): S[d, k] = R^2 of a linear fit of factor k on code d alone; mean over
    factors of the gap between the two largest scores."""
    from sklearn.linear_model import LinearRegression

    gaps = []
    for factor in factors.T:
        scores = sorted((LinearRegression().fit(code[:, None], factor).score(code[:, None], factor)
                         for code in codes.T), reverse=True)
        gaps.append(scores[0] - scores[1])
    return float(np.mean(gaps))


def reference_dci_from_importance(importance: np.ndarray) -> tuple[float, float]:
    """Eastwood & Williams 2018 from an importance matrix R (codes x factors): disentanglement weighs each code's
    1 - H_K(row distribution) by its share of R; completeness each factor's 1 - H_D(column distribution) by its
    share (as disentanglement_lib does)."""
    def weighted_one_minus_entropy(matrix):  # over the rows of `matrix`
        total = matrix.sum()
        score = 0.0
        for row in matrix:
            if row.sum() == 0:
                continue
            p = row / row.sum()
            p = p[p > 0]
            score += row.sum() / total * (1 + (p * np.log(p)).sum() / np.log(matrix.shape[1]))
        return score

    return weighted_one_minus_entropy(importance), weighted_one_minus_entropy(importance.T)


def standardised(values):
    return (values - values.mean(0)) / values.std(0)


def reference_dci(codes, factors, alpha=0.02, train_fraction=0.8, seed=0) -> dict[str, float]:
    """The importance matrix from scikit-learn's lasso (the same objective, ||y - Xw||^2 / 2N + alpha |w|_1, on
    standardised codes and factors), fitted on the module's train split; informativeness = mean held-out R^2."""
    from sklearn.linear_model import Lasso
    from sklearn.metrics import r2_score

    codes, factors = standardised(codes), standardised(factors)
    order = np.random.default_rng(seed).permutation(len(codes))
    train, test = order[: int(train_fraction * len(codes))], order[int(train_fraction * len(codes)):]
    importance, r2 = np.zeros((codes.shape[1], factors.shape[1])), []
    for k, factor in enumerate(factors.T):
        lasso = Lasso(alpha=alpha, fit_intercept=False, tol=1e-12, max_iter=100_000).fit(codes[train], factor[train])
        importance[:, k] = np.abs(lasso.coef_)
        r2.append(max(0.0, r2_score(factor[test], codes[test] @ lasso.coef_)))
    disentanglement, completeness = reference_dci_from_importance(importance)
    return {"disentanglement": disentanglement, "completeness": completeness, "informativeness": float(np.mean(r2))}


@pytest.fixture(scope="module")
def split_factor():
    """Two continuous factors and three codes: factor 0 is split evenly over codes 0 and 1 (f0 = (c0 + c1) / 2, each
    code alone explains half its variance), factor 1 is code 2."""
    rng = np.random.default_rng(4)
    factors = rng.normal(size=(2000, 2))
    other = rng.normal(size=2000)
    codes = np.stack([factors[:, 0] + other, factors[:, 0] - other, 2 * factors[:, 1] + 0.5], axis=1)
    return codes, factors


def test_mig_equals_its_definition_and_a_factor_shared_by_two_codes_has_no_gap(shapes3d_factors):
    rng = np.random.default_rng(5)
    mixed = np.stack([shapes3d_factors[:, 0] + 0.3 * rng.normal(size=3000), shapes3d_factors[:, 1] - shapes3d_factors[:, 4],
                      rng.normal(size=3000), shapes3d_factors[:, 3] * 0.5 + shapes3d_factors[:, 5]], axis=1)
    factors = shapes3d_factors[:, [0, 1, 3]]  # 4 codes, 3 factors
    assert disentanglement.mig(mixed, factors) == pytest.approx(reference_mig(mixed, factors), abs=1e-12)
    # factor 0 copied into codes 0 and 1: both carry all of it, the gap (and its half of MIG) is 0
    copied = np.stack([factors[:, 0], 3 * factors[:, 0] - 1, factors[:, 1]], axis=1)
    expected = reference_mig(copied, factors[:, :2])
    assert disentanglement.mig(copied, factors[:, :2]) == pytest.approx(expected, abs=1e-12)
    assert 0.45 < expected < 0.5  # (0 + ~1) / 2: factor 1's gap is 1 less the small chance MI with code 0


def test_sap_equals_its_definition_and_a_factor_split_over_two_codes_scores_no_gap(split_factor, shapes3d_factors):
    codes, factors = split_factor
    expected = reference_sap(codes, factors)
    assert disentanglement.sap(codes, factors) == pytest.approx(expected, abs=1e-9)
    assert expected == pytest.approx(0.5, abs=0.03)  # factor 0: two codes at R^2 1/2 each, factor 1: 1 - 0
    rng = np.random.default_rng(6)
    five_codes = shapes3d_factors[:, :3] @ rng.normal(size=(3, 5)) + 0.2 * rng.normal(size=(3000, 5))
    assert disentanglement.sap(five_codes, shapes3d_factors[:, :3]) == pytest.approx(
        reference_sap(five_codes, shapes3d_factors[:, :3]), abs=1e-9)


def test_dci_equals_its_definition_with_a_factor_split_over_two_codes(split_factor):
    """Importance by hand: lasso weights 1/sqrt(2) - alpha on the two halves of factor 0, 1 - alpha on factor 1's
    code, nothing elsewhere. Each code serves one factor (disentanglement 1); factor 0 is spread over two codes
    (completeness low)."""
    codes, factors = split_factor
    scores = disentanglement.dci(codes, factors)
    reference = reference_dci(codes, factors)
    for key in reference:
        assert scores[key] == pytest.approx(reference[key], abs=1e-4), key
    half = 1 / np.sqrt(2) - 0.02
    by_hand = np.array([[half, 0.0], [half, 0.0], [0.0, 0.98]])
    hand_disentanglement, hand_completeness = reference_dci_from_importance(by_hand)
    assert hand_disentanglement == 1.0
    assert hand_completeness == pytest.approx((2 * half * (1 - np.log(2) / np.log(3)) + 0.98) / (2 * half + 0.98))
    assert scores["disentanglement"] > 0.97
    assert scores["completeness"] == pytest.approx(hand_completeness, abs=0.02)
    assert scores["informativeness"] > 0.99
