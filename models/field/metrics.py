"""How close a field model's answers are to the scene's truth at a set of points: arrays in, numbers out.

With f, s the predicted and true SDF (scene units), C the run's `sdf_clamp`, a the albedo (linear RGB), k the id:
  sdf_mae        mean |clamp(f, -C, C) - clamp(s, -C, C)|      (the quantity the SDF loss fits; scene units)
  iou            |f < 0 and s < 0| / |f < 0 or s < 0|          (solid-space IoU; NaN when both are empty)
  sign_accuracy  share of points with (f < 0) == (s < 0)
  albedo_rmse    sqrt(mean over points and channels (a_pred - a)^2)
  id_accuracy    share of points whose predicted id (argmax of the logits + 1) is the nearest object's id
Empty point sets give NaN everywhere and points 0.
"""

from __future__ import annotations

import numpy as np

KEYS = ("sdf_mae", "iou", "sign_accuracy", "albedo_rmse", "id_accuracy")


def iou(predicted: np.ndarray, truth: np.ndarray) -> float:
    union = np.count_nonzero(predicted | truth)
    return float(np.count_nonzero(predicted & truth) / union) if union else float("nan")


def field_errors(sdf: np.ndarray, albedo: np.ndarray, object_id: np.ndarray, truth: dict[str, np.ndarray],
                 clamp: float) -> dict[str, float]:
    """`sdf` (N,), `albedo` (N, 3), `object_id` (N,) 1-based predictions against `truth` (sdf, albedo, object_id)."""
    n = len(sdf)
    if n == 0:
        return {"points": 0, **{key: float("nan") for key in KEYS}}
    true_sdf = np.asarray(truth["sdf"], np.float64)
    sdf = np.asarray(sdf, np.float64)
    return {
        "points": n,
        "sdf_mae": float(np.abs(np.clip(sdf, -clamp, clamp) - np.clip(true_sdf, -clamp, clamp)).mean()),
        "iou": iou(sdf < 0, true_sdf < 0),
        "sign_accuracy": float(((sdf < 0) == (true_sdf < 0)).mean()),
        "albedo_rmse": float(np.sqrt(((np.asarray(albedo, np.float64) - truth["albedo"]) ** 2).mean())),
        "id_accuracy": float((np.asarray(object_id) == np.asarray(truth["object_id"])).mean()),
    }


def best_constant(truth: dict[str, np.ndarray], clamp: float, n_objects: int) -> dict[str, np.ndarray]:
    """The constant prediction with the least error on these points: the median clamped SDF (least mean absolute
    error), the mean albedo (least squared error), the most common id (highest accuracy; the lowest id on a tie)."""
    sdf = np.clip(np.asarray(truth["sdf"], np.float64), -clamp, clamp)
    counts = np.bincount(np.asarray(truth["object_id"], np.int64), minlength=n_objects + 1)
    return {"sdf": float(np.median(sdf)), "albedo": np.asarray(truth["albedo"], np.float64).mean(axis=0),
            "object_id": int(counts.argmax())}


def constant_predictions(constant: dict, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """`best_constant`'s values repeated for `n` points: (sdf (n,), albedo (n, 3), object_id (n,))."""
    return (np.full(n, constant["sdf"]), np.broadcast_to(constant["albedo"], (n, 3)),
            np.full(n, constant["object_id"]))
