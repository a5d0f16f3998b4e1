"""Which embedder a household needs, read from its data: `memory.embedder = "auto"`.

MiniLM is English-only but better and 2-3x faster on English; e5 reads about 100
languages. A household gets e5 as soon as anything says it is not English: a
person's chosen language, a character's card language, or its recent messages
written mostly in scripts other than Latin (Hangul, kana, Han, Cyrillic, ...).
"""

from __future__ import annotations

import re

from hearth.characters import language_of
from hearth.engines.embed import DEFAULT_EMBEDDER
from hearth.store import Store

AUTO = "auto"
MULTILINGUAL_EMBEDDER = "multilingual-e5-small"
RECENT_MESSAGES = 200  # how many of the last messages are looked at
NON_LATIN_SHARE = 0.2  # share of them in other scripts that calls for e5

_LETTER = re.compile(r"[^\W\d_]")
_LATIN = re.compile(r"[A-Za-z\u00c0-\u024f\u1e00-\u1eff]")


def household_embedder(store: Store) -> str:
    """The embedder that suits the household's languages (a name in `PROFILES`)."""
    if any(_foreign(user.language) for user in store.people.list()):
        return MULTILINGUAL_EMBEDDER
    if any(_foreign(language_of(c.data)) for c in store.characters.list()):
        return MULTILINGUAL_EMBEDDER
    texts = store.messages.recent_texts(RECENT_MESSAGES)
    if texts and sum(map(non_latin, texts)) >= NON_LATIN_SHARE * len(texts):
        return MULTILINGUAL_EMBEDDER
    return DEFAULT_EMBEDDER


def non_latin(text: str) -> bool:
    """More of the text's letters are in other scripts than in the Latin one."""
    letters = len(_LETTER.findall(text))
    return letters > 2 * len(_LATIN.findall(text))


def _foreign(tag: str) -> bool:
    """A language tag that was set and is not English ('' is unset: English)."""
    return bool(tag) and tag.split("-")[0].lower() != "en"
