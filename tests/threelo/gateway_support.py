"""Helpers shared by the 3LO client test modules: what reached the simulated gateway."""

from __future__ import annotations

MYSELF = "/rest/api/3/myself"


def myself_tokens(server):
    return [c["token"] for c in server.api.calls("/myself")]
