"""``manage.py connect_tenants --link [--dry-run]``: link every unlinked Forge installation.

Real installations (the simulated Forge platform's lifecycle events through
the package's views) and real tenants (signed installs); the app property is
read from the simulated gateway.
"""

from __future__ import annotations

import io
from datetime import timedelta

import pytest
from django.core.management import CommandError, call_command
from django.urls import include, path
from django.utils import timezone

from django_atlassian_connect.forge.bulk_linking import link_unlinked
from django_atlassian_connect.models import ForgeInstallation, Tenant

pytestmark = pytest.mark.urls(__name__)

urlpatterns = [
    path("", include("django_atlassian_connect.urls")),
    path("forge/", include("django_atlassian_connect.forge.urls")),
]


def seen(forge_host, installation):
    """The installation as the app knows it after Forge's installed event: unlinked."""
    (attempt,) = forge_host.deliver_lifecycle("avi:forge:installed:app", installation, retries=0)
    assert attempt.status == 204
    return ForgeInstallation.objects.get(installation_id=installation.id)


def installed(site, **payload):
    response = site.install(**payload)
    assert response.status_code == 204, response.content
    return Tenant.objects.get(client_key=site.client_key)


@pytest.fixture
def world(forge_host, site_factory):
    """One unlinked installation per case, and the tenants that prove (or not) their links."""
    platform = forge_host
    cases = {}
    # app_property: the gateway names the tenant's clientKey.
    by_property = platform.installation()
    cases["app_property"] = (seen(platform, by_property), installed(site_factory()))
    by_property.connect_client_key = cases["app_property"][1].client_key
    # cloud_id: the tenant's signed install carried the installation's cloudId.
    by_cloud = platform.add_installation("jira")
    cases["cloud_id"] = (
        seen(platform, by_cloud),
        installed(site_factory(), cloudId=by_cloud.cloud_id),
    )
    # connect_install: the tenant's signed install named it (before links were kept).
    by_install = platform.add_installation("jira")
    seen(platform, by_install)
    tenant = installed(site_factory(), installationId=by_install.id)
    ForgeInstallation.objects.filter(installation_id=by_install.id).update(
        tenant=None, link_method="", linked_at=None
    )
    cases["connect_install"] = (
        ForgeInstallation.objects.get(installation_id=by_install.id),
        tenant,
    )
    # Not linkable: nothing names it.
    cases["none"] = (seen(platform, platform.add_installation("jira")), None)
    # The app property cannot be read (no fresh token): the cloudId still links it.
    stale = platform.add_installation("jira")
    row = seen(platform, stale)
    tenant = installed(site_factory(), cloudId=stale.cloud_id)
    stale.connect_client_key = tenant.client_key
    ForgeInstallation.objects.filter(pk=row.pk).update(
        system_token_expires_at=timezone.now() - timedelta(minutes=5)
    )
    cases["stale"] = (row, tenant)
    # Uninstalled before it was linked.
    gone = seen(platform, platform.add_installation("jira"))
    ForgeInstallation.objects.filter(pk=gone.pk).update(uninstalled_at=timezone.now())
    cases["uninstalled"] = (gone, None)
    assert not ForgeInstallation.objects.exclude(tenant=None).exists()
    return cases


def snapshot():
    """Every field of every installation and tenant row."""
    return (
        list(ForgeInstallation.objects.order_by("pk").values()),
        list(Tenant.objects.order_by("pk").values()),
    )


def run(*args):
    out = io.StringIO()
    call_command("connect_tenants", *args, stdout=out)
    return out.getvalue().splitlines()


def line_of(lines, row):
    (found,) = [line for line in lines if line.startswith(row.installation_id)]
    return found


def test_link_links_what_it_can_and_says_why_not(world):
    lines = run("--link")
    notes = {"cloud_id": " (the gateway has no clientKey app property for it)"}
    for method in ("app_property", "cloud_id", "connect_install"):
        row, tenant = world[method]
        assert line_of(lines, row) == (
            f"{row.installation_id}\tjira {row.cloud_id}\tlinked to {tenant.client_key} "
            f"({tenant.base_url}) by {method}{notes.get(method, '')}"
        )
        row.refresh_from_db()
        assert (row.tenant_id, row.link_method) == (tenant.pk, method)
    row, tenant = world["stale"]
    assert f"linked to {tenant.client_key} ({tenant.base_url}) by cloud_id (" in line_of(lines, row)
    assert "the app property could not be read (forge_token_expired: " in line_of(lines, row)
    row.refresh_from_db()
    assert (row.tenant_id, row.link_method) == (tenant.pk, "cloud_id")
    row = world["none"][0]
    assert line_of(lines, row) == (
        f"{row.installation_id}\tjira {row.cloud_id}\tnot linkable: no signed Connect install "
        "names it; the gateway has no clientKey app property for it; not exactly one installed "
        f"jira tenant has cloudId {row.cloud_id}"
    )
    gone = world["uninstalled"][0]
    assert "\tnot linkable: uninstalled at " in line_of(lines, gone)
    assert ForgeInstallation.objects.get(pk=gone.pk).tenant_id is None
    assert lines[-1] == "4 of 6 unlinked Forge installation(s) linked."
    assert len(lines) == 7

    # Again: only the two it cannot link are left.
    again = run("--link")
    assert len(again) == 3 and again[-1] == "0 of 2 unlinked Forge installation(s) linked."


def test_dry_run_says_the_same_and_changes_nothing(world):
    before = snapshot()
    lines = run("--link", "--dry-run")
    assert snapshot() == before
    row, tenant = world["app_property"]
    assert line_of(lines, row).endswith(
        f"would link to {tenant.client_key} ({tenant.base_url}) by app_property"
    )
    assert (
        lines[-1]
        == "4 of 6 unlinked Forge installation(s) would be linked (dry run: nothing changed)."
    )
    real = run("--link")
    assert [line.replace("would link", "linked") for line in lines[:-1]] == real[:-1]


def test_a_link_made_meanwhile_is_kept(world, monkeypatch):
    from django_atlassian_connect.forge import bulk_linking, linking

    row, _ = world["cloud_id"]
    other = world["app_property"][1]
    real_lock = linking.lock_installation

    def lock_after_another_process(installation_id, create_with=None):
        if installation_id == row.installation_id:
            ForgeInstallation.objects.filter(pk=row.pk).update(tenant=other, link_method="manual")
        return real_lock(installation_id, create_with)

    monkeypatch.setattr(bulk_linking.linking, "lock_installation", lock_after_another_process)
    (outcome,) = [o for o in link_unlinked() if o.installation_id == row.installation_id]
    assert not outcome.linked
    assert outcome.reason == "linked meanwhile by another process; kept"
    row.refresh_from_db()
    assert (row.tenant_id, row.link_method) == (other.pk, "manual")


@pytest.mark.django_db
def test_nothing_to_link():
    assert run("--link") == ["No unlinked Forge installations."]


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--dry-run"], "--dry-run goes with --link: connect_tenants --link --dry-run."),
        (
            ["--link", "--forge", "--all"],
            "--link does not combine with --all, --forge: run 'connect_tenants --link' and "
            "the listing separately.",
        ),
    ],
)
def test_options_that_do_not_go_together(args, message):
    with pytest.raises(CommandError) as caught:
        run(*args)
    assert str(caught.value) == message
