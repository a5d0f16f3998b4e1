"""Logins under attack: guesses made at once cannot pass the limit, and the time of an
answer does not tell which names exist."""

from __future__ import annotations

import statistics
import time
import unicodedata
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from hearth.accounts import Accounts
from hearth.errors import TooManyAttempts, Unauthorized
from hearth.store import Store

PASSWORD = "olive's long password"


@pytest.fixture()
def accounts(tmp_path: Path) -> Accounts:
    store = Store(tmp_path / "hearth.db")
    accounts = Accounts(store, loopback_only=True)
    accounts.init_owner("Olive", PASSWORD)
    return accounts


def _attempt(accounts: Accounts, name: str, password: str) -> str:
    try:
        accounts.login(name, password)
    except Unauthorized:
        return "wrong"
    except TooManyAttempts:
        return "refused"
    return "in"


def test_parallel_guesses_cannot_pass_the_limit(accounts: Accounts) -> None:
    with ThreadPoolExecutor(60) as pool:
        answers = list(pool.map(lambda i: _attempt(accounts, "Olive", f"guess {i:04d}"),
                                range(60)))
    assert answers.count("wrong") <= 5 and answers.count("refused") >= 55
    assert _attempt(accounts, "Olive", PASSWORD) == "refused"  # until the window passes


def test_a_right_password_clears_the_count(accounts: Accounts) -> None:
    for i in range(4):
        assert _attempt(accounts, "Olive", f"guess {i}") == "wrong"
    assert _attempt(accounts, "Olive", PASSWORD) == "in"
    for i in range(5):  # five more before the limit again
        assert _attempt(accounts, "Olive", f"guess {i}") == "wrong"
    assert _attempt(accounts, "Olive", PASSWORD) == "refused"
    accounts.add_member("Bram", "bram's long password")
    assert _attempt(accounts, "Bram", "bram's long password") == "in"  # per name


def test_unknown_names_answer_as_slowly_as_known_ones(accounts: Accounts) -> None:
    """Today's gap was all of one scrypt (~50 ms against ~0.1 ms); half of it is a bound
    no busy machine crosses by chance, over medians of 12 tries each."""
    accounts.add_member("Tokens Only")  # a name without a password is no shortcut either
    for n in range(3):
        accounts.add_member(f"Member {n}", "a long enough password")

    def took(name: str) -> float:
        start = time.perf_counter()
        assert _attempt(accounts, name, "not the password") == "wrong"
        return time.perf_counter() - start

    took("warm up")
    known = [took(f"Member {n}") for n in range(3) for _ in range(4)]
    unknown = [took(f"Nobody {n}") for n in range(12)]
    passwordless = [took("Tokens Only") for _ in range(4)]
    assert statistics.median(unknown) > statistics.median(known) / 2
    assert statistics.median(passwordless) > statistics.median(known) / 2


def test_a_korean_name_logs_in_however_it_is_spelled(tmp_path: Path) -> None:
    """Names are kept NFC and looked up NFC: one typed as NFD (macOS, some IMEs) still matches."""
    nfc, nfd = "나래", unicodedata.normalize("NFD", "나래")
    accounts = Accounts(Store(tmp_path / "hearth.db"), loopback_only=True)
    owner, _ = accounts.init_owner(nfd, PASSWORD)
    assert owner.name == nfc
    assert accounts.login(nfc, PASSWORD)[0].id == owner.id
    assert accounts.login(nfd, PASSWORD)[0].id == owner.id
    assert accounts.store.people.get_by_name(nfd).id == owner.id
