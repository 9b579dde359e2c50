"""A simulated Atlassian site (Jira or Confluence Cloud) for testing Connect apps.

:class:`ConnectHost` behaves like the product toward an app: it fetches the
app's descriptor, installs it with a signed install, rotates the shared
secret by reinstalling, enables/disables/uninstalls, mints iframe and context
tokens, sends webhooks, and serves a small REST API and the OAuth 2.0
JWT-bearer token endpoint that verify every request strictly. Unlike the real
product, every refusal says exactly why.

One HTTP server on 127.0.0.1 serves it all:

- ``<url>/keys/<kid>``: the install-key CDN (``INSTALL_KEYS_URL = host.keys_url``)
- ``<url>/oauth2/token``: the authorization server (``AUTHORIZATION_SERVER_URL = host.url``)
- ``<base_url>/rest/...``: the product REST API (``base_url`` ends in ``/wiki``
  for Confluence)
- ``<url>/``: the site's page, product-like: the signed-in user, the app's
  general pages, one shown in an iframe as a user of the site would see it
- ``<url>/atlassian-connect/all.js``: the AP bridge the app's pages load
  (``AP_JS_URL = host.all_js_url``), talking to the page over ``postMessage``;
  ``/atlassian-connect/context-token`` and ``/atlassian-connect/request``
  answer the page's ``AP.context.getToken()`` and ``AP.request()``.

Run it by hand: ``python -m django_atlassian_connect.testing.host --help``.

The modules, one concern each (imports point down this list, never back):
``cli`` → ``site`` (:class:`ConnectHost`) → ``handler`` (HTTP dispatch, a
route table), ``lifecycle``, ``webhooks``, ``page`` (the browser page) →
``bridge`` (the AP bridge: ``static/all.js``, ``static/host.js``, tokens and
``AP.request`` for the page), ``auth_server`` → ``rest`` (route table) →
``tokens``, ``credentials`` → ``state`` (records, errors, shared state) →
``quota`` (the points quota, ``QuotaPolicy``).
"""

# Importable from here as before the split; ``X as X`` marks a re-export.
from .auth_server import GRANT_TYPE as GRANT_TYPE
from .cli import main as main
from .quota import QuotaPolicy
from .rest import SCOPE_FOR_METHOD as SCOPE_FOR_METHOD
from .site import ConnectHost
from .state import Account, HostError, Transport
from .state import IssuedToken as IssuedToken
from .state import Refusal as Refusal
from .state import SecretRecord as SecretRecord

__all__ = ["Account", "ConnectHost", "HostError", "QuotaPolicy", "Transport"]
