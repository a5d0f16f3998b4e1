"""Time references in a message, resolved against the moment it was said.

``resolve("what did I tell you last week?", now=said_at)`` gives the span that
memory retrieval should prefer. Everything is computed from ``now`` (aware; day
boundaries are midnights in its zone), never from the wall clock, so a message
replayed later resolves the same way.

The words of each language are a module of ``memory/timewords/`` (``en``, ``ko``,
``ja``); a message is read with every language whose script it contains. The
decisions below are English's; the others follow them (see their modules).

Decisions (the resolver assumes *past* context: memories only exist in the past):

- Ranges are half-open ``[start, end)`` epoch seconds. Calendar spans are whole
  (``this week`` runs to next Monday even if that is after ``now``).
- Several references: ``resolve`` returns their union (min start, max end), the
  phrases joined with ", "; ``resolve_all`` gives each one in reading order.
  Overlapping readings are not double counted: longer, more specific patterns
  claim their text first ("the day before yesterday" is not also "yesterday").
- Weeks start on Monday. ``last weekend`` is the Saturday and Sunday of the
  previous week; ``this weekend`` is the current one on Saturday or Sunday and,
  on a weekday, the one just gone.
- ``today``/``tonight``/``this morning|afternoon|evening`` -> today;
  ``yesterday``/``last night`` -> yesterday.
- ``recently``/``lately`` -> the last 14 days including today; ``the other day``
  -> the 14 days before today.
- ``N days ago`` -> that calendar day; ``N weeks ago`` -> the 7 days centred on the
  day N weeks back; ``N months ago`` -> about a month (-15/+16 days) around the
  same day N months back; ``N years ago`` -> a year (-6/+6 months) around it.
  ``... ago today`` -> exactly that day. Hours/minutes: ``[now-(N+1)u, now-(N-1)u)``.
  Fuzzy counts: a couple = 1..3, a few = 2..5, several = 3..8, "a day or two" = 1..2.
- ``the past N days`` / ``in the last week`` / ``the last month`` -> rolling window
  ending with today (``the past 24 hours`` ends at ``now``); ``last week`` /
  ``last month`` / ``last year`` -> the previous calendar unit.
- Weekdays: bare, ``on X`` and ``last X`` -> the most recent X strictly before today
  (1-7 days back; ``last Monday`` said on a Tuesday is yesterday). ``this X`` -> X of
  the current week if it is not after today, else the most recent past X.
- Months: ``in May`` / ``this May`` -> the most recent May that has started (this
  May if now is in May); ``last May`` -> the most recent May before the current
  month. ``early``/``mid``/``late`` -> days 1-10 / 11-20 / 21-end. A month name needs a
  cue (a day, a year, or in/during/since/throughout/back in/last/this/of or a part);
  the word "may" only counts as a month when written "May".
- Dates without a year -> the most recent such date not after today (29 Feb ->
  the latest leap day). ``5/8/2023`` is US month/day/year; when the first number
  cannot be a month (``13/5/2023``) it is read day/month. ISO ``2023-05-08``.
- Years need a cue (in/back in/during/since/throughout/year); ``early|mid|late
  2022`` -> Jan-Apr / May-Aug / Sep-Dec; ``the 90s`` -> the decade.
- Seasons are northern-hemisphere meteorological: spring Mar-May, summer
  Jun-Aug, autumn/fall Sep-Nov, winter Dec-Feb; ``winter 2023`` is the one whose
  January is in 2023. ``last summer`` -> the latest summer already over;
  ``this summer`` -> the latest one that has started.
- ``since X`` extends X's range to the end of today.
- Future references (``tomorrow``, ``next Monday``, ``coming weeks``, ``every
  Friday``) are consumed and give no range, so they are not misread as past ones.
- Not covered: holidays, clock times, bare ``the 8th``, D.M.Y with dots.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta

from hearth.memory.timewords import languages_for
from hearth.memory.timewords.base import Ctx, Language, Span

__all__ = ["TimeRange", "resolve", "resolve_all"]


@dataclass(frozen=True)
class TimeRange:
    start: float  # epoch seconds, inclusive
    end: float  # epoch seconds, exclusive
    phrase: str  # the matched text, e.g. "last week"

    def __contains__(self, ts: float) -> bool:
        return self.start <= ts < self.end


# Replaces claimed text: not a word char, not whitespace, so nothing matches across it.
_MASK = "\x00"
_CJK = re.compile(r"[\u1100-\u11ff\u3040-\u30ff\u3130-\u318f\u3400-\u9fff"
                  r"\uac00-\ud7af\uf900-\ufaff]")


# --- entry points -----------------------------------------------------------

def resolve_all(text: str, *, now: datetime) -> list[TimeRange]:
    """Every time reference in ``text``, in reading order, in whichever languages it uses."""
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError("now must be timezone-aware")
    ctx = Ctx(now)
    work = text
    found: list[tuple[int, TimeRange]] = []
    for lang in languages_for(text):
        for rule in lang.rules:
            claimed: list[tuple[int, int]] = []
            # Rules for spaced languages see CJK letters as punctuation, so "\b" ends a
            # word before a particle ("2026-11-18에", "yesterday에"); offsets stay the same.
            view = _CJK.sub(_MASK, work) if lang.script is None else work
            for m in rule.pattern.finditer(view):
                if rule.handler is None:
                    claimed.append(m.span())
                    continue
                try:
                    span = rule.handler(m, ctx)
                except (ValueError, OverflowError):  # impossible dates, absurd counts
                    span = None
                if span is None:
                    continue
                claimed.append(m.span())
                found.append((m.start(), _make_range(text, m, span, ctx, lang)))
            for s, e in claimed:
                work = work[:s] + _MASK * (e - s) + work[e:]
    found.sort(key=lambda item: item[0])
    return [r for _, r in found]


def resolve(text: str, *, now: datetime) -> TimeRange | None:
    """The span ``text`` refers to, said at ``now``; the union when there are several."""
    ranges = resolve_all(text, now=now)
    if not ranges:
        return None
    if len(ranges) == 1:
        return ranges[0]
    return TimeRange(
        start=min(r.start for r in ranges),
        end=max(r.end for r in ranges),
        phrase=", ".join(r.phrase for r in ranges),
    )


def _make_range(text: str, m: re.Match[str], span: Span, ctx: Ctx, lang: Language
                ) -> TimeRange:
    start, end = ctx.point(span[0]), ctx.point(span[1])
    begin, finish = m.start(), m.end()
    before = lang.since_before.search(text, 0, begin) if lang.since_before else None
    after = lang.since_after.match(text, finish) if lang.since_after else None
    if before or after or m.group(0).lower().startswith("since"):
        # "since May", "3월부터": from then up to and including today.
        end = max(end, ctx.midnight(ctx.today + timedelta(days=1)))
        begin = before.start() if before else begin
        finish = after.end() if after else finish
    phrase = " ".join(text[begin:finish].split())
    return TimeRange(start=start.timestamp(), end=end.timestamp(), phrase=phrase)
