"""The one registry of error codes: default detail, hint and HTTP status.

Every error this package raises on purpose has a ``code`` registered here
(:class:`~django_atlassian_connect.exceptions.ConnectError` refuses any
other). A :class:`Code` holds:

- ``status``: the HTTP status the code stands for. For inbound refusals it
  is the status of our answer (401, 413, 503); for ``api_*`` codes the status
  the product answered. ``0`` means the code has no status of its own (an
  outbound call that was never sent, or whose failure has no one status:
  the error's ``status`` attribute then carries what was actually received,
  if anything).
- ``detail``: the default cause, used when a raise site gives none (raise
  sites usually give a more precise one).
- ``hint``: the default fix.

The codes are stable: logs, response bodies and ``connect_doctor`` use them.
No text here names a secret or a token value. This package imports nothing
else of django_atlassian_connect, so everything may import it.
"""

from __future__ import annotations

from typing import Final

from .adoption import ADOPTION, ADOPTION_CODES
from .base import Code
from .forge_adoption import FORGE_ADOPTION, FORGE_ADOPTION_CLIENT, REKEY_CODES
from .forge_events import FORGE_EVENT_CODES, FORGE_EVENTS
from .forge_licensing import FORGE_LICENSING
from .linking import LINKING
from .outbound import API, CLIENT, IMPERSONATION, SECRETS
from .refusals import REFUSALS

__all__ = [
    "ADOPTION_CODES",
    "API_CODES",
    "CLIENT_CODES",
    "CODES",
    "FORGE_EVENT_CODES",
    "FORGE_LICENSING_CODES",
    "IMPERSONATION_CODES",
    "LINKING_CODES",
    "OAUTH_ERROR_CODES",
    "REFUSAL_CODES",
    "REKEY_CODES",
    "Code",
    "api_code_for_status",
]

#: Every registered code.
CODES: Final[dict[str, Code]] = {
    **REFUSALS,
    **SECRETS,
    **CLIENT,
    **API,
    **IMPERSONATION,
    **LINKING,
    **ADOPTION,
    **FORGE_ADOPTION,
    **FORGE_EVENTS,
    **FORGE_LICENSING,
}

#: Inbound refusals (:class:`~django_atlassian_connect.exceptions.ConnectAuthError`):
#: the codes of 401/413/503 answers and ``connect_doctor``'s error-code table.
REFUSAL_CODES: Final = frozenset(REFUSALS)
#: Outbound calls refused before sending (``ConnectClientError``).
CLIENT_CODES: Final = frozenset(CLIENT) | FORGE_ADOPTION_CLIENT
#: The product's error answers (``ConnectAPIError``).
API_CODES: Final = frozenset(API)
#: Acting as a user (``ImpersonationError``).
IMPERSONATION_CODES: Final = frozenset(IMPERSONATION)
#: The 3LO link flow's own refusals (``threelo.views``: a callback answered 400).
LINKING_CODES: Final = frozenset(LINKING)
#: Forge licence and user-access refusals (403: IsForgeLicensed, forge_license_required).
FORGE_LICENSING_CODES: Final = frozenset(FORGE_LICENSING)
#: The token endpoint's own error strings we register as codes.
OAUTH_ERROR_CODES: Final = frozenset(
    {
        "invalid_request",
        "invalid_client",
        "invalid_grant",
        "unauthorized_client",
        "unsupported_grant_type",
        "invalid_scope",
        "access_denied",
        "server_error",
        "temporarily_unavailable",
    }
)

_API_CODE_FOR_STATUS: Final = {CODES[c].status: c for c in API if CODES[c].status}


def api_code_for_status(status: int) -> str:
    """The ``api_*`` code of a product error status (``api_error`` for the rest)."""
    return _API_CODE_FOR_STATUS.get(status, "api_error")
