"""Procedural 3D scenes with exact per-pixel and per-point ground truth, and the dataset store."""

from frobnoscope.engine.errors import FrobError
from frobnoscope.scenes.errors import RendererUnavailable, SpecError, StoreError
from frobnoscope.scenes.scene import Scene
from frobnoscope.scenes.spec import Camera, SceneSpec, load_spec, parse_spec

__all__ = ["Camera", "FrobError", "RendererUnavailable", "Scene", "SceneSpec", "SpecError", "StoreError", "load_spec", "parse_spec"]
