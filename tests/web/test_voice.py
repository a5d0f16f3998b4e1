"""A voice call in the browser: Chromium's fake microphone says a Piper sentence, the page
streams it to /api/voice, shows the transcript, plays the reply and shows the latency;
push-to-talk, cutting the reply short, a dropped socket, and a denied microphone.

Everything but the microphone and speaker is real: the page's call.js and its audio
worklet, the server's VAD, Whisper, the chat model and Piper. Playwright routes the
socket only where a test drops it.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from tests.utils.speech import word_error_rate
from tests.web.conftest import WebServer, chromium_path, log_in

TURN_SECONDS = 180  # a whole turn on two shared CPU cores: STT, a short reply, TTS


def wait_until(page: Any, check: Callable[[], Any], timeout: float,
               what: str | Callable[[], str]) -> Any:
    """Poll `check` until it holds, waiting in Playwright (routed sockets relay meanwhile)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if result := check():
            return result
        page.wait_for_timeout(100)
    raise AssertionError(f"timed out waiting for {what if isinstance(what, str) else what()}")


@pytest.fixture()
def api(web_server: WebServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=web_server.url, timeout=60,
                      headers={"Authorization": f"Bearer {web_server.token}"}) as client:
        yield client


@pytest.fixture(scope="module")
def character(web_server: WebServer) -> int:
    """A character of the voice tests' own (other tests edit theirs): talkative, so that
    there is a reply long enough to talk over."""
    r = httpx.post(web_server.url + "/api/characters", json={
        "name": "Professor Lark",
        "description": "An old librarian who talks at length about books and their authors.",
        "first_mes": "Ah, a visitor! Ask me about any book and I will tell you all about it.",
    }, headers={"Authorization": f"Bearer {web_server.token}"}, timeout=60)
    assert r.status_code == 201, r.text
    return int(r.json()["id"])


@pytest.fixture()
def conversation(api: httpx.Client, character: int) -> int:
    r = api.post("/api/conversations", json={"character_id": character})
    assert r.status_code == 201, r.text
    return int(r.json()["id"])


def open_chat(page: Any, web_server: WebServer, conversation: int) -> None:
    page.goto(f"{web_server.url}/#/chat/{conversation}")
    # As long as the call waits below: on a busy box the three loads can take a while.
    page.wait_for_selector("#chat-view:not([hidden]) #composer-input", timeout=60_000)


def spoken_message(page: Any, sentence: str) -> str | None:
    """The user message that says `sentence` (as Whisper heard it), if the page shows one."""
    for text in page.locator('#messages .message[data-role="user"] .content').all_inner_texts():
        if word_error_rate(sentence, text) <= 0.5:
            return str(text)
    return None


def test_a_spoken_turn_shows_the_transcript_and_plays_the_reply(
    logged_in_page: Any, web_server: WebServer, conversation: int, spoken_sentence: str,
    api: httpx.Client,
) -> None:
    page = logged_in_page
    open_chat(page, web_server, conversation)
    replies = page.locator('#messages .message[data-role="assistant"]')
    before = replies.count()  # the character's greeting, if it has one
    status = page.locator("#call-status")
    state = lambda: status.get_attribute("data-state")  # noqa: E731

    page.click("#call")
    wait_until(page, lambda: state() not in (None, "connecting", "closed"), 30,
               "the call to connect")
    heard = wait_until(page, lambda: spoken_message(page, spoken_sentence), TURN_SECONDS,
                       "the spoken sentence as a user message")
    played = wait_until(page, lambda: int(status.get_attribute("data-played-ms") or 0),
                        TURN_SECONDS, "the reply to play (#call-status data-played-ms)")
    assert played > 0
    latency = page.locator("#call-latency")
    wait_until(page, lambda: re.fullmatch(r"\d+ ms", latency.inner_text().strip()),
               TURN_SECONDS, "the turn's latency in #call-latency")
    wait_until(page, lambda: replies.count() > before, 30, "the reply as an assistant message")

    # What the page showed is what the server stored.
    stored = api.get(f"/api/conversations/{conversation}/messages").json()
    assert [m["content"] for m in stored if m["role"] == "user"] == [heard], stored
    assert stored[-1]["role"] == "assistant" and stored[-1]["content"].strip(), stored
    page.click("#call")  # end the call
    assert state() == "closed"


def test_push_to_talk_talking_over_the_reply_and_a_dropped_connection(
    logged_in_page: Any, web_server: WebServer, conversation: int, spoken_sentence: str,
    api: httpx.Client,
) -> None:
    page = logged_in_page
    sockets: list[Any] = []  # the page's voice sockets, routed through Playwright

    def route(ws: Any) -> None:
        sockets.append(ws)
        if len(sockets) == 1:
            ws.connect_to_server()  # the second waits: the test looks at "reconnecting" first

    page.route_web_socket(re.compile(r"/api/voice\?"), route)
    open_chat(page, web_server, conversation)
    status = page.locator("#call-status")
    state = lambda: status.get_attribute("data-state")  # noqa: E731
    played = lambda: int(status.get_attribute("data-played-ms") or 0)  # noqa: E731
    ptt = page.locator("#ptt")

    # Hold the button while the fake microphone says its sentence, then let go.
    ptt.hover()
    page.mouse.down()
    wait_until(page, lambda: state() in ("hearing", "thinking"), 30, "the server to hear speech")
    page.wait_for_timeout(2500)  # the rest of the sentence
    page.mouse.up()
    wait_until(page, lambda: spoken_message(page, spoken_sentence), TURN_SECONDS,
               "the spoken sentence as a user message")

    # Pressing the button while she speaks cuts her off: the page stops playing at once
    # and the server keeps only what was heard.
    wait_until(page, lambda: state() == "speaking" and played() >= 1000, TURN_SECONDS,
               "a second of the reply to play, and more to come")
    page.mouse.down()
    wait_until(page, lambda: state() != "speaking", 1, "the reply to stop at once")
    cut_at = played()
    page.wait_for_timeout(1000)
    assert played() == cut_at, "the reply kept playing after it was interrupted"
    page.mouse.up()
    stored = lambda: api.get(f"/api/conversations/{conversation}/messages").json()  # noqa: E731
    wait_until(page, lambda: stored()[-1]["status"] == "interrupted", 30,
               lambda: f"the reply stored as interrupted: {stored()}")
    assert stored()[-1]["role"] == "assistant" and stored()[-1]["content"].strip()

    # The network drops: the page says so and reconnects by itself.
    sockets[0].close(code=1001, reason="network gone")
    wait_until(page, lambda: state() == "reconnecting", 10, "the call to reconnect")
    assert "reconnecting" in page.locator("#status").inner_text().lower()
    wait_until(page, lambda: len(sockets) == 2, 10, "a new socket")
    sockets[1].connect_to_server()
    wait_until(page, lambda: state() == "listening", 30, "the call to be back")
    assert "reconnecting" not in page.locator("#status").inner_text().lower()
    page.click("#call")
    assert state() == "closed"


@pytest.fixture()
def mic_denied_page(playwright: Any, fake_microphone_wav: Any) -> Iterator[Any]:
    """A browser that asks before giving the microphone; its context never allows it."""
    browser = playwright.chromium.launch(
        executable_path=chromium_path(), args=["--use-fake-device-for-media-stream"])
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    context.set_default_timeout(15_000)
    yield context.new_page()
    browser.close()


def test_a_denied_microphone_says_so_and_ends_the_call(
    mic_denied_page: Any, web_server: WebServer, conversation: int
) -> None:
    page = mic_denied_page
    log_in(page, web_server)
    open_chat(page, web_server, conversation)
    page.click("#call")
    status = page.locator("#status")
    wait_until(page, lambda: "denied" in status.inner_text().lower(), 15, "the denial in #status")
    assert "microphone" in status.inner_text().lower()
    assert page.locator("#call-status").get_attribute("data-state") == "closed"
