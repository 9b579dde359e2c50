"""Every session of a process draws its connections from one set of keep-alive pools."""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from django_atlassian_connect.http import new_session, pools
from django_atlassian_connect.http.sessions import RateLimitedSession


class KeepAlive(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self):
        body = b'{"ok": true}'
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("X-RateLimit-Remaining", "10")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


class CountingServer(ThreadingHTTPServer):
    daemon_threads = True
    connections = 0

    def get_request(self):
        self.connections += 1
        return super().get_request()


@pytest.fixture
def server():
    pools.clear_pools()
    httpd = CountingServer(("127.0.0.1", 0), KeepAlive)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield httpd
    httpd.shutdown()
    httpd.server_close()
    pools.clear_pools()


def url(server) -> str:
    return f"http://127.0.0.1:{server.server_address[1]}/rest/api/3/myself"


def test_fresh_sessions_reuse_one_connection(server):
    for _ in range(20):
        session = new_session()
        assert session.get(url(server)).json() == {"ok": True}
        session.close()  # closing a session leaves the shared pool open
    assert server.connections == 1


def test_each_session_keeps_its_own_retry_policy_and_observer(server):
    seen: list[str] = []

    class Recording(RateLimitedSession):
        rate_limit_key = "jira:pooled"

        def record_rate_limit(self, headers, status):
            seen.append(headers.get("X-RateLimit-Remaining"))

    first, second = Recording(), new_session(retry_methods={"POST"})
    first.get(url(server))
    second.get(url(server))
    assert seen == ["10"]  # only the recording session saw its answer
    assert first.adapters["http://"].max_retries is not second.adapters["http://"].max_retries
    assert server.connections == 1


def test_pool_size_follows_the_setting(server, settings):
    settings.ATLASSIAN_CONNECT = {**settings.ATLASSIAN_CONNECT, "HTTP_POOL_MAXSIZE": 3}
    manager = pools.shared_pool_manager()
    assert manager.connection_pool_kw["maxsize"] == 3
    settings.ATLASSIAN_CONNECT = {**settings.ATLASSIAN_CONNECT, "HTTP_POOL_MAXSIZE": 7}
    assert pools.shared_pool_manager().connection_pool_kw["maxsize"] == 7


def test_a_forked_child_never_uses_its_parents_sockets(server, monkeypatch):
    parent = pools.shared_pool_manager()
    new_session().get(url(server))
    monkeypatch.setattr(pools.os, "getpid", lambda: -1)  # as after os.fork()
    child = pools.shared_pool_manager()
    assert child is not parent
    new_session().get(url(server))
    assert server.connections == 2
