"""Held-out scores of categorical and mask probes, and what a probe that learned nothing scores on them.

- balanced accuracy: the mean over the classes present in the truth of each class's recall (1/K for any constant
  prediction among K classes: the majority class no longer scores its share);
- macro-F1: the mean over the classes in the truth or the prediction of 2 P R / (P + R) (0 where P + R = 0);
- average precision (masks): sum over thresholds of (R_n - R_{n-1}) P_n, the thresholds being the distinct
  predicted values from the highest down; it ranks, so no threshold has to be met, and a ranking that knows
  nothing scores the positive rate;
- baselines: `majority_scores` (predicting the training split's majority class for every token) and `positive_rate`.
The definitions are scikit-learn's (`balanced_accuracy_score`, `f1_score(average="macro")`,
`average_precision_score`); the tests check them against it.
"""

from __future__ import annotations

import numpy as np


def accuracy(truth: np.ndarray, predicted: np.ndarray) -> float:
    return float((truth == predicted).mean()) if len(truth) else np.nan


def balanced_accuracy(truth: np.ndarray, predicted: np.ndarray) -> float:
    classes = np.unique(truth)
    return float(np.mean([(predicted[truth == c] == c).mean() for c in classes])) if len(classes) else np.nan


def macro_f1(truth: np.ndarray, predicted: np.ndarray) -> float:
    labels = np.union1d(truth, predicted)
    scores = []
    for label in labels:
        true_positive = np.sum((truth == label) & (predicted == label))
        precision_base, recall_base = np.sum(predicted == label), np.sum(truth == label)
        precision = true_positive / precision_base if precision_base else 0.0
        recall = true_positive / recall_base if recall_base else 0.0
        scores.append(2 * precision * recall / (precision + recall) if precision + recall else 0.0)
    return float(np.mean(scores)) if scores else np.nan


CATEGORICAL = {"accuracy": accuracy, "balanced_accuracy": balanced_accuracy, "macro_f1": macro_f1}


def categorical_scores(truth: np.ndarray, predicted: np.ndarray) -> dict[str, float]:
    """{metric: score} of every metric in CATEGORICAL."""
    return {name: metric(truth, predicted) for name, metric in CATEGORICAL.items()}


def majority_scores(train_labels: np.ndarray, truth: np.ndarray) -> dict[str, float]:
    """The scores of predicting the training labels' most frequent class for every test token."""
    values, counts = np.unique(train_labels, return_counts=True)
    return categorical_scores(truth, np.full(len(truth), values[counts.argmax()]))


def average_precision(scores: np.ndarray, positive: np.ndarray) -> float:
    """Average precision of ranking by `scores` (higher first) against the boolean `positive` (NaN if none)."""
    positives = int(positive.sum())
    if positives == 0:
        return np.nan
    order = np.argsort(-scores, kind="stable")
    ranked_scores, ranked_positive = scores[order], positive[order]
    last_of_each_value = np.r_[np.flatnonzero(np.diff(ranked_scores)), len(ranked_scores) - 1]  # ties: one threshold
    true_positives = np.cumsum(ranked_positive)[last_of_each_value]
    precision = true_positives / (last_of_each_value + 1)
    recall = true_positives / positives
    return float(np.sum(np.diff(np.r_[0.0, recall]) * precision))


def positive_rate(positive: np.ndarray) -> float:
    return float(positive.mean()) if len(positive) else np.nan
