"""The Korean LoCoMo-format set is well formed, read through bench_memory's own loader."""

from __future__ import annotations

import importlib
import json
import re
import sys
import unicodedata
from pathlib import Path
from types import ModuleType

import pytest

SCRIPTS = Path(__file__).parents[1] / "scripts"
KOREAN = SCRIPTS / "data" / "locomo-ko.json"
HANGUL = re.compile(r"[\uac00-\ud7a3]")


def _bench() -> ModuleType:
    sys.path.insert(0, str(SCRIPTS))  # bench_memory imports its neighbour benchkit
    try:
        return importlib.import_module("bench_memory")
    finally:
        sys.path.remove(str(SCRIPTS))


@pytest.fixture(scope="module")
def bench() -> ModuleType:
    return _bench()


@pytest.fixture(scope="module")
def samples() -> list[dict]:
    return json.loads(KOREAN.read_text(encoding="utf-8"))


def _sessions(conversation: dict) -> list[tuple[int, list[dict]]]:
    return sorted((int(k.split("_")[1]), v) for k, v in conversation.items()
                  if k.startswith("session_") and isinstance(v, list))


def test_conversations_and_splits(samples: list[dict]) -> None:
    ids = [s["sample_id"] for s in samples]
    assert len(ids) >= 3 and len(set(ids)) == len(ids)
    splits = [s["split"] for s in samples]
    assert set(splits) == {"dev", "heldout"}
    assert splits.count("heldout") >= 1 and splits.count("dev") >= 3
    assert {s["language"] for s in samples} == {"ko"}


def test_each_split_has_a_long_conversation(samples: list[dict]) -> None:
    # LoCoMo-sized (12+ sessions), so that recent turns alone cannot hold the answers.
    long = {s["split"] for s in samples if len(_sessions(s["conversation"])) >= 12}
    assert long == {"dev", "heldout"}


def test_sessions_are_dated_in_order_and_numbered(bench: ModuleType,
                                                  samples: list[dict]) -> None:
    for sample in samples:
        conv = sample["conversation"]
        sessions = _sessions(conv)
        assert len(sessions) >= 6, sample["sample_id"]
        assert [n for n, _ in sessions] == list(range(1, len(sessions) + 1))
        dates = [bench.session_time(conv[f"session_{n}_date_time"]) for n, _ in sessions]
        assert dates == sorted(dates) and len(set(dates)) == len(dates), sample["sample_id"]
        for n, session in sessions:
            assert 15 <= len(session) <= 25, (sample["sample_id"], n)
            for i, turn in enumerate(session, 1):
                assert turn["dia_id"] == f"D{n}:{i}"
                assert turn["speaker"] in (conv["speaker_a"], conv["speaker_b"])
                text = turn["text"]
                assert text == unicodedata.normalize("NFC", text) and HANGUL.search(text), text


def test_questions_point_at_existing_evidence(bench: ModuleType, samples: list[dict]) -> None:
    asked = 0
    categories: set[int] = set()
    for sample in samples:
        text_of = {dia: text for dia, _, text, _ in bench.turns(sample["conversation"])}
        for qa in sample["qa"]:
            question, evidence = qa["question"], qa["evidence"]
            assert qa["category"] in bench.CATEGORIES, qa
            assert evidence and bench.normalise_evidence(evidence) == evidence, qa
            assert all(e in text_of for e in evidence), qa
            assert qa["answer"].strip() and HANGUL.search(question), qa
            # A question is asked in its own words, never a copy of what it asks about.
            assert all(question not in text_of[e] and text_of[e] not in question
                       for e in evidence), qa
            categories.add(qa["category"])
            asked += 1
    assert asked >= 150
    assert categories == set(bench.CATEGORIES)
