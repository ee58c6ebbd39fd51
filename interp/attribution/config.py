"""The settings of `frob attribute`: what is attributed (`target`), by which methods, in which model, and the
methods' `MethodSettings`; stored in the run's manifest as `to_dict()` (`run_format`).

Validation names the field of every problem: an unknown method or target, a layer method without a `layer`, an
`sae` without a feature target, a probe target without `probes` (or `probes` without one), and for a NeRF
(`model: nerf:RUN_DIR`) what it cannot take: image-only methods and targets, `layer`, `sae`, `probes` and the
image batch settings (it runs `POINTS_PER_PASS` sample points per pass). What needs the model or the dataset (hook
points, feature ids, a finished NeRF run) is checked when the job is prepared (`run.prepare_attribution`).
"""

from __future__ import annotations

from pydantic import Field, ValidationError, field_validator, model_validator
from pydantic_core import InitErrorDetails, PydanticCustomError

from frobnoscope.engine.config import Config
from frobnoscope.interp.attribution.methods import LAYER_METHODS, MethodSettings, parse_methods
from frobnoscope.interp.attribution.nerf_methods import NERF_METHODS, NERF_TARGETS, POINTS_PER_PASS
from frobnoscope.interp.attribution.targets import TARGET_HELP, parse_target
from frobnoscope.interp.errors import InterpError
from frobnoscope.models.errors import ModelError
from frobnoscope.models.loading.registry import IMAGE_MODEL_HELP
from frobnoscope.models.loading.registry import parse_spec as parse_model_spec

METHODS_HELP = ("comma-separated: integrated_gradients (ig), saliency, input_x_gradient (ixg), smoothgrad, occlusion, "
                "feature_ablation, layer_conductance (lc), layer_integrated_gradients (lig), or all")


def is_nerf_spec(model: str) -> bool:
    """Whether `model` names a NeRF (nerf: or nerfstudio:); a `ModelError` for a spec of no known kind."""
    return parse_model_spec(model)[0] in ("nerf", "nerfstudio")


class AttributeConfig(Config):
    """One attribution run's settings (the module docstring lists what validation refuses)."""

    model: str = Field(description=f"{IMAGE_MODEL_HELP}, or nerf:RUN_DIR (attributed to its sample positions)")
    target: str = Field(description=f"{TARGET_HELP} (see docs/guides/attribution.md)")
    methods: tuple[str, ...] = Field(("integrated_gradients",), description=METHODS_HELP)
    batch_size: int = Field(8, ge=1, description="frames per block (unit of resumable work, and per zarr chunk)")
    frames: int | None = Field(None, ge=1, description="attribute only the first N frames (default: all)")
    layer: str | None = Field(None, description="hook point for the layer methods (`frob models hooks`)")
    sae: str | None = Field(None, description="SAE directory (`frob sae train`): feature ids are its latents")
    probes: str | None = Field(None, description="probe directory (`frob probe`) for probe targets")
    settings: MethodSettings = Field(default_factory=MethodSettings, description="the methods' settings")

    @field_validator("methods", mode="before")
    @classmethod
    def _known_methods(cls, methods):
        """'ig,saliency', or a list of names and aliases -> the canonical names, in order, each once."""
        if not isinstance(methods, (str, list, tuple)):
            raise ValueError("expected method names, comma-separated or as a list")
        text = methods if isinstance(methods, str) else ",".join(map(str, methods))
        try:
            return parse_methods(text)
        except InterpError as error:
            raise ValueError(str(error)) from None

    @field_validator("target")
    @classmethod
    def _known_target(cls, target: str) -> str:
        try:
            parse_target(target)
        except InterpError as error:
            raise ValueError(str(error)) from None
        return target

    @model_validator(mode="after")
    def _fits_the_model_and_target(self) -> AttributeConfig:
        try:
            nerf = is_nerf_spec(self.model)
        except ModelError:
            return self  # loading the model says what is wrong with its spec
        problems = self._nerf_problems() if nerf else self._image_problems()
        if problems:
            raise ValidationError.from_exception_data(type(self).__name__, [
                InitErrorDetails(type=PydanticCustomError("attribution", message), loc=loc, input=None)
                for loc, message in problems])
        return self

    def _image_problems(self) -> list[tuple[tuple[str, ...], str]]:
        kind = parse_target(self.target).kind
        layer_methods = [method for method in self.methods if method in LAYER_METHODS]
        problems = []
        if layer_methods and not self.layer:
            problems.append((("layer",), f"a hook point is needed by {', '.join(layer_methods)}"))
        if self.sae is not None and kind != "feature":
            problems.append((("sae",), "applies to feature targets (feature:HOOK:ID)"))
        if kind == "probe" and self.probes is None:
            problems.append((("probes",), "needed by probe targets (the output directory of `frob probe`)"))
        if self.probes is not None and kind != "probe":
            problems.append((("probes",), "applies to probe targets (probe:FACTOR)"))
        return problems

    def _nerf_problems(self) -> list[tuple[tuple[str, ...], str]]:
        problems = []
        if parse_model_spec(self.model)[0] == "nerfstudio":
            problems.append((("model",), "attribution to input coordinates works for `frob train nerf` runs "
                                         "(nerf:RUN_DIR); nerfstudio runs are not supported"))
        others = [method for method in self.methods if method not in NERF_METHODS]
        if others:
            problems.append((("methods",), f"{', '.join(others)} do not apply to a NeRF; its methods: "
                                           f"{', '.join(NERF_METHODS)}"))
        if parse_target(self.target).kind not in NERF_TARGETS:
            problems.append((("target",), f"a NeRF takes targets error[:REGION], output:X,Y|REGION or "
                                          f"feature:HOOK:ID[:REGION], not {self.target!r}"))
        problems += [((name,), "does not apply to a NeRF") for name in ("layer", "sae", "probes")
                     if getattr(self, name) is not None]
        problems += [(("settings", name), f"does not apply to a NeRF (it runs {POINTS_PER_PASS} sample points per "
                                          "pass)")
                     for name in ("internal_batch_size", "perturbations_per_eval")
                     if getattr(self.settings, name) is not None]
        return problems
