"""The package's import graph has no cycles, and the low modules stay low.

Every ``import`` statement of every module counts: at module level, inside
functions, and under ``if TYPE_CHECKING:``. Counting the ``TYPE_CHECKING``
imports is deliberate (stricter): a type-only import that points up is the
first step to a runtime one, and the layering of docs/design (``client ->
oauth -> tenant_cache -> models``, "never back") is about what a module
knows, not only about what runs.

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
import os
import subprocess
import sys
import textwrap
from collections.abc import Iterable, Mapping
from pathlib import Path

import pytest

PACKAGE = "django_atlassian_connect"
REPO = Path(__file__).resolve().parent.parent
ROOT = REPO / PACKAGE

# importlib.import_module() calls that may point up: none.
ALLOWED_DYNAMIC_IMPORTS: set[tuple[str, str]] = set()


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


# -- import-time side effects and the swappable tenant model ---------------------------------


def _run_django(tmp_path: Path, settings_module: str, script: str) -> None:
    """Run ``script`` after ``django.setup()`` in a fresh interpreter (nothing else imported)."""
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": settings_module,
        "DATABASE_URL": "sqlite:///:memory:",
        "PYTHONPATH": os.pathsep.join([str(tmp_path), str(REPO)]),
    }
    code = "import django\ndjango.setup()\n" + textwrap.dedent(script)
    result = subprocess.run(
        [sys.executable, "-c", code],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_importing_the_app_writes_nothing_to_settings(tmp_path):
    _run_django(
        tmp_path,
        "tests.settings",
        """
        from django.conf import settings
        from django.db.migrations.loader import MigrationLoader

        import django_atlassian_connect.admin
        import django_atlassian_connect.models as models

        MigrationLoader(None, ignore_no_migrations=True)  # the migrations import too
        assert not hasattr(settings, "ATLASSIAN_CONNECT_TENANT_MODEL")
        assert models.TENANT_MODEL == "django_atlassian_connect.Tenant"
        assert models.get_tenant_model() is models.Tenant
        assert models.Tenant._meta.swappable == "ATLASSIAN_CONNECT_TENANT_MODEL"
        assert not models.Tenant._meta.swapped
        """,
    )


def test_a_swapped_tenant_model_is_used_everywhere(tmp_path):
    app = tmp_path / "customtenant"
    app.mkdir()
    (app / "__init__.py").write_text("")
    (app / "models.py").write_text(
        "from django.db import models\n"
        "from django_atlassian_connect.models import AbstractTenant\n\n\n"
        "class Site(AbstractTenant):\n"
        "    plan = models.CharField(max_length=20, default='free')\n"
    )
    (tmp_path / "swapped_settings.py").write_text(
        "from tests.settings import *  # noqa: F403\n\n"
        "INSTALLED_APPS = [*INSTALLED_APPS, 'customtenant']  # noqa: F405\n"
        "ATLASSIAN_CONNECT_TENANT_MODEL = 'customtenant.Site'\n"
    )
    _run_django(
        tmp_path,
        "swapped_settings",
        """
        from django.core.management import call_command

        from customtenant.models import Site
        from django_atlassian_connect import models

        assert models.TENANT_MODEL == "customtenant.Site"
        assert models.get_tenant_model() is Site
        assert models.Tenant._meta.swapped == "customtenant.Site"
        for model in (models.SharedSecret, models.AccessToken, models.LifecycleEvent):
            assert model._meta.get_field("tenant").related_model is Site, model

        call_command("migrate", run_syncdb=True, verbosity=0)
        site = Site.objects.create(
            client_key="jira:1", app_key="k", base_url="https://x.atlassian.net", plan="pro"
        )
        models.SharedSecret.for_secret(site, "s" * 40).save()
        assert site.current_secret.tenant == site
        """,
    )


# The public import paths users rely on (docs/design.rst): moving code keeps them.
PUBLIC_NAMES = [
    ("django_atlassian_connect.authentication", "ConnectJWTAuthentication"),
    ("django_atlassian_connect.authentication", "ConnectContextJWTAuthentication"),
    ("django_atlassian_connect.decorators", "connect_jwt_required"),
    ("django_atlassian_connect.permissions", "IsConnectTenant"),
    ("django_atlassian_connect.permissions", "IsConnectUser"),
    ("django_atlassian_connect.client", "ConnectClient"),
    ("django_atlassian_connect.qsh", "canonical_request"),
    ("django_atlassian_connect.qsh", "query_string_hash"),
    ("django_atlassian_connect.models", "get_tenant_model"),
    ("django_atlassian_connect.exceptions", "ConnectAuthenticationFailed"),
    ("django_atlassian_connect.exceptions", "ConnectAPIError"),
    ("django_atlassian_connect.http", "ConnectAPIError"),
    ("django_atlassian_connect.authentication", "ConnectAuthenticationFailed"),
    ("django_atlassian_connect.inbound", "ConnectUser"),
    ("django_atlassian_connect.inbound", "ConnectAuth"),
    ("django_atlassian_connect.oauth", "get_access_token"),
    ("django_atlassian_connect.signals", "tenant_installed"),
    ("django_atlassian_connect.tasks", "verify_installations"),
    ("django_atlassian_connect.celery", "BEAT_SCHEDULE"),
    ("django_atlassian_connect.maintenance", "purge_retired_secrets"),
    ("django_atlassian_connect.redaction", "RedactTokensFilter"),
    ("django_atlassian_connect.tokens", "parse_token"),
    ("django_atlassian_connect.fields", "EncryptedTextField"),
    ("django_atlassian_connect.urls", "urlpatterns"),
    ("django_atlassian_connect.tenant_cache", "refresh"),
    ("django_atlassian_connect.testing", "ConnectHost"),
    ("django_atlassian_connect.testing.host", "ConnectHost"),
    ("django_atlassian_connect.testing.pytest_plugin", "connect_host"),
    ("django_atlassian_connect.diagnostics", "analyse_token"),
    ("django_atlassian_connect.testing", "reset_caches"),
]


@pytest.mark.parametrize("module,name", PUBLIC_NAMES, ids=[f"{m}.{n}" for m, n in PUBLIC_NAMES])
def test_public_import_paths_keep_working(module, name):
    import importlib

    assert getattr(importlib.import_module(module), name) is not None
