"""Settings: one ``ATLASSIAN_CONNECT`` dict, read lazily.

``connect_settings.LEEWAY`` looks the value up in ``settings.ATLASSIAN_CONNECT``
and falls back to :data:`DEFAULTS`. Values are cached on first use and the
cache is dropped whenever the setting changes (``override_settings`` in tests),
so nothing is copied at import time.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.core.signals import setting_changed

SETTING_NAME = "ATLASSIAN_CONNECT"
TENANT_MODEL_SETTING = "ATLASSIAN_CONNECT_TENANT_MODEL"
DEFAULT_TENANT_MODEL = "django_atlassian_connect.Tenant"

DEFAULTS: dict[str, Any] = {
    # Identity of the app (required).
    "APP_KEY": None,
    "BASE_URL": None,
    # Descriptor.
    "APP_NAME": None,
    "APP_DESCRIPTION": "",
    "VENDOR": None,
    "SCOPES": ["READ"],
    "DESCRIPTOR": None,
    "DESCRIPTOR_FILE": None,
    # Other URLs under which the product may address us (install token ``aud``).
    "EXTRA_BASE_URLS": [],
    # Atlassian endpoints; tests point these at 127.0.0.1.
    "INSTALL_KEYS_URL": "https://connect-install-keys.atlassian.com",
    "INSTALL_KEYS_STAGING_URL": (
        "https://cs-migrations--cdn.us-west-1.staging.public.atl-paas.net"
    ),
    "AUTHORIZATION_SERVER_URL": ("https://oauth-2-authorization-server.services.atlassian.com"),
    "AUTHORIZATION_SERVER_STAGING_URL": (
        "https://oauth-2-authorization-server.stg.services.atlassian.com"
    ),
    # Host patterns an install's baseUrl must match.
    "ALLOWED_PRODUCT_HOSTS": ["*.atlassian.net", "*.jira.com", "*.jira-dev.com"],
    # Hosts whose installs use the staging key CDN and authorization server.
    "STAGING_PRODUCT_HOSTS": ["*.jira-dev.com"],
    # Token checks.
    "LEEWAY": 30,
    "SECRET_GRACE_PERIOD": 900,
    "MAX_TOKEN_LENGTH": 16384,
    "MAX_LIFECYCLE_BODY": 65536,
    # Refuse tokens of tenants that the product disabled.
    "REJECT_DISABLED_TENANTS": True,
    # Include a one-line hint in 401 bodies and WWW-Authenticate (logs always have it).
    "EXPOSE_HINTS": True,
    # Encryption at rest: Fernet keys or passphrases; the first one encrypts.
    # None derives one key from SECRET_KEY (and SECRET_KEY_FALLBACKS to decrypt).
    "ENCRYPTION_KEYS": None,
    # Warm path: tenants and secret ciphertext in this cache (None disables).
    # Use a cache shared by all processes (Redis, Memcached) in production.
    "TENANT_CACHE_ALIAS": "default",
    "TENANT_CACHE_TIMEOUT": 300,
    # Seconds a process trusts its snapshot of a tenant before one cheap check
    # (its updated_at) against the database; also the least time between two
    # such checks that refused tokens may trigger. Bounds how long another
    # process's change takes to reach any process, with a shared cache too (whose
    # version key is then read once per interval instead of on every request).
    "TENANT_CACHE_REVALIDATE": 1.0,
    # Context tokens whose signature this process checked, kept until they
    # expire (a front end sends one token many times); 0 turns this off.
    "VERIFIED_TOKEN_CACHE_SIZE": 1024,
    # Install public keys.
    "KEY_CACHE_ALIAS": "default",
    "KEY_CACHE_TIMEOUT": 24 * 3600,
    "KEY_FETCH_TIMEOUT": 5.0,
    # Outbound HTTP.
    "HTTP_TIMEOUT": 10.0,
    "HTTP_RETRIES": 3,
    # Keep-alive connections kept per host (shared by every session of a process), and
    # how many hosts keep pools (least recently used dropped).
    "HTTP_POOL_MAXSIZE": 10,
    "HTTP_POOL_HOSTS": 100,
    # Longest Retry-After (s) we wait for; a longer one fails the call instead.
    "MAX_RETRY_AFTER": 30,
    # Where the product's rate limits are kept per tenant (last quota seen, backoff
    # after a 429), shared by all processes; None: the TENANT_CACHE_ALIAS cache.
    "RATE_LIMIT_CACHE_ALIAS": None,
    # Longest backoff (s) one 429 may impose on a tenant's outbound calls; a longer
    # Retry-After or X-RateLimit-Reset is clamped to it (and logged).
    "RATE_LIMIT_MAX_BACKOFF": 3600,
    # Least seconds between two writes of a tenant's quota (one process); a 429, NearLimit
    # changing, the quota running out or a new limit/reason is written at once. 0: every answer.
    "RATE_LIMIT_STATE_INTERVAL": 5.0,
    "APP_TOKEN_LIFETIME": 180,
    # Impersonation tokens.
    "ACCESS_TOKEN_MARGIN": 60,
    "ACCESS_TOKEN_REFRESH_WINDOW": 900,
    # Forge Remote (Connect-on-Forge). Off until FORGE_APP_ID is set.
    # The manifest's app.id: "ari:cloud:ecosystem::app/<uuid>" or the bare uuid;
    # a list when several Forge apps call this backend.
    "FORGE_APP_ID": None,
    # Where Forge's signing keys are: from configuration only, never from a token.
    "FORGE_JWKS_URL": "https://forge.cdn.prod.atlassian-dev.net/.well-known/jwks.json",
    # Hosts allowed in a token's app.apiBaseUrl (http only for a loopback host listed).
    "FORGE_API_HOSTS": ["api.atlassian.com"],
    # Least seconds between two JWKS refetches an unknown kid may trigger (all processes).
    "FORGE_JWKS_MIN_REFRESH": 60,
    "FORGE_JWKS_CACHE_ALIAS": "default",
    # Longest a request waits for a JWKS fetch, in all (at most 5 s).
    "FORGE_JWKS_FETCH_TIMEOUT": 5.0,
    # Clock skew allowed on a FIT's exp/nbf/iat; at most 30 (the token lives 25 s).
    "FORGE_LEEWAY": 30,
    # Longest exp - iat (s) of a FIT; Forge documents 25. Raise it only if Forge does.
    "FORGE_MAX_FIT_LIFETIME": 25,
    # Refuse a FIT whose jti was seen before (off: Forge may resend one, unverified).
    "FORGE_REJECT_REPLAYED_JTI": False,
    # Isolated Cloud: a JWKS URL template with "{IC_LABEL}" (or "{icLabel}"); None
    # refuses icLabel tokens. Only the labels listed in FORGE_IC_LABELS are fetched
    # (a token names its label before its signature is checked); empty: none is.
    "FORGE_IC_JWKS_URL_TEMPLATE": None,
    "FORGE_IC_LABELS": [],
    # Seconds of life a stored app system token must have left to be used.
    "FORGE_TOKEN_MARGIN": 60,
    # The Forge manifest (manage.py forge_manifest): the product whose Connect modules
    # the descriptor holds ("jira" or "confluence"; None: --product must say), the
    # Node runtime name, the remotes entry key, and what the remote's storage declares.
    "FORGE_PRODUCT": None,
    "FORGE_RUNTIME": "nodejs22.x",
    "FORGE_REMOTE_KEY": "connect",
    "FORGE_STORAGE_IN_SCOPE_EUD": True,
    # Region -> baseUrl of this backend for data residency (empty: BASE_URL everywhere).
    "FORGE_REGIONS": {},
    # The app asks Forge for user tokens (x-forge-oauth-user; read:app-user-token) and,
    # with FORGE_OFFLINE_IMPERSONATION, for users not in the request (as_user() offline;
    # the manifest then writes scopes in map form with allowImpersonation: true).
    "FORGE_USER_TOKENS": False,
    "FORGE_OFFLINE_IMPERSONATION": False,
    # The contextIds form as_user() sends first: "site" (ari:cloud:<product>::site/<cloudId>)
    # or "workspace" (ari:cloud:<product>:<cloudId>:workspace/<cloudId>).
    "FORGE_CONTEXT_ARI_FORM": "site",
    # What an absent licence on a FIT means, per environmentType ("licensed"/"unlicensed"):
    # Forge sends app.license only to paid apps in PRODUCTION, never to free or unlisted
    # apps or to DEVELOPMENT/STAGING; an environment not named here counts as unlicensed.
    "FORGE_ABSENT_LICENSE": {
        "PRODUCTION": "unlicensed",
        "STAGING": "licensed",
        "DEVELOPMENT": "licensed",
    },
    # Apply context.userAccess.hasAccess (user-based billing) in IsForgeLicensed.
    "FORGE_USER_BASED_BILLING": False,
    # Hours without any invocation after which an installation is reported silent.
    "FORGE_SILENT_AFTER_HOURS": 48,
    # Data residency (realm migration) hooks: the dotted path of the project's
    # forge.realm.RealmMigrationHandler subclass; None answers every hook 501.
    "FORGE_REALM_MIGRATION_HANDLER": None,
    # Atlassian Government Cloud: install keys by the install baseUrl's host.
    # Patterns (fnmatch) -> the install keys URL for that cloud; default: the key
    # server and site hosts Atlassian's "Adopt Forge from Connect on AGC" names.
    "INSTALL_KEYS_URLS_BY_HOST": {
        "*.atlassian-us-gov-mod.net": "https://connect-install-keys.atlassian-us-gov-mod.com",
        "*.atlassian-us-gov-mod.com": "https://connect-install-keys.atlassian-us-gov-mod.com",
    },
    # Calling Atlassian Cloud without Connect (OAuth 2.0 3LO, API tokens, service accounts):
    # Atlassian's authorization server (authorize, /oauth/token) and its API gateway
    # ({API_URL}/ex/{product}/{cloudId}); tests point these at 127.0.0.1.
    "OAUTH_AUTH_URL": "https://auth.atlassian.com",
    "API_URL": "https://api.atlassian.com",
    # OAuth 2.0 (3LO) account linking, off until OAUTH_CLIENT_ID is set: the client id
    # and secret of the app in the developer console (set both).
    "OAUTH_CLIENT_ID": None,
    "OAUTH_CLIENT_SECRET": None,
    # Scopes asked for at consent; offline_access (a refresh token) is added when missing.
    "OAUTH_SCOPES": ["read:me", "read:jira-user", "read:jira-work"],
    # Seconds before the access token's expiry at which it is refreshed (before use).
    "OAUTH_REFRESH_MARGIN": 300,
    # Where the callback sends the user after linking (a URL or a URL name).
    "OAUTH_REDIRECT_URL": "/",
    # The redirect_uri registered in the developer console; None: BASE_URL + "/oauth/callback".
    "OAUTH_CALLBACK_URL": None,
    # Housekeeping refreshes a grant whose refresh token is this old (s), far from
    # Atlassian's 90-day inactivity limit.
    "OAUTH_KEEPALIVE_AFTER": 30 * 24 * 3600,
    # Housekeeping.
    "SECRET_RETENTION": 30 * 24 * 3600,
    # The per-tenant jobs (verify_installations, refresh_access_tokens) fan out as
    # Celery tasks of this many items each; a claim on one item (Django's cache add(),
    # in HOUSEKEEPING_LOCK_ALIAS: share it between workers) lasts at most this long (s).
    "HOUSEKEEPING_CHUNK_SIZE": 100,
    "HOUSEKEEPING_LOCK_TTL": 900,
    "HOUSEKEEPING_LOCK_ALIAS": "default",
    "VERIFY_ENDPOINTS": {
        "jira": "/rest/api/3/myself",
        "confluence": "/rest/api/user/current",
    },
}

REQUIRED = {
    "APP_KEY": 'your app key, as in the descriptor: "APP_KEY": "com.example.myapp"',
    "BASE_URL": 'the public URL of your app: "BASE_URL": "https://myapp.example.com"',
}


class ConnectSettings:
    """Attribute access to ``settings.ATLASSIAN_CONNECT`` with defaults."""

    def __init__(self, defaults: dict[str, Any] | None = None) -> None:
        self.defaults = defaults if defaults is not None else DEFAULTS
        self._cached: set[str] = set()

    @property
    def user_settings(self) -> dict[str, Any]:
        value = getattr(settings, SETTING_NAME, None) or {}
        if not isinstance(value, dict):
            raise ImproperlyConfigured(
                f"settings.{SETTING_NAME} must be a dict, not {type(value).__name__}."
            )
        return value

    def __getattr__(self, name: str) -> Any:
        if name not in self.defaults:
            raise AttributeError(f"Invalid {SETTING_NAME} setting: {name!r}")
        value = self.user_settings.get(name, self.defaults[name])
        if name in REQUIRED and not value:
            raise ImproperlyConfigured(
                f"settings.{SETTING_NAME}[{name!r}] is required: set it to {REQUIRED[name]}."
            )
        if name == "BASE_URL":
            value = value.rstrip("/")
        self._cached.add(name)
        setattr(self, name, value)
        return value

    def get(self, name: str) -> Any:
        """The value, or ``None`` for a missing required setting (no error)."""
        try:
            return getattr(self, name)
        except ImproperlyConfigured:
            return None

    def reload(self) -> None:
        for name in self._cached:
            delattr(self, name)
        self._cached.clear()


connect_settings = ConnectSettings()


def get_tenant_model_name() -> str:
    """The ``app_label.ModelName`` of the tenant model in use.

    ``settings.ATLASSIAN_CONNECT_TENANT_MODEL`` if the project sets it, else
    the default. Read only, never written: a project that does not set it has
    no such attribute on ``settings``. (Django's migration autodetector reads
    a swappable setting with a bare ``getattr`` when it writes a migration
    with a foreign key to the swappable model: projects whose own models
    point at the tenant model set it, even to the default.)
    """
    return getattr(settings, TENANT_MODEL_SETTING, DEFAULT_TENANT_MODEL)


def _reload(*, setting: str, **kwargs: Any) -> None:
    if setting == SETTING_NAME:
        connect_settings.reload()


setting_changed.connect(_reload)
