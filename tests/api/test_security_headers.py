"""Every answer tells the browser what the web client may do: scripts, styles and
sockets from this server only, no sniffing of content types, and no framing by another
page (clickjacking). The page itself still works: tests/web run it under this policy."""

from __future__ import annotations

import httpx
import pytest

from tests.utils.live import ThreadServer

PATHS = ["/", "/web/app.js", "/web/style.css", "/api/characters/1/avatar", "/api/health",
         "/api/characters", "/api/nothing-here"]


@pytest.mark.parametrize("path", PATHS)
def test_every_answer_carries_the_headers(client: httpx.Client, path: str) -> None:
    headers = client.get(path).headers
    assert headers["x-content-type-options"] == "nosniff"
    assert headers["x-frame-options"] == "DENY"
    policy = dict(d.strip().split(" ", 1) for d in headers["content-security-policy"].split(";"))
    assert policy["frame-ancestors"] == "'none'"
    assert policy["default-src"] == policy["script-src"] == policy["style-src"] == "'self'"
    assert policy["object-src"] == "'none'"


def test_the_page_may_open_its_own_socket_only(client: httpx.Client,
                                               server: ThreadServer) -> None:
    policy = client.get("/").headers["content-security-policy"]
    connect = next(d for d in policy.split(";") if d.strip().startswith("connect-src"))
    host = f"127.0.0.1:{server.port}"
    assert connect.split()[1:] == ["'self'", f"ws://{host}", f"wss://{host}"]


def test_refusals_carry_them_too(client: httpx.Client) -> None:
    r = client.post("/api/characters", json={"name": "x"},
                    headers={"Origin": "http://evil.example"})
    assert r.status_code == 403 and r.headers["x-frame-options"] == "DENY"
    r = client.get("/", headers={"Host": "evil.example\";script-src *"})
    assert r.status_code == 400 and "evil" not in r.headers["content-security-policy"]
