"""Sphinx configuration for the django-atlassian-connect documentation."""

import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.settings")

import django  # noqa: E402

django.setup()

from django_atlassian_connect import __version__  # noqa: E402

project = "django-atlassian-connect"
author = "django-atlassian-connect contributors"
copyright = "django-atlassian-connect contributors"
version = __version__
release = __version__

extensions = [
    "sphinx.ext.autodoc",
    # Markdown inside .rst pages (performance.md, written by `make bench`),
    # included with `:parser: myst_parser.sphinx_`; .md files are no pages of their own.
    "myst_parser",
]
# performance.md's "## ..." sections become sections of the page that includes it.
suppress_warnings = ["myst.header"]

root_doc = "index"
exclude_patterns = ["_build", "*.md"]
templates_path: list[str] = []

html_theme = "alabaster"
html_theme_options = {
    "description": "Atlassian Connect apps for Jira and Confluence Cloud, with Django.",
    "fixed_sidebar": True,
}
html_static_path: list[str] = []
html_title = f"django-atlassian-connect {release}"

autodoc_member_order = "bysource"
autodoc_typehints = "signature"
autodoc_default_options = {
    "show-inheritance": False,
}
autoclass_content = "class"

nitpicky = False
pygments_style = "sphinx"
