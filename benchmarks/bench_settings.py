"""The example project as it would run in production, plus the unauthenticated twins.

Everything of ``example_project.settings`` (middleware, apps, templates, the
database and cache from the environment) with what a production deployment
changes, and nothing that would favour one endpoint over its twin (see
``docs/performance.rst``, "Production settings"):

- ``DEBUG = False`` (no debug templates, no query log);
- logging: no handler on the request path (a production app logs through its
  platform; warnings still reach the root logger's default: stderr);
- DRF renders and parses JSON only (the browsable API is a development aid:
  with it, content negotiation weighs every answer against an HTML renderer;
  the form and multipart parsers are built for every request, used by none
  of these views).
"""

from example_project.settings import *  # noqa: F403

ROOT_URLCONF = "benchmarks.bench_urls"
DEBUG = False
LOGGING = {"version": 1, "disable_existing_loggers": True}
REST_FRAMEWORK = {
    **REST_FRAMEWORK,  # noqa: F405
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["rest_framework.parsers.JSONParser"],
}
