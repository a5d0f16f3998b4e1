"""Japanese time words, with the conventions of ``memory/timeref.py``.

- 今日/今朝/今晩/今夜/さっき today; 昨日/昨夜/昨晩/ゆうべ yesterday; 一昨日/おととい two
  days back; 最近/この頃/近頃 the last 14 days; 先日/この前/この間 the 14 days before today.
- 先週/今週/先々週, 先月/今月/先々月, 去年/昨年/今年/一昨年: calendar units; 先週末 the
  weekend before this week, 週末/今週末 the current one once begun, else the one gone.
- 先週の金曜日: that day of last week; 今週の月曜: this week's; 金曜日: the latest before
  today.
- N日/週間/ヶ月/年/時間/分前 (digits, 一…十, 数): as "N units ago"; ここN日/過去N日 a
  rolling window.
- YYYY年M月D日, M月D日 (the latest one not after today), (去年/今年)M月(上旬/中旬/下旬),
  YYYY年; 去年の夏/この夏 seasons.
- …から/以来 ("3月から") runs to today.
- Future words are claimed and give no range: 明日, 明後日, 来週, 来月, 来年, N日後,
  来週の火曜日, and habits (毎日, 毎週).
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

_KANJI = {"一": 1, "二": 2, "三": 3, "四": 4, "五": 5, "六": 6, "七": 7, "八": 8, "九": 9,
          "十": 10, "数": 0}
_UNITS = {"日": "day", "日間": "day", "週": "week", "週間": "week", "ヶ月": "month",
          "か月": "month", "カ月": "month", "ヵ月": "month", "箇月": "month", "月": "month",
          "年": "year", "年間": "year", "時間": "hour", "分": "minute"}
_WEEKDAYS = "月火水木金土日"
_SEASONS = {"春": "spring", "夏": "summer", "秋": "autumn", "冬": "winter"}
_PART_DAYS = {"上旬": (1, 10), "初め": (1, 10), "初旬": (1, 10), "中旬": (11, 20),
              "下旬": (21, 31), "末": (21, 31)}

_COUNT = r"(?P<n>\d{1,3}|[一二三四五六七八九十数]{1,2})"
_UNIT = "(?P<unit>" + "|".join(sorted(_UNITS, key=len, reverse=True)) + ")"
_ABOUT = r"(?:ほど|くらい|ぐらい|ばかり)?"
_WD = rf"(?P<wd>[{_WEEKDAYS}])曜(?:日)?"
_ANY_WD = rf"[{_WEEKDAYS}]曜(?:日)?"


def _count(token: str) -> tuple[int, int]:
    if token.isdigit():
        return int(token), int(token)
    if "数" in token:
        return 2, 5
    if len(token) == 2:  # 十二, 二十
        a, b = (_KANJI[t] for t in token)
        return (a + b, a + b) if a == 10 else (a * b, a * b)
    return _KANJI[token], _KANJI[token]


def _ago(m: re.Match[str], c: Ctx) -> Span:
    lo, hi = _count(m["n"])
    return ago(c, _UNITS[m["unit"]], lo, hi)


def _rolling(m: re.Match[str], c: Ctx) -> Span:
    return rolling(c, _UNITS[m["unit"]], _count(m["n"])[1])


def _week_day(m: re.Match[str], c: Ctx) -> Span:
    back = {"先々週": 2, "先週": 1, "今週": 0}[m["which"]]
    return weekday_back(c, _WEEKDAYS.index(m["wd"]), weeks_back=back)


def _weekday(m: re.Match[str], c: Ctx) -> Span:
    return weekday_back(c, _WEEKDAYS.index(m["wd"]))


def _year_of(rel: str | None, c: Ctx) -> int | None:
    back = {"一昨年": 2, "おととし": 2, "去年": 1, "昨年": 1, "今年": 0, "本年": 0}.get(rel or "")
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
        year = c.recent_month_year(month, strictly_before=False)
    return month_part(year, month, _PART_DAYS.get(m["part"] or ""))


def _season(m: re.Match[str], c: Ctx) -> Span | None:
    name = _SEASONS[m["s"]]
    if m["y"]:
        return season_span(name, int(m["y"]))
    year = _year_of(m["rel"], c)
    if year is not None and m["rel"] not in ("今年", "本年"):
        return season_span(name, year + (1 if name == "winter" else 0))
    return c.recent_season(name, ended=False)


_REL_YEAR = "(?P<rel>一昨年|おととし|去年|昨年|今年|本年)"
RULES = [
    # Future and habitual references: claimed, no range.
    rule(rf"明日|あした|あす|明後日|あさって|しあさって|再来週|再来月|再来年|来週(?:の)?{_ANY_WD}"
         rf"|来週末|来週|来月|来年|今度の{_ANY_WD}|{_COUNT}\s*{_UNIT}{_ABOUT}(?:後|先)"
         rf"|毎(?:日|週|月|年|朝|晩)|{_ANY_WD}(?:ごと|毎)", None),
    rule(rf"(?:(?<!\d)(?P<y>\d{{4}})\s*年\s*|{_REL_YEAR}の?)?(?<!\d)(?P<m>\d{{1,2}})\s*月\s*"
         r"(?P<d>\d{1,2})\s*日", _date),
    rule(r"一昨日|おととい", days_back(2, 2)),
    rule(rf"{_COUNT}\s*{_UNIT}{_ABOUT}前", _ago),
    rule(rf"(?:ここ|この|過去|最近の?)\s*{_COUNT}\s*{_UNIT}間?", _rolling),
    rule(rf"(?:(?<!\d)(?P<y>\d{{4}})\s*年\s*|{_REL_YEAR}の?)?(?<!\d)(?P<m>\d{{1,2}})\s*月"
         r"(?!\s*\d)(?:の?(?P<part>上旬|中旬|下旬|初旬|初め|末))?", _month),
    rule(rf"(?:(?<!\d)(?P<y>\d{{4}})\s*年の?|{_REL_YEAR}の|この|今年の)(?P<s>[春夏秋冬])",
         _season),
    rule(r"(?<!\d)(?P<y>\d{4})\s*年", year_span),
    rule(rf"(?P<which>先々週|先週|今週)の?{_WD}", _week_day),
    rule(r"先週末", calendar_back("weekend", 1)),
    rule(r"今週末|週末", calendar_back("weekend", 0)),
    rule(r"先々週", calendar_back("week", 2)),
    rule(r"先週", calendar_back("week", 1)),
    rule(r"今週", calendar_back("week", 0)),
    rule(r"先々月", calendar_back("month", 2)),
    rule(r"先月", calendar_back("month", 1)),
    rule(r"今月", calendar_back("month", 0)),
    rule(r"一昨年|おととし", calendar_back("year", 2)),
    rule(r"去年|昨年", calendar_back("year", 1)),
    rule(r"今年|本年", calendar_back("year", 0)),
    rule(_WD, _weekday),
    rule(r"昨日|きのう|昨夜|昨晩|ゆうべ", days_back(1, 1)),
    rule(r"今日|きょう|今朝|今晩|今夜|さっき|先ほど", days_back(0, 0)),
    rule(r"先日|この前|この間", days_back(1, 14)),
    rule(r"最近|この頃|近頃|このところ", days_back(0, 13)),
]

LANGUAGE = Language("ja", RULES, re.compile(r"[\u3040-\u30ff\u4e00-\u9fff]"),
                    since_after=re.compile(r"\s*(?:から|以来|以降)"))
