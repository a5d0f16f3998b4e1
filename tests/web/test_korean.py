"""The web client in Korean, in a real browser: the profile's language picks the page's
strings and <html lang>, the browser's language is used before sign-in, and an Enter that
completes a Hangul syllable (IME composition) never sends a message or saves a fact."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.web.conftest import WebServer

pytestmark = pytest.mark.usefixtures("no_page_errors")

NAME, PASSWORD = "지민", "지민의 아주 긴 비밀번호"

# Records the API writes the page starts (fetch is called before the page's first await,
# so a write shows here as soon as the event that caused it has been handled).
WATCH_WRITES = """() => {
  window.writes = [];
  const fetch = window.fetch;
  window.fetch = (path, init = {}) => {
    if (init.method && init.method !== 'GET') window.writes.push(`${init.method} ${path}`);
    return fetch(path, init);
  };
}"""

# What a Korean IME sends while "안" is being composed and then completed with Enter:
# Chromium and Firefox flag the keydown (isComposing); Safari sends keyCode 229 after
# compositionend with isComposing false; some keyboards send a plain Enter keydown while
# the composition is still open. Returns the writes started by any of them.
COMPOSE_AND_ENTER = """(selector) => {
  const box = document.querySelector(selector);
  box.focus();
  const key = (init, keyCode) => {
    const event = new KeyboardEvent('keydown', { key: 'Enter', code: 'Enter', bubbles: true,
      cancelable: true, ...init });
    Object.defineProperty(event, 'keyCode', { get: () => keyCode });
    box.dispatchEvent(event);
  };
  box.dispatchEvent(new CompositionEvent('compositionstart', { bubbles: true, data: '' }));
  key({ isComposing: false }, 13);  // during composition, unflagged
  key({ isComposing: true }, 229);  // Chromium, Firefox
  box.dispatchEvent(new CompositionEvent('compositionend', { bubbles: true, data: '안' }));
  key({ isComposing: false }, 229);  // Safari: after compositionend, keyCode 229
  return window.writes.slice();
}"""


@pytest.fixture(scope="module")
def korean(web_server: WebServer) -> str:
    """A member of the household whose profile says Korean; returns their token."""
    _, token = web_server.services.accounts.add_member(NAME, PASSWORD)
    with httpx.Client(base_url=web_server.url, headers={"Authorization": f"Bearer {token}"},
                      timeout=60) as client:
        client.patch("/api/me", json={"language": "ko"}).raise_for_status()
    return token


def log_in_korean(page: Any, web_server: WebServer) -> None:
    page.goto(web_server.url + "/")
    page.fill("#login-name", NAME)
    page.fill("#login-password", PASSWORD)
    page.click("#login-submit")
    page.wait_for_selector("#characters .character[data-id]")


def open_ember(page: Any) -> None:
    page.click("#characters .character:has-text('Ember') .pick")
    page.wait_for_url(re.compile(r"#/chat/\d+$"))
    page.wait_for_selector("#messages .message[data-role='assistant']")


def test_the_page_speaks_the_profile_language(page: Any, web_server: WebServer, korean: str,
                                              tmp_path: Path) -> None:
    log_in_korean(page, web_server)
    assert page.evaluate("document.documentElement.lang") == "ko"
    assert page.locator("#home-title").inner_text() == "캐릭터"
    assert page.locator("#new-character").inner_text() == "새 캐릭터"
    assert page.locator("#logout").inner_text() == "로그아웃"
    # Korean lines break between words, not inside them.
    assert page.evaluate("getComputedStyle(document.body).wordBreak") == "keep-all"

    open_ember(page)
    assert page.locator("#send").inner_text() == "보내기"
    assert "메시지" in page.locator("#composer-input").get_attribute("placeholder")
    assert page.locator("#memory-title").inner_text() == "Ember이(가) 기억하는 나"
    assert page.locator("#call").inner_text() == "통화 시작"
    greeting = page.locator("#messages .message[data-role='assistant']").first
    assert greeting.locator(".actions .edit").inner_text() == "수정"
    # Seen by eye when this runs with --basetemp: Hangul drawn, not boxes (fonts-nanum).
    page.screenshot(path=str(tmp_path / "chat-korean.png"))

    page.goto(web_server.url + "/#/profile")
    page.wait_for_selector("#profile-view", state="visible")
    assert page.locator("#profile-title").inner_text() == "내 프로필"
    assert page.locator("#p-language").input_value() == "ko"


def test_before_sign_in_the_browser_language_is_used(browser: Any, web_server: WebServer) -> None:
    context = browser.new_context(locale="ko-KR")
    try:
        page = context.new_page()
        page.goto(web_server.url + "/")
        page.wait_for_selector("#login-name", state="visible")
        assert page.evaluate("document.documentElement.lang") == "ko"
        assert page.locator("#login-title").inner_text() == "로그인"
        assert page.locator("#login-submit").inner_text() == "로그인"
    finally:
        context.close()


def test_english_stays_english(logged_in_page: Any) -> None:
    page = logged_in_page  # the owner: no language chosen, an English browser
    assert page.evaluate("document.documentElement.lang") == "en"
    assert page.locator("#home-title").inner_text() == "Characters"
    assert page.evaluate("getComputedStyle(document.body).wordBreak") == "normal"


def test_enter_that_completes_a_syllable_does_not_send(page: Any, web_server: WebServer,
                                                       korean: str) -> None:
    log_in_korean(page, web_server)
    open_ember(page)
    conversation = page.url.rsplit("/", 1)[1]
    page.evaluate(WATCH_WRITES)
    page.fill("#composer-input", "안녕하세요")

    assert page.evaluate(COMPOSE_AND_ENTER, "#composer-input") == []
    assert page.locator("#composer-input").input_value() == "안녕하세요"
    assert page.locator("#messages [data-pending]").count() == 0

    # A real Enter, with no composition open, sends.
    page.keyboard.press("Enter")
    page.wait_for_selector("#messages [data-streaming]", state="detached", timeout=120_000)
    assert page.evaluate("window.writes") == [f"POST /api/conversations/{conversation}/messages"]
    with httpx.Client(base_url=web_server.url, headers={"Authorization": f"Bearer {korean}"},
                      timeout=60) as client:
        stored = client.get(f"/api/conversations/{conversation}/messages").json()
    assert [m["content"] for m in stored if m["role"] == "user"] == ["안녕하세요"]


def test_enter_that_completes_a_syllable_does_not_save_a_fact(page: Any, web_server: WebServer,
                                                              korean: str) -> None:
    with httpx.Client(base_url=web_server.url, headers={"Authorization": f"Bearer {korean}"},
                      timeout=60) as client:
        ember = next(c for c in client.get("/api/characters").json() if c["name"] == "Ember")
        fact = client.post("/api/facts", json={"character_id": ember["id"],
                                               "text": "Lives in 부산."}).json()
    log_in_korean(page, web_server)
    open_ember(page)
    item = page.locator(f"#facts .fact[data-id='{fact['id']}']")
    item.locator(".fact-edit").click()
    item.locator(".fact-input").fill("Lives in 서울.")
    page.evaluate(WATCH_WRITES)

    assert page.evaluate(COMPOSE_AND_ENTER, f".fact[data-id='{fact['id']}'] .fact-input") == []
    assert item.locator(".fact-input").input_value() == "Lives in 서울."

    item.locator(".fact-input").press("Enter")
    item.locator(".fact-text", has_text="서울").wait_for()
    assert page.evaluate("window.writes") == [f"PATCH /api/facts/{fact['id']}"]
    with httpx.Client(base_url=web_server.url, headers={"Authorization": f"Bearer {korean}"},
                      timeout=60) as client:
        texts = {f["id"]: f["text"] for f in client.get("/api/facts").json()}
    assert texts[fact["id"]] == "Lives in 서울."
