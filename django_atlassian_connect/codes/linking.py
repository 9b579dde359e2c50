"""The answers of the OAuth 2.0 (3LO) link flow's own views (``threelo.views``).

A refused callback is the browser's answer, not an outbound call: these codes
are raised as plain :class:`~django_atlassian_connect.exceptions.ConnectError`
and answered with their status (400), as an HTML page or JSON.
"""

from __future__ import annotations

from .base import Code

LINKING: dict[str, Code] = {
    "oauth_state_invalid": Code(
        400,
        "The state of this callback is not one this session started, has expired or was "
        "used already. Nothing was stored.",
        "Start again from the connect page; do not reload or share the callback URL.",
    ),
    "oauth_authorization_failed": Code(
        400,
        "Atlassian did not grant the authorization (the callback carries an error). "
        "Nothing was stored.",
        "Start again; if it keeps failing, check the app's settings in the Atlassian "
        "developer console (callback URL, scopes, distribution).",
    ),
    "oauth_code_missing": Code(
        400,
        "The callback carries no authorization code. Nothing was stored.",
        "Start again from the connect page.",
    ),
}
