"""Filtering, sorting and paging the frobnoloid index (`data.feature_index`): pure pandas, so tests need no app.

Filters (all optional, combined with AND): models, hooks, kinds (lists); `unmatched` keeps features that match no
factor (`matched` False: |r| < 0.5 and IoU < 0.04, see `features.labels`); `factor` keeps those whose best match is
that factor; `density` keeps one DENSITY_BANDS band of the firing density; `search` matches names and notes (case
insensitive, plain text). Sorting puts NaN (unmeasured importance) last whatever the direction.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

DENSITY_BANDS = {  # name: [low, high) of the share of tokens where the feature fires
    "any": (0.0, np.inf),
    "< 0.1%": (0.0, 0.001),
    "0.1-1%": (0.001, 0.01),
    "1-10%": (0.01, 0.1),
    "10-50%": (0.1, 0.5),
    ">= 50%": (0.5, np.inf),
}
SORTABLE = ("frobnoloid_score", "importance", "gt_r2", "density", "max_activation", "correlation", "iou", "feature")
PAGE_SIZE = 50


@dataclass
class Filters:
    models: list[str] = field(default_factory=list)
    hooks: list[str] = field(default_factory=list)
    kinds: list[str] = field(default_factory=list)
    unmatched: bool = False
    factor: str = ""
    density: str = "any"
    search: str = ""
    sort: str = "frobnoloid_score"
    descending: bool = True


def select(table: pd.DataFrame, filters: Filters) -> pd.DataFrame:
    keep = pd.Series(True, index=table.index)
    for column, wanted in (("model", filters.models), ("hook", filters.hooks), ("kind", filters.kinds)):
        if wanted:
            keep &= table[column].isin(wanted)
    if filters.unmatched:
        keep &= ~table["matched"]
    if filters.factor:
        keep &= table["best_factor"] == filters.factor
    low, high = DENSITY_BANDS.get(filters.density, DENSITY_BANDS["any"])
    if filters.density != "any":
        keep &= (table["density"] >= low) & (table["density"] < high)
    if filters.search.strip():
        text = filters.search.strip().lower()
        keep &= (table["name"].str.lower().str.contains(text, regex=False)
                 | table["note"].str.lower().str.contains(text, regex=False))
    chosen = table[keep]
    column = filters.sort if filters.sort in SORTABLE else "frobnoloid_score"
    return chosen.sort_values(column, ascending=not filters.descending, na_position="last", kind="stable")


def page(rows: pd.DataFrame, number: int, size: int = PAGE_SIZE) -> pd.DataFrame:
    """Page `number` (1-based, clipped to the last page) of `rows`."""
    pages = max(1, -(-len(rows) // size))
    number = min(max(number, 1), pages)
    return rows.iloc[(number - 1) * size:number * size]


def page_count(rows: pd.DataFrame, size: int = PAGE_SIZE) -> int:
    return max(1, -(-len(rows) // size))


def random_frobnoloid(rows: pd.DataFrame, rng: np.random.Generator) -> pd.Series | None:
    """A random feature among the selected ones that matter and match no factor (frobnoloid score > 0 and
    unmatched); failing that, any selected feature with a positive score; None when there is none."""
    scored = rows[rows["frobnoloid_score"].fillna(0) > 0]
    pool = scored[~scored["matched"]] if (~scored["matched"]).any() else scored
    return None if pool.empty else pool.iloc[int(rng.integers(len(pool)))]
