"""Parked KV caches: conversations taking turns get their caches back, in slots reserved at load."""

from __future__ import annotations

import threading

from hearth.config import DEFAULT_MODEL
from hearth.engines.llm import ChatMessage, Finished, LlamaModel, SamplingParams


def _turn(model: LlamaModel, session: str, text: str) -> int:
    """Generate a short reply in `session`; the prompt tokens it found cached."""
    prompt = model.render([ChatMessage("user", text)])
    *_, done = model.generate(prompt, SamplingParams(max_tokens=2, temperature=0.0),
                              threading.Event(), session=session)
    assert isinstance(done, Finished)
    return done.usage.prompt_tokens_reused


def test_the_most_recent_conversations_keep_their_caches_and_the_oldest_gives_way() -> None:
    # Eviction alone: these prompts share the template's system text, which a new
    # conversation would otherwise start from (tests/engines/test_kv_prefix.py).
    model = LlamaModel(DEFAULT_MODEL, n_ctx=512, kv_sessions=2, share_prefixes=False)
    texts = {s: f"Conversation {s}: " + "tell me about the sea and the hills. " * 8 for s in "abc"}
    for s in "abc":
        assert _turn(model, s, texts[s]) == 0
    whole = len(model.render([ChatMessage("user", texts["a"])]).tokens) - 1
    # Serving c, with a and b parked. Back to a: c takes b's slot, not a's.
    assert _turn(model, "a", texts["a"]) == whole
    assert _turn(model, "c", texts["c"]) == whole
    assert _turn(model, "b", texts["b"]) == 0  # the least recent: evaluated again


def test_a_full_window_fits_its_slot_and_comes_back_whole() -> None:
    model = LlamaModel(DEFAULT_MODEL, n_ctx=256, kv_sessions=1)
    text = "The lighthouse keeper counted the ships. " * 40
    prompt = model.render([ChatMessage("user", text)])
    while len(prompt.tokens) > 256 - 4:  # as long as the window allows, with room for 2 tokens
        text = text[: -40]
        prompt = model.render([ChatMessage("user", text)])
    assert len(prompt.tokens) > 256 - 50
    assert _turn(model, "long", text) == 0
    _turn(model, "other", "Hello.")  # parks the full window (and reuses the template's start)
    assert _turn(model, "long", text) == len(prompt.tokens) - 1
