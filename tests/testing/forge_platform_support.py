"""Helpers of the simulated Forge platform tests: verify a FIT as an app would, call the gateway."""

from __future__ import annotations

import re
from typing import Any

import jwt
import requests

APP_KEY = "com.example.tests"  # tests/settings.py
ARI_INSTALLATION = re.compile(r"^ari:cloud:ecosystem::installation/[0-9a-f-]{36}$")


def jwks_key(forge, token: str) -> Any:
    """The key for ``token`` from the JWKS as a verifier would get it (plain PyJWT)."""
    keys = requests.get(forge.jwks_url, timeout=5).json()["keys"]
    kid = jwt.get_unverified_header(token)["kid"]
    return jwt.PyJWK(next(k for k in keys if k["kid"] == kid)).key


def verify(forge, token: str) -> dict[str, Any]:
    return jwt.decode(
        token,
        jwks_key(forge, token),
        algorithms=["RS256"],
        audience=forge.app_id,
        issuer="forge/invocation-token",
        options={"require": ["exp", "iat", "nbf", "iss", "aud", "jti"]},
    )


def gateway_get(forge, path: str, token: str | None = None) -> requests.Response:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return requests.get(forge.gateway_url + path, headers=headers, timeout=5)
