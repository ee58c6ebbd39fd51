"""The features run's format name and table columns, shared by its writer (`run`) and its readers (`source`,
`examples`) so that neither side imports the other (the directory layout is in `run`'s docstring)."""

FEATURES_FORMAT = "frobnoscope.features/1"
COLUMNS = ("kind", "feature", "active_fraction", "best_continuous", "correlation", "best_categorical", "label", "iou",
           "matched", "best_factor", "gt_r2", "gt_r2_low", "gt_r2_high", "gt_lambda", "importance", "steer_importance",
           "frobnoloid_score")
