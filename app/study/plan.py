"""A study as stages in dependency order, each one existing resumable job with fixed paths under the workspace:

    data/<dataset>/                        frob scenes generate              stage data.<dataset>
    models/<model>/                        frob train ae (a `train:` model)  <model>.train
    <model>/eval/                          frob eval                         <model>.eval
    <model>/capture/trained, .../random    frob capture (random: re-initialised weights, seed 0)
                                                                             <model>.capture, <model>.capture-random
    <model>/probes/                        frob probe (the random capture as control)  <model>.probes
    <model>/saes/<hook>.s<seed>/           frob sae train                    <model>.sae.<hook>.s<seed>
    <model>/features/<hook>/               frob features label (the first seed's SAE)  <model>.features.<hook>
    <model>/attribution/<hook>/latent<ID>/ frob attribute (top frobnoloids)  <model>.attribution.<hook>
    models/<nerf>/, <nerf>/eval/           frob train nerf, frob eval-nerf   <nerf>.train, <nerf>.eval

A stage's `settings` (its validated configs, as their manifests store them) decide whether a finished stage
still stands: the runner compares them with what it recorded (`runner`). The device is not a setting: a study
started on one device finishes on another, and each run's manifest records the device it ran on.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

from frobnoscope.app.study import jobs
from frobnoscope.app.study.schema import ModelStudy, StudyFile, split_sae_settings
from frobnoscope.engine.config import Config, validate_config
from frobnoscope.engine.errors import WeightsError
from frobnoscope.interp.activations.capture import CaptureConfig
from frobnoscope.interp.evaluation.images import EvalConfig
from frobnoscope.interp.evaluation.nerf import NerfJudgeConfig
from frobnoscope.interp.features.run import LabelConfig
from frobnoscope.interp.probes.linear import ProbeConfig
from frobnoscope.interp.sae.run import SAERunConfig
from frobnoscope.interp.sae.training import SAETrainConfig
from frobnoscope.models.autoencoders.train import AutoencoderTrainConfig
from frobnoscope.models.device import resolve_device
from frobnoscope.models.errors import ModelError
from frobnoscope.models.nerf.train import NerfTrainConfig

RANDOM_WEIGHTS_SEED = 0


@dataclass
class Stage:
    name: str
    outputs: list[Path]  # what it writes (removed by --redo)
    settings: dict  # what defines it
    run: Callable[[jobs.Report], None]
    needs: list[str] = field(default_factory=list)
    resumable: bool = True  # False: an unfinished stage's outputs are cleared before it runs again


@dataclass
class Plan:
    stages: list[Stage]
    notes: list[str]  # what the plan decided and why (e.g. a fallback model)


def settings_of(ws: Path, *configs: Config) -> dict:
    """The configs as a stage records them, with the workspace's path written `$WORKSPACE`, so that a moved or
    copied workspace still matches its study."""
    def relative(value):
        if isinstance(value, str):
            return value.replace(str(ws), "$WORKSPACE")
        if isinstance(value, dict):
            return {key: relative(item) for key, item in value.items()}
        return [relative(item) for item in value] if isinstance(value, list) else value

    return relative({type(config).__name__: config.to_dict() for config in configs})


def plan_study(study: StudyFile, workspace: Path, *, workers: int = 1, ray: str | None = None,
               device: str | None = None) -> Plan:
    """The stages of `study` under `workspace` (settings were validated by `load_study`), their models on `device`
    (default: the study file's `device`); a device torch cannot use is a one-line `DeviceError` here."""
    device = str(resolve_device(device or study.device))
    ws, scale = Path(workspace).resolve(), {"workers": workers, "ray": ray, "device": device}
    on_device = {"device": device}
    stages, notes = [], []
    for name, dataset in study.datasets.items():
        stages.append(Stage(f"data.{name}", [ws / "data" / name], settings_of(ws, dataset),
                            partial(jobs.make_dataset, ws / "data" / name, dataset, workers=workers, ray=ray)))
    for name in studied_models(study, notes):
        stages += model_stages(name, study.models[name], ws, scale)
    notes.append(f"models run on {device}")
    for name, nerf in study.nerfs.items():
        data, run = ws / "data" / nerf.data, ws / "models" / name
        train = validate_config(NerfTrainConfig, nerf.train)
        stages.append(Stage(f"{name}.train", [run], settings_of(ws, train),
                            partial(jobs.train_field, data, run, train, **on_device), [f"data.{nerf.data}"]))
        if nerf.eval is not None:
            judge = validate_config(NerfJudgeConfig, nerf.eval)
            stages.append(Stage(f"{name}.eval", [ws / name / "eval"], settings_of(ws, judge),
                                partial(jobs.judge, run, ws / name / "eval", judge, **on_device), [f"{name}.train"],
                                resumable=False))
    return Plan(stages, notes)


def studied_models(study: StudyFile, notes: list[str]) -> list[str]:
    """The models to study: each one with a `fallback` whose weights load, else its fallback (with a note); a
    model that is only some other's fallback is studied only then."""
    from frobnoscope.models import load_model

    fallbacks, chosen = {model.fallback for model in study.models.values() if model.fallback}, []
    for name, model in study.models.items():
        if name in fallbacks:
            continue
        if model.fallback is None:
            chosen.append(name)
            continue
        try:
            load_model(model.spec)
            chosen.append(name)
        except (WeightsError, ModelError) as error:
            notes.append(f"{name} ({model.spec}) is not available: {error}; studying {model.fallback} instead")
            chosen.append(model.fallback)
    return list(dict.fromkeys(chosen))


def model_stages(name: str, model: ModelStudy, ws: Path, scale: dict) -> list[Stage]:
    data, base, stages = ws / "data" / model.data, ws / name, []
    spec, after_model, on_device = model.spec, [f"data.{model.data}"], {"device": scale["device"]}
    if spec is None:
        train = validate_config(AutoencoderTrainConfig, model.train)
        run = ws / "models" / name
        stages.append(Stage(f"{name}.train", [run], settings_of(ws, train),
                            partial(jobs.train_model, data, run, train, **on_device), list(after_model)))
        spec, after_model = f"run:{run}", [f"{name}.train"]
    if model.eval is not None:
        config = validate_config(EvalConfig, {**model.eval, "model": spec})
        stages.append(Stage(f"{name}.eval", [base / "eval"], settings_of(ws, config),
                            partial(jobs.evaluate, data, base / "eval", config, **on_device), list(after_model)))
    if model.capture is None:
        return stages
    trained, random = base / "capture" / "trained", base / "capture" / "random"
    config = validate_config(CaptureConfig, {**model.capture.settings, "model": spec})
    capture = partial(jobs.capture_activations, **scale)
    stages.append(Stage(f"{name}.capture", [trained], settings_of(ws, config),
                        partial(capture, data, trained, config), list(after_model)))
    control = None
    if model.capture.random_control:
        random_config = config.model_copy(update={"random_weights_seed": RANDOM_WEIGHTS_SEED})
        stages.append(Stage(f"{name}.capture-random", [random], settings_of(ws, random_config),
                            partial(capture, data, random, random_config), list(after_model)))
        control = random
    if model.probes is not None:
        probes = validate_config(ProbeConfig, model.probes)
        needs = [f"{name}.capture"] + ([f"{name}.capture-random"] if control else [])
        stages.append(Stage(f"{name}.probes", [base / "probes"], settings_of(ws, probes),
                            partial(jobs.probe, trained, control, base / "probes", probes, **on_device), needs,
                            resumable=False))
    for sae in model.saes:
        stages += sae_stages(name, model, sae, spec, ws, trained, scale)
    return stages


def sae_stages(name: str, model: ModelStudy, sae, spec: str, ws: Path, trained: Path, scale: dict) -> list[Stage]:
    data, base, on_device = ws / "data" / model.data, ws / name, {"device": scale["device"]}
    run_fields, train_fields = split_sae_settings(sae.settings)
    run_config, stages = validate_config(SAERunConfig, run_fields), []
    hook, first = run_config.hook, None
    for seed in sae.seeds:
        train_config = validate_config(SAETrainConfig, {**train_fields, "seed": seed})
        out = base / "saes" / f"{hook}.s{seed}"
        reference = first  # seeds after the first follow their stability against it (needs it trained)
        first = first or out
        stages.append(Stage(f"{name}.sae.{hook}.s{seed}", [out], settings_of(ws, run_config, train_config),
                            partial(jobs.train_sae, trained, out, run_config, train_config, reference=reference,
                                    **on_device),
                            [f"{name}.capture"] + ([f"{name}.sae.{hook}.s{sae.seeds[0]}"] if reference else [])))
    if model.features is None:
        return stages
    label = validate_config(LabelConfig, {**model.features, "sae": str(first)})
    features = base / "features" / hook
    stages.append(Stage(f"{name}.features.{hook}", [features], settings_of(ws, label),
                        partial(jobs.label, trained, features, label, **on_device),
                        [f"{name}.sae.{hook}.s{sae.seeds[0]}"], resumable=False))
    if model.attribution is not None:
        out, top = base / "attribution" / hook, model.attribution
        settings = {"top": top.top, "causes": top.causes, **top.settings}
        stages.append(Stage(f"{name}.attribution.{hook}", [out], {"attribution": settings},
                            partial(jobs.attribute_frobnoloids, data, first, features, out, spec, hook, top.top,
                                    top.causes, top.settings, **scale), [f"{name}.features.{hook}"]))
    return stages
