"""The web client in a real browser (headless Chromium) against a live server: log in, the
gallery, importing and editing a card, a streamed chat with swipes and edits, the facts, and
"why did she say that?". The model is tiny, so these assert structure, never wording."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from hearth.api.app import create_app
from hearth.engines.embed import MiniLMEmbedder
from hearth.engines.llm import LlamaModel, ModelOwner
from hearth.services import Services
from tests.conftest import make_settings
from tests.utils.cards import card_chunks, rich_v2_data, rich_v3_data, text_chunk, tiny_png
from tests.utils.live import ThreadServer
from tests.web.conftest import PHONE, WebServer, api

# Every test here also fails on an uncaught error in the page's scripts.
pytestmark = pytest.mark.usefixtures("no_page_errors")

# Records, in the page, whether a reply's text showed while it was still streaming.
WATCH_STREAMING = """() => {
  window.sawStreamedText = false;
  new MutationObserver(() => {
    const writing = document.querySelector('#messages [data-streaming="true"] .content');
    if (writing && writing.textContent.length > 0) window.sawStreamedText = true;
  }).observe(document.getElementById('messages'),
             {childList: true, subtree: true, characterData: true});
}"""


def open_chat(page: Any, name: str = "Ember") -> int:
    """Click a character in the gallery; returns the conversation that opens."""
    page.click(f"#characters .character:has-text('{name}') .pick")
    page.wait_for_url(re.compile(r"#/chat/\d+$"))
    page.wait_for_selector("#messages .message[data-role='assistant']")
    return int(page.url.rsplit("/", 1)[1])


def send(page: Any, text: str) -> None:
    """Send a message and wait for the streamed reply to be stored."""
    page.evaluate(WATCH_STREAMING)
    page.fill("#composer-input", text)
    page.click("#send")
    page.wait_for_selector("#messages [data-streaming='true']", state="attached")
    page.wait_for_selector("#messages [data-streaming]", state="detached", timeout=120_000)
    assert page.evaluate("window.sawStreamedText"), "no text showed before the reply was stored"


def test_login_refuses_a_wrong_password_then_signs_in(page: Any, web_server: WebServer) -> None:
    page.goto(web_server.url + "/")
    page.fill("#login-name", web_server.owner_name)
    page.fill("#login-password", "not the password")
    page.click("#login-submit")
    alert = page.locator("#login-view [role='alert']")
    alert.filter(has_text=re.compile(r"\w")).wait_for()
    assert page.locator("#characters").is_hidden()

    page.fill("#login-password", web_server.owner_password)
    page.click("#login-submit")
    page.wait_for_selector("#characters .character[data-id]")
    assert page.locator("#me").inner_text() == web_server.owner_name
    cookies = {c["name"]: c for c in page.context.cookies()}
    assert cookies["hearth_session"]["httpOnly"]

    # A reload keeps the session; logging out ends it.
    page.reload()
    page.wait_for_selector("#characters .character[data-id]")
    page.click("#logout")
    page.wait_for_selector("#login-name", state="visible")


def test_import_edit_and_export_a_card(logged_in_page: Any, web_server: WebServer,
                                       tmp_path: Path) -> None:
    page = logged_in_page
    data = {**rich_v2_data(), "name": "Mira Web"}
    card = tmp_path / "mira.png"
    card.write_bytes(tiny_png(text_chunk("chara", {"spec": "chara_card_v2",
                                                    "spec_version": "2.0", "data": data})))
    page.set_input_files("#import-file", str(card))
    tile = page.locator("#characters .character", has_text="Mira Web")
    tile.wait_for()
    character_id = int(tile.get_attribute("data-id"))

    tile.locator(".edit-card").click()
    form = page.locator("#character-form")
    form.wait_for()
    assert page.input_value("#character-form [name=description]") == data["description"]
    assert page.input_value("#character-form [name=first_mes]") == data["first_mes"]
    assert page.locator("#lorebook .entry").count() == 2
    assert page.input_value("#lorebook .entry >> nth=1 >> .entry-keys") == "storm, rain"

    page.fill("#character-form [name=personality]", "patient and precise")
    page.fill("#lorebook .entry >> nth=0 >> .entry-content", "It is very old.")
    page.click("#add-entry")
    page.fill("#lorebook .entry >> nth=2 >> .entry-keys", "harbour")
    page.fill("#lorebook .entry >> nth=2 >> .entry-content", "The harbour freezes in winter.")
    page.select_option("#character-form [name=voice]", "en_US-joe-medium")
    page.fill("#character-form [name=speed]", "1.2")
    page.click("#save-character")
    page.locator("#status", has_text="Saved").wait_for()

    with api(web_server) as client:
        stored = client.get(f"/api/characters/{character_id}").json()["data"]
    assert stored["personality"] == "patient and precise"
    entries = stored["character_book"]["entries"]
    assert [e["keys"] for e in entries] == [["lighthouse"], ["storm", "rain"], ["harbour"]]
    assert entries[0]["content"] == "It is very old."
    assert entries[1]["secondary_keys"] == ["sea"]  # fields the editor does not show are kept
    assert stored["extensions"]["hearth"]["voice"] == {"name": "en_US-joe-medium", "speed": 1.2}
    assert stored["extensions"]["fav"] is True

    # "Hear it" plays the voice's preview from the server.
    with page.expect_response(re.compile(r"/api/voices/en_US-joe-medium/preview")) as preview:
        page.click("#hear-voice")
    assert preview.value.status == 200
    assert preview.value.headers["content-type"] == "audio/wav"

    href = page.get_attribute("#export-character", "href")
    exported = page.request.get(web_server.url + href)  # the page's cookie authenticates it
    assert exported.status == 200
    assert card_chunks(exported.body())["ccv3"]["data"]["personality"] == "patient and precise"


def test_the_editor_shows_a_lorebook_key_that_was_turned_off(logged_in_page: Any,
                                                             web_server: WebServer) -> None:
    page = logged_in_page
    key = r"/(\w|\w\w|\w\w\w)+$/"
    book = {"entries": [{"name": "runaway", "keys": [key], "content": "x", "enabled": True}]}
    with api(web_server) as client:
        character = client.post("/api/characters",
                                json={"name": "Riddler Web", "character_book": book}).json()
    # As a turn does when the key runs out of time (tests/api/routes/test_hostile_cards.py).
    web_server.services.store.characters.turn_off_lore_key(character["id"], key)
    page.goto(f"{web_server.url}/#/character/{character['id']}")
    warning = page.locator("#card-warnings li")
    warning.wait_for()
    assert key in warning.inner_text() and "turned off" in warning.inner_text()


def test_dropping_a_json_card_on_the_gallery_imports_it(logged_in_page: Any) -> None:
    page = logged_in_page
    card = json.dumps({"spec": "chara_card_v3", "spec_version": "3.0",
                       "data": {**rich_v3_data(), "name": "Dropped Dana"}})
    page.evaluate("""(text) => {
      const data = new DataTransfer();
      data.items.add(new File([text], 'dana.json', {type: 'application/json'}));
      document.getElementById('characters').dispatchEvent(
        new DragEvent('drop', {dataTransfer: data, bubbles: true, cancelable: true}));
    }""", card)
    page.locator("#characters .character", has_text="Dropped Dana").wait_for()
    page.locator("#status", has_text="Imported Dropped Dana").wait_for()


def test_import_of_a_bad_file_says_what_to_do(logged_in_page: Any, tmp_path: Path) -> None:
    page = logged_in_page
    before = page.locator("#characters .character").count()
    bad = tmp_path / "photo.png"
    bad.write_bytes(tiny_png())
    page.set_input_files("#import-file", str(bad))
    page.locator("#status", has_text="no character card inside").wait_for()
    assert page.locator("#characters .character").count() == before


def test_create_a_character_from_the_gallery(logged_in_page: Any, web_server: WebServer) -> None:
    page = logged_in_page
    page.click("#new-character")
    page.fill("#character-form [name=name]", "Pip")
    page.fill("#character-form [name=first_mes]", "Hey there, {{user}}!")
    page.click("#save-character")
    page.wait_for_url(re.compile(r"#/character/\d+$"))
    page.goto(web_server.url + "/#/")
    page.locator("#characters .character", has_text="Pip").wait_for()


def held(page: Any, url: re.Pattern[str], start: Callable[[], object]) -> Callable[[], None]:
    """Hold the page's request to `url` that `start()` causes; returns what lets it go
    and waits until the page has handled the answer."""
    routes: list[Any] = []
    page.route(url, lambda route: routes.append(route))
    with page.expect_request(url):
        start()

    def release() -> None:
        with page.expect_response(url):
            routes[0].continue_()
        page.wait_for_timeout(500)  # the page's code runs on the answer

    return release


def test_a_view_still_loading_does_not_cover_the_one_the_person_went_to(
        logged_in_page: Any) -> None:
    """A card's editor whose fetch ends after the person went back to the gallery stays
    hidden (it once covered the gallery on a busy machine)."""
    page = logged_in_page
    character = page.locator("#characters .character").first.get_attribute("data-id")
    release = held(page, re.compile(rf"/api/characters/{character}$"),
                   lambda: page.evaluate(f"location.hash = '#/character/{character}'"))
    page.evaluate("location.hash = '#/'")
    page.wait_for_selector("#home-view:not([hidden]) #characters .character")
    release()
    assert page.locator("#editor-view").is_hidden()
    assert page.locator("#home-view").is_visible()


def test_a_conversation_started_elsewhere_does_not_cover_the_open_chat(
        logged_in_page: Any, web_server: WebServer) -> None:
    """A greeting arriving from a conversation started on another device redraws the
    gallery; a chat the person opened while that loads stays in view."""
    page = logged_in_page
    page.wait_for_selector("body[data-live='open']")
    character = int(page.locator("#characters .character").first.get_attribute("data-id"))
    with api(web_server) as client:
        started: dict[str, Any] = {}
        release = held(page, re.compile(r"/api/conversations$"), lambda: started.update(
            client.post("/api/conversations", json={"character_id": character}).json()))
    page.evaluate(f"location.hash = '#/chat/{started['id']}'")
    page.wait_for_selector("#chat-view:not([hidden]) #composer-input")
    release()
    assert page.locator("#chat-view").is_visible()
    assert page.locator("#home-view").is_hidden()


def test_chat_streams_regenerates_swipes_edits_and_deletes(
        logged_in_page: Any, web_server: WebServer) -> None:
    page = logged_in_page
    conversation = open_chat(page)
    greeting = page.locator("#messages .message").first
    assert greeting.get_attribute("data-role") == "assistant"
    assert greeting.locator("time").get_attribute("datetime")

    send(page, "Hi! I grow tomatoes on my balcony.")
    messages = page.locator("#messages .message")
    assert messages.count() == 3
    user, reply = messages.nth(1), messages.nth(2)
    assert user.get_attribute("data-role") == "user" and user.get_attribute("data-id")
    assert reply.get_attribute("data-role") == "assistant"
    reply_id = int(reply.get_attribute("data-id"))
    with api(web_server) as client:
        stored = client.get(f"/api/conversations/{conversation}/messages").json()
    assert [m["id"] for m in stored][-1] == reply_id
    assert reply.locator(".content").inner_text().strip() == stored[-1]["content"].strip()
    assert reply.locator("time").count() == 1
    assert reply.locator(".swipe-count").inner_text() == "1/1"

    # Regenerate: a second alternative, streamed the same way; swipe back and forth.
    page.evaluate(WATCH_STREAMING)
    page.click("#messages .message:last-child .regenerate")
    page.wait_for_selector("#messages [data-streaming='true']", state="attached")
    page.wait_for_selector("#messages [data-streaming]", state="detached", timeout=120_000)
    assert page.evaluate("window.sawStreamedText")
    last = page.locator("#messages .message").last
    assert last.locator(".swipe-count").inner_text() == "2/2"
    assert int(last.get_attribute("data-id")) == reply_id
    page.click("#messages .message:last-child .swipe-prev")
    page.locator("#messages .message:last-child .swipe-count", has_text="1/2").wait_for()
    with api(web_server) as client:
        assert client.get(f"/api/conversations/{conversation}/messages").json()[-1][
            "swipe_index"] == 0
    page.click("#messages .message:last-child .swipe-next")
    page.locator("#messages .message:last-child .swipe-count", has_text="2/2").wait_for()

    # Edit the user's message.
    user_id = int(user.get_attribute("data-id"))
    page.click(f"#messages .message[data-id='{user_id}'] .edit")
    page.fill(f"#messages .message[data-id='{user_id}'] .edit-text", "I grow peppers, actually.")
    page.click(f"#messages .message[data-id='{user_id}'] .save-edit")
    page.locator(f"#messages .message[data-id='{user_id}'] .content",
                 has_text="I grow peppers, actually.").wait_for()

    # Delete the reply (the button asks again first).
    delete = page.locator(f"#messages .message[data-id='{reply_id}'] .delete")
    delete.click()
    assert page.locator(f"#messages .message[data-id='{reply_id}']").count() == 1
    delete.click()
    page.locator(f"#messages .message[data-id='{reply_id}']").wait_for(state="detached")

    with api(web_server) as client:
        stored = client.get(f"/api/conversations/{conversation}/messages").json()
    assert [m["id"] for m in stored][-1] == user_id
    assert stored[-1]["content"] == "I grow peppers, actually."

    # With the user's message last, it offers to get a reply.
    page.click(f"#messages .message[data-id='{user_id}'] .regenerate")
    page.wait_for_selector("#messages [data-streaming]", state="detached", timeout=120_000)
    assert page.locator("#messages .message").last.get_attribute("data-role") == "assistant"


def test_the_message_being_typed_is_prepared_when_typing_pauses(
        logged_in_page: Any, web_server: WebServer) -> None:
    page = logged_in_page
    conversation = open_chat(page)
    drafts: list[str] = []

    def sent(request: Any) -> None:
        if request.url.endswith(f"/api/conversations/{conversation}/prepare"):
            drafts.append(json.loads(request.post_data)["content"])

    page.on("request", sent)
    with api(web_server) as client:
        before = client.get(f"/api/conversations/{conversation}/messages").json()
    text = "My neighbour lent me a ladder for the apple tree."
    page.type("#composer-input", text, delay=20)
    for _ in range(50):  # once typing pauses: the whole message
        if text in drafts:
            break
        page.wait_for_timeout(200)
    # (a busy machine may pause mid-word first: a draft is then the start of the message)
    assert drafts and drafts[-1] == text and all(text.startswith(d) for d in drafts), drafts
    with api(web_server) as client:  # a draft is stored nowhere
        assert client.get(f"/api/conversations/{conversation}/messages").json() == before
    page.click("#send")
    page.wait_for_selector("#messages [data-streaming='true']", state="attached")
    page.wait_for_selector("#messages [data-streaming]", state="detached", timeout=120_000)
    with api(web_server) as client:
        stored = client.get(f"/api/conversations/{conversation}/messages").json()
    assert [m["role"] for m in stored[len(before):]] == ["user", "assistant"]
    assert stored[len(before)]["content"] == text


def test_why_panel_shows_the_window(logged_in_page: Any, web_server: WebServer) -> None:
    page = logged_in_page
    open_chat(page)
    send(page, "My cat is called Biscuit.")
    page.click("#messages .message[data-role='assistant']:last-child .why")
    why = page.locator("#why")
    why.wait_for(state="visible")
    why.locator("table.blocks tbody tr").first.wait_for()
    blocks = why.locator("table.blocks tbody tr td:first-child").all_inner_texts()
    assert {"system", "recent_turns", "new_message"} <= set(blocks)
    assert re.search(r"\d+ of \d+ tokens used", why.inner_text())
    why.locator("summary").click()
    window = why.locator(".window li")
    assert window.count() >= 2
    assert "My cat is called Biscuit." in why.locator(".window").inner_text()
    page.keyboard.press("Escape")
    why.wait_for(state="hidden")

    # The greeting was never answered from a window: the panel says so.
    page.click("#messages .message >> nth=0 >> .why")
    why.locator("text=greeting").wait_for()


def test_facts_are_visible_editable_and_deletable(logged_in_page: Any,
                                                  web_server: WebServer) -> None:
    page = logged_in_page
    with api(web_server) as client:
        ember = next(c for c in client.get("/api/characters").json() if c["name"] == "Ember")
        fact = client.post("/api/facts", json={"character_id": ember["id"],
                                               "text": "The user lives in Lisbon."}).json()
    open_chat(page)
    memory = page.locator("#memory")
    assert memory.is_visible()  # beside the chat on a laptop
    item = memory.locator(f".fact[data-id='{fact['id']}']")
    assert item.locator(".fact-text").inner_text() == "The user lives in Lisbon."
    page.locator("#summary").filter(has_text=re.compile(r"\w")).wait_for()

    item.locator(".fact-edit").click()
    item.locator(".fact-input").fill("The user lives in Porto.")
    item.locator(".fact-save").click()
    item.locator(".fact-text", has_text="The user lives in Porto.").wait_for()
    with api(web_server) as client:
        texts = {f["id"]: f["text"] for f in client.get("/api/facts").json()}
    assert texts[fact["id"]] == "The user lives in Porto."

    page.fill("#fact-new", "The user has a sister named Ana.")
    page.click("#fact-form button[type=submit]")
    memory.locator(".fact-text", has_text="sister named Ana").wait_for()

    item.locator(".fact-delete").click()
    item.locator(".fact-delete").click()
    item.wait_for(state="detached")
    with api(web_server) as client:
        assert fact["id"] not in {f["id"] for f in client.get("/api/facts").json()}


@pytest.mark.parametrize("viewport", [PHONE])
def test_phone_layout_fits_and_the_memory_panel_opens(logged_in_page: Any,
                                                      viewport: dict[str, int]) -> None:
    page = logged_in_page
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= viewport["width"]
    open_chat(page)
    assert page.locator("#composer-input").is_visible() and page.locator("#send").is_visible()
    assert page.evaluate("document.documentElement.scrollWidth") <= viewport["width"]
    assert page.locator("#memory").is_hidden()
    page.click("#toggle-memory")
    assert page.locator("#memory").is_visible()
    assert page.get_attribute("#toggle-memory", "aria-expanded") == "true"


def test_keyboard_alone_sends_a_message(logged_in_page: Any) -> None:
    page = logged_in_page
    page.locator("#characters .character .pick").first.focus()
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(r"#/chat/\d+$"))
    page.wait_for_selector("#composer-input:focus")
    page.keyboard.type("Hello there")
    page.keyboard.press("Enter")
    # The outcome, not the reply's placeholder: on a busy machine that can come and go
    # between two looks, and a refusal shows in #status (reported below).
    stored = ("() => [...document.querySelectorAll(\"#messages .message[data-role='user']"
              ":not([data-pending]) .content\")].some((el) => el.textContent.includes("
              "'Hello there')) && !document.querySelector('#messages [data-streaming]')")
    try:
        page.wait_for_function(stored, timeout=120_000)
    except Exception as e:
        raise AssertionError(f"the message was not stored; the box holds "
                             f"{page.input_value('#composer-input')!r}, the status says "
                             f"{page.text_content('#status')!r}") from e
    assert page.locator("#messages .message").last.get_attribute("data-role") == "assistant"


def test_a_dropped_network_is_waited_out_and_nothing_is_lost(
        logged_in_page: Any, web_server: WebServer) -> None:
    page = logged_in_page
    conversation = open_chat(page)
    with api(web_server) as client:
        before = client.get(f"/api/conversations/{conversation}/messages").json()
    page.context.set_offline(True)
    page.fill("#composer-input", "Are you still there?")
    page.click("#send")
    page.locator("#status", has_text="reconnecting").wait_for()
    page.context.set_offline(False)
    page.locator("#status", has_text="connection dropped").wait_for(timeout=30_000)
    # The message never reached the server: it is back in the box, and nothing was stored.
    assert page.input_value("#composer-input") == "Are you still there?"
    with api(web_server) as client:
        assert client.get(f"/api/conversations/{conversation}/messages").json() == before
    page.wait_for_selector("#messages [data-pending]", state="detached")
    send(page, "Are you still there?")


@pytest.fixture()
def busy_server(llama: LlamaModel, embedder: MiniLMEmbedder,
                tmp_path: Path) -> Iterator[tuple[str, Services]]:
    """A single-user server whose model queue holds no one: every turn answers 503."""
    settings = make_settings(tmp_path / "data", max_reply_tokens=16)
    services = Services.start(settings, model=ModelOwner(llama, queue_size=0), embedder=embedder)
    with ThreadServer(create_app(settings, services)) as live:
        yield live.url, services
    services.close()


def test_a_busy_server_is_retried_after_retry_after(
        page: Any, busy_server: tuple[str, Services]) -> None:
    url, services = busy_server
    page.goto(url + "/")
    open_chat(page)
    with page.expect_response(lambda r: r.url.endswith("/messages")
                              and r.request.method == "POST") as refused:
        page.fill("#composer-input", "Hello?")
        page.click("#send")
    assert refused.value.status == 503 and refused.value.headers["retry-after"] == "5"
    page.locator("#status", has_text=re.compile(r"busy; retrying in \d s")).wait_for()
    services.model.queue_size = 4  # room in the queue again: the retry goes through
    page.wait_for_selector("#messages [data-streaming='true']", state="attached",
                           timeout=20_000)
    page.wait_for_selector("#messages [data-streaming]", state="detached", timeout=120_000)
    assert page.locator("#status").is_hidden()
    user = page.locator("#messages .message[data-role='user']")
    assert user.count() == 1 and user.get_attribute("data-id")


@pytest.fixture()
def single_user_server(llama: LlamaModel, embedder: MiniLMEmbedder,
                       tmp_path: Path) -> Iterator[str]:
    """A loopback server with no owner yet: the API answers without a login."""
    settings = make_settings(tmp_path / "data", max_reply_tokens=16)
    services = Services.start(settings, model=ModelOwner(llama, queue_size=4), embedder=embedder)
    with ThreadServer(create_app(settings, services)) as live:
        yield live.url
    services.close()


def test_single_user_mode_skips_the_login(page: Any, single_user_server: str) -> None:
    page.goto(single_user_server + "/")
    page.wait_for_selector("#characters .character[data-id]")
    assert page.locator("#login-view").is_hidden()
    assert page.locator("#logout").is_hidden()
