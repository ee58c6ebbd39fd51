"""Disentanglement metrics pinned where the mutation runner found them unpinned (`make mutation`, issue 18).

Every expected value here is written from the definition (by hand, or by scikit-learn / numpy), never read back from
the module: the discretisation's bin rule, MIG with a constant factor, SAP on exactly orthogonal codes (4 codes,
2 factors), DCI's weighted entropies on hand-built importance matrices (3 codes, 2 factors), the lasso against
scikit-learn on unstandardised columns, and DCI's held-out R^2 on a split small enough that every term shows.
"""

import numpy as np
import pytest

from frobnoscope.interp.probes import disentanglement

# three exactly orthogonal, zero-mean +-1 columns over 8 samples (a Hadamard basis without its constant column)
H1 = np.array([1, 1, 1, 1, -1, -1, -1, -1], dtype=np.float64)
H2 = np.array([1, 1, -1, -1, 1, 1, -1, -1], dtype=np.float64)
H3 = np.array([1, -1, 1, -1, 1, -1, 1, -1], dtype=np.float64)


def test_discretise_keeps_up_to_twenty_distinct_values_and_cuts_more_into_twenty_equal_widths():
    uneven = np.array([*range(19), 100.0])  # 20 distinct values, far from evenly spaced: kept as they are
    assert disentanglement.discretise(uneven).tolist() == [[i] for i in range(20)]
    # 21 distinct values 0..20: 20 bins of width 1 over [0, 20], the last bin closed, so 19 and 20 share bin 19
    values = np.arange(21.0)
    expected = np.minimum(np.arange(21), 19)
    assert disentanglement.discretise(values)[:, 0].tolist() == expected.tolist()
    both = disentanglement.discretise(np.stack([uneven, values[:20]], axis=1), bins=4)  # (N, D) per column
    assert both[:, 1].tolist() == (np.minimum(np.arange(20) // 4.75, 3)).astype(int).tolist()
    assert both[:, 0].tolist() == [0] * 19 + [3]  # width 25: 0..18 in the first bin, 100 in the last


def test_mig_skips_a_constant_factor_and_works_with_exactly_two_codes():
    """factor 0 (4 equally likely values) is code 0; code 1 is exactly independent of it (every pair once):
    I = (log 4, 0), gap / H = 1. Factor 1 is constant: H = 0, no gap defined, so it is left out of the mean."""
    factor = np.repeat(np.arange(4.0), 4)
    independent = np.tile(np.arange(4.0), 4)
    codes = np.stack([2 * factor + 1, independent], axis=1)
    assert disentanglement.mig(codes, factor[:, None]) == pytest.approx(1.0)
    assert disentanglement.mig(codes, np.stack([factor, np.full(16, 3.0)], axis=1)) == pytest.approx(1.0)
    with pytest.raises(ValueError, match="two codes"):
        disentanglement.mig(codes[:, :1], factor[:, None])


def test_sap_on_orthogonal_codes_by_hand_with_a_constant_code():
    """Codes H1, H2, a constant, H3 (4 codes); factors H1 and H1 + H2 (2 factors). Squared correlations:
    factor 0 -> (1, 0, 0, 0), gap 1; factor 1 -> (1/2, 1/2, 0, 0), gap 0. SAP = 1/2. A constant code correlates
    with nothing (score 0, not NaN)."""
    codes = np.stack([H1, H2, np.full(8, 5.0), H3], axis=1)
    factors = np.stack([H1, H1 + H2], axis=1)
    assert disentanglement.sap(codes, factors) == pytest.approx(0.5)
    assert disentanglement.sap(codes, factors[:, :1]) == pytest.approx(1.0)  # one factor, four codes
    assert disentanglement.sap(codes[:, :2], factors) == pytest.approx(0.5)  # exactly two codes are enough
    with pytest.raises(ValueError, match="two codes"):
        disentanglement.sap(codes[:, :1], factors)


def test_dci_weighted_entropies_on_a_hand_built_importance_matrix():
    """R (3 codes x 2 factors, sum 1): code 0 serves factor 0 only, code 1 both equally, code 2 nothing.
    Disentanglement = 0.5 * (1 - 0) + 0.5 * (1 - H_2(1/2, 1/2)) + 0 = 0.5.
    Completeness: factor 0 spread (2/3, 1/3, 0) over codes, weight 3/4; factor 1 on code 1 only, weight 1/4."""
    importance = np.array([[0.5, 0.0], [0.25, 0.25], [0.0, 0.0]])
    assert disentanglement._disentanglement(importance) == pytest.approx(0.5)
    h_factor0 = -(2 / 3 * np.log(2 / 3) + 1 / 3 * np.log(1 / 3)) / np.log(3)
    assert disentanglement._disentanglement(importance.T) == pytest.approx(0.75 * (1 - h_factor0) + 0.25)
    assert disentanglement._disentanglement(3 * importance) == pytest.approx(0.5)  # only shares matter
    assert disentanglement._disentanglement(np.zeros((3, 2))) == 0.0  # no importance anywhere: nothing disentangled


def test_dci_with_a_single_factor_every_code_serves_it_alone():
    """One factor (K = 1): a code's importance cannot be spread over factors (entropy 0, not 0 / log 1), so
    disentanglement is 1; completeness still sees the factor spread (3/4, 1/4, 0) over three codes."""
    importance = np.array([[0.3], [0.1], [0.0]])
    assert disentanglement._disentanglement(importance) == pytest.approx(1.0)
    h = -(0.75 * np.log(0.75) + 0.25 * np.log(0.25)) / np.log(3)
    assert disentanglement._disentanglement(importance.T) == pytest.approx(1 - h)
    codes = np.stack([H1, H2 + 0.1 * H3, H3], axis=1)
    assert disentanglement.dci(codes, H1[:, None])["disentanglement"] == pytest.approx(1.0)


def test_dci_of_codes_the_lasso_drops_entirely_is_zero():
    rng = np.random.default_rng(0)
    codes, factors = rng.normal(size=(50, 3)), rng.normal(size=(50, 2))
    scores = disentanglement.dci(codes, factors, alpha=10.0)  # every coefficient shrunk to 0
    assert scores["disentanglement"] == 0.0 and scores["completeness"] == 0.0 and scores["informativeness"] == 0.0


def test_lasso_matches_scikit_learn_on_unstandardised_columns_with_a_zero_and_a_unit_norm_column():
    """The objective ||y - x w||^2 / (2N) + alpha ||w||_1 for centred columns of different scales: one of
    +-1 (mean square exactly 1), one of scale 3, one all zero (coefficient 0), one of scale 0.5."""
    from sklearn.linear_model import Lasso

    rng = np.random.default_rng(1)
    n = 40
    unit = np.tile([1.0, -1.0], n // 2)
    wide = 3 * rng.normal(size=n)
    small = 0.5 * rng.normal(size=n)
    x = np.stack([unit, wide - wide.mean(), np.zeros(n), small - small.mean()], axis=1)
    y = 2 * x[:, 0] - 0.5 * x[:, 1] + 0.3 * x[:, 3] + 0.1 * rng.normal(size=n)
    y = y - y.mean()
    reference = Lasso(alpha=0.05, fit_intercept=False, tol=1e-14, max_iter=100_000).fit(x, y).coef_
    w = disentanglement.lasso(x, y, alpha=0.05)
    assert np.all(np.isfinite(w)) and w[2] == 0.0
    np.testing.assert_allclose(w, reference, atol=1e-5)


def test_dci_informativeness_is_the_held_out_r2_on_a_small_split():
    """n = 10, seed 0: the module's split trains on the first 8 of the seeded permutation and scores on the last 2
    (rows 8 and 1). Factor 0 takes nearby, above-average values there (so its held-out sum of squares is below 1
    and its held-out mean far from 0); factor 1 is the same on both held-out rows (R^2 undefined: scored 0, as
    scikit-learn's r2_score scores it). The reference: scikit-learn's lasso and r2_score on that split."""
    from sklearn.linear_model import Lasso
    from sklearn.metrics import r2_score

    rng = np.random.default_rng(2)
    f0 = np.array([-1.2, 1.4, -0.8, 0.1, -0.3, -1.5, 0.6, -0.9, 0.5, 0.2])
    f1 = np.array([0.3, 0.7, -1.1, 1.3, -0.4, 0.9, -1.6, 0.2, 0.7, 1.0])
    factors = np.stack([f0, f1], axis=1)
    codes = np.stack([f0 + 0.05 * rng.normal(size=10), f1 + 0.3 * rng.normal(size=10), rng.normal(size=10)], axis=1)
    order = np.random.default_rng(0).permutation(10)
    train, test = order[:8], order[8:]
    assert sorted(test) == [1, 8]

    def standardised(v):
        return (v - v.mean(0)) / v.std(0)

    z_codes, z_factors = standardised(codes), standardised(factors)
    held_out = z_factors[test, 0]
    assert ((held_out - held_out.mean()) ** 2).sum() < 1 and held_out.mean() > 0.5
    r2 = []
    for k in range(2):
        coef = Lasso(alpha=0.02, fit_intercept=False, tol=1e-14, max_iter=100_000).fit(
            z_codes[train], z_factors[train, k]).coef_
        r2.append(max(0.0, r2_score(z_factors[test, k], z_codes[test] @ coef)))
    assert r2[0] > 0.5 and r2[1] == 0.0
    scores = disentanglement.dci(codes, factors)
    assert scores["informativeness"] == pytest.approx(np.mean(r2), abs=1e-4)
