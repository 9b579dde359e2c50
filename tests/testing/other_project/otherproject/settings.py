"""A small Django project that uses django-atlassian-connect for Connect and Forge.

Not the example project: its own app key, URLconf and views. SQLite in a
temporary file unless ``OTHER_PROJECT_DB`` names one.
"""

import os
import tempfile

SECRET_KEY = "other-project-tests-only"
DEBUG = False
USE_TZ = True
ALLOWED_HOSTS = ["testserver", "localhost"]
ROOT_URLCONF = "otherproject.urls"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "rest_framework",
    "django_atlassian_connect",
]
MIDDLEWARE = ["django.middleware.common.CommonMiddleware"]
DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": os.environ.get("OTHER_PROJECT_DB")
        or os.path.join(tempfile.gettempdir(), f"other-project-{os.getpid()}.sqlite3"),
    }
}
CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
REST_FRAMEWORK = {"UNAUTHENTICATED_USER": None}

ATLASSIAN_CONNECT = {
    "APP_KEY": "org.example.other-project",
    "BASE_URL": "https://other.example.org",
    "APP_NAME": "Other project",
    "SCOPES": ["READ"],
    "ENCRYPTION_KEYS": ["other-project-encryption-passphrase"],
}
