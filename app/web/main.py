"""The exploration app's entry point (`frob app WORKSPACE` runs `streamlit run` on this file).

One script per page under `views/` (not `pages/`: streamlit would take that folder for its legacy multipage mode
and show its own sidebar on deep links). Each script defines `show(workspace)` (importable, for tests) and runs it
through `page.run_page` when streamlit executes it; `st.navigation` routes by URL path (e.g. /feature), and each
page keeps its own view in the query string (`state`).
"""

from __future__ import annotations

from pathlib import Path

import streamlit as st

VIEWS = Path(__file__).parent / "views"
PAGES = (  # (script, title, url path, icon)
    ("overview.py", "Overview", "overview", ":material/home:"),
    ("scenes.py", "Scenes", "scenes", ":material/view_in_ar:"),
    ("model.py", "Model vs optimum", "model", ":material/compare:"),
    ("probes.py", "Probes", "probes", ":material/grid_on:"),
    ("index.py", "Frobnoloid index", "index", ":material/table_view:"),
    ("feature.py", "Feature", "feature", ":material/insights:"),
    ("attribution.py", "Attribution", "attribution", ":material/highlight:"),
    ("nerf.py", "NeRF", "nerf", ":material/blur_on:"),
)

st.set_page_config(page_title="frobnoscope", layout="wide")
st.navigation([st.Page(VIEWS / script, title=title, url_path=path, icon=icon, default=path == "overview")
               for script, title, path, icon in PAGES]).run()
