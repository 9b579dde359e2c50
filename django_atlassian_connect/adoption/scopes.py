"""Connect scopes -> Forge scopes, and the scope list the manifest declares.

A Connect app that adopts Forge keeps its Connect scopes as Forge scopes named
``<scope>:connect-<product>`` (``READ`` -> ``read:connect-jira``). Both tables are
exact: an unknown scope is an error, never dropped.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from .errors import AdoptionError

#: The Connect scopes both products know, and their Forge names (``{product}`` filled in).
_COMMON = {
    "READ": "read:connect-{product}",
    "WRITE": "write:connect-{product}",
    "DELETE": "delete:connect-{product}",
    "ADMIN": "admin:connect-{product}",
    "ACT_AS_USER": "act-as-user:connect-{product}",
    "ACCESS_EMAIL_ADDRESSES": "access-email-addresses:connect-{product}",
}

#: ``product -> Connect scope -> Forge scope``: Jira adds PROJECT_ADMIN, Confluence SPACE_ADMIN.
CONNECT_SCOPES: Mapping[str, Mapping[str, str]] = {
    "jira": {
        **{k: v.format(product="jira") for k, v in _COMMON.items()},
        "PROJECT_ADMIN": "project-admin:connect-jira",
    },
    "confluence": {
        **{k: v.format(product="confluence") for k, v in _COMMON.items()},
        "SPACE_ADMIN": "space-admin:connect-confluence",
    },
}

#: The scope Forge needs to send the app system token (x-forge-oauth-system).
SYSTEM_TOKEN_SCOPE = "read:app-system-token"
#: The scope Forge needs to send the user token (x-forge-oauth-user).
USER_TOKEN_SCOPE = "read:app-user-token"
#: Scopes of Forge itself: never marked for offline impersonation.
PLATFORM_SCOPES = frozenset({SYSTEM_TOKEN_SCOPE, USER_TOKEN_SCOPE})
#: An OAuth 2.0 (3LO) scope with no meaning in a Forge manifest.
_NOT_FORGE = frozenset({"offline_access"})


def forge_connect_scopes(product: str, connect_scopes: Iterable[str]) -> list[str]:
    """The Forge names of the descriptor's Connect scopes, in their order.

    ``forge_connect_scopes("jira", ["READ", "ACT_AS_USER"])`` is
    ``["read:connect-jira", "act-as-user:connect-jira"]``. A scope the product does
    not know raises ``adoption_scope_unknown`` naming it.
    """
    table = CONNECT_SCOPES[product]
    result: list[str] = []
    for scope in connect_scopes:
        name = str(scope).strip().upper().replace("-", "_")
        if name not in table:
            raise AdoptionError(
                "adoption_scope_unknown",
                f"The descriptor's Connect scope {scope!r} has no Forge equivalent for "
                f"{product} (known: {', '.join(table)}).",
                scope=str(scope),
                product=product,
            )
        if table[name] not in result:
            result.append(table[name])
    return result


def is_connect_scope(scope: str) -> bool:
    """``read:connect-jira``, ``space-admin:connect-confluence``, ...: a Connect scope in Forge."""
    return ":connect-" in scope


def oauth_scopes(scopes: Iterable[str]) -> list[str]:
    """The configured OAuth 2.0 scopes a manifest may declare (``offline_access`` skipped)."""
    return [s for s in (str(x).strip() for x in scopes) if s and s not in _NOT_FORGE]


def declare(scopes: Iterable[str], *, impersonation: bool) -> list[str] | dict[str, Any]:
    """``permissions.scopes``: a list, or with offline impersonation the map form.

    The map form marks every scope ``allowImpersonation: true`` except Forge's own
    token scopes, which get ``{}`` (Forge's permissions reference documents both).
    """
    unique = list(dict.fromkeys(scopes))
    if not impersonation:
        return unique
    return {s: ({} if s in PLATFORM_SCOPES else {"allowImpersonation": True}) for s in unique}


def declared_scopes(value: Any) -> list[str]:
    """The scope names of a manifest's ``permissions.scopes`` (list or map form)."""
    if isinstance(value, Mapping):
        return [str(k) for k in value]
    if isinstance(value, list):
        return [str(s) for s in value if isinstance(s, str)]
    return []
