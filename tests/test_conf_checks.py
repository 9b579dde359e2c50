"""conf.py (lazy settings) and checks.py (system checks)."""

from __future__ import annotations

import json

import pytest
from django.core.checks import Error, Warning, run_checks
from django.core.exceptions import ImproperlyConfigured
from django.test import override_settings

from django_atlassian_connect import checks
from django_atlassian_connect.conf import DEFAULTS, ConnectSettings, connect_settings


def configure(settings, **values):
    conf = {**settings.ATLASSIAN_CONNECT, **values}
    for name, value in list(conf.items()):
        if value is _DELETE:
            del conf[name]
    settings.ATLASSIAN_CONNECT = conf


_DELETE = object()


def ids(messages):
    return sorted(m.id for m in messages)


def connect_messages():
    return [m for m in run_checks() if str(m.id).startswith("atlassian_connect.")]


# -- conf.py -------------------------------------------------------------------------


def test_values_come_from_settings_with_defaults():
    assert connect_settings.APP_KEY == "com.example.tests"
    assert connect_settings.LEEWAY == DEFAULTS["LEEWAY"] == 30
    assert connect_settings.SECRET_GRACE_PERIOD == 900
    assert connect_settings.SCOPES == ["READ", "WRITE", "ACT_AS_USER"]


def test_settings_fixture_change_takes_effect_immediately(settings):
    assert connect_settings.LEEWAY == 30  # read (and cached) first
    configure(settings, LEEWAY=5, SECRET_GRACE_PERIOD=60, APP_KEY="com.example.other")
    assert connect_settings.LEEWAY == 5
    assert connect_settings.SECRET_GRACE_PERIOD == 60
    assert connect_settings.APP_KEY == "com.example.other"


def test_override_settings_takes_effect_and_is_undone(settings):
    assert connect_settings.LEEWAY == 30
    with override_settings(ATLASSIAN_CONNECT={**settings.ATLASSIAN_CONNECT, "LEEWAY": 1}):
        assert connect_settings.LEEWAY == 1
    assert connect_settings.LEEWAY == 30


def test_a_new_settings_object_reads_lazily(settings):
    # Nothing is read at construction: a fresh instance sees later changes.
    fresh = ConnectSettings()
    configure(settings, LEEWAY=7)
    assert fresh.LEEWAY == 7


def test_base_url_trailing_slash_is_dropped(settings):
    configure(settings, BASE_URL="https://app.example.com/")
    assert connect_settings.BASE_URL == "https://app.example.com"


@pytest.mark.parametrize("name", ["APP_KEY", "BASE_URL"])
@pytest.mark.parametrize("value", [_DELETE, None, ""])
def test_missing_required_setting(settings, name, value):
    configure(settings, **{name: value})
    with pytest.raises(ImproperlyConfigured) as excinfo:
        getattr(connect_settings, name)
    assert name in str(excinfo.value)
    assert "ATLASSIAN_CONNECT" in str(excinfo.value)
    assert connect_settings.get(name) is None


def test_missing_setting_dict_uses_defaults(settings):
    del settings.ATLASSIAN_CONNECT
    assert connect_settings.LEEWAY == 30
    assert connect_settings.INSTALL_KEYS_URL == "https://connect-install-keys.atlassian.com"
    with pytest.raises(ImproperlyConfigured):
        connect_settings.APP_KEY


def test_setting_must_be_a_dict(settings):
    settings.ATLASSIAN_CONNECT = ["APP_KEY"]
    with pytest.raises(ImproperlyConfigured) as excinfo:
        connect_settings.LEEWAY
    assert "must be a dict" in str(excinfo.value)


def test_unknown_attribute_is_an_attribute_error():
    with pytest.raises(AttributeError) as excinfo:
        connect_settings.NO_SUCH_SETTING
    assert "NO_SUCH_SETTING" in str(excinfo.value)
    assert not hasattr(connect_settings, "LEEWEY")


def test_get_returns_the_value():
    assert connect_settings.get("LEEWAY") == 30


# -- checks.py -------------------------------------------------------------------------


def test_the_test_settings_pass_every_check():
    assert checks.check_settings() == []
    assert connect_messages() == []


@pytest.mark.parametrize("value", [_DELETE, "", None])
def test_e001_missing_app_key(settings, value):
    configure(settings, APP_KEY=value)
    messages = checks.check_settings()
    assert ids(messages) == ["atlassian_connect.E001"]
    assert isinstance(messages[0], Error)
    assert "APP_KEY" in messages[0].msg
    assert messages[0].hint
    assert ids(connect_messages()) == ["atlassian_connect.E001"]


def test_e001_setting_not_a_dict(settings):
    settings.ATLASSIAN_CONNECT = "com.example.tests"
    assert ids(checks.check_settings()) == ["atlassian_connect.E001"]


@pytest.mark.parametrize("value", [_DELETE, "", None])
def test_e002_missing_base_url(settings, value):
    configure(settings, BASE_URL=value)
    messages = checks.check_settings()
    assert "atlassian_connect.E002" in ids(messages)
    (e002,) = [m for m in messages if m.id == "atlassian_connect.E002"]
    assert "BASE_URL" in e002.msg and e002.hint


@pytest.mark.parametrize(
    "value",
    [
        "app.example.com",
        "ftp://app.example.com",
        "https://",
        "/myapp",
        "https://app.example.com?x=1",
        "https://[bad",  # urlsplit() raises for this one: still an E002, not a crash
    ],
)
def test_e002_invalid_base_url(settings, value):
    configure(settings, BASE_URL=value)
    messages = checks.check_settings()
    assert ids(messages) == ["atlassian_connect.E002"]
    assert "not an absolute http(s) URL" in messages[0].msg


def test_w001_http_base_url_without_debug(settings):
    settings.DEBUG = False
    configure(settings, BASE_URL="http://app.example.com")
    messages = checks.check_settings()
    assert ids(messages) == ["atlassian_connect.W001"]
    assert isinstance(messages[0], Warning)
    assert "https" in messages[0].hint and "tunnel" in messages[0].hint


def test_w001_loopback_hint(settings):
    settings.DEBUG = False
    configure(settings, BASE_URL="http://127.0.0.1:8000")
    (message,) = checks.check_settings()
    assert message.id == "atlassian_connect.W001"
    assert "loopback" in message.hint
    # A warning, never an error: runserver must still start.
    assert not message.is_serious()


def test_no_w001_with_debug(settings):
    settings.DEBUG = True
    configure(settings, BASE_URL="http://app.example.com")
    assert checks.check_settings() == []


def test_no_w001_for_https(settings):
    settings.DEBUG = False
    configure(settings, BASE_URL="https://app.example.com")
    assert checks.check_settings() == []


def test_e003_descriptor_key_mismatch(settings):
    configure(settings, DESCRIPTOR={"key": "other"})
    messages = checks.check_settings()
    assert ids(messages) == ["atlassian_connect.E003"]
    assert "'other'" in messages[0].msg and "com.example.tests" in messages[0].msg
    assert "{{app_key}}" in messages[0].hint
    assert ids(connect_messages()) == ["atlassian_connect.E003"]


def test_no_e003_when_keys_agree(settings, tmp_path):
    configure(settings, DESCRIPTOR={"key": "com.example.tests", "modules": {}})
    assert checks.check_settings() == []
    path = tmp_path / "atlassian-connect.json"
    path.write_text(json.dumps({"key": "{{app_key}}"}), encoding="utf-8")
    configure(settings, DESCRIPTOR=None, DESCRIPTOR_FILE=str(path))
    assert checks.check_settings() == []


def test_e003_descriptor_file_key_mismatch_and_unreadable(settings, tmp_path):
    path = tmp_path / "atlassian-connect.json"
    path.write_text(json.dumps({"key": "com.example.else"}), encoding="utf-8")
    configure(settings, DESCRIPTOR_FILE=str(path))
    assert ids(checks.check_settings()) == ["atlassian_connect.E003"]
    configure(settings, DESCRIPTOR_FILE=str(tmp_path / "missing.json"))
    (message,) = checks.check_settings()
    assert message.id == "atlassian_connect.E003" and "cannot be read" in message.msg


def test_e003_scopes_not_a_list(settings):
    configure(settings, SCOPES="READ WRITE")
    (message,) = checks.check_settings()
    assert message.id == "atlassian_connect.E003"
    assert "SCOPES" in message.msg


@pytest.mark.parametrize("keys", ["a-string", [], [123], [""], ["ok", None], {"k": "v"}])
def test_e004_unusable_encryption_keys(settings, keys):
    configure(settings, ENCRYPTION_KEYS=keys)
    messages = checks.check_settings()
    assert ids(messages) == ["atlassian_connect.E004"]
    assert "ENCRYPTION_KEYS" in messages[0].msg + messages[0].hint
    assert ids(connect_messages()) == ["atlassian_connect.E004"]


def test_no_e004_for_default_or_explicit_keys(settings):
    configure(settings, ENCRYPTION_KEYS=None)
    assert checks.check_settings() == []
    configure(settings, ENCRYPTION_KEYS=["one passphrase", "another"])
    assert checks.check_settings() == []


def test_several_problems_are_reported_together(settings):
    settings.DEBUG = False
    configure(settings, APP_KEY=_DELETE, BASE_URL="ftp://x", ENCRYPTION_KEYS=[])
    assert ids(checks.check_settings()) == [
        "atlassian_connect.E001",
        "atlassian_connect.E002",
        "atlassian_connect.E004",
    ]


# -- deployment checks (manage.py check --deploy) --------------------------------------------


def deploy_ids() -> set[str]:
    return {m.id for m in checks.check_deployment() if m.id.startswith("atlassian_connect.")}


def test_w002_process_local_tenant_cache_under_deploy(settings):
    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
    messages = checks.check_deployment()
    (w002,) = [m for m in messages if m.id == "atlassian_connect.W002"]
    assert isinstance(w002, Warning)
    assert "TENANT_CACHE_ALIAS" in w002.hint and "Redis" in w002.hint
    assert "1 s" not in w002.msg and "(1)" in w002.msg  # names the interval in force
    # Registered for --deploy only: a plain check does not show it.
    assert "atlassian_connect.W002" not in {
        m.id for m in run_checks(include_deployment_checks=False)
    }
    assert "atlassian_connect.W002" in {m.id for m in run_checks(include_deployment_checks=True)}


def test_no_w002_with_a_shared_cache(settings):
    settings.CACHES = {
        "default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"},
        "shared": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": "redis://127.0.0.1:6379/0",
        },
    }
    settings.ATLASSIAN_CONNECT = {**settings.ATLASSIAN_CONNECT, "TENANT_CACHE_ALIAS": "shared"}
    assert "atlassian_connect.W002" not in deploy_ids()


@pytest.mark.parametrize("secret_key", ["django-insecure-" + "x1y2z3" * 10, "short-key", "a" * 60])
def test_e006_insecure_secret_key_without_encryption_keys(settings, secret_key):
    settings.SECRET_KEY = secret_key
    settings.ATLASSIAN_CONNECT = {**settings.ATLASSIAN_CONNECT, "ENCRYPTION_KEYS": None}
    (e006,) = [m for m in checks.check_deployment() if m.id == "atlassian_connect.E006"]
    assert isinstance(e006, Error)
    assert "ENCRYPTION_KEYS" in e006.hint and "connect_reencrypt" in e006.hint
    assert secret_key not in e006.msg + e006.hint


def test_no_e006_with_a_strong_key_or_explicit_encryption_keys(settings):
    settings.SECRET_KEY = "k9$Zq!" + "".join(chr(65 + i % 50) for i in range(60))
    settings.ATLASSIAN_CONNECT = {**settings.ATLASSIAN_CONNECT, "ENCRYPTION_KEYS": None}
    assert "atlassian_connect.E006" not in deploy_ids()
    settings.SECRET_KEY = "django-insecure-dev"
    settings.ATLASSIAN_CONNECT = {
        **settings.ATLASSIAN_CONNECT,
        "ENCRYPTION_KEYS": ["a-dedicated-passphrase-kept-out-of-the-code"],
    }
    assert "atlassian_connect.E006" not in deploy_ids()
