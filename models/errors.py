"""Errors of the model layer. Each is a `FrobError`: the CLI prints its one-line message and exits with code 2."""

from frobnoscope.engine.errors import FrobError, WeightsError

__all__ = ["ModelError", "InputError", "WeightsError"]


class ModelError(FrobError):
    """A model spec, run directory or model configuration is invalid."""


class InputError(ModelError):
    """A batch of images does not fit the model (resolution, channel count, NaN values)."""
