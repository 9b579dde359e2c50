"""Test helpers: a simulated Atlassian site, an install-key server and token
minting as the product does it.

Use them in your own tests to exercise Connect views with real tokens::

    from django_atlassian_connect.testing import ConnectHost, InstallKeyServer, request_token

They never talk to Atlassian: every server listens on 127.0.0.1.
"""

from .caches import reset_caches
from .host import ConnectHost, HostError, QuotaPolicy
from .keyserver import InstallKeyPair, InstallKeyServer
from .mint import context_token, install_token, request_token

__all__ = [
    "ConnectHost",
    "HostError",
    "InstallKeyPair",
    "InstallKeyServer",
    "QuotaPolicy",
    "context_token",
    "install_token",
    "request_token",
    "reset_caches",
]
