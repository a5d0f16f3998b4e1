"""A session with no KV cache of its own starts from a copy of the cached state that shares
the longest prefix with its prompt (another conversation with the same character), and the
conversation it was copied from keeps its own."""

from __future__ import annotations

import threading
import uuid

import pytest

from hearth.engines.llm import ChatMessage, Finished, LlamaModel, SamplingParams, Token
from hearth.engines.llm.kv_slots import shared_prefix

CARD = (
    "You are Maren, a lighthouse keeper on a windy northern island. You speak softly, "
    "notice the weather before anything else, and keep a logbook of every ship that passes. "
    "You love tea with honey, old sea charts and the sound of the foghorn at night. "
    "Scenario: the person visits the lighthouse in the evening and you talk by the lamp.\n\n"
    "Example dialogue:\nMaren: The wind turned west an hour ago. Sit, the kettle is on."
)
GREEDY = SamplingParams(max_tokens=3, temperature=0.0, repeat_penalty=1.0)


def _turn(model: LlamaModel, session: str | None, system: str, text: str, user: str,
          ) -> tuple[list[str], int]:
    """The first few greedy tokens of a reply in `user`'s `session`, and the prompt tokens
    reused.

    Only a few: evaluating a prompt in other batch splits (part cached, part fresh) changes
    the logits a little on this CPU build, and greedy text can part after some tokens.
    """
    prompt = model.render([ChatMessage("system", system), ChatMessage("user", text)])
    if session is not None:
        session = f"{user}/{session}"  # names as unique as a conversation's
    *items, done = model.generate(prompt, GREEDY, threading.Event(), session=session, user=user)
    assert isinstance(done, Finished)
    return [t.text for t in items if isinstance(t, Token)], done.usage.prompt_tokens_reused


def _shared(model: LlamaModel, a: str, b: str) -> int:
    def tokens(text: str) -> list[int]:
        return model.render([ChatMessage("system", CARD), ChatMessage("user", text)]).tokens
    return shared_prefix(tokens(a), tokens(b))


def _someone() -> str:
    return uuid.uuid4().hex


@pytest.fixture()
def user() -> str:
    """A user of its own: the session-wide model holds other tests' caches."""
    return _someone()


def test_a_new_conversation_starts_from_the_closest_cache_and_replies_the_same(
        llama: LlamaModel, user: str) -> None:
    first, second = "Good evening! How was the weather today?", "Tell me about the ships."
    fresh, reused = _turn(llama, "fresh", CARD, second, _someone())  # nobody's cache to share
    assert reused == 0
    shared = _shared(llama, first, second)
    assert shared > 100, "the card is common to both"

    a, reused = _turn(llama, "a", CARD, first, user)
    assert reused == 0
    b, reused = _turn(llama, "b", CARD, second, user)
    assert reused >= shared - 1
    assert b == fresh
    # "a" kept its cache: its next turn (the same prompt) reuses all of it.
    again, reused = _turn(llama, "a", CARD, first, user)
    assert reused == len(llama.render([ChatMessage("system", CARD),
                                       ChatMessage("user", first)]).tokens) - 1
    assert again == a


def test_a_copy_comes_from_a_parked_cache_and_leaves_it_parked(
        llama: LlamaModel, user: str) -> None:
    first, second = "Good evening! How was the weather today?", "Tell me about the ships."
    _turn(llama, "a", CARD, first, user)
    _turn(llama, "other", "You are a calm chess teacher.", "Hello.", user)  # parks "a"
    _, reused = _turn(llama, "b", CARD, second, user)  # copies "a" in
    assert reused >= _shared(llama, first, second) - 1
    _, reused = _turn(llama, "other", "You are a calm chess teacher.", "Hello.", user)
    assert reused > 0  # and "other" was parked again, not lost
    _, reused = _turn(llama, "a", CARD, first, user)
    assert reused == len(llama.render([ChatMessage("system", CARD),
                                       ChatMessage("user", first)]).tokens) - 1


def test_a_prompt_sharing_little_starts_empty(llama: LlamaModel, user: str) -> None:
    _turn(llama, "a", CARD, "Good evening!", user)
    _turn(llama, "other", "Rain.", "Hi.", user)  # parks "a"
    # Only the template's first tokens in common with "a": not worth a copy.
    _, reused = _turn(llama, "b", "You are a tired pirate captain.", "Ahoy.", user)
    assert reused < 16


def test_another_user_never_starts_from_these_caches(llama: LlamaModel, user: str) -> None:
    _turn(llama, "a", CARD, "Good evening!", user)
    _, reused = _turn(llama, "b", CARD, "Good evening!", _someone())
    assert reused == 0


def test_sessionless_work_may_copy_a_cache_but_leaves_it_parked(
        llama: LlamaModel, user: str) -> None:
    first = "Good evening! How was the weather today?"
    a, _ = _turn(llama, "a", CARD, first, user)
    _turn(llama, "other", "Rain.", "Hi.", user)  # parks "a"
    _, reused = _turn(llama, None, CARD, "Summarise the evening.", user)
    assert reused >= _shared(llama, first, "Summarise the evening.") - 1
    again, reused = _turn(llama, "a", CARD, first, user)
    assert reused == len(llama.render([ChatMessage("system", CARD),
                                       ChatMessage("user", first)]).tokens) - 1
    assert again == a


def test_without_sharing_a_new_conversation_starts_empty(llama: LlamaModel, user: str) -> None:
    llama.share_prefixes = False
    try:
        _turn(llama, "a", CARD, "Good evening!", user)
        _, reused = _turn(llama, "b", CARD, "Tell me about the ships.", user)
    finally:
        llama.share_prefixes = True
    assert reused == 0
