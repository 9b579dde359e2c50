"""The ``offlineUserAuthToken`` mutation as the simulated gateway answers it (spec §4.5).

The real gateway takes ``contextIds`` in one ARI form per site, and answers
any other form, like an app whose manifest does not allow impersonation, with
HTTP 200 and "Could not load permissions for app user in the provided
contextIds of [...]". :class:`ImpersonationPolicy` says which forms the
simulated gateway takes (per installation if needed) and whether the app may
impersonate at all::

    forge.gateway.impersonation.accepted_forms = {"workspace"}   # the "real" answer
    forge.gateway.impersonation.allowed = False     # no allowImpersonation in the manifest

Forms: ``"site"`` is ``ari:cloud:<product>::site/<cloudId>``, ``"workspace"``
is ``ari:cloud:<product>:<cloudId>:workspace/<cloudId>``. Imports only the
route's :class:`~.routes.Call`, the token kinds and the wire types.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .records import Installation
from .routes import Call
from .tokens import OFFLINE, SYSTEM
from .wire import Reply

SITE, WORKSPACE = "site", "workspace"
FORMS = (SITE, WORKSPACE)


def context_ids(installation: Installation) -> dict[str, str]:
    """The installation's context ARI in each form: ``{"site": ..., "workspace": ...}``."""
    product, cloud = installation.product, installation.cloud_id
    return {
        SITE: f"ari:cloud:{product}::site/{cloud}",
        WORKSPACE: f"ari:cloud:{product}:{cloud}:workspace/{cloud}",
    }


@dataclass
class ImpersonationPolicy:
    """What the simulated gateway lets an app do with ``offlineUserAuthToken``."""

    #: the ``contextIds`` forms the gateway takes (any installation without its own entry)
    accepted_forms: set[str] = field(default_factory=lambda: {SITE})
    #: per installation ARI: the forms that installation's gateway takes
    per_installation: dict[str, set[str]] = field(default_factory=dict)
    #: ``False``: the manifest allows no impersonation; every form is refused
    allowed: bool = True

    def forms_for(self, installation: Installation) -> set[str]:
        if not self.allowed:
            return set()
        return self.per_installation.get(installation.id, self.accepted_forms)

    def accepts(self, installation: Installation, given: list[Any]) -> str | None:
        """The accepted context ARI among ``given``, if any."""
        accepted = {context_ids(installation)[form] for form in self.forms_for(installation)}
        return next((ari for ari in given if ari in accepted), None)


def _failure(message: str) -> Reply:
    # The mutation reports its errors inside an HTTP 200 (§4.5).
    result = {"success": False, "errors": [{"message": message}], "authToken": None}
    return Reply(200, {"data": {"offlineUserAuthToken": result}})


def requested_context_ids(body: Any) -> list[Any] | None:
    """The ``contextIds`` of a mutation body, as sent (``None``: not an offline mutation)."""
    query = body.get("query") if isinstance(body, dict) else None
    if not isinstance(query, str) or "offlineUserAuthToken" not in query:
        return None
    variables = body.get("variables")
    given = variables.get("input") if isinstance(variables, dict) else None
    ids = given.get("contextIds") if isinstance(given, dict) else None
    return ids if isinstance(ids, list) else []


def answer(call: Call, policy: ImpersonationPolicy) -> Reply | None:
    """The mutation's answer; ``None`` when the GraphQL call is not this mutation."""
    body = call.request.json()
    given = requested_context_ids(body)
    if given is None:
        return None
    assert call.token is not None and call.installation is not None
    if call.token.kind != SYSTEM:
        return _failure("offlineUserAuthToken needs the app system token")
    accepted = policy.accepts(call.installation, given)
    if accepted is None:
        # The real gateway's words (it says the same for a wrong form and a missing
        # allowImpersonation); its list has no quotes.
        return _failure(
            "Could not load permissions for app user in the provided contextIds of "
            f"[{', '.join(str(ari) for ari in given)}]"
        )
    user_id = body["variables"]["input"].get("userId")
    if user_id not in call.directory.accounts:
        return _failure(f"user {user_id!r} not found")
    record = call.tokens.issue(OFFLINE, call.installation.id, user_id, context_id=accepted)
    ttl = int(record.expires_at - call.tokens.clock())
    result = {"success": True, "errors": [], "authToken": {"token": record.token, "ttl": ttl}}
    return Reply(200, {"data": {"offlineUserAuthToken": result}})
