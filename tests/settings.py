"""Settings for the test suite: SQLite by default, DATABASE_URL for PostgreSQL."""

import os
import tempfile

import dj_database_url

SECRET_KEY = "tests-only-not-secret"
DEBUG = False
USE_TZ = True
TIME_ZONE = "UTC"
ALLOWED_HOSTS = ["*"]
ROOT_URLCONF = "tests.urls"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
STATIC_URL = "/static/"

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "rest_framework",
    "django_atlassian_connect",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ]
        },
    }
]

DATABASES = {
    "default": dj_database_url.parse(
        os.environ.get("DATABASE_URL", "sqlite:///:memory:"), conn_max_age=0
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # A file, not shared-cache memory: concurrent threads then wait for locks
    # (busy timeout) as they do in a real deployment instead of failing.
    DATABASES["default"]["TEST"] = {
        "NAME": os.path.join(tempfile.gettempdir(), f"dac-tests-{os.getpid()}.sqlite3")
    }
    DATABASES["default"]["OPTIONS"] = {"timeout": 20}
    if os.environ.get("DAC_SQLITE_IMMEDIATE"):  # benchmarks with several processes
        DATABASES["default"]["OPTIONS"]["transaction_mode"] = "IMMEDIATE"

CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

ATLASSIAN_CONNECT = {
    "APP_KEY": "com.example.tests",
    "BASE_URL": "https://app.example.com",
    "APP_NAME": "Tests",
    "SCOPES": ["READ", "WRITE", "ACT_AS_USER"],
    "INSTALL_KEYS_URL": "http://127.0.0.1:9/keys",
    "AUTHORIZATION_SERVER_URL": "http://127.0.0.1:9/oauth",
    "ALLOWED_PRODUCT_HOSTS": ["*.atlassian.net", "127.0.0.1"],
    "ENCRYPTION_KEYS": ["tests-encryption-passphrase"],
}

REST_FRAMEWORK = {"UNAUTHENTICATED_USER": None}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"null": {"class": "logging.NullHandler"}},
    "loggers": {"django_atlassian_connect": {"handlers": ["null"], "level": "DEBUG"}},
}
