"""The package's import graph, built from every ``import`` statement (see tests/test_imports.py).

How an import becomes edges (``M`` the importing module):

- ``import a.b.c`` -> ``a.b.c``, plus the packages ``a.b`` and ``a`` on the
  way (importing a submodule runs their ``__init__``), except packages that
  contain ``M`` (they are already being imported when ``M`` runs).
- ``from X import n`` (``X`` absolute or relative, resolved against ``M``)
  -> ``X.n`` when ``n`` is a submodule of the package ``X``, otherwise ``X``
  itself (the name must exist in ``X``, even when ``X`` is an ancestor
  package of ``M``); plus the packages on the way to ``X`` as above.

Calls of ``importlib.import_module("<literal>")`` are collected apart: the
package makes none (no import hidden from this graph).
"""

from __future__ import annotations

import ast
from collections.abc import Iterable, Mapping
from pathlib import Path

PACKAGE = "django_atlassian_connect"
REPO = Path(__file__).resolve().parent.parent
ROOT = REPO / PACKAGE


def discover(root: Path, package: str) -> dict[str, Path]:
    """``module name -> file`` for every module of the package under ``root``."""
    modules: dict[str, Path] = {}
    for path in sorted(root.rglob("*.py")):
        parts = list(path.relative_to(root).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        modules[".".join([package, *parts])] = path
    return modules


def _is_package(name: str, modules: Mapping[str, Path]) -> bool:
    return name in modules and modules[name].name == "__init__.py"


def _resolve_relative(module: str, level: int, target: str | None, is_pkg: bool) -> str:
    parts = module.split(".")
    # A package's own __init__ is its base for level 1; a module's base is its parent.
    base = parts if is_pkg else parts[:-1]
    if level > 1:
        base = base[: len(base) - (level - 1)]
    return ".".join([*base, *([target] if target else [])])


def _with_packages_on_the_way(
    module: str, target: str, modules: Mapping[str, Path]
) -> Iterable[str]:
    parts = target.split(".")
    for i in range(1, len(parts)):
        package = ".".join(parts[:i])
        is_ancestor = module == package or module.startswith(package + ".")
        if package in modules and not is_ancestor:
            yield package
    if target in modules:
        yield target


def imports_of(
    module: str, tree: ast.AST, modules: Mapping[str, Path], package: str
) -> tuple[set[str], set[str]]:
    """``(static edges, importlib.import_module literal targets)`` of one module."""
    is_pkg = _is_package(module, modules)
    edges: set[str] = set()
    dynamic: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name == package or alias.name.startswith(package + "."):
                    edges.update(_with_packages_on_the_way(module, alias.name, modules))
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                source = _resolve_relative(module, node.level, node.module, is_pkg)
            else:
                source = node.module or ""
            if source != package and not source.startswith(package + "."):
                continue
            edges.update(
                p for p in _with_packages_on_the_way(module, source, modules) if p != source
            )
            for alias in node.names:
                submodule = f"{source}.{alias.name}"
                if submodule in modules:
                    edges.add(submodule)
                elif source in modules:
                    edges.add(source)
        elif (
            isinstance(node, ast.Call)
            and node.args
            and isinstance(node.args[0], ast.Constant)
            and isinstance(node.args[0].value, str)
            and (
                (isinstance(node.func, ast.Attribute) and node.func.attr == "import_module")
                or (isinstance(node.func, ast.Name) and node.func.id == "import_module")
            )
        ):
            name = node.args[0].value
            if name.startswith("."):
                level = len(name) - len(name.lstrip("."))
                name = _resolve_relative(module, level, name.lstrip(".") or None, is_pkg)
            if name == package or name.startswith(package + "."):
                dynamic.add(name)
    edges.discard(module)
    return edges, dynamic


def build_graph(root: Path, package: str) -> tuple[dict[str, set[str]], dict[str, set[str]]]:
    modules = discover(root, package)
    graph: dict[str, set[str]] = {}
    dynamic: dict[str, set[str]] = {}
    for name, path in modules.items():
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        graph[name], dynamic[name] = imports_of(name, tree, modules, package)
    return graph, dynamic


def find_cycles(graph: Mapping[str, Iterable[str]]) -> list[list[str]]:
    """One cycle (``[a, b, ..., a]``) per strongly connected component that has one."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[list[str]] = []
    counter = 0

    def connect(node: str) -> None:  # Tarjan; the package is small, recursion is fine
        nonlocal counter
        index[node] = low[node] = counter
        counter += 1
        stack.append(node)
        on_stack.add(node)
        for succ in sorted(graph.get(node, ())):
            if succ not in index:
                connect(succ)
                low[node] = min(low[node], low[succ])
            elif succ in on_stack:
                low[node] = min(low[node], index[succ])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1 or node in graph.get(node, ()):
                components.append(component)

    for node in sorted(graph):
        if node not in index:
            connect(node)
    return [_cycle_in(sorted(c), graph) for c in components]


def _cycle_in(component: list[str], graph: Mapping[str, Iterable[str]]) -> list[str]:
    """A concrete path ``start -> ... -> start`` inside one component."""
    members = set(component)
    start = component[0]
    # Breadth-first from start back to start, staying inside the component.
    paths = {succ: [start, succ] for succ in sorted(graph.get(start, ())) if succ in members}
    frontier = list(paths)
    while start not in paths:
        next_frontier = []
        for node in frontier:
            for succ in sorted(graph.get(node, ())):
                if succ in members and succ not in paths:
                    paths[succ] = [*paths[node], succ]
                    next_frontier.append(succ)
        frontier = next_frontier
    return paths[start]
