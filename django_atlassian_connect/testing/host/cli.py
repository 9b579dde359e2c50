"""``python -m django_atlassian_connect.testing.host``: run a site by hand."""

from __future__ import annotations

import argparse
import threading

from .site import ConnectHost


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m django_atlassian_connect.testing.host",
        description="Run a simulated Atlassian site and install a Connect app into it.",
    )
    parser.add_argument(
        "descriptor_url", nargs="?", help="the app's /atlassian-connect.json URL (installs it)"
    )
    parser.add_argument("--product", choices=["jira", "confluence"], default="jira")
    parser.add_argument(
        "--port", type=int, default=0, help="port on 127.0.0.1 (default: a free one)"
    )
    args = parser.parse_args(argv)
    host = ConnectHost(product=args.product, port=args.port).start()
    print(f"Simulated {args.product} site on {host.url}")
    print(f"  INSTALL_KEYS_URL         = {host.keys_url}")
    print(f"  AUTHORIZATION_SERVER_URL = {host.url}")
    print("  ALLOWED_PRODUCT_HOSTS must include 127.0.0.1")
    if args.descriptor_url:
        host.install(args.descriptor_url)
        print(f"Installed {host.app_key} as {host.client_key}; open {host.url}/ in a browser.")
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    finally:
        host.stop()
