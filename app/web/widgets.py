"""Widgets whose value lives in the URL (`state`), and pictures side by side: what every page builds its controls
from. Each widget reads its URL parameter (a missing, malformed or unknown value falls back to the default), writes
its value back, and has the key `<page>.<parameter>` (tests find it by that key)."""

from __future__ import annotations

import numpy as np
import streamlit as st

from frobnoscope.app.web import data, state


def url_select(label: str, options: list, name: str, page: str, where=st, cast=None, default=None, **kwargs):
    """A selectbox over `options` kept in the URL parameter `name` (unknown: `default`, else the first option)."""
    asked = state.param(name, default, cast or type(options[0]))
    value = where.selectbox(label, options, index=options.index(asked) if asked in options else 0,
                            key=f"{page}.{name}", **kwargs)
    state.keep(**{name: value})
    return value


def model_stage(ws, page: str, stage: str, marker: str, no_model: str, what: str):
    """(model, its `<model>/<stage>` directory) for the image model chosen in the URL parameter `model`; None, after
    saying what is missing and the command that makes it, when there is no image model (`no_model`) or the stage's
    `marker` file is not there ("The {what} of <model>")."""
    models = ws.image_models()
    if not models:
        data.missing(no_model, ws.rerun_command())
        return None
    model = url_select("model", models, "model", page)
    directory = ws.path(f"{model}/{stage}")
    if not (directory / marker).is_file():
        data.missing(f"The {what} of {model} ({model}/{stage})", ws.rerun_command())
        return None
    return model, directory


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


def new_click(key: str) -> tuple[int, int] | None:
    """The (row, col) last clicked on the `pixel_picker` with this key, once per click (None after it was
    returned, so later changes to the row and column inputs are not overridden). Call before drawing the inputs."""
    event = st.session_state.get(key)
    points = event.selection.points if event and event.selection else []
    if not points:
        return None
    clicked = (int(points[0]["y"]), int(points[0]["x"]))
    if st.session_state.get(f"{key}.applied") == clicked:
        return None
    st.session_state[f"{key}.applied"] = clicked
    return clicked


def pixel_picker(picture: np.ndarray, row: int, col: int, key: str, height: int = 420) -> None:
    """`picture` (H, W, 3 uint8) as a plotly image with (row, col) boxed; a click is read by `new_click(key)` on the
    next run. Clicks land on an invisible marker per pixel (plotly selects points, not image pixels); hovering
    shows the pixel's row and column."""
    import plotly.graph_objects as go

    h, w = picture.shape[:2]
    rows, cols = np.mgrid[0:h, 0:w]
    figure = go.Figure(go.Image(z=picture, hovertemplate="row %{y}, col %{x}<extra></extra>"))
    figure.add_trace(go.Scatter(x=cols.ravel(), y=rows.ravel(), mode="markers", marker={"opacity": 0, "size": 6},
                                hoverinfo="none", showlegend=False))
    figure.add_shape(type="rect", x0=col - 1.5, x1=col + 1.5, y0=row - 1.5, y1=row + 1.5,
                     line={"color": "cyan", "width": 2})
    figure.update_layout(clickmode="event+select", dragmode=False, height=height, margin={"l": 0, "r": 0, "t": 0, "b": 0})
    figure.update_xaxes(visible=False)
    figure.update_yaxes(visible=False)
    st.plotly_chart(figure, on_select="rerun", selection_mode="points", key=key)
