"""The context builder on random conversations, with the real model's tokenizer.

Random cards (lorebooks included), histories, notes, facts, summaries, recalled
memories and new messages, in any script and length, over several turns in a row.
Every window fits the context less the reply reserve, starts with the card's system
prompt and ends with the new message; or the message is refused with TooLarge,
and only when even the card and the message alone would not fit.
"""

from __future__ import annotations

from dataclasses import dataclass

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hearth.characters import substitute
from hearth.config import MemorySettings
from hearth.context import DEFAULT_SYSTEM_PROMPT, ContextBuilder, Turn, WindowState, system_text
from hearth.engines.llm import ChatMessage, LlamaModel, ModelOwner
from hearth.errors import TooLarge
from hearth.memory.recall import Recalled
from hearth.store import Fact, Message, Note
from tests.fuzz.conftest import Tally

NOW = 1_760_000_000.0
YEAR_1, YEAR_9999 = -62_135_596_800.0, 253_402_300_799.0  # the dates an import can carry

# Text in many scripts, with what the card format and the chat template treat specially.
alphabet = st.characters(codec="utf-8", exclude_categories=["Cs"])
specials = st.sampled_from(["{{char}}", "{{user}}", "<START>", "<|im_start|>", "<|im_end|>",
                            "\n", "  ",
                            "lighthouse", "🙂", "字", "\u200b", "\x00"])
words = st.lists(st.text(alphabet, max_size=12) | specials, max_size=40).map(" ".join)
long_words = st.lists(st.text(alphabet, max_size=20) | specials, max_size=400).map(" ".join)
texts = words | long_words
names = st.text(alphabet, min_size=1, max_size=16).filter(str.strip)
times = st.floats(YEAR_1, YEAR_9999) | st.floats(NOW - 86_400 * 400, NOW)

# V3 decorator lines that may open an entry's content, with any value.
numbers = (st.sampled_from(["0", "2", "-1", "1.5", "", "²", "①", "٣", "9" * 5000])
           | st.integers().map(str) | st.text(st.characters(categories=["Nd", "No"]), max_size=8))
decorators = (st.sampled_from(["@@activate", "@@dont_activate", "@@@activate", "@@other x"])
              | numbers.map(lambda v: "@@scan_depth " + v))
contents = st.tuples(st.lists(decorators, max_size=3), texts).map(
    lambda parts: "\n".join([*parts[0], parts[1]]))
entries = st.fixed_dictionaries(
    {"content": contents},
    optional={
        "keys": st.lists(st.sampled_from(["lighthouse", "/light.*/i", "字", "(", "/[/"]) | words,
                         max_size=3),
        "secondary_keys": st.lists(words, max_size=2),
        "constant": st.booleans(), "selective": st.booleans(), "enabled": st.booleans(),
        "insertion_order": st.integers(-5, 5), "priority": st.integers(-5, 5),
        "use_regex": st.booleans(),
    },
)
books = st.fixed_dictionaries(
    {"entries": st.lists(entries, max_size=4)},
    optional={"scan_depth": st.integers(-1, 10), "token_budget": st.integers(-1, 500),
              "recursive_scanning": st.booleans()},
)
cards = st.fixed_dictionaries(
    {"name": names},
    optional={
        "system_prompt": texts, "description": texts | st.just("word " * 1500),
        "personality": words, "scenario": words, "mes_example": texts,
        "post_history_instructions": words, "character_book": books,
    },
)
memory_settings = st.builds(
    MemorySettings,
    recent_share=st.floats(0.0, 1.0), shift_share=st.floats(0.0, 1.0),
    profile_tokens=st.integers(0, 400),
    summary_tokens=st.integers(0, 400), turn_recall_tokens=st.integers(0, 300),
    lorebook_tokens=st.integers(0, 400),
)


@dataclass
class Conversation:
    card: dict
    user: str
    history: list[Message]
    notes: dict[int, Note]
    facts: list[Fact]
    summary: str
    reply_reserve: int
    memory: MemorySettings
    steps: list[tuple[str, str, list[Recalled]]]  # (new message, reply, memories recalled)


def message(i: int, role: str, content: str, at: float) -> Message:
    return Message(id=i, conversation_id=1, role=role, swipes=[content], swipe_index=0,
                   status="complete", created_at=at, updated_at=at)


@st.composite
def conversations(draw: st.DrawFn) -> Conversation:
    n = draw(st.integers(0, 40))
    history = [message(i + 1, "user" if i % 2 else "assistant", draw(texts), draw(times))
               for i in range(n)]
    notes = {m.id: Note(draw(words), draw(st.lists(st.text(max_size=4), max_size=2)))
             for m in history if m.role == "user" and draw(st.booleans())}
    facts = [Fact(id=i, user_id=1, character_id=1, text=draw(words), source_message_ids=[],
                  said_at=draw(times), created_at=NOW, updated_at=NOW)
             for i in range(draw(st.integers(0, 6)))]
    recalled = st.lists(st.builds(
        Recalled, id=st.sampled_from(["m1", "m2", "f1", "s1", "x"]),
        kind=st.sampled_from(["message", "fact", "summary"]), text=words, ts=times,
        role=st.sampled_from(["user", "assistant", None]),
        message_ids=st.lists(st.integers(1, 50), max_size=3).map(tuple),
        score=st.floats(0, 1), strong=st.booleans()), max_size=6)
    steps = draw(st.lists(st.tuples(texts.filter(str.strip), texts, recalled),
                          min_size=1, max_size=4))
    return Conversation(
        card=draw(cards), user=draw(names), history=history, notes=notes, facts=facts,
        summary=draw(st.just("") | texts), reply_reserve=draw(st.integers(16, 1024)),
        memory=draw(memory_settings), steps=steps,
    )


def check_window(builder: ContextBuilder, turn: Turn, window_or_error: object) -> None:
    model = builder.model
    card, user = turn.card, turn.user
    tail = ([ChatMessage("system", substitute(card["post_history_instructions"], char=card["name"],
                                              user=user))]
            if card.get("post_history_instructions") else [])
    if isinstance(window_or_error, TooLarge):
        # "shorten it" (the message), or "Shorten 'description'" (a card too large alone)
        assert "shorten" in window_or_error.message.lower()
        # Refused only when the card and the message alone would (nearly) not fit: all
        # the builder may add that is never trimmed is the profile, the summary, the
        # constant lore (each within its budget) and a few lines naming the two and the time.
        alone = model.render([ChatMessage("system", system_text(card, user=user)),
                              ChatMessage("user", turn.new_message or ""), *tail])
        memory = builder.memory
        room = (memory.profile_tokens + memory.summary_tokens + memory.lorebook_tokens + 64
                + 4 * (model.count(card["name"]) + model.count(user)))
        assert len(alone.tokens) + room > builder.budget, (
            f"refused a message that fits: {len(alone.tokens)} tokens + {room} of extras, "
            f"budget {builder.budget}")
        return
    window = window_or_error
    assert window.tokens == len(model.render(window.messages).tokens)
    assert window.tokens <= builder.budget == model.n_ctx - builder.reply_reserve
    system = window.messages[0]
    prompt = substitute(card.get("system_prompt") or DEFAULT_SYSTEM_PROMPT, char=card["name"],
                        user=user)
    assert system.role == "system" and system.content.startswith(prompt)
    assert window.messages[len(window.messages) - len(tail):] == tail
    new = window.messages[len(window.messages) - len(tail) - 1]
    assert new.role == "user" and new.content.endswith(turn.new_message or "")
    kept = next(b for b in window.blocks if b.name == "recent_turns").message_ids
    ids = [m.id for m in turn.history]
    assert list(kept) == ids[len(ids) - len(kept):], "the newest turns are the ones kept"


@settings(max_examples=120, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(c=conversations())
def test_random_conversations_fit_the_window(tally: Tally, llama: LlamaModel,
                                             c: Conversation) -> None:
    builder = ContextBuilder(ModelOwner(llama), reply_reserve=c.reply_reserve, memory=c.memory)
    history, notes = list(c.history), dict(c.notes)
    state: WindowState | None = None
    for i, (content, reply, recalled) in enumerate(c.steps):
        tally()
        now = NOW + 60 * i
        turn = Turn(card=c.card, user=c.user, history=history, notes=notes, state=state,
                    new_message=content, now=now, facts=c.facts, summary=c.summary,
                    times=lambda: (YEAR_1, NOW - 3600))
        try:
            window: object = builder.build(turn, recall=lambda *_, found=recalled: list(found))
        except TooLarge as e:
            window = e
        check_window(builder, turn, window)
        if isinstance(window, TooLarge):
            continue
        # Store the turn as the chat does, so the next one extends this window.
        asked = message(len(history) + 1, "user", content, now)
        history += [asked, message(len(history) + 2, "assistant", reply, now + 1)]
        notes[asked.id] = Note(window.stored_note, list(window.stored_sources))
        state = window.state
