"""The OAuth 2.0 authorization server's JWT-bearer grant (``POST <url>/oauth2/token``).

The app trades an assertion signed with the shared secret for a bearer token
that acts as a user; the REST fake accepts it (see ``credentials.py``).
"""

from __future__ import annotations

import json
import secrets
import time
from typing import Any

import jwt

from .state import IssuedToken, Refusal, SiteState

GRANT_TYPE = "urn:ietf:params:oauth:grant-type:jwt-bearer"
USER_PREFIX = "urn:atlassian:connect:useraccountid:"
#: how long an issued bearer token lives, in seconds
TOKEN_LIFETIME = 900


def oauth_error(error: str, description: str) -> Refusal:
    """A 400 with the RFC 6749 error body the real server sends."""
    return Refusal(400, json.dumps({"error": error, "error_description": description}))


class AuthorizationServer(SiteState):
    def grant(self, form: dict[str, str]) -> dict[str, Any]:
        """The OAuth 2.0 JWT-bearer grant; raise :class:`Refusal` like the real server."""
        with self._lock:
            self.grants += 1
            if self.fail_token_endpoint:
                status = self.fail_token_endpoint.pop(0)
                raise Refusal(
                    status,
                    json.dumps({"error": "server_error", "error_description": "simulated failure"}),
                )
        if form.get("grant_type") != GRANT_TYPE:
            raise oauth_error("unsupported_grant_type", f"grant_type must be {GRANT_TYPE}")
        if "ACT_AS_USER" not in self.app_scopes:
            raise oauth_error(
                "unauthorized_client",
                "The authenticated client is not authorized to use this authorization grant type "
                "(the app's descriptor lacks the ACT_AS_USER scope)",
            )
        account_id = self._assertion_account(form.get("assertion", ""))
        requested = frozenset(form.get("scope", "").upper().split())
        if not requested <= self.app_scopes:
            raise oauth_error(
                "invalid_scope",
                f"scopes {sorted(requested - self.app_scopes)} are not in the descriptor",
            )
        token = secrets.token_urlsafe(32)
        self.issued[token] = IssuedToken(
            account_id, requested or self.app_scopes, time.time() + TOKEN_LIFETIME
        )
        return {"access_token": token, "token_type": "Bearer", "expires_in": TOKEN_LIFETIME}

    def _assertion_account(self, assertion: str) -> str:
        """Verify the app's assertion; the accountId of the user it asks to act as."""
        try:
            claims = jwt.decode(
                assertion,
                self.shared_secret,
                algorithms=["HS256"],
                audience=self.url,
                options={"require": ["iss", "sub", "tnt", "aud", "iat", "exp"]},
                leeway=30,
            )
        except jwt.PyJWTError as exc:
            raise oauth_error("invalid_grant", f"the assertion is invalid: {exc}") from exc
        if claims["iss"] != f"urn:atlassian:connect:clientid:{self.oauth_client_id}":
            raise oauth_error(
                "invalid_grant", f"iss {claims['iss']!r} is not this installation's oauthClientId"
            )
        if claims["tnt"] != self.base_url:
            raise oauth_error(
                "invalid_grant",
                f"tnt {claims['tnt']!r} is not the site's baseUrl {self.base_url!r}",
            )
        if not str(claims["sub"]).startswith(USER_PREFIX):
            raise oauth_error("invalid_grant", f"sub must start with {USER_PREFIX}")
        account_id = str(claims["sub"])[len(USER_PREFIX) :]
        if account_id not in self.accounts:
            raise oauth_error(
                "invalid_grant", f"no user with accountId {account_id!r} on this site"
            )
        return account_id
