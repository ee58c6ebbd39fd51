"""Cached access to a workspace's runs for the app's pages.

Arrays, stores and models are cached with `st.cache_resource` (shared, never copied: callers must not modify what
they get); small tables are rebuilt per call. Keys are resolved paths inside the workspace (`Workspace.path`), so a
page can never make the app open a path outside it. `missing(...)` shows what is not there yet and the command that
makes it, instead of an exception.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd
import streamlit as st

from frobnoscope.app.web.labels import LabelBook, feature_key
from frobnoscope.app.web.workspace import Workspace
from frobnoscope.engine.errors import FrobError
from frobnoscope.engine.runs import load_manifest

WORKSPACE_ENV = "FROB_WORKSPACE"
INDEX_COLUMNS = ("key", "model", "hook", "kind", "feature", "frobnoloid_score", "importance", "gt_r2", "gt_r2_low",
                 "gt_r2_high", "best_factor", "matched", "correlation", "iou", "density", "max_activation", "name",
                 "note", "run")


@st.cache_resource(show_spinner=False, max_entries=8)
def _open_workspace(root: str, stamp: float) -> Workspace:
    return Workspace(root)


def workspace() -> Workspace:
    """The workspace `frob app` was started on (environment variable FROB_WORKSPACE)."""
    root = os.environ.get(WORKSPACE_ENV)
    if not root:
        raise FrobError(f"no workspace given; start the app with `frob app WORKSPACE` (or set {WORKSPACE_ENV})")
    manifest = Path(root).resolve() / "manifest.json"
    # reopened when the study writes its manifest again (a study still running shows its stages as they finish)
    return _open_workspace(str(manifest.parent), manifest.stat().st_mtime_ns if manifest.is_file() else 0)


def missing(what: str, command: str) -> None:
    st.info(f"{what} is not in this workspace yet. Make it with:")
    st.code(command, language="bash")


@st.cache_resource(show_spinner="Opening the features run...")
def feature_source(directory: str):
    from frobnoscope.interp.features.source import FeatureSource

    return FeatureSource(directory, relocate=workspace().relocate)


@st.cache_resource(show_spinner="Reading examples...")
def feature_examples(directory: str, stamp: float) -> dict[str, np.ndarray]:
    """examples.npz of a features run (`stamp`: its modification time, so a rewritten file is reread)."""
    from frobnoscope.interp.features.examples_file import read_examples

    return read_examples(directory)


def examples_of(directory: Path) -> dict[str, np.ndarray]:
    from frobnoscope.interp.features.examples_file import EXAMPLES

    path = Path(directory) / EXAMPLES
    return feature_examples(str(directory), path.stat().st_mtime if path.is_file() else 0.0)


@st.cache_resource(show_spinner=False)
def _features_table(directory: str, stamp: float) -> pd.DataFrame:
    table = pd.read_csv(Path(directory) / "features.csv", keep_default_na=False, na_values=["nan", "NaN", ""])
    return table


def _run_table(ws: Workspace, directory: Path) -> pd.DataFrame:
    from frobnoscope.interp.errors import InterpError
    from frobnoscope.interp.features.layout import FEATURES_FORMAT

    table = _features_table(str(directory), (directory / "features.csv").stat().st_mtime).copy()
    relative = ws.relative(directory)
    table["run"] = relative
    table["model"] = relative.split("/")[0]
    manifest = load_manifest(directory, expected_format=FEATURES_FORMAT, what="a features run",
                             make_with="frob features label", error=InterpError)
    table["hook"] = manifest.get("hook", directory.name)
    table["density"] = table["active_fraction"]
    table["max_activation"] = np.nan
    try:
        from frobnoscope.interp.features.examples_file import read_examples

        arrays = read_examples(directory, [f"{kind}.{name}" for kind in ("channel", "latent") for name in ("max", "density")])
        for kind in table["kind"].unique():
            rows = table["kind"] == kind
            if f"{kind}.max" in arrays:
                table.loc[rows, "max_activation"] = arrays[f"{kind}.max"][table.loc[rows, "feature"].to_numpy()]
                table.loc[rows, "density"] = arrays[f"{kind}.density"][table.loc[rows, "feature"].to_numpy()]
    except FrobError:
        pass  # examples not made yet: the table still lists the features (the feature page says how to make them)
    table["key"] = [feature_key(relative, kind, i) for kind, i in zip(table["kind"], table["feature"])]
    return table


def feature_index(ws: Workspace) -> pd.DataFrame:
    """One row per feature (SAE latents and raw channels) of every features run in the workspace, with labels."""
    tables = [_run_table(ws, directory) for directory in ws.features_runs()]
    if not tables:
        return pd.DataFrame(columns=list(INDEX_COLUMNS))
    table = pd.concat(tables, ignore_index=True)
    labelled = LabelBook(ws.root).current()
    table["name"] = [labelled.get(key, {}).get("name", "") for key in table["key"]]
    table["note"] = [labelled.get(key, {}).get("note", "") for key in table["key"]]
    table["matched"] = table["matched"].astype(str).str.lower() == "true"
    table["best_factor"] = table["best_factor"].fillna("")
    for column in ("gt_r2_low", "gt_r2_high"):  # runs labelled before the interval existed have none
        table[column] = table[column] if column in table else np.nan
    return table[list(INDEX_COLUMNS)]


@st.cache_resource(show_spinner="Opening the dataset...")
def dataset(directory: str):
    from frobnoscope.scenes.store import DatasetStore

    return DatasetStore.open(directory)


@st.cache_resource(show_spinner="Loading the model...")
def _load_model(spec: str):
    from frobnoscope.models import load_model

    return load_model(spec)


def model(spec: str):
    """The model a run recorded; a model the study trained (`run:PATH`) is found inside the workspace even when the
    workspace has moved (pretrained weights load from where `frob` finds them, as the run did)."""
    kind, _, location = spec.partition(":")
    if kind == "run" and location:
        spec = f"run:{workspace().relocate(location)}"
    return _load_model(spec)


@st.cache_resource(show_spinner=False)
def ground_truth_fit(directory: str):
    from frobnoscope.interp.features.evidence import GroundTruthFit

    return GroundTruthFit(feature_source(directory).truth)


@st.cache_resource(show_spinner=False, max_entries=256)
def _channel_chunk(directory: str, channel: str, chunk: int) -> np.ndarray:
    array = dataset(directory).channel(channel)
    size = array.chunks[0]
    return np.asarray(array[chunk * size:(chunk + 1) * size])


def frame_channel(directory, channel: str, frame: int) -> np.ndarray:
    """One frame of a dataset channel, read (and cached) a storage chunk at a time."""
    array = dataset(str(directory)).channel(channel)
    if not 0 <= frame < array.shape[0]:
        raise FrobError(f"frame {frame} is out of range; the dataset holds frames 0 to {array.shape[0] - 1}")
    size = array.chunks[0]
    return _channel_chunk(str(directory), channel, frame // size)[frame % size]
