"""The figures of a `frob study run full --out OUT` workspace as markdown tables (the ones in BENCHMARKS.md).

    python bench/interp_pipeline_summary.py OUT [--factors depth_z normal_cam.z ...]

Per model directory OUT/<model>/: probe scores by layer for a few factors, trained / random weights (held-out R^2
for continuous targets, accuracy for categorical ones); the SAE's report (L0, FVU, dead and dense fractions, the
model's error clean / spliced / zero-ablated) and the stability of its two seeds; the top frobnoloids; and the
summary of features matching ground truth, trained vs random weights.
"""

from __future__ import annotations

import argparse
import csv
import json
from pathlib import Path

FACTORS = ("depth_z", "normal_cam.z", "albedo.r", "shading", "edges", "object_id", "shape_id", "light_azimuth_cos",
           "camera_elevation_deg", "n_objects")


def read_csv(path: Path) -> list[dict]:
    with open(path) as f:
        return list(csv.DictReader(f))


def probe_table(probes: list[dict], factors: tuple[str, ...]) -> list[str]:
    primary = {(r["hook"], r["factor"]): r for r in probes if r["metric"] in ("r2", "balanced_accuracy")}
    hooks = list(dict.fromkeys(r["hook"] for r in probes))
    present = [f for f in factors if any((hook, f) in primary for hook in hooks)]
    lines = ["| hook | " + " | ".join(present) + " |", "|---|" + "---|" * len(present)]
    for hook in hooks:
        cells = []
        for factor in present:
            row = primary.get((hook, factor))
            cells.append("-" if row is None else f"{float(row['score']):.2f} / {float(row['control_score']):.2f}")
        lines.append(f"| {hook} | " + " | ".join(cells) + " |")
    return lines


def sae_rows(model: str, sae_dirs: list[Path]) -> list[str]:
    from frobnoscope.interp.sae.analysis import stability
    from frobnoscope.interp.sae.training import load_sae

    report = json.loads((sae_dirs[0] / "report.json").read_text())
    metrics, splice = report["metrics"], report["splice"]
    stable = stability(load_sae(sae_dirs[0]), load_sae(sae_dirs[1])) if len(sae_dirs) > 1 else None
    config = json.loads((sae_dirs[0] / "manifest.json").read_text())["sae"]
    return [f"| {model} | {report['hook']} ({report['grid'][0]}x{report['grid'][1]}x{report['channels']}) | "
            f"{config['arch']} M={config['width']} k={config['k']} | {metrics['l0']:.1f} | {metrics['fvu']:.3f} | "
            f"{100 * metrics['dead_fraction']:.1f}% | {100 * metrics['dense_fraction']:.1f}% | "
            f"{splice['clean_mse']:.2e} / {splice['spliced_mse']:.2e} / {splice['zero_ablation_mse']:.2e} | "
            f"{100 * splice['recovered']:.1f}% | "
            + (f"{stable['mean_matched_cosine']:.3f} ({100 * stable['fraction_above']:.0f}% > {stable['threshold']})"
               if stable else "-")
            + f" | {report['absorption']['pairs']} ({report['absorption']['confirmed']}) |"]


def frobnoloid_rows(model: str, features: list[dict], top: int) -> list[str]:
    lines = []
    for row in features[:top]:
        match = row["best_factor"] or "-"
        lines.append(f"| {model} | {row['kind']} {row['feature']} | {match} | {float(row['correlation']):.2f} / "
                     f"{float(row['iou']):.2f} | {float(row['gt_r2']):.2f} | {float(row['importance']):.2e} | "
                     f"{float(row['frobnoloid_score']):.2e} |")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("out", type=Path)
    parser.add_argument("--factors", nargs="+", default=list(FACTORS))
    parser.add_argument("--top", type=int, default=5)
    args = parser.parse_args()
    models = [d for d in sorted(args.out.iterdir()) if (d / "probes" / "probes.csv").is_file()]
    sae, frob, summary = [], [], []
    for model in models:
        print(f"### {model.name}: probe score by layer, trained / random weights\n")
        print("\n".join(probe_table(read_csv(model / "probes" / "probes.csv"), tuple(args.factors))) + "\n")
        sae_dirs = sorted((model / "saes").glob("*.s[0-9]*"))
        if sae_dirs and (sae_dirs[0] / "report.json").is_file():
            sae += sae_rows(model.name, sae_dirs)
        labelled = next(iter(sorted((model / "features").glob("*"))), None)
        if labelled and (labelled / "features.csv").is_file():
            frob += frobnoloid_rows(model.name, read_csv(labelled / "features.csv"), args.top)
            summary += [f"| {model.name} | {r['features']} | {r['count']} | {r['matched']} | "
                        f"{100 * float(r['matched_fraction']):.1f}% |" for r in read_csv(labelled / "summary.csv")]
    print("### SAEs (held-out frames)\n")
    print("| model | hook | SAE | L0 | FVU | dead | dense | MSE clean / spliced / zero-ablated | recovered | "
          "stability (2 seeds) | absorption (confirmed) |\n|---|---|---|---|---|---|---|---|---|---|---|")
    print("\n".join(sae) + "\n")
    print("### Top frobnoloids\n")
    print("| model | feature | best factor | r / IoU | gt_r2 | importance | frobnoloid score |\n|---|---|---|---|---|---|---|")
    print("\n".join(frob) + "\n")
    print("### Features matching ground truth, trained vs random weights\n")
    print("| model | features | count | matched | fraction |\n|---|---|---|---|---|")
    print("\n".join(summary))


if __name__ == "__main__":
    main()
