"""Importing the app writes nothing to settings; a swapped tenant model is used everywhere."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

from tests.import_graph import REPO

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
