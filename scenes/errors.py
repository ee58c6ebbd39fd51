"""Errors of the scene layer, each a one-line `FrobError`."""

from frobnoscope.engine.errors import FrobError


class SpecError(FrobError):
    """A scene spec (or family config) is invalid."""


class RendererUnavailable(FrobError):
    """No headless OpenGL platform could be set up."""


class StoreError(FrobError):
    """A dataset directory is missing, damaged, or was made with different parameters."""
