"""What is read aloud of a reply, and where a streamed reply is cut for the voice."""

from __future__ import annotations

import random

import pytest

from hearth.voice.speakable import SentenceSplitter, speakable


@pytest.mark.parametrize(
    "text, spoken",
    [
        ("Hello there.", "Hello there."),
        ("  lots   of\tspace  ", "lots of space"),
        # stage directions and bracketed markup
        ("*smiles softly* Hello, friend!", "Hello, friend!"),
        ("Hello. *waves*. Bye.", "Hello. Bye."),
        ("Oh (laughs) that's good. (sighs softly) Fine.", "Oh that's good. Fine."),
        ("(clears throat) Ahem.", "Ahem."),
        ("I'll bring (the red one) tomorrow.", "I'll bring (the red one) tomorrow."),
        ("[OOC: back in five] Okay.", "Okay."),
        ("<think>hmm</think> Sure.", "hmm Sure."),
        ("Okay <b>now</b>.", "Okay now."),
        ("*She opens the door, smiles. Then she waits.*", ""),
        ("Wait *she leans in", "Wait"),  # never closed: dropped to the end
        ("*paragraph\n\nNext part.", "Next part."),  # an unclosed action ends at a blank line
        # not stage directions
        ("5 * 3 is 15", "5 3 is 15"),
        ("2*3 is 6", "23 is 6"),
        ("3 < 5 and <3 you", "3 < 5 and you"),
        # markdown
        ("**Important**: read this.", "Important: read this."),
        ("Use _really_ __strong__ ~~old~~ words", "Use really strong old words"),
        ("snake_case_name stays", "snake_case_name stays"),
        ("Run `make test` now.", "Run make test now."),
        ("See [the docs](https://example.com/docs) first.", "See the docs first."),
        ("![a cat](cat.png) Cute!", "Cute!"),
        ("# Title\nSome text", "Title. Some text"),
        ("- apples\n- pears\n* plums", "apples. pears. plums"),
        ("1. first\n2) second", "first. second"),
        ("> quoted line", "quoted line"),
        ("Before\n\n---\n\nAfter", "Before. After"),
        ('"Hi there"\nOkay', '"Hi there". Okay'),
        ("```python\nprint('hi')\n```\nThat's the code.", "That's the code."),
        ("Start ```never closed code", "Start"),
        # links, emoji, leftovers
        ("Visit https://example.com/a.b?c=1 today.", "Visit today."),
        ("Look at www.example.org.", "Look at."),
        ("I love it 😊❤️! 👍🏽", "I love it!"),
        ("Hello~ there~", "Hello there"),
        ("A | B", "A B"),
        # nothing to say
        ("", ""),
        ("   \n ", ""),
        ("😊 👍", ""),
        ("*nods*", ""),
        ("...", ""),
        ("https://example.com", ""),
    ],
)
def test_speakable(text: str, spoken: str) -> None:
    assert speakable(text) == spoken


def split(text: str, **kw: int) -> list[str]:
    splitter = SentenceSplitter(**kw)
    return splitter.feed(text) + splitter.flush()


@pytest.mark.parametrize(
    "text, pieces",
    [
        ("Hi! How are you? Good.", ["Hi!", "How are you?", "Good."]),
        ("Dr. Smith met Mrs. Jones. They talked.", ["Dr. Smith met Mrs. Jones.", "They talked."]),
        ("It costs 3.50 today. Cheap.", ["It costs 3.50 today.", "Cheap."]),
        ("Bring fruit, e.g. apples. Thanks.", ["Bring fruit, e.g. apples.", "Thanks."]),
        ("Well... maybe not. Hmm... No.", ["Well... maybe not.", "Hmm...", "No."]),
        ("J. R. R. Tolkien wrote it. Yes.", ["J. R. R. Tolkien wrote it.", "Yes."]),
        ('She said "Go away." Then left.', ['She said "Go away."', "Then left."]),
        ("Really?! Wow.", ["Really?!", "Wow."]),
        ("Wait… What?", ["Wait…", "What?"]),
        ("No newline at the end", ["No newline at the end"]),
        ("Line one\nLine two\n\nLine three", ["Line one", "Line two", "Line three"]),
        ("Steps:\n1. Boil water.\n2. Add tea.", ["Steps:", "Boil water.", "Add tea."]),
        ("Visit example.com today. Bye.", ["Visit example.com today.", "Bye."]),
        ("It is 10:30 now. Bye.", ["It is 10:30 now.", "Bye."]),
        # the first piece ends at a clause once it has a few words; later pieces do not
        (
            "Well, I think that you are right, and I am glad, truly glad. Later, maybe, we "
            "can talk about it.",
            ["Well, I think that you are right,", "and I am glad, truly glad.",
             "Later, maybe, we can talk about it."],
        ),
        ("Oh, hi there, it is you! Yes.", ["Oh, hi there, it is you!", "Yes."]),
        ("First of all - listen to me. Ok.", ["First of all -", "listen to me.", "Ok."]),
        ("I was thinking—just now—about you.", ["I was thinking—just now—", "about you."]),
        # stage directions never cut a piece, and vanish whole
        (
            "*She looks up. Then smiles.* Hello there. *waves* Bye!",
            ["Hello there.", "Bye!"],
        ),
        ("*smiles*\nHello.", ["Hello."]),
        ("Hello. *waves and", ["Hello."]),
        ("Code:\n```\nx = 1. y = 2.\n```\nDone.", ["Code:", "Done."]),
        ("Okay. [OOC: brb. back soon.] Sure.", ["Okay.", "Sure."]),
        ("**Wait. Really?** Yes.", ["Wait. Really? Yes."]),
    ],
)
def test_splitter(text: str, pieces: list[str]) -> None:
    assert split(text) == pieces


@pytest.mark.parametrize(
    "text, pieces",
    [
        ("Oh, hi there! How are you?", ["Oh,", "hi there!", "How are you?"]),
        ("You're welcome, I'm glad you came.", ["You're welcome,", "I'm glad you came."]),
        ("I'm so glad that you're here, and well.", ["I'm so glad", "that you're here, and well."]),
        ("I think that you are right.", ["I think that you are right."]),
        ("That is so lovely.", ["That is so lovely."]),
    ],
)
def test_the_voice_loops_first_piece_ends_sooner(text: str, pieces: list[str]) -> None:
    # The voice loop's setting (`hearth.voice.session.FIRST_PIECE`): one word before a
    # clause mark, three before a clause-opening word; later pieces are cut as ever.
    assert split(text, first_words=1, conjunction_words=2) == pieces


def test_long_sentences_are_cut_at_clauses_then_spaces() -> None:
    clauses = "Then " + ", ".join(f"the {n}th thing happened to us" for n in range(12)) + "."
    pieces = split("Intro sentence here. " + clauses)
    assert pieces[0] == "Intro sentence here."
    assert all(len(p) <= 200 for p in pieces)
    assert all(p.endswith((",", ".")) for p in pieces)
    assert " ".join(pieces[1:]) == clauses
    spaced = " ".join(["word"] * 120)
    pieces = split("Hi! " + spaced)
    assert pieces[0] == "Hi!"
    assert all(len(p) <= 200 for p in pieces) and " ".join(pieces[1:]) == spaced


REPLIES = [
    "*She looks up from her book and smiles.* Oh, hello there, it's so good to see you again! "
    "I was reading about Dr. Watson, you know, the one from the stories. It costs 3.5 pounds... "
    "well, roughly. *pauses, thinking* What do you think? (laughs) I'm kidding, of course.\n\n"
    "**Things to bring:**\n- a coat\n- 2 umbrellas\n1. tea\n2. cake\n"
    "See [the map](https://example.com/map.png) 😊 and `the notes`. Bye~",
    "```\ncode. more code!\n```\nThat was code. [OOC: note. more.] <em>Really</em>? Yes—maybe. "
    + ", ".join(f"clause number {n} of a very long sentence" for n in range(15)) + ". End",
    "Hello. *waves and never stops",
]


@pytest.mark.parametrize("reply", REPLIES)
def test_streaming_in_any_delta_sizes_gives_the_same_pieces(reply: str) -> None:
    whole = split(reply)
    assert whole and all(whole)
    rng = random.Random(7)
    for _ in range(200):
        splitter, pieces, i = SentenceSplitter(), [], 0
        while i < len(reply):
            size = rng.choice([1, 1, 2, 3, 5, 8, 20])
            pieces += splitter.feed(reply[i:i + size])
            i += size
        assert pieces + splitter.flush() == whole


def test_pieces_come_as_soon_as_they_are_complete() -> None:
    splitter = SentenceSplitter()
    assert splitter.feed("Hello there") == []
    assert splitter.feed(". How") == ["Hello there."]  # "H": not a lowercase continuation
    assert splitter.feed(" are you?") == []  # the end could still be "?!"
    assert splitter.feed(" *smi") == ["How are you?"]
    assert splitter.feed("les. Then") == []  # inside the action: nothing is cut
    assert splitter.feed(" waves.* Ok") == []
    assert splitter.flush() == ["Ok"]


def test_first_piece_may_end_at_a_clause() -> None:
    splitter = SentenceSplitter()
    assert splitter.feed("Well, you know, I think") == []  # "Well," is too short to start on
    assert splitter.feed(" so, and") == ["Well, you know, I think so,"]
    assert splitter.feed(" also, this is long, really.") == []
    assert splitter.flush() == ["and also, this is long, really."]


def test_first_piece_may_end_before_a_clause_opening_word() -> None:
    # Small models often start with a long sentence and no comma: speak its first half.
    assert split("I'm so glad to hear that your cat is well. And you?") == [
        "I'm so glad to hear", "that your cat is well.", "And you?"]
    assert split("Yes and no, maybe so.") == ["Yes and no, maybe so."]  # too short to cut
    splitter = SentenceSplitter()
    assert splitter.feed("I am really happy to see that") == []  # is "that" a whole word yet?
    assert splitter.feed(" you") == ["I am really happy to see"]


def test_a_splitter_is_reusable_after_flush() -> None:
    splitter = SentenceSplitter()
    first = splitter.feed("One, two, three, four, five. Six.") + splitter.flush()
    assert splitter.feed("One, two, three, four, five. Six.") + splitter.flush() == first
