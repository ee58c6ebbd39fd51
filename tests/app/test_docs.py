"""The docs cannot drift from the code.

Every `frob` command line shown in README.md and docs/**/*.md (in fenced code blocks, continuation lines joined, and
in inline code spans that start with `frob `) must name a real command: its subcommand path is the words after
`frob` up to the first word that is not a subcommand, that word must not be a stray one after a command group, and
`frob <path> --help` must succeed and show every `--option` the line uses. Every repository path (`interp/sae/`)
and module (`scenes.colors.render_to_linear`) named in code spans must exist, and the pages that restate tables the
code owns (channels, run formats, the generated CLI reference) are checked against the code.
"""

from __future__ import annotations

import importlib.util
import re
import shlex
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

ROOT = Path(__file__).parents[2]
DOC_FILES = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
FROB_LINE = re.compile(r"^\s*(?:[A-Za-z_][A-Za-z0-9_]*=\S*\s+)*(?:\S*/)?frob(?:\s|$)")
INLINE_FROB = re.compile(r"`(frob [^`]+)`")
DOTTED_NAME = re.compile(r"(?:frobnoscope\.)?((?:engine|scenes|models|interp|app)(?:\.\w+)+)")
REPO_PATH = re.compile(r"(?:^|(?<=[\s(]))((?:engine|scenes|models|interp|app|tests|bench|docs|examples)/[\w./-]*)")


def shown_command_lines(path: Path) -> list[tuple[int, str]]:
    """(line number, command line) for every `frob` command the file shows."""
    found, fenced, start, parts = [], False, 0, []
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        if line.lstrip().startswith("```"):
            fenced, parts = not fenced, []
        elif not fenced:
            found += [(number, span) for span in INLINE_FROB.findall(line)]
        elif parts or FROB_LINE.match(line):
            start = start if parts else number
            parts.append(line.strip().removesuffix("\\").strip())
            if not line.rstrip().endswith("\\"):
                found.append((start, " ".join(parts)))
                parts = []
    return found


SHOWN = [(path, number, line) for path in DOC_FILES for number, line in shown_command_lines(path)]


@pytest.fixture(scope="module")
def frob():
    from frobnoscope.app.cli.main import app

    return app, typer.main.get_command(app)


def split_command(words: list[str], root) -> tuple[list[str], object, list[str]]:
    """(subcommand path, the command it names, the words after it) for the words after `frob`."""
    command, path = root, []
    while words and words[0] in getattr(command, "commands", {}):
        command = command.commands[words[0]]
        path.append(words.pop(0))
    return path, command, words


@pytest.mark.parametrize(("doc", "number", "line"), SHOWN, ids=[f"{p.relative_to(ROOT)}:{n}" for p, n, _ in SHOWN])
def test_shown_frob_command_matches_the_cli(frob, doc, number, line):
    app, root = frob
    words = shlex.split(line, comments=True)
    words = words[next(i for i, word in enumerate(words) if word == "frob" or word.endswith("/frob")) + 1:]
    path, command, rest = split_command(words, root)
    if hasattr(command, "commands") and rest and not rest[0].startswith("-"):
        pytest.fail(f"{line!r}: `frob {' '.join(path)}` has no subcommand {rest[0]!r}")
    result = CliRunner().invoke(app, [*path, "--help"], prog_name="frob", env={"COLUMNS": "200"})
    assert result.exit_code == 0, f"`frob {' '.join(path)} --help` failed: {result.output}"
    declared = {name for param in command.params for name in (*param.opts, *param.secondary_opts)}
    for option in {word.split("=")[0] for word in rest if word.startswith("--")} - {"--help"}:
        assert option in declared and option in result.output, \
            f"{line!r}: `frob {' '.join(path)} --help` shows no {option}"


def test_the_scanner_finds_the_shown_commands():
    """Guards the scanner itself: a broken pattern would find nothing and pass every page."""
    readme = [line for path, _, line in SHOWN if path.name == "README.md"]
    assert len(readme) >= 10 and len(SHOWN) >= 60
    assert any(line.startswith("frob attribute data/tabletop16 --model taef2") and line.endswith("--cause shadow=0")
               for _, _, line in SHOWN), "continuation lines are not joined"


def test_every_repository_path_the_docs_name_exists():
    spans = [span for path in DOC_FILES for span in re.findall(r"`([^`\n]+)`", path.read_text())]
    named = {name.rstrip(".,") for span in spans for name in REPO_PATH.findall(span)}
    assert len(named) > 30 and not {name for name in named if not (ROOT / name).exists()}


def test_every_module_the_docs_name_exists():
    """`interp.evaluation.nerf`, `frobnoscope.models.load_any_model(spec)`: the longest prefix must be a module of the
    package, and a name after it must occur in that module's source."""
    spans = [span for path in DOC_FILES for span in re.findall(r"`([^`\n]+)`", path.read_text())]
    named, missing = {match.group(1) for span in spans if (match := DOTTED_NAME.match(span))}, []
    for dotted in named:
        parts = dotted.split(".")
        depth = max(k for k in range(1, len(parts) + 1) if module_file(parts[:k]))
        source, rest = module_file(parts[:depth]).read_text(), parts[depth:]
        if rest and not re.search(rf"\b{rest[0]}\b", source):
            missing.append(dotted)
    assert len(named) > 10 and not missing


def module_file(parts: list[str]) -> Path | None:
    folder = ROOT.joinpath(*parts)
    return next((file for file in (folder.with_suffix(".py"), folder / "__init__.py") if file.is_file()), None)


def test_channels_page_documents_every_channel():
    from frobnoscope.scenes.channels import CHANNELS

    page = (ROOT / "docs/concepts/channels.md").read_text()
    for channel in CHANNELS:
        assert f"| `{channel.name}` | {channel.dtype} |" in page and channel.meaning in page, channel.name


def test_channels_page_documents_every_derived_channel():
    from frobnoscope.interp.activations.derived_gt import NAMES

    page = (ROOT / "docs/concepts/channels.md").read_text()
    derived = page[page.index("## Derived channels"):page.index("## 3D queries")]
    documented = {name for line in derived.splitlines() if line.startswith("| `")
                  for name in re.findall(r"`(\w+)`", line.split("|")[1])}
    assert documented == set(NAMES)


def test_run_directories_page_lists_every_run_format():
    pattern = re.compile(r'^\w*FORMAT = "(frobnoscope\.[\w.-]+/\d+)"', re.MULTILINE)
    in_code = {match for folder in ("engine", "scenes", "models", "interp", "app")
               for source in (ROOT / folder).rglob("*.py") for match in pattern.findall(source.read_text())}
    page = (ROOT / "docs/concepts/run-directories.md").read_text()
    on_page = set(re.findall(r"^\| `(frobnoscope\.[\w.-]+/\d+)` \|", page, re.MULTILINE))
    assert in_code and on_page == in_code


def test_cli_reference_has_every_command_and_option(frob):
    spec = importlib.util.spec_from_file_location("cli_reference", ROOT / "docs/hooks/cli_reference.py")
    reference = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(reference)
    page = reference.cli_markdown()
    _, root = frob
    stack = [("frob", root)]
    while stack:
        path, command = stack.pop()
        assert f"\n## {path}\n" in page, path
        section = page.split(f"\n## {path}\n")[1].split("\n## ")[0]
        for param in command.params:
            if param.param_type_name == "option" and not param.hidden:
                assert all(re.search(rf"`{re.escape(opt)}[ `]", section) for opt in param.opts), (path, param.opts)
        stack += [(f"{path} {name}", sub) for name, sub in getattr(command, "commands", {}).items()]
