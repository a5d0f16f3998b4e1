"""Browser tests: Debian's Chromium, driven headless by Playwright, against a live server.

No browser is downloaded: Playwright starts the system Chromium (`make setup` installs it
with apt). Chromium's fake microphone plays a WAV made by Piper, once, so a call in the
page hears a real spoken sentence. Where Chromium or Playwright is missing, every test
here is skipped with the reason (`pytest -ra` lists it).
"""

from __future__ import annotations

import shutil
import wave
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest

from hearth.api.app import create_app
from hearth.engines.embed import MiniLMEmbedder
from hearth.engines.llm import LlamaModel, ModelOwner
from hearth.services import Services
from tests.conftest import make_settings
from tests.utils.live import ThreadServer
from tests.utils.speech import RATE, SpeechMaker, pcm16, silence

# A story request: its reply runs for seconds, which the talking-over test needs (a
# plain question's greedy reply can be under a second, depending on the cache state).
SPOKEN_SENTENCE = "Tell me a long story about a brave little fox."
LAPTOP = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}


@dataclass
class WebServer:
    url: str
    owner_name: str
    owner_password: str
    token: str
    services: Services


def chromium_path() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.fixture(scope="session")
def web_server(llama: LlamaModel, embedder: MiniLMEmbedder,
               tmp_path_factory: pytest.TempPathFactory) -> Iterator[WebServer]:
    """A live server with its own data dir and an owner account (state accumulates)."""
    settings = make_settings(tmp_path_factory.mktemp("web-data"), max_reply_tokens=48)
    services = Services.start(settings, model=ModelOwner(llama, queue_size=4), embedder=embedder)
    name, password = "Olive", "olive's long password"
    _, token = services.accounts.init_owner(name, password)
    with ThreadServer(create_app(settings, services)) as live:
        yield WebServer(live.url, name, password, token, services)
    services.close()


@pytest.fixture(scope="session")
def spoken_sentence() -> str:
    """What the fake microphone says, once, a second after a call opens it."""
    return SPOKEN_SENTENCE


@pytest.fixture(scope="session")
def fake_microphone_wav(speech: SpeechMaker, spoken_sentence: str,
                        tmp_path_factory: pytest.TempPathFactory) -> Path:
    # Silence after the sentence ends the turn (voice.silence_ms); Chromium plays the
    # file once ("%noloop" below) and silence after it, so the user does not talk
    # over the reply. A call buffers what it hears while its socket opens.
    audio = np.concatenate([silence(1.0), speech(spoken_sentence).audio, silence(1.5)])
    path = tmp_path_factory.mktemp("web-audio") / "spoken.wav"
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(RATE)
        w.writeframes(pcm16(audio).tobytes())
    return path


# Module-scoped, not session-scoped: while Playwright's sync API is open, the main
# thread counts as inside its event loop, so `asyncio.run` in any other test would fail.
@pytest.fixture(scope="module")
def playwright() -> Iterator[Any]:
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.skip("Playwright for Python is not installed: pip install -e '.[test]'")
    if chromium_path() is None:
        pytest.skip("Chromium is not installed: run `make setup` as root, or "
                    "`sudo apt-get install chromium` (Debian) / chromium-browser (Ubuntu)")
    with sync_playwright() as p:
        yield p


@pytest.fixture(scope="module")
def browser(playwright: Any, fake_microphone_wav: Path) -> Iterator[Any]:
    """Headless system Chromium whose microphone (allowed without asking) plays the WAV."""
    browser = playwright.chromium.launch(
        executable_path=chromium_path(),
        args=["--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream",
              f"--use-file-for-fake-audio-capture={fake_microphone_wav}%noloop",
              "--autoplay-policy=no-user-gesture-required"],
    )
    yield browser
    browser.close()


@pytest.fixture()
def viewport() -> dict[str, int]:
    """Laptop size; a test overrides this fixture (or parametrises it) for phone size."""
    return LAPTOP


@pytest.fixture()
def csp_refusals() -> list[str]:
    """What the page's Content-Security-Policy refused (Chromium says so on its console)."""
    return []


@pytest.fixture()
def page(browser: Any, viewport: dict[str, int], csp_refusals: list[str]) -> Iterator[Any]:
    """A fresh context (no cookies) and page; uncaught page errors show with a failure,
    and anything the page's Content-Security-Policy refused fails the test."""
    context = browser.new_context(viewport=viewport)
    context.set_default_timeout(15_000)
    page = context.new_page()
    page.on("pageerror", lambda e: print(f"page error: {e}"))  # noqa: T201 - shown on failure
    page.on("console", lambda m: csp_refusals.append(m.text)
            if "Content Security Policy" in m.text else None)
    yield page
    context.close()
    assert not csp_refusals, f"the web client broke its own policy: {csp_refusals}"


def log_in(page: Any, web_server: WebServer) -> None:
    """Open the web client and log in as the owner through the login form."""
    page.goto(web_server.url + "/")
    page.fill("#login-name", web_server.owner_name)
    page.fill("#login-password", web_server.owner_password)
    page.click("#login-submit")
    page.wait_for_selector("#characters", state="visible")


@pytest.fixture()
def logged_in_page(page: Any, web_server: WebServer) -> Any:
    """`page` at the web client, logged in as the owner (the gallery is showing)."""
    log_in(page, web_server)
    return page


@pytest.fixture()
def no_page_errors(page: Any) -> Iterator[None]:
    """Fail the test on an uncaught error in the page's scripts (a module opts in)."""
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    yield
    assert not errors


def api(web_server: WebServer) -> httpx.Client:
    """An API client with the web server's owner token."""
    return httpx.Client(base_url=web_server.url, timeout=120,
                        headers={"Authorization": f"Bearer {web_server.token}"})
