"""The page a person opens at ``<url>/``: the app's general pages, one shown in an iframe
as the site's first user would see it."""

from __future__ import annotations

import html

from .tokens import TokenMinter


class BrowserPage(TokenMinter):
    def browser_page(self, module: str | None) -> str:
        """The site's HTML page; ``module`` is the key of the general page to frame."""
        if not self.installed or self.descriptor is None:
            return "<h1>Simulated site</h1><p>The app is not installed.</p>"
        account = next(iter(self.accounts.values()))
        pages = [
            m
            for m in self.descriptor.get("modules", {}).get("generalPages", [])
            if isinstance(m, dict)
        ]
        links = "".join(
            f'<li><a href="/?module={html.escape(m["key"])}">{html.escape(str(m.get("name", {}).get("value", m["key"])))}</a></li>'
            for m in pages
        )
        frame = ""
        if module:
            src = self.page_url(module, account_id=account.account_id)
            frame = f'<iframe src="{html.escape(src)}" style="width:100%;height:70vh;border:1px solid #ccc"></iframe>'
        return (
            "<!DOCTYPE html><html><head><meta charset='utf-8'><title>Simulated "
            f"{self.product} site</title></head><body><h1>Simulated {self.product} site</h1>"
            f"<p>Signed in as {html.escape(account.display_name)} ({account.account_id}). "
            f"App: {html.escape(self.app_key)}</p><ul>{links}</ul>{frame}</body></html>"
        )
