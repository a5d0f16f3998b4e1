"""The Content-Security-Policy in a real browser: the web client runs under it (every
test here fails on anything it refuses, see conftest.py), and what an injected script or
a framing page would do is refused."""

from __future__ import annotations

from typing import Any

from tests.web.conftest import WebServer


def test_an_injected_inline_script_does_not_run(logged_in_page: Any,
                                                csp_refusals: list[str]) -> None:
    ran = logged_in_page.evaluate("""() => {
      const s = document.createElement('script');
      s.textContent = 'window.injected = true';
      document.body.appendChild(s);
      return window.injected === true;
    }""")
    assert not ran
    assert any("script-src" in refusal for refusal in csp_refusals)
    csp_refusals.clear()  # refused on purpose


def test_another_page_cannot_frame_the_client(page: Any, web_server: WebServer,
                                              csp_refusals: list[str]) -> None:
    page.set_content(f'<iframe id="f" src="{web_server.url}/"></iframe>')
    page.wait_for_timeout(1000)
    frame = page.frame_locator("#f")
    assert frame.locator("#login-view").count() == 0  # the frame stays empty
    csp_refusals.clear()  # the refusal is the point
