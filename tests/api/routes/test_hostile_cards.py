"""Cards made to hurt the server (issue 14): a lorebook regex that runs for hours, cards
too large for the window or the event loop, and image bombs. Each is refused or contained
while the server goes on answering everyone else."""

from __future__ import annotations

import struct
import threading
import time
import zlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import httpx

from hearth.characters import normalise_data, to_v2
from tests.api.routes.test_bad_input import assert_error, snapshot
from tests.api.routes.test_conversations import new_conversation
from tests.utils.cards import (
    SIG,
    as_json,
    card_chunks,
    chunk,
    rich_v2_data,
    text_chunk,
    tiny_png,
    walk,
)
from tests.utils.live import ThreadServer, sse_events

# On "a" * 26 + "!": the issue's key takes ~11 s on the stdlib engine (main's) and
# milliseconds on `regex`; the runaway key ~2 s on the stdlib engine and ~4 s on `regex`,
# 15 times its 250 ms bound. Each added character multiplies both by 1.8-2.
ISSUE_KEY = r"/(\w+\s?)+$/"
RUNAWAY_KEY = r"/(\w|\w\w|\w\w\w)+$/"
MESSAGE = "a" * 26 + "!"

# Health answers in milliseconds, and well under a second on a busy machine; the stalls
# these tests guard against held every request for 5-30 s (the GIL or the event loop).
HEALTH_BOUND_S = 5.0


@contextmanager
def health_answers(server: ThreadServer) -> Iterator[list[float]]:
    """Poll /api/health from another client while the block runs; yields the times of
    its answers. The server runs in this process, so a held GIL stops the poller too:
    the gaps between answers show a stall that the latency of each request may not."""
    answers: list[float] = []
    done = threading.Event()

    def poll() -> None:
        with httpx.Client(base_url=server.url, timeout=120) as c:
            while not done.is_set():
                assert c.get("/api/health").status_code == 200
                answers.append(time.monotonic())
                time.sleep(0.05)

    poller = threading.Thread(target=poll)
    poller.start()
    try:
        yield answers
    finally:
        done.set()
        poller.join()


def send(client: httpx.Client, conversation_id: int, content: str) -> list[tuple[str, dict]]:
    url = f"/api/conversations/{conversation_id}/messages"
    with client.stream("POST", url, json={"content": content}) as r:
        assert r.status_code == 200, r.read()
        return list(sse_events(r))


def lore_entry(name: str, key: str, content: str) -> dict:
    return {"name": name, "keys": [key], "content": content, "enabled": True,
            "insertion_order": 0, "extensions": {}}


def while_polled(server: ThreadServer, work: Callable[[], object]) -> tuple[object, float]:
    """Run `work` while another client polls health: its result and the longest time
    without an answer."""
    with health_answers(server) as answers:
        time.sleep(0.3)  # the poller has answers
        result = work()
        time.sleep(0.3)
    assert len(answers) >= 2, "health was never answered"
    return result, max(b - a for a, b in zip(answers, answers[1:], strict=False))


def test_runaway_lorebook_regex_neither_stalls_the_server_nor_runs_again(
    server: ThreadServer, client: httpx.Client
) -> None:
    book = {"entries": [lore_entry("issue", ISSUE_KEY, "The issue's key."),
                        lore_entry("runaway", RUNAWAY_KEY, "Never shown."),
                        lore_entry("dragons", "/dragons?/i", "Dragons nest in the north.")]}
    r = client.post("/api/characters", json={"name": "Riddler", "character_book": book})
    assert r.status_code == 201, r.text
    character = r.json()
    conversation = new_conversation(client, character["id"])

    events, slowest = while_polled(server, lambda: send(client, conversation["id"], MESSAGE))
    assert [e for e, _ in events][-1] == "message"  # the turn itself went through
    assert slowest < HEALTH_BOUND_S, f"health waited {slowest:.1f} s behind the lorebook"

    # The runaway key is off for this character, and the editor is told why.
    (warning,) = client.get(f"/api/characters/{character['id']}").json()["warnings"]
    assert '"runaway"' in warning and RUNAWAY_KEY in warning and "turned off" in warning
    assert server.services.store.characters.get(character["id"]).lore_keys_off == (RUNAWAY_KEY,)

    # A normal regex key still triggers its entry.
    r = client.post(f"/api/conversations/{conversation['id']}/context",
                    json={"content": "Tell me about the dragons."})
    assert r.status_code == 200, r.text
    assert r.json()["lorebook"] == ["dragons"]

    # Saving a changed lorebook tries its keys again.
    book["entries"][1]["keys"] = [r"/(\w+)$/"]
    r = client.patch(f"/api/characters/{character['id']}", json={"character_book": book})
    assert r.status_code == 200 and r.json()["warnings"] == []


# -- cards too large for the event loop or the window ---------------------------------


def many_small_objects(n: int) -> dict:
    """A card whose JSON is n empty objects: cheap to send, slow to parse, check and copy."""
    return {"spec": "chara_card_v2", "spec_version": "2.0",
            "data": {"name": "Hoarder", "extensions": {"hoard": [{}] * n}}}


def test_importing_a_card_of_many_objects_holds_up_no_one(
    server: ThreadServer, client: httpx.Client
) -> None:
    raw = as_json(many_small_objects(1_900_000))  # 7.6 MB, under max_card_bytes
    assert len(raw) < server.services.settings.limits.max_card_bytes
    r, slowest = while_polled(server, lambda: client.post(
        "/api/characters/import", files={"file": ("hoard.json", raw)}))
    assert r.status_code == 201, r.text  # type: ignore[attr-defined]
    # On the event loop this card held health for ~6 s at idle; in a worker thread, health
    # waits only for its share of the GIL (~0.6 s at idle, the test server runs in this
    # process). 3 s: five times that, half the failure.
    assert slowest < 3.0, f"health waited {slowest:.1f} s behind the import"
    client.delete(f"/api/characters/{r.json()['id']}")  # type: ignore[attr-defined]


def test_one_card_size_limit_on_every_write(server: ThreadServer, client: httpx.Client) -> None:
    limit = server.services.settings.limits.max_card_bytes
    half = "x" * (limit // 2 + 1024)
    r = client.post("/api/characters", json={"name": "Big", "extensions": {"a": half, "b": half}})
    assert_error(r, 413, "limit")
    r = client.post("/api/characters", json={"name": "Big", "extensions": {"a": half}})
    assert r.status_code == 201, r.text
    big = r.json()
    # Each change is under the limit; the card they would make is not.
    r = client.patch(f"/api/characters/{big['id']}", json={"extensions": {"b": half}})
    assert_error(r, 413, "max_card_bytes", "'extensions'")
    stored = client.get(f"/api/characters/{big['id']}").json()
    assert stored["data"]["extensions"] == {"a": half}  # nothing stored was lost

    # A list of characters stays small, whatever their cards hold.
    listed = client.get("/api/characters")
    assert len(listed.content) < 100_000
    summary = next(c for c in listed.json() if c["id"] == big["id"])
    assert summary["name"] == "Big" and summary["avatar_url"] == big["avatar_url"]
    client.delete(f"/api/characters/{big['id']}")


def test_a_field_too_large_for_the_window_is_refused_when_written(
    server: ThreadServer, client: httpx.Client
) -> None:
    n_ctx = server.services.model.n_ctx
    description = "The lighthouse keeper tends the lamp. " * n_ctx  # ~8 tokens a sentence
    r = client.post("/api/characters", json={"name": "Verbose", "description": description})
    assert_error(r, 413, "'description'", "tokens", "window")
    before = snapshot(client)
    files = {"file": ("verbose.json", as_json({"name": "Verbose", "description": description}))}
    assert_error(client.post("/api/characters/import", files=files), 413, "'description'")
    otto = client.post("/api/characters", json={"name": "Otto"}).json()
    r = client.patch(f"/api/characters/{otto['id']}", json={"mes_example": description})
    assert_error(r, 413, "'mes_example'")
    assert client.get(f"/api/characters/{otto['id']}").json()["data"]["mes_example"] == ""
    # A card that fits is written as ever.
    r = client.patch(f"/api/characters/{otto['id']}", json={"description": description[:2000]})
    assert r.status_code == 200, r.text
    client.delete(f"/api/characters/{otto['id']}")
    assert snapshot(client) == before


def test_a_turn_with_a_card_too_large_fails_fast_and_says_why(
    server: ThreadServer, client: httpx.Client
) -> None:
    # Stored before cards were checked (or a smaller model since): 6 MB of description.
    data = normalise_data({"name": "Stored", "description": "Words upon words. " * 350_000})
    character = server.services.store.characters.create(data=data, avatar=None)
    conversation = new_conversation(client, character.id)
    start = time.monotonic()
    r = client.post(f"/api/conversations/{conversation['id']}/context",
                    json={"content": "Hello?"})
    took = time.monotonic() - start
    assert_error(r, 413, "'description'", "window")
    # Tokenizing all 6 MB took 15-20 s; a window's worth takes milliseconds. 10 s leaves
    # room for a busy machine.
    assert took < 10, f"the refusal took {took:.1f} s"
    client.delete(f"/api/characters/{character.id}")


# -- image bombs ----------------------------------------------------------------------


def huge_png(side: int = 20_000) -> bytes:
    """A side x side black-and-white PNG: a few KB on disk, side**2 pixels to a browser."""
    row = b"\0" + bytes((side + 7) // 8)  # filter byte, then 1 bit a pixel
    packer = zlib.compressobj(9)
    data = b"".join(packer.compress(row) for _ in range(side)) + packer.flush()
    header = struct.pack(">IIBBBBB", side, side, 1, 0, 0, 0, 0)
    return SIG + chunk(b"IHDR", header) + chunk(b"IDAT", data) + chunk(b"IEND", b"")


def with_chunks(png: bytes, *extra: bytes) -> bytes:
    """`png` with `extra` chunks put before its IEND."""
    return png[:-12] + b"".join(extra) + png[-12:]


def test_an_image_bomb_is_refused_as_avatar_and_as_card(client: httpx.Client) -> None:
    otto = client.post("/api/characters", json={"name": "Otto"}).json()
    before = client.get(otto["avatar_url"]).content
    r = client.put(f"/api/characters/{otto['id']}/avatar", files={"file": ("a.png", huge_png())})
    assert_error(r, 413, "20000x20000", "max_image_side")
    assert client.get(otto["avatar_url"]).content == before

    card = with_chunks(huge_png(), text_chunk("chara", to_v2(rich_v2_data())))
    r = client.post("/api/characters/import", files={"file": ("bomb.png", card)})
    assert_error(r, 413, "20000x20000")

    # A normal avatar is still taken.
    r = client.put(f"/api/characters/{otto['id']}/avatar", files={"file": ("a.png", tiny_png())})
    assert r.status_code == 200, r.text
    assert client.get(otto["avatar_url"]).content == tiny_png()
    client.delete(f"/api/characters/{otto['id']}")


def test_stored_avatars_keep_the_image_and_nothing_else(
    server: ThreadServer, client: httpx.Client
) -> None:
    limit = server.services.settings.limits.max_image_bytes
    comment = chunk(b"tEXt", b"Comment\0" + b"x" * (limit + 1024))  # ancillary, and large
    card = tiny_png(comment, text_chunk("chara", to_v2(rich_v2_data())))
    r = client.post("/api/characters/import", files={"file": ("card.png", card)})
    assert r.status_code == 201, r.text
    mira = r.json()
    avatar = client.get(mira["avatar_url"]).content
    assert len(avatar) <= limit
    assert [kind for kind, _ in walk(avatar)] == [b"IHDR", b"IDAT", b"IEND"]

    # An uploaded avatar that carries a card of its own is stored without it.
    upload = tiny_png(text_chunk("chara", to_v2(rich_v2_data())))
    r = client.put(f"/api/characters/{mira['id']}/avatar", files={"file": ("a.png", upload)})
    assert r.status_code == 200, r.text
    assert client.get(mira["avatar_url"]).content == tiny_png()
    # Exported, the avatar carries this character's card again.
    exported = client.get(f"/api/characters/{mira['id']}/export?format=png").content
    assert card_chunks(exported)["ccv3"]["data"]["name"] == "Mira"
    client.delete(f"/api/characters/{mira['id']}")
