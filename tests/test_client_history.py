"""`hearth.client_history.plan`: what a client's whole history asks of the stored one."""

from __future__ import annotations

from hearth.client_history import Sent, plan
from hearth.store import Message


def stored(*said: str | tuple[str, ...]) -> list[Message]:
    """Messages alternating assistant (the greeting), user, assistant...; a tuple is a
    message with swipes, the first shown."""
    out = []
    for n, text in enumerate(said):
        swipes = list(text) if isinstance(text, tuple) else [text]
        role = "assistant" if n % 2 == 0 else "user"
        out.append(Message(n + 1, 1, role, swipes, 0, "complete", 0.0, 0.0))
    return out


def sent(*said: str, first: str = "assistant") -> list[Sent]:
    other = {"assistant": "user", "user": "assistant"}
    roles = [first]
    while len(roles) < len(said):
        roles.append(other[roles[-1]])
    return [Sent(r, t) for r, t in zip(roles, said, strict=True)]


CHAT = stored("Hello!", "I have a tortoise.", "What is its name?", "Pebble.", "Lovely.")


def test_the_same_history_and_a_new_message_is_a_plain_turn() -> None:
    p = plan(CHAT, sent("Hello!", "I have a tortoise.", "What is its name?", "Pebble.",
                        "Lovely.", "Thanks!"), turn=True)
    assert (p.matched, p.changes, p.regenerate, p.fork) == (4, False, None, None)


def test_spacing_and_unicode_forms_do_not_count_as_edits() -> None:
    p = plan(stored("Hi", "나래야 안녕"), sent("Hi ", "\u1102\u1161\u1105\u1162야  안녕",
                                               "ok"), turn=True)
    assert not p.changes and p.fork is None


def test_the_history_less_its_last_reply_is_a_regenerate() -> None:
    p = plan(CHAT, sent("Hello!", "I have a tortoise.", "What is its name?", "Pebble."),
             turn=True)
    assert p.regenerate is CHAT[-1]
    assert not p.changes


def test_an_earlier_message_in_other_words_is_an_edit() -> None:
    p = plan(CHAT, sent("Hello!", "I have a tortoise.", "What is its name?", "Rocky.",
                        "Lovely.", "He is old."), turn=True)
    assert [(e.message.id, e.text) for e in p.edits] == [(4, "Rocky.")]
    assert not p.deletes and not p.appends and p.regenerate is None


def test_another_swipes_words_pick_that_swipe() -> None:
    chat = stored("Hello!", "Hi", ("Nice to see you.", "Welcome back."))
    p = plan(chat, sent("Hello!", "Hi", "Welcome back.", "Thanks"), turn=True)
    assert [(e.message.id, e.text, e.swipe_index) for e in p.edits] == [(3, None, 1)]


def test_messages_the_client_dropped_are_deleted() -> None:
    p = plan(CHAT, sent("Hello!", "I have a tortoise.", "What is its name?", "A cat now"),
             turn=True)
    assert [m.id for m in p.deletes] == [4, 5]
    assert p.fork is None


def test_messages_only_the_client_has_at_the_end_are_appended() -> None:
    p = plan(CHAT, sent("Hello!", "I have a tortoise.", "What is its name?", "Pebble.",
                        "Lovely.", "Hm.", "Yes?", "Go on"), turn=True)
    assert [(s.role, s.text) for s in p.appends] == [("user", "Hm."), ("assistant", "Yes?")]


def test_a_continuation_edits_the_reply_it_continues() -> None:
    p = plan(CHAT, sent("Hello!", "I have a tortoise.", "What is its name?", "Pebble.",
                        "Lovely, and"), turn=False)
    assert [(e.message.id, e.text) for e in p.edits] == [(5, "Lovely, and")]


def test_a_view_that_starts_later_keeps_what_is_before_it() -> None:
    """Clients drop old messages to fit their context: those stay stored."""
    p = plan(CHAT, sent("Pebble.", "Lovely.", "More", first="user"), turn=True)
    assert (p.matched, p.changes, p.fork) == (2, False, None)


def test_the_greeting_in_other_words_is_edited() -> None:
    p = plan(CHAT[:1], sent("Hello, Alex!", "Hi"), turn=True)
    assert [(e.message.id, e.text) for e in p.edits] == [(1, "Hello, Alex!")]
    assert p.matched == 0


def test_a_history_that_cannot_follow_is_a_fork() -> None:
    inserted = plan(CHAT, sent("Hello!", "I have a tortoise.", "What is its name?", "Oh",
                               "Yes?", "Pebble.", "Lovely.", "x"), turn=True)
    assert inserted.fork and "before" in inserted.fork
    most_gone = plan(stored("Hi", "a", "b", "c", "d", "e", "f"), sent("Hi", "a", "b", "z"),
                     turn=True)
    assert most_gone.fork and "not in the client's history" in most_gone.fork


def test_a_history_sharing_nothing_after_the_greeting_matches_nothing() -> None:
    """What makes it another chat (`ClientHistory` then opens a new conversation)."""
    p = plan(CHAT, sent("Hello!", "Other things", "Oh?", "x"), turn=True)
    assert p.matched == 0


def test_a_long_conversation_is_compared_only_where_the_client_can_see() -> None:
    long = stored("Hi", *[f"line {n}" for n in range(4000)])
    view = [Sent(m.role, m.content) for m in long[-6:]]
    p = plan(long, [*view, Sent("user", "next")], turn=True)
    assert (p.matched, p.changes, p.fork) == (6, False, None)
    p = plan(long, [*view[:-2], Sent("user", "next")], turn=True)
    assert [m.id for m in p.deletes] == [long[-2].id, long[-1].id]


def test_a_conversation_without_a_greeting_is_matched_from_its_start() -> None:
    chat = stored("Hi", "a", "b", "c")[1:]  # user, assistant, user
    p = plan(chat, [Sent(m.role, m.content) for m in chat] + [Sent("assistant", "d")],
             turn=False)
    assert (p.matched, p.fork, [s.text for s in p.appends]) == (3, None, ["d"])
