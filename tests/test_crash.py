"""`kill -9` of `hearth serve` in the middle of a streamed reply, then a restart."""

from __future__ import annotations

import time
from pathlib import Path

import httpx

from hearth.engines.embed import MiniLMEmbedder
from hearth.memory import ids as memory_ids
from hearth.memory.index import MemoryIndex
from hearth.store import Store
from tests.utils.live import ProcessServer, sse_events

SMALL = {"HEARTH_LLM__MAX_REPLY_TOKENS": "96"}  # as the other tests: short replies, fast runs


def unindexed(data: Path, embedder: MiniLMEmbedder) -> set[str]:
    """Stored messages the index on disk lacks (read beside the running server)."""
    store, index = Store(data / "hearth.db"), MemoryIndex(data / "memory", embedder)
    try:
        return {memory_ids.message(o.message.id) for o in store.messages.owned(limit=100_000)
                if o.message.content.strip()} - index.indexed_ids("message")
    finally:
        index.close()
        store.close()


def test_kill_9_mid_reply_keeps_every_committed_message(tmp_path: Path,
                                                        embedder: MiniLMEmbedder) -> None:
    data = tmp_path / "data"
    with ProcessServer(data, "--n-ctx", "2048", env=SMALL) as live:
        c = httpx.Client(base_url=live.url, timeout=120)
        character_id = c.get("/api/characters").json()[0]["id"]
        conversation = c.post("/api/conversations", json={"character_id": character_id}).json()
        url = f"/api/conversations/{conversation['id']}/messages"
        for text in ("My sister Anna moved to Lisbon in May.", "I adopted a grey cat, Pixel."):
            r = c.post(url, json={"content": text, "stream": False})
            assert r.status_code == 200 and r.json()["status"] == "complete", r.text
        committed = c.get(url).json()

        body = {"content": "Tell me a very long story about a lighthouse keeper and a storm."}
        seen: list[str] = []
        with c.stream("POST", url, json=body) as r:
            for event, payload in sse_events(r):
                seen.append(event)
                if event == "start":
                    asked = payload["user_message"]
                if seen.count("delta") == 5:
                    live.proc.kill()  # SIGKILL: no shutdown code runs
                    live.proc.wait()
                    break
        assert "message" not in seen, "the reply should still have been streaming"
        assert live.proc.returncode == -9

    # On disk: everything committed, the question included; no trace of the half reply.
    store = Store(data / "hearth.db")
    on_disk = store.messages.list(conversation["id"])
    store.close()
    assert [m.id for m in on_disk] == [m["id"] for m in committed] + [asked["id"]]
    assert on_disk[-1].role == "user" and on_disk[-1].content == body["content"]

    with ProcessServer(data, "--n-ctx", "2048", env=SMALL) as live:
        c = httpx.Client(base_url=live.url, timeout=120)
        after = c.get(url).json()
        assert after[:-1] == committed
        # The partial reply is absent (not stored as interrupted): the question is last.
        assert (after[-1]["id"], after[-1]["role"]) == (asked["id"], "user")

        # The index catches up in the background: the question was never indexed.
        deadline = time.monotonic() + 60
        while missing := unindexed(data, embedder):
            assert time.monotonic() < deadline, f"not indexed after a restart: {missing}"
            time.sleep(0.5)

        # The conversation goes on where the record left it.
        r = c.post(url, json={"content": "Are you still there?", "stream": False})
        assert r.status_code == 200 and r.json()["status"] == "complete"
        assert [m["id"] for m in c.get(url).json()][:-2] == [m["id"] for m in after]
