"""The project of docs/quickstart.rst, run by tests/e2e/test_browser.py.

Its ``views.py`` and ``templates/hello.html`` are not in the repository: the
test copies this project to a temporary directory and writes them from the
code blocks of docs/quickstart.rst captioned so, so that the code the docs
show is the code that runs. The settings are the quick start's, with the
URLs a test needs read from the environment (``tests/e2e/conftest.py`` sets them).
"""

import os
from pathlib import Path

import dj_database_url

BASE_DIR = Path(__file__).resolve().parent.parent

SECRET_KEY = "quickstart-tests-only"
DEBUG = False
ALLOWED_HOSTS = ["127.0.0.1", "localhost"]
USE_TZ = True
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
ROOT_URLCONF = "quickstart.urls"

INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "rest_framework",
    "django_atlassian_connect",
]

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django_atlassian_connect.context_processors.ap_js_url",
            ],
        },
    },
]

DATABASES = {"default": dj_database_url.parse(os.environ["DATABASE_URL"])}

AP_JS_URL = os.environ["CONNECT_AP_JS_URL"]

ATLASSIAN_CONNECT = {
    "APP_KEY": "com.example.myapp",
    "BASE_URL": os.environ["CONNECT_BASE_URL"],
    "APP_NAME": "My app",
    "SCOPES": ["READ"],
    "DESCRIPTOR": {
        "modules": {
            "generalPages": [
                {"key": "hello", "name": {"value": "Hello"}, "url": "/hello"},
            ],
        },
    },
    "INSTALL_KEYS_URL": os.environ["CONNECT_INSTALL_KEYS_URL"],
    "AUTHORIZATION_SERVER_URL": os.environ["CONNECT_AUTHORIZATION_SERVER_URL"],
    "ALLOWED_PRODUCT_HOSTS": ["127.0.0.1"],
}
