"""Words of a message in any language: normal form, first person, search terms.

Languages written with spaces between words (English, most others) are split on
them. Korean puts particles straight onto the noun ("고양이가", "부산에서"), so a
Korean word is searched by its stem with the particle taken off; Japanese has no
spaces at all, so its content words are read as runs of kanji or katakana (the
hiragana between them are mostly particles and endings). Such CJK terms are
matched as substrings (`store.messages.search_substrings`), not as whole words.
"""

from __future__ import annotations

import re
import unicodedata

__all__ = ["cjk_terms", "first_person", "is_cjk", "normal", "stem_ko", "words"]

_WORD = re.compile(r"[^\W_]+")
_NOT_WORD = re.compile(r"[\W_]+")
_HANGUL = r"\uac00-\ud7a3"
_KANA = r"\u3040-\u30ff\u31f0-\u31ff\uff66-\uff9f"
_HAN = r"\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
_CJK = re.compile(rf"[{_HANGUL}{_KANA}{_HAN}]")
_HANGUL_WORD = re.compile(rf"[{_HANGUL}]+")
# Japanese content words: a run of kanji (with 々), or of katakana (with ー).
_JA_WORD = re.compile(rf"[{_HAN}々]+|[\u30a0-\u30ff\u31f0-\u31ff\uff66-\uff9f]{{2,}}")

# Korean particles and a few endings, longest first. Each is stripped once, from a
# word that keeps at least two syllables: stripping only shortens a word, so its stem
# still finds every form of it as a substring.
_KO_AFTER_CONSONANT = ("이에요", "이랑", "이나", "으로", "은", "이", "을", "과")
_KO_AFTER_VOWEL = ("예요", "랑", "나", "로", "는", "가", "를", "와")
_KO_ANY = ("에서는", "에서도", "에게서", "한테서", "이라고", "까지는", "부터는", "에서",
           "에게", "한테", "께서", "까지", "부터", "처럼", "보다", "하고", "라고", "마다",
           "에는", "에도", "으로는", "로는", "이야", "이다", "입니다", "에", "의", "도", "만",
           "요", "야")
_KO_STOPWORDS = frozenset(
    "나 너 저 제 내 네 우리 저희 그 이 그거 이거 저거 그게 이게 뭐 뭔가 무엇 무슨 어디 언제 "
    "누구 왜 어떻게 어떤 얼마나 몇 그리고 그런데 근데 그래서 하지만 또 좀 진짜 정말 너무 아주 "
    "다 안 못 잘 더 이제 지금 혹시 기억 기억해 기억나 알아 말했 했어 했지 있어 없어 있었 거야 "
    "거지 건가 것 거 수".split()
)
_JA_STOPWORDS = frozenset("私 僕 俺 何 誰 時 事 物 方 今 話 覚".split())

# "I", "my", "we" in the languages we read. Korean and Japanese pronouns are matched
# as the start of a word (particles follow: "제가", "내", "私は").
_FIRST_PERSON = re.compile(
    r"\b(?:i|i'm|im|i've|i'd|my|me|mine|we|our)\b"
    rf"|(?<![{_HANGUL}])(?:나|저|내|제|우리|저희)(?:[는은가를의도랑한]|에게|한테|$|\s)"
    r"|(?:私|僕|俺|わたし|あたし|ぼく|おれ)",
    re.IGNORECASE,
)


def normal(text: str) -> str:
    """Comparable form of a text: NFC, case-folded, words joined by single spaces."""
    folded = unicodedata.normalize("NFC", text).casefold()
    return " ".join(_NOT_WORD.sub(" ", folded).split())


def words(text: str) -> list[str]:
    """The words of a text in normal form, in order."""
    return _WORD.findall(normal(text))


def is_cjk(word: str) -> bool:
    return _CJK.search(word) is not None


_SECOND_PERSON_CJK = re.compile(
    rf"(?<![{_HANGUL}])(?:너(?:[는가도를랑의]|한테|\s|$)|니가|네가|당신)|あなた|君|お前")


def first_person(text: str) -> bool:
    """Whether the speaker may be speaking of themselves ("I", "my", "나는", "제가", "私").

    Korean and Japanese leave the subject out ("고양이 키워요" is "I have a cat"), so a
    sentence in them counts unless it speaks to someone else ("너는", "あなた").
    """
    text = unicodedata.normalize("NFC", text)
    if _FIRST_PERSON.search(text):
        return True
    return is_cjk(text) and _SECOND_PERSON_CJK.search(text) is None


def _has_final(syllable: str) -> bool:
    """Whether a Hangul syllable ends in a consonant (batchim)."""
    return (ord(syllable) - 0xAC00) % 28 != 0


def stem_ko(word: str) -> str:
    """A Korean word without its particle: "고양이가" -> "고양이", "부산에서" -> "부산"."""
    for suffix in sorted((*_KO_AFTER_CONSONANT, *_KO_AFTER_VOWEL, *_KO_ANY), key=len,
                         reverse=True):
        stem = word[: -len(suffix)]
        if not word.endswith(suffix) or len(stem) < 2:
            continue
        if suffix in _KO_AFTER_CONSONANT and not _has_final(stem[-1]):
            continue
        if suffix in _KO_AFTER_VOWEL and _has_final(stem[-1]) and not (
                suffix == "로" and (ord(stem[-1]) - 0xAC00) % 28 == 8):  # ㄹ takes 로
            continue
        return stem
    return word


def cjk_terms(text: str) -> list[str]:
    """Korean stems and Japanese content words of a text, for substring search, in order.

    Korean words of one syllable and common function words are left out; a single
    kanji is kept (猫 is a word).
    """
    terms: list[str] = []
    text = unicodedata.normalize("NFC", text)
    for word in _HANGUL_WORD.findall(text):
        stem = stem_ko(word)
        if len(stem) >= 2 and stem not in _KO_STOPWORDS and word not in _KO_STOPWORDS:
            terms.append(stem)
    terms += [w for w in _JA_WORD.findall(text) if w not in _JA_STOPWORDS]
    return list(dict.fromkeys(terms))
