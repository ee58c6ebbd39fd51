"""The categorical and mask scores by hand on small cases (issue 18: they pin what the mutation runner changes in
`interp/probes/scores.py`)."""

from __future__ import annotations

import numpy as np
import pytest

from frobnoscope.interp.probes import scores


def test_macro_f1_where_precision_equals_recall():
    truth, predicted = np.array([0, 0, 1, 1]), np.array([0, 1, 0, 1])  # each class: P = R = 1/2, F1 = 1/2
    assert scores.macro_f1(truth, predicted) == 0.5
    # class 2 only predicted (P = 0, R undefined -> 0), class 1 only true (R = 0): F1 0 for both; class 0: P 1/2, R 1
    assert scores.macro_f1(np.array([0, 1]), np.array([0, 2])) == pytest.approx((2 * 1.0 * 1.0 / 2.0) / 3)
    assert scores.macro_f1(np.array([0, 0, 1]), np.array([0, 2, 2])) == pytest.approx((2 * 1 * 0.5 / 1.5) / 3)


def test_balanced_accuracy_and_accuracy_by_hand():
    truth, predicted = np.array([0, 0, 0, 1]), np.array([0, 0, 1, 1])
    assert scores.accuracy(truth, predicted) == 0.75
    assert scores.balanced_accuracy(truth, predicted) == pytest.approx((2 / 3 + 1) / 2)
    assert scores.balanced_accuracy(truth, np.zeros(4, int)) == 0.5  # constant prediction among 2 classes: 1/2


def test_no_tokens_score_nan():
    empty = np.array([], dtype=int)
    assert all(np.isnan(value) for value in scores.categorical_scores(empty, empty).values())
    assert np.isnan(scores.positive_rate(np.array([], dtype=bool)))


def test_average_precision_by_hand_with_a_tie_and_with_one_positive():
    ranking, positive = np.array([0.9, 0.8, 0.8, 0.1]), np.array([True, False, True, False])
    # thresholds 0.9 (P 1, R 1/2), 0.8 counting both tied items (P 2/3, R 1), 0.1 (R unchanged)
    assert scores.average_precision(ranking, positive) == pytest.approx(0.5 * 1 + 0.5 * 2 / 3)
    one = np.array([False, False, True, False])
    assert scores.average_precision(np.array([0.4, 0.3, 0.2, 0.1]), one) == pytest.approx(1 / 3)
    assert scores.average_precision(np.array([0.1, 0.3, 0.9, 0.2]), one) == 1.0
    assert scores.average_precision(np.array([0.5, 0.5, 0.5, 0.5]), one) == 0.25  # knows nothing: the positive rate


def test_the_majority_class_on_a_tie_is_the_smallest_label():
    baseline = scores.majority_scores(np.array([2, 2, 1, 1, 3]), np.array([1, 2]))
    assert baseline["accuracy"] == 0.5 and baseline["balanced_accuracy"] == 0.5
