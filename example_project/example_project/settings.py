"""Settings of the example Connect app, read from the environment.

Every variable has a working default for local use:

CONNECT_BASE_URL                  our public base URL (http://127.0.0.1:8000)
CONNECT_APP_KEY                   the app key (com.example.django-connect-demo)
CONNECT_INSTALL_KEYS_URL          Atlassian's install-key CDN
CONNECT_AUTHORIZATION_SERVER_URL  Atlassian's OAuth 2.0 authorization server
CONNECT_ALLOWED_PRODUCT_HOSTS     comma-separated site host patterns
DATABASE_URL                      dj-database-url form; default a SQLite file
CELERY_BROKER_URL                 default none: tasks run eagerly
CONNECT_CACHE_URL                 redis:// URL of a shared cache (default: per-process memory)
DJANGO_DEBUG                      0 / 1
DJANGO_SECRET_KEY                 a development key by default
CONNECT_SECRET_GRACE_PERIOD       seconds a retired shared secret still verifies (900)
CONNECT_KEY_FETCH_TIMEOUT         seconds to wait for Atlassian's install-key CDN (5)
CONNECT_AP_JS_URL                 the AP bridge pages load (Atlassian's all.js; the demo sets the
                                  simulated site's)
DJANGO_LOG_LEVEL                  INFO (default) or DEBUG: DEBUG logs every logger, SQL included
                                  when DJANGO_DEBUG=1; tokens are redacted from every line
DJANGO_SECURE_SSL_REDIRECT        0 (default) / 1: redirect http to https, except the Forge paths

Forge Remote (Connect-on-Forge), off unless CONNECT_FORGE_APP_ID is set; without it
the /forge/... URLs do not exist (404):

CONNECT_FORGE_APP_ID              the manifest's app.id (ari:cloud:ecosystem::app/<uuid> or the uuid)
CONNECT_FORGE_JWKS_URL            Forge's signing keys (default the production JWKS)
CONNECT_FORGE_API_HOSTS           comma-separated hosts allowed in app.apiBaseUrl
                                  (api.atlassian.com); a loopback host listed may use http
CONNECT_FORGE_JWKS_MIN_REFRESH    least seconds between JWKS refetches an unknown kid triggers (60)
CONNECT_FORGE_PRODUCT             jira / confluence: the product of the Connect modules in the
                                  manifest manage.py forge_manifest writes (default: --product)

OAuth 2.0 (3LO) account linking, off unless CONNECT_OAUTH_CLIENT_ID is set; without it
the /oauth/... URLs do not exist (404). Django's login is at /accounts/login/:

CONNECT_OAUTH_CLIENT_ID           the OAuth 2.0 integration's client id (developer console)
CONNECT_OAUTH_CLIENT_SECRET       its secret
CONNECT_OAUTH_AUTH_URL            Atlassian's authorization server (https://auth.atlassian.com)
CONNECT_API_URL                   Atlassian's API gateway (https://api.atlassian.com)
"""

import os
from pathlib import Path
from urllib.parse import urlsplit

import dj_database_url
import django

BASE_DIR = Path(__file__).resolve().parent.parent


def env_list(name: str, default: str) -> list[str]:
    return [item.strip() for item in os.environ.get(name, default).split(",") if item.strip()]


DEBUG = os.environ.get("DJANGO_DEBUG", "1") == "1"
SECRET_KEY = os.environ.get(
    "DJANGO_SECRET_KEY", "example-project-development-key-change-me-in-production"
)

CONNECT_BASE_URL = os.environ.get("CONNECT_BASE_URL", "http://127.0.0.1:8000").rstrip("/")
_base = urlsplit(CONNECT_BASE_URL)

ALLOWED_HOSTS = sorted(
    {_base.hostname or "127.0.0.1", "127.0.0.1", "localhost", *env_list("DJANGO_ALLOWED_HOSTS", "")}
)
CSRF_TRUSTED_ORIGINS = [f"{_base.scheme}://{_base.netloc}"]
# Behind a TLS-terminating tunnel or proxy the request arrives as http.
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_SSL_REDIRECT = os.environ.get("DJANGO_SECURE_SSL_REDIRECT", "0") == "1"
# Forge follows no redirects (a 3xx is a failed invocation): never redirect its paths.
# (APPEND_SLASH cannot: the Forge URLs match exactly as the manifest writes them.)
SECURE_REDIRECT_EXEMPT = [r"^forge/"]

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "django_atlassian_connect",
    "connect_demo",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # Last, so it sees a view's exception first: the database or Redis down is
    # 503 with Retry-After (which the product and Forge retry), not 500.
    "django_atlassian_connect.middleware.ServiceUnavailableMiddleware",
]

ROOT_URLCONF = "example_project.urls"
WSGI_APPLICATION = "example_project.wsgi.application"
ASGI_APPLICATION = "example_project.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "django_atlassian_connect.context_processors.ap_js_url",
            ]
        },
    }
]

DATABASES = {
    "default": dj_database_url.parse(
        os.environ.get("DATABASE_URL", f"sqlite:///{BASE_DIR / 'db.sqlite3'}"), conn_max_age=0
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # Wait for a concurrent writer instead of failing with "database is locked".
    DATABASES["default"].setdefault("OPTIONS", {})["timeout"] = 20
    if django.VERSION >= (5, 1):
        DATABASES["default"]["OPTIONS"]["transaction_mode"] = "IMMEDIATE"

# A cache shared by all processes keeps the warm path exact across them.
CACHES = {
    "default": (
        {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": os.environ["CONNECT_CACHE_URL"],
        }
        if os.environ.get("CONNECT_CACHE_URL")
        else {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}
    )
}

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True
STATIC_URL = "static/"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

REST_FRAMEWORK = {"UNAUTHENTICATED_USER": None}

# Django's own login (/accounts/login/): the users who link their Atlassian account.
LOGIN_URL = "/accounts/login/"
LOGIN_REDIRECT_URL = "/oauth/resources" if os.environ.get("CONNECT_OAUTH_CLIENT_ID") else "/admin/"

# The AP bridge our pages load ({{ AP_JS_URL }}); the simulated site serves its own.
AP_JS_URL = os.environ.get("CONNECT_AP_JS_URL", "https://connect-cdn.atl-paas.net/all.js")

# The tenant model (the package default). Set here because connect_demo's
# foreign key refers to it through settings, as your own models should.
ATLASSIAN_CONNECT_TENANT_MODEL = "django_atlassian_connect.Tenant"

ATLASSIAN_CONNECT = {
    "APP_KEY": os.environ.get("CONNECT_APP_KEY", "com.example.django-connect-demo"),
    "BASE_URL": CONNECT_BASE_URL,
    "APP_NAME": "Django Connect demo",
    "APP_DESCRIPTION": "The example app of django-atlassian-connect.",
    "VENDOR": {"name": "django-atlassian-connect", "url": "https://github.com/"},
    "SCOPES": ["READ", "ACT_AS_USER"],
    "INSTALL_KEYS_URL": os.environ.get(
        "CONNECT_INSTALL_KEYS_URL", "https://connect-install-keys.atlassian.com"
    ),
    "AUTHORIZATION_SERVER_URL": os.environ.get(
        "CONNECT_AUTHORIZATION_SERVER_URL",
        "https://oauth-2-authorization-server.services.atlassian.com",
    ),
    "ALLOWED_PRODUCT_HOSTS": env_list(
        "CONNECT_ALLOWED_PRODUCT_HOSTS", "*.atlassian.net,*.jira.com,*.jira-dev.com"
    ),
    "SECRET_GRACE_PERIOD": int(os.environ.get("CONNECT_SECRET_GRACE_PERIOD", "900")),
    "KEY_FETCH_TIMEOUT": float(os.environ.get("CONNECT_KEY_FETCH_TIMEOUT", "5")),
    # Forge Remote: None keeps it off (no /forge/... URLs, see urls.py).
    "FORGE_APP_ID": os.environ.get("CONNECT_FORGE_APP_ID") or None,
    "FORGE_JWKS_URL": os.environ.get(
        "CONNECT_FORGE_JWKS_URL", "https://forge.cdn.prod.atlassian-dev.net/.well-known/jwks.json"
    ),
    "FORGE_API_HOSTS": env_list("CONNECT_FORGE_API_HOSTS", "api.atlassian.com"),
    "FORGE_JWKS_MIN_REFRESH": int(os.environ.get("CONNECT_FORGE_JWKS_MIN_REFRESH", "60")),
    # manage.py forge_manifest: the product of connectModules (None: pass --product).
    "FORGE_PRODUCT": os.environ.get("CONNECT_FORGE_PRODUCT") or None,
    # OAuth 2.0 (3LO): None keeps it off (no /oauth/... URLs, see urls.py). The
    # callback is CONNECT_BASE_URL + "/oauth/callback" (register it in the console).
    "OAUTH_CLIENT_ID": os.environ.get("CONNECT_OAUTH_CLIENT_ID") or None,
    "OAUTH_CLIENT_SECRET": os.environ.get("CONNECT_OAUTH_CLIENT_SECRET") or None,
    "OAUTH_AUTH_URL": os.environ.get("CONNECT_OAUTH_AUTH_URL", "https://auth.atlassian.com"),
    "API_URL": os.environ.get("CONNECT_API_URL", "https://api.atlassian.com"),
    "OAUTH_SCOPES": ["read:me", "read:jira-user", "read:jira-work"],
    "OAUTH_REDIRECT_URL": "/oauth/resources",
    "DESCRIPTOR": {
        "modules": {
            "generalPages": [
                {"key": "hello", "name": {"value": "Hello from Django"}, "url": "/hello"},
                {"key": "product", "name": {"value": "Calls to the product"}, "url": "/product"},
            ],
            "webhooks": [{"event": "jira:issue_created", "url": "/webhooks/issue-created"}],
        }
    },
}

CELERY_BROKER_URL = os.environ.get("CELERY_BROKER_URL") or None
CELERY_RESULT_BACKEND = os.environ.get("CELERY_RESULT_BACKEND") or CELERY_BROKER_URL
CELERY_TASK_ALWAYS_EAGER = CELERY_BROKER_URL is None
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True

LOG_LEVEL = os.environ.get("DJANGO_LOG_LEVEL", "INFO").upper()
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    # The product puts the iframe token in the query string: the access log
    # (django.server) would write it. The filter redacts tokens on every line.
    "filters": {"redact_tokens": {"()": "django_atlassian_connect.redaction.RedactTokensFilter"}},
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": "plain",
            "filters": ["redact_tokens"],
        }
    },
    "loggers": {
        "django_atlassian_connect": {
            "handlers": ["console"],
            "level": LOG_LEVEL,
            "propagate": False,
        },
        "connect_demo": {"handlers": ["console"], "level": LOG_LEVEL, "propagate": False},
        "django.server": {"handlers": ["console"], "level": "INFO", "propagate": False},
    },
}
if LOG_LEVEL == "DEBUG":
    # Everything else too: urllib3, celery, ... and every SQL query with its
    # parameters (django.db.backends logs them when DJANGO_DEBUG=1).
    LOGGING["root"] = {"handlers": ["console"], "level": "DEBUG"}
    LOGGING["loggers"]["django.db.backends"] = {
        "handlers": ["console"],
        "level": "DEBUG",
        "propagate": False,
    }
