"""A stand-in for Atlassian's install-key CDN, on 127.0.0.1."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from .server import LocalHTTPServer


@dataclass
class InstallKeyPair:
    """An RSA key pair with a ``kid``, like the ones Atlassian signs installs with."""

    kid: str = field(default_factory=lambda: str(uuid.uuid4()))
    private_key: rsa.RSAPrivateKey = field(
        default_factory=lambda: rsa.generate_private_key(public_exponent=65537, key_size=2048),
        repr=False,
    )

    @property
    def private_pem(self) -> bytes:
        return self.private_key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )

    @property
    def public_pem(self) -> str:
        return (
            self.private_key.public_key()
            .public_bytes(
                serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
            )
            .decode("ascii")
        )


class InstallKeyServer(LocalHTTPServer):
    """Serves ``GET /<kid>`` -> PEM public key, 404 for unknown kids.

    ``server.url`` is the value for ``INSTALL_KEYS_URL``. ``requests`` counts
    the key fetches; ``fail_with`` (a status code) or ``garbage`` simulate a
    broken CDN.
    """

    def __init__(self, *keys: InstallKeyPair) -> None:
        super().__init__()
        self.keys: dict[str, InstallKeyPair] = {key.kid: key for key in keys}
        self.requests: list[str] = []
        self.fail_with: int | None = None
        self.garbage = False

    def add(self, key: InstallKeyPair) -> InstallKeyPair:
        self.keys[key.kid] = key
        return key

    def handler_class(self) -> type[BaseHTTPRequestHandler]:
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                kid = self.path.lstrip("/")
                owner.requests.append(kid)
                if owner.fail_with:
                    self._send(owner.fail_with, "unavailable")
                elif owner.garbage:
                    self._send(200, "<html>not a key</html>")
                elif kid in owner.keys:
                    self._send(200, owner.keys[kid].public_pem, "application/x-pem-file")
                else:
                    self._send(404, "no such key")

            def _send(self, status: int, body: str, content_type: str = "text/plain") -> None:
                data = body.encode("utf-8")
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        return Handler
