"""What is wrong with the Forge contract settings, for the system checks.

``setting_problems()`` returns ``(check id, message, hint)`` triples that
``checks.check_forge_contract_settings`` turns into ``Error`` objects. Kept
here, beside the code that reads the settings, so the rules and the checks
cannot drift apart:

- ``E020``: ``FORGE_IC_JWKS_URL_TEMPLATE`` has no ``{IC_LABEL}`` (or
  ``{icLabel}``): every Isolated Cloud label would fetch the same URL;
- ``E021``: ``FORGE_CONTEXT_ARI_FORM`` is not ``"site"`` or ``"workspace"``;
- ``E022``: ``FORGE_ABSENT_LICENSE`` is not a dict of ``"licensed"`` /
  ``"unlicensed"``.
"""

from __future__ import annotations

from django.core.exceptions import ImproperlyConfigured

from ..conf import SETTING_NAME, connect_settings
from .access import absent_license_table
from .context_ids import FORMS, configured_form
from .invocation import IC_LABEL_PLACEHOLDERS

__all__ = ["setting_problems"]

Problem = tuple[str, str, str]


def _ic_template() -> list[Problem]:
    template = connect_settings.FORGE_IC_JWKS_URL_TEMPLATE
    if not template:
        return []
    if isinstance(template, str) and any(p in template for p in IC_LABEL_PLACEHOLDERS):
        return []
    return [
        (
            "E020",
            f"{SETTING_NAME}['FORGE_IC_JWKS_URL_TEMPLATE'] {str(template)[:120]!r} has no "
            "'{IC_LABEL}' placeholder: every Isolated Cloud token, whatever its icLabel, would "
            "be checked against one key set.",
            "Use the template from Atlassian's Isolated Cloud onboarding, with '{IC_LABEL}' "
            "(or '{icLabel}') where the label goes, e.g. "
            '"https://forge.cdn.{IC_LABEL}.example/.well-known/jwks.json"; or unset it.',
        )
    ]


def _context_form() -> list[Problem]:
    try:
        configured_form()
    except ImproperlyConfigured as exc:
        return [
            (
                "E021",
                f"{exc} ForgeClient.as_user() cannot ask for offline user tokens.",
                f'Set {SETTING_NAME}["FORGE_CONTEXT_ARI_FORM"] to one of {", ".join(FORMS)} '
                '("site" unless Atlassian told you otherwise; the other form is tried too).',
            )
        ]
    return []


def _absent_license() -> list[Problem]:
    try:
        absent_license_table()
    except ImproperlyConfigured as exc:
        return [
            (
                "E022",
                f"{exc} IsForgeLicensed and forge_license_required cannot decide.",
                f'e.g. {SETTING_NAME}["FORGE_ABSENT_LICENSE"] = {{"PRODUCTION": "unlicensed", '
                '"STAGING": "licensed", "DEVELOPMENT": "licensed"} (Forge sends no licence to '
                "free apps and to DEVELOPMENT and STAGING environments).",
            )
        ]
    return []


def setting_problems() -> list[Problem]:
    """Every problem of the Forge contract settings, as ``(check id, message, hint)``."""
    return [*_ic_template(), *_context_form(), *_absent_license()]
