"""The study's stages as calls of the library's resumable jobs. Each takes its inputs and output paths, its
validated settings, and `report(done, total)` for the stage's progress line, and each that runs a model its
`device`; what a job returns is in its run directory, which later stages and the summary read."""

from __future__ import annotations

import csv
import math
from collections.abc import Callable
from pathlib import Path

from frobnoscope.engine.config import validate_config
from frobnoscope.interp.activations.capture import CaptureConfig, capture
from frobnoscope.interp.activations.store import ActivationStore
from frobnoscope.interp.attribution.config import AttributeConfig
from frobnoscope.interp.attribution.run import attribute
from frobnoscope.interp.attribution.scores import score_run
from frobnoscope.interp.evaluation.images import EvalConfig, prepare_evaluation, run_evaluation
from frobnoscope.interp.evaluation.nerf import NerfJudgeConfig, judge_nerf
from frobnoscope.interp.features.run import LabelConfig, label_run
from frobnoscope.interp.probes.linear import ProbeConfig
from frobnoscope.interp.probes.run import run_probes
from frobnoscope.interp.sae.run import SAERunConfig, train_on_run, write_stability
from frobnoscope.interp.sae.training import SAETrainConfig
from frobnoscope.models.autoencoders.train import AutoencoderTrainConfig, train_autoencoder
from frobnoscope.models.nerf.train import NerfTrainConfig, train_nerf
from frobnoscope.scenes.generate import generate
from frobnoscope.scenes.generate_config import GenerateConfig

Report = Callable[[int, int], None]


def steps(report: Report, total: int) -> Callable:
    """An `on_step(report)` for a training loop of `total` steps."""
    return lambda step_report: report(step_report.step, total)


def make_dataset(out: Path, config: GenerateConfig, report: Report, *, workers: int, ray: str | None) -> None:
    generate(config, out=out, workers=workers, ray_address=ray, on_progress=report)


def train_model(data: Path, out: Path, config: AutoencoderTrainConfig, report: Report, *, device: str) -> None:
    train_autoencoder(data, out, config, on_step=steps(report, config.steps), device=device)


def evaluate(data: Path, out: Path, config: EvalConfig, report: Report, *, device: str) -> None:
    run_evaluation(prepare_evaluation(data, out, config, device), on_progress=report)


def capture_activations(data: Path, out: Path, config: CaptureConfig, report: Report, *, workers: int,
                        ray: str | None, device: str) -> None:
    capture(data, out, config, on_progress=report, workers=workers, ray_address=ray, device=device)


def probe(trained: Path, control: Path | None, out: Path, config: ProbeConfig, report: Report, *, device: str) -> None:
    hooks, done = len(ActivationStore.open(trained).hooks()), []
    report(0, hooks)
    run_probes(trained, out, control, config, on_hook=lambda hook: (done.append(hook), report(len(done), hooks)),
               device=device)


def train_sae(run: Path, out: Path, config: SAERunConfig, train_config: SAETrainConfig, report: Report, *,
              device: str, reference: Path | None = None) -> None:
    """Train one seed's SAE; with `reference` (the first seed's SAE), its stability against it along the run."""
    train_on_run(run, config, train_config, out=out, on_step=steps(report, train_config.steps), device=device)
    if reference is not None:
        write_stability(out, reference)


def label(run: Path, out: Path, config: LabelConfig, report: Report, *, device: str) -> None:
    label_run(run, config, out, on_progress=lambda kind, done, total: report(done, total), device=device)


def top_frobnoloids(features: Path, top: int) -> list[int]:
    """The SAE latents with the highest finite frobnoloid score in a `frob features label` directory."""
    with open(features / "features.csv", newline="") as f:
        rows = [row for row in csv.DictReader(f) if row["kind"] == "latent"]
    scored = [row for row in rows if row["frobnoloid_score"] and math.isfinite(float(row["frobnoloid_score"]))]
    scored.sort(key=lambda row: -float(row["frobnoloid_score"]))
    return [int(row["feature"]) for row in scored[:top]]


def attribute_frobnoloids(data: Path, sae: Path, features: Path, out: Path, model: str, hook: str, top: int,
                          causes: list[str], settings: dict, report: Report, *, workers: int, ray: str | None,
                          device: str) -> None:
    """One attribution run per top frobnoloid (`out/latent<ID>`), scored against `causes` if any are given."""
    latents = top_frobnoloids(features, top)
    for i, latent in enumerate(latents):
        config = validate_config(AttributeConfig, {**settings, "model": model, "target": f"feature:{hook}:{latent}",
                                                   "sae": str(sae)}, "attribution settings")
        run = out / f"latent{latent}"
        attribute(data, run, config, workers=workers, ray_address=ray, device=device,
                  on_progress=lambda done, total, i=i: report(i * total + done, len(latents) * total))
        if causes:
            score_run(run, causes)
    report(len(latents), len(latents))


def train_field(data: Path, out: Path, config: NerfTrainConfig, report: Report, *, device: str) -> None:
    train_nerf(data, out, config, on_step=steps(report, config.steps), device=device)


def judge(run: Path, out: Path, config: NerfJudgeConfig, report: Report, *, device: str) -> None:
    judge_nerf(run, out, config, on_progress=report, device=device)
