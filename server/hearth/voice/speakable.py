"""What a listener should hear of a reply, cut into pieces the voice can start on early.

`speakable` drops what is not meant to be read aloud: stage directions
(`*smiles*`, `(laughs)`), bracketed markup (`[OOC: ...]`, `<tag>`), code blocks,
markdown syntax, URLs and emoji. `SentenceSplitter` takes the reply as the
model streams it and hands out speakable sentences as soon as each is complete.
The first piece may end at a clause (a comma after a few words), so the first
audio starts sooner; later pieces are whole sentences unless one runs long.

Both read markup with the same scanner, and the splitter never cuts inside a
span that is still open, so a stage direction split over deltas (`*smi` +
`les*`) is dropped whole rather than half read. The cuts depend only on the
text, never on how it was split into deltas.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

from hearth.errors import InvalidInput, TooLarge

# --- markup spans -----------------------------------------------------------------

_PARAGRAPH = re.compile(r"\n[ \t]*\n")
_KEEP_INNER = ("code", "bold")  # markup whose words are spoken; the other spans are dropped


@dataclass(frozen=True)
class _Span:
    kind: str  # fence | code | bold | action | square | angle
    start: int
    end: int  # after the closer, or where an unclosed span stops
    inner_start: int
    inner_end: int


class _NeedMore(Exception):
    """The text so far cannot tell; wait for the next delta."""


def _span_at(text: str, i: int, final: bool) -> _Span | None:
    """The markup span opening at `i`, if one does.

    A `*`, `[` or `<` opens a span only where it looks like markup: `*` not inside a
    word and before a non-space (`5 * 3` and `5*3` stay text), `<` before a letter or
    `/` (`<3` stays text). Spans other than code fences end at a paragraph break even
    when unclosed, so a stray opener cannot swallow the rest of a reply.
    """
    c = text[i]
    if c not in "`*[<":
        return None
    nxt = text[i + 1] if i + 1 < len(text) else None
    if c == "`":
        if text.startswith("```", i):
            kind, opener, closer = "fence", "```", "```"
        elif not final and text[i:] == "`" * (len(text) - i):
            raise _NeedMore
        else:
            kind, opener, closer = "code", "`", "`"
    else:
        if nxt is None:
            if final:
                return None
            raise _NeedMore
        if c == "*" and nxt == "*":
            after = text[i + 2] if i + 2 < len(text) else None
            if after is None and not final:
                raise _NeedMore
            if after is None or after.isspace():
                return None
            kind, opener, closer = "bold", "**", "**"
        elif c == "*":
            if nxt.isspace() or (i > 0 and (text[i - 1].isalnum() or text[i - 1] == "*")):
                return None
            kind, opener, closer = "action", "*", "*"
        elif c == "[":
            if nxt.isspace():
                return None
            kind, opener, closer = "square", "[", "]"
        else:
            if not (nxt.isalpha() or nxt == "/"):
                return None
            kind, opener, closer = "angle", "<", ">"
    body = i + len(opener)
    close = text.find(closer, body)
    if kind != "fence":
        brk = _PARAGRAPH.search(text, body)
        if brk is not None and (close == -1 or brk.start() < close):
            return _Span(kind, i, brk.start(), body, brk.start())
    if close == -1:
        if not final:
            raise _NeedMore
        return _Span(kind, i, len(text), body, len(text))
    return _Span(kind, i, close + len(closer), body, close)


def _without_spans(text: str) -> str:
    out: list[str] = []
    i = plain = 0
    while i < len(text):
        span = _span_at(text, i, final=True)
        if span is None:
            i += 1
            continue
        out.append(text[plain:i])
        out.append(text[span.inner_start:span.inner_end] if span.kind in _KEEP_INNER else " ")
        i = plain = span.end
    out.append(text[plain:])
    return "".join(out)


# --- speakable ----------------------------------------------------------------------

_IMAGE = re.compile(r"!\[[^\]\n]*\]\([^)\s]*\)")
_LINK = re.compile(r"\[([^\]\n]+)\]\([^)\s]*\)")
_ACTION_WORDS = (
    r"laugh|chuckle|giggle|sigh|smile|grin|smirk|wink|nod|shrug|blush|whisper|pause|gasp"
    r"|sniff|sniffle|yawn|hum|cough|sob|cry|cries|beam|groan|snort|scoff|purr|hug|lean|wave"
    r"|blink|frown|pout|clear"
)
_ACTION_PARENS = re.compile(
    rf"\(\s*(?:{_ACTION_WORDS})(?:s|es|d|ed|ing|[dgmnb]ing|[dgmnb]ed)?\b[\w\s',-]{{0,30}}\)",
    re.IGNORECASE,
)
_HEADER = re.compile(r"^[ \t]{0,3}#{1,6}[ \t]+", re.MULTILINE)
_QUOTE = re.compile(r"^[ \t]*>+[ \t]?", re.MULTILINE)
_BULLET = re.compile(r"^[ \t]*(?:[-*+•]|\d{1,3}[.)])[ \t]+", re.MULTILINE)
_RULE = re.compile(r"^[ \t]*([-*_])(?:[ \t]*\1){2,}[ \t]*$", re.MULTILINE)
_URL = re.compile(r"(?:https?://|www\.)[^\s<>()\[\]]*[^\s<>()\[\].,;:!?'\"]")
_EMPHASIS = re.compile(r"(?<!\w)(__|_|~~)(?=\S)(.+?)(?<=\S)\1(?!\w)")
_EMOJI = re.compile(
    "[\U0001F000-\U0001FAFF\u2300-\u23FF\u2600-\u27BF\u2B00-\u2BFF"
    "\uFE0E\uFE0F\u200D\u20E3\u3030\u303D\U000E0020-\U000E007F]"
    r"|(?<![\w<])<3+(?!\d)"  # a text heart
)
_STRAY = re.compile(r"[*~`|]")  # markup leftovers that espeak would read out ("asterisk")
_SPACE_BEFORE = re.compile(r"\s+(?=[,.;:!?…])")
_DOUBLE_PUNCT = re.compile(r"([,.;:!?…])(?:\s+[,.;:])+(?=\s|$)")
_LEADING_PUNCT = re.compile(r"^[\s,.;:!?…)\]]+")
_WORD = re.compile(r"[^\W_]")
_CLOSERS = "\"')]”’»"


def speakable(text: str) -> str:
    """The words of `text` a listener should hear, on one line; "" if there are none.

    Lines without closing punctuation (a header, a list item) end with a period,
    so the voice pauses between them instead of running them together.
    """
    text = _LINK.sub(r"\1", _IMAGE.sub(" ", text))
    text = _ACTION_PARENS.sub(" ", _without_spans(text))
    text = _BULLET.sub("", _QUOTE.sub("", _HEADER.sub("", _RULE.sub("", text))))
    text = _EMPHASIS.sub(r"\2", _URL.sub(" ", text))
    text = _STRAY.sub("", _EMOJI.sub("", text))
    lines = [" ".join(line.split()) for line in text.splitlines()]
    lines = [line for line in lines if _WORD.search(line)]
    text = " ".join(
        line if i == len(lines) - 1 or line.rstrip(_CLOSERS)[-1] in ".!?…,;:" else line + "."
        for i, line in enumerate(lines)
    )
    text = _LEADING_PUNCT.sub("", _SPACE_BEFORE.sub("", _DOUBLE_PUNCT.sub(r"\1", text)))
    return text if _WORD.search(text) else ""


# --- sentence splitting -------------------------------------------------------------

_SENTENCE, _CLAUSE, _SPACE = 0, 1, 2
_ENDS = ".!?…"
# Words that open a clause: the first piece may end before one, to start speaking sooner.
_CONJUNCTION = re.compile(
    r"(?:and|but|so|because|that|when|while|if|which|who|where|or)(?=\s)", re.IGNORECASE)
_ABBREVIATIONS = frozenset(
    "mr mrs ms dr prof st sr jr mt vs e.g i.e cf approx dept fig".split()
)


def _cuts(text: str, final: bool) -> Iterator[tuple[int, int]]:
    """Places where `text` may be cut, in order, as (position, kind): outside markup only.

    Stops early, without error, where the text so far cannot tell (`final` False).
    """
    i, n = 0, len(text)
    try:
        while i < n:
            span = _span_at(text, i, final)
            if span is not None:
                i = span.end
                continue
            c = text[i]
            if c in _ENDS or c in ",;:—–":
                j = i + 1
                while c in _ENDS and j < n and text[j] in _ENDS:
                    j += 1
                k = j
                while k < n and text[k] in _CLOSERS:
                    k += 1
                if k == n and not final:
                    raise _NeedMore
                if c in _ENDS:
                    if (k == n or text[k].isspace()) and _sentence_ends(text, i, j, k, final):
                        yield k, _SENTENCE
                elif k == n or text[k].isspace() or c in "—–":
                    yield k, _CLAUSE
                i = k
                continue
            if c == "-" and 0 < i and text[i - 1] == " ":  # " - " used as a dash
                if i + 1 == n and not final:
                    raise _NeedMore
                if i + 1 < n and text[i + 1] == " ":
                    yield i + 1, _CLAUSE
            elif c == "\n":
                yield i + 1, _SENTENCE
            elif c.isspace():
                yield i + 1, _SPACE
            i += 1
    except _NeedMore:
        return


def _sentence_ends(text: str, start: int, end: int, after: int, final: bool) -> bool:
    """Whether the terminator run text[start:end] ends a sentence ("Dr." and "3." do not)."""
    if any(c in "!?" for c in text[start:end]):
        return True
    line_start = text.rfind("\n", 0, start) + 1
    word = text[line_start:start].split()[-1:] or [""]
    word = word[0].lstrip("\"'(“‘[").lower()
    if text[start:end] == ".":
        if word in _ABBREVIATIONS or (len(word) == 1 and word.isalpha()):
            return False
        if word.isdigit() and not text[line_start:start - len(word)].strip():
            return False  # "2. " opening a line: a numbered list item
    rest = text[after:].lstrip()
    if not rest:
        if not final:
            raise _NeedMore
        return True
    return not rest[0].islower()  # "e.g. this", "Well... maybe": the sentence goes on


class SentenceSplitter:
    """Speakable pieces of a streamed reply, each handed out as soon as it is complete.

    Use one per reply: `feed` every delta, then `flush` once at the end.
    """

    def __init__(self, *, first_words: int = 4, conjunction_words: int = 4,
                 max_chars: int = 200) -> None:
        self.first_words = first_words  # the first piece may end at a clause after this many
        # ... or before a clause-opening word after more than this many ("I'm so glad to
        # hear | that …"; never "I'm | so glad")
        self.conjunction_words = conjunction_words
        self.max_chars = max_chars  # longer sentences are cut at a clause, else a space
        self._buf = ""
        self._spoke = False

    def feed(self, delta: str) -> list[str]:
        self._buf += delta
        return self._take(final=False)

    def flush(self) -> list[str]:
        """The rest of the reply (an unclosed stage direction is dropped); ready for reuse."""
        out = self._take(final=True)
        rest = speakable(self._buf)
        if rest:
            out.append(rest)
        self._buf, self._spoke = "", False
        return out

    def _take(self, final: bool) -> list[str]:
        out = []
        while (cut := self._next_cut(final)) is not None:
            piece, self._buf = self._buf[:cut], self._buf[cut:]
            spoken = speakable(piece)
            if spoken:
                out.append(spoken)
                self._spoke = True
        return out

    def _next_cut(self, final: bool) -> int | None:
        clause = space = None
        for pos, kind in _cuts(self._buf, final):
            if pos > self.max_chars:
                return clause or space or pos
            if kind == _SENTENCE:
                return pos
            if kind == _CLAUSE:
                if not self._spoke and len(speakable(self._buf[:pos]).split()) >= self.first_words:
                    return pos
                clause = pos
            else:
                if (not self._spoke and _CONJUNCTION.match(self._buf, pos)
                        and len(speakable(self._buf[:pos]).split()) > self.conjunction_words):
                    return pos  # "I'm so glad to hear | that ...": a clause starts here
                space = pos
        if final and len(self._buf) > self.max_chars:
            return clause or space
        return None


NOTHING_TO_SAY = (
    "the text has nothing to say aloud once markup, emoji, links and stage directions "
    "are left out; send words"
)


def speakable_pieces(text: str, *, max_chars: int) -> list[str]:
    """A whole text to be spoken (not a stream), checked and cut into the pieces a voice
    says one after another. Refuses empty text, text over `max_chars`
    (limits.max_speech_chars) and text with nothing to say aloud."""
    if not text.strip():
        raise InvalidInput("the text to speak is empty; send some words")
    if len(text) > max_chars:
        raise TooLarge(
            f"the text is {len(text)} characters, over the limit of {max_chars} "
            "(limits.max_speech_chars); split it and send the parts one after another"
        )
    splitter = SentenceSplitter()
    pieces = splitter.feed(text) + splitter.flush()
    if not pieces:
        raise InvalidInput(NOTHING_TO_SAY)
    return pieces

