"""``python -m django_atlassian_connect.testing.host``: run a site by hand.

``--forge`` also starts a simulated Forge platform for the same site
(Connect-on-Forge): the signed install then carries the Forge installation's
``installationId`` and cloudId, so the app links the two at once.
"""

from __future__ import annotations

import argparse
import time

import requests

from ..connect_on_forge import share_site
from ..foreground import forge_app_uuid, run_until_signalled, say
from ..forge import ForgePlatform
from .site import ConnectHost
from .state import HostError


def parser() -> argparse.ArgumentParser:
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
    parser.add_argument(
        "--wait",
        type=float,
        default=120.0,
        metavar="SECONDS",
        help="how long to wait for the descriptor URL to answer before installing (default 120)",
    )
    forge = parser.add_argument_group("Connect-on-Forge")
    forge.add_argument(
        "--forge",
        action="store_true",
        help="also run a simulated Forge platform (JWKS, API gateway) for the same site; the "
        "install carries its installationId",
    )
    forge.add_argument(
        "--forge-app-id",
        type=forge_app_uuid,
        metavar="APP_ID",
        help="the Forge app id to simulate (ARI or uuid; default a new one each run)",
    )
    forge.add_argument(
        "--forge-lifecycle-path",
        default="/forge/lifecycle",
        metavar="PATH",
        help="where avi:forge:installed:app is delivered after the install (default "
        "/forge/lifecycle)",
    )
    return parser


def wait_for(url: str, seconds: float) -> None:
    """Until ``url`` answers at all (the app is being started with the printed settings)."""
    deadline = time.monotonic() + seconds
    told = False
    while True:
        try:
            requests.get(url, timeout=5)
            return
        except requests.ConnectionError:
            if time.monotonic() >= deadline:
                raise HostError(
                    f"{url} did not answer within {seconds:g} s: start the app with the "
                    "settings above (or raise --wait)"
                ) from None
            if not told:
                say(f"Waiting for {url} ...")
                told = True
            time.sleep(0.5)


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    host = ConnectHost(product=args.product, port=args.port).start()
    forge = ForgePlatform(app_uuid=args.forge_app_id).start() if args.forge else None

    def stop() -> None:
        if forge is not None:
            forge.stop()
        host.stop()

    try:
        say(f"Simulated {args.product} site on {host.url}")
        say(f"  INSTALL_KEYS_URL         = {host.keys_url}")
        say(f"  AUTHORIZATION_SERVER_URL = {host.url}")
        say("  ALLOWED_PRODUCT_HOSTS must include 127.0.0.1")
        installation = share_site(host, forge) if forge is not None else None
        if forge is not None and installation is not None:
            say(f"Simulated Forge platform for the same site (cloudId {installation.cloud_id})")
            say(f"  FORGE_APP_ID             = {forge.app_id}")
            say(f"  FORGE_JWKS_URL           = {forge.jwks_url}")
            say(f"  FORGE_API_HOSTS          = {forge.api_hosts!r}")
            say(
                f"  (the example project: CONNECT_FORGE_APP_ID={forge.app_id} "
                f"CONNECT_FORGE_JWKS_URL={forge.jwks_url} "
                f"CONNECT_FORGE_API_HOSTS={','.join(forge.api_hosts)})"
            )
            say(f"  installationId           = {installation.id}")
        if args.descriptor_url:
            wait_for(args.descriptor_url, args.wait)
            host.install(args.descriptor_url)
            say(f"Installed {host.app_key} as {host.client_key}; open {host.url}/ in a browser.")
            if forge is not None and installation is not None:
                forge.connect_key = host.app_key
                forge.remote_base_url = host.app_base_url
                (attempt,) = forge.deliver_lifecycle(
                    "avi:forge:installed:app",
                    installation,
                    path=args.forge_lifecycle_path,
                    retries=0,
                )
                say(
                    f"The install carried installationId {installation.id}; "
                    f"POST {args.forge_lifecycle_path} (avi:forge:installed:app) answered "
                    f"{attempt.status if attempt.status is not None else attempt.error}."
                )
    except HostError as exc:
        say(f"Error: {exc}")
        stop()
        return 1
    return run_until_signalled(stop)
