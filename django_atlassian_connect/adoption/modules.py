"""The descriptor's modules as ``connectModules`` (``<product>:<moduleType>``).

Fields go over one to one, as Forge documents ("names and fields map 1:1 to
Connect descriptor modules"). What Forge adds:

- every item has a ``key``, unique in the manifest: a module without one (a
  webhook) gets ``webhook-<event>`` or ``<moduleType>-<n>``;
- a single-object module (``postInstallPage``, ``configurePage``) becomes a list;
- the descriptor's lifecycle URLs become exactly one ``<product>:lifecycle`` item
  (Forge refuses two).

The module types Forge accepts are those of ``@forge/manifest`` 13.7.0
(``SUPPORTED_MODULES``, the ``connect-<product>:*`` entries); any other is an error
naming it, never dropped.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Iterable, Mapping
from typing import Any

from .errors import AdoptionError

_JIRA = """
adminPages assetPanels automationActions cloudAppMigration configurePage dialogs generalPages
jiraBackgroundScripts jiraBuildInfoProvider jiraDashboardItems jiraDeploymentGating
jiraDeploymentInfoProvider jiraDevOpsComponentProvider jiraDevelopmentTool jiraEntityProperties
jiraFeatureFlagInfoProvider jiraGlobalPermissions jiraIssueContents jiraIssueContexts
jiraIssueFields jiraIssueGlances jiraIssueTabPanels jiraIssueTypes jiraJqlFunctions
jiraOperationsInfoProvider jiraProjectAdminTabPanels jiraProjectPages jiraProjectPermissions
jiraProjectTabPanels jiraRemoteLinkInfoProvider jiraReports jiraSearchRequestViews
jiraSecurityInfoProvider jiraTimeTrackingProviders jiraWorkflowConditions
jiraWorkflowPostFunctions jiraWorkflowValidators keyboardShortcuts lifecycle postInstallPage
serviceDeskOrganizationActions serviceDeskOrganizationPanels serviceDeskPortalFooters
serviceDeskPortalHeaders serviceDeskPortalProfileActions serviceDeskPortalProfilePanels
serviceDeskPortalRequestCreatePropertyPanels serviceDeskPortalRequestViewActions
serviceDeskPortalRequestViewDetailsPanels serviceDeskPortalRequestViewPanels
serviceDeskPortalSubHeaders serviceDeskPortalUserMenuActions serviceDeskQueueGroups
serviceDeskQueues serviceDeskReportGroups serviceDeskReports translations webItems webPanels
webSections webhooks
"""
_CONFLUENCE = """
adminPages blueprints cloudAppMigration configurePage confluenceContentProperties
confluenceThemes contentBylineItems customContent dialogs dynamicContentMacros generalPages
keyboardShortcuts lifecycle postInstallPage publishConditions spaceToolsTabs
staticContentMacros translations webItems webPanels webSections webhooks
"""

#: ``product -> module types`` Forge accepts as ``<product>:<moduleType>`` in connectModules.
ACCEPTED_MODULE_TYPES: Mapping[str, frozenset[str]] = {
    "jira": frozenset(_JIRA.split()),
    "confluence": frozenset(_CONFLUENCE.split()),
}
#: The key of the one ``<product>:lifecycle`` item.
LIFECYCLE_KEY = "lifecycle-events"
#: The lifecycle callbacks of a Connect descriptor, in the order they are written.
LIFECYCLE_EVENTS = ("installed", "uninstalled", "enabled", "disabled")
#: What Forge allows in a module key.
MODULE_KEY_RE = re.compile(r"[a-zA-Z0-9_-]+")


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", re.sub(r"([a-z])([A-Z])", r"\1-\2", text).lower()).strip("-")


def _items(module_type: str, value: Any) -> list[Mapping[str, Any]]:
    items = [value] if isinstance(value, Mapping) else value
    if not isinstance(items, list) or not all(isinstance(i, Mapping) for i in items):
        raise AdoptionError(
            "adoption_descriptor_invalid",
            f"The descriptor's modules.{module_type} is a {type(value).__name__}, not a list "
            "of module objects.",
            module_type=module_type,
        )
    return items


class _Keys:
    """Module keys handed out so far: unique, valid, and not one of ours."""

    def __init__(self, reserved: Iterable[str]) -> None:
        self.reserved = frozenset(reserved)
        self.taken: set[str] = set()

    def keep(self, key: Any, module_type: str) -> str:
        text = str(key)
        if not MODULE_KEY_RE.fullmatch(text) or text in self.taken or text in self.reserved:
            why = (
                "is used twice"
                if text in self.taken
                else "is a key forge_manifest uses itself"
                if text in self.reserved
                else "has characters other than letters, digits, - and _"
            )
            raise AdoptionError(
                "adoption_module_key_invalid",
                f"The key {text!r} of a {module_type} module {why}.",
                key=text,
                module_type=module_type,
            )
        self.taken.add(text)
        return text

    def make(self, stem: str) -> str:
        key, n = stem, 1
        while key in self.taken or key in self.reserved:
            n += 1
            key = f"{stem}-{n}"
        self.taken.add(key)
        return key


def lifecycle_module(descriptor: Mapping[str, Any]) -> dict[str, Any]:
    """The one ``<product>:lifecycle`` item: the descriptor's lifecycle URLs."""
    lifecycle = descriptor.get("lifecycle") or {}
    item: dict[str, Any] = {"key": LIFECYCLE_KEY}
    item.update({e: lifecycle[e] for e in LIFECYCLE_EVENTS if lifecycle.get(e)})
    return item


def connect_modules(
    descriptor: Mapping[str, Any], product: str, *, reserved_keys: Iterable[str] = ()
) -> dict[str, list[dict[str, Any]]]:
    """``connectModules`` of the descriptor: lifecycle first, then the module types A-Z.

    ``reserved_keys`` are the keys of the manifest's own modules (a Connect module may
    not take one). An unsupported module type raises ``adoption_module_unsupported``.
    """
    modules = descriptor.get("modules") or {}
    if not isinstance(modules, Mapping):
        raise AdoptionError(
            "adoption_descriptor_invalid",
            f"The descriptor's modules is a {type(modules).__name__}, not an object.",
        )
    accepted = ACCEPTED_MODULE_TYPES[product]
    unsupported = sorted(t for t in modules if t not in accepted or t == "lifecycle")
    if unsupported:
        raise AdoptionError(
            "adoption_module_unsupported",
            f"Forge does not accept the module type(s) {', '.join(unsupported)} for {product} "
            f"in connectModules (as {', '.join(f'{product}:{t}' for t in unsupported)}).",
            module_types=unsupported,
            product=product,
        )
    keys = _Keys([LIFECYCLE_KEY, *reserved_keys])
    result: dict[str, list[dict[str, Any]]] = {
        f"{product}:lifecycle": [lifecycle_module(descriptor)]
    }
    # Keys the descriptor gives are kept first, so a generated key never takes one.
    typed = {t: _items(t, modules[t]) for t in sorted(modules)}
    for module_type, items in typed.items():
        for item in items:
            if "key" in item:
                keys.keep(item["key"], module_type)
    for module_type, items in typed.items():
        converted = []
        for n, item in enumerate(items, start=1):
            if "key" in item:
                key = str(item["key"])
            elif module_type == "webhooks":
                key = keys.make("webhook-" + (_slug(str(item.get("event", ""))) or str(n)))
            else:
                key = keys.make(f"{_slug(module_type)}-{n}")
            body = {k: copy.deepcopy(v) for k, v in item.items() if k != "key"}
            converted.append({"key": key, **body})
        if converted:
            result[f"{product}:{module_type}"] = converted
    return result
