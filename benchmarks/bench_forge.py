"""Forge: warm FIT verification (cached JWKS) against a bare PyJWT RS256 decode.

The same token, the same RSA-2048 key, in the same process:

- ``floor``: ``jwt.decode(token, key, algorithms=["RS256"], audience=..., issuer=...,
  leeway=..., options={"require": [...]})`` with the key object already in hand —
  what any correct verifier must at least do;
- ``ours``: ``verify_fit(token)``: the same, plus the JWKS lookup (process
  memory), the app, installation and apiBaseUrl checks;
- ``ours_request`` / ``floor_request``: each with a fresh Django request per
  call (built with the Authorization and x-forge-oauth headers, as a server
  sees it), ``verify_invocation`` building the ``ForgeContext``.

JWKS fetches are counted on the simulated JWKS server: one to warm, then none.
"""

from __future__ import annotations

from benchmarks.common import per_call_us, setup_django


def run() -> dict[str, float]:
    setup_django()
    import jwt
    from django.conf import settings
    from django.test import RequestFactory, override_settings

    from django_atlassian_connect.forge import verify_fit, verify_invocation
    from django_atlassian_connect.forge.invocation import FIT_ISSUER, REQUIRED_CLAIMS
    from django_atlassian_connect.testing.forge import ForgePlatform

    with ForgePlatform() as platform:
        platform.add_installation("jira")
        account = platform.add_account("Ada", "ada@example.com").account_id
        connect = {
            **settings.ATLASSIAN_CONNECT,
            "FORGE_APP_ID": platform.app_id,
            "FORGE_JWKS_URL": platform.jwks_url,
            "FORGE_API_HOSTS": platform.api_hosts,
        }
        # A long-lived token so the timing loop never crosses its expiry.
        token = platform.mint_fit(account_id=account, lifetime=3600)
        key = jwt.PyJWK(platform.keys.current.jwk(), algorithm="RS256").key
        factory = RequestFactory()
        headers = {
            "HTTP_AUTHORIZATION": f"Bearer {token}",
            "HTTP_X_FORGE_OAUTH_SYSTEM": "system-token",
            "HTTP_X_FORGE_OAUTH_USER": "user-token",
        }

        def decode(raw: str) -> None:
            jwt.decode(
                raw,
                key,
                algorithms=["RS256"],
                audience=platform.app_id,
                issuer=FIT_ISSUER,
                leeway=30,
                options={"require": list(REQUIRED_CLAIMS)},
            )

        def floor() -> None:
            decode(token)

        def floor_request() -> None:
            request = factory.post("/forge/me", **headers)
            decode(request.META["HTTP_AUTHORIZATION"].split(" ", 1)[1])

        with override_settings(ATLASSIAN_CONNECT=connect):
            verify_fit(token)  # warm: the one JWKS fetch
            warm_fetches = platform.jwks.fetch_count

            def ours() -> None:
                verify_fit(token)

            def ours_request() -> None:
                verify_invocation(factory.post("/forge/me", **headers))

            results = {
                "floor": per_call_us(floor),
                "ours": per_call_us(ours),
                "floor_request": per_call_us(floor_request),
                "ours_request": per_call_us(ours_request),
            }
            results["jwks_fetches_after_warm"] = platform.jwks.fetch_count - warm_fetches
    results["ratio"] = results["ours"] / results["floor"]
    results["ratio_request"] = results["ours_request"] / results["floor_request"]
    return results


if __name__ == "__main__":
    print(run())
