"""``python -m django_atlassian_connect.testing.forge``: a simulated Forge platform by hand.

Starts the JWKS server and the API gateway on 127.0.0.1 with one
installation and one user, prints their URLs and the settings that point an
app at them, and runs until Ctrl-C or SIGTERM. ``--help`` lists the options.
"""

from __future__ import annotations

import argparse
import sys

from ..foreground import forge_app_uuid, run_until_signalled, say
from .platform import ForgePlatform


def parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m django_atlassian_connect.testing.forge",
        description="Run a simulated Forge platform (JWKS server and API gateway) on 127.0.0.1.",
    )
    parser.add_argument("--product", choices=["jira", "confluence"], default="jira")
    parser.add_argument(
        "--remote-base-url",
        default="http://127.0.0.1:8000",
        help="the app (Forge Remote) the platform would call (default http://127.0.0.1:8000)",
    )
    parser.add_argument(
        "--app-id",
        type=forge_app_uuid,
        help="the app id to simulate (ARI or uuid; default a new one)",
    )
    parser.add_argument(
        "--connect-key", help="app.connect.key of the manifest (a Connect-on-Forge app's key)"
    )
    parser.add_argument(
        "--client-key",
        help="the Connect clientKey of the site, answered by the gateway's clientKey app property",
    )
    parser.add_argument("--site-url", help="the site URL (default a made-up *.atlassian.net)")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    platform = ForgePlatform(
        remote_base_url=args.remote_base_url, app_uuid=args.app_id, connect_key=args.connect_key
    ).start()
    user = platform.add_account("Alana Grant", "alana@example.com")
    site = platform.add_installation(
        args.product, site_url=args.site_url, connect_client_key=args.client_key
    )
    say(f"Simulated Forge platform for app {platform.app_id}")
    say(f"  JWKS         {platform.jwks_url}")
    say(f"  API gateway  {platform.gateway_url}")
    say(f"  installation {site.id} ({site.product}, cloudId {site.cloud_id}, {site.site_url})")
    say(f"  user         {user.account_id} ({user.display_name})")
    say("Point the app at it (ATLASSIAN_CONNECT):")
    say(f"  FORGE_APP_ID    = {platform.app_id}")
    say(f"  FORGE_JWKS_URL  = {platform.jwks_url}")
    say(f"  FORGE_API_HOSTS = {platform.api_hosts!r}")
    return run_until_signalled(platform.stop)


if __name__ == "__main__":
    sys.exit(main())
