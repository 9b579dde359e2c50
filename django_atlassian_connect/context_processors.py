"""Template context for the pages an app shows in the product's iframes.

Add the processor to your template settings::

    TEMPLATES = [{..., "OPTIONS": {"context_processors": [
        ...,
        "django_atlassian_connect.context_processors.ap_js_url",
    ]}}]

and load the AP bridge in your page templates::

    <script src="{{ AP_JS_URL }}"></script>
"""

from __future__ import annotations

from django.conf import settings
from django.http import HttpRequest

__all__ = ["DEFAULT_AP_JS_URL", "ap_js_url"]

#: Atlassian's AP bridge (``all.js``), which pages shown in Jira or Confluence load
DEFAULT_AP_JS_URL = "https://connect-cdn.atl-paas.net/all.js"


def ap_js_url(request: HttpRequest) -> dict[str, str]:
    """``AP_JS_URL``: the Django setting ``AP_JS_URL``, or Atlassian's CDN when unset.

    Tests and the simulated site point the setting at the site's own bridge
    (``ConnectHost.all_js_url``); the pytest fixture ``connect_host`` does it for you.
    Read on each request, so ``override_settings`` takes effect.
    """
    return {"AP_JS_URL": getattr(settings, "AP_JS_URL", None) or DEFAULT_AP_JS_URL}
