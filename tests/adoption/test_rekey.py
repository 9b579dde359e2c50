"""``adoption.rekey.rekey_by_installation``: app data keyed by clientKey gets the installationId.

A throwaway model of "your app's data" (isolated from the app registry), its
table made and dropped around each test.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from django.db import DatabaseError, connection, models
from django.test.utils import isolate_apps

from django_atlassian_connect.adoption import rekey
from django_atlassian_connect.adoption.rekey import RekeyError, rekey_by_installation
from django_atlassian_connect.models import ForgeInstallation, Tenant

pytestmark = pytest.mark.django_db(transaction=True)

NOW = datetime(2026, 9, 1, 12, tzinfo=UTC)


@pytest.fixture
def Note() -> Iterator[type[models.Model]]:
    with isolate_apps("django_atlassian_connect"):

        class Note(models.Model):
            client_key = models.CharField(max_length=255, blank=True, null=True)
            installation_id = models.CharField(max_length=255, blank=True, null=True)
            short = models.CharField(max_length=40, blank=True)
            count = models.IntegerField(default=0)
            text = models.TextField(blank=True)

            class Meta:
                app_label = "django_atlassian_connect"
                db_table = "rekey_test_note"

        with connection.schema_editor() as editor:
            editor.create_model(Note)
        try:
            yield Note
        finally:
            with connection.schema_editor() as editor:
                editor.delete_model(Note)


def tenant_with_installation(*, uninstalled: bool = False) -> tuple[Tenant, str]:
    tenant = Tenant.objects.create(
        client_key=f"jira:{uuid.uuid4()}",
        app_key="com.example.tests",
        base_url=f"https://site-{uuid.uuid4().hex[:6]}.atlassian.net",
    )
    installation_id = f"ari:cloud:ecosystem::installation/{uuid.uuid4()}"
    ForgeInstallation.objects.create(
        installation_id=installation_id,
        tenant=tenant,
        link_method="connect_install",
        linked_at=NOW,
        uninstalled_at=NOW if uninstalled else None,
    )
    return tenant, installation_id


def rows(model) -> list[tuple[str | None, str | None]]:
    return list(model.objects.order_by("pk").values_list("client_key", "installation_id"))


def test_rows_get_their_tenants_installation_id(Note):
    one, one_id = tenant_with_installation()
    two, two_id = tenant_with_installation(uninstalled=True)  # the data was that installation's
    Note.objects.bulk_create(
        [
            Note(client_key=one.client_key),
            Note(client_key=one.client_key, installation_id=""),
            Note(client_key=two.client_key),
        ]
    )
    report = rekey_by_installation(Note)
    assert rows(Note) == [
        (one.client_key, one_id),
        (one.client_key, one_id),
        (two.client_key, two_id),
    ]
    assert (report.updated, report.already, report.kept, report.unlinked) == (3, 0, 0, {})
    assert report.lines() == [
        "django_atlassian_connect.Note: 3 row(s) updated, 0 already keyed, 0 kept (another "
        "value already there), 0 unlinked"
    ]


def test_a_value_already_there_is_never_overwritten(Note):
    tenant, installation_id = tenant_with_installation()
    Note.objects.bulk_create(
        [
            Note(
                client_key=tenant.client_key, installation_id="ari:cloud:ecosystem::installation/x"
            ),
            Note(client_key=tenant.client_key, installation_id=installation_id),
            Note(client_key=tenant.client_key),
        ]
    )
    report = rekey_by_installation(Note)
    assert rows(Note) == [
        (tenant.client_key, "ari:cloud:ecosystem::installation/x"),
        (tenant.client_key, installation_id),
        (tenant.client_key, installation_id),
    ]
    assert (report.updated, report.already, report.kept) == (1, 1, 1)


def test_rows_without_a_linked_installation_are_reported_and_left_alone(Note):
    linked, installation_id = tenant_with_installation()
    alone = Tenant.objects.create(
        client_key="jira:alone", app_key="com.example.tests", base_url="https://a.atlassian.net"
    )
    Note.objects.bulk_create(
        [
            Note(client_key=alone.client_key),
            Note(client_key=alone.client_key),
            Note(client_key="jira:nobody"),
            Note(client_key=None),
            Note(client_key=""),
            Note(client_key=linked.client_key),
        ]
    )
    report = rekey_by_installation(Note)
    assert rows(Note) == [
        ("jira:alone", None),
        ("jira:alone", None),
        ("jira:nobody", None),
        (None, None),
        ("", None),
        (linked.client_key, installation_id),
    ]
    assert report.unlinked == {"jira:alone": 2, "jira:nobody": 1}
    assert report.lines()[1:] == [
        "  unlinked: jira:alone (2 row(s)): no Forge installation linked to its tenant "
        "(connect_tenants --link)",
        "  unlinked: jira:nobody (1 row(s)): no tenant has this clientKey",
    ]
    assert report.lines()[0].endswith(
        "1 row(s) updated, 0 already keyed, 0 kept (another value already there), 3 unlinked"
    )


def test_dry_run_changes_nothing_and_reports_the_same(Note):
    tenant, installation_id = tenant_with_installation()
    Note.objects.bulk_create([Note(client_key=tenant.client_key), Note(client_key="jira:nobody")])
    before = list(Note.objects.order_by("pk").values())
    report = rekey_by_installation(Note, dry_run=True)
    assert list(Note.objects.order_by("pk").values()) == before
    assert (report.updated, report.unlinked) == (1, {"jira:nobody": 1})
    assert report.lines()[0].startswith("django_atlassian_connect.Note: 1 row(s) would be updated")
    assert report.lines()[0].endswith("(dry run: nothing changed)")
    assert rekey_by_installation(Note).updated == 1
    assert rows(Note)[0] == (tenant.client_key, installation_id)


def test_one_transaction_all_rows_or_none(Note, monkeypatch):
    first, _ = tenant_with_installation()
    second, _ = tenant_with_installation()
    Note.objects.bulk_create(
        [Note(client_key=first.client_key), Note(client_key=second.client_key)]
    )
    real = rekey._installation_ids

    def fail_on_the_second_update(keys):
        found, known = real(keys)
        found[sorted(keys)[1]] = "x" * 300  # too long for the column: the second update fails
        return found, known

    monkeypatch.setattr(rekey, "_installation_ids", fail_on_the_second_update)
    if connection.vendor == "sqlite":  # SQLite does not enforce max_length: fail it by hand
        real_update = models.QuerySet.update

        def update(self, **kwargs):
            if any(len(str(v)) > 255 for v in kwargs.values()):
                raise DatabaseError("value too long")
            return real_update(self, **kwargs)

        monkeypatch.setattr(models.QuerySet, "update", update)
    with pytest.raises(DatabaseError):
        rekey_by_installation(Note)
    assert [i for _, i in rows(Note)] == [None, None]


@pytest.mark.parametrize(
    ("kwargs", "code", "words"),
    [
        ({"field": "clientKey"}, "rekey_field_unknown", "has no concrete field 'clientKey'"),
        ({"to_field": "forge_id"}, "rekey_field_unknown", "has no concrete field 'forge_id'"),
        ({"to_field": "client_key"}, "rekey_field_invalid", "would overwrite itself"),
        ({"to_field": "count"}, "rekey_field_invalid", "is a IntegerField, not a text field"),
        ({"to_field": "short"}, "rekey_field_invalid", "holds 40 characters, fewer than 255"),
    ],
)
def test_fields_it_cannot_use_are_refused_before_anything(Note, kwargs, code, words):
    tenant, _ = tenant_with_installation()
    Note.objects.create(client_key=tenant.client_key)
    before = list(Note.objects.values())
    with pytest.raises(RekeyError) as caught:
        rekey_by_installation(Note, **kwargs)
    assert caught.value.code == code
    assert words in caught.value.detail and "nothing was changed" in caught.value.detail
    assert caught.value.hint
    assert list(Note.objects.values()) == before


def test_a_text_field_target_is_fine(Note):
    tenant, installation_id = tenant_with_installation()
    Note.objects.create(client_key=tenant.client_key)
    assert rekey_by_installation(Note, to_field="text").updated == 1
    assert Note.objects.get().text == installation_id


@pytest.mark.parametrize("thing", [object(), "Note", Tenant()])
def test_not_a_model_class_is_refused(thing):
    with pytest.raises(RekeyError) as caught:
        rekey_by_installation(thing)
    assert caught.value.code == "rekey_field_unknown"
    assert "is not a Django model class" in caught.value.detail
