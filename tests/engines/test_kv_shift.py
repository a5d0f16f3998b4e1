"""A prompt that drops the oldest turns of the cached one keeps the turns after them by
moving them back in the KV cache (no re-evaluation), and still answers sensibly."""

from __future__ import annotations

import threading
import uuid

from hearth.engines.llm import ChatMessage, Finished, LlamaModel, SamplingParams, Token
from hearth.engines.llm.kv_slots import Gap, find_gap

SYSTEM = ("You are Maren, a lighthouse keeper on a windy northern island. You speak softly "
          "and keep a logbook of every ship that passes.")
TURNS = [
    ("user", "Good evening! The wind is strong tonight, isn't it?"),
    ("assistant", "It is. It turned west an hour ago, and the sea is rising by the rocks."),
    ("user", "Did any ships pass today? I saw lights far out this morning."),
    ("assistant", "Two trawlers and a ferry. I wrote them all in the logbook before noon."),
    ("user", "My sister Alba keeps bees in Reykjavik, and she sent me a jar of honey."),
    ("assistant", "Honey in tea by the lamp is the best thing on a night like this one."),
    ("user", "What do you do when the fog comes in and you can't see the water?"),
    ("assistant", "I sound the foghorn every thirty seconds and listen for the bells."),
]


def test_find_gap_finds_the_dropped_stretch() -> None:
    cached = [1, 2, 3, 10, 11, 12, 20, 21, 22, 23]
    assert find_gap(cached, [1, 2, 3, 20, 21, 22, 23, 30]) == Gap(3, 6, 4)
    # The stretch kept may stop matching before the cache ends: only its match counts.
    assert find_gap(cached, [1, 2, 3, 20, 21, 99]) == Gap(3, 6, 2)
    # Of two places the rest could start, the one keeping more wins.
    assert find_gap([1, 2, 3, 7, 4, 7, 8, 9], [1, 2, 7, 8, 9]) == Gap(2, 5, 3)
    assert find_gap(cached, cached + [40]) is None  # nothing dropped: plain prefix reuse
    assert find_gap(cached, [1, 2, 3, 50, 51]) is None  # nothing after the gap matches
    assert find_gap([], [1, 2]) is None


def _generate(model: LlamaModel, messages: list[ChatMessage], session: str, user: str,
              max_tokens: int = 12) -> tuple[str, Finished]:
    prompt = model.render(messages)
    params = SamplingParams(max_tokens=max_tokens, temperature=0.0, repeat_penalty=1.0)
    *items, done = model.generate(prompt, params, threading.Event(), session=session, user=user)
    assert isinstance(done, Finished)
    return "".join(t.text for t in items if isinstance(t, Token)), done


def test_dropping_the_oldest_turns_moves_the_rest_instead_of_evaluating_them(
        llama: LlamaModel) -> None:
    user = uuid.uuid4().hex
    session = f"{user}/shift"
    system = ChatMessage("system", SYSTEM)
    turns = [ChatMessage(role, text) for role, text in TURNS]  # type: ignore[arg-type]
    _generate(llama, [system, *turns], session, user)

    # The window is full: the first two exchanges go, the system text and the rest stay.
    kept = turns[4:]
    new = ChatMessage("user", "Tell me about the honey again.")
    text, done = _generate(llama, [system, *kept, new], session, user)
    prefix = len(llama.render([system]).tokens)
    unshifted = len(llama.render([system, *kept]).tokens)
    assert done.usage.prompt_tokens_reused >= unshifted - 4  # the kept turns, not evaluated
    assert done.usage.prompt_tokens_reused > prefix + 20
    assert text.strip()  # it still answers

    # The cache now holds the shifted prompt: the next turn extends it as usual.
    reply = ChatMessage("assistant", text)
    follow = ChatMessage("user", "And the ferry?")
    _, after = _generate(llama, [system, *kept, new, reply, follow], session, user)
    assert after.usage.prompt_tokens_reused >= len(
        llama.render([system, *kept, new]).tokens) - 4


def test_another_users_prompt_never_reuses_a_shifted_cache(llama: LlamaModel) -> None:
    owner, other = uuid.uuid4().hex, uuid.uuid4().hex
    system = ChatMessage("system", SYSTEM)
    turns = [ChatMessage(role, text) for role, text in TURNS]  # type: ignore[arg-type]
    _generate(llama, [system, *turns], f"{owner}/a", owner)
    _, done = _generate(llama, [system, *turns[4:]], f"{other}/b", other)
    assert done.usage.prompt_tokens_reused == 0


def test_a_prompt_found_whole_in_the_moved_cache_is_answered_from_fresh_logits(
        llama: LlamaModel) -> None:
    # A new conversation started from another's cache: its prompt (the system text, then
    # the other's later turns) is that cache less a stretch, up to its very last token.
    # llama.cpp keeps no logits for moved cells: sampling at once gave the token after the
    # other's reply, its end, and the reply came out empty (bench_llm, twice).
    user = uuid.uuid4().hex
    system = ChatMessage("system", SYSTEM)
    turns = [ChatMessage(role, text) for role, text in TURNS]  # type: ignore[arg-type]
    _, first = _generate(llama, [system, *turns], f"{user}/a", user, max_tokens=200)
    assert first.usage.finish_reason == "stop"  # the cache ends where the reply ended
    text, done = _generate(llama, [system, *turns[4:]], f"{user}/b", user)
    assert done.usage.prompt_tokens_reused > len(llama.render([system]).tokens)  # moved
    assert done.usage.completion_tokens > 0 and text.strip(), done.usage
