"""What to change so a client's copy of a conversation and Hearth's stored one agree.

A client such as SillyTavern keeps its own chat and sends all of it with every request;
its person swipes, edits and deletes there. `plan` compares what it sent with what
Hearth stored, message by message (role and words; spacing and Unicode forms aside):

- the stored history less its last reply, ending in the same user message: a
  regenerate (a new swipe of that reply, as the native API makes);
- a message in other words: an edit of the stored one, or picking one of its swipes
  when the words are that swipe's;
- stored messages the client no longer has: deleted;
- messages only the client has, after everything stored: appended;
- anything else (messages only the client has before others Hearth has, roles out of
  step, more deleted than kept): the history does not follow from this conversation
  (`fork` says why), and the caller starts another rather than corrupt this one.

Stored messages before the first one the client sent are outside its view (clients
drop old messages to fit their context) and stay, unless it sent the greeting, which
says its view starts at the beginning.
"""

from __future__ import annotations

import difflib
import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass, field

from hearth.store import Message

MIN_DELETES = 2  # deleting the last exchange is always allowed, whatever else matched


@dataclass(frozen=True)
class Sent:
    role: str  # "user" or "assistant"
    text: str


@dataclass(frozen=True)
class Edit:
    message: Message
    text: str | None = None  # new words for the shown swipe
    swipe_index: int | None = None  # or another of its swipes, shown instead


@dataclass
class Plan:
    matched: int = 0  # messages both sides have, the greeting not counted
    edits: list[Edit] = field(default_factory=list)
    deletes: list[Message] = field(default_factory=list)
    appends: list[Sent] = field(default_factory=list)
    regenerate: Message | None = None  # a turn that asks again for this reply
    fork: str | None = None  # why the history cannot continue here

    @property
    def changes(self) -> bool:
        return bool(self.edits or self.deletes or self.appends)

    def describe(self) -> list[str]:
        """What following the client did, in words (for the response's header)."""
        said = []
        if edited := [e.message.id for e in self.edits if e.text is not None]:
            said.append("edited message " + ", ".join(map(str, edited)))
        if swiped := [e.message.id for e in self.edits if e.text is None]:
            said.append("showed another swipe of message " + ", ".join(map(str, swiped)))
        if self.deletes:
            said.append("deleted message " + ", ".join(str(m.id) for m in self.deletes))
        if self.appends:
            said.append(f"appended {len(self.appends)} message(s)")
        if self.regenerate is not None:
            said.append(f"regenerated message {self.regenerate.id} (a new swipe)")
        return said


def key(role: str, text: str) -> tuple[str, str]:
    return role, re.sub(r"\s+", " ", unicodedata.normalize("NFC", text)).strip()


def plan(stored: Sequence[Message], sent: Sequence[Sent], *, turn: bool) -> Plan:
    """How to make `stored` agree with `sent`. With `turn`, `sent[-1]` is the request's
    new user message and the rest its history; else all of `sent` is history (a
    continuation's last message is the reply it continues)."""
    if turn and len(stored) >= 2 and stored[-1].role == "assistant":
        again = _diff(stored[:-1], sent)
        if again.fork is None and not again.changes and again.matched:
            again.regenerate = stored[-1]
            return again
    return _diff(stored, sent[:-1] if turn else sent)


def _edit(message: Message, text: str) -> Edit | None:
    wanted = key(message.role, text)
    if key(message.role, message.content) == wanted:
        return None
    for i, swipe in enumerate(message.swipes):
        if key(message.role, swipe) == wanted:
            return Edit(message, swipe_index=i)
    return Edit(message, text=text)


def _diff(stored: Sequence[Message], sent: Sequence[Sent]) -> Plan:
    out = Plan()
    greeted = bool(sent and stored) and sent[0].role == stored[0].role == "assistant"
    if greeted:  # the greeting: the same message on both sides, whatever its words
        if edit := _edit(stored[0], sent[0].text):
            out.edits.append(edit)
        stored, sent = stored[1:], sent[1:]
    else:
        # The client's view starts later. What it can still match, or delete without a
        # fork, is its own length plus as many again at most: the rest stays as it is
        # (and a long conversation is not compared whole).
        greeting = 1 if stored and stored[0].role == "assistant" else 0  # it stays
        stored = stored[max(greeting, len(stored) - 2 * len(sent) - MIN_DELETES):]
    ops = difflib.SequenceMatcher(None, [key(m.role, m.content) for m in stored],
                                  [key(s.role, s.text) for s in sent], autojunk=False)
    for tag, i1, i2, j1, j2 in ops.get_opcodes():
        if tag == "equal":
            out.matched += i2 - i1
            continue
        if tag == "delete" and i1 == 0 and not greeted:
            continue  # before the client's view
        olds, news = stored[i1:i2], sent[j1:j2]
        for old, new in zip(olds, news, strict=False):
            if old.role != new.role:
                out.fork = f"message {old.id} is the {old.role}'s, the client's is the {new.role}'s"
                return out
            if edit := _edit(old, new.text):
                out.edits.append(edit)
        out.deletes += olds[len(news):]
        if extra := news[len(olds):]:
            if i2 < len(stored):
                out.fork = "the client has messages Hearth does not, before ones it has"
                return out
            out.appends += extra
    if len(out.deletes) > max(MIN_DELETES, out.matched):
        out.fork = (f"{len(out.deletes)} stored messages are not in the client's history and "
                    f"only {out.matched} are")
    return out
