"""Connect webhooks -> Forge product events, and the scopes each event needs.

Built from Forge's events reference (Jira, Jira Software, Confluence) and the
event-to-scope table ``@forge/manifest`` validates triggers with
(``mapping/product-event-to-scope-mapping.json``, the ``current`` scopes). A
webhook with no Forge event of the same meaning is not mapped: it stays a Connect
webhook (in ``connectModules``), which the command says on stderr.

Two Connect webhooks may map to one Forge event: Jira's ``comment_created`` and
``comment_updated`` are both ``avi:jira:commented:issue`` ("a comment is created or
edited").
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

_WORK = ("read:jira-work",)
_CONFIG = ("manage:jira-configuration",)
_USER = ("read:jira-user",)
_BOARD = ("read:jira-work", "read:jira-user")
_CONTENT = ("read:confluence-content.summary",)
_CONTENT_WRITE = ("read:confluence-content.summary", "write:confluence-content")
_SPACE = ("read:confluence-space.summary",)
_SPACE_WRITE = ("read:confluence-space.summary", "write:confluence-space")
_LABEL = ("read:confluence-content.summary", "read:confluence-space.summary")
_RELATION = (
    "read:confluence-content.summary",
    "read:confluence-space.summary",
    "read:confluence-user",
)


def _verbs(prefix: str, noun: str, verbs: Iterable[str], scopes: tuple[str, ...]) -> dict:
    """``{"<noun>_<verb>": ("avi:<prefix>:<verb>:<noun>", scopes)}`` for Connect's regular names."""
    return {f"{noun}_{verb}": (f"avi:{prefix}:{verb}:{noun}", scopes) for verb in verbs}


#: ``product -> Connect webhook event -> (Forge event, scopes it needs)``.
WEBHOOK_EVENTS: Mapping[str, Mapping[str, tuple[str, tuple[str, ...]]]] = {
    "jira": {
        "jira:issue_created": ("avi:jira:created:issue", _WORK),
        "jira:issue_updated": ("avi:jira:updated:issue", _WORK),
        "jira:issue_deleted": ("avi:jira:deleted:issue", _WORK),
        "comment_created": ("avi:jira:commented:issue", _WORK),
        "comment_updated": ("avi:jira:commented:issue", _WORK),
        "comment_deleted": ("avi:jira:deleted:comment", _WORK),
        **_verbs("jira", "issuelink", ("created", "deleted"), _WORK),
        **_verbs("jira", "worklog", ("created", "updated", "deleted"), _WORK),
        **_verbs("jira", "attachment", ("created", "deleted"), _WORK),
        "issue_property_set": ("avi:jira:set:issue-property", _WORK),
        "issue_property_deleted": ("avi:jira:deleted:issue-property", _WORK),
        **_verbs("jira", "issuetype", ("created", "updated", "deleted"), _CONFIG),
        **_verbs("jira", "project", ("created", "updated", "deleted", "archived"), _WORK),
        "project_soft_deleted": ("avi:jira:softdeleted:project", _WORK),
        "project_restored_deleted": ("avi:jira:restored:project", _WORK),
        "project_restored_archived": ("avi:jira:unarchived:project", _WORK),
        **{
            f"jira:version_{verb}": (f"avi:jira:{verb}:version", _WORK)
            for verb in ("created", "updated", "deleted", "released", "unreleased", "moved")
        },
        "jira:version_merged": ("avi:jira:merged:version", _WORK),
        **_verbs("jira", "user", ("created", "updated", "deleted"), _USER),
        **_verbs("jira", "filter", ("created", "updated", "deleted"), _CONFIG),
        "jira_expression_evaluation_failed": ("avi:jira:failed:expression", _CONFIG),
        **_verbs(
            "jira-software", "sprint", ("created", "started", "closed", "updated", "deleted"), _WORK
        ),
        **_verbs("jira-software", "board", ("created", "updated", "deleted"), _BOARD),
        "board_configuration_changed": ("avi:jira-software:configuration-changed:board", _BOARD),
    },
    "confluence": {
        **_verbs(
            "confluence",
            "page",
            ("created", "updated", "restored", "moved", "copied", "archived", "unarchived"),
            _CONTENT,
        ),
        "page_viewed": ("avi:confluence:viewed:page", _CONTENT),
        "page_children_reordered": ("avi:confluence:children_reordered:page", _CONTENT),
        "page_trashed": ("avi:confluence:trashed:page", _CONTENT_WRITE),
        "page_removed": ("avi:confluence:deleted:page", _CONTENT_WRITE),
        "blog_created": ("avi:confluence:created:blogpost", _CONTENT),
        "blog_updated": ("avi:confluence:updated:blogpost", _CONTENT),
        "blog_restored": ("avi:confluence:restored:blogpost", _CONTENT),
        "blog_viewed": ("avi:confluence:viewed:blogpost", _CONTENT),
        "blog_trashed": ("avi:confluence:trashed:blogpost", _CONTENT_WRITE),
        "blog_removed": ("avi:confluence:deleted:blogpost", _CONTENT_WRITE),
        **_verbs("confluence", "comment", ("created", "updated"), _CONTENT),
        "comment_removed": ("avi:confluence:deleted:comment", _CONTENT),
        **_verbs(
            "confluence",
            "attachment",
            ("created", "updated", "trashed", "restored", "viewed", "archived", "unarchived"),
            _CONTENT,
        ),
        "attachment_removed": ("avi:confluence:deleted:attachment", _CONTENT),
        "content_created": ("avi:confluence:created:custom_content", _CONTENT),
        "content_updated": ("avi:confluence:updated:custom_content", _CONTENT),
        "content_trashed": ("avi:confluence:trashed:custom_content", _CONTENT),
        "content_restored": ("avi:confluence:restored:custom_content", _CONTENT),
        "content_removed": ("avi:confluence:deleted:custom_content", _CONTENT),
        "label_added": ("avi:confluence:added:label", _LABEL),
        "label_removed": ("avi:confluence:removed:label", _LABEL),
        "label_created": ("avi:confluence:created:label", _LABEL),
        "label_deleted": ("avi:confluence:deleted:label", _LABEL),
        "space_created": ("avi:confluence:created:space:V2", _SPACE),
        "space_updated": ("avi:confluence:updated:space:V2", _SPACE),
        "space_removed": ("avi:confluence:deleted:space:V2", _SPACE_WRITE),
        "group_created": ("avi:confluence:created:group", ("read:confluence-groups",)),
        "group_removed": ("avi:confluence:deleted:group", ("read:confluence-groups",)),
        "user_created": ("avi:confluence:created:user", ("read:confluence-user",)),
        "user_removed": ("avi:confluence:deleted:user", ("read:confluence-user",)),
        "relation_created": ("avi:confluence:created:relation", _RELATION),
        "relation_deleted": ("avi:confluence:deleted:relation", _RELATION),
    },
}


@dataclass
class ProductEvents:
    """What the descriptor's webhooks become: Forge events, their scopes, what stays Connect."""

    events: list[str] = field(default_factory=list)
    scopes: list[str] = field(default_factory=list)
    #: Connect webhook events with no Forge equivalent, in descriptor order.
    unmapped: list[str] = field(default_factory=list)
    #: ``(Connect event, note)``: what does not carry over (JQL filters, excludeBody).
    notes: list[tuple[str, str]] = field(default_factory=list)


def product_events(product: str, webhooks: Iterable[Mapping[str, object]]) -> ProductEvents:
    """The Forge product events of the descriptor's ``webhooks`` modules, in their order.

    ``product_events("jira", [{"event": "jira:issue_created", "url": "/hook"}]).events``
    is ``["avi:jira:created:issue"]`` and ``.scopes`` ``["read:jira-work"]``.
    """
    table = WEBHOOK_EVENTS[product]
    result = ProductEvents()
    for webhook in webhooks:
        event = str(webhook.get("event", "")).strip()
        if not event:
            continue
        if event not in table:
            if event not in result.unmapped:
                result.unmapped.append(event)
            continue
        forge_event, scopes = table[event]
        if forge_event not in result.events:
            result.events.append(forge_event)
        result.scopes.extend(s for s in scopes if s not in result.scopes)
        if webhook.get("filter"):
            result.notes.append(
                (event, "its filter is not carried over: Forge triggers filter with expressions")
            )
    return result
