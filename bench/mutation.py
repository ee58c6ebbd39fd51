"""`make mutation`: mutation testing of the modules that compute numbers, by a small AST mutation runner.

Why not mutmut or cosmic-ray: the package is a namespace (`frobnoscope.*` mapped from top-level folders by an
import hook), which mutmut 3's copied `mutants/` tree does not import, and editing files in place would hand
broken code to everyone else using the working tree. Here a mutant never touches a file: the parent process
imports pytest, numpy, torch and scikit-learn once, then forks one child per mutant; the child compiles the
mutated source into the module's `sys.modules` entry (its parent package imported first) and runs that module's
fast tests with `pytest -x -q -p no:cacheprovider`. Exit status 0 = the mutant survived; anything else (a failure,
an error, a timeout of TIMEOUT_S) = killed.

Operators (one change per mutant): flip a comparison (< <=, > >=, == !=, swapped), swap + and -, * and /, ** to *,
drop a unary minus, replace a numeric constant c by c + 1 (0 -> 1, 1 -> 2, 0.5 -> 1.5), swap `and`/`or`, and
`min`/`max`. Usage: python bench/mutation.py [--module NAME ...] [--report docs/results/mutation.json]
"""

# ruff: noqa: B008 - each lambda binds its node finder `at()` at definition, on purpose

from __future__ import annotations

import argparse
import ast
import importlib
import json
import os
import signal
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TIMEOUT_S = 45  # a mutant that loops (e.g. a flipped loop bound) counts as killed when it times out
FAST = "not cli and not resume and not interrupted and not end_to_end and not every_method and not taef2 " \
       "and not probe_and_sae and not unfitted and not manifest and not writes and not workers"
# module -> (file, the fast tests that should kill its mutants)
TARGETS = {
    "frobnoscope.interp.probes.disentanglement": ("interp/probes/disentanglement.py",
                                                  ["tests/interp/probes/test_disentanglement_mutants.py",
                                                   "tests/interp/probes/test_disentanglement.py"]),
    "frobnoscope.interp.features.labels": ("interp/features/labels.py",
                                           ["tests/interp/features/test_labels_mutants.py",
                                            "tests/interp/features/test_features.py",
                                            "tests/interp/features/test_neighbours_and_evidence.py"]),
    "frobnoscope.interp.sae.splice": ("interp/sae/splice.py", ["tests/interp/features/test_features.py"]),
    "frobnoscope.interp.attribution.measures": ("interp/attribution/measures.py",
                                                ["tests/interp/attribution/test_attribution.py"]),
    "frobnoscope.models.metrics": ("models/metrics.py", ["tests/interp/evaluation/test_image_eval.py"]),
    "frobnoscope.interp.evaluation.nerf_points": (
        "interp/evaluation/nerf_points.py",
        ["tests/interp/evaluation/test_nerf_points_mutants.py",
         "tests/interp/evaluation/test_nerf_judge.py::test_termination_and_colour_of_a_perfect_network",
         "tests/interp/evaluation/test_nerf_judge.py::test_a_field_equal_to_the_true_occupancy_scores_iou_1"]),
    "frobnoscope.scenes.sdf": ("scenes/sdf.py", ["tests/scenes/test_sdf_mutants.py", "tests/scenes/test_geometry.py"]),
    "frobnoscope.interp.probes.scores": ("interp/probes/scores.py",
                                         ["tests/interp/probes/test_scores_mutants.py",
                                          "tests/interp/probes/test_frame_level_and_scores.py"]),
    "frobnoscope.interp.probes.frame_level": ("interp/probes/frame_level.py",
                                              ["tests/interp/probes/test_frame_level_mutants.py",
                                               "tests/interp/probes/test_frame_level_and_scores.py"]),
    "frobnoscope.interp.probes.ridge": ("interp/probes/ridge.py",
                                        ["tests/interp/probes/test_ridge_mutants.py",
                                         "tests/interp/probes/test_probes.py::test_streaming_ridge_equals_the_batch_solution",
                                         "tests/interp/probes/test_frame_level_and_scores.py"]),
}
COMPARE_SWAP = {ast.Lt: ast.LtE, ast.LtE: ast.Lt, ast.Gt: ast.GtE, ast.GtE: ast.Gt, ast.Eq: ast.NotEq,
                ast.NotEq: ast.Eq, ast.Is: ast.IsNot, ast.IsNot: ast.Is, ast.In: ast.NotIn, ast.NotIn: ast.In}
BINOP_SWAP = {ast.Add: ast.Sub, ast.Sub: ast.Add, ast.Mult: ast.Div, ast.Div: ast.Mult, ast.Pow: ast.Mult,
              ast.FloorDiv: ast.Mult}


def _docstring_nodes(tree: ast.AST) -> set[int]:
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.FunctionDef, ast.ClassDef, ast.AsyncFunctionDef)) and node.body:
            first = node.body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):
                found.add(id(first.value))
    return found


def mutation_sites(source: str) -> list[tuple[int, str, callable]]:
    """[(line, description, apply(tree) -> None)], each applied to a fresh parse of `source`, in walk order."""
    tree = ast.parse(source)
    skip = _docstring_nodes(tree)
    sites = []
    for index, node in enumerate(ast.walk(tree)):
        def at(i=index):
            return lambda t: next(n for k, n in enumerate(ast.walk(t)) if k == i)
        if isinstance(node, ast.Compare):
            for j, op in enumerate(node.ops):
                if type(op) in COMPARE_SWAP:
                    new = COMPARE_SWAP[type(op)]
                    sites.append((node.lineno, f"{type(op).__name__} -> {new.__name__}",
                                  lambda t, f=at(), j=j, new=new: f(t).ops.__setitem__(j, new())))
        elif isinstance(node, (ast.BinOp, ast.AugAssign)) and type(node.op) in BINOP_SWAP:
            new = BINOP_SWAP[type(node.op)]
            sites.append((node.lineno, f"{type(node.op).__name__} -> {new.__name__}",
                          lambda t, f=at(), new=new: setattr(f(t), "op", new())))
        elif isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
            sites.append((node.lineno, "drop unary minus", lambda t, f=at(): setattr(f(t), "op", ast.UAdd())))
        elif isinstance(node, ast.BoolOp):
            new = ast.Or if isinstance(node.op, ast.And) else ast.And
            sites.append((node.lineno, f"{type(node.op).__name__} -> {new.__name__}",
                          lambda t, f=at(), new=new: setattr(f(t), "op", new())))
        elif isinstance(node, ast.Constant) and id(node) not in skip and type(node.value) in (int, float):
            sites.append((node.lineno, f"{node.value!r} -> {node.value + 1!r}",
                          lambda t, f=at(): setattr(f(t), "value", f(t).value + 1)))
        elif isinstance(node, ast.Name) and node.id in ("min", "max"):
            new = "max" if node.id == "min" else "min"
            sites.append((node.lineno, f"{node.id} -> {new}", lambda t, f=at(), new=new: setattr(f(t), "id", new)))
        elif isinstance(node, ast.Attribute) and node.attr in ("min", "max", "amin", "amax", "argmin", "argmax"):
            new = {"min": "max", "max": "min", "amin": "amax", "amax": "amin", "argmin": "argmax",
                   "argmax": "argmin"}[node.attr]
            sites.append((node.lineno, f".{node.attr} -> .{new}",
                          lambda t, f=at(), new=new: setattr(f(t), "attr", new)))
    return sites


def run_mutant(module: str, path: Path, code, tests: list[str]) -> bool:
    """True if the tests killed the mutant (run in a forked child)."""
    child = os.fork()
    if child == 0:
        try:
            signal.alarm(TIMEOUT_S)
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, 1)
            os.dup2(devnull, 2)
            package = module.rpartition(".")[0]
            importlib.import_module(package)
            spec = importlib.util.spec_from_file_location(module, path)
            mutant = importlib.util.module_from_spec(spec)
            sys.modules[module] = mutant
            setattr(sys.modules[package], module.rpartition(".")[2], mutant)
            exec(code, mutant.__dict__)  # noqa: S102 - the mutant, compiled from our own source
            import pytest

            status = pytest.main(["-x", "-q", "-p", "no:cacheprovider", "-p", "no:randomly", "-k", FAST, *tests])
            os._exit(int(status))
        except BaseException:  # noqa: BLE001 - a mutant that fails to import is killed
            os._exit(3)
    _, status = os.waitpid(child, 0)
    return status != 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--module", action="append", help="dotted module name (default: all targets)")
    parser.add_argument("--report", default=str(ROOT / "docs" / "results" / "mutation.json"))
    args = parser.parse_args()
    os.chdir(ROOT)
    import numpy  # noqa: F401 - imported once in the parent, shared by every forked child
    import pytest  # noqa: F401
    import sklearn  # noqa: F401
    import torch

    torch.set_num_threads(1)
    report = json.loads(Path(args.report).read_text()) if Path(args.report).is_file() else {}
    for module in args.module or list(TARGETS):
        file, tests = TARGETS[module]
        source = (ROOT / file).read_text()
        sites, survivors, killed, started = mutation_sites(source), [], 0, time.perf_counter()
        for k, (line, what, apply) in enumerate(sites):
            tree = ast.parse(source)
            apply(tree)
            code = compile(ast.fix_missing_locations(tree), str(ROOT / file), "exec")
            if run_mutant(module, ROOT / file, code, tests):
                killed += 1
            else:
                survivors.append({"line": line, "mutation": what, "code": source.splitlines()[line - 1].strip()})
            print(f"{module} {k + 1}/{len(sites)} killed {killed}", end="\r", flush=True)
        report[module] = {"mutants": len(sites), "killed": killed, "survived": survivors, "tests": tests,
                          "seconds": round(time.perf_counter() - started)}
        print(f"\n{module}: {killed}/{len(sites)} killed ({100 * killed / max(len(sites), 1):.0f}%)", flush=True)
        Path(args.report).parent.mkdir(parents=True, exist_ok=True)
        Path(args.report).write_text(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
