"""Korean time words, with the conventions of ``memory/timeref.py``.

Particles attach straight to the word ("어제는", "3월에", "2026-11-18에"), so a
pattern ends where the time word ends and never asks for a word boundary after it;
before it, it asks for no Hangul syllable ("매일" is not "일").

- 오늘/아까/방금 today; 어제/어젯밤/어저께 yesterday; 그저께/그제 two days back;
  엊그제 one to three days back; 최근/요즘/요새 the last 14 days; 얼마 전/일전에 the
  14 days before today.
- 지난주/저번 주, 이번 주, 지지난주 (and 달, 해: 지난달, 작년/지난해, 올해, 재작년): calendar
  units as in English. 지난 주말/지난주말 the weekend before this week; 주말/이번 주말
  the current weekend once begun, else the one just gone.
- 지난주 금요일: that day of last week; 이번 주 월요일: this week's, if not after today;
  금요일/지난 금요일: the most recent one strictly before today.
- N일/주/달/개월/년/시간/분 전 (digits, 한/두/세…, 일/이/삼…, 며칠/몇, 하루/이틀/사흘/나흘,
  일주일): as "N units ago". 지난/최근 N일 (동안): a rolling window.
- YYYY년 M월 D일, M월 D일 (the latest one not after today), YYYY. M. D., (작년/올해/지난)
  M월 (초/중순/말), YYYY년; 작년 여름/지난 여름/올여름 seasons.
- …부터/이후로 ("3월부터") runs to today.
- Future words are claimed and give no range: 내일, 모레, 글피, 다음 주/달/주말, 내년,
  N일 후/뒤, 다음 주 화요일, 이따가, and habits (매일, 매주, 금요일마다).
"""

from __future__ import annotations

import re
from datetime import date, timedelta

from hearth.memory.timewords.base import (
    Ctx,
    Language,
    Span,
    ago,
    calendar_back,
    days_back,
    month_part,
    rolling,
    rule,
    season_span,
    weekday_back,
    year_span,
)

__all__ = ["LANGUAGE"]

_NATIVE = {"한": 1, "하나": 1, "두": 2, "둘": 2, "세": 3, "셋": 3, "석": 3, "네": 4, "넷": 4,
           "다섯": 5, "여섯": 6, "일곱": 7, "여덟": 8, "아홉": 9, "열": 10}
_SINO = {"일": 1, "이": 2, "삼": 3, "사": 4, "오": 5, "육": 6, "칠": 7, "팔": 8, "구": 9,
         "십": 10}
_DAY_WORDS = {"하루": 1, "이틀": 2, "사흘": 3, "나흘": 4, "닷새": 5, "엿새": 6, "이레": 7,
              "열흘": 10}
_FUZZY = {"며칠": (2, 5), "몇": (2, 5), "수": (2, 5), "몇몇": (2, 5)}
_UNITS = {"일": "day", "주": "week", "주일": "week", "주간": "week", "달": "month",
          "개월": "month", "년": "year", "해": "year", "시간": "hour", "분": "minute"}
_WEEKDAYS = "월화수목금토일"
_SEASONS = {"봄": "spring", "여름": "summer", "가을": "autumn", "겨울": "winter"}
_PART_DAYS = {"초": (1, 10), "초순": (1, 10), "중순": (11, 20), "중": (11, 20), "말": (21, 31),
              "하순": (21, 31)}

_NB = r"(?<![가-힣])"  # not inside a longer Korean word
_COUNT = ("(?P<n>\\d{1,3}|" + "|".join(sorted([*_NATIVE, *_SINO, *_FUZZY], key=len, reverse=True))
          + ")")
_UNIT = "(?P<unit>" + "|".join(sorted(_UNITS, key=len, reverse=True)) + ")"
_ABOUT = r"(?:\s*(?:쯤|정도|가량|남짓))?"
_WD = rf"(?P<wd>[{_WEEKDAYS}])요일"
_ANY_WD = rf"[{_WEEKDAYS}]요일"
# "주" as the week, not the start of 주문 (order), 주식 (shares), 주소 (address)...
_WEEK = r"주(?:일|간)?(?![말문식소제인장차사택변민방])"


def _count(token: str) -> tuple[int, int]:
    if token.isdigit():
        return int(token), int(token)
    if token in _FUZZY:
        return _FUZZY[token]
    n = _NATIVE.get(token) or _SINO[token]
    return n, n


def _ago(m: re.Match[str], c: Ctx) -> Span:
    lo, hi = _count(m["n"])
    return ago(c, _UNITS[m["unit"]], lo, hi)


def _days_ago(m: re.Match[str], c: Ctx) -> Span:
    n = _DAY_WORDS[m["w"]]
    return ago(c, "day", n, n)


def _some_days_ago(m: re.Match[str], c: Ctx) -> Span:
    return ago(c, "day", *_FUZZY["며칠"])


def _some_days(m: re.Match[str], c: Ctx) -> Span:
    return rolling(c, "day", _FUZZY["며칠"][1])


def _rolling(m: re.Match[str], c: Ctx) -> Span:
    return rolling(c, _UNITS[m["unit"]], _count(m["n"])[1])


def _week_day(m: re.Match[str], c: Ctx) -> Span:
    back = {"지지난": 2, "지난": 1, "저번": 1, "이번": 0, "금": 0}[m["which"]]
    return weekday_back(c, _WEEKDAYS.index(m["wd"]), weeks_back=back)


def _weekday(m: re.Match[str], c: Ctx) -> Span:
    return weekday_back(c, _WEEKDAYS.index(m["wd"]), this_week=m["mod"] == "이번")


def _year_of(rel: str | None, c: Ctx) -> int | None:
    """The year a word names ("작년" last year); None for words that name none ("지난")."""
    back = {"재작년": 2, "작년": 1, "지난해": 1, "올해": 0, "금년": 0}.get(rel or "")
    return None if back is None else c.today.year - back


def _date(m: re.Match[str], c: Ctx) -> Span:
    month, day = int(m["m"]), int(m["d"])
    year = int(m["y"]) if m["y"] else _year_of(m["rel"], c)
    d = date(year, month, day) if year else c.recent_date(month, day)
    return d, d + timedelta(days=1)


def _month(m: re.Match[str], c: Ctx) -> Span | None:
    month = int(m["m"])
    if not 1 <= month <= 12:
        return None
    year = int(m["y"]) if m["y"] else _year_of(m["rel"], c)
    if year is None:
        year = c.recent_month_year(month, strictly_before=m["rel"] == "지난")
    return month_part(year, month, _PART_DAYS.get(m["part"] or ""))


def _season(m: re.Match[str], c: Ctx) -> Span | None:
    name = _SEASONS[m["s"]]
    if m["y"]:
        return season_span(name, int(m["y"]))
    year = _year_of(m["rel"], c) if m["rel"] in ("재작년", "작년", "지난해") else None
    if year is not None:
        return season_span(name, year + (1 if name == "winter" else 0))
    return c.recent_season(name, ended=m["rel"] == "지난")


_FUTURE_WORDS = (r"내일\s*모레|내일|모레|글피|내년|내후년|이따가?|(?:다음|담|오는|다가오는)\s*"
                 rf"(?:주\s*{_ANY_WD}|주말|{_WEEK}|달|해|{_ANY_WD})")
RULES = [
    # Future and habitual references: claimed, no range.
    rule(rf"{_NB}(?:{_FUTURE_WORDS})|{_NB}{_COUNT}\s*{_UNIT}{_ABOUT}\s*(?:후|뒤|있으면)"
         rf"|{_NB}(?:하루|이틀|사흘|나흘|일주일)\s*(?:후|뒤)"
         rf"|{_NB}매주\s*{_ANY_WD}|{_NB}매(?:일|주|달|월|년|번)|(?:{_ANY_WD}|주말)마다", None),
    rule(r"(?<!\d)(?P<y>\d{4})\s*\.\s*(?P<m>\d{1,2})\s*\.\s*(?P<d>\d{1,2})(?!\d)(?:\s*\.)?",
         _date),
    rule(rf"(?:(?<!\d)(?P<y>\d{{4}})\s*년\s*|{_NB}(?P<rel>재작년|작년|지난해|올해|금년)\s*)?"
         r"(?<!\d)(?P<m>\d{1,2})\s*월\s*(?P<d>\d{1,2})\s*일", _date),
    rule(rf"{_NB}(?P<w>하루|이틀|사흘|나흘|닷새|엿새|이레|열흘){_ABOUT}\s*전", _days_ago),
    rule(rf"{_NB}며칠{_ABOUT}\s*전", _some_days_ago),
    rule(rf"{_NB}(?:지난|최근|요)\s*며칠(?:\s*동안|간)?", _some_days),
    rule(rf"{_NB}{_COUNT}\s*{_UNIT}{_ABOUT}\s*전", _ago),
    rule(rf"{_NB}(?:지난|최근|요)\s*{_COUNT}\s*{_UNIT}(?:\s*동안|간)?", _rolling),
    rule(rf"(?:(?<!\d)(?P<y>\d{{4}})\s*년\s*|{_NB}(?P<rel>재작년|작년|지난해|올해|금년|지난)\s*)?"
         r"(?<!\d)(?P<m>\d{1,2})\s*월(?!\s*\d)(?:\s*(?P<part>초순|중순|하순|초|말))?", _month),
    rule(rf"(?:(?<!\d)(?P<y>\d{{4}})\s*년\s*|{_NB}(?P<rel>재작년|작년|지난해|지난|올해|올|이번)\s*)"
         r"(?P<s>봄|여름|가을|겨울)", _season),
    rule(r"(?<!\d)(?P<y>\d{4})\s*년", year_span),
    rule(rf"{_NB}(?P<which>지지난|지난|저번|이번|금)\s*주\s*{_WD}", _week_day),
    rule(rf"{_NB}(?:지지난|저저번)\s*주말", calendar_back("weekend", 2)),
    rule(rf"{_NB}(?:지지난|저저번)\s*{_WEEK}", calendar_back("week", 2)),
    rule(rf"{_NB}(?:지지난|저저번)\s*달", calendar_back("month", 2)),
    rule(rf"{_NB}(?:지난|저번)\s*주말", calendar_back("weekend", 1)),
    rule(rf"{_NB}(?:이번\s*)?주말", calendar_back("weekend", 0)),
    rule(rf"{_NB}(?:지난|저번)\s*{_WEEK}", calendar_back("week", 1)),
    rule(rf"{_NB}(?:이번\s*{_WEEK}|금주)", calendar_back("week", 0)),
    rule(rf"{_NB}(?:지난|저번)\s*달", calendar_back("month", 1)),
    rule(rf"{_NB}이번\s*달", calendar_back("month", 0)),
    rule(rf"{_NB}재작년", calendar_back("year", 2)),
    rule(rf"{_NB}(?:작년|지난해)", calendar_back("year", 1)),
    rule(rf"{_NB}(?:올해|금년)", calendar_back("year", 0)),
    rule(rf"{_NB}(?:(?P<mod>지난|저번|이번)\s*)?{_WD}", _weekday),
    rule(rf"{_NB}(?:그저께|그제|엊그저께)", days_back(2, 2)),
    rule(rf"{_NB}엊그제", days_back(1, 3)),
    rule(rf"{_NB}(?:어제|어젯밤|어저께)", days_back(1, 1)),
    rule(rf"{_NB}(?:오늘|아까|방금|금일)", days_back(0, 0)),
    rule(rf"{_NB}(?:얼마\s*전|일전에)", days_back(1, 14)),
    rule(rf"{_NB}(?:최근|요즘|요새|근래)", days_back(0, 13)),
]

LANGUAGE = Language("ko", RULES, re.compile(r"[가-힣]"),
                    since_after=re.compile(r"\s*(?:부터|이후로|이후|이래로|이래)"))
