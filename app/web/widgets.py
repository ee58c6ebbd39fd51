"""Widgets whose value lives in the URL (`state`), and pictures side by side: what every page builds its controls
from. Each widget reads its URL parameter (a missing, malformed or unknown value falls back to the default), writes
its value back, and has the key `<page>.<parameter>` (tests find it by that key)."""

from __future__ import annotations

import numpy as np
import streamlit as st

from frobnoscope.app.web import state


def url_select(label: str, options: list, name: str, page: str, where=st, cast=None, default=None, **kwargs):
    """A selectbox over `options` kept in the URL parameter `name` (unknown: `default`, else the first option)."""
    asked = state.param(name, default, cast or type(options[0]))
    value = where.selectbox(label, options, index=options.index(asked) if asked in options else 0,
                            key=f"{page}.{name}", **kwargs)
    state.keep(**{name: value})
    return value


def url_number(label: str, name: str, page: str, default, low, high, where=st, cast=int, **kwargs):
    """A number input in [low, high] kept in the URL parameter `name` (clipped into the range)."""
    asked = min(max(state.param(name, default, cast), low), high)
    value = cast(where.number_input(label, low, high, asked, key=f"{page}.{name}", **kwargs))
    state.keep(**{name: value})
    return value


def side_by_side(shown: list[tuple[np.ndarray, str]]) -> None:
    """Pictures in one row, one column each, scaled to the column."""
    for column, (picture, caption) in zip(st.columns(len(shown)), shown):
        column.image(picture, caption=caption, width="stretch")
