"""View state in the URL (`st.query_params`), so a copied link opens the same feature, frame or cell.

Each page reads its parameters with `param` (a missing or malformed value falls back to the default, never an
exception) and writes them back with `keep`, which replaces only the names given.
"""

from __future__ import annotations

from collections.abc import Callable
from urllib.parse import urlencode

import streamlit as st


def param(name: str, default=None, cast: Callable = str):
    value = st.query_params.get(name)
    if value is None:
        return default
    try:
        return cast(value)
    except (TypeError, ValueError):
        return default


def keep(**values) -> None:
    """Write these parameters into the URL (None removes one); leaves the others alone."""
    for name, value in values.items():
        if value is None:
            st.query_params.pop(name, None)
        elif st.query_params.get(name) != str(value):
            st.query_params[name] = str(value)


def href(page: str, **values) -> str:
    """A relative link to `page` (its url_path) with these parameters."""
    query = urlencode({name: value for name, value in values.items() if value is not None})
    return f"./{page}?{query}" if query else f"./{page}"
