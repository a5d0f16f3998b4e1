"""The character's lorebook (Character Card V2/V3 `character_book`).

`triggered()` answers which entries the recent chat calls up; `select()` adds the
token budget and prompt order. The book is read exactly as stored in the card;
anything malformed is skipped, never raised.

Decisions where the specs leave room:
- Scanned text: the last `scan_depth` messages before the new one, plus the new
  one (`scan_depth` 0 = the new message only; absent or invalid = 4).
- Plain keys match case-insensitively unless `case_sensitive` is true, as whole
  words: a key edge that is a word character must not touch another word character
  ("cat" misses "concatenate", "Dr." still matches "Dr.Who"). Scripts written without
  spaces (CJK, Thai, ...) skip this check. Runs of whitespace in a key match any
  whitespace.
- Regex keys: with `use_regex` every key is a regex, `/pattern/flags` (JS flags
  i, m, s; g, u, y ignored) or a bare pattern that follows `case_sensitive`. A key in
  `/pattern/flags` form is a regex even without `use_regex` (SillyTavern exports
  them that way). An invalid regex never matches. Secondary keys use the same mode
  and `constant` still holds (V3 would ignore both under `use_regex`).
- A card's regex can take exponential time on some text (`(a|aa)+$`), so regex keys
  run on the `regex` engine without the GIL and with a time bound per search
  (`KeyRules.timeout`); a key that runs out is reported to `KeyRules.on_timeout`
  (the caller turns it off for the character) and skipped for the rest of the scan.
  Keys longer than `_MAX_REGEX_CHARS`, or whose counted repeats unroll to more than
  `_MAX_UNROLLED` copies, never match: compiling them holds the GIL for seconds.
  Plain keys are escaped literals, linear on the stdlib engine. Call this off the
  event loop all the same.
- `selective` needs one primary and one secondary match; it is ignored when
  `secondary_keys` is empty.
- `recursive_scanning` (default off): the content of triggered entries is scanned
  too, for at most `_MAX_RECURSION` extra passes.
- V3 decorators, read from the leading `@@` lines of `content` and stripped from it:
  `@@activate` (always on), `@@dont_activate` (never on, unless `@@activate`) and
  `@@scan_depth N`; `@@@` fallbacks are honoured. Other decorators are stripped and
  ignored. Disabled entries stay off in any case.
- Budget: min(caller budget, book `token_budget` when it is a positive int). Entries
  are kept greedily by rank: higher `priority` first (absent = 0), then constant
  entries, then lower `insertion_order`, then earlier in the book. An entry that does
  not fit is dropped whole and smaller lower-ranked ones may still fit.
- Prompt order: `insertion_order` ascending (absent = 0), ties by book position.
  Entries whose content is empty are never inserted.
"""

from __future__ import annotations

import functools
import logging
import math
import re
import unicodedata
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import regex

log = logging.getLogger(__name__)

DEFAULT_SCAN_DEPTH = 4
_MAX_RECURSION = 3  # extra passes over triggered content; the set only grows, this bounds cost
_MAX_KEY_CHARS = 1000
DEFAULT_REGEX_TIMEOUT = 0.25  # seconds one regex key may search one text
# `regex` builds tables on a pattern's first search and unrolls counted repeats when
# compiling, both holding the GIL: bounded, a key's setup stays within tens of ms.
_MAX_REGEX_CHARS = 300
_MAX_UNROLLED = 20_000

_JS_FLAGS = {"i": regex.IGNORECASE, "m": regex.MULTILINE, "s": regex.DOTALL,
             "g": 0, "u": 0, "y": 0}
_SLASH_FORM = re.compile(r"/(.+)/([a-z]*)", re.DOTALL)
_REPEAT = re.compile(r"\{(\d*)(?:,(\d*))?\}")
# Unicode name prefixes of scripts written without spaces between words.
_UNSPACED_SCRIPTS = ("CJK ", "HIRAGANA", "KATAKANA", "HANGUL", "THAI", "LAO", "KHMER",
                     "MYANMAR", "IDEOGRAPHIC", "HALFWIDTH KATAKANA", "TIBETAN")


def _ignore(key: str) -> None:
    pass


@dataclass(frozen=True)
class KeyRules:
    """How one character's keys run: the time bound of one regex search, the keys turned
    off (they never match), and whom to tell when a regex key runs out of time."""

    timeout: float = DEFAULT_REGEX_TIMEOUT
    off: frozenset[str] = frozenset()
    on_timeout: Callable[[str], None] = field(default=_ignore, compare=False)


@dataclass(frozen=True)
class LoreEntry:
    """A triggered entry that fits the budget; `content` has its decorators removed."""

    index: int  # position in the book's entries list
    name: str
    content: str
    insertion_order: int
    priority: int
    constant: bool
    tokens: int


@dataclass(frozen=True)
class _Entry:
    index: int
    name: str
    content: str
    keys: tuple[str, ...]
    secondary_keys: tuple[str, ...]
    selective: bool
    constant: bool
    case_sensitive: bool
    use_regex: bool
    insertion_order: int
    priority: int
    scan_depth: int | None  # from @@scan_depth
    forced: bool | None  # True: @@activate, False: @@dont_activate


@dataclass(frozen=True)
class _Book:
    entries: tuple[_Entry, ...]
    scan_depth: int
    token_budget: int | None
    recursive: bool


def triggered(book: dict[str, Any] | None, texts: Sequence[str],
              rules: KeyRules = KeyRules()) -> list[int]:
    """Indices of the enabled entries the texts trigger, in book order.

    `texts` are the recent messages and the new one, newest last; the book's
    `scan_depth` is applied to the tail here.
    """
    return [e.index for e in _triggered(_parse_book(book), texts, rules)]


def select(
    book: dict[str, Any] | None,
    texts: Sequence[str],
    *,
    budget: int,
    count: Callable[[str], int],
    rules: KeyRules = KeyRules(),
) -> list[LoreEntry]:
    """Triggered entries that fit the token budget, in prompt order.

    `count` is the model's tokenizer; `tokens` covers each content alone, so the
    caller leaves room for whatever joins the entries.
    """
    parsed = _parse_book(book)
    limit = budget if parsed.token_budget is None else min(budget, parsed.token_budget)
    if limit <= 0:
        return []
    candidates = [e for e in _triggered(parsed, texts, rules) if e.content]
    ranked = sorted(candidates,
                    key=lambda e: (-e.priority, not e.constant, e.insertion_order, e.index))
    kept: list[LoreEntry] = []
    used = 0
    for e in ranked:
        tokens = max(0, int(count(e.content)))
        if used + tokens > limit:
            continue
        used += tokens
        kept.append(LoreEntry(index=e.index, name=e.name, content=e.content,
                              insertion_order=e.insertion_order, priority=e.priority,
                              constant=e.constant, tokens=tokens))
    kept.sort(key=lambda e: (e.insertion_order, e.index))
    return kept


# -- matching -----------------------------------------------------------------


def disabled_key_warnings(book: object, off: Iterable[str]) -> list[str]:
    """What to tell the card's editor about its keys that were turned off (still in `book`)."""
    off = set(off)
    warnings = []
    for e in _parse_book(book).entries:
        label = f'"{e.name}"' if e.name else f"#{e.index + 1}"
        for key in dict.fromkeys((*e.keys, *e.secondary_keys)):
            if key in off:
                warnings.append(
                    f"lorebook entry {label}: the regex key {key} took too "
                    "long on a message and is turned off (nested repeats such as (a+)+ can take "
                    "exponential time); simplify it and save the lorebook to try it again")
    return warnings


def _triggered(book: _Book, texts: Sequence[str], rules: KeyRules) -> list[_Entry]:
    if isinstance(texts, str):  # a lone string is a Sequence[str] too
        texts = [texts]
    messages = [t for t in texts if isinstance(t, str)]
    scanned: dict[tuple[int, str], str] = {}  # (depth, recursed content) -> text
    skipped = set(rules.off)  # grows when a key runs out of time during this scan

    def fires(entry: _Entry, extra: str) -> bool:
        if entry.forced is not None:
            return entry.forced
        if entry.constant:
            return True
        depth = book.scan_depth if entry.scan_depth is None else entry.scan_depth
        text = scanned.get((depth, extra))
        if text is None:
            text = scanned[(depth, extra)] = "\n".join(messages[-(depth + 1):]) + extra
        if not _any_match(entry, entry.keys, text, rules, skipped):
            return False
        return not (entry.selective and entry.secondary_keys) or _any_match(
            entry, entry.secondary_keys, text, rules, skipped)

    active = {e.index for e in book.entries if fires(e, "")}
    if book.recursive:
        for _ in range(_MAX_RECURSION):
            extra = "".join("\n" + e.content for e in book.entries if e.index in active)
            new = {e.index for e in book.entries if e.index not in active and fires(e, extra)}
            if not new:
                break
            active |= new
    return [e for e in book.entries if e.index in active]


def _any_match(entry: _Entry, keys: Iterable[str], text: str, rules: KeyRules,
               skipped: set[str]) -> bool:
    for key in keys:
        if key in skipped:
            continue
        pattern = _compile(key, entry.case_sensitive, entry.use_regex)
        if pattern is None:
            continue
        if isinstance(pattern, re.Pattern):
            if pattern.search(text):
                return True
            continue
        try:
            # concurrent: the search lets go of the GIL, so other requests go on meanwhile.
            if pattern.search(text, timeout=rules.timeout, concurrent=True):
                return True
        except TimeoutError:
            log.warning("lorebook: regex key %r took over %g s on %d characters; turned off",
                        key, rules.timeout, len(text))
            skipped.add(key)
            rules.on_timeout(key)
    return False


@functools.lru_cache(maxsize=2048)
def _compile(key: str, case_sensitive: bool,
             use_regex: bool) -> re.Pattern[str] | regex.Pattern[str] | None:
    """The pattern for one key (a card's regex on `regex`, a plain key on `re`), or None
    when it can never match."""
    flags = 0 if case_sensitive else regex.IGNORECASE
    slash = _SLASH_FORM.fullmatch(key.strip())
    if slash is not None and all(f in _JS_FLAGS for f in slash.group(2)):
        source = slash.group(1)
        flags = 0
        for f in slash.group(2):
            flags |= _JS_FLAGS[f]
    elif use_regex:
        source = key
    else:
        return _plain(key, case_sensitive)
    if not source:
        return None
    if len(source) > _MAX_REGEX_CHARS or _unrolled(source) > _MAX_UNROLLED:
        log.warning("lorebook: ignoring regex key %r: longer than %d characters or with "
                    "counted repeats over %d copies", key[:80], _MAX_REGEX_CHARS, _MAX_UNROLLED)
        return None
    try:
        return regex.compile(source, flags)
    except (regex.error, OverflowError, RecursionError, ValueError) as exc:
        # Cached, so each bad key is reported once per process.
        log.warning("lorebook: ignoring invalid regex key %r: %s", key, exc)
        return None


def _plain(key: str, case_sensitive: bool) -> re.Pattern[str] | None:
    words = key.split()
    if not words:
        return None
    source = r"\s+".join(re.escape(w) for w in words)
    if _needs_boundary(words[0][0]):
        source = r"(?<!\w)" + source
    if _needs_boundary(words[-1][-1]):
        source += r"(?!\w)"
    return re.compile(source, 0 if case_sensitive else re.IGNORECASE)


def _unrolled(source: str) -> int:
    """About how many atoms `source` has once its counted repeats are unrolled.

    A rough scan, erring high: a group's size is the sum of its atoms (alternatives
    included) times the largest number of its `{m,n}`; escapes and classes are one atom.
    """
    stack = [0]  # atoms of each open group
    last = 0  # size of the atom or group just closed, which a quantifier multiplies
    i = 0
    while i < len(source):
        char = source[i]
        if char == "\\":
            last, i = 1, i + 2
        elif char == "[":
            end = i + 2 if source[i + 1:i + 2] == "^" else i + 1
            end += source[end:end + 1] == "]"  # a leading "]" is a member
            while end < len(source) and source[end] != "]":
                end += 2 if source[end] == "\\" else 1
            last, i = 1, end + 1
        elif char == "(":
            stack.append(0)
            last, i = 0, i + 1
            continue
        elif char == ")":
            last = stack.pop() if len(stack) > 1 else 0
            i += 1
        elif char == "{" and (repeat := _REPEAT.match(source, i)):
            counts = [int(n) for n in repeat.groups() if n]
            stack[-1] += last * (max(counts, default=1) - 1)
            last, i = 0, repeat.end()
            continue
        else:
            last, i = 1, i + 1
        stack[-1] += last
    return sum(stack)


def _needs_boundary(char: str) -> bool:
    if not (char.isalnum() or char == "_"):
        return False
    return not unicodedata.name(char, "").startswith(_UNSPACED_SCRIPTS)


# -- reading the stored book --------------------------------------------------


def _parse_book(book: object) -> _Book:
    if not isinstance(book, dict):
        return _Book(entries=(), scan_depth=DEFAULT_SCAN_DEPTH, token_budget=None,
                     recursive=False)
    scan_depth = _int(book.get("scan_depth"))
    token_budget = _int(book.get("token_budget"))
    raw = book.get("entries")
    entries = [] if not isinstance(raw, list) else [
        e for e in (_parse_entry(i, item) for i, item in enumerate(raw)) if e is not None]
    return _Book(
        entries=tuple(entries),
        scan_depth=scan_depth if scan_depth is not None and scan_depth >= 0
        else DEFAULT_SCAN_DEPTH,
        # 0 or less reads as "unset": a book that can never insert anything is a bad export.
        token_budget=token_budget if token_budget is not None and token_budget > 0 else None,
        recursive=_flag(book.get("recursive_scanning"), False),
    )


def _parse_entry(index: int, raw: object) -> _Entry | None:
    """The entry, or None when it is malformed or disabled."""
    if not isinstance(raw, dict) or not isinstance(raw.get("content"), str):
        return None
    if not _flag(raw.get("enabled"), True):
        return None
    content, scan_depth, forced = _strip_decorators(raw["content"])
    name = raw.get("name")
    if not isinstance(name, str) or not name:
        comment = raw.get("comment")
        name = comment if isinstance(comment, str) else ""
    return _Entry(
        index=index,
        name=name,
        content=content,
        keys=_keys(raw.get("keys")),
        secondary_keys=_keys(raw.get("secondary_keys")),
        selective=_flag(raw.get("selective"), False),
        constant=_flag(raw.get("constant"), False),
        case_sensitive=_flag(raw.get("case_sensitive"), False),
        use_regex=_flag(raw.get("use_regex"), False),
        insertion_order=_int(raw.get("insertion_order")) or 0,
        priority=_int(raw.get("priority")) or 0,
        scan_depth=scan_depth,
        forced=forced,
    )


def _strip_decorators(content: str) -> tuple[str, int | None, bool | None]:
    """(content without its leading decorator lines, @@scan_depth, @@activate/@@dont_activate)."""
    lines = content.split("\n")
    found: dict[str, str] = {}
    resolved = False  # has the current decorator/fallback chain hit a known decorator?
    body_start = 0
    for i, line in enumerate(lines):
        stripped = line.strip()
        if not stripped:
            continue
        if not stripped.startswith("@@"):
            body_start = i
            break
        body_start = i + 1
        ats = len(stripped) - len(stripped.lstrip("@"))
        name, _, value = stripped[ats:].partition(" ")
        if ats == 2:
            resolved = False
        elif ats != 3 or resolved:
            continue
        if _decorator_ok(name, value.strip()):
            resolved = True
            found.setdefault(name, value.strip())  # the first of a name wins
    body = "\n".join(lines[body_start:]).strip()
    scan_depth = int(found["scan_depth"]) if "scan_depth" in found else None
    forced = True if "activate" in found else False if "dont_activate" in found else None
    return body, scan_depth, forced


def _decorator_ok(name: str, value: str) -> bool:
    if name in ("activate", "dont_activate"):
        return True
    if name == "scan_depth":
        # ASCII digits only: "²" is a digit to str.isdigit() but not to int().
        return value.isascii() and value.isdigit() and len(value) <= 9
    return False


def _keys(raw: object) -> tuple[str, ...]:
    if isinstance(raw, str):
        raw = [raw]
    if not isinstance(raw, list):
        return ()
    # Kept unstripped: spaces around a regex key can be deliberate.
    return tuple(k for k in raw
                 if isinstance(k, str) and k.strip() and len(k) <= _MAX_KEY_CHARS)


def _flag(value: object, default: bool) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    if isinstance(value, str) and value.strip().lower() in ("true", "false"):
        return value.strip().lower() == "true"
    return default


def _int(value: object) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and math.isfinite(value):
        return int(value)
    return None
