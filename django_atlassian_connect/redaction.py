"""Keep Connect tokens out of log lines this package does not write.

This package never logs a token or a secret. Other loggers do: an access log
writes the request line, and the product puts the iframe token in the query
(``GET /hello?...&jwt=eyJ...``), Atlassian's OAuth 2.0 redirect the
authorization code (``GET /oauth/callback?code=...&state=...``); an HTTP
client at DEBUG may write headers.
Attach :class:`RedactTokensFilter` to the handlers that carry them::

    LOGGING = {
        "filters": {
            "redact_tokens": {"()": "django_atlassian_connect.redaction.RedactTokensFilter"}
        },
        "handlers": {
            "console": {"class": "logging.StreamHandler", "filters": ["redact_tokens"]}
        },
        ...
    }

The token is replaced by ``[redacted]``; the rest of the line is kept.
"""

from __future__ import annotations

import logging
import re

__all__ = ["REDACTED", "RedactTokensFilter", "redact"]

REDACTED = "[redacted]"

_PATTERNS = (
    # jwt=<token> in a query string or form body (raw or URL-encoded context)
    (re.compile(r"(?i)(\bjwt=)[^&\s\"'#]+"), r"\1" + REDACTED),
    # Authorization: Bearer <opaque access token>
    (re.compile(r"(?i)\b(bearer)(\s+)[A-Za-z0-9\-_.~+/]{16,}=*"), r"\1\2" + REDACTED),
    # a compact JWS anywhere (header.claims.signature): "JWT <token>", JSON, ...
    (re.compile(r"eyJ[A-Za-z0-9_-]*\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*"), REDACTED),
    # OAuth 2.0 tokens and client secrets in a query string or a JSON body
    (
        re.compile(r"(?i)([?&](?:access_token|refresh_token|client_secret)=)[^&\s\"'#]+"),
        r"\1" + REDACTED,
    ),
    (
        re.compile(r'(?i)("(?:access_token|refresh_token|client_secret)"\s*:\s*")[^"]+'),
        r"\1" + REDACTED,
    ),
)
#: An OAuth 2.0 redirect's query (it carries a ``state``): its ``code`` is a credential.
_OAUTH_REDIRECT = re.compile(r"[^\s\"']*[?&]state=[^\s\"']*")
_CODE = re.compile(r"(?i)([?&]code=)[^&\s\"'#]+")


def redact(text: str) -> str:
    """``text`` with every Connect token it contains replaced by ``[redacted]``
    (and OAuth 2.0 tokens, client secrets and the ``code`` of an OAuth redirect)."""
    for pattern, replacement in _PATTERNS:
        text = pattern.sub(replacement, text)
    if "code=" in text:
        text = _OAUTH_REDIRECT.sub(lambda url: _CODE.sub(r"\1" + REDACTED, url.group(0)), text)
    return text


class RedactTokensFilter(logging.Filter):
    """A logging filter that redacts tokens from the formatted message.

    It never drops a record; a message that cannot be formatted is left alone.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a broken record is the formatter's business
            return True
        redacted = redact(message)
        if redacted != message:
            record.msg = redacted
            record.args = None
        return True
