"""`frob eval-nerf`: judge a trained coordinate MLP against the scene it was fitted to, in images and in 3D.

The model: a `frob train nerf` run or any nerfstudio run (`models.nerfstudio.adapter`, in the scene's frame);
both answer through the same adapter surface. Views judged: the run's held-out dataset frames (val and test) and
`novel_views` new orbit views (frames n, n + 1, ... of the same family, seed and settings: poses no dataset frame
has, rendered with full ground truth now). For each: the network's render (`NerfAdapter.render_rays`) against the
true render, PSNR and SSIM on linear RGB (`models.metrics`), the per-pixel squared error broken down by
ground-truth factor (`error_breakdown`, as for autoencoders), and per ray the expected, median and peak termination
distance against `depth_ray`. In 3D (`nerf_points`): `uniform_points` uniform in the field's box and
`shell_points` within `shell_width` of the true surfaces (a held-out pixel's surface point moved along its normal)
give density against SDF and the occupancy IoU; `surface_points` true surface points seen along their held-out rays
give colour against radiance.

Output directory:
  manifest.json     format frobnoscope.nerf-eval/1: command, config, run (path, manifest hash), summary
  views.csv         per view: name, split, psnr, ssim, mse, termination errors, accumulation
  breakdown.csv     image error by ground-truth factor and bin, over all judged views
  sdf_profile.csv   density against SDF (uniform and shell points together)
  iou.csv           occupancy IoU against the density threshold (uniform points; and the shell points)
  plots/            breakdown.png, examples.png, sdf_profile.png, termination.png
"""

from __future__ import annotations

import hashlib
import importlib.util
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from pydantic import Field

from frobnoscope.engine.config import Config
from frobnoscope.engine.runs import MANIFEST, run_header, write_json_atomic
from frobnoscope.engine.tables import write_csv
from frobnoscope.interp.errors import InterpError
from frobnoscope.interp.evaluation import error_breakdown, nerf_points
from frobnoscope.interp.evaluation.error_breakdown import BreakdownConfig, EdgeRadius
from frobnoscope.models import metrics
from frobnoscope.models.device import device_record, prepare_device, resolve_device, to_numpy
from frobnoscope.models.errors import ModelError
from frobnoscope.models.nerf.adapter import PointBatch, load_nerf, rays_of_camera, read_nerf_manifest, scene_box
from frobnoscope.scenes.spec import SceneSpec, parse_spec
from frobnoscope.scenes.store import DatasetStore

JUDGE_FORMAT = "frobnoscope.nerf-eval/1"
POINT_CHUNK = 65536
TERMINATIONS = ("depth", "median_depth", "peak_depth")  # expected, median and peak termination distance


class NerfJudgeConfig(Config):
    """How much `frob eval-nerf` renders and samples; stored in its manifest as `to_dict()`."""

    novel_views: int = Field(8, ge=0, description="new orbit views (poses no dataset frame has) rendered and judged "
                                                  "too")
    uniform_points: int = Field(200_000, ge=1, description="points uniform in the field's box, for density vs SDF "
                                                           "and IoU")
    shell_points: int = Field(100_000, ge=1, description="points near the true surfaces, for density vs SDF and IoU")
    shell_width: float = Field(0.2, gt=0, description="how far from the true surfaces (scene units) shell points lie")
    surface_points: int = Field(20_000, ge=1, description="true surface points, for colour vs radiance and albedo")
    density_threshold: float = Field(nerf_points.DEFAULT_THRESHOLD, gt=0, description=(
        "density (1 / scene unit) above which a point counts as solid; the default, ln 2 / 0.05, is half opaque over "
        "0.05 units"))
    edge_radius: EdgeRadius = 1
    seed: int = Field(0, ge=0, description="seed of the point samples")


@dataclass
class View:
    name: str
    split: str  # val, test or novel
    spec: SceneSpec
    channels: dict[str, np.ndarray]  # rgb and the ground-truth channels


def judge_nerf(run_dir, out, config: NerfJudgeConfig = NerfJudgeConfig(),
               on_progress: Callable[[int, int], None] | None = None,
               device: str | torch.device | None = "cpu") -> dict:
    """Judge the run in `run_dir` (a `frob train nerf` run, or a nerfstudio run: its config.yml or a directory
    holding one) on `device`, write `out` (see the module docstring); returns the summary."""
    device = prepare_device(resolve_device(device))
    kind = check_inputs(run_dir, out)
    adapter, store, splits, reference = open_subject(run_dir, kind, device)
    out = Path(out)
    views = list(_views(store, splits, config.novel_views))
    rng = np.random.default_rng(config.seed)
    out.mkdir(parents=True, exist_ok=True)
    records, bins, per_ray, surface = [], [], {key: [] for key in (*TERMINATIONS, "depth_ray", "accumulation")}, []
    renders = {}
    depth_edges = _depth_edges(views)
    breakdown = BreakdownConfig(depth_edges=depth_edges, edge_radius=config.edge_radius)
    for done, view in enumerate(views, start=1):
        record, view_bins, rays, render = _judge_view(adapter, view, breakdown)
        records.append(record)
        bins.append(view_bins)
        for key in per_ray:
            per_ray[key].append(rays[key])
        surface.append(_surface_samples(view))
        renders[view.name] = render
        if on_progress:
            on_progress(done, len(views) + 1)
    per_ray = {key: np.concatenate(value) for key, value in per_ray.items()}
    points = _judge_points(adapter, surface, config, rng)
    rows = error_breakdown.combine(bins, breakdown)
    termination = nerf_points.termination_errors({key: per_ray[key] for key in TERMINATIONS}, per_ray["depth_ray"],
                                                  per_ray["accumulation"])
    summary = _summary(records, termination, points, rows)
    _write_outputs(out, records, rows, points, per_ray, views, renders, summary)
    if on_progress:
        on_progress(len(views) + 1, len(views) + 1)
    manifest = {**run_header(JUDGE_FORMAT), "config": config.to_dict(), "run": reference, "model": adapter.name,
                "device": device_record(device),
                "views": [record["view"] for record in records], "summary": summary,
                "conventions": "linear RGB [0, 1]; distances and SDF in scene units; density in 1 / scene units"}
    write_json_atomic(out / MANIFEST, manifest)
    return summary


def check_inputs(run_dir, out) -> str:
    """"frob" for a `frob train nerf` run, "nerfstudio" for a nerfstudio run; one-line `InterpError`s for anything
    else and for an `out` that already holds something."""
    if Path(out).exists() and any(Path(out).iterdir()):
        raise InterpError(f"{out} exists and is not empty; choose a new output directory")
    if (Path(run_dir) / MANIFEST).is_file():
        read_nerf_manifest(run_dir)
        return "frob"
    from frobnoscope.models.nerfstudio.adapter import find_config

    try:
        find_config(run_dir)
    except ModelError:
        raise InterpError(f"{run_dir} is neither a `frob train nerf` run nor a nerfstudio run (no manifest.json or "
                          "config.yml)") from None
    if importlib.util.find_spec("nerfstudio") is None:
        raise InterpError(f"{run_dir} is a nerfstudio run, and nerfstudio is not installed here; use the Python of the "
                          "environment with frobnoscope[nerfstudio] (docs/guides/nerf.md)")
    return "nerfstudio"


def open_subject(run_dir, kind: str, device: torch.device | str = "cpu"):
    """(adapter on `device`, dataset, {split: held-out frame indices}, reference to the run) for either kind of
    run."""
    if kind == "frob":
        run_manifest = read_nerf_manifest(run_dir)
        store = _open_dataset(run_manifest)
        reference = {"path": str(Path(run_dir).resolve()), "manifest_blake2b": _hash(Path(run_dir) / MANIFEST)}
        return load_nerf(run_dir, device=device), store, run_manifest["split"], reference
    from frobnoscope.models.nerfstudio.adapter import find_config, load_nerfstudio

    adapter = load_nerfstudio(run_dir, device=device)
    if adapter.dataset is None:
        raise InterpError(f"{run_dir} was trained on data whose frobnoscope dataset cannot be found (the export's "
                          "manifest.json names it); the held-out views and their ground truth come from it")
    frames = adapter.dataset.manifest["frames"]
    splits = {split: [f["index"] for f in frames if f["split"] == split] for split in ("val", "test")}
    config_path = find_config(run_dir)
    return adapter, adapter.dataset, splits, {"path": str(config_path.resolve()), "config_blake2b": _hash(config_path)}


def _hash(path: Path) -> str:
    return hashlib.blake2b(path.read_bytes(), digest_size=16).hexdigest()


def _open_dataset(run_manifest: dict) -> DatasetStore:
    reference = run_manifest["dataset"]
    path = Path(reference["path"])
    if not (path / MANIFEST).is_file():
        raise InterpError(f"the run's dataset {path} is gone; the held-out views and their ground truth come from it")
    store = DatasetStore.open(path)  # a damaged manifest: its own error, with the fix
    if _hash(path / MANIFEST) != reference["manifest_blake2b"]:
        raise InterpError(f"the run's dataset {path} has changed since training (its manifest hash differs); judge "
                          "the run against the dataset it was trained on, or train it again with `frob train nerf`")
    return store


def _views(store: DatasetStore, splits: dict[str, list[int]], novel_views: int):
    """Held-out dataset frames, then new orbit views rendered now (ground truth included)."""
    channel_names = ("rgb", "depth_ray", "position_world", "normal_world", *error_breakdown.GT_CHANNELS)
    for split in ("val", "test"):
        for k in splits.get(split, []):
            frame = store.manifest["frames"][k]
            yield View(f"{split} {k}", split, parse_spec(frame["spec"]), store.read_frame(k, channel_names))
    if novel_views <= 0:
        return
    from frobnoscope.scenes.families import make_family
    from frobnoscope.scenes.generate import render_frame
    from frobnoscope.scenes.render import Renderer

    params = store.manifest["params"]
    family = make_family(params["family"], params["seed"], params["config"])
    with Renderer() as renderer:
        for k in range(len(store), len(store) + novel_views):
            yield View(f"novel {k}", "novel", family.frame(k).spec, render_frame(family, k, renderer, {}))


def _depth_edges(views: list[View]) -> tuple[float, float, float]:
    return error_breakdown.depth_edges_of(np.stack([v.channels["depth_z"] for v in views]),
                                          np.stack([v.channels["object_id"] for v in views]))


def _judge_view(adapter, view: View, breakdown: BreakdownConfig):
    camera = view.spec.camera
    origins, directions = rays_of_camera(camera)
    rendered = adapter.render_rays(origins, directions, keys=("rgb", "accumulation", *TERMINATIONS))
    rendered = {key: to_numpy(value) for key, value in rendered.items()}
    shape = (camera.height, camera.width)
    output = torch.from_numpy(rendered["rgb"].reshape(*shape, 3)).permute(2, 0, 1)[None]
    target = torch.from_numpy(np.ascontiguousarray(view.channels["rgb"])).permute(2, 0, 1)[None]
    squared_error = metrics.squared_error_map(output, target)[0].numpy()
    objects = [obj.model_dump(mode="json") for obj in view.spec.objects]
    labels = error_breakdown.factor_labels({name: view.channels[name] for name in error_breakdown.GT_CHANNELS}, objects,
                                           breakdown)
    rays = {key: rendered[key] for key in (*TERMINATIONS, "accumulation")}
    rays["depth_ray"] = view.channels["depth_ray"].reshape(-1)
    termination = nerf_points.termination_errors({key: rays[key] for key in TERMINATIONS}, rays["depth_ray"],
                                                  rays["accumulation"])
    record = {"view": view.name, "split": view.split,
              "psnr": float(metrics.mse_to_psnr(torch.tensor(squared_error.mean()))),
              "ssim": float(metrics.ssim(output, target)[0]) if min(shape) >= metrics.SSIM_WINDOW else float("nan"),
              "mse": float(squared_error.mean()),
              "depth_median_abs_error": termination["depth_median_abs_error"],
              "peak_depth_median_abs_error": termination["peak_depth_median_abs_error"],
              "miss_accumulation_mean": termination["miss_accumulation_mean"],
              "hit_accumulation_mean": termination["hit_accumulation_mean"]}
    render = {"rgb": rendered["rgb"].reshape(*shape, 3), "depth": rendered["depth"].reshape(shape),
              "squared_error": squared_error, "truth": view.channels["rgb"], "depth_ray": view.channels["depth_ray"],
              "psnr": record["psnr"]}
    return record, error_breakdown.bin_sums(squared_error, labels), rays, render


def _surface_samples(view: View) -> dict[str, np.ndarray]:
    """True surface points of a view's hit pixels, their normals and the directions of the rays that see them."""
    hit = np.isfinite(view.channels["depth_ray"]).reshape(-1)
    _, directions = rays_of_camera(view.spec.camera)
    return {"points": view.channels["position_world"].reshape(-1, 3)[hit].astype(np.float64),
            "normals": view.channels["normal_world"].reshape(-1, 3)[hit].astype(np.float64),
            "directions": directions.numpy()[hit].astype(np.float64)}


def _density(adapter, points: np.ndarray) -> np.ndarray:
    return np.concatenate([to_numpy(adapter.forward(PointBatch.of(points[i:i + POINT_CHUNK]))["density"])
                           for i in range(0, len(points), POINT_CHUNK)])


def _judge_points(adapter, surface: list[dict], config: NerfJudgeConfig, rng: np.random.Generator) -> dict:
    scene = adapter.scene
    box = scene_box(scene.bounds, scene.extent)  # the scene's bounds with a margin, whatever box the model has
    uniform = rng.uniform(box[0], box[1], size=(config.uniform_points, 3))
    surface = {key: np.concatenate([s[key] for s in surface]) for key in surface[0]}
    picks = rng.integers(len(surface["points"]), size=config.shell_points)
    offsets = rng.uniform(-config.shell_width, config.shell_width, size=(config.shell_points, 1))
    shell = surface["points"][picks] + offsets * surface["normals"][picks]
    sdf_uniform, sdf_shell = (scene.signed_distances(p).min(axis=1) for p in (uniform, shell))
    density_uniform, density_shell = _density(adapter, uniform), _density(adapter, shell)
    chosen = rng.choice(len(surface["points"]), size=min(config.surface_points, len(surface["points"])), replace=False)
    batch = PointBatch.of(surface["points"][chosen], surface["directions"][chosen])
    truth = adapter.optimal_output(batch)
    rgb = to_numpy(adapter.forward(batch)["rgb"].double())
    threshold = config.density_threshold
    return {
        "iou_uniform": nerf_points.occupancy_iou(density_uniform, sdf_uniform, threshold),
        "iou_shell": nerf_points.occupancy_iou(density_shell, sdf_shell, threshold),
        "iou_sweep": [{"threshold": u["threshold"], "iou_uniform": u["iou"], "iou_shell": s["iou"]} for u, s in zip(
            nerf_points.iou_sweep(density_uniform, sdf_uniform), nerf_points.iou_sweep(density_shell, sdf_shell))],
        "sdf_profile": nerf_points.density_by_sdf(np.concatenate([density_uniform, density_shell]),
                                                  np.concatenate([sdf_uniform, sdf_shell]), threshold),
        "color": nerf_points.color_errors(rgb, truth["radiance"], truth["albedo"]),
        "threshold": threshold,
    }


def _summary(records: list[dict], termination: dict, points: dict, rows: list[dict]) -> dict:
    by_split = {}
    for split in dict.fromkeys(r["split"] for r in records):
        mine = [r for r in records if r["split"] == split]
        by_split[split] = {"views": len(mine), "mean_psnr": float(np.mean([r["psnr"] for r in mine])),
                           "mean_ssim": float(np.nanmean([r["ssim"] for r in mine]))}
    best = max(points["iou_sweep"], key=lambda row: row["iou_uniform"])
    return {
        "images": by_split, "termination": termination, "color": points["color"],
        "occupancy": {"threshold": points["threshold"], "iou_uniform": points["iou_uniform"],
                      "iou_shell": points["iou_shell"],
                      "best_threshold": best["threshold"], "best_iou_uniform": best["iou_uniform"]},
        "worst_bins": [{k: r[k] for k in ("factor", "bin", "psnr", "mse_vs_overall")}
                       for r in sorted((r for r in rows if r["pixels"]), key=lambda r: -r["mse_vs_overall"])[:5]],
    }


def _write_outputs(out: Path, records, rows, points, per_ray, views, renders, summary) -> None:
    from frobnoscope.interp.plots import evaluation as plots
    from frobnoscope.interp.plots import nerf as nerf_plots

    write_csv(out / "views.csv", records)
    write_csv(out / "breakdown.csv", rows)
    write_csv(out / "sdf_profile.csv", points["sdf_profile"])
    write_csv(out / "iou.csv", points["iou_sweep"])
    (out / "plots").mkdir(exist_ok=True)
    overall = float(metrics.mse_to_psnr(torch.tensor(np.mean([r["mse"] for r in records]))))
    plots.plot_breakdown(rows, overall, out / "plots" / "breakdown.png")
    nerf_plots.plot_examples(renders, out / "plots" / "examples.png")
    nerf_plots.plot_sdf_profile(points["sdf_profile"], points["iou_sweep"], points["threshold"],
                                out / "plots" / "sdf_profile.png")
    nerf_plots.plot_termination(per_ray, out / "plots" / "termination.png")
