"""connect/descriptor.py, the descriptor view and manage.py connect_descriptor."""

from __future__ import annotations

import copy
import io
import json

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.core.management import call_command
from django.urls import clear_script_prefix, set_script_prefix

from django_atlassian_connect.connect.descriptor import (
    build_descriptor,
    lifecycle_path,
    load_descriptor_template,
    normalise_scopes,
    template_app_key,
)

LIFECYCLE = {
    "installed": "/installed",
    "uninstalled": "/uninstalled",
    "enabled": "/enabled",
    "disabled": "/disabled",
}


def configure(settings, **values):
    conf = {**settings.ATLASSIAN_CONNECT, **values}
    for name in [n for n, v in conf.items() if v is _DELETE]:
        del conf[name]
    settings.ATLASSIAN_CONNECT = conf


_DELETE = object()


def test_build_descriptor_from_settings():
    data = build_descriptor()
    assert data["key"] == "com.example.tests"
    assert data["baseUrl"] == "https://app.example.com"
    assert data["name"] == "Tests"
    assert data["authentication"] == {"type": "jwt"}
    assert data["lifecycle"] == LIFECYCLE
    assert data["apiMigrations"] == {"signed-install": True, "context-qsh": True}
    assert data["scopes"] == ["READ", "WRITE", "ACT_AS_USER"]
    assert data["modules"] == {}
    json.dumps(data)  # serialisable


def test_name_falls_back_to_the_app_key_and_optional_fields(settings):
    configure(settings, APP_NAME=_DELETE)
    assert build_descriptor()["name"] == "com.example.tests"
    assert "description" not in build_descriptor() and "vendor" not in build_descriptor()
    configure(
        settings,
        APP_DESCRIPTION="Does things",
        VENDOR={"name": "Example", "url": "https://example.com"},
    )
    data = build_descriptor()
    assert data["description"] == "Does things"
    assert data["vendor"] == {"name": "Example", "url": "https://example.com"}


def test_user_descriptor_is_kept_but_security_settings_are_forced(settings):
    user = {
        "key": "other.key",
        "baseUrl": "https://evil.example.com",
        "name": "My App",
        "authentication": {"type": "none"},
        "lifecycle": {"installed": "/my-installed", "extra": "/kept"},
        "apiMigrations": {"signed-install": False, "context-qsh": False, "gdpr": True},
        "modules": {
            "generalPages": [{"key": "hello", "url": "/hello", "name": {"value": "Hello"}}]
        },
        "links": {"self": "https://app.example.com/atlassian-connect.json"},
    }
    configure(settings, DESCRIPTOR=user)
    before = copy.deepcopy(user)
    data = build_descriptor()
    assert data["key"] == "com.example.tests"
    assert data["baseUrl"] == "https://app.example.com"
    assert data["name"] == "My App"
    assert data["authentication"] == {"type": "jwt"}
    assert data["lifecycle"] == {**LIFECYCLE, "extra": "/kept"}
    assert data["apiMigrations"] == {"signed-install": True, "context-qsh": True, "gdpr": True}
    assert data["modules"] == user["modules"]
    assert data["links"] == user["links"]
    # The settings dict is not modified.
    assert settings.ATLASSIAN_CONNECT["DESCRIPTOR"] == before


def test_scopes_are_normalised(settings):
    configure(
        settings, SCOPES=["read", "READ", " write ", "act-as-user", "Act_As_User", "", "admin"]
    )
    assert build_descriptor()["scopes"] == ["READ", "WRITE", "ACT_AS_USER", "ADMIN"]


def test_scopes_from_the_descriptor_when_the_setting_is_absent(settings):
    configure(settings, SCOPES=_DELETE, DESCRIPTOR={"scopes": ["read", "write", "Read"]})
    assert build_descriptor()["scopes"] == ["READ", "WRITE"]
    configure(settings, DESCRIPTOR={})
    assert build_descriptor()["scopes"] == ["READ"]


def test_scopes_setting_wins_over_the_descriptor(settings):
    configure(settings, SCOPES=["delete"], DESCRIPTOR={"scopes": ["read"]})
    assert build_descriptor()["scopes"] == ["DELETE"]


@pytest.mark.parametrize("scopes", ["READ", None, 3, {"READ": True}])
def test_scopes_must_be_a_list(settings, scopes):
    configure(settings, SCOPES=scopes)
    with pytest.raises(ImproperlyConfigured) as excinfo:
        build_descriptor()
    assert "SCOPES" in str(excinfo.value)


def test_normalise_scopes_accepts_tuples():
    assert normalise_scopes(("read", "project_admin")) == ["READ", "PROJECT_ADMIN"]


def test_descriptor_file_with_placeholders(settings, tmp_path):
    path = tmp_path / "atlassian-connect.json"
    path.write_text(
        """{
  "key": "{{app_key}}",
  "name": "From file",
  "links": {"self": "{{base_url}}/atlassian-connect.json", "homepage": "{{base_url}}"},
  "modules": {"generalPages": [{"key": "{{app_key}}-page", "url": "/hello"}]},
  "apiMigrations": {"context-qsh": false}
}""",
        encoding="utf-8",
    )
    configure(
        settings, DESCRIPTOR_FILE=str(path), DESCRIPTOR={"name": "ignored when a file is given"}
    )
    data = build_descriptor()
    assert data["name"] == "From file"
    assert data["links"] == {
        "self": "https://app.example.com/atlassian-connect.json",
        "homepage": "https://app.example.com",
    }
    assert data["modules"]["generalPages"][0]["key"] == "com.example.tests-page"
    assert data["apiMigrations"] == {"signed-install": True, "context-qsh": True}
    assert template_app_key() == "com.example.tests"


def test_descriptor_file_placeholders_are_json_escaped(settings, tmp_path):
    path = tmp_path / "d.json"
    path.write_text('{"key": "{{app_key}}", "x": "{{app_key}}"}', encoding="utf-8")
    configure(settings, DESCRIPTOR_FILE=path, APP_KEY='com.example."quoted"\\x')
    assert load_descriptor_template()["x"] == 'com.example."quoted"\\x'


def test_descriptor_file_missing(settings, tmp_path):
    missing = tmp_path / "nope.json"
    configure(settings, DESCRIPTOR_FILE=str(missing))
    with pytest.raises(ImproperlyConfigured) as excinfo:
        build_descriptor()
    assert "cannot be read" in str(excinfo.value)
    assert str(missing) in str(excinfo.value)


def test_descriptor_file_is_a_directory(settings, tmp_path):
    configure(settings, DESCRIPTOR_FILE=str(tmp_path))
    with pytest.raises(ImproperlyConfigured):
        build_descriptor()


def test_descriptor_file_not_utf8(settings, tmp_path):
    path = tmp_path / "binary.json"
    path.write_bytes(b'{"key": "\xff\xfe"}')
    configure(settings, DESCRIPTOR_FILE=str(path))
    with pytest.raises(ImproperlyConfigured) as excinfo:
        build_descriptor()
    assert "cannot be read" in str(excinfo.value)


def test_descriptor_file_invalid_json(settings, tmp_path):
    path = tmp_path / "bad.json"
    path.write_text('{"key": "x",}', encoding="utf-8")
    configure(settings, DESCRIPTOR_FILE=str(path))
    with pytest.raises(ImproperlyConfigured) as excinfo:
        build_descriptor()
    assert "not valid JSON" in str(excinfo.value)


@pytest.mark.parametrize("content", ["[]", '"text"', "42"])
def test_descriptor_must_be_an_object(settings, tmp_path, content):
    path = tmp_path / "d.json"
    path.write_text(content, encoding="utf-8")
    configure(settings, DESCRIPTOR_FILE=str(path))
    with pytest.raises(ImproperlyConfigured) as excinfo:
        build_descriptor()
    assert "JSON object" in str(excinfo.value)


def test_descriptor_setting_must_be_an_object(settings):
    configure(settings, DESCRIPTOR=["not", "a", "dict"])
    with pytest.raises(ImproperlyConfigured):
        build_descriptor()


def test_lifecycle_paths_are_relative_to_the_base_url_path(settings):
    configure(settings, BASE_URL="https://app.example.com/myapp")
    set_script_prefix("/myapp/")
    try:
        assert lifecycle_path("installed") == "/installed"
        data = build_descriptor()
    finally:
        clear_script_prefix()
    assert data["baseUrl"] == "https://app.example.com/myapp"
    assert data["lifecycle"] == LIFECYCLE


def test_lifecycle_path_needs_the_urls(settings):
    # A URLconf without the app's URLs (and without its namespace).
    settings.ROOT_URLCONF = "django.contrib.auth.urls"
    with pytest.raises(ImproperlyConfigured) as excinfo:
        lifecycle_path("installed")
    assert 'include("django_atlassian_connect.urls")' in str(excinfo.value)


# -- the view --------------------------------------------------------------------------


def test_descriptor_view(client):
    response = client.get("/atlassian-connect.json")
    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"
    assert response["Access-Control-Allow-Origin"] == "*"
    assert response.json() == build_descriptor()


def test_descriptor_view_reflects_settings_changes(client, settings):
    configure(settings, BASE_URL="https://other.example.com", SCOPES=["read"])
    data = client.get("/atlassian-connect.json").json()
    assert data["baseUrl"] == "https://other.example.com"
    assert data["scopes"] == ["READ"]


@pytest.mark.parametrize("method", ["post", "put", "delete", "patch"])
def test_descriptor_view_refuses_writes(client, method):
    response = getattr(client, method)("/atlassian-connect.json")
    assert response.status_code == 405
    assert "GET" in response["Allow"]


def test_descriptor_view_head(client):
    response = client.head("/atlassian-connect.json")
    assert response.status_code == 200
    assert response.content == b""
    assert response["Content-Type"] == client.get("/atlassian-connect.json")["Content-Type"]


# -- manage.py connect_descriptor ---------------------------------------------------


def test_connect_descriptor_command_prints_json():
    out = io.StringIO()
    call_command("connect_descriptor", stdout=out)
    text = out.getvalue()
    assert json.loads(text) == build_descriptor()
    assert "\n  " in text  # indented


def test_connect_descriptor_command_compact():
    out = io.StringIO()
    call_command("connect_descriptor", "--compact", stdout=out)
    text = out.getvalue().strip()
    assert "\n" not in text
    assert json.loads(text)["key"] == "com.example.tests"
