"""The package's import graph has no cycles, and the low modules stay low.

Every ``import`` statement of every module counts: at module level, inside
functions, and under ``if TYPE_CHECKING:``. Counting the ``TYPE_CHECKING``
imports is deliberate (stricter): a type-only import that points up is the
first step to a runtime one, and the layering of docs/design (``client ->
oauth -> tenant_cache -> models``, "never back") is about what a module
knows, not only about what runs.

The graph (how each ``import`` becomes edges) is built by ``tests/import_graph.py``.
"""

from __future__ import annotations

import ast
import sys
import textwrap
from collections.abc import Iterable, Mapping
from pathlib import Path

import pytest

from tests.import_graph import PACKAGE, ROOT, build_graph, find_cycles

# importlib.import_module() calls that may point up: none.
ALLOWED_DYNAMIC_IMPORTS: set[tuple[str, str]] = set()


# -- the detector itself ---------------------------------------------------------------------


def test_find_cycles_on_synthetic_graphs():
    assert find_cycles({"a": {"b"}, "b": {"c"}, "c": set()}) == []
    assert find_cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c", "a"]]
    assert find_cycles({"a": {"a"}}) == [["a", "a"]]
    two = find_cycles({"a": {"b"}, "b": {"a"}, "x": {"y"}, "y": {"x"}})
    assert sorted(two) == [["a", "b", "a"], ["x", "y", "x"]]


def _write_package(tmp_path: Path, files: dict[str, str]) -> Path:
    root = tmp_path / "pkg"
    for name, source in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(source), encoding="utf-8")
    return root


def test_detector_finds_cycles_hidden_in_functions_and_type_checking(tmp_path):
    root = _write_package(
        tmp_path,
        {
            "__init__.py": "",
            "low.py": """
                from typing import TYPE_CHECKING
                if TYPE_CHECKING:
                    from .high import Thing
            """,
            "high.py": """
                def f():
                    from . import low
                    return low
            """,
            "sub/__init__.py": "from .a import A\n",
            "sub/a.py": "from .. import low\nA = 1\n",
            "other.py": "import pkg.sub.a\nfrom pkg import sub\n",
        },
    )
    graph, _ = build_graph(root, "pkg")
    assert graph["pkg.high"] == {"pkg.low"}
    assert graph["pkg.low"] == {"pkg.high"}
    assert graph["pkg.sub"] == {"pkg.sub.a"}
    assert graph["pkg.sub.a"] == {"pkg.low"}  # the enclosing packages are not edges
    assert graph["pkg.other"] == {"pkg.sub", "pkg.sub.a"}
    assert find_cycles(graph) == [["pkg.high", "pkg.low", "pkg.high"]]


def test_detector_resolves_names_from_packages_and_dynamic_imports(tmp_path):
    root = _write_package(
        tmp_path,
        {
            "__init__.py": "VERSION = 1\n",
            "a.py": """
                import importlib
                from . import VERSION
                def later():
                    return importlib.import_module("pkg.b")
            """,
            "b.py": "from .a import later\n",
        },
    )
    graph, dynamic = build_graph(root, "pkg")
    assert graph["pkg.a"] == {"pkg"}  # a name defined in the package's __init__
    assert graph["pkg.b"] == {"pkg.a"}
    assert dynamic["pkg.a"] == {"pkg.b"}
    assert find_cycles(graph) == []


# -- the package -----------------------------------------------------------------------------


def test_the_package_has_no_import_cycle():
    graph, _ = build_graph(ROOT, PACKAGE)
    assert len(graph) > 20  # the walk found the package
    cycles = find_cycles(graph)
    assert not cycles, "import cycles:\n" + "\n".join(" -> ".join(c) for c in cycles)


def test_client_and_impersonation_do_not_import_each_other():
    graph, _ = build_graph(ROOT, PACKAGE)
    client, impersonation = f"{PACKAGE}.connect.client", f"{PACKAGE}.connect.impersonation"
    assert client not in graph[impersonation]
    assert impersonation in graph[client]


def test_dynamic_imports_are_only_the_documented_aliases():
    _, dynamic = build_graph(ROOT, PACKAGE)
    found = {(module, target) for module, targets in dynamic.items() for target in targets}
    assert found <= ALLOWED_DYNAMIC_IMPORTS, found - ALLOWED_DYNAMIC_IMPORTS


def test_exceptions_imports_only_the_two_libraries_its_errors_subclass():
    """The floor: no import of the package but codes (the test below), nothing dynamic,
    and of the HTTP libraries only what ConnectAPIError and ConnectAuthenticationFailed
    subclass (``requests.HTTPError``, DRF's ``AuthenticationFailed``), never Django's
    HTTP layer, urllib3 or DRF's views."""
    tree = ast.parse((ROOT / "exceptions.py").read_text(encoding="utf-8"))
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and not node.level:
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
        elif isinstance(node, ast.Call) and getattr(node.func, "attr", "") == "import_module":
            names.add("importlib.import_module()")
    assert names == {
        "__future__.annotations",
        "collections.abc.Mapping",
        "types.MappingProxyType",
        "typing.Any",
        "typing.ClassVar",
        "requests",
        "rest_framework.exceptions",
    }


@pytest.mark.parametrize("low", ["codes", "exceptions"])
def test_codes_and_exceptions_import_nothing_of_the_package_but_codes(low):
    graph, _ = build_graph(ROOT, PACKAGE)
    codes = f"{PACKAGE}.codes"
    # codes is a package: its modules import each other and nothing else of ours.
    for module, imported in graph.items():
        if module.startswith(codes + "."):
            assert {m for m in imported if not m.startswith(codes)} == set(), module
    imported = {m for m in graph[f"{PACKAGE}.{low}"] if not m.startswith(codes + ".")}
    allowed = {"codes": set(), "exceptions": {codes}}[low]
    assert imported <= allowed


# -- layers and doors (docs/design.rst, "The layer rule") ------------------------------------

#: Bottom up; a module may import its own layer and the ones below, never above.
LAYERS: list[set[str]] = [
    set("codes exceptions".split()),
    set("qsh tokens crypto conf fields signals redaction principals".split()),
    set("models migrations http housekeeping".split()),
    # The doors, and the public paths that are aliases of Connect's modules (ALIASES).
    set("connect forge threelo credentials".split()),
    set("views decorators authentication permissions responses urls oauth_urls admin".split())
    | set("checks tasks celery maintenance middleware apps context_processors".split())
    # Connect-to-Forge adoption (manifest from the descriptor, adoption status) reads both doors.
    | {"adoption"},
    set("diagnostics management".split()),
    set("testing".split()),
]
#: Public import paths that are Connect's modules under their old names (one module object).
ALIASES = {
    "client": "connect.client",
    "inbound": "connect.inbound",
    "oauth": "connect.impersonation",
    "tenant_cache": "connect.tenant_cache",
}
LAYERS[3] |= set(ALIASES)
#: Which door a top-level name belongs to (the aliases are Connect's).
DOORS = {"connect": "connect", "forge": "forge", "threelo": "threelo", "credentials": "credentials"}
DOORS.update(dict.fromkeys(ALIASES, "connect"))
#: A door's own Django adapters (its views and URLconf) sit in the adapter layer.
DOOR_ADAPTERS = {"views", "urls"}
ADAPTER_LAYER = 4
#: The one named door-to-door arrow: a signed Connect install links its Forge installation
#: in the same transaction (Connect-on-Forge).
ALLOWED_DOOR_ARROWS = {
    ("connect.lifecycle.store", "forge"),
    ("connect.lifecycle.store", "forge.linking"),
}


def layer_of(module: str) -> int | None:
    """The layer index of a module of the package (``None`` for the package itself)."""
    parts = module.split(".")[1:]
    if not parts:
        return None
    if parts[0] in DOORS and parts[-1] in DOOR_ADAPTERS and len(parts) > 1:
        return ADAPTER_LAYER
    for index, names in enumerate(LAYERS):
        if parts[0] in names:
            return index
    raise AssertionError(f"{module} is in no layer: add it to LAYERS in tests/test_imports.py")


def layer_violations(graph: Mapping[str, Iterable[str]]) -> list[str]:
    """Every import that points up a layer, or from one door into another."""
    found = []
    for module, imported in graph.items():
        source = layer_of(module)
        for target in imported:
            wanted = layer_of(target)
            if source is None or wanted is None:
                continue
            short = (module.split(".", 1)[1], target.split(".", 1)[1])
            if wanted > source:
                found.append(f"{short[0]} (layer {source}) imports {short[1]} (layer {wanted})")
                continue
            doors = DOORS.get(short[0].split(".")[0]), DOORS.get(short[1].split(".")[0])
            crosses = None not in doors and doors[0] != doors[1]
            if crosses and wanted == source and short not in ALLOWED_DOOR_ARROWS:
                found.append(f"{short[0]} (door {doors[0]}) imports {short[1]} (door {doors[1]})")
    return sorted(found)


def test_imports_point_down_the_layers_and_doors_stay_apart():
    graph, _ = build_graph(ROOT, PACKAGE)
    assert layer_violations(graph) == []


def test_connect_imports_nothing_of_forge_but_the_named_arrow():
    graph, _ = build_graph(ROOT, PACKAGE)
    connect = f"{PACKAGE}.connect"
    reaching = {
        (module, target)
        for module, imported in graph.items()
        if module == connect or module.startswith(connect + ".")
        for target in imported
        if target.startswith(f"{PACKAGE}.forge")
    }
    assert reaching == {
        (f"{PACKAGE}.connect.lifecycle.store", f"{PACKAGE}.forge"),
        (f"{PACKAGE}.connect.lifecycle.store", f"{PACKAGE}.forge.linking"),
    }


def test_the_connect_package_init_imports_nothing():
    graph, _ = build_graph(ROOT, PACKAGE)
    assert graph[f"{PACKAGE}.connect"] == set()


@pytest.mark.parametrize("alias", sorted(ALIASES))
def test_an_alias_module_imports_its_target_statically(alias):
    graph, dynamic = build_graph(ROOT, PACKAGE)
    target = f"{PACKAGE}.{ALIASES[alias]}"
    assert target in graph[f"{PACKAGE}.{alias}"]
    assert dynamic[f"{PACKAGE}.{alias}"] == set()


@pytest.mark.parametrize("alias", sorted(ALIASES))
def test_an_old_public_path_is_the_moved_module_itself(alias):
    import importlib

    old = importlib.import_module(f"{PACKAGE}.{alias}")
    new = importlib.import_module(f"{PACKAGE}.{ALIASES[alias]}")
    assert old is new
    assert sys.modules[f"{PACKAGE}.{alias}"] is new


def test_the_old_paths_are_the_same_objects_when_imported_by_name():
    import django_atlassian_connect.client as a
    import django_atlassian_connect.connect.client as b
    import django_atlassian_connect.connect.impersonation as d
    import django_atlassian_connect.connect.inbound as f
    import django_atlassian_connect.connect.tenant_cache as h
    import django_atlassian_connect.inbound as e
    import django_atlassian_connect.oauth as c
    import django_atlassian_connect.tenant_cache as g

    assert a is b
    assert c is d
    assert e is f
    assert g is h


def test_patching_through_an_old_path_patches_the_one_implementation():
    from unittest import mock

    from django_atlassian_connect import tenant_cache as old
    from django_atlassian_connect.connect import tenant_cache as new

    with mock.patch("django_atlassian_connect.tenant_cache.refresh") as refresh:
        assert new.refresh is refresh
        assert old.refresh is refresh
    assert new.refresh is not refresh
    with mock.patch("django_atlassian_connect.oauth.get_access_token") as get:
        from django_atlassian_connect.connect import impersonation

        assert impersonation.get_access_token is get


def test_an_upward_or_cross_door_import_is_caught(tmp_path):
    package = _write_package(
        tmp_path,
        {
            "__init__.py": "",
            "exceptions.py": "from . import client\n",  # the floor reaching up to a door
            "client.py": "def f():\n    from .forge import linking\n",  # door to door
            "forge/__init__.py": "",
            "forge/linking.py": "from .. import exceptions\n",
            "views.py": "from . import client\n",  # down: fine
        },
    )
    graph, _ = build_graph(package, PACKAGE)
    assert layer_violations(graph) == [
        "client (door connect) imports forge.linking (door forge)",
        "exceptions (layer 0) imports client (layer 3)",
    ]
