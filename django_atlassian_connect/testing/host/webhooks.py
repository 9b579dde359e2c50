"""Webhooks: the site POSTs an event to every URL the descriptor registers for it."""

from __future__ import annotations

import time
from typing import Any, Literal

from .state import HostError, response_text
from .tokens import TokenMinter

#: ``expect`` value: any 2xx status is success, as the product counts it
ANY_2XX: Literal["2xx"] = "2xx"


def _expected(status: int, expect: int | Literal["2xx"] | None) -> bool:
    if expect is None:
        return True
    if expect == ANY_2XX:
        return 200 <= status < 300
    return status == expect


class WebhookSender(TokenMinter):
    def send_webhook(
        self,
        event: str,
        payload: dict[str, Any],
        *,
        expect: int | Literal["2xx"] | None = ANY_2XX,
    ) -> Any:
        """POST a webhook to every URL the descriptor registers for ``event``.

        The body is ``payload`` with ``timestamp`` and ``webhookEvent`` added;
        the request carries a request token (``Authorization: JWT``, the qsh of
        the POST). Raises :class:`HostError` when an answer is not what
        ``expect`` says: ``"2xx"`` (default) accepts any 2xx, as the product
        does (``200``, ``202``, ``204``, ...); a status such as ``204`` accepts
        only that one; ``None`` accepts anything (to test a refusal). Returns
        the last response.
        """
        hooks = [
            h
            for h in self._descriptor().get("modules", {}).get("webhooks", [])
            if h.get("event") == event
        ]
        if not hooks:
            raise HostError(f"the descriptor registers no webhook for {event!r}")
        response = None
        for hook in hooks:
            path = hook["url"]
            token = self.request_token("POST", path)
            body = {"timestamp": int(time.time() * 1000), "webhookEvent": event, **payload}
            response = self._http(
                "POST", self.app_base_url + path, body, {"Authorization": f"JWT {token}"}
            )
            if not _expected(response.status_code, expect):
                wanted = "a 2xx" if expect == ANY_2XX else str(expect)
                raise HostError(
                    f"webhook {event} answered {response.status_code} (expected {wanted}): "
                    f"{response_text(response)[:300]}",
                    response,
                )
        assert response is not None
        return response
