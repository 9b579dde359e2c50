"""The app in a real browser inside the simulated site: headless Chromium driven by Selenium.

The example project runs as a real server on 127.0.0.1 and is installed into a
:class:`ConnectHost`; the browser opens the site's page, which frames the
app's ``/hello``. That page loads the site's AP bridge (``AP_JS_URL``), calls
``/api/me`` with ``AP.context.getToken()`` and shows the accountId in
``#connect-me``. A second app, the quick start of ``docs/quickstart.rst`` (its
code blocks written into ``tests/e2e/quickstart/``), runs in a site of its own.

Skipped, with the reason, without Chromium and chromedriver (Debian:
``apt-get install chromium chromium-driver``) or the ``selenium`` package; CI's
second phase installs them and refuses that skip. On a failure each test
saves a screenshot of the browser and names its path in the failure message.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from threading import Thread
from typing import Any

import pytest

from django_atlassian_connect.testing.host import ConnectHost

from ..docs_code import DOCS, code_blocks
from .conftest import start_example_app

pytestmark = [pytest.mark.e2e, pytest.mark.browser]


def _find_browser() -> tuple[str | None, str | None]:
    chromium = os.environ.get("CONNECT_CHROMIUM") or next(
        filter(None, map(shutil.which, ("chromium", "chromium-browser", "google-chrome"))), None
    )
    return chromium, os.environ.get("CONNECT_CHROMEDRIVER") or shutil.which("chromedriver")


CHROMIUM, CHROMEDRIVER = _find_browser()
try:
    import selenium  # noqa: F401
except ImportError:
    pytest.skip(
        "the Chromium browser tests need the selenium package (pip install -e '.[dev]')",
        allow_module_level=True,
    )
if not (CHROMIUM and CHROMEDRIVER):
    pytest.skip(
        "the browser tests need Chromium and chromedriver on PATH (Debian: apt-get install "
        f"chromium chromium-driver); found chromium={CHROMIUM}, chromedriver={CHROMEDRIVER}",
        allow_module_level=True,
    )

from selenium import webdriver  # noqa: E402
from selenium.common.exceptions import TimeoutException  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.support.ui import WebDriverWait  # noqa: E402

ALANA = "5b10ac8d82e05b22cc7d4ef5"  # the simulated site's first user, signed in by default
BORIS = "5b10a2844c20165700ede21g"
QUICKSTART = Path(__file__).resolve().parent / "quickstart"
QUICKSTART_DOC = DOCS / "quickstart.rst"


# -- the browser ---------------------------------------------------------------------


@pytest.fixture
def browser() -> Iterator[Any]:
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for argument in (
        "--headless=new",
        "--no-sandbox",  # CI runs as root
        "--disable-dev-shm-usage",
        "--disable-gpu",
        "--window-size=1280,900",
    ):
        options.add_argument(argument)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(
        options=options, service=webdriver.ChromeService(executable_path=CHROMEDRIVER)
    )
    driver.set_page_load_timeout(30)
    try:
        yield driver
    finally:
        driver.quit()


@contextlib.contextmanager
def screenshot_on_failure(driver: Any, directory: Path, name: str) -> Iterator[None]:
    """On any failure inside, save what the browser shows and name the file in the error."""
    try:
        yield
    except Exception as exc:
        path = directory / f"{name}.png"
        try:
            driver.switch_to.default_content()
            driver.save_screenshot(str(path))
            (directory / f"{name}.html").write_text(driver.page_source)
            where = f"screenshot of the browser: {path} (page source next to it)"
        except Exception as shot_error:  # the browser itself may be gone
            where = f"no screenshot ({type(shot_error).__name__}: {shot_error})"
        raise AssertionError(f"{exc}\n{where}") from exc


def wait_until(driver: Any, condition: Callable[[Any], Any], what: str, timeout: float = 20) -> Any:
    try:
        return WebDriverWait(driver, timeout, poll_frequency=0.1).until(condition)
    except TimeoutException:
        raise AssertionError(f"waited {timeout} s for {what}") from None


def text_of(driver: Any, element_id: str) -> str:
    elements = driver.find_elements(By.ID, element_id)
    return elements[0].text.strip() if elements else ""


def wait_for_text(driver: Any, element_id: str, expected: str, **kwargs: Any) -> None:
    wait_until(
        driver,
        lambda d: text_of(d, element_id) == expected,
        f"#{element_id} to show {expected!r}",
        **kwargs,
    )


def enter_app_frame(driver: Any) -> None:
    """Switch into the app's iframe on the site's page."""
    frame = wait_until(
        driver, lambda d: d.find_elements(By.ID, "app-frame"), "the app's iframe on the site"
    )[0]
    driver.switch_to.frame(frame)


def wait_for_calls(driver: Any, count: int) -> None:
    """Wait until the app's page has shown ``count`` answers of /api/me."""
    wait_until(
        driver,
        lambda d: d.find_element(By.ID, "connect-me").get_attribute("data-calls") == str(count),
        f"/api/me answer number {count} (status: {text_of(driver, 'connect-me-status')!r})",
    )


# -- the sites -----------------------------------------------------------------------


@contextlib.contextmanager
def app_in_site(
    tmp_path: Path, host: ConnectHost, *, manage_py: Path | None = None, **env: str
) -> Iterator[None]:
    """Serve a project (default: the example project) on 127.0.0.1 and install it in ``host``."""
    extra_env = {
        "CONNECT_AP_JS_URL": host.all_js_url,
        "CONNECT_AUTHORIZATION_SERVER_URL": host.url,
        "CONNECT_ALLOWED_PRODUCT_HOSTS": "127.0.0.1",
        **env,
    }
    kwargs = {"manage_py": manage_py} if manage_py else {}
    app = start_example_app(tmp_path, host.keys_url, extra_env, **kwargs)
    try:
        host.install(f"{app.base_url}/atlassian-connect.json")
        yield
    finally:
        app.process.terminate()
        try:
            app.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            app.process.kill()


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ConnectHost]:
    """A simulated Jira site with the example project installed."""
    with ConnectHost() as host, app_in_site(tmp_path_factory.mktemp("browser"), host):
        yield host


class AnotherSite:
    """A page on another 127.0.0.1 port that opens the site's page and posts into it."""

    def __init__(self, target_url: str) -> None:
        page = ATTACKER_PAGE.replace("TARGET_URL", target_url).encode()

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                self.send_response(200)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.send_header("Content-Length", str(len(page)))
                self.end_headers()
                self.wfile.write(page)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


# It keeps posting, so its messages also arrive while the app's calls are pending:
# forged answers to the app's AP calls, and a forged AP call to the site's page.
ATTACKER_PAGE = """<!DOCTYPE html><html><head><title>another site</title></head><body>
<p>Another site on another port.</p>
<script>
  var site = window.open("TARGET_URL", "connect-site");
  var rounds = 0;
  setInterval(function () {
    site.postMessage({ap: "call", id: 1, method: "flag.create",
                      args: [{title: "forged flag", body: "posted by another origin", type: "error"}]}, "*");
    var app = site[0];
    if (app) {
      for (var id = 1; id <= 30; id++) {
        app.postMessage({ap: "result", id: id, ok: true, value: "forged-token"}, "*");
      }
      rounds += 1;
      document.title = "posted " + rounds;
    }
  }, 50);
</script></body></html>"""


# -- the example project ---------------------------------------------------------------


def test_hello_shows_the_account_that_api_me_returns(site, browser, tmp_path):
    with screenshot_on_failure(browser, tmp_path, "hello"):
        browser.get(f"{site.url}/?module=hello")
        signed_in = browser.find_element(By.ID, "signed-in-user")
        assert signed_in.get_attribute("data-account-id") == ALANA
        assert signed_in.text == "Alana Grant"
        enter_app_frame(browser)
        # /api/me, called with AP.context.getToken(), answered for the signed-in user
        wait_for_text(browser, "connect-me", ALANA)
        # AP.request, sent by the site to its REST API as that user
        wait_until(
            browser,
            lambda d: text_of(d, "connect-myself") == f"Alana Grant ({ALANA})",
            "the AP.request answer of /rest/api/3/myself",
        )
        content_height = browser.execute_script(
            "return Math.ceil(document.documentElement.getBoundingClientRect().height)"
        )
        browser.switch_to.default_content()
        # The bridge sized the iframe to the page (AP.resize), down from the site's default.
        wait_until(
            browser,
            lambda d: abs(d.find_element(By.ID, "app-frame").size["height"] - content_height) <= 2,
            f"the iframe to take the page's height, {content_height}px",
        )
        # AP.flag.create shows a flag in the site's page.
        flags = wait_until(
            browser, lambda d: d.find_elements(By.CSS_SELECTOR, "#flags .flag-success"), "a flag"
        )
        assert "Hello from Django" in flags[0].text and ALANA in flags[0].text

    proxied = [e for e in site.log if e.get("via") == "AP.request"]
    assert proxied[-1]["path"] == "/rest/api/3/myself"
    assert (proxied[-1]["status"], proxied[-1]["account_id"]) == (200, ALANA)
    assert site.context_tokens[-1].account_id == ALANA


def test_the_token_is_the_signed_in_users(site, browser, tmp_path):
    with screenshot_on_failure(browser, tmp_path, "hello-boris"):
        browser.get(f"{site.url}/?module=hello&user={BORIS}")
        enter_app_frame(browser)
        wait_for_text(browser, "connect-me", BORIS)
        wait_until(
            browser,
            lambda d: text_of(d, "connect-myself") == f"Boris Petrov ({BORIS})",
            "the AP.request answer as Boris",
        )


def test_the_page_asks_for_a_fresh_token_after_the_first_expired(site, browser, tmp_path):
    site.context_token_lifetime = 3
    try:
        with screenshot_on_failure(browser, tmp_path, "token-refresh"):
            before = len(site.context_tokens)
            browser.get(f"{site.url}/?module=hello")
            enter_app_frame(browser)
            wait_for_text(browser, "connect-me", ALANA)
            wait_for_calls(browser, 1)
            first = site.context_tokens[before]
            assert first.expires_at - first.issued_at == 3
            time.sleep(max(0.0, first.expires_at - time.time()) + 1.2)
            # The page asks AP again for its next call; the site hands out a new token.
            browser.find_element(By.ID, "connect-me-refresh").click()
            wait_for_calls(browser, 2)
            assert text_of(browser, "connect-me") == ALANA
            minted = site.context_tokens[before:]
            assert len(minted) == 2, minted
            assert minted[1].issued_at >= minted[0].expires_at
            assert minted[1].token != minted[0].token
    finally:
        site.context_token_lifetime = 900


def test_messages_from_another_origin_are_ignored(site, browser, tmp_path):
    other = AnotherSite(f"{site.url}/?module=hello")
    try:
        with screenshot_on_failure(browser, tmp_path, "foreign-origin"):
            browser.get(other.url)
            wait_until(browser, lambda d: len(d.window_handles) == 2, "the site's window to open")
            opener = browser.current_window_handle
            wait_until(
                browser,
                lambda d: d.title.startswith("posted "),
                "the other site to post into the app",
            )
            browser.switch_to.window(next(h for h in browser.window_handles if h != opener))
            enter_app_frame(browser)
            wait_for_text(browser, "connect-me", ALANA)
            wait_until(
                browser,
                lambda d: d.execute_script("return AP._ignoredMessages") > 0,
                "the app's bridge to ignore the other origin's messages",
            )
            # A call made while forged answers keep arriving gets the site's real answer.
            browser.find_element(By.ID, "connect-me-refresh").click()
            wait_for_calls(browser, 2)
            assert text_of(browser, "connect-me") == ALANA
            assert "failed" not in text_of(browser, "connect-me-status")
            browser.switch_to.default_content()
            wait_until(
                browser,
                lambda d: (
                    int(
                        d.find_element(By.TAG_NAME, "body").get_attribute("data-ignored-messages")
                        or 0
                    )
                    > 0
                ),
                "the site's page to ignore the other origin's AP calls",
            )
            assert "forged flag" not in browser.find_element(By.ID, "flags").text
            warnings = " ".join(entry["message"] for entry in browser.get_log("browser"))
            assert f"ignored a message from {other.url}" in warnings
    finally:
        other.close()


# -- the quick start ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def quickstart_site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ConnectHost]:
    """The quick start's project, its views and template taken from the docs, in a site."""
    tmp = tmp_path_factory.mktemp("quickstart")
    project = tmp / "project"
    shutil.copytree(QUICKSTART, project)
    blocks = code_blocks(QUICKSTART_DOC)
    assert {"views.py", "templates/hello.html"} <= blocks.keys(), sorted(blocks)
    (project / "quickstart" / "views.py").write_text(blocks["views.py"])
    (project / "templates").mkdir()
    (project / "templates" / "hello.html").write_text(blocks["templates/hello.html"])
    with (
        ConnectHost() as host,
        app_in_site(
            tmp,
            host,
            manage_py=project / "manage.py",
            DATABASE_URL=f"sqlite:///{tmp / 'quickstart.sqlite3'}",
        ),
    ):
        yield host


def test_the_quick_start_app_in_the_site(quickstart_site, browser, tmp_path):
    with screenshot_on_failure(browser, tmp_path, "quickstart"):
        browser.get(f"{quickstart_site.url}/?module=hello")
        enter_app_frame(browser)
        wait_for_text(browser, "greeting", f"Hello, {ALANA} on {quickstart_site.base_url}.")
        wait_for_text(browser, "me", ALANA)
