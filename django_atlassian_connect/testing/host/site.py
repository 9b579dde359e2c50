""":class:`ConnectHost`, the simulated site, composed of one part per concern."""

from __future__ import annotations

from http.server import BaseHTTPRequestHandler

from .auth_server import AuthorizationServer
from .handler import handler_for
from .lifecycle import LifecycleDriver
from .page import BrowserPage
from .rest import ProductRest
from .webhooks import WebhookSender


class ConnectHost(LifecycleDriver, WebhookSender, BrowserPage, AuthorizationServer, ProductRest):
    """A simulated Jira/Confluence Cloud site on 127.0.0.1.

    Start it (``with ConnectHost() as host`` or ``host.start()``), point the
    app's ``INSTALL_KEYS_URL`` at ``host.keys_url`` and
    ``AUTHORIZATION_SERVER_URL`` at ``host.url``, allow ``127.0.0.1`` in
    ``ALLOWED_PRODUCT_HOSTS``, then ``host.install(descriptor_url)``.

    Each base is one part of the site, all sharing the state of
    ``state.SiteState``: ``LifecycleDriver`` (descriptor, install,
    uninstall, enable, disable), ``WebhookSender``, ``BrowserPage`` (the page
    a person opens, over ``APBridge``: the AP bridge's scripts, context
    tokens and ``AP.request``), ``AuthorizationServer`` (the OAuth 2.0 token
    endpoint), ``ProductRest`` (the REST API and the checks on the app's
    credentials), and, under the first three, ``TokenMinter`` (page, context
    and webhook tokens).

    ``context_token_lifetime`` (seconds, default 900) is how long a context
    token lives; make it short to see a page ask ``AP.context.getToken()``
    for a fresh one. ``quota=QuotaPolicy(limit=10, window=3600)`` (or
    ``host.enforce_quota(...)``) rate-limits the app's REST calls as Jira
    Cloud does: ``X-RateLimit-*`` headers on every answer, 429 once spent.
    ``install_key`` (an :class:`~django_atlassian_connect.testing.InstallKeyPair`)
    signs its installs (default: a key of its own); sites may share one, as
    Atlassian's sites do, and serve it from one ``InstallKeyServer``.
    """

    def handler_class(self) -> type[BaseHTTPRequestHandler]:
        return handler_for(self)
