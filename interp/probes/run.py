"""`frob probe RUN`: probe every hook point x factor of a capture run, write probes.csv and a heatmap.

Output directory (default RUN/probes): probes.csv (one row per hook x factor x metric; columns in
`probes._row`, plus control_score/control_selectivity with a control run) and heatmap.png (rows: hook points in
execution order; columns: factors; colour: selectivity of the primary metric (R^2 or balanced accuracy), with the
random-weights control's selectivity beside it when given), disentanglement.csv (per hook point: MIG, SAP and
DCI of the token-averaged activations per frame against the per-frame factors, see `disentanglement`; with fewer
frames than MIG's 20 bins every code tells the frames apart and MIG is 0), weights.npz (every probe trained on the real
targets, `probes.Fitted`: arrays `HOOK|FACTOR|weights`, `|intercept` and, for categorical probes, `|classes`; the
manifest's `fitted` lists them with their level) and manifest.json (what made them). `load_fitted` reads one back
(`frob attribute --target probe:...`).
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import torch

from frobnoscope.engine.runs import MANIFEST, load_manifest, run_header, write_json_atomic
from frobnoscope.engine.tables import write_csv
from frobnoscope.interp.activations.store import ActivationStore
from frobnoscope.interp.errors import InterpError
from frobnoscope.interp.probes import disentanglement
from frobnoscope.interp.probes.linear import (
    Fitted,
    ProbeConfig,
    check_control,
    frame_mean_activations,
    join_control,
    probe_store,
)
from frobnoscope.models.device import device_record, prepare_device, resolve_device

PROBES_FORMAT = "frobnoscope.probes/1"
WEIGHTS = "weights.npz"
PRIMARY_METRICS = ("r2", "balanced_accuracy")  # the heatmaps' metric: categorical factors by balanced accuracy


def run_probes(run, out=None, control=None, config: ProbeConfig = ProbeConfig(), on_hook=None,
               device: str | torch.device | None = "cpu") -> list[dict]:
    """Probe `run` (and `control`) on `device`, write the CSV, heatmap and manifest into `out`; returns the rows."""
    device = prepare_device(resolve_device(device))
    store = ActivationStore.open(run)
    control_store = ActivationStore.open(control) if control is not None else None
    if control_store is not None:
        check_control(store, control_store)
    out = Path(out) if out is not None else store.path / "probes"
    out.mkdir(parents=True, exist_ok=True)
    fitted = {}
    rows = probe_store(store, config, on_hook, fitted, device)
    if control_store is not None:
        rows = join_control(rows, probe_store(control_store, config, on_hook, device=device))
    write_csv(out / "probes.csv", rows)
    write_csv(out / "disentanglement.csv", disentanglement_rows(store))
    plot_heatmap(rows, out / "heatmap.png")
    _save_fitted(out / WEIGHTS, fitted)
    write_json_atomic(out / MANIFEST, {**run_header(PROBES_FORMAT), "config": config.to_dict(),
                                       "run": str(store.path.resolve()),
                                       "control": str(control_store.path.resolve()) if control_store else None,
                                       "rows": len(rows), "device": device_record(device),
                                       "fitted": [{"hook": hook, "factor": factor, "level": probe.level,
                                                   "categorical": probe.classes is not None}
                                                  for (hook, factor), probe in fitted.items()]})
    return rows


def _save_fitted(path: Path, fitted: dict) -> None:
    arrays = {}
    for (hook, factor), probe in fitted.items():
        arrays[f"{hook}|{factor}|weights"] = probe.weights
        arrays[f"{hook}|{factor}|intercept"] = probe.intercept
        if probe.classes is not None:
            arrays[f"{hook}|{factor}|classes"] = probe.classes
    temporary = path.with_suffix(".tmp.npz")
    np.savez(temporary, **arrays)
    temporary.replace(path)


def load_fitted(directory, factor: str, hook: str | None = None) -> tuple[str, Fitted]:
    """(hook, probe) for `factor` from a `frob probe` output directory; without `hook`, the hook whose probe of that
    factor has the highest selectivity (probes.csv, primary metric). One-line errors for a missing directory, weights
    saved by no run (an older `frob probe`: rerun it) or a factor that was not fitted."""
    directory = Path(directory)
    manifest = load_manifest(directory, expected_format=PROBES_FORMAT, what="a probe directory",
                             make_with="frob probe RUN", error=InterpError)
    if "fitted" not in manifest or not (directory / WEIGHTS).is_file():
        raise InterpError(f"{directory} holds no probe weights (made before they were saved); rerun `frob probe`")
    known = {(entry["hook"], entry["factor"]): entry for entry in manifest["fitted"]}
    candidates = [key for key in known if key[1] == factor and (hook is None or key[0] == hook)]
    if not candidates:
        factors = sorted({key[1] for key in known if hook is None or key[0] == hook})
        where = f" at hook {hook!r}" if hook else ""
        shown = ", ".join(factors[:12]) + (", ..." if len(factors) > 12 else "")
        raise InterpError(f"no probe of factor {factor!r} was fitted{where} in {directory}; fitted: {shown}")
    if hook is None:
        selectivity = {(row["hook"], row["factor"]): row["selectivity"] for row in read_csv(directory / "probes.csv")
                       if row["metric"] in PRIMARY_METRICS}
        hook = max(candidates, key=lambda key: selectivity.get(key, -np.inf))[0]
    with np.load(directory / WEIGHTS) as arrays:
        prefix = f"{hook}|{factor}|"
        classes = arrays[prefix + "classes"] if prefix + "classes" in arrays else None
        return hook, Fitted(known[hook, factor]["level"], arrays[prefix + "weights"], arrays[prefix + "intercept"],
                            classes)


def disentanglement_rows(store: ActivationStore) -> list[dict]:
    """Per hook point: MIG, DCI and SAP between its token-averaged activations per frame and the per-frame factors
    (factors defined and varying in every frame only)."""
    factors = {name: v for name, v in store.factors().items() if np.isfinite(v).all() and v.std() > 0}
    matrix = np.stack(list(factors.values()), axis=1)
    rows = []
    for hook in store.hooks():
        codes = frame_mean_activations(store, hook)
        rows.append({"hook": hook, "frames": len(codes), "factors": len(factors),
                     "mig": disentanglement.mig(codes, matrix), "sap": disentanglement.sap(codes, matrix),
                     **disentanglement.dci(codes, matrix)})
    return rows


def read_csv(path) -> list[dict]:
    with open(path) as f:
        rows = list(csv.DictReader(f))
    for row in rows:
        for key, value in row.items():
            if key not in ("hook", "factor", "level", "kind", "metric") and value != "":
                row[key] = float(value)
    return rows


def plot_heatmap(rows: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    primary = [r for r in rows if r["metric"] in PRIMARY_METRICS]
    hooks = list(dict.fromkeys(r["hook"] for r in primary))
    factors = list(dict.fromkeys(r["factor"] for r in primary))
    panels = [("selectivity", "trained: score - shuffled")]
    if "control_selectivity" in primary[0]:
        panels.append(("control_selectivity", "random weights: score - shuffled"))
    fig, axes = plt.subplots(1, len(panels), figsize=(0.32 * len(factors) * len(panels) + 3, 0.3 * len(hooks) + 2.5),
                             squeeze=False)
    for ax, (column, title) in zip(axes[0], panels):
        grid = np.full((len(hooks), len(factors)), np.nan)
        for r in primary:
            grid[hooks.index(r["hook"]), factors.index(r["factor"])] = r[column]
        image = ax.imshow(grid, vmin=-0.2, vmax=1, cmap="viridis", aspect="auto")
        ax.set_xticks(range(len(factors)), factors, rotation=90, fontsize=7)
        ax.set_yticks(range(len(hooks)), hooks, fontsize=7)
        ax.set_title(title, fontsize=9)
    fig.colorbar(image, ax=axes[0].tolist(), label="R² or balanced accuracy selectivity")
    fig.savefig(path, dpi=110, bbox_inches="tight")
    plt.close(fig)
