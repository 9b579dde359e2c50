"""The page a person opens at ``<url>/``: the site's header with the signed-in user, the
app's general pages in a sidebar, and one of them in an iframe that the app's ``AP``
calls resize. ``static/host.js`` answers the iframe's ``AP`` calls; ``host.css`` styles it.

``/?module=<key>`` picks the page (default the first), ``&user=<accountId>`` the
user signed in (default the site's first account).
"""

from __future__ import annotations

import html
import json
from typing import Any
from urllib.parse import urlencode, urlsplit

from .bridge import APBridge
from .state import Account


def _initials(name: str) -> str:
    return "".join(part[0] for part in name.split()[:2]).upper() or "?"


def _script_json(value: Any) -> str:
    """JSON safe inside ``<script type="application/json">``."""
    return json.dumps(value).replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


class BrowserPage(APBridge):
    def general_pages(self) -> list[dict[str, Any]]:
        """The descriptor's ``generalPages`` modules."""
        pages = (self.descriptor or {}).get("modules", {}).get("generalPages", [])
        return [m for m in pages if isinstance(m, dict) and m.get("key")]

    def browser_page(self, module: str | None, user: str | None = None) -> str:
        """The site's HTML page framing the general page ``module`` (default: the first)."""
        account = self.accounts.get(user or "") or next(iter(self.accounts.values()))
        e = html.escape
        product = "Confluence" if self.product == "confluence" else "Jira"
        header = self._header(product, account, module)
        if not self.installed or self.descriptor is None:
            body = (
                '<main class="site-main"><h1>No app installed</h1><p>Install an app into this '
                "site (<code>host.install(descriptor_url)</code>), then reload.</p></main>"
            )
            return self._document(f"Simulated {product} site", header, body)
        pages = self.general_pages()
        current = next((m for m in pages if m["key"] == module), None)
        if current is None and module is None and pages:
            current = pages[0]
        app_name = str(self.descriptor.get("name") or self.app_key)
        links = "".join(
            f'<li><a href="/?{e(urlencode({"module": m["key"], "user": account.account_id}))}"'
            f"{' aria-current=page' if m is current else ''}>{e(self._title(m))}</a></li>"
            for m in pages
        )
        sidebar = (
            f'<aside class="site-sidebar"><div class="app-name">{e(app_name)}</div>'
            f'<ul class="app-pages">{links}</ul><dl class="app-meta"><dt>App key</dt>'
            f"<dd><code>{e(self.app_key)}</code></dd><dt>clientKey</dt>"
            f"<dd><code>{e(self.client_key)}</code></dd></dl></aside>"
        )
        scripts = ""
        if current is None:
            content = (
                f"<h1>No such page</h1><p>The app has no general page "
                f"<code>{e(module or '')}</code>.</p>"
            )
        else:
            src = self.page_url(current["key"], account_id=account.account_id)
            app = urlsplit(self.app_base_url)
            config = {
                "siteOrigin": self.url,
                "appOrigin": f"{app.scheme}://{app.netloc}",
                "appKey": self.app_key,
                "moduleKey": current["key"],
                "session": self.open_session(account.account_id),
                "product": self.product,
                "context": {
                    self.product: {},
                    "license": {"active": False},
                    "url": {"displayUrl": self.base_url},
                },
            }
            content = (
                f'<nav class="breadcrumbs"><a href="/">Apps</a> / {e(app_name)}</nav>'
                f"<h1>{e(self._title(current))}</h1>"
                f'<div class="app-container" id="app-container">'
                f'<iframe id="app-frame" class="app-frame" title="{e(self._title(current))}" '
                f'src="{e(src)}"></iframe></div>'
            )
            scripts = (
                f'<script type="application/json" id="site-config">{_script_json(config)}</script>'
                '<script src="/atlassian-connect/host.js"></script>'
            )
        body = (
            f'<div class="site-layout">{sidebar}<main class="site-main">{content}</main></div>'
            f'<div id="flags" class="flags" aria-live="polite"></div>{scripts}'
        )
        title = self._title(current) if current else app_name
        return self._document(f"{title} - Simulated {product} site", header, body)

    @staticmethod
    def _title(module: dict[str, Any]) -> str:
        name = module.get("name")
        return str(name.get("value", module["key"]) if isinstance(name, dict) else module["key"])

    def _header(self, product: str, account: Account, module: str | None) -> str:
        e = html.escape
        others = "".join(
            f'<li><a href="/?{e(urlencode({**({"module": module} if module else {}), "user": a.account_id}))}">'
            f"{e(a.display_name)}</a></li>"
            for a in self.accounts.values()
            if a is not account
        )
        return (
            '<header class="site-header"><div class="brand"><span class="logo" aria-hidden="true">'
            f'{product[0]}</span><span class="product">{product}</span>'
            '<span class="badge">simulated site</span></div>'
            '<nav class="top-nav"><span>Your work</span><span>Projects</span>'
            '<a class="active" href="/">Apps</a></nav>'
            f'<details class="user"><summary title="Signed in as {e(account.display_name)}">'
            f'<span class="avatar" aria-hidden="true">{e(_initials(account.display_name))}</span>'
            f'<span class="user-name" id="signed-in-user" data-account-id="{e(account.account_id)}">'
            f"{e(account.display_name)}</span></summary>"
            f'<div class="user-menu"><p>Signed in as <strong>{e(account.display_name)}</strong>'
            f"<br><code>{e(account.account_id)}</code></p><p>Switch user:</p><ul>{others}</ul>"
            "</div></details></header>"
        )

    @staticmethod
    def _document(title: str, header: str, body: str) -> str:
        return (
            '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
            '<meta name="viewport" content="width=device-width, initial-scale=1">'
            f'<title>{html.escape(title)}</title><link rel="icon" href="data:,">'
            '<link rel="stylesheet" href="/atlassian-connect/host.css"></head>'
            f"<body>{header}{body}</body></html>"
        )
