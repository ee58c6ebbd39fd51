"""What a study found, read from its workspace: a short Markdown report (WORKSPACE/summary.md, and the end of
`frob study run`). Every figure has its baseline beside it: the model against its optimal output, probes trained
against the shuffled-target and random-weights controls, SAE reconstruction against zero ablation and seed to seed,
feature matches of trained against random weights; a stage that did not run is left out."""

from __future__ import annotations

import csv
import json
from pathlib import Path

from frobnoscope.app.study.schema import StudyFile

TOP_PROBES, TOP_FROBNOLOIDS, WORST_BINS = 5, 5, 3


def _rows(path: Path) -> list[dict]:
    if not path.is_file():
        return []
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def _number(text: str) -> float:
    return float(text) if text not in ("", None) else float("nan")


def _manifest(path: Path) -> dict:
    return json.loads((path / "manifest.json").read_text()) if (path / "manifest.json").is_file() else {}


def model_lines(name: str, base: Path) -> list[str]:
    lines = []
    summary = _manifest(base / "eval").get("summary")
    if summary:
        worst = sorted((r for r in _rows(base / "eval" / "breakdown.csv") if _number(r["pixel_share"]) > 0.01),
                       key=lambda r: _number(r["psnr"]))[:WORST_BINS]
        lines.append(f"- against the optimal output: mean PSNR {summary['mean_psnr']:.2f} dB, SSIM "
                     f"{summary['mean_ssim']:.4f} on {summary['frames']} frames; worst: " +
                     ", ".join(f"{r['factor']}={r['bin']} {float(r['psnr']):.1f} dB" for r in worst))
    probes = [r for r in _rows(base / "probes" / "probes.csv") if r["metric"] in ("r2", "balanced_accuracy")
              and not r.get("note")]
    if probes:
        best = sorted(probes, key=lambda r: -float(r["selectivity"]))[:TOP_PROBES]
        control = "control_score" in best[0]
        lines.append("- probes, best selectivity (score - shuffled targets" + (", random weights" if control else "") +
                     "): " + "; ".join(f"{r['hook']} {r['factor']} {r['metric']} {float(r['score']):.2f} (shuffled "
                                       f"{float(r['shuffled']):.2f}" + (f", random {float(r['control_score']):.2f}"
                                                                        if control else "") + ")" for r in best))
    for sae in sorted((base / "saes").glob("*/report.json")):
        report = json.loads(sae.read_text())
        metrics, splice = report["metrics"], report["splice"]
        recovered = f", error recovered {100 * splice['recovered']:.0f}%" if "recovered" in splice else ""
        lines.append(f"- SAE {sae.parent.name}: FVU {metrics['fvu']:.3f}, L0 {metrics['l0']:.1f}, dead "
                     f"{100 * metrics['dead_fraction']:.0f}%{recovered}")
    for features in sorted((base / "features").glob("*/features.csv")):
        matched = "; ".join(f"{r['features']} {r['matched']}/{r['count']}"
                            for r in _rows(features.parent / "summary.csv"))
        lines.append(f"- features at {features.parent.name} matching ground truth: {matched}")
        top = [r for r in _rows(features) if r["frobnoloid_score"] not in ("", "nan")][:TOP_FROBNOLOIDS]
        lines += [f"  - frobnoloid {r['kind']} {r['feature']}: score {float(r['frobnoloid_score']):.3g}, importance "
                  f"{float(r['importance']):.3g}, gt_r2 {float(r['gt_r2']):.2f}, nearest factor "
                  f"{r['best_factor'] or 'none'}" for r in top]
    for run in sorted((base / "attribution").glob("*/latent*")):
        lines.append(f"- attribution maps of {run.parent.name} latent {run.name.removeprefix('latent')}: {run}")
    return lines


def nerf_lines(base: Path) -> list[str]:
    summary = _manifest(base / "eval").get("summary")
    if not summary:
        return []
    images = ", ".join(f"{split} {row['mean_psnr']:.2f} dB" for split, row in summary["images"].items())
    termination = summary["termination"]
    return [f"- renders against the truth: {images}",
            f"- termination vs depth_ray: median |error| {termination['median_depth_median_abs_error']:.3f} units; "
            f"occupancy IoU {summary['occupancy']['iou_uniform']:.3f}"]


def summarise(study: StudyFile, workspace: Path) -> str:
    workspace = Path(workspace)
    out = [f"# Study {study.name}", "", study.description, ""] if study.description else [f"# Study {study.name}", ""]
    for name in study.models:  # a fallback that was not needed has no folder
        if (workspace / name).is_dir():
            out += [f"## {name}", *model_lines(name, workspace / name), ""]
    for name in study.nerfs:
        if (workspace / name).is_dir():
            out += [f"## {name} (NeRF)", *nerf_lines(workspace / name), ""]
    return "\n".join(out)
