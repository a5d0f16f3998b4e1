"""Time words per language, behind one interface: a `Language` is a list of rules.

``memory/timeref.py`` reads a message with every language whose script it contains
(English always: dates in digits are everyone's), so a message needs no language
tag and a Korean sentence with an English date in it is read whole. The rules of
different languages do not collide: each is written in its own script.
"""

from __future__ import annotations

from hearth.memory.timewords import en, ja, ko
from hearth.memory.timewords.base import Language

__all__ = ["LANGUAGES", "languages_for"]

LANGUAGES: tuple[Language, ...] = (en.LANGUAGE, ko.LANGUAGE, ja.LANGUAGE)


def languages_for(text: str) -> list[Language]:
    """The languages whose time words may be in ``text``, English first."""
    return [lang for lang in LANGUAGES if lang.script is None or lang.script.search(text)]
