"""The web client's files are served as they are, without a key (they hold no data)."""

from __future__ import annotations

import re

import httpx

from hearth.api.app import WEB_DIR
from tests.utils.live import ThreadServer


def test_root_serves_the_page_and_its_modules(server: ThreadServer) -> None:
    page = httpx.get(server.url + "/")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert '<script type="module" src="/web/app.js">' in page.text
    assert 'id="login-name"' in page.text and 'id="messages"' in page.text

    modules = sorted(p.name for p in WEB_DIR.glob("*.js"))
    assert {"api.js", "app.js", "chat.js", "characters.js", "memory.js"} <= set(modules)
    for name in modules:
        r = httpx.get(f"{server.url}/web/{name}")
        assert r.status_code == 200, name
        assert r.headers["content-type"].split(";")[0] in {"text/javascript",
                                                           "application/javascript"}, name
        # Every module a module imports is served too (no build step resolves them).
        for imported in re.findall(r"from '\./([\w-]+\.js)'", r.text):
            assert (WEB_DIR / imported).is_file(), (name, imported)

    css = httpx.get(server.url + "/web/style.css")
    assert css.status_code == 200 and css.headers["content-type"].startswith("text/css")


def test_missing_web_file_is_a_json_404_and_no_path_escapes(server: ThreadServer) -> None:
    r = httpx.get(server.url + "/web/nothing-here.js")
    assert r.status_code == 404
    assert r.json()["error"]["code"] == "not_found"
    r = httpx.get(server.url + "/web/..%2f..%2fapi%2fapp.py")
    assert r.status_code == 404


def test_the_page_is_not_in_the_api_schema(server: ThreadServer) -> None:
    paths = httpx.get(server.url + "/openapi.json").json()["paths"]
    assert "/" not in paths and not any(p.startswith("/web") for p in paths)
