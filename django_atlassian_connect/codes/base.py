"""The shape of a registered code."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Code:
    """A registered error code: HTTP status (``0`` = none), default detail and hint."""

    status: int
    detail: str
    hint: str
    #: The fix when the refusal answers a Forge invocation (a FIT), where the
    #: Connect hint would point at the wrong token; empty: the hint applies.
    forge_hint: str = ""
