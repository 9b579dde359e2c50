"""The former home of the session that binds one credential to one base URL.

:class:`GatewaySession` is :class:`~django_atlassian_connect.http.bound.BoundSession`
(the same class, under the name the docs and existing code use); it lives in
:mod:`django_atlassian_connect.http.bound` with the rest of the outbound layer.
"""

from __future__ import annotations

from .http.bound import BoundSession, origin

__all__ = ["BoundSession", "GatewaySession", "origin"]

#: The session every gateway credential (Forge, 3LO, API token, service account) is sent by.
GatewaySession = BoundSession
