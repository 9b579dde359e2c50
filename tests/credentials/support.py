"""Helpers shared by the credentials test modules."""

from __future__ import annotations

EMAIL = "ada@example.com"


def secrets_absent(text: str, *values: str) -> bool:
    return not any(value and value in text for value in values)
