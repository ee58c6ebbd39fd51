"""The CLI reference, written from the `frob` command tree at build time so it cannot drift from the code.

An mkdocs hook (mkdocs.yml: `hooks:`): `on_files` adds the generated page `reference/cli.md`. It walks the typer app
`frobnoscope.app.cli.main.app` as click sees it (`typer.main.get_command`) and writes, per command: its path as a
heading, its help, its usage line, and a table of its arguments and options with their help, defaults and required
marks as `--help` shows them (hidden options, such as deprecated aliases, are left out, as `--help` leaves them out).
`python docs/hooks/cli_reference.py` prints the page.
"""

from __future__ import annotations

import inspect
import re

import typer

PAGE = "reference/cli.md"
CODE_SPAN = re.compile(r"(`[^`]*`)")


def _escape(text: str) -> str:
    """Plain help text as one markdown table cell: rich's `\\[` unescaped, markdown's special characters escaped
    outside code spans."""
    parts = CODE_SPAN.split(text.replace("\\[", "[").replace("\n", " "))
    for i in range(0, len(parts), 2):
        parts[i] = (parts[i].replace("\\", "\\\\").replace("|", "\\|").replace("*", "\\*")
                    .replace("<", "&lt;").replace(">", "&gt;").replace("[", "\\["))
    return "".join(parts)


def _commands(command, context):
    """(context, command) for every command under `command`, depth first in declaration order, groups included."""
    yield context, command
    for name, sub in getattr(command, "commands", {}).items():
        yield from _commands(sub, sub.context_class(sub, info_name=name, parent=context))


def _section(context, command) -> list[str]:
    path = context.command_path
    lines = [f"## {path}", "", _escape(inspect.cleandoc(command.help or "")), ""]
    lines += ["```", f"{path} {' '.join(command.collect_usage_pieces(context))}", "```", ""]
    records = [param.get_help_record(context) for param in command.params]
    rows = [f"| `{name}` | {_escape(help_text)} |" for name, help_text in filter(None, records)]
    if rows:
        lines += ["| argument or option | meaning |", "|---|---|", *rows, ""]
    subcommands = {name: sub for name, sub in getattr(command, "commands", {}).items() if not sub.hidden}
    if subcommands:
        lines += ["| command | what it does |", "|---|---|"]
        lines += [f"| [`{path} {name}`](#{_anchor(f'{path} {name}')}) | {_escape(_first_paragraph(sub.help))} |"
                  for name, sub in subcommands.items()]
        lines += [""]
    if command.epilog:
        lines += ["```", inspect.cleandoc(command.epilog), "```", ""]
    return lines


def _first_paragraph(text: str | None) -> str:
    return inspect.cleandoc(text or "").split("\n\n")[0]


def _anchor(heading: str) -> str:
    """The id Python-Markdown's toc gives a heading of plain words: lower case, spaces to dashes."""
    return re.sub(r"[^\w\- ]", "", heading).strip().lower().replace(" ", "-")


def cli_markdown() -> str:
    """The reference page: every `frob` command, group or leaf, with usage, help and options."""
    from frobnoscope.app.cli.main import app

    root = typer.main.get_command(app)
    root_context = root.context_class(root, info_name="frob")
    intro = "Generated from the command tree at build time (`docs/hooks/cli_reference.py`): what `--help` says."
    lines = ["# The `frob` command", "", intro, ""]
    for context, command in _commands(root, root_context):
        lines += _section(context, command)
    return "\n".join(lines)


def on_files(files, config):
    from mkdocs.structure.files import File

    files.append(File.generated(config, PAGE, content=cli_markdown()))
    return files


if __name__ == "__main__":
    print(cli_markdown())
