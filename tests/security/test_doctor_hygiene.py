"""``connect_doctor``, every sub-command, fed with secrets: it names them by fingerprint only.

Each case runs the command twice (human output and ``--json``) on a database holding real
secrets of every kind (``vault``), with inputs that carry secrets: a real signed JWT (in the
argument, on stdin, in a URL copied from the browser), tenants with secrets, a tenant whose
site holds another secret, a Forge Invocation Token with its OAuth headers, API tokens, 3LO
tokens and token answers, a stored grant. Stdout, stderr, the ``CommandError`` message and
every log record (DEBUG, SQL included) must hold no secret, no ciphertext and no whole JWT,
on the happy paths and on the error paths (bad input, unknown tenant, decryption failure).
Every token the simulated sites issued during the run counts as a secret too.

A failure names the case and what leaked, never the value.
"""

from __future__ import annotations

import base64
import json
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jwt
import pytest
from django.core.cache import cache

from django_atlassian_connect.conf import connect_settings
from django_atlassian_connect.connect import impersonation, tenant_cache
from django_atlassian_connect.connect.client import ConnectClient
from django_atlassian_connect.connect.descriptor import build_descriptor
from django_atlassian_connect.testing.host.state import SecretRecord
from tests.doctor_support import run_doctor_streams
from tests.security.vault import MYSELF, Vault

pytestmark = [pytest.mark.django_db, pytest.mark.security]

OTHER_APP = "ari:cloud:ecosystem::app/99999999-2222-4333-8444-555555555555"
SITE = "https://acme.atlassian.net"


@dataclass(frozen=True)
class Case:
    """One run: the arguments, what it reads on stdin, the exit status and primary code it
    must end with, the fingerprints its output must name and codes its report must hold."""

    name: str
    args: tuple[str, ...]
    status: int
    code: str | None = None
    names: tuple[str, ...] = ()
    stdin: str | None = None
    findings: tuple[str, ...] = ()


@dataclass
class Scene:
    """The seeded database and the simulated Atlassian sides it came from."""

    vault: Vault
    host: Any
    forge: Any
    settings: Any
    tmp_path: Path

    @property
    def account(self) -> str:
        return next(iter(self.host.accounts))

    def secret(self, state: str) -> tuple[str, str]:
        """(plaintext, fingerprint) of a Connect shared secret: ``current`` or ``oldest``."""
        names = [n for n in self.vault.fingerprints if n.startswith("Connect shared secret")]
        name = names[-1] if state == "current" else names[0]
        return self.vault.plaintexts[name], self.vault.fingerprints[name]

    def page_token(
        self, secret: str | None = None, iss: str | None = None, url: str = "/page?a=1"
    ) -> str:
        token = self.host.request_token("GET", url, account_id=self.account, secret=secret)
        if iss is None:
            return token
        claims = jwt.decode(token, options={"verify_signature": False})
        return jwt.encode({**claims, "iss": iss}, secret or self.host.shared_secret, "HS256")

    def forbid_issued(self) -> None:
        """Tokens the simulated sites issued meanwhile (a grant made by --check, ...)."""
        for i, token in enumerate([*self.host.issued, *self.forge.issued]):
            self.vault.add(f"a token a simulated site issued (#{i})", token)


def outcome(scene: Scene, case: Case, logs: pytest.LogCaptureFixture) -> list[str]:
    """What is wrong with one case: its status or code, a leak, a fingerprint not named."""
    start = len(logs.records)
    status, out, err = run_doctor_streams(*case.args, stdin=case.stdin)
    _, json_out, json_err = run_doctor_streams(*case.args, "--json", stdin=case.stdin)
    scene.forbid_issued()
    report = json.loads(json_out) if json_out else {"code": None, "findings": []}
    code, codes = report["code"], {finding["code"] for finding in report["findings"]}
    problems = [] if (status, code) == (case.status, case.code) else [f"ends {status} {code}"]
    problems += [f"does not find {c}" for c in case.findings if c not in codes]
    problems += [f"shows {what}" for what in scene.vault.leaks(out + err + json_out + json_err)]
    problems += [f"logs {what}" for what in scene.vault.log_leaks(logs.records[start:])]
    problems += [f"does not name {fp}" for fp in case.names if fp not in out or fp not in json_out]
    return problems


# -- the cases of each sub-command ------------------------------------------------------------


def token_cases(scene: Scene) -> list[Case]:
    current, current_fp = scene.secret("current")
    oldest, oldest_fp = scene.secret("oldest")
    token = scene.page_token()
    iframe = f"/page?a=1&xdm_e={SITE}"
    iframe_token = scene.page_token(url=iframe)
    browser_url = f"https://app.example.com{iframe}&jwt={iframe_token}"
    outbound = ConnectClient(scene.vault.tenant).as_app().get(MYSELF).request
    wrong = scene.vault.plaintexts["attacker's shared secret (refused install)"]
    ck = scene.host.client_key
    return [
        Case("page token", ("token", token, "--url", "/page?a=1"), 0, names=(current_fp,)),
        Case("URL copied from the browser", ("token", iframe_token, "--url", browser_url), 0),
        Case("header on stdin", ("token", "-", "--url", "/page?a=1"), 0, stdin=f"JWT {token}"),
        Case("retired secret", ("token", scene.page_token(oldest)), 0, names=(oldest_fp,)),
        Case("wrong secret", ("token", scene.page_token(wrong)), 1, "signature_invalid"),
        Case(
            "unknown tenant",
            ("token", scene.page_token(current, "jira:nobody")),
            1,
            "tenant_unknown",
        ),
        Case(
            "outbound, as sent",
            (
                "token",
                outbound.headers["Authorization"],
                "--outbound",
                "--client-key",
                ck,
                "--url",
                outbound.url,
            ),
            0,
            names=(current_fp,),
        ),
        Case(
            "impersonation assertion",
            (
                "token",
                impersonation.build_assertion(scene.vault.tenant, scene.account, current),
                "--outbound",
            ),
            0,
        ),
        Case(
            "signed install",
            (
                "token",
                scene.host.install_token("/installed"),
                "--url",
                "/installed",
                "--method",
                "POST",
            ),
            0,
        ),
        Case(
            "a Forge system token",
            ("token", scene.vault.plaintexts["Forge app system token"]),
            1,
            "tenant_unknown",
        ),
        Case("a secret as the token", ("token", current), 1, "token_malformed"),
        Case("usage error", ("token", token, "--method", "GET"), 2),
    ]


def tenant_cases(scene: Scene) -> list[Case]:
    # The vault's latest 'installed' is the attacker's refused one: token_missing first.
    history = tuple(fp for n, fp in scene.vault.fingerprints.items() if "shared secret" in n)
    ck, account = scene.host.client_key, scene.account
    return [
        Case("history", ("tenant", ck), 1, "token_missing", names=history),
        Case(
            "live check by baseUrl",
            ("tenant", scene.host.base_url, "--check", "--as-user", account),
            1,
            "token_missing",
            names=history,
            findings=("app_call_ok", "impersonation_ok"),
        ),
        Case("unknown tenant", ("tenant", "jira:nobody"), 1, "tenant_unknown"),
        Case("usage error", ("tenant", ck, "--as-user", account), 2),
    ]


def request_cases(scene: Scene) -> list[Case]:
    _, current_fp = scene.secret("current")
    ck, account = scene.host.client_key, scene.account
    user = ("--as-user", account, "--scope", "read")
    return [
        Case("as the app", ("request", "GET", MYSELF, "--tenant", ck), 0, names=(current_fp,)),
        Case("as a user", ("request", "GET", MYSELF, "--tenant", scene.host.base_url, *user), 0),
        Case(
            "not found", ("request", "GET", "/rest/api/3/nothing", "--tenant", ck), 1, "not_found"
        ),
        Case(
            "unknown tenant",
            ("request", "GET", MYSELF, "--tenant", "jira:nobody"),
            1,
            "tenant_unknown",
        ),
        Case("--data not JSON", ("request", "POST", MYSELF, "--tenant", ck, "--data", "{x"), 2),
        Case("usage error", ("request", "GET", MYSELF, "--tenant", ck, "--scope", "read"), 2),
    ]


def stale_secret_cases(scene: Scene) -> list[Case]:
    """The site rotated its secret, the app never got the 'installed': calls are refused."""
    _, current_fp = scene.secret("current")
    unknown = "ATCO-site-only-" + uuid.uuid4().hex * 2
    scene.host.secrets[-1].retired_at = time.time()
    scene.host.secrets.append(SecretRecord(unknown, time.time()))
    scene.vault.add("the site's secret the app never got", unknown)
    ck = scene.host.client_key
    return [
        Case(
            "tenant --check",
            ("tenant", ck, "--check"),
            1,
            "token_missing",
            names=(current_fp,),
            findings=("signature_invalid",),
        ),
        Case(
            "request",
            ("request", "GET", MYSELF, "--tenant", ck),
            1,
            "signature_invalid",
            names=(current_fp,),
        ),
    ]


def undecryptable_cases(scene: Scene) -> list[Case]:
    """ENCRYPTION_KEYS lost the key the database was encrypted with (a new process)."""
    scene.settings.ATLASSIAN_CONNECT = {
        **scene.settings.ATLASSIAN_CONNECT,
        "ENCRYPTION_KEYS": ["a-key-that-encrypted-nothing"],
    }
    tenant_cache.clear_process_memory()
    cache.clear()
    ck, account, code = scene.host.client_key, scene.account, "secret_undecryptable"
    return [
        Case("token", ("token", scene.page_token(), "--url", "/page?a=1"), 1, code),
        Case("tenant", ("tenant", ck), 1, code),
        Case("tenant --check", ("tenant", ck, "--check", "--as-user", account), 1, code),
        Case("request as the app", ("request", "GET", MYSELF, "--tenant", ck), 1, code),
        Case(
            "request as a user",
            ("request", "GET", MYSELF, "--tenant", ck, "--as-user", account),
            1,
            code,
        ),
        Case("credentials --grant", ("credentials", "--grant", str(scene.vault.grant.pk)), 1, code),
    ]


def forge_token_cases(scene: Scene) -> list[Case]:
    forge, plain = scene.forge, scene.vault.plaintexts
    fit = forge.mint_fit(account_id=next(iter(forge.accounts)))
    system, user = plain["Forge app system token"], plain["Forge user token"]
    headers = (
        "--headers",
        f"authorization: Bearer {fit}, x-forge-oauth-system: {system}",
        "--headers",
        f"x-forge-oauth-user: {user}, x-b3-traceid: 0af7651916cd43dd",
    )
    return [
        Case("FIT and header lines with values", ("forge-token", fit, *headers), 0),
        Case("header on stdin", ("forge-token", "-"), 0, stdin=f"Authorization: Bearer {fit}"),
        Case(
            "expired", ("forge-token", forge.mint_fit(now=time.time() - 3600)), 1, "token_expired"
        ),
        Case(
            "another app's",
            ("forge-token", forge.mint_fit(app_id=OTHER_APP)),
            1,
            "audience_invalid",
        ),
        Case("the system token instead", ("forge-token", system), 1, "alg_not_allowed"),
        Case("not a JWT", ("forge-token", plain["3LO refresh token"]), 1, "token_malformed"),
        Case("empty stdin", ("forge-token", "-"), 2, stdin="\n"),
    ]


def credentials_cases(scene: Scene) -> list[Case]:
    plain = scene.vault.plaintexts
    api_token = "ATATT3xFfGF0" + uuid.uuid4().hex * 4
    scene.vault.add("an API token", api_token)
    pair = f"ada@example.com:{api_token}"
    basic = "Basic " + base64.b64encode(pair.encode()).decode()
    access, refresh = plain["3LO access token"], plain["3LO refresh token"]
    answer = json.dumps(
        {
            "access_token": access,
            "refresh_token": refresh,
            "expires_in": 3600,
            "scope": "offline_access",
        }
    )
    token_url = ("--url", f"{connect_settings.OAUTH_AUTH_URL}/oauth/token", "--status", "200")
    at_site = ("--url", f"{SITE}/rest/api/3/myself", "--status", "401")
    idp = jwt.encode({"iss": "https://login.microsoftonline.com/t/v2.0", "tid": "t"}, "k" * 32)
    return [
        Case(
            "Basic, refused by the site", ("credentials", basic, *at_site), 1, "api_token_expired"
        ),
        Case(
            "Basic, not encoded", ("credentials", f"Basic {pair}", *at_site), 1, "basic_not_encoded"
        ),
        Case("a bare API token", ("credentials", api_token), 0),
        Case(
            "3LO token at the site",
            ("credentials", f"Bearer {access}", *at_site),
            1,
            "oauth_token_site_url",
        ),
        Case(
            "on stdin",
            ("credentials", "-", *at_site),
            1,
            "oauth_token_site_url",
            stdin=f"Bearer {access}",
        ),
        Case("an identity provider's token", ("credentials", idp, *at_site), 1, "sso_token"),
        Case("token answer", ("credentials", *token_url, "--body", answer), 0),
        Case(
            "token answer with its status line",
            ("credentials", *token_url, "--body", f"HTTP/1.1 200 OK\r\n\r\n{answer}"),
            0,
        ),
        Case(
            "token answer cut short in a log",
            ("credentials", *token_url, "--body", answer[:-25]),
            0,
        ),
        Case("the stored grant", ("credentials", "--grant", str(scene.vault.grant.pk)), 0),
        Case("unknown grant", ("credentials", "--grant", "424242"), 2),
        Case("--created not a day", ("credentials", basic, "--created", "last year"), 2),
        Case("both on stdin", ("credentials", "-", "--body", "-"), 2, stdin=f"Bearer {access}"),
    ]


def descriptor_cases(scene: Scene) -> list[Case]:
    served = scene.tmp_path / "atlassian-connect.json"
    served.write_text(json.dumps(build_descriptor()))
    dotenv = scene.tmp_path / ".env"  # given by mistake: not JSON, and full of secrets
    dotenv.write_text(
        "\n".join(f"SECRET_{i}={v}" for i, v in enumerate(scene.vault.plaintexts.values()))
    )
    return [
        Case("the served descriptor", ("descriptor",), 0),
        Case("a descriptor file", ("descriptor", "--file", str(served)), 0),
        Case("a secrets file", ("descriptor", "--file", str(dotenv)), 2),
        Case("a missing file", ("descriptor", "--file", str(scene.tmp_path / "none.json")), 2),
    ]


CASES: dict[str, Callable[[Scene], list[Case]]] = {
    "token": token_cases,
    "tenant": tenant_cases,
    "request": request_cases,
    "forge-token": forge_token_cases,
    "credentials": credentials_cases,
    "descriptor": descriptor_cases,
    "site holds another secret": stale_secret_cases,
    "secrets undecryptable": undecryptable_cases,
}


@pytest.mark.parametrize("command", CASES)
def test_doctor_names_secrets_by_fingerprint_only(
    vault, connect_host, forge_host, all_logs, settings, tmp_path, command
):
    scene = Scene(vault, connect_host, forge_host, settings, tmp_path)
    found = {case.name: outcome(scene, case, all_logs) for case in CASES[command](scene)}
    assert {name: problems for name, problems in found.items() if problems} == {}
