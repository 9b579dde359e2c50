"""What the product's error answers say, and the hints every bound session shares.

A session's :meth:`~django_atlassian_connect.http.bound.BoundSession.hint_for`
starts from :func:`default_hint` and adds only what is specific to its
credential (a Connect JWT's secret and qsh, a Forge bot user's permissions,
an API token's expiry, ...). Each hint ends with :func:`product_says`, so the
product's own words come last and look the same from every door.
"""

from __future__ import annotations

import requests

from ..exceptions import product_message
from .ratelimit_headers import rate_limited_hint

__all__ = ["default_hint", "not_found_hint", "product_message", "product_says"]

#: Where Confluence's REST API lives under a gateway or site base URL.
WIKI_PATHS = "; Confluence paths start with /wiki there, e.g. '/wiki/rest/api/content'"


def product_says(response: requests.Response) -> str:
    """``" The product says: …"`` to append to a hint, or ``""`` when the body says nothing."""
    said = product_message(response)
    return f" The product says: {said}" if said else ""


def not_found_hint(where: str, caller: str, *, paths: str = WIKI_PATHS) -> str:
    """A 404: the path is relative to ``where``, or ``caller`` cannot see the resource.

    ``paths``: how Confluence paths are written under this base URL.
    """
    return (
        f"Not found: the path is relative to {where}{paths}. Or the resource does not "
        f"exist or is not visible to {caller}."
    )


def default_hint(
    response: requests.Response,
    *,
    where: str,
    caller: str,
    now: float,
    paths: str = WIKI_PATHS,
) -> str:
    """The hint for an error status that no credential explains better.

    404: :func:`not_found_hint`; 429: when the rate limit resets (by the
    answer's headers at ``now``); anything else: what the product says.
    """
    status = response.status_code
    if status == 404:
        return not_found_hint(where, caller, paths=paths) + product_says(response)
    if status == 429:
        return rate_limited_hint(response.headers, now=now)
    return product_says(response).strip()
