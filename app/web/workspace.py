"""A study workspace as the app reads it: what it holds, where, and paths confined to it.

Every path the app opens goes through `Workspace.path` (relative to the root, or an absolute path recorded in a
manifest): anything that resolves outside the root (`..`, an absolute path elsewhere, a symlink out) raises
`OutsideWorkspace` and is never read. Manifests record absolute paths from when the study ran; `relocate` maps such
a path into the root by its longest tail that exists there, so a moved or copied workspace still opens.
Layout (see `frobnoscope.app.study.plan`): data/<dataset>, models/<model>, <model>/{eval, capture/{trained,random},
probes, saes/<hook>.s<seed>, features/<hook>, attribution/<hook>/latent<ID>}, <nerf>/eval.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from frobnoscope.app.study.state import STATE, STUDY_FORMAT, read_state
from frobnoscope.engine.errors import FrobError


class OutsideWorkspace(FrobError):
    """A path that would be read from outside the workspace."""


@dataclass(frozen=True)
class StageState:
    name: str
    done: bool
    seconds: float | None


class Workspace:
    def __init__(self, root):
        self.root = Path(root).resolve()
        if not self.root.is_dir():
            raise FrobError(f"{root} is not a directory; make a workspace with `frob study run demo --out {root}`")
        self.state = read_state(self.root) if (self.root / STATE).is_file() else {}
        if not self.state:
            raise FrobError(f"{root} is not a study workspace (no manifest.json of format {STUDY_FORMAT}); "
                            f"make one with `frob study run demo --out {root}`")
        if not isinstance(self.state.get("stages"), dict):
            raise FrobError(f"{self.root / STATE} is damaged (no valid 'stages'); rerun the `frob study run` command "
                            f"that made it (`frob study run {self.state.get('study', 'STUDY')} --out {root}`)")

    @property
    def study(self) -> str:
        return self.state.get("study", "?")

    def stages(self) -> list[StageState]:
        return [StageState(name, bool(entry.get("done")), entry.get("seconds"))
                for name, entry in self.state.get("stages", {}).items()]

    def stage_done(self, name: str) -> bool:
        return bool(self.state.get("stages", {}).get(name, {}).get("done"))

    def rerun_command(self) -> str:
        return f"frob study run {self.study} --out {self.root}"

    def path(self, path) -> Path:
        """`path` (relative to the root, or absolute) resolved, refused when outside the root."""
        candidate = Path(path)
        resolved = (candidate if candidate.is_absolute() else self.root / candidate).resolve()
        if resolved != self.root and self.root not in resolved.parents:
            raise OutsideWorkspace(f"{path} is outside the workspace {self.root}; the app reads only inside it")
        return resolved

    def relocate(self, recorded) -> Path:
        """A path recorded in a manifest, inside the root (moved workspaces: its longest tail that exists here)."""
        recorded = Path(recorded)
        try:
            return self.path(recorded)
        except OutsideWorkspace:
            parts = recorded.parts
            for start in range(1, len(parts)):
                candidate = self.root.joinpath(*parts[start:])
                if candidate.exists():
                    return self.path(candidate)
            raise

    def relative(self, path) -> str:
        return str(self.path(path).relative_to(self.root))

    # --- what the study made -------------------------------------------------------------------------

    def datasets(self) -> list[str]:
        return sorted(p.name for p in (self.root / "data").glob("*") if (p / "manifest.json").is_file())

    def image_models(self) -> list[str]:
        """Image models the study evaluated or captured (<model>/eval/frames.csv or <model>/capture/)."""
        return sorted(p.name for p in self.root.iterdir()
                      if p.is_dir() and ((p / "eval" / "frames.csv").is_file() or (p / "capture").is_dir()))

    def nerfs(self) -> list[str]:
        return sorted(p.parent.parent.name for p in self.root.glob("*/eval/iou.csv"))

    def features_runs(self) -> list[Path]:
        """Finished features runs (<model>/features/<hook>), sorted."""
        return sorted(p.parent for p in self.root.glob("*/features/*/features.csv") if (p.parent / "manifest.json").is_file())

    def attribution_runs(self) -> list[Path]:
        return sorted(p.parent for p in self.root.glob("*/attribution/*/*/manifest.json"))
