"""The person's profile: checked field by field (nothing changes when one is bad), kept
across an upgrade, and used in the window: the name characters say, the persona beside
the card, and the person's own time of day in the clock note and in "yesterday"."""

from __future__ import annotations

import sqlite3
import time
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from hearth.accounts import Accounts
from hearth.backup import export_user
from hearth.chat import ImportItem
from hearth.errors import InvalidInput
from hearth.relationship.profile import MAX_PERSONA, ProfileFields, check
from hearth.services import People
from hearth.store import Store
from tests.utils.conversations import history, window_text

SEOUL = ZoneInfo("Asia/Seoul")


@pytest.mark.parametrize(("fields", "field"), [
    (ProfileFields(timezone="Mars/Base"), "timezone"),
    (ProfileFields(timezone="../../etc/passwd"), "timezone"),
    (ProfileFields(language="klingon"), "language"),
    (ProfileFields(language="xx-US"), "language"),
    (ProfileFields(display_name="x" * 101), "display_name"),
    (ProfileFields(display_name="two\nlines"), "display_name"),
    (ProfileFields(pronouns="y" * 41), "pronouns"),
    (ProfileFields(persona="z" * (MAX_PERSONA + 1)), "persona"),
])
def test_a_bad_field_is_refused_by_its_name(fields: ProfileFields, field: str) -> None:
    with pytest.raises(InvalidInput) as e:
        check(fields)
    assert e.value.message.startswith(f"{field}: ")
    assert e.value.status == 422


def test_good_fields_come_back_as_stored() -> None:
    assert check(ProfileFields(display_name=" Caroline ", timezone="Asia/Seoul",
                               language="pt_br", reach_out=False)) == {
        "display_name": "Caroline", "timezone": "Asia/Seoul", "language": "pt-BR",
        "reach_out": False}
    assert check(ProfileFields(timezone="", language="")) == {"timezone": "", "language": ""}
    assert check(ProfileFields(language="zh-hant-tw"))["language"] == "zh-Hant-TW"
    assert check(ProfileFields(language="yue"))["language"] == "yue"


def test_nothing_changes_when_one_field_is_bad(tmp_path: Path) -> None:
    store = Store(tmp_path / "hearth.db")
    people = People(Accounts(store, loopback_only=True), None)
    user = store.people.ensure("User")
    people.set_profile(user.id, ProfileFields(display_name="Caroline", timezone="Asia/Seoul"))
    with pytest.raises(InvalidInput, match="^language: "):
        people.set_profile(user.id, ProfileFields(display_name="Mallory", pronouns="they/them",
                                                  language="not-a-language"))
    kept = store.people.get(user.id)
    assert (kept.display_name, kept.pronouns, kept.timezone) == ("Caroline", "", "Asia/Seoul")
    assert kept.shown_name == "Caroline" and kept.zone == SEOUL and kept.lang == "en"
    exported = export_user(store, "User").user  # the profile is part of the person's data
    assert (exported.display_name, exported.timezone) == ("Caroline", "Asia/Seoul")
    store.close()


def test_an_old_database_gains_the_profile_columns(tmp_path: Path) -> None:
    path = tmp_path / "hearth.db"
    old = sqlite3.connect(path)  # the users table as versions before the profile made it
    old.executescript("""
        CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE COLLATE NOCASE,
            created_at REAL NOT NULL,
            role TEXT NOT NULL DEFAULT 'member' CHECK (role IN ('owner', 'member')),
            password_hash TEXT);
        INSERT INTO users (name, created_at, role) VALUES ('Alice', 1.0, 'owner');
    """)
    old.close()
    store = Store(path)
    alice = store.people.get_by_name("Alice")
    assert alice.is_owner and alice.display_name == "" and alice.reach_out
    assert alice.shown_name == "Alice" and alice.lang == "en"
    changed = store.people.set_profile(alice.id, display_name="Ali", timezone="Asia/Seoul",
                                       reach_out=False)
    assert (changed.shown_name, changed.zone, changed.reach_out) == ("Ali", SEOUL, False)
    store.close()
    assert Store(path).people.get(alice.id).display_name == "Ali"  # and opens again as is


def test_the_window_uses_the_shown_name_and_the_persona(start_services) -> None:  # noqa: ANN001
    services = start_services()
    user = services.people.set_profile(services.user.id, ProfileFields(
        display_name="Caroline", pronouns="she/her",
        persona="A night-shift nurse in Busan who loves {{char}}'s stories."))
    assert user.name == "User"
    conversation = services.chat.start_conversation(user, 1)
    greeting = services.store.messages.list(conversation.id)[0].content
    assert "Caroline" in greeting and "User" not in greeting
    window = services.chat.window(user, conversation.id, "I'm back from work.")
    system = window.messages[0].content
    assert "About Caroline (she/her): A night-shift nurse in Busan who loves Ember's stories." \
        in system
    assert "Caroline is at home" in system  # {{user}} in the card's scenario
    assert "User" not in window_text(window)
    # The prefix is rendered from the profile alone: the next turn starts the same way.
    again = services.chat.window(user, conversation.id, "Something else.")
    assert again.messages[0] == window.messages[0]


def test_a_persona_too_long_for_the_window_is_refused(start_services) -> None:  # noqa: ANN001
    services = start_services()  # 2048 - 96 tokens for a prompt: a persona may take 488
    before = services.user
    persona = "7 " * 990  # under the character limit, but a token a character
    assert len(persona) <= MAX_PERSONA
    with pytest.raises(InvalidInput, match="^persona: .* tokens"):
        services.people.set_profile(before.id, ProfileFields(display_name="Caroline",
                                                             persona=persona))
    assert services.store.people.get(before.id) == before


def test_the_clock_note_is_in_the_persons_zone(start_services) -> None:  # noqa: ANN001
    services = start_services()
    user = services.people.set_profile(services.user.id, ProfileFields(timezone="Asia/Seoul"))
    conversation = services.chat.start_conversation(user, 1)
    # Friday 4 December 2026, 02:04 in Seoul: Thursday 17:04 in UTC.
    now = datetime(2026, 12, 4, 2, 4, tzinfo=SEOUL).timestamp()
    window = services.chat.window(user, conversation.id, "Can't sleep.", now=now)
    assert "[Now: Fri 4 Dec 2026, 02:04]" in window.messages[-1].content
    utc = services.people.set_profile(user.id, ProfileFields(timezone="UTC"))
    window = services.chat.window(utc, conversation.id, "Can't sleep.", now=now)
    assert "[Now: Thu 3 Dec 2026, 17:04]" in window.messages[-1].content


def test_yesterday_is_the_persons_yesterday(start_services) -> None:  # noqa: ANN001
    services = start_services()
    user = services.people.set_profile(services.user.id, ProfileFields(timezone="Asia/Seoul"))
    conversation = services.chat.start_conversation(user, 1)
    # Just after midnight in Seoul (15:30 UTC): Seoul's yesterday is 3 December, UTC's the 2nd.
    now = datetime(2026, 12, 4, 0, 30, tzinfo=SEOUL).timestamp()
    at = lambda d, h: datetime(2026, 12, d, h, tzinfo=SEOUL).timestamp()  # noqa: E731
    services.chat.import_messages(user, conversation.id, [
        ImportItem("user", "I went hiking in the mountains with Tom.", at(2, 10)),  # UTC: 2nd
        ImportItem("assistant", "Lovely!", at(2, 10) + 60),
        ImportItem("user", "I went hiking by the lake with Tom.", at(3, 10)),  # UTC: 3rd, 01:00
        ImportItem("assistant", "Lovely!", at(3, 10) + 60),
        *history(60, at(3, 13)),
    ])
    question = "Where did I go hiking yesterday?"
    window = services.chat.window(user, conversation.id, question, now=now)
    assert "lake" in window.memories[0].text
    assert "3 Dec 2026:\nUser: I went hiking by the lake" in window_text(window)
    # The same question from someone in UTC means the 2nd.
    utc = services.people.set_profile(user.id, ProfileFields(timezone="UTC"))
    window = services.chat.window(utc, conversation.id, question, now=now)
    assert "mountains" in window.memories[0].text


def test_recall_and_memory_search_use_the_shown_name(start_services) -> None:  # noqa: ANN001
    services = start_services()
    user = services.people.set_profile(services.user.id, ProfileFields(display_name="Caroline"))
    conversation = services.chat.start_conversation(user, 1)
    services.chat.import_messages(user, conversation.id, [
        ImportItem("user", "My sister Alba lives in Reykjavik.", time.time() - 9 * 86400),
        *history(60, time.time() - 8 * 86400)])
    window = services.chat.window(user, conversation.id, "Where does Caroline's sister live?")
    assert "Caroline: My sister Alba lives in Reykjavik." in window_text(window)
    found = services.memories.search(user, "Where does Caroline's sister live?", character_id=1,
                                     limit=3)
    assert "Reykjavik" in found[0].text
