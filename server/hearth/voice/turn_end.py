"""How long a pause must last to end the person's turn, read from what they said so far.

The voice loop transcribes each pause as it begins (to prepare the reply); this
module reads that transcript. A turn that ends in a way that asks for more ("…and",
"…to the", "um", a trailing comma) gets a long window, so a person thinking
mid-sentence is not cut off; one that is plainly finished (a question, a sentence
with its full stop after a word that can end one) gets a short one, so the reply
comes sooner; anything else gets the base window (`voice.silence_ms`). With Smart
Turn's probability for the same audio (`hearth.engines.smart_turn`), the short
window needs both to agree, and anything else waits long.

Whisper ends almost every transcript with a full stop, even a half sentence
("…go to the."), so the last word decides first and punctuation only after it.
It also drops or changes trailing words ("…call me, but" → "…call me.", "um"
vanishes), which is why the words alone miss many pauses: see
scripts/bench_turn_end.py. How sure Whisper was of its closing mark helps: it
learned punctuation from the sound of real speech, so a clause said with the level
tone of one that goes on ("…call me, [pause] but") gets a full stop it gives less
than even odds (`stop_p`); a mark that unsure is read as no mark at all.

Tables exist for English, Korean and Japanese (the last two unmeasured); other
languages get only the punctuation rules (a trailing comma or ellipsis waits long)
and never the short window.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import Enum


class Verdict(Enum):
    FINISHED = "finished"
    UNFINISHED = "unfinished"
    UNSURE = "unsure"


# Words that cannot end an English sentence: conjunctions, articles and possessives,
# subject pronouns, fillers.
ENGLISH_OPEN = frozenset("""
    and but or nor because cause cuz if than whether
    the a an my your his her its our their every each another
    i we they he she i'm we're they're he's she's it's there's i've we've i'd we'd i'll
    um umm uh uhh er erm ah hmm mm
    gonna wanna gotta kinda sorta
""".split())
# Words that rarely end a statement but may end a question ("Where are you from?").
ENGLISH_LEADING = frozenset("""
    to of in on at for with from by about into onto over under after before between
    through during without within against toward towards across along among around
    behind beside like as per via when while although though unless which who whose where
""".split())
# Words that end a finished sentence as often as an unfinished one ("I think so.",
# "I think so [pause] because…"): the base window.
ENGLISH_EITHER = frozenset("so that this these then".split())
# Words that start a dependent clause: one without a comma is unsure, not finished
# ("When I got home." is half of a sentence).
ENGLISH_SUBORDINATE = frozenset(
    "when if because while although though unless since after before once whenever".split())

# Korean: a last word ending in a connective ending or a particle leads on ("가서",
# "좋은데", "먹고", "친구를"); final endings close. One-syllable particles that end
# many nouns too (이, 가, 도, 의) are left out; "고" and "서" still catch a few
# ("최고", "도서"): those wait long, they are not cut.
KOREAN_OPEN = ("고", "는데", "은데", "인데", "서", "면", "지만", "니까", "거나", "며", "도록",
               "려고", "은", "는", "을", "를", "에", "에서", "으로", "하고", "랑",
               "그리고", "그래서", "그런데", "근데", "음")
KOREAN_CLOSED = ("요", "다", "까", "죠", "네", "지", "어", "아", "야")
# Japanese: the て-form, conjunctive particles and case particles lead on.
JAPANESE_OPEN = ("て", "で", "が", "けど", "けれど", "から", "ので", "し", "に", "を",
                 "は", "って", "たら", "ば", "へ", "ながら", "えっと", "あの")
JAPANESE_CLOSED = ("す", "た", "だ", "か", "ね", "よ", "い", "る", "う", "ん", "の")

_TRAILING = ",，、-–—:;"
SURE_STOP = 0.5  # a closing mark Whisper gave less probability than this is not read
# Smart Turn's probability of a finished turn that the short window needs. Above its own
# 0.5: a turn cut off costs the person more than 800 ms more of waiting does, and on
# the benchmark's tuned set a clause whose "but" Whisper dropped sounded finished at 0.60
# ("I was going to call you last night, [pause] but…"); finished turns mostly score
# above 0.85.
SURE_FINISHED = 0.65
_ELLIPSIS = ("...", "…")
_CLOSE = ".!?。！？"
_WORD = re.compile(r"[\w']+")


def _script(text: str) -> str:
    """'ko', 'ja' or 'latin' by the letters of the text (Whisper's tag may be absent)."""
    if re.search(r"[\uac00-\ud7a3]", text):
        return "ko"
    if re.search(r"[\u3040-\u30ff]", text):
        return "ja"
    return "latin"


def verdict(text: str, language: str | None = "en", stop_p: float | None = None
            ) -> Verdict:
    """Whether `text`, all a person has said of their turn so far, is a finished turn.
    `language` matters only for Latin script ('en' or None: English); `stop_p`, the
    probability Whisper gave the text's last token, if known."""
    text = text.strip().strip('"“”\'')
    if not text:
        return Verdict.UNSURE
    if text.endswith(_ELLIPSIS) or text[-1] in _TRAILING:
        return Verdict.UNFINISHED
    if text[-1] in _CLOSE and stop_p is not None and stop_p < SURE_STOP:
        text = text[:-1].rstrip()  # Whisper was unsure the sentence ends here
        if not text:
            return Verdict.UNSURE
    closed = text[-1] in _CLOSE
    script = _script(text)
    if script in ("ko", "ja"):
        if text[-1] in "?？":
            return Verdict.FINISHED
        bare = text.rstrip(_CLOSE + " ")
        if script == "ko":
            return _by_ending(bare.split()[-1] if bare else "", KOREAN_OPEN, KOREAN_CLOSED,
                              closed)
        return _by_ending(bare, JAPANESE_OPEN, JAPANESE_CLOSED, closed)
    if (language or "en").split("-")[0].lower() != "en":
        return Verdict.UNSURE
    words = _WORD.findall(text.lower().replace("’", "'"))
    if not words:
        return Verdict.UNSURE
    if words[-1] in ENGLISH_OPEN:
        return Verdict.UNFINISHED
    if len(words) < 3 and not text.endswith("?"):
        return Verdict.UNSURE  # "Well." "Honestly." "Wait.": as often a start as a reply
    if words[-1] in ENGLISH_LEADING:
        # "Where are you from?" is done; "Do you know a recipe for…" is not, and
        # Whisper gives both a question mark.
        return Verdict.UNSURE if text.endswith("?") else Verdict.UNFINISHED
    if text.endswith("?"):
        return Verdict.FINISHED
    if words[-1] in ENGLISH_EITHER:
        return Verdict.UNSURE
    if words[0] in ENGLISH_SUBORDINATE and "," not in text:
        return Verdict.UNSURE
    return Verdict.FINISHED if closed else Verdict.UNSURE


def _by_ending(last: str, open_: tuple[str, ...], closed_: tuple[str, ...],
               punctuated: bool) -> Verdict:
    if not last:
        return Verdict.UNSURE
    # A final ending counts only with Whisper's full stop after it: the same
    # syllables end words that lead on ("바다에서" → "바다", "가지고" → "가지").
    if punctuated and last.endswith(closed_):
        return Verdict.FINISHED
    if last.endswith(open_):
        return Verdict.UNFINISHED
    return Verdict.UNSURE


@dataclass(frozen=True)
class TurnEnd:
    """The silence that ends a turn, by what was said: `short_ms` for a finished turn,
    `long_ms` for one that leads on, `base_ms` when the text does not tell."""

    short_ms: int = 200
    base_ms: int = 400
    long_ms: int = 1000

    @staticmethod
    def needs_voice(text: str, language: str | None = "en", stop_p: float | None = None
                    ) -> bool:
        """Whether Smart Turn's probability could change `window`'s answer for `text`: only
        where the words sound finished. Elsewhere, with it, the window is long whatever it
        hears (0.0 gives the same answer without running it)."""
        return verdict(text, language, stop_p) is Verdict.FINISHED

    def window(self, text: str, language: str | None = "en",
               finished: float | None = None, stop_p: float | None = None) -> int:
        """The window for `text` (`stop_p` as for `verdict`); `finished`, Smart Turn's
        probability that the audio sounds finished, if known: then the short window
        needs both to agree that the turn is finished (the voice at `SURE_FINISHED`),
        and anything else waits long."""
        said = verdict(text, language, stop_p)
        if finished is not None and (finished < SURE_FINISHED or said is Verdict.UNSURE):
            said = Verdict.UNFINISHED
        return {Verdict.FINISHED: self.short_ms, Verdict.UNFINISHED: self.long_ms,
                Verdict.UNSURE: self.base_ms}[said]
