"""``make demo-serve``: install the app into the simulated site, leave everything running.

The ``--serve`` path of ``demo.py`` (see there): the signed install carries the
Forge ``installationId`` of the simulated Forge platform's installation of the
same site, so a Connect-on-Forge app links the two at once. With ``--project``
(:mod:`demo_project`) the app is your own project.
"""

from __future__ import annotations

import time
from typing import Any


def serve(demo: Any) -> None:
    """Install, print where to look, and wait until the app exits or Ctrl-C / SIGTERM."""
    descriptor_url = demo.app_url + "/atlassian-connect.json"

    def install() -> str:
        response = demo.host.install(descriptor_url, installation_id=demo.forge_site.id)
        return (
            f"installed: {response.status_code} (clientKey {demo.host.client_key}, Forge "
            f"installationId {demo.forge_site.id})"
        )

    demo.step("Fetch the descriptor and install", install)
    page = "/" if getattr(demo, "project", None) else "/?module=hello"  # your pages: the first
    print(f"\nOpen {demo.host.url}{page} in a browser to see the app as a Jira user would.")
    print(
        f"The app runs on {demo.app_url}; the simulated site on {demo.host.url}. "
        "Ctrl-C (or SIGTERM) stops both.",
        flush=True,
    )
    try:
        while demo.server is not None and demo.server.poll() is None:
            time.sleep(0.5)
    except KeyboardInterrupt:
        print("\nStopping the app and the site.", flush=True)
