"""The study file: datasets, models and the stages to run on each, in one YAML file.

```yaml
name: demo
device: auto                    # where models run: auto (CUDA if torch sees one), cpu, cuda, cuda:N, mps
datasets:                       # name -> GenerateConfig: family, settings, n, seed, chunk_frames
  tabletop: {family: tabletop, n: 200, seed: 0, settings: {res: 128}}
models:                         # image autoencoders: a spec, or `train:` (AutoencoderTrainConfig), or both
  taef2:
    data: tabletop              # the dataset every stage of this model reads
    spec: taef2                 # or `train:` (AutoencoderTrainConfig) for our own
    fallback: conv              # studied instead if taef2's weights are missing (another entry of `models`)
    eval: {}                    # EvalConfig without `model`
    capture: {hooks: "encoder.5,decoder.12"}          # CaptureConfig without `model`; random_control: true adds
    probes: {}                  # ProbeConfig         # the same capture with re-initialised weights
    saes: [{hook: decoder.12, width: 1024, k: 16, steps: 600, seeds: [0, 1]}]   # SAERunConfig + SAETrainConfig
    features: {}                # LabelConfig without hook and sae: labels every SAE's first seed
    attribution: {top: 3, methods: [saliency], frames: 4}   # the top frobnoloids of each labelled SAE
nerfs:                          # coordinate MLPs fitted to an orbit dataset
  orbit: {data: orbit, train: {steps: 800}, eval: {}}  # NerfTrainConfig, NerfJudgeConfig
```

Stage settings are the library's own configs (`Config` models), so a study file and the CLI cannot disagree;
`load_study` validates the structure and then each stage's settings, and reports every problem with its field
path (`models.taef2.capture.hooks: ...`) in one `ConfigError`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import yaml
from pydantic import Field, StringConstraints, ValidationError, model_validator

from frobnoscope.engine.config import Config, ConfigError, problems_of
from frobnoscope.interp.activations.capture import CaptureConfig
from frobnoscope.interp.attribution.config import AttributeConfig
from frobnoscope.interp.evaluation.images import EvalConfig
from frobnoscope.interp.evaluation.nerf import NerfJudgeConfig
from frobnoscope.interp.features.run import LabelConfig
from frobnoscope.interp.probes.linear import ProbeConfig
from frobnoscope.interp.sae.run import SAERunConfig
from frobnoscope.interp.sae.training import SAETrainConfig
from frobnoscope.models.autoencoders.train import AutoencoderTrainConfig
from frobnoscope.models.device import DEVICE_HELP, DEVICE_PATTERN
from frobnoscope.models.nerf.train import NerfTrainConfig
from frobnoscope.scenes.generate_config import GenerateConfig

Settings = dict[str, Any]


class FlatStage(Config):
    """A stage with fields of its own beside `settings`, written flat in a study file: the keys that are not the
    stage's own fields are the `settings` of its job's config (`{hooks: ..., random_control: false}`)."""

    settings: Settings = Field(default_factory=dict, description="the job's config fields")

    @model_validator(mode="before")
    @classmethod
    def _flat(cls, values):
        if isinstance(values, dict) and "settings" not in values:
            own = {key: value for key, value in values.items() if key in cls.model_fields}
            return {**own, "settings": {key: value for key, value in values.items() if key not in cls.model_fields}}
        return values


class CaptureStage(FlatStage):
    """Settings: CaptureConfig fields without `model`."""

    random_control: bool = Field(True, description="also capture the model with re-initialised weights (seed 0)")


class SAEStage(FlatStage):
    """Settings: SAERunConfig and SAETrainConfig fields but `seed`."""

    seeds: list[int] = Field([0], min_length=1, description="one SAE per seed; the first two are compared")


class AttributionStage(FlatStage):
    """Settings: AttributeConfig fields without model, target and sae."""

    top: int = Field(3, ge=1, description="attribute each of the top-N frobnoloids (SAE latents) to the input pixels")
    causes: list[str] = Field([], description="regions to score the maps against (e.g. shadow=0, background); "
                                              "none: maps only (a frobnoloid's cause is what we look for)")


class ModelStudy(Config):
    data: str = Field(description="the dataset (a name under `datasets`) every stage of this model reads")
    spec: str | None = Field(None, description="a model spec (taef2, sd-vae:PATH, ...)")
    train: Settings | None = Field(None, description="AutoencoderTrainConfig: train our own autoencoder")
    fallback: str | None = Field(None, description="another model of the study, studied instead when this one's "
                                                   "weights are missing (it is studied only then)")
    eval: Settings | None = None
    capture: CaptureStage | None = None
    probes: Settings | None = None
    saes: list[SAEStage] = []
    features: Settings | None = None
    attribution: AttributionStage | None = None

    @model_validator(mode="after")
    def _a_model(self):
        if (self.spec is None) == (self.train is None):
            raise ValueError("give a model `spec` or `train` settings (one of them)")
        return self


class NerfStudy(Config):
    data: str = Field(description="an orbit dataset (a name under `datasets`)")
    train: Settings = Field(default_factory=dict, description="NerfTrainConfig fields")
    eval: Settings | None = Field(None, description="NerfJudgeConfig fields; absent: no eval-nerf")


Name = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9_-]*$")]  # a folder of the workspace
RESERVED = ("data", "models")  # the workspace's own folders


class StudyFile(Config):
    name: str
    description: str = ""
    device: str = Field("auto", pattern=DEVICE_PATTERN, description=DEVICE_HELP + " (`frob study run --device` "
                                                                                 "overrides it)")
    datasets: dict[Name, GenerateConfig]
    models: dict[Name, ModelStudy] = {}
    nerfs: dict[Name, NerfStudy] = {}

    @model_validator(mode="after")
    def _datasets_exist(self):
        clashes = sorted(set(self.models) & set(self.nerfs) | (set(self.models) | set(self.nerfs)) & set(RESERVED))
        if clashes:
            raise ValueError(f"models and nerfs need distinct names other than {' and '.join(RESERVED)}: "
                             f"{', '.join(clashes)}")
        for name, model in self.models.items():
            fallback = self.models.get(model.fallback) if model.fallback else None
            if model.fallback and (fallback is None or fallback.fallback or model.fallback == name):
                raise ValueError(f"models.{name}.fallback: {model.fallback!r} is not another model of the study "
                                 "without a fallback of its own")
        for kind, entries in (("models", self.models), ("nerfs", self.nerfs)):
            for name, entry in entries.items():
                if entry.data not in self.datasets:
                    raise ValueError(f"{kind}.{name}.data: no dataset named {entry.data!r} (datasets: "
                                     f"{', '.join(self.datasets) or 'none'})")
        return self


def stage_problems(study: StudyFile) -> list[tuple[str, str]]:
    """Each stage's settings validated against its library config; problems with their study-file paths."""
    checks = []
    for name, model in study.models.items():
        at, spec = f"models.{name}", model.spec or f"run:models/{name}"
        if model.train is not None:
            checks.append((f"{at}.train", AutoencoderTrainConfig, model.train))
        if model.eval is not None:
            checks.append((f"{at}.eval", EvalConfig, {**model.eval, "model": spec}))
        if model.capture is not None:
            checks.append((f"{at}.capture", CaptureConfig, {**model.capture.settings, "model": spec}))
        if model.probes is not None:
            checks.append((f"{at}.probes", ProbeConfig, model.probes))
        for i, sae in enumerate(model.saes):
            run_fields, train_fields = split_sae_settings(sae.settings)
            checks.append((f"{at}.saes.{i}", SAERunConfig, run_fields))
            checks.append((f"{at}.saes.{i}", SAETrainConfig, train_fields))
        if model.features is not None:
            checks.append((f"{at}.features", LabelConfig, {**model.features, "hook": "h"}))
        if model.attribution is not None:
            checks.append((f"{at}.attribution", AttributeConfig,
                           {**model.attribution.settings, "model": spec, "target": "feature:h:0", "sae": "s"}))
    for name, nerf in study.nerfs.items():
        checks.append((f"nerfs.{name}.train", NerfTrainConfig, nerf.train))
        if nerf.eval is not None:
            checks.append((f"nerfs.{name}.eval", NerfJudgeConfig, nerf.eval))
    problems = []
    for at, config_class, values in checks:
        try:
            config_class.model_validate(values)
        except ValidationError as error:
            problems += [(f"{at}.{path}" if path else at, message) for path, message in problems_of(error)]
    return problems


def split_sae_settings(settings: Settings) -> tuple[Settings, Settings]:
    """An SAE stage's flat settings -> (SAERunConfig fields, SAETrainConfig fields); unknown keys go to the first."""
    train_keys = set(SAETrainConfig.model_fields) - {"seed"}
    return ({k: v for k, v in settings.items() if k not in train_keys},
            {k: v for k, v in settings.items() if k in train_keys})


def parse_study(data: Any, source: str) -> StudyFile:
    """A study from parsed YAML; one `ConfigError` listing every problem with its field path."""
    try:
        study = StudyFile.model_validate(data)
    except ValidationError as error:
        raise ConfigError(f"study file {source}", problems_of(error)) from None
    problems = stage_problems(study)
    if problems:
        raise ConfigError(f"study file {source}", problems)
    return study


def load_study(path: Path) -> StudyFile:
    try:
        data = yaml.safe_load(Path(path).read_text())
    except OSError as error:
        raise ConfigError(f"study file {path}", [("", f"cannot read it ({error.strerror})")]) from None
    except yaml.YAMLError as error:
        raise ConfigError(f"study file {path}", [("", f"not valid YAML: {str(error).splitlines()[0]}")]) from None
    return parse_study(data if data is not None else {}, str(path))
