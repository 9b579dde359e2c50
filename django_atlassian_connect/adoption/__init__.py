"""Adopting Forge from Connect: the Forge manifest of this app, its check and its status.

``manage.py forge_manifest`` is the way in; the pieces, one concern each:

- :mod:`.inputs`: the settings a manifest takes, read and checked;
- :mod:`.scopes`: Connect scopes -> ``*:connect-<product>`` Forge scopes;
- :mod:`.modules`: descriptor modules -> ``connectModules``;
- :mod:`.events`: Connect webhooks -> Forge product events and their scopes;
- :mod:`.routes`: the Forge views the URLconf serves;
- :mod:`.manifest`: the manifest as a mapping; :mod:`.yaml_output`: as a file;
- :mod:`.check` (``--check``) and :mod:`.status` (``--status``).

Errors are :class:`AdoptionError` with a registered code
(:mod:`django_atlassian_connect.codes.adoption`).
"""

from .check import Finding, check_manifest
from .errors import AdoptionError
from .manifest import Manifest, build_manifest
from .status import AdoptionStatus, adoption_status
from .yaml_output import load, render, write_atomically

__all__ = [
    "AdoptionError",
    "AdoptionStatus",
    "Finding",
    "Manifest",
    "adoption_status",
    "build_manifest",
    "check_manifest",
    "load",
    "render",
    "write_atomically",
]
