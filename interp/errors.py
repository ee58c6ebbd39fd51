"""Errors of the interpretability layer (activations, probes, SAEs, features, attribution), each a one-line
`FrobError`."""

from frobnoscope.engine.errors import FrobError


class InterpError(FrobError):
    """An interpretability run, its inputs or its settings are invalid."""
