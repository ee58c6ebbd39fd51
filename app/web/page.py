"""What every page script runs: `run_page(show)` calls `show(workspace)` and turns a FrobError (a missing run, a
path outside the workspace) or an OSError into one line on the page, never a traceback."""

from __future__ import annotations

import streamlit as st

from frobnoscope.app.web import data
from frobnoscope.engine.errors import FrobError


def run_page(show) -> None:
    try:
        show(data.workspace())
    except (FrobError, OSError) as error:
        st.error(f"{type(error).__name__}: {error}")
