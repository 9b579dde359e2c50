"""Helpers of the connect_doctor tests: run the command, mint an app token."""

from __future__ import annotations

import io
import sys
import time
from pathlib import Path

import jwt

from django_atlassian_connect.qsh import hash_canonical_request
from tests.doctor_support import run_doctor, run_doctor_json

APP_KEY = "com.example.tests"
ACCOUNT = "5b10ac8d82e05b22cc7d4ef5"
ROOT = Path(__file__).resolve().parents[2]


def run(*args: str, stdin: str | None = None, monkeypatch=None) -> tuple[int, str]:
    if stdin is not None:
        monkeypatch.setattr(sys, "stdin", io.StringIO(stdin))
    return run_doctor(*args)


run_json = run_doctor_json


def app_token(secret: str, canonical: str, **claims) -> str:
    now = int(time.time())
    payload = {
        "iss": APP_KEY,
        "iat": now,
        "exp": now + 180,
        "qsh": hash_canonical_request(canonical),
        **claims,
    }
    return jwt.encode(payload, secret, algorithm="HS256")
