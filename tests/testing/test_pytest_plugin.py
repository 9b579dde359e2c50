"""The pytest plugin's fixtures, used as a user's test suite would."""

import pytest


def test_a_user_can_test_a_drf_view_in_a_few_lines(connect_client):
    response = connect_client.context_get("/drf/context")
    assert response.status_code == 200
    assert response.json()["accountId"] == connect_client.account_id
    assert response.json()["clientKey"] == connect_client.host.client_key


def test_page_tokens_and_webhooks(connect_client, connect_host, connect_tenant):
    assert (
        connect_client.page_get("/page?project=DEMO").json()["clientKey"]
        == connect_tenant.client_key
    )
    response = connect_client.page_post("/hook", {"issue": {"key": "DEMO-1"}})
    assert response.status_code == 200
    assert response.json()["clientKey"] == connect_tenant.client_key
    assert response.json()["accountId"] == connect_client.account_id
    assert connect_client.context_get("/page").status_code == 401  # context token on a page


def test_connect_tenant_is_a_signed_install(connect_tenant, connect_host):
    assert connect_tenant.base_url == connect_host.base_url
    assert connect_tenant.current_secret.secret == connect_host.shared_secret
    assert connect_tenant.lifecycle_events.get().accepted


@pytest.mark.django_db
def test_the_app_calls_the_simulated_site(connect_tenant, connect_host):
    from django_atlassian_connect.connect.client import ConnectClient

    assert (
        ConnectClient(connect_tenant).as_app().get("/rest/api/3/myself").json()["accountType"]
        == "app"
    )
    user = next(iter(connect_host.accounts))
    assert (
        ConnectClient(connect_tenant).as_user(user).get("/rest/api/3/myself").json()["accountId"]
        == user
    )


def test_rotation_and_uninstall_through_the_host(connect_client, connect_host, connect_tenant):
    connect_host.install(rotate_secret=True)
    connect_tenant.refresh_from_db()
    assert connect_tenant.current_secret.secret == connect_host.shared_secret
    connect_host.disable()
    assert connect_client.page_get("/page").json()["code"] == "tenant_disabled"
    connect_host.enable()
    connect_host.uninstall()
    assert connect_client.page_get("/page").json()["code"] == "tenant_uninstalled"


def test_connect_host_points_ap_js_url_at_its_bridge(connect_host, settings, rf):
    from django_atlassian_connect.context_processors import ap_js_url

    assert settings.AP_JS_URL == connect_host.all_js_url
    assert ap_js_url(rf.get("/hello")) == {
        "AP_JS_URL": f"{connect_host.url}/atlassian-connect/all.js"
    }


def test_ap_js_url_defaults_to_atlassians_cdn(settings, rf):
    from django_atlassian_connect.context_processors import DEFAULT_AP_JS_URL, ap_js_url

    if hasattr(settings, "AP_JS_URL"):
        del settings.AP_JS_URL
    assert ap_js_url(rf.get("/")) == {"AP_JS_URL": "https://connect-cdn.atl-paas.net/all.js"}
    assert DEFAULT_AP_JS_URL == "https://connect-cdn.atl-paas.net/all.js"
    settings.AP_JS_URL = "http://127.0.0.1:5/atlassian-connect/all.js"  # read per request
    assert ap_js_url(rf.get("/"))["AP_JS_URL"] == settings.AP_JS_URL


def test_without_pytest_django_the_fixtures_say_what_to_install(tmp_path):
    import os
    import subprocess
    import sys

    (tmp_path / "test_mine.py").write_text("def test_me(connect_client):\n    pass\n")
    env = {k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"}
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:django", "-p", "no:cacheprovider", "-q"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 1, result.stdout + result.stderr
    assert "the django_atlassian_connect fixtures need pytest-django" in result.stdout
    assert "pip install pytest-django" in result.stdout
    assert "django-atlassian-connect[test]" in result.stdout
    assert "fixture 'settings' not found" not in result.stdout
