"""The codes of Connect-to-Forge adoption (``manage.py forge_manifest``).

Two kinds, none with an HTTP status of its own (``0``):

- ``adoption_*``: the manifest cannot be written from these settings and this
  descriptor; raised as :class:`~django_atlassian_connect.adoption.AdoptionError`,
  nothing is written;
- ``manifest_*``: what ``forge_manifest --check`` finds in a manifest.yml: the file
  cannot be read (``manifest_missing``, ``manifest_invalid``, ``manifest_not_mapping``)
  or says something the settings and the URLconf do not (one line per mismatch).
"""

from __future__ import annotations

from .base import Code

_GENERATE = "Fix the setting or the descriptor, then run manage.py forge_manifest again."

ADOPTION: dict[str, Code] = {
    # -- generating the manifest -----------------------------------------------------------
    "adoption_app_id_missing": Code(
        0,
        'ATLASSIAN_CONNECT["FORGE_APP_ID"] is not set: the manifest has no app.id.',
        'Register the Forge app (forge register) and set ATLASSIAN_CONNECT["FORGE_APP_ID"] '
        'to its id: "ari:cloud:ecosystem::app/<uuid>" or the bare uuid.',
    ),
    "adoption_app_id_invalid": Code(
        0,
        'ATLASSIAN_CONNECT["FORGE_APP_ID"] is not a Forge app id.',
        'Use the id forge register printed: "ari:cloud:ecosystem::app/<uuid>" or the uuid.',
    ),
    "adoption_product_missing": Code(
        0,
        "No product is named: the Connect modules cannot be named <product>:<moduleType>.",
        'Pass --product jira or --product confluence, or set ATLASSIAN_CONNECT["FORGE_PRODUCT"].',
    ),
    "adoption_product_invalid": Code(
        0,
        "The product is neither jira nor confluence (Connect-on-Forge supports only these).",
        'Pass --product jira or --product confluence, or fix ATLASSIAN_CONNECT["FORGE_PRODUCT"].',
    ),
    "adoption_module_unsupported": Code(
        0,
        "The descriptor has a module type Forge does not accept in connectModules.",
        "Remove the module from the descriptor or rebuild it as a Forge module; check that "
        "--product names the product the descriptor is for.",
    ),
    "adoption_module_key_invalid": Code(
        0,
        "A descriptor module key is not a valid, unique Forge module key.",
        "Give each module a key of letters, digits, - and _ only, unique in the descriptor "
        "and not one of the keys forge_manifest uses (forge-*).",
    ),
    "adoption_scope_unknown": Code(
        0,
        "The descriptor has a Connect scope that has no Forge equivalent for this product.",
        "Use the Connect scopes of the product (READ, WRITE, DELETE, ADMIN, ACT_AS_USER, "
        "ACCESS_EMAIL_ADDRESSES, PROJECT_ADMIN for Jira, SPACE_ADMIN for Confluence).",
    ),
    "adoption_descriptor_invalid": Code(
        0,
        "The descriptor's modules are not an object of module lists.",
        'Write "modules" as {"<moduleType>": [{...}, ...]} in the descriptor.',
    ),
    "adoption_setting_invalid": Code(
        0,
        "A Forge manifest setting has a value Forge does not accept.",
        _GENERATE,
    ),
    "adoption_variable_invalid": Code(
        0,
        "The --connect-key-variable name is not a manifest variable name.",
        "Use letters, digits and _ only, not starting with a digit (e.g. CONNECT_KEY).",
    ),
    "adoption_output_failed": Code(
        0,
        "The manifest could not be written; the target file is unchanged.",
        "Check that the directory exists and is writable.",
    ),
    # -- reading a manifest (--check, --status) --------------------------------------------
    "manifest_missing": Code(
        0,
        "The manifest file does not exist or cannot be read.",
        "Pass the path of manifest.yml, or write one with manage.py forge_manifest --output PATH.",
    ),
    "manifest_invalid": Code(
        0,
        "The manifest file is not valid YAML.",
        "Fix the YAML (the line is named above), or regenerate it with manage.py forge_manifest.",
    ),
    "manifest_not_mapping": Code(
        0,
        "The manifest file is YAML but not a mapping (app:, remotes:, ... at the top level).",
        "Pass the Forge manifest.yml itself, or regenerate it with manage.py forge_manifest.",
    ),
    # -- what --check finds ----------------------------------------------------------------
    "manifest_app_id_mismatch": Code(
        0,
        'The manifest\'s app.id is not ATLASSIAN_CONNECT["FORGE_APP_ID"].',
        "Set FORGE_APP_ID to the manifest's app.id (the FIT audience), or regenerate the manifest.",
    ),
    "manifest_connect_key_mismatch": Code(
        0,
        'The manifest\'s app.connect.key is not ATLASSIAN_CONNECT["APP_KEY"].',
        "Set app.connect.key to APP_KEY (or to a ${VARIABLE} declared under "
        "environment.variables); it ties the Forge app to its Connect installations.",
    ),
    "manifest_base_url_mismatch": Code(
        0,
        'The Connect remote\'s baseUrl is not ATLASSIAN_CONNECT["BASE_URL"] (or FORGE_REGIONS).',
        "Regenerate the manifest, or set BASE_URL and FORGE_REGIONS to what the manifest "
        "declares. Changing a baseUrl is a major version: admins must approve it.",
    ),
    "manifest_route_unrouted": Code(
        0,
        "An endpoint's route.path is a path this app's URLconf does not serve.",
        'Route the Forge views (path("forge/", include("django_atlassian_connect.forge.urls"))) '
        "or fix route.path; Forge follows no redirects.",
    ),
    "manifest_route_missing": Code(
        0,
        "A Forge view is routed but no endpoint of the manifest points at it.",
        "Regenerate the manifest so it declares the endpoint and its trigger.",
    ),
    "manifest_auth_missing": Code(
        0,
        "An endpoint whose view needs the app system token does not ask for it.",
        "Add auth: {appSystemToken: {enabled: true}} to the endpoint (not to the remote).",
    ),
    "manifest_remote_auth": Code(
        0,
        "A remote has auth, which only reaches Forge-function invokeRemote calls.",
        "Move auth to the endpoint entries: UI and trigger invocations read it there.",
    ),
    "manifest_scope_missing": Code(
        0,
        "The manifest lacks a scope the settings and the descriptor need.",
        "Add the scope under permissions.scopes (adding scopes is a major version), or "
        "regenerate the manifest.",
    ),
    "manifest_scope_extra": Code(
        0,
        "The manifest has a Connect scope the descriptor does not declare.",
        "Remove it from permissions.scopes, or add the Connect scope to SCOPES.",
    ),
}

#: Every adoption code (``adoption_*`` and ``manifest_*``).
ADOPTION_CODES = frozenset(ADOPTION)
