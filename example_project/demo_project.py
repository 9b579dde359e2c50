"""``make demo-serve PROJECT=path/to/manage.py``: the simulators against your own project.

``demo.py --serve --project MANAGE_PY`` runs *your* ``manage.py`` (``migrate``,
then ``runserver``) instead of the example project's. It does not touch your
settings file: it writes a settings module of its own into the demo's
temporary directory that imports yours (the ``DJANGO_SETTINGS_MODULE`` your
``manage.py`` sets, or ``--project-settings``) and then points
``ATLASSIAN_CONNECT`` at the simulated site, Forge platform and OAuth server,
adds ``127.0.0.1`` to ``ALLOWED_HOSTS``, and uses a temporary SQLite database:
your own database is never migrated or written. Your URLconf must include
``django_atlassian_connect.urls`` (the descriptor and lifecycle callbacks).
"""

from __future__ import annotations

import argparse
import os
import re
import sys
from pathlib import Path
from typing import Any

SETTINGS_MODULE = "demo_project_settings"
_SETS_SETTINGS = re.compile(r"""DJANGO_SETTINGS_MODULE["']\s*,\s*["']([\w.]+)["']""")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--project",
        metavar="MANAGE_PY",
        help="with --serve: run your own project's manage.py instead of the example project",
    )
    parser.add_argument(
        "--project-settings",
        metavar="MODULE",
        help="your settings module (default: the one your manage.py sets)",
    )


def check(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """Refuse what cannot work, with the fix, before anything starts."""
    if args.project is None:
        if args.project_settings:
            parser.error("--project-settings goes with --project")
        return
    if not args.serve:
        parser.error(
            "--project goes with --serve: the story of 'make demo' needs the example views"
        )
    path = Path(args.project)
    if not path.is_file():
        parser.error(f"--project {args.project}: no such file; pass your project's manage.py")
    args.project_settings = args.project_settings or settings_of(path)
    if not args.project_settings:
        parser.error(
            f"--project {args.project}: it sets no DJANGO_SETTINGS_MODULE that could be read; "
            "pass --project-settings yourproject.settings"
        )


def settings_of(manage_py: Path) -> str | None:
    """The settings module ``manage.py`` sets (``os.environ.setdefault(...)``), if it says."""
    found = _SETS_SETTINGS.search(manage_py.read_text(errors="replace"))
    return found.group(1) if found else None


def overlay(settings: str, env: dict[str, str], database: Path) -> str:
    """The demo's settings module: yours, pointed at the simulators (``env``: demo.py's)."""
    conf = {
        "BASE_URL": env["CONNECT_BASE_URL"],
        "INSTALL_KEYS_URL": env["CONNECT_INSTALL_KEYS_URL"],
        "AUTHORIZATION_SERVER_URL": env["CONNECT_AUTHORIZATION_SERVER_URL"],
        "FORGE_APP_ID": env["CONNECT_FORGE_APP_ID"],
        "FORGE_JWKS_URL": env["CONNECT_FORGE_JWKS_URL"],
        "FORGE_API_HOSTS": env["CONNECT_FORGE_API_HOSTS"].split(","),
        "OAUTH_CLIENT_ID": env.get("CONNECT_OAUTH_CLIENT_ID"),
        "OAUTH_CLIENT_SECRET": env.get("CONNECT_OAUTH_CLIENT_SECRET"),
        "OAUTH_AUTH_URL": env.get("CONNECT_OAUTH_AUTH_URL"),
        "API_URL": env.get("CONNECT_API_URL"),
    }
    conf = {name: value for name, value in conf.items() if value}
    return (
        f'"""Written by demo.py --project: {settings}, pointed at the simulators."""\n\n'
        f"from {settings} import *  # noqa: F403\n\n"
        "_conf = dict(globals().get('ATLASSIAN_CONNECT') or {})\n"
        f"_conf.update({conf!r})\n"
        "_hosts = list(_conf.get('ALLOWED_PRODUCT_HOSTS') or ['*.atlassian.net'])\n"
        "_conf['ALLOWED_PRODUCT_HOSTS'] = [*_hosts, '127.0.0.1']\n"
        "ATLASSIAN_CONNECT = _conf\n"
        "ALLOWED_HOSTS = [*globals().get('ALLOWED_HOSTS', []), '127.0.0.1', 'localhost']\n"
        f"AP_JS_URL = {env['CONNECT_AP_JS_URL']!r}\n"
        "DEBUG = True\n"
        "DATABASES = {'default': {'ENGINE': 'django.db.backends.sqlite3', "
        f"'NAME': {str(database)!r}}}}}\n"
    )


def manage_command(demo: Any, env: dict[str, str]) -> list[str]:
    """Write the overlay, point ``env`` at it; the command that runs your ``manage.py``."""
    manage_py = Path(demo.project).resolve()
    (demo.workdir / f"{SETTINGS_MODULE}.py").write_text(
        overlay(demo.project_settings, env, demo.workdir / "project.sqlite3")
    )
    path = [str(demo.workdir), str(manage_py.parent), env.get("PYTHONPATH", "")]
    env["PYTHONPATH"] = os.pathsep.join(p for p in path if p)
    env["DJANGO_SETTINGS_MODULE"] = SETTINGS_MODULE  # manage.py's setdefault keeps it
    print(f"Your project:    {manage_py} (settings {demo.project_settings})", flush=True)
    return [sys.executable, str(manage_py)]
