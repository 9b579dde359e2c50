"""``python -m django_atlassian_connect.testing.oauth``: a simulated 3LO world by hand.

Starts the authorization server and the API gateway on 127.0.0.1 with one
account and one Jira site, prints their URLs and the settings that point an
app at them, and runs until Ctrl-C or SIGTERM. By default a browser sees a
consent page (Accept / Deny); ``--auto-consent`` redirects straight back.
"""

from __future__ import annotations

import argparse
import sys

from ..foreground import run_until_signalled, say
from .server import OAuthServer


def parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m django_atlassian_connect.testing.oauth",
        description="Run a simulated Atlassian OAuth 2.0 (3LO) authorization server and API "
        "gateway on 127.0.0.1.",
    )
    parser.add_argument(
        "--auto-consent",
        action="store_true",
        help="consent without a page: /authorize redirects straight back with a code",
    )
    parser.add_argument(
        "--site-url", default="https://acme.atlassian.net", help="the one site's URL"
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    server = OAuthServer(auto_consent=args.auto_consent).start()
    account = server.add_account("Alana Grant", "alana@example.com")
    site = server.add_site("Acme", args.site_url)
    say("Simulated Atlassian OAuth 2.0 (3LO)")
    say(f"  authorization server {server.auth_url}  (stands for https://auth.atlassian.com)")
    say(f"  API gateway          {server.api_url}  (stands for https://api.atlassian.com)")
    say(
        f"  account {account.account_id} ({account.name}); site {site.url} (cloudId {site.cloud_id})"
    )
    say("Point the app at it (ATLASSIAN_CONNECT):")
    for name, value in server.settings().items():
        say(f"  {name:<19} = {value}")
    say("  (the example project: " + " ".join(f"{k}={v}" for k, v in server.env().items()) + ")")
    return run_until_signalled(server.stop)


if __name__ == "__main__":
    sys.exit(main())
