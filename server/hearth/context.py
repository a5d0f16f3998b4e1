"""The context builder: packs every turn's prompt into the model's window.

    system message   card (+ constant lorebook entries) | profile facts | rolling summary
    recent turns     verbatim, each user turn carrying the memory note it was sent with
    new user turn    this turn's note (recalled memories, triggered lore, the time) + message
    [post-history instructions]
    (reply reserve: never given away)

Speed on a CPU comes from never rewriting what llama.cpp already evaluated.
Profile, summary and the start of the verbatim turns form a *window state*.
The first turn of a conversation packs it afresh (a *rebase*: profile, summary,
recent turns, and recall filling the free room; in a new conversation, only what
the machine evaluates in a moment). When the turns no longer fit,
the oldest go, down to a low-water mark (a *shift*): the system message stays
byte for byte, llama.cpp moves the kept turns back in its KV cache instead of
evaluating them again, and the newer summary (covering what went) rides in the
new turn's note. A window shifts one turn early, when an ordinary turn no longer
fits beside its turns, and without looking at the new message: so the shift is
known, and made (`Chat` evaluates the summary ahead), before the message comes.
Otherwise the prompt only grows at the end, and every note is stored with its
message, so later turns render the same prefix.

Trimming order: lowest-ranked memories, then the oldest turns. The card and the
new message are never trimmed; a message that cannot fit is refused (413).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, tzinfo

from hearth import lorebook
from hearth.characters import substitute
from hearth.config import MemorySettings
from hearth.engines.llm import ChatMessage, ModelOwner, Prompt, fits
from hearth.errors import InvalidInput, TooLarge
from hearth.memory import ids as memory_ids
from hearth.memory.recall import Recalled
from hearth.store import Fact, Message, Note

DEFAULT_SYSTEM_PROMPT = (
    "You are {{char}}, talking with {{user}}. Stay in character, speak in the first person, "
    "and keep replies to a few natural sentences."
)

MIN_LINE_TOKENS = 8  # below this much room, no memory line fits
MIN_TURN_TOKENS = 64  # the room a card must leave in the window for a message
# The card's fields every prompt carries whole (post_history_instructions after the turns).
CARD_TEXT_FIELDS = ("name", "system_prompt", "description", "personality", "scenario",
                    "mes_example", "post_history_instructions")
_PIECE_CHARS = 8192  # long text is counted a piece at a time, so counting can stop early
CLOCK_AFTER = 1800  # seconds of silence after which a turn is told the date and time
PERSONA_SHARE = 4  # a persona may take up to 1/4 of the prompt budget
# The room a turn's message, recalled memories and clock take, about: a window with less
# free beside its turns shifts before the message is known (see the module's docstring).
NEXT_TURN_TOKENS = 160

# recall(query, exclude=ids already in the window, now, about how many fit) -> ranked memories
RecallFn = Callable[[str, set[str], datetime, int], list[Recalled]]


@dataclass(frozen=True)
class Block:
    name: str
    tokens: int
    message_ids: tuple[int, ...] = ()


@dataclass(frozen=True)
class WindowState:
    start_message_id: int
    profile: str
    summary: str


@dataclass(frozen=True)
class Window:
    messages: list[ChatMessage]
    prompt: Prompt
    blocks: list[Block] = field(default_factory=list)
    memories: list[Recalled] = field(default_factory=list)
    lore: list[lorebook.LoreEntry] = field(default_factory=list)
    stored_note: str = ""  # what stays with the new message for the turns to come
    stored_sources: tuple[str, ...] = ()  # memory ids in it: not recalled again while in view
    state: WindowState | None = None
    rebased: bool = False  # packed afresh: the whole prompt is new
    shifted: bool = False  # the oldest turns dropped, the rest kept in place
    turns_dropped: int = 0

    @property
    def tokens(self) -> int:
        return len(self.prompt.tokens)

    @property
    def new_state(self) -> WindowState | None:
        """The window state later turns must start from, when this turn changed it."""
        return self.state if self.rebased or self.shifted else None


@dataclass(frozen=True)
class Turn:
    """What the builder needs to know about one turn's setting."""

    card: dict
    user: str  # what the character calls the person: their shown name
    history: Sequence[Message]  # the conversation so far, oldest first
    notes: dict[int, Note]  # message id -> the memory put beside it
    state: WindowState | None  # None: never packed before
    new_message: str | None  # None: answer the last message of `history`
    now: float
    facts: Sequence[Fact] = ()
    summary: str = ""
    # (first time the user spoke to the character, last time before this conversation):
    # looked up only when a rebase or a first message needs them.
    times: Callable[[], tuple[float | None, float | None]] = lambda: (None, None)
    lore_keys: lorebook.KeyRules = lorebook.KeyRules()
    # Who the person says they are (their profile), and where they live in time: the
    # clock note, day headings and "yesterday" are theirs.
    persona: str = ""
    pronouns: str = ""
    zone: tzinfo = UTC
    # A turn the character starts on its own: what it is asked to write, last in the prompt.
    instruction: str = ""

    @property
    def about(self) -> str:
        return about_user(self.user, persona=self.persona, pronouns=self.pronouns)

    @property
    def known_since(self) -> float | None:
        return self.times()[0]

    @property
    def last_talked(self) -> float | None:
        return self.times()[1]


def about_user(user: str, *, persona: str, pronouns: str) -> str:
    """The person's own description of themselves (like a SillyTavern persona), or ''."""
    if persona:
        return f"About {user}{f' ({pronouns})' if pronouns else ''}: {persona}"
    return f"{user}'s pronouns: {pronouns}." if pronouns else ""


def system_text(card: dict, *, user: str, constant_lore: Sequence[str] = (),
                about: str = "") -> str:
    """The card as one system message: persona, scenario and example dialogue, then what the
    person says about themselves."""
    char = card["name"]
    parts = [card.get("system_prompt") or DEFAULT_SYSTEM_PROMPT]
    if card.get("description"):
        parts.append(card["description"])
    if card.get("personality"):
        parts.append(f"{char}'s personality: {card['personality']}")
    if card.get("scenario"):
        parts.append(f"Scenario: {card['scenario']}")
    parts.extend(constant_lore)
    if card.get("mes_example"):
        parts.append("Example dialogue:\n" + card["mes_example"].replace("<START>", "").strip())
    if about:
        parts.append(about)
    return substitute("\n\n".join(parts), char=char, user=user)


def day(ts: float, zone: tzinfo = UTC) -> str:
    """The calendar day of `ts` where the person lives."""
    return datetime.fromtimestamp(ts, zone).strftime("%-d %b %Y")


def ago(seconds: float) -> str:
    days = seconds / 86400
    if days >= 2:
        return f"{int(days)} days"
    hours = seconds / 3600
    return f"{int(hours)} hours" if hours >= 2 else f"{int(seconds // 60)} minutes"


def _fact_line(text: str) -> str:
    """How a fact's line in the profile begins (its date follows)."""
    return f"- {text} (said "


def _joined(*parts: str) -> str:
    return "\n".join(p for p in parts if p)


def _start(history: Sequence[Message], kept: Sequence[Message]) -> int:
    """The window state's first message id when `kept` are the turns left in view."""
    if kept:
        return kept[0].id
    return history[-1].id + 1 if history else 0


def with_note(note: str, content: str) -> str:
    """A user turn as the model sees it, now and in every later prompt (byte for byte,
    so llama.cpp can reuse it from its cache)."""
    return f"{note}\n\n{content}" if note else content


class ContextBuilder:
    def __init__(self, model: ModelOwner, *, reply_reserve: int, memory: MemorySettings) -> None:
        self.model = model
        self.reply_reserve = reply_reserve
        self.memory = memory
        self._generation = model.generation

    def _follow_model(self) -> None:
        """Forget the memoised token counts once the model was switched (`hearth models use`)."""
        if self.model.generation != self._generation:
            self._generation = self.model.generation
            for memo in (self._tokens, self._costs, self._count):
                memo.cache_clear()

    @property
    def budget(self) -> int:
        """Prompt tokens available: the window less the reply reserve."""
        return self.model.n_ctx - self.reply_reserve

    @functools.lru_cache(maxsize=256)  # noqa: B019 - one builder lives as long as the app
    def _tokens(self, messages: tuple[ChatMessage, ...]) -> int:
        """Exact tokens of these messages rendered alone (memoised: the card repeats)."""
        return len(self.model.render(list(messages)).tokens)

    def _size(self, system: ChatMessage, rest: Sequence[ChatMessage]) -> int:
        """Tokens of `system` then `rest`, from memoised per-message counts.

        A close estimate (turn boundaries may tokenize a little differently); the
        whole prompt is rendered and checked once at the end of every build.
        """
        return self._tokens((system,)) + sum(self._cost(m) for m in rest)

    def _cost(self, message: ChatMessage) -> int:
        """Tokens one turn adds as it renders after a system message (memoised).

        Measured after a one-character system message, so the long card is not
        tokenized again for every turn; the whole prompt is checked at the end.
        """
        return self._costs(message.role, message.content)

    @functools.lru_cache(maxsize=8192)  # noqa: B019 - one builder lives as long as the app
    def _costs(self, role: str, content: str) -> int:
        stub = ChatMessage("system", "-")
        return self._tokens((stub, ChatMessage(role, content))) - self._tokens((stub,))  # type: ignore[arg-type]

    def _fit_lines(self, lines: Sequence[str], budget: int) -> int:
        """How many of `lines`, in order, fit `budget` tokens."""
        used = 0
        for n, line in enumerate(lines):
            used += self.model.count(line + "\n")
            if used > budget:
                return n
        return len(lines)

    # -- the pieces --------------------------------------------------------------

    def _profile(self, turn: Turn) -> str:
        char, user = turn.card["name"], turn.user
        lines = []
        if turn.known_since is not None:
            lines.append(f"{char} and {user} first talked on {day(turn.known_since, turn.zone)}.")
        if turn.facts:
            facts = [f"{_fact_line(f.text)}{day(f.said_at, turn.zone)})"
                     for f in reversed(turn.facts)]
            keep = self._fit_lines(facts, self.memory.profile_tokens)
            lines.append(f"What {char} knows about {user}:")
            lines.extend(reversed(facts[:keep]))  # newest facts win the budget
        return "\n".join(lines)

    def _summary(self, turn: Turn) -> str:
        if not turn.summary:
            return ""
        words = turn.summary.split()
        while words and self.model.count(" ".join(words)) > self.memory.summary_tokens:
            words = words[: int(len(words) * 0.9)]
        return "Earlier in this conversation: " + " ".join(words)

    def _system(self, turn: Turn, state: WindowState) -> ChatMessage:
        parts = [p for p in (state.profile, state.summary) if p]
        return ChatMessage("system", self._card_system(turn.card, turn.user, parts,
                                                       turn.lore_keys, about=turn.about))

    def _turn_message(self, message: Message, notes: dict[int, Note]) -> ChatMessage:
        note = notes.get(message.id)
        return ChatMessage(message.role,  # type: ignore[arg-type]
                           with_note(note.text if note else "", message.content))

    def _clock(self, turn: Turn) -> str:
        """The date and time, when the user comes back after a while (or for the first time)."""
        previous = [m.created_at for m in turn.history if m.role == "user"]
        last = previous[-1] if previous else turn.last_talked
        if last is not None and turn.now - last < CLOCK_AFTER:
            return ""
        now = datetime.fromtimestamp(turn.now, turn.zone)  # the person's time of day
        text = f"[Now: {now.strftime('%a %-d %b %Y, %H:%M')}"
        if last is not None:
            text += f"; last talked {ago(turn.now - last)} ago"
        return text + "]"

    def _memory_line(self, turn: Turn, m: Recalled) -> str:
        if m.kind != "message":
            return f"({m.kind}) {m.text}"
        return self._said(turn, m.role, m.text)

    @staticmethod
    def _said(turn: Turn, role: str | None, text: str) -> str:
        return f"{turn.user if role == 'user' else turn.card['name']}: {text}"

    def _memory_text(self, turn: Turn, memories: Sequence[Recalled]) -> str:
        """Memories in the order they were said, under a line for each day."""
        lines, last = [], ""
        for m in sorted(memories, key=lambda m: m.ts):
            if day(m.ts, turn.zone) != last:
                last = day(m.ts, turn.zone)
                lines.append(f"{last}:")
            lines.append(self._memory_line(turn, m))
        return "\n".join(lines)

    def _pick_memories(self, turn: Turn, found: Sequence[Recalled], budget: int,
                       shown: Collection[str] = ()) -> list[Recalled]:
        """The best-ranked memories that fit `budget`, counting each line and day heading;
        a line already `shown`, or picked, is not said twice."""
        picked: list[Recalled] = []
        days: set[str] = set()
        lines = set(shown)
        used = self._count(f"[Memories {turn.card['name']} recalls]\n")
        for m in found:
            if budget - used < MIN_LINE_TOKENS:
                break
            line = self._memory_line(turn, m)
            if line in lines:
                continue
            when = day(m.ts, turn.zone)
            heading = 0 if when in days else self._count(f"{when}:\n")
            cost = self._count(line + "\n") + heading
            if used + cost <= budget:
                used += cost
                picked.append(m)
                days.add(when)
                lines.add(line)
        return picked

    @functools.lru_cache(maxsize=65536)  # noqa: B019 - one builder lives as long as the app
    def _count(self, text: str) -> int:
        return self.model.count(text)

    def _count_upto(self, text: str, limit: int) -> int:
        """Tokens in `text`, or a number over `limit` once that many are counted: a field
        of megabytes costs a window's worth of tokenizing, not seconds. Pieces may count
        a token or so more than the whole text, which only errs towards refusing."""
        if len(text) <= _PIECE_CHARS:
            return self._count(text)  # memoised: the card repeats every turn
        total = 0
        for start in range(0, len(text), _PIECE_CHARS):
            total += self.model.count(text[start:start + _PIECE_CHARS])
            if total > limit:
                break
        return total

    # -- the card --------------------------------------------------------------------

    def check_card(self, card: dict) -> None:
        """Refuse a card whose fixed text (the system message and the post-history
        instructions) leaves less than MIN_TURN_TOKENS of the window: every turn with it
        would fail. Checked when a card is written, exactly."""
        self._follow_model()
        room = self.budget - MIN_TURN_TOKENS
        sizes = self._card_sizes(card, room)
        total = sum(sizes.values())
        if total <= room:  # the rendered text, as a turn has it (with constant lore)
            system = ChatMessage("system", self._card_system(card, "User", [], lorebook.KeyRules()))
            post = card.get("post_history_instructions") or ""
            total = self._tokens((system,)) + (self._count(post) if post else 0)
        if total > room:
            raise self._card_too_large(sizes, total, room)

    def check_persona(self, persona: str) -> None:
        """Refuse a persona that would take more than a share of the window (every prompt
        carries it beside the card)."""
        self._follow_model()
        limit = self.budget // PERSONA_SHARE
        tokens = self._count_upto(persona, limit)
        if tokens > limit:
            raise InvalidInput(
                f"persona: {tokens} tokens; the limit is {limit} (a quarter of the "
                f"{self.budget} tokens the model's window has for a prompt); shorten it")

    def _card_sizes(self, card: dict, room: int) -> dict[str, int]:
        return {key: self._count_upto(value, room) for key in CARD_TEXT_FIELDS
                if isinstance(value := card.get(key), str) and value}

    def _check_card_quickly(self, card: dict) -> None:
        """Before a turn renders the card: refuse one too large for the window (a card
        stored before this check, or a smaller model since) without tokenizing all of it."""
        room = self.budget - MIN_TURN_TOKENS
        sizes = self._card_sizes(card, room)
        if sum(sizes.values()) > room:
            raise self._card_too_large(sizes, sum(sizes.values()), room)

    def _card_too_large(self, sizes: dict[str, int], total: int, room: int) -> TooLarge:
        field, largest = max(sizes.items(), key=lambda item: item[1], default=("description", 0))
        return TooLarge(
            f"the character card does not fit the model's window: its text needs at least "
            f"{total} tokens, but {room} are free for it ({self.model.n_ctx}-token context less "
            f"a {self.reply_reserve}-token reply reserve and {MIN_TURN_TOKENS} for a message). "
            f"Shorten '{field}' ({largest} tokens, the longest field) by at least "
            f"{total - room} tokens, or use a model with a larger context (llm.n_ctx)"
        )

    def _card_system(self, card: dict, user: str, parts: Sequence[str],
                     rules: lorebook.KeyRules, about: str = "") -> str:
        """The system message: the card (+ constant lorebook entries), then `parts`."""
        # With nothing scanned, only `constant` entries trigger.
        budget = self.memory.lorebook_tokens
        constant = [e.content for e in lorebook.select(
            card.get("character_book"), [], budget=budget,
            count=functools.partial(self._count_upto, limit=budget), rules=rules)]
        return "\n\n".join([system_text(card, user=user, constant_lore=constant, about=about),
                              *parts])

    # -- packing -----------------------------------------------------------------

    def build(self, turn: Turn, recall: RecallFn | None = None) -> Window:
        """Pack the window for `turn`; `recall` finds memories (None: recent turns only)."""
        self._follow_model()
        card, user = turn.card, turn.user
        self._check_card_quickly(card)
        tail: list[ChatMessage] = []
        if card.get("post_history_instructions"):
            text = substitute(card["post_history_instructions"], char=card["name"], user=user)
            tail.append(ChatMessage("system", text))
        if turn.instruction:
            tail.append(ChatMessage("system", turn.instruction))
        clock = self._clock(turn) if turn.new_message is not None else ""

        def new_turn(note: str) -> list[ChatMessage]:
            if turn.new_message is None:
                return tail
            return [ChatMessage("user", with_note(note, turn.new_message)), *tail]

        state = turn.state
        turns = [m for m in turn.history if state is not None and m.id >= state.start_message_id]
        rebased = state is None
        shifted = False
        recap = ""  # a newer summary than the system message's, after a shift
        if state is not None:
            system = self._system(turn, state)
            turn_messages = self._turns(turns, turn.notes)
            full = (turn.new_message is not None
                    and self._size(system, turn_messages) + NEXT_TURN_TOKENS > self.budget)
            if full or self._size(system, [*turn_messages, *new_turn(clock)]) > self.budget:
                recap = self._recap(turn, state, turns)
                # Sized without the message or the clock: the same kept turns whatever
                # the message, so a shift made ahead of it is the one the turn makes.
                ahead = [] if turn.new_message is None else [ChatMessage("user", recap)]
                kept = self._shift(turn, state, [*ahead, *tail])
                if kept is None:  # no room at all beside the system message
                    rebased, recap = True, ""
                else:
                    shifted, turns = True, kept
                    state = replace(state, start_message_id=_start(turn.history, kept))
        if rebased:
            state, turns = self._rebase(turn, clock, new_turn)
        assert state is not None
        system = self._system(turn, state)
        turn_messages = self._turns(turns, turn.notes)
        fixed = self._size(system, [*turn_messages, *new_turn(_joined(recap, clock))])

        # This turn's note: memories and lore not already in the window, best first.
        memories: list[Recalled] = []
        lore: list[lorebook.LoreEntry] = []
        lore_tokens = 0
        if turn.new_message is not None:
            in_window = {memory_ids.message(m.id) for m in turns}
            in_window.update(memory_ids.fact(f.id) for f in turn.facts
                             if _fact_line(f.text) in state.profile)
            # Lines the window already says word for word: the same words said again
            # elsewhere (every conversation's greeting, a fact told twice) are not
            # recalled beside them.
            shown = {self._said(turn, m.role, m.content) for m in turns}
            for message_id in (m.id for m in turns):
                if (earlier := turn.notes.get(message_id)) is not None:
                    in_window.update(earlier.sources)
                    shown.update(earlier.text.splitlines())
            free = self.budget - fixed
            lore = self._lore(turn, turns, in_window, min(free, self.memory.lorebook_tokens))
            lore_tokens = sum(e.tokens + 1 for e in lore)
            room, only_strong = self._recall_room(turn, rebased, free)
            room -= lore_tokens
            if recall is not None and room > 0:
                # In the person's zone: "yesterday" ends at their midnight.
                found = recall(turn.new_message, in_window,
                               datetime.fromtimestamp(turn.now, turn.zone),
                               room // MIN_LINE_TOKENS)
                if only_strong:
                    found = [m for m in found if m.strong]
                memories = self._pick_memories(turn, found, room, shown)

        # Render, check the whole prompt, and trim in order until it fits.
        while True:
            note = self._note(turn, memories, lore, clock, recap)
            messages = [system, *turn_messages, *new_turn(note)]
            prompt = self.model.render(messages)
            if fits(len(prompt.tokens), self.reply_reserve, self.model.n_ctx):
                break
            if memories:
                memories = memories[:-1]
            elif lore:
                lore = lore[:-1]
            elif turns:
                turns, turn_messages = turns[1:], turn_messages[1:]
            else:
                raise self._too_large(len(prompt.tokens))

        # What stays with the message for later turns: a rebase's large recall would
        # crowd out the turns to come, so only its best part is kept.
        kept = memories
        if rebased:
            kept = self._pick_memories(turn, memories, self.memory.turn_recall_tokens - lore_tokens)
        sources = tuple(m.id for m in kept) + tuple(memory_ids.lore(e.index) for e in lore)
        blocks = self._blocks(turn, state, system, turns, turn_messages, memories, lore,
                              len(prompt.tokens))
        return Window(
            messages=messages, prompt=prompt, blocks=blocks, memories=memories, lore=lore,
            stored_note=self._note(turn, kept, lore, clock) if rebased else note,
            stored_sources=sources, state=state, rebased=rebased, shifted=shifted,
            turns_dropped=len(turn.history) - len(turns),
        )

    def _recall_room(self, turn: Turn, rebased: bool, free: int) -> tuple[int, bool]:
        """Tokens recall may add to this turn (each is evaluated before the first reply
        token), and whether only strong matches may take them.

        An ordinary turn adds a little (`memory.turn_recall_tokens`), strong matches only.
        A window packed afresh is evaluated whole anyway: recall fills its free room. But
        a new conversation's system message and greeting were evaluated while the person
        read the greeting, so its first turn is an ordinary turn whose share is what the
        model evaluates in `memory.first_recall_ms` at its measured speed (a slow CPU:
        about an ordinary turn's, a GPU: the free room, as a rebuilt window).
        """
        if not rebased:
            return min(free, self.memory.turn_recall_tokens), True
        ms, speed = self.memory.first_recall_ms, self.model.prompt_speed
        if not ms or speed is None or any(m.role == "user" for m in turn.history):
            return free, False
        room = max(self.memory.turn_recall_tokens, int(speed * ms / 1000))
        return (room, True) if room < free else (free, False)

    def _turns(self, turns: Sequence[Message], notes: dict[int, Note]) -> list[ChatMessage]:
        return [self._turn_message(m, notes) for m in turns]

    def _note(self, turn: Turn, memories: Sequence[Recalled], lore: Sequence[lorebook.LoreEntry],
              clock: str, recap: str = "") -> str:
        # What does not depend on the message comes first: `Chat` evaluates it ahead.
        parts = [p for p in (recap, clock) if p]
        if memories:
            parts.append(f"[Memories {turn.card['name']} recalls]\n"
                         + self._memory_text(turn, memories))
        if lore:
            parts.append("[Lore]\n" + "\n".join(e.content for e in lore))
        return "\n".join(parts)

    def _lore(self, turn: Turn, turns: Sequence[Message], in_window: set[str],
              budget: int) -> list[lorebook.LoreEntry]:
        book = turn.card.get("character_book")
        if not isinstance(book, dict) or budget <= 0:
            return []
        texts = [m.content for m in turns] + [turn.new_message or ""]
        count = functools.partial(self._count_upto, limit=budget)
        return [e for e in lorebook.select(book, texts, budget=budget, count=count,
                                           rules=turn.lore_keys)
                if not e.constant and memory_ids.lore(e.index) not in in_window]

    def _rebase(self, turn: Turn, clock: str,
                new_turn: Callable[[str], list[ChatMessage]]) -> tuple[WindowState, list[Message]]:
        """Start the window afresh: newest turns up to the low-water mark, fresh profile and
        summary."""
        history = list(turn.history)
        probe = WindowState(history[0].id if history else 0, self._profile(turn),
                            self._summary(turn))
        system = self._system(turn, probe)
        fixed = self._size(system, new_turn(clock))
        if fixed > self.budget:
            raise self._too_large(fixed)
        kept = self._newest(turn, int((self.budget - fixed) * self.memory.recent_share))
        return WindowState(_start(history, kept), probe.profile, probe.summary), kept

    def _shift(self, turn: Turn, state: WindowState,
               tail: list[ChatMessage]) -> list[Message] | None:
        """The newest turns that fill at most `shift_share` of the room the unchanged
        system message and `tail` (the new turn) leave; None if there is no room."""
        fixed = self._size(self._system(turn, state), tail)
        if fixed > self.budget:
            return None
        return self._newest(turn, int((self.budget - fixed) * self.memory.shift_share))

    def _newest(self, turn: Turn, room: int) -> list[Message]:
        """The newest messages of the conversation whose turns fit `room` tokens."""
        kept: list[Message] = []
        for message in reversed(turn.history):
            cost = self._cost(self._turn_message(message, turn.notes))
            if cost > room:
                break
            room -= cost
            kept.append(message)
        kept.reverse()
        return kept

    def _recap(self, turn: Turn, state: WindowState, turns: Sequence[Message]) -> str:
        """The latest summary, for the new turn's note at a shift: unless the system
        message or a note still in the window already carries it."""
        summary = self._summary(turn)
        if not summary or summary == state.summary:
            return ""
        if any(summary in note.text for m in turns if (note := turn.notes.get(m.id))):
            return ""
        return summary

    def summary_cut(self, turn: Turn) -> int | None:
        """The last message the rolling summary should cover now, if any.

        That is every message already out of the window and, once the window is
        nearly full, those the next rebase will drop, so the summary is ready then.
        """
        self._follow_model()
        history, state = list(turn.history), turn.state
        if state is None or not history:
            return None
        turns = [m for m in history if m.id >= state.start_message_id]
        out = [m.id for m in history if m.id < state.start_message_id]
        used = self._size(self._system(turn, state), self._turns(turns, turn.notes))
        if used > 0.8 * self.budget:
            kept = self._shift(turn, state, [])
            if kept is not None:
                out = [m.id for m in history if not kept or m.id < kept[0].id]
        return max(out) if out else None

    def _too_large(self, tokens: int) -> TooLarge:
        return TooLarge(
            f"the message does not fit the window: with the character card it needs {tokens} "
            f"tokens, but {self.budget} are free ({self.model.n_ctx} context less a "
            f"{self.reply_reserve}-token reply reserve); shorten it"
        )

    def _blocks(self, turn: Turn, state: WindowState, system: ChatMessage,
                turns: Sequence[Message], turn_messages: list[ChatMessage],
                memories: Sequence[Recalled], lore: Sequence[lorebook.LoreEntry],
                total: int) -> list[Block]:
        count = self._count
        system_tokens = self._tokens((system,))
        profile = count(state.profile) if state.profile else 0
        summary = count(state.summary) if state.summary else 0
        with_turns = self._size(system, turn_messages)
        memory_ids = tuple(i for m in memories for i in m.message_ids)
        memory_tokens = count(self._memory_text(turn, memories)) if memories else 0
        lore_tokens = count("\n".join(e.content for e in lore)) if lore else 0
        return [
            Block("system", system_tokens - profile - summary),
            Block("profile", profile),
            Block("summary", summary),
            Block("recent_turns", with_turns - system_tokens, tuple(m.id for m in turns)),
            Block("memories", memory_tokens, memory_ids),
            Block("lorebook", lore_tokens),
            Block("new_message", total - with_turns - memory_tokens - lore_tokens),
        ]
