"""The simulated site's own verifier refuses what the real product would, and says why."""

from __future__ import annotations

import time

import jwt
import pytest
import requests

from django_atlassian_connect.qsh import query_string_hash
from django_atlassian_connect.testing.host import ConnectHost, HostError, SecretRecord

APP_KEY = "com.example.app"
SECRET = "ATCO-current-secret-" + "s" * 30


@pytest.fixture
def host():
    with ConnectHost() as host:
        host.descriptor = {
            "key": APP_KEY,
            "baseUrl": "http://127.0.0.1:1",
            "scopes": ["READ", "ACT_AS_USER"],
            "lifecycle": {"installed": "/installed"},
            "modules": {
                "generalPages": [{"key": "hello", "url": "/hello", "name": {"value": "Hello"}}]
            },
        }
        host.secrets = [
            SecretRecord("ATCO-old-secret-" + "o" * 30, 1.0, retired_at=2.0),
            SecretRecord(SECRET, 2.0),
        ]
        host.installed = True
        yield host


def app_jwt(
    path, *, iss=APP_KEY, secret=SECRET, method="GET", now=None, qsh=None, alg="HS256", **claims
):
    issued = int(now or time.time())
    payload = {
        "iss": iss,
        "iat": issued,
        "exp": issued + 180,
        "qsh": qsh or query_string_hash(method, path),
        **claims,
    }
    return jwt.encode(payload, secret if alg == "HS256" else None, algorithm=alg)


def call(host, path, auth, method="GET"):
    return requests.request(
        method, host.url + path, headers={"Authorization": auth} if auth else {}, timeout=10
    )


def test_valid_app_jwt_is_accepted(host):
    response = call(
        host, "/rest/api/3/myself?b=2&a=1", f"JWT {app_jwt('/rest/api/3/myself?a=1&b=2')}"
    )
    assert response.status_code == 200 and response.json()["accountType"] == "app"


@pytest.mark.parametrize(
    "make,status,reason",
    [
        (
            lambda h: f"JWT {app_jwt('/rest/api/3/myself', iss=h.client_key)}",
            401,
            "iss is the clientKey",
        ),
        (
            lambda h: f"JWT {app_jwt('/rest/api/3/myself', iss='com.other')}",
            401,
            "expected the app key",
        ),
        (lambda h: f"JWT {app_jwt('/rest/api/3/myself', secret='x' * 40)}", 401, "does not verify"),
        (
            lambda h: f"JWT {app_jwt('/rest/api/3/myself', secret='ATCO-old-secret-' + 'o' * 30)}",
            401,
            "previous shared secret",
        ),
        (lambda h: f"JWT {app_jwt('/rest/api/3/myself', now=time.time() - 3600)}", 401, "expired"),
        (lambda h: f"JWT {app_jwt('/rest/api/3/myself', now=time.time() + 3600)}", 401, "future"),
        (
            lambda h: f"JWT {app_jwt('/rest/api/3/project/recent')}",
            401,
            "qsh mismatch: we hashed 'GET&/rest/api/3/myself&'",
        ),
        (lambda h: f"JWT {app_jwt('/rest/api/3/myself', qsh='context-qsh')}", 401, "context-qsh"),
        (lambda h: f"JWT {app_jwt('/rest/api/3/myself', alg='none')}", 401, "algorithm"),
        (lambda h: "JWT not.a.token", 401, "cannot be decoded"),
        (lambda h: f"Bearer {app_jwt('/rest/api/3/myself')}", 401, "Client must be authenticated"),
        (lambda h: "Basic dXNlcjp0b2tlbg==", 401, "not accepted"),
        (lambda h: "", 401, "no Authorization header"),
    ],
)
def test_refusals_say_exactly_why(host, make, status, reason):
    response = call(host, "/rest/api/3/myself", make(host))
    assert response.status_code == status
    assert reason in response.json()["message"], response.json()


def test_missing_scope_is_403(host):
    response = call(host, "/rest/api/3/permissions", f"JWT {app_jwt('/rest/api/3/permissions')}")
    assert response.status_code == 403 and "lack ADMIN" in response.json()["message"]
    response = call(
        host,
        "/rest/api/3/search",
        f"JWT {app_jwt('/rest/api/3/search', method='POST')}",
        method="POST",
    )
    assert response.status_code == 403 and "lack WRITE" in response.json()["message"]


def test_not_installed_and_rate_limit(host):
    host.rate_limit = [7]
    response = call(host, "/rest/api/3/myself", f"JWT {app_jwt('/rest/api/3/myself')}")
    assert response.status_code == 429 and response.headers["Retry-After"] == "7"
    host.installed = False
    assert (
        call(host, "/rest/api/3/myself", f"JWT {app_jwt('/rest/api/3/myself')}").status_code == 401
    )


def test_confluence_paths_need_wiki():
    with ConnectHost(product="confluence") as host:
        host.descriptor = {
            "key": APP_KEY,
            "baseUrl": "http://127.0.0.1:1",
            "lifecycle": {},
            "scopes": ["READ"],
        }
        host.secrets, host.installed = [SecretRecord(SECRET, 1.0)], True
        assert host.base_url.endswith("/wiki")
        ok = call(host, "/wiki/rest/api/user/current", f"JWT {app_jwt('/rest/api/user/current')}")
        assert ok.status_code == 200
        wiki_hashed = call(
            host, "/wiki/rest/api/user/current", f"JWT {app_jwt('/wiki/rest/api/user/current')}"
        )
        assert wiki_hashed.status_code == 401 and "qsh mismatch" in wiki_hashed.json()["message"]


def assertion(host, **overrides):
    now = int(time.time())
    claims = {
        "iss": f"urn:atlassian:connect:clientid:{host.oauth_client_id}",
        "sub": "urn:atlassian:connect:useraccountid:5b10ac8d82e05b22cc7d4ef5",
        "tnt": host.base_url,
        "aud": host.url,
        "iat": now,
        "exp": now + 60,
        **overrides,
    }
    return jwt.encode(claims, SECRET, algorithm="HS256")


def grant(host, **form):
    data = {
        "grant_type": "urn:ietf:params:oauth:grant-type:jwt-bearer",
        "assertion": assertion(host),
        **form,
    }
    return requests.post(host.url + "/oauth2/token", data=data, timeout=10)


def test_token_endpoint_issues_tokens_the_api_accepts(host):
    response = grant(host, scope="READ")
    assert response.status_code == 200 and response.json()["expires_in"] == 900
    me = call(host, "/rest/api/3/myself", f"Bearer {response.json()['access_token']}")
    assert me.json()["accountId"] == "5b10ac8d82e05b22cc7d4ef5"


@pytest.mark.parametrize(
    "form,error",
    [
        ({"grant_type": "client_credentials"}, "unsupported_grant_type"),
        ({"assertion": "garbage"}, "invalid_grant"),
        ({"scope": "ADMIN"}, "invalid_scope"),
    ],
)
def test_token_endpoint_refusals(host, form, error):
    response = grant(host, **form)
    assert response.status_code == 400 and response.json()["error"] == error


@pytest.mark.parametrize(
    "claims,reason",
    [
        ({"iss": "urn:atlassian:connect:clientid:other"}, "oauthClientId"),
        ({"tnt": "https://other.atlassian.net"}, "tnt"),
        ({"aud": "https://auth.atlassian.io"}, "assertion is invalid"),
        ({"sub": "urn:atlassian:connect:useraccountid:nobody"}, "no user"),
    ],
)
def test_assertion_checks(host, claims, reason):
    data = {
        "grant_type": "urn:ietf:params:oauth:grant-type:jwt-bearer",
        "assertion": assertion(host, **claims),
    }
    response = requests.post(host.url + "/oauth2/token", data=data, timeout=10)
    assert (
        response.json()["error"] == "invalid_grant"
        and reason in response.json()["error_description"]
    )


def test_unauthorized_client_without_act_as_user(host):
    host.descriptor["scopes"] = ["READ"]
    response = grant(host)
    assert response.json()["error"] == "unauthorized_client"
    assert (
        "not authorized to use this authorization grant type"
        in response.json()["error_description"]
    )


def test_key_cdn_and_browser_page(host):
    assert requests.get(f"{host.keys_url}/{host.key.kid}", timeout=5).text == host.key.public_pem
    assert requests.get(f"{host.keys_url}/unknown", timeout=5).status_code == 404
    page = requests.get(host.url + "/?module=hello", timeout=5).text
    assert "Hello" in page and "<iframe" in page and "jwt=" in page


def test_sites_can_share_one_install_key(host):
    """As Atlassian's sites do: one key server serves the key every site signs with."""
    other = ConnectHost(install_key=host.key)
    other.descriptor = host.descriptor
    token = other.install_token("/installed")
    assert jwt.get_unverified_header(token)["kid"] == host.key.kid
    public = requests.get(f"{host.keys_url}/{host.key.kid}", timeout=5).text
    claims = jwt.decode(token, public, algorithms=["RS256"], audience="http://127.0.0.1:1")
    assert claims["iss"] == other.client_key != host.client_key


def test_page_url_carries_a_valid_token(host):
    url = host.page_url("hello", account_id="5b10ac8d82e05b22cc7d4ef5")
    path_and_query = url[len(host.app_base_url) :]
    token = path_and_query.split("&jwt=", 1)[1]
    claims = jwt.decode(token, SECRET, algorithms=["HS256"])
    assert claims["qsh"] == query_string_hash("GET", path_and_query)  # jwt is not hashed
    assert claims["sub"] == "5b10ac8d82e05b22cc7d4ef5" and claims["iss"] == host.client_key


def test_unknown_module_and_missing_descriptor():
    with ConnectHost() as bare:
        with pytest.raises(HostError):
            bare.page_url("hello")
        with pytest.raises(HostError):
            bare.install()
