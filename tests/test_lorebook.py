"""The lorebook: which entries a chat triggers, and which of them fit the budget."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest

from hearth.lorebook import KeyRules, LoreEntry, disabled_key_warnings, select, triggered

ISSUE_KEY = r"/(\w+\s?)+$/"  # issue 14: 5.5 s on a 40-character message on the stdlib engine
RUNAWAY_KEY = r"/(\w|\w\w|\w\w\w)+$/"  # exponential on both engines: only a bound stops it


def words(text: str) -> int:
    return len(text.split())


def entry(keys: list[str] | None = None, content: str = "lore", **extra: Any) -> dict[str, Any]:
    return {"keys": keys if keys is not None else [], "content": content, "extensions": {},
            "enabled": True, "insertion_order": 0, **extra}


def book(*entries: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {"extensions": {}, "entries": list(entries), **extra}


# -- triggering -----------------------------------------------------------------


def test_primary_key_triggers() -> None:
    b = book(entry(["dragon"]), entry(["castle"]))
    assert triggered(b, ["I saw a dragon today"]) == [0]
    assert triggered(b, ["nothing here"]) == []


def test_case_insensitive_by_default_and_case_sensitive_on_request() -> None:
    b = book(entry(["Miso"]), entry(["Miso"], case_sensitive=True))
    assert triggered(b, ["where is miso?"]) == [0]
    assert triggered(b, ["where is Miso?"]) == [0, 1]


@pytest.mark.parametrize(("text", "fires"), [
    ("the cat sat", True),
    ("Cat!", True),
    ("cats", False),
    ("concatenate", False),
    ("bobcat", False),
    ("cat_food", False),
])
def test_whole_word_matching(text: str, fires: bool) -> None:
    assert (triggered(book(entry(["cat"])), [text]) == [0]) is fires


def test_key_edges_that_are_not_word_characters_need_no_boundary() -> None:
    b = book(entry(["Dr."]), entry(["#tag"]))
    assert triggered(b, ["Ask Dr.Who"]) == [0]
    assert triggered(b, ["see x#tag"]) == [1]


def test_phrase_keys_match_across_any_whitespace() -> None:
    b = book(entry(["good morning"]))
    assert triggered(b, ["Good\n  morning, sunshine"]) == [0]
    assert triggered(b, ["goodmorning"]) == []


def test_scripts_without_spaces_match_inside_words() -> None:
    assert triggered(book(entry(["猫"])), ["我的猫很可爱"]) == [0]


def test_selective_needs_a_secondary_key() -> None:
    b = book(entry(["sword"], selective=True, secondary_keys=["fire", "ice"]))
    assert triggered(b, ["a sword"]) == []
    assert triggered(b, ["a sword of ice"]) == [0]
    assert triggered(b, ["ice alone"]) == []


def test_secondary_keys_are_ignored_unless_selective_or_empty() -> None:
    b = book(entry(["sword"], selective=False, secondary_keys=["fire"]),
             entry(["sword"], selective=True, secondary_keys=[]))
    assert triggered(b, ["a sword"]) == [0, 1]


def test_constant_always_triggers() -> None:
    b = book(entry(["never-said"], constant=True), entry([], constant=True))
    assert triggered(b, []) == [0, 1]


def test_disabled_entries_never_trigger() -> None:
    b = book(entry(["dragon"], enabled=False), entry([], constant=True, enabled=False),
             entry(["dragon"], content="@@activate\nlore", enabled=False))
    assert triggered(b, ["dragon"]) == []


def test_enabled_defaults_to_true() -> None:
    e = entry(["dragon"])
    del e["enabled"]
    assert triggered(book(e), ["dragon"]) == [0]


def test_scan_depth_limits_the_scanned_messages() -> None:
    history = ["dragon here", "a", "b", "new message"]  # newest last
    assert triggered(book(entry(["dragon"]), scan_depth=2), history) == []
    assert triggered(book(entry(["dragon"]), scan_depth=3), history) == [0]
    assert triggered(book(entry(["new"]), scan_depth=0), history) == [0]
    assert triggered(book(entry(["b"]), scan_depth=0), history) == []


def test_default_scan_depth_is_four_plus_the_new_message() -> None:
    b = book(entry(["dragon"]))
    assert triggered(b, ["dragon", "1", "2", "3", "4", "new"]) == []
    assert triggered(b, ["dragon", "2", "3", "4", "new"]) == [0]


def test_recursive_scanning_follows_entry_content() -> None:
    entries = (entry(["Miso"], content="Miso is the user's cat."),
               entry(["cat"], content="Cats need a vet."),
               entry(["vet"], content="The vet is Dr. Ana."))
    assert triggered(book(*entries), ["How is Miso?"]) == [0]
    assert triggered(book(*entries, recursive_scanning=True), ["How is Miso?"]) == [0, 1, 2]


def test_recursive_scanning_survives_cycles() -> None:
    b = book(entry(["alpha"], content="beta"), entry(["beta"], content="alpha"),
             entry(["gamma"], content="alpha beta gamma"), recursive_scanning=True)
    assert triggered(b, ["alpha"]) == [0, 1]


def test_recursive_scanning_is_bounded() -> None:
    chain = [entry([f"k{i}"], content=f"k{i + 1}") for i in range(20)]
    found = triggered(book(*chain, recursive_scanning=True), ["k0"])
    assert found[:2] == [0, 1] and 2 < len(found) < 20


def test_regex_keys() -> None:
    b = book(entry(["/dragons?/i"], use_regex=True),
             entry([r"\bwyv\w+"], use_regex=True),
             entry([r"ORC\d"], use_regex=True, case_sensitive=True))
    assert triggered(b, ["Two DRAGONS"]) == [0]
    assert triggered(b, ["a Wyvern"]) == [1]
    assert triggered(b, ["orc1"]) == []
    assert triggered(b, ["ORC1"]) == [2]


def test_slash_form_is_a_regex_without_use_regex() -> None:
    b = book(entry(["/colou?r/"]))
    assert triggered(b, ["a nice color"]) == [0]
    assert triggered(b, ["a nice COLOR"]) == []  # no i flag: case sensitive


def test_invalid_regex_never_matches_and_does_not_crash() -> None:
    b = book(entry(["(unclosed"], use_regex=True), entry(["/[z-a]/"]),
             entry(["(unclosed", "ok"], use_regex=True))
    assert triggered(b, ["(unclosed [z-a] ok"]) == [2]


def test_runaway_regex_runs_out_of_time_without_holding_the_gil() -> None:
    b = book(entry([ISSUE_KEY], name="issue"), entry([RUNAWAY_KEY], name="runaway"),
             entry(["/dragons?/i"], name="dragons"))
    timed_out: list[str] = []
    rules = KeyRules(timeout=0.2, on_timeout=timed_out.append)
    gaps = [0.0]
    done = threading.Event()

    def tick() -> None:  # another thread, as the server's other requests would be
        while not done.is_set():
            start = time.monotonic()
            time.sleep(0.01)
            gaps.append(time.monotonic() - start)

    ticker = threading.Thread(target=tick)
    ticker.start()
    try:
        # 60 word characters: RUNAWAY_KEY would search for years without a bound.
        assert triggered(b, ["a" * 60 + "!", "Dragons?"], rules) == [2]
    finally:
        done.set()
        ticker.join()
    assert timed_out == [RUNAWAY_KEY]
    # Held GIL, the other thread would wait the whole search; 2 s is 10x the bound and
    # far above a busy machine's scheduling delay.
    assert max(gaps) < 2.0


def test_keys_turned_off_never_match_and_are_reported() -> None:
    b = book(entry([RUNAWAY_KEY, "/castle/"], name="keep"), entry(["dragon"]))
    rules = KeyRules(off=frozenset({RUNAWAY_KEY}), on_timeout=pytest.fail)
    assert triggered(b, ["a" * 60 + "!"], rules) == []
    assert triggered(b, ["the castle"], rules) == [0]
    (warning,) = disabled_key_warnings(b, [RUNAWAY_KEY, "/gone from the card/"])
    assert '"keep"' in warning and RUNAWAY_KEY in warning and "turned off" in warning
    assert disabled_key_warnings(b, []) == []


@pytest.mark.parametrize("key", [
    "/((a{1000}){1000}){1000}/",  # unrolled when compiled: never finishes, GIL held
    "/" + "x" * 400 + "/",  # its first search builds a table in time quadratic in length
])
def test_regex_keys_too_costly_to_compile_never_match(key: str) -> None:
    b = book(entry([key]), entry(["/a{2,5}(?<=a)b/"]))  # counted repeats and lookbehind work
    assert triggered(b, ["aaab " + "x" * 500], KeyRules(on_timeout=pytest.fail)) == [1]


def test_decorators_activate_and_dont_activate() -> None:
    b = book(entry([], content="@@activate\n\nAlways here."),
             entry(["dragon"], content="@@dont_activate\nNever here."),
             entry(["dragon"], content="@@dont_activate\n@@activate\nHere anyway."),
             entry(["dragon"], content="@@risu_only 3\n@@@activate\nBy fallback."))
    assert triggered(b, ["dragon"]) == [0, 2, 3]
    chosen = select(b, ["dragon"], budget=100, count=words)
    assert [e.content for e in chosen] == ["Always here.", "Here anyway.", "By fallback."]


def test_scan_depth_decorator_overrides_the_book() -> None:
    b = book(entry(["dragon"], content="@@scan_depth 0\nlore"), entry(["dragon"]))
    assert triggered(b, ["dragon", "new"]) == [1]


# -- selecting --------------------------------------------------------------------


def test_select_orders_by_insertion_order_then_position() -> None:
    b = book(entry([], content="c", constant=True, insertion_order=5),
             entry([], content="a", constant=True, insertion_order=1),
             entry([], content="b1", constant=True, insertion_order=3),
             entry([], content="b2", constant=True, insertion_order=3))
    chosen = select(b, [], budget=100, count=words)
    assert [e.content for e in chosen] == ["a", "b1", "b2", "c"]
    assert chosen[0] == LoreEntry(index=1, name="", content="a", insertion_order=1,
                                  priority=0, constant=True, tokens=1)


def test_budget_drops_lowest_priority_first() -> None:
    b = book(entry(["x"], content="one two three", priority=5, name="high"),
             entry(["x"], content="four five six", priority=1, name="low"),
             entry(["x"], content="seven eight nine", name="none"))
    chosen = select(b, ["x"], budget=6, count=words)
    assert [e.name for e in chosen] == ["high", "low"]
    assert sum(e.tokens for e in chosen) == 6


def test_budget_ties_keep_constant_then_earlier_insertion() -> None:
    b = book(entry(["x"], content="a b", insertion_order=1),
             entry(["x"], content="c d", insertion_order=9),
             entry([], content="e f", insertion_order=10, constant=True))
    assert [e.index for e in select(b, ["x"], budget=4, count=words)] == [0, 2]


def test_budget_never_cuts_an_entry_and_fills_with_smaller_ones() -> None:
    b = book(entry(["x"], content="a b c d e f g h", priority=9),
             entry(["x"], content="small one", priority=1))
    chosen = select(b, ["x"], budget=5, count=words)
    assert [e.content for e in chosen] == ["small one"]


def test_book_token_budget_caps_the_callers_budget() -> None:
    b = book(entry([], content="a b c", constant=True, priority=2),
             entry([], content="d e f", constant=True, priority=1), token_budget=4)
    assert [e.index for e in select(b, [], budget=100, count=words)] == [0]
    assert [e.index for e in select(b, [], budget=3, count=words)] == [0]
    assert select(b, [], budget=0, count=words) == []


def test_empty_content_is_never_inserted() -> None:
    b = book(entry([], content="", constant=True), entry([], content="@@activate\n"))
    assert triggered(b, []) == [0, 1]
    assert select(b, [], budget=100, count=words) == []


def test_name_falls_back_to_comment() -> None:
    b = book(entry([], content="lore", constant=True, comment="Miso"))
    assert select(b, [], budget=10, count=words)[0].name == "Miso"


# -- malformed books --------------------------------------------------------------


def test_none_and_non_dict_books() -> None:
    for b in (None, [], "book", 3):
        assert triggered(b, ["anything"]) == []  # type: ignore[arg-type]
        assert select(b, ["anything"], budget=100, count=words) == []  # type: ignore[arg-type]


@pytest.mark.parametrize("entries", [None, "entries", {"0": {}}, 5])
def test_entries_not_a_list(entries: object) -> None:
    assert triggered({"entries": entries}, ["dragon"]) == []


def test_bad_entries_are_skipped_and_indices_stay_true() -> None:
    b = book(
        "not an entry",
        {"keys": ["dragon"]},  # no content
        entry("dragon"),  # type: ignore[arg-type]  # keys a lone string: still a key
        entry([1, None, "dragon", ""], priority="high", insertion_order=None),
        entry({"dragon": 1}),  # type: ignore[arg-type]  # keys not a list: no keys
        entry(["dragon"], content=42),
        entry(["dragon"], selective=True, secondary_keys="nope", case_sensitive="maybe"),
        scan_depth="deep", token_budget=-1, recursive_scanning="yes",
    )
    assert triggered(b, ["dragon"]) == [2, 3]
    chosen = select(b, ["dragon"], budget=100, count=words)
    assert [(e.index, e.priority, e.insertion_order) for e in chosen] == [(2, 0, 0), (3, 0, 0)]


def test_texts_as_a_lone_string_and_non_strings() -> None:
    b = book(entry(["dragon"]))
    assert triggered(b, "a dragon") == [0]
    assert triggered(b, ["a dragon", None]) == [0]  # type: ignore[list-item]
