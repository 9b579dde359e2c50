"""Mint tokens the way the Atlassian product does."""

from __future__ import annotations

import time
import uuid
from typing import Any

import jwt

from ..qsh import CONTEXT_QSH, query_string_hash
from .keyserver import InstallKeyPair


def request_token(
    *,
    client_key: str,
    secret: str,
    method: str,
    url: str,
    app_base_url: str | None = None,
    account_id: str | None = None,
    now: float | None = None,
    lifetime: int = 180,
    **claims: Any,
) -> str:
    """An iframe/webhook token: HS256, ``qsh`` of ``method url`` relative to the app's base URL."""
    issued = int(time.time() if now is None else now)
    payload: dict[str, Any] = {
        "iss": client_key,
        "iat": issued,
        "exp": issued + lifetime,
        "qsh": query_string_hash(method, url, app_base_url),
        "context": {},
    }
    if account_id:
        payload["sub"] = account_id
    payload.update(claims)
    return jwt.encode(payload, secret, algorithm="HS256")


def context_token(
    *,
    client_key: str,
    secret: str,
    account_id: str | None = None,
    now: float | None = None,
    lifetime: int = 900,
    **claims: Any,
) -> str:
    """A context token (``AP.context.getToken()``): ``qsh`` is ``context-qsh``."""
    issued = int(time.time() if now is None else now)
    payload: dict[str, Any] = {
        "iss": client_key,
        "iat": issued,
        "exp": issued + lifetime,
        "qsh": CONTEXT_QSH,
        "context": {},
    }
    if account_id:
        payload["sub"] = account_id
    payload.update(claims)
    return jwt.encode(payload, secret, algorithm="HS256")


def install_token(
    key: InstallKeyPair,
    *,
    client_key: str,
    app_base_url: str,
    method: str = "POST",
    path: str = "/installed",
    now: float | None = None,
    lifetime: int = 180,
    **claims: Any,
) -> str:
    """A signed-install token: RS256 with ``kid``, ``aud`` = the app's base URL.

    Each token carries a random ``jti``: the app accepts a lifecycle token
    once, and two deliveries a test makes within one second would otherwise
    be the very same token (the product's deliveries are seconds apart).
    """
    issued = int(time.time() if now is None else now)
    payload: dict[str, Any] = {
        "iss": client_key,
        "aud": [app_base_url],
        "iat": issued,
        "exp": issued + lifetime,
        "qsh": query_string_hash(method, path, app_base_url),
        "context": {},
        "jti": uuid.uuid4().hex,
    }
    payload.update(claims)
    return jwt.encode(payload, key.private_pem, algorithm="RS256", headers={"kid": key.kid})
