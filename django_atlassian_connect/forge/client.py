"""Calling Jira and Confluence from Forge invocations: through the API gateway.

::

    client = ForgeClient(request.forge_installation, invocation=request.forge)
    client.as_app().get("/rest/api/3/myself").json()          # the app's bot user
    client.as_user(account_id).get("/rest/api/3/myself")      # acting as a user
    client.as_app().get("/wiki/rest/api/user/current")        # Confluence: /wiki in the path

From a Celery job there is no invocation: ``ForgeClient(installation)`` uses
the stored app system token (:func:`~.installations.stored_system_token`);
``ForgeClient.for_tenant(tenant)`` is the client of a Connect tenant's
current active installation (the call that replaces ``ConnectClient(tenant)``).
An uninstalled installation is refused before anything is sent
(``forge_installation_uninstalled``).

Each returns a :class:`~.sessions.ForgeSession` (a ``requests.Session`` from
the one outbound factory in :mod:`django_atlassian_connect.http`: timeout,
versioned User-Agent, retries honouring ``Retry-After``). Relative URLs
resolve against the installation's ``apiBaseUrl``
(``https://api.atlassian.com/ex/jira/<cloudId>``); a full URL must be under
it. Anything else is refused with ``url_not_allowed`` before a byte is sent,
as is an ``apiBaseUrl`` whose host is not in ``FORGE_API_HOSTS``; a redirect
away from the ``apiBaseUrl`` is followed without the token.

Which token:

- as the app: the fresher of the invocation's ``x-forge-oauth-system`` and
  the stored one, if it has more than ``FORGE_TOKEN_MARGIN`` s left;
- as a user: the invocation's ``x-forge-oauth-user`` when the invocation's
  ``principal`` is that user, else an offline token (:mod:`.offline`).

No usable token: ``as_app()``/``as_user()`` raise ``forge_token_expired`` or
``forge_user_token_unavailable`` before returning a session, so no request is
made. The product's error answers raise
:class:`~django_atlassian_connect.http.ConnectAPIError` with an
``installation`` attribute and a Forge hint. Tokens never reach a log line,
an error message or a ``repr()``.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from ..conf import connect_settings
from ..exceptions import ConnectClientError
from . import ids, linking, offline
from .context import ForgeContext
from .installations import get_installation, stored_system_token, system_token_expiry
from .sessions import OFFLINE, ForgeSession, iso, timestamp

if TYPE_CHECKING:
    from ..models import AbstractTenant, ForgeInstallation

__all__ = ["ForgeClient", "ForgeSession"]

#: ``(token, expires_at, source)``
Choice = tuple[str, float, str]


class ForgeClient:
    """Outbound calls for one Forge installation (a ``ForgeInstallation`` row).

    ``invocation``: the verified :class:`ForgeContext` of the request being
    served, if any (it must be for the same installation); its tokens are
    used when they are the freshest.
    """

    def __init__(
        self, installation: ForgeInstallation, *, invocation: ForgeContext | None = None
    ) -> None:
        if invocation is not None and invocation.installation_id != installation.installation_id:
            raise ValueError(
                f"The invocation is for {invocation.installation_id}, not for "
                f"{installation.installation_id}."
            )
        self.installation = installation
        self.invocation = invocation

    @classmethod
    def for_tenant(cls, tenant: AbstractTenant) -> ForgeClient:
        """The client of the Connect tenant's current active Forge installation.

        ``ConnectClient(tenant)`` becomes ``ForgeClient.for_tenant(tenant)``.
        Raises ``forge_installation_missing`` when no installation is linked
        to the tenant, ``forge_installation_uninstalled`` when its current ones
        are all uninstalled (both 409 through ``responses.error_response``).
        """
        installation = linking.current_installation(tenant, active=True)
        if installation is not None:
            return cls(installation)
        gone = linking.current_installation(tenant)
        if gone is not None:
            raise _uninstalled(gone, tenant=tenant)
        raise ConnectClientError(
            "forge_installation_missing",
            f"Connect tenant {tenant.client_key} ({tenant.base_url}) has no Forge installation "
            "linked to it; nothing was sent.",
            tenant=tenant,
        )

    @property
    def installation_id(self) -> str:
        return str(self.installation.installation_id)

    @property
    def api_base_url(self) -> str:
        return str(self.installation.api_base_url or "").rstrip("/")

    def __repr__(self) -> str:
        return f"<ForgeClient {self.installation_id} {self.api_base_url!r}>"

    # -- sessions ------------------------------------------------------------------

    def as_app(self, *, raise_for_status: bool = True) -> ForgeSession:
        """A session calling as the app (its bot user), with the freshest system token.

        Raises ``forge_token_expired`` (nothing sent) when neither the
        invocation nor the store has one with ``FORGE_TOKEN_MARGIN`` s left,
        ``url_not_allowed`` when ``apiBaseUrl`` is not on ``FORGE_API_HOSTS``,
        ``forge_installation_uninstalled`` for an uninstalled installation.
        """
        self._refuse_uninstalled()
        return ForgeSession(
            self.installation,
            self.api_base_url,
            lambda method, url: self.system_token(method=method, url=url),
            raise_for_status=raise_for_status,
        )

    def as_user(self, account_id: str, *, raise_for_status: bool = True) -> ForgeSession:
        """A session acting as ``account_id``: the invocation's user token for its own
        principal, else an offline token (one ``offlineUserAuthToken`` mutation, cached).

        Raises ``forge_user_token_unavailable`` with the gateway's messages
        (``gateway_messages``), or ``forge_token_expired`` when the mutation
        has no fresh system token to use.
        """
        if not account_id:
            raise ValueError("as_user() needs an accountId.")
        self._refuse_uninstalled()
        return ForgeSession(
            self.installation,
            self.api_base_url,
            lambda method, url: self.user_token(account_id, method=method, url=url),
            account_id=account_id,
            raise_for_status=raise_for_status,
        )

    def _refuse_uninstalled(self, method: str | None = None, url: str | None = None) -> None:
        # On the row held, when a session is made and when it asks for a token; a
        # long-running job re-reads the row (for_tenant) rather than keep one for ever.
        if getattr(self.installation, "uninstalled_at", None) is not None:
            raise _uninstalled(self.installation, method=method, url=url)

    # -- tokens --------------------------------------------------------------------

    def system_token(self, *, method: str | None = None, url: str | None = None) -> Choice:
        """``(token, expires_at, source)``: the fresher of the invocation's and the stored one.

        ``method`` and ``url`` only name the call in the error.
        """
        self._refuse_uninstalled(method, url)
        now = time.time()
        margin = float(connect_settings.FORGE_TOKEN_MARGIN)
        from_invocation = self._invocation_token("system_token", now, margin)
        # Re-read the row only when nothing else would do (a job's long-held row).
        stored = self._stored_token(now, margin, reread=from_invocation is None)
        choices = [c for c in (from_invocation, stored) if c is not None]
        if not choices:
            raise self._token_expired(now, margin, method, url)
        return max(choices, key=lambda choice: choice[1])

    def _stored_token(self, now: float, margin: float, *, reread: bool) -> Choice | None:
        """``stored_system_token`` of the row held, then (``reread``) of a fresh read."""
        found = self._from_store(self.installation, now, margin)
        if found is not None or not reread:
            return found
        fresh = get_installation(self.installation_id)
        found = self._from_store(fresh, now, margin) if fresh is not None else None
        if found is not None and fresh is not None:
            self.installation = fresh
        return found

    @staticmethod
    def _from_store(row: ForgeInstallation, now: float, margin: float) -> Choice | None:
        try:
            token = stored_system_token(row)
        except ConnectClientError as exc:
            if exc.code != "forge_token_expired":
                raise
            return None
        expires_at = timestamp(getattr(row, "system_token_expires_at", None))
        return token, expires_at or now + margin + 1, "stored app system token"

    def _invocation_token(self, name: str, now: float, margin: float) -> Choice | None:
        invocation = self.invocation
        token = getattr(invocation, name, None) if invocation is not None else None
        if not token or invocation is None:
            return None
        # exp read without verifying (spec 4.2); none readable: 55 min after the call.
        issued = datetime.fromtimestamp(invocation.issued_at, tz=UTC)
        expires_at = system_token_expiry(token, now=issued).timestamp()
        if expires_at - now <= margin:
            return None
        source = "invocation's app system token" if name == "system_token" else "user token"
        return token, expires_at, source

    def _token_expired(
        self, now: float, margin: float, method: str | None, url: str | None
    ) -> ConnectClientError:
        stored_exp = timestamp(getattr(self.installation, "system_token_expires_at", None))
        if stored_exp is None:
            state = "none is stored"
        elif stored_exp <= now:
            state = f"the stored one expired at {iso(stored_exp)}"
        else:
            state = (
                f"the stored one expires at {iso(stored_exp)}, within FORGE_TOKEN_MARGIN "
                f"({margin:g} s)"
            )
        if self.invocation is not None:
            state += (
                ", and this invocation carried none (no x-forge-oauth-system header)"
                if not self.invocation.system_token
                else ", and this invocation's own runs out as well"
            )
        received = timestamp(getattr(self.installation, "system_token_received_at", None))
        return ConnectClientError(
            "forge_token_expired",
            f"No fresh Forge app system token for installation {self.installation_id} "
            f"({self.api_base_url}): {state}; nothing was sent.",
            hint=(
                "Tokens arrive only with Forge invocations (x-forge-oauth-system). Point an "
                "hourly scheduledTrigger (interval: hour) at an endpoint with "
                "auth.appSystemToken.enabled, and subscribe it to avi:forge:installed:app; a "
                "job should retry after the next trigger"
                + (f" (the last token arrived {iso(received)})" if received else "")
                + ". 'manage.py connect_doctor forge-token <FIT> --headers ...' tells why a "
                "call carried none."
            ),
            installation=self.installation,
            method=method,
            url=url,
        )

    def user_token(
        self, account_id: str, *, method: str | None = None, url: str | None = None
    ) -> Choice:
        """``(token, expires_at, source)`` acting as ``account_id``."""
        invocation = self.invocation
        if invocation is not None and invocation.principal == account_id:
            margin = float(connect_settings.FORGE_TOKEN_MARGIN)
            own = self._invocation_token("user_token", time.time(), margin)
            if own is not None:
                return own
        system_token, _, _ = self.system_token(method=method, url=url)
        found = offline.get_offline_token(
            self.installation,
            account_id,
            system_token=system_token,
            context_id=self.site_ari(),
        )
        return found.token, found.expires_at, OFFLINE

    def site_ari(self) -> str:
        """The installation's site ARI: the offline mutation's ``contextIds`` item."""
        if self.invocation is not None and self.invocation.site_ari:
            return self.invocation.site_ari
        product = getattr(self.installation, "product", None) or ids.product_of(self.api_base_url)
        cloud_id = getattr(self.installation, "cloud_id", None) or ids.cloud_id_of(
            self.api_base_url
        )
        if product not in ("jira", "confluence") or not cloud_id:
            raise ConnectClientError(
                "forge_user_token_unavailable",
                f"Installation {self.installation_id} has no Jira or Confluence site (apiBaseUrl "
                f"{self.api_base_url!r}) to ask an offline user token for; nothing was sent.",
                installation=self.installation,
            )
        return ids.site_ari(str(product), str(cloud_id))


def _uninstalled(installation: ForgeInstallation, **context: Any) -> ConnectClientError:
    when = installation.uninstalled_at
    return ConnectClientError(
        "forge_installation_uninstalled",
        f"Forge installation {installation.installation_id} was uninstalled"
        + (f" at {when:%Y-%m-%dT%H:%M:%SZ}" if when else "")
        + "; nothing was sent.",
        installation=installation,
        **context,
    )
