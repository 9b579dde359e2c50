"""Mint tokens to call the product: HS256, ``iss`` = the app key."""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

import jwt

from .parse import HS256


def encode_hs256(claims: Mapping[str, Any], secret: str) -> str:
    """Sign ``claims`` with HS256 (header ``{"alg": "HS256", "typ": "JWT"}``)."""
    return jwt.encode(dict(claims), secret, algorithm=HS256)


def encode_app_token(
    *,
    app_key: str,
    secret: str,
    qsh: str,
    now: float | None = None,
    lifetime: int = 180,
    extra_claims: Mapping[str, Any] | None = None,
) -> str:
    """A token for calling the product as the app: ``iss`` is the *app key*."""
    issued = int(time.time() if now is None else now)
    claims: dict[str, Any] = {"iss": app_key, "iat": issued, "exp": issued + lifetime, "qsh": qsh}
    if extra_claims:
        claims.update(extra_claims)
    return encode_hs256(claims, secret)
