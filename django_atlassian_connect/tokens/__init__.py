"""Connect JWTs: parse, verify and mint.

Nothing here touches models or HTTP. Each check is a small function raising
:class:`~django_atlassian_connect.exceptions.ConnectAuthError` with a stable
code, so callers (authentication classes, lifecycle views, diagnostics) can
compose them in the order the protocol requires. The clock is injectable:
every time check takes ``now`` (seconds since the epoch).

- :mod:`.parse`: split and decode, strict base64url, algorithm and claims present;
- :mod:`.checks`: times, the qsh rule, the audience;
- :mod:`.signatures`: RS256, and HS256 against a tenant's secret history;
- :mod:`.mint`: tokens for calling the product as the app.
"""

from .checks import check_audience, check_qsh, check_times
from .mint import encode_app_token, encode_hs256
from .parse import (
    HS256,
    RS256,
    ParsedToken,
    _decode_header,
    has_unstorable_text,
    parse_token,
    require_algorithm,
    require_claims,
    with_fresh_claims,
)
from .signatures import (
    SecretCandidate,
    VerifiedSecret,
    hs256_signature_valid,
    rs256_signature_valid,
    verify_hs256_with_secrets,
    verify_rs256,
)

__all__ = [
    "HS256",
    "RS256",
    "ParsedToken",
    "SecretCandidate",
    "VerifiedSecret",
    "_decode_header",
    "check_audience",
    "check_qsh",
    "check_times",
    "encode_app_token",
    "encode_hs256",
    "has_unstorable_text",
    "hs256_signature_valid",
    "parse_token",
    "require_algorithm",
    "require_claims",
    "rs256_signature_valid",
    "verify_hs256_with_secrets",
    "verify_rs256",
    "with_fresh_claims",
]
