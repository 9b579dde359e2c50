"""Helpers of the tokens.py tests: raw and HS256 tokens, claims, the expected error."""

from __future__ import annotations

import base64
import json
from typing import Any

import jwt
import pytest

from django_atlassian_connect.exceptions import ConnectAuthError
from django_atlassian_connect.qsh import query_string_hash
from django_atlassian_connect.tokens import ParsedToken, parse_token

NOW = 1_700_000_000.0
SECRET = "ATCO-current-secret-0123456789-abcdefghijkl"
OLD_SECRET = "ATCO-retired-secret-9876543210-abcdefghijkl"


def b64(data: bytes | str) -> str:
    if isinstance(data, str):
        data = data.encode("utf-8")
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def raw_token(header: Any, claims: Any, signature: bytes = b"sig") -> str:
    def part(value: Any) -> str:
        return b64(value if isinstance(value, (bytes, str)) else json.dumps(value))

    return f"{part(header)}.{part(claims)}.{b64(signature) if signature else ''}"


def hs_token(claims: dict[str, Any], secret: str = SECRET, **headers: Any) -> str:
    return jwt.encode(claims, secret, algorithm="HS256", headers=headers or None)


def claims(**overrides: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "iss": "jira:client-1",
        "iat": int(NOW),
        "exp": int(NOW) + 180,
        "qsh": query_string_hash("GET", "/page?a=1"),
        "sub": "account-1",
    }
    base.update(overrides)
    return {k: v for k, v in base.items() if v is not None}


def parsed(**overrides: Any) -> ParsedToken:
    return parse_token(hs_token(claims(**overrides)))


def assert_code(excinfo: pytest.ExceptionInfo[ConnectAuthError], code: str) -> ConnectAuthError:
    error = excinfo.value
    assert error.code == code, (error.code, error.detail)
    assert error.detail
    assert error.hint
    return error


APP = "https://app.example.com"
