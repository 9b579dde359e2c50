"""How the site checks the credentials on the app's REST calls.

``JWT`` (signed by the app with the shared secret, computed qsh) and
``Bearer`` (issued by the site's authorization server). Checks are strict and
every refusal says exactly why, which the real product does not.
"""

from __future__ import annotations

import time

import jwt

from ...qsh import CONTEXT_QSH, canonical_request, hash_canonical_request
from .state import IssuedToken, Refusal, SiteState


class CredentialChecker(SiteState):
    def verify_app_jwt(self, token: str, method: str, raw_path: str, query: str) -> None:
        """Verify an app's JWT strictly; raise :class:`Refusal` with the exact reason."""
        try:
            header = jwt.get_unverified_header(token)
            claims = jwt.decode(token, options={"verify_signature": False})
        except jwt.PyJWTError as exc:
            raise Refusal(401, f"the JWT cannot be decoded: {exc}") from exc
        if header.get("alg") != "HS256":
            raise Refusal(401, f"the JWT algorithm is {header.get('alg')!r}; expected HS256")
        iss = claims.get("iss")
        if iss == self.client_key:
            raise Refusal(
                401, f"iss is the clientKey {iss!r}; expected the app key {self.app_key!r}"
            )
        if iss != self.app_key:
            raise Refusal(401, f"iss is {iss!r}; expected the app key {self.app_key!r}")
        try:
            jwt.decode(
                token,
                self.shared_secret,
                algorithms=["HS256"],
                options={"require": ["iat", "exp", "qsh"]},
                leeway=30,
            )
        except jwt.ExpiredSignatureError as exc:
            raise Refusal(
                401, f"the JWT expired at {claims.get('exp')} (now {int(time.time())})"
            ) from exc
        except jwt.ImmatureSignatureError as exc:
            raise Refusal(
                401,
                f"the JWT was issued in the future (iat {claims.get('iat')}, now {int(time.time())})",
            ) from exc
        except jwt.MissingRequiredClaimError as exc:
            raise Refusal(401, f"the JWT lacks the claim {exc.claim!r}") from exc
        except jwt.InvalidSignatureError as exc:
            raise self._signature_refusal(token) from exc
        except jwt.PyJWTError as exc:
            raise Refusal(401, f"the JWT is invalid: {exc}") from exc
        url = f"{raw_path}?{query}" if query else raw_path
        canonical = canonical_request(method, url, self.base_url)
        if claims.get("qsh") == CONTEXT_QSH:
            raise Refusal(
                401, "the JWT carries qsh 'context-qsh', which the REST API does not accept"
            )
        if claims.get("qsh") != hash_canonical_request(canonical):
            raise Refusal(
                401,
                f"qsh mismatch: we hashed {canonical!r}, the token carries {claims.get('qsh')!r}",
            )

    def _signature_refusal(self, token: str) -> Refusal:
        """Name a retired secret that signed ``token``, the usual cause after a reinstall."""
        for record in reversed(self.secrets[:-1]):
            try:
                jwt.decode(
                    token, record.secret, algorithms=["HS256"], options={"verify_exp": False}
                )
            except jwt.PyJWTError:
                continue
            return Refusal(
                401,
                "the JWT is signed with a previous shared secret (replaced at "
                f"{time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime(record.retired_at or 0))}); "
                "use the secret of the latest installed callback",
            )
        return Refusal(401, "the JWT signature does not verify with the site's shared secret")

    def verify_bearer(self, token: str) -> IssuedToken:
        """The record of a bearer token this site's authorization server issued and that is live."""
        issued = self.issued.get(token)
        if issued is None:
            raise Refusal(
                401,
                "Client must be authenticated to access this resource: the bearer token was "
                "not issued by this site's authorization server",
            )
        if issued.expires_at < time.time():
            raise Refusal(401, "the bearer token expired")
        return issued
