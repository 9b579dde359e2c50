"""A simulated Atlassian OAuth 2.0 (3LO) authorization server and API gateway.

It lets tests and the demo link accounts and call Jira over real HTTP on
127.0.0.1, with Atlassian's rules: consent with a ``state`` passed back,
single-use codes, rotating refresh tokens with the 10-minute reuse window and
family revocation on later reuse, expiry by an injectable clock,
``invalid_grant``, ``accessible-resources``, ``/me``, and a gateway that
accepts only its own access tokens::

    from django_atlassian_connect.testing.oauth import OAuthServer

    with OAuthServer() as atlassian:
        atlassian.add_account("Alana Grant", "alana@example.com")
        atlassian.add_site("Acme", "https://acme.atlassian.net")
        settings.ATLASSIAN_CONNECT = {**settings.ATLASSIAN_CONNECT, **atlassian.settings()}

It is the other side of the wire from ``django_atlassian_connect.threelo`` and
imports nothing from it. Modules (imports point down): ``server`` (the two
hosts) → ``auth`` (consent, token endpoint), ``api`` (the gateway's routes) →
``state`` (the rules); HTTP plumbing from ``testing.forge.wire``.
"""

from .server import OAuthServer
from .state import REUSE_WINDOW, Account, Family, Issued, OAuthState, Site, TokenError

__all__ = [
    "REUSE_WINDOW",
    "Account",
    "Family",
    "Issued",
    "OAuthServer",
    "OAuthState",
    "Site",
    "TokenError",
]
