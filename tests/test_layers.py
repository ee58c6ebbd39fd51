"""No import cycles among frobnoscope's modules (the layers themselves are import-linter's contract, `make test`).

The graph is read from the source with `ast`: an edge A -> B for every `import B` / `from B import x` anywhere in A,
at module level or inside a function (a deferred import is still a dependency). `from P import x` points at the
module P.x when there is one, else at P. Running a module's package `__init__` on the way in is not an edge (a
package that re-exports its modules is no cycle), as in import-linter.
"""

import ast
from pathlib import Path


def imported_modules(path: Path, name: str, modules: set[str]) -> set[str]:
    """The frobnoscope modules that the module `name` (source at `path`) imports."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    targets = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            targets.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                base = f"{anchor}.{base}".rstrip(".")
            for alias in node.names:
                targets.add(f"{base}.{alias.name}" if f"{base}.{alias.name}" in modules else base)
    found = set()
    for target in targets:
        while target and target not in modules:  # `import frobnoscope.a.b` of a package's attribute: its module
            target = target.rpartition(".")[0]
        if target and target != name:
            found.add(target)
    return found


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """One cycle (a path that ends where it starts) per strongly connected component of more than one module."""
    index, low, stack, on_stack, components = {}, {}, [], set(), []

    def connect(node: str) -> None:  # Tarjan's algorithm
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for successor in sorted(graph[node]):
            if successor not in index:
                connect(successor)
                low[node] = min(low[node], low[successor])
            elif successor in on_stack:
                low[node] = min(low[node], index[successor])
        if low[node] == index[node]:
            component, member = set(), None
            while member != node:
                member = stack.pop()
                on_stack.discard(member)
                component.add(member)
            if len(component) > 1:
                components.append(component)

    for node in sorted(graph):
        if node not in index:
            connect(node)
    return [shortest_cycle(graph, component) for component in components]


def shortest_cycle(graph: dict[str, set[str]], component: set[str]) -> list[str]:
    """A shortest path from the component's first module back to itself, within the component."""
    start = min(component)
    paths = {start: [start]}
    frontier = [start]
    while frontier:
        node = frontier.pop(0)
        for successor in sorted(graph[node] & component):
            if successor == start:
                return paths[node] + [start]
            if successor not in paths:
                paths[successor] = paths[node] + [successor]
                frontier.append(successor)
    raise AssertionError(f"{component} is not strongly connected")


def test_the_graph_sees_module_level_deferred_and_relative_imports(tmp_path):
    modules = {f"frobnoscope.{name}" for name in ("p", "p.a", "p.b", "p.c", "q", "q.d")}
    source = tmp_path / "a.py"
    source.write_text("import os\nimport frobnoscope.q.d\nfrom frobnoscope.p import b, VALUE\n\n"
                      "def later():\n    from .c import thing\n    from ..q import d\n")
    assert imported_modules(source, "frobnoscope.p.a", modules) == {
        "frobnoscope.q.d", "frobnoscope.p.b", "frobnoscope.p", "frobnoscope.p.c"}


def test_cycles_are_found_and_spelled_out():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a", "d"}, "d": set()}) == [["a", "b", "c", "a"]]
    assert cycles({"a": {"b", "c"}, "b": {"a"}, "c": {"d"}, "d": {"c"}}) == [["c", "d", "c"], ["a", "b", "a"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_no_module_imports_itself_through_others(source_modules):
    graph = {name: imported_modules(path, name, set(source_modules)) for name, path in source_modules.items()}
    found = [" -> ".join(cycle) for cycle in cycles(graph)]
    assert found == [], "import cycles:\n" + "\n".join(found)
