"""Helpers of the broken-setup catalogue: run the doctor, expect a finding, build tokens."""

from __future__ import annotations

import time

import jwt

from django_atlassian_connect.qsh import hash_canonical_request
from tests.doctor_support import run_doctor_json

APP_KEY = "com.example.tests"
ACCOUNT = "5b10ac8d82e05b22cc7d4ef5"

doctor = run_doctor_json


def diagnosed(args: tuple[str, ...], code: str, cause: str, *, primary: bool = True) -> dict:
    """The finding ``code`` with ``cause``; by default also the first problem."""
    status, report = doctor(*args)
    assert status == 1, report
    if primary:
        assert (report["code"], report["cause"]) == (code, cause), report["findings"]
    found = [f for f in report["findings"] if f["code"] == code and f["cause"] == cause]
    assert found, report["findings"]
    assert found[0]["hint"], found[0]
    return found[0]


def app_token(secret: str, canonical: str, *, iss: str = APP_KEY, now: float | None = None) -> str:
    """An app JWT whose qsh is the hash of ``canonical`` (right or mistaken)."""
    issued = int(time.time() if now is None else now)
    claims = {
        "iss": iss,
        "iat": issued,
        "exp": issued + 180,
        "qsh": hash_canonical_request(canonical),
    }
    return jwt.encode(claims, secret, algorithm="HS256")


def inbound_token(site, canonical: str, **claims) -> str:
    """A product-style token for ``site`` whose qsh is the hash of ``canonical``."""
    now = int(time.time())
    payload = {
        "iss": site.client_key,
        "sub": ACCOUNT,
        "iat": now,
        "exp": now + 180,
        "qsh": hash_canonical_request(canonical),
        "context": {},
        **claims,
    }
    return jwt.encode(payload, site.secret, algorithm="HS256")
