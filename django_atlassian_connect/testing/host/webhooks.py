"""Webhooks: the site POSTs an event to every URL the descriptor registers for it."""

from __future__ import annotations

import time
from typing import Any

from .state import HostError, response_text
from .tokens import TokenMinter


class WebhookSender(TokenMinter):
    def send_webhook(self, event: str, payload: dict[str, Any], *, expect: int | None = 200) -> Any:
        """POST a webhook to every URL the descriptor registers for ``event``."""
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
            if expect is not None and response.status_code != expect:
                raise HostError(
                    f"webhook {event} answered {response.status_code}: "
                    f"{response_text(response)[:300]}",
                    response,
                )
        assert response is not None
        return response
