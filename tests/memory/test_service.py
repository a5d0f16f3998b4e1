"""Memory upkeep on the real models: the index follows SQLite (rebuilt, caught up, forgotten),
and the background writes facts and summaries."""

from __future__ import annotations

import asyncio
import shutil
import time

from hearth.chat import ImportItem
from hearth.memory import ids as memory_ids
from tests.utils.conversations import DAY, history, replies, window_text


def test_index_is_rebuilt_after_its_directory_is_deleted(start_services, tmp_path) -> None:  # noqa: ANN001
    data = tmp_path / "rebuild"
    services = start_services(data)
    user = services.user
    conversation = services.chat.start_conversation(user, 1)
    said = {2: "My grandmother's name was Ilse and she baked rye bread."}
    services.chat.import_messages(user, conversation.id, history(80, time.time() - 9 * DAY, said))
    before = services.memory.index.count()
    services.close()
    shutil.rmtree(data / "memory")

    again = start_services(data)
    assert again.memory.index.count() == 0
    assert again.memory.catch_up() == before  # what the server runs at start-up
    window = again.chat.window(user, conversation.id, "What was my grandmother called?")
    assert "Ilse" in window_text(window)
    assert again.memory.reindex() == len(again.store.messages.ids())


def test_background_writes_facts_and_summary(start_services) -> None:  # noqa: ANN001
    services = start_services(memory={"summary_tokens": 48}, max_reply_tokens=48)
    user = services.user
    conversation = services.chat.start_conversation(user, 1)
    services.chat.import_messages(user, conversation.id, history(110, time.time() - DAY))
    said = "My name is Dana, I work as a nurse in Porto and I have two cats."
    replies(services, user, [(conversation.id, said)])
    facts = services.store.facts.list(user_id=user.id)
    message_id = services.store.messages.list(conversation.id)[-2].id
    assert facts, "the chat model should extract at least one fact"
    assert all(f.source_message_ids == [message_id] for f in facts)
    # Extraction again adds nothing: facts are deduplicated.
    message = services.store.messages.list(conversation.id)[-2]
    again = asyncio.run(services.memory.extract_facts(message, user=user.name, user_id=user.id,
                                                      character_id=1))
    assert again == [] and len(services.store.facts.list(user_id=user.id)) == len(facts)
    # The window overflowed, so the turns that left it are summarised.
    summary = services.store.summaries.find(conversation.id)
    assert summary is not None and summary.text and summary.upto_message_id >= 1
    # The facts are in the profile block of the next window that starts afresh.
    fresh = services.chat.start_conversation(user, 1)
    window = services.chat.window(user, fresh.id, "Do you remember me?")
    assert facts[0].text in window.messages[0].content
    assert next(b for b in window.blocks if b.name == "profile").tokens > 0


def test_deleted_conversations_and_characters_leave_the_index(start_services) -> None:  # noqa: ANN001
    services = start_services()
    user, memory = services.user, services.memory
    character = services.store.characters.create(
        data={**services.store.characters.get(1).data, "name": "Otto"}, avatar=None)
    kept = services.chat.start_conversation(user, character.id)
    gone = services.chat.start_conversation(user, character.id)
    other = services.chat.start_conversation(user, 1)
    services.chat.import_messages(user, kept.id, history(6, time.time() - DAY))
    ids = services.chat.import_messages(user, gone.id, history(6, time.time() - DAY))
    services.store.summaries.set(gone.id, text="They talked about octopuses.",
                                 upto_message_id=ids[-1])
    memory._index_summary(gone.id)
    fact = memory.add_fact(user_id=user.id, character_id=character.id,
                           text="User keeps an octopus.", source_message_ids=[ids[0]],
                           said_at=time.time())
    indexed = memory.index.indexed_ids()
    assert {memory_ids.message(i) for i in ids} | {memory_ids.summary(gone.id)} <= indexed

    services.conversations.delete(user, gone.id)  # what DELETE /api/conversations/{id} runs
    left = memory.index.indexed_ids()
    assert not ({memory_ids.message(i) for i in ids} | {memory_ids.summary(gone.id)}) & left
    assert {memory_ids.message(m.id) for m in services.store.messages.list(kept.id)} <= left

    services.characters.delete(character.id)  # DELETE /api/characters/{id}
    others = {memory_ids.message(m.id) for m in services.store.messages.list(other.id)}
    assert memory.index.indexed_ids() == others, "Otto's messages and fact go, Ember's stay"
    assert fact is not None and memory_ids.fact(fact.id) in left - others


def test_edited_and_deleted_messages_follow_in_the_index(start_services) -> None:  # noqa: ANN001
    services = start_services()
    services.settings.memory.background = False  # no loop here to extract facts again on
    user, index = services.user, services.memory.index
    conversation = services.conversations.start(user, 1).conversation
    said, reply = services.chat.import_messages(user, conversation.id, [
        ImportItem("user", "My bicycle is green.", time.time() - DAY),
        ImportItem("assistant", "A green bicycle, lovely.", time.time() - DAY + 5)])

    def indexed_text(message_id: int) -> str | None:
        found = index.get([memory_ids.message(message_id)])
        return found[0].text if found else None

    assert indexed_text(said) == "My bicycle is green."
    # PATCH /api/messages/{id}: the index holds the new wording, not the old one.
    services.conversations.edit_message(user, said, content="My bicycle is red.")
    assert indexed_text(said) == "My bicycle is red."
    greeting = services.conversations.messages(user, conversation.id)[0]
    assert len(greeting.swipes) > 1
    services.conversations.edit_message(user, greeting.id, swipe_index=1)
    assert indexed_text(greeting.id) == services.store.messages.get(greeting.id,
                                                                    user_id=user.id).content
    # DELETE /api/messages/{id}: it leaves the index too.
    services.conversations.delete_message(user, reply)
    assert indexed_text(reply) is None and indexed_text(said) is not None


def _said(services, conversation_id: int, *texts: str) -> list[int]:  # noqa: ANN001
    """Import user lines (each answered), a day ago; returns the user lines' ids."""
    start = time.time() - DAY
    items = []
    for n, text in enumerate(texts):
        items += [ImportItem("user", text, start + 20 * n),
                  ImportItem("assistant", "I see.", start + 20 * n + 5)]
    ids = services.chat.import_messages(services.user, conversation_id, items)
    return ids[::2]


def _fact(services, text: str, sources: list[int]):  # noqa: ANN001, ANN202
    fact = services.memory.add_fact(user_id=services.user.id, character_id=1, text=text,
                                    source_message_ids=sources, said_at=time.time() - DAY)
    assert fact is not None
    return fact


def test_facts_follow_an_edited_or_deleted_message(start_services) -> None:  # noqa: ANN001
    """A fact goes with the last message it came from, in SQLite and in the index; one
    with another source keeps that one; one added by hand (no source) stays; an edit
    extracts facts again from the new words, in the background."""
    services = start_services()
    user, store, index = services.user, services.store, services.memory.index
    conversation = services.conversations.start(user, 1).conversation
    tortoise, garden, boat = _said(services, conversation.id, "My tortoise is called Pebble.",
                                   "I grow tomatoes in my garden.", "I sail a small boat.")
    pebble = _fact(services, "Olive's tortoise is called Pebble.", [tortoise])
    tomatoes = _fact(services, "Olive grows tomatoes in a garden.", [garden, tortoise])
    sailing = _fact(services, "Olive sails a small boat.", [boat])
    by_hand = _fact(services, "Olive is allergic to cats.", [])

    def facts() -> dict[int, list[int]]:
        return {f.id: f.source_message_ids for f in store.facts.list(user_id=user.id)}

    def indexed(fact_id: int) -> tuple[int, ...] | None:
        found = index.get([memory_ids.fact(fact_id)])
        return found[0].message_ids if found else None

    async def edit() -> None:
        services.conversations.edit_message(user, tortoise, content="My tortoise is called Rocky.")
        assert pebble.id not in facts()  # at once, before the new words are read
        await services.jobs.join()
        await services.jobs.close()

    asyncio.run(edit())
    now = facts()
    assert pebble.id not in now and indexed(pebble.id) is None
    assert now[tomatoes.id] == [garden] and indexed(tomatoes.id) == (garden,)
    assert now[sailing.id] == [boat] and now[by_hand.id] == []
    # What was extracted again (the small model may find nothing) came from the new words.
    new = {i: s for i, s in now.items() if i not in {tomatoes.id, sailing.id, by_hand.id}}
    assert all(s == [tortoise] for s in new.values())
    assert all("Pebble" not in store.facts.get(i, user_id=user.id).text for i in new)

    services.conversations.delete_message(user, boat)
    services.conversations.delete_message(user, garden)
    left = facts()
    assert sailing.id not in left and tomatoes.id not in left and by_hand.id in left
    assert indexed(sailing.id) is None and indexed(tomatoes.id) is None
    assert indexed(by_hand.id) == ()


def test_the_same_words_or_an_assistant_message_extract_nothing_again(start_services) -> None:  # noqa: ANN001
    services = start_services()
    user, store = services.user, services.store
    conversation = services.conversations.start(user, 1).conversation
    (said,) = _said(services, conversation.id, "My tortoise is called Pebble.")
    pebble = _fact(services, "Olive's tortoise is called Pebble.", [said])
    greeting = store.messages.list(conversation.id)[0]

    # No job is queued (none could be: no loop runs here), and the fact stays.
    services.conversations.edit_message(user, said, content="My tortoise is called Pebble.")
    services.conversations.edit_message(user, said, swipe_index=0)
    services.conversations.edit_message(user, greeting.id, content="Hello again!")
    assert [f.id for f in store.facts.list(user_id=user.id)] == [pebble.id]


def test_a_summary_covering_a_changed_message_goes_and_the_next_turn_packs_afresh(  # noqa: ANN001
        start_services) -> None:
    services = start_services(max_reply_tokens=16)
    services.settings.memory.background = False
    user, store, memory = services.user, services.store, services.memory
    covered = services.conversations.start(user, 1).conversation
    other = services.conversations.start(user, 1).conversation
    early, late = _said(services, covered.id, "I visited Lisbon last spring.",
                        "We ate custard tarts there.")
    (elsewhere,) = _said(services, other.id, "I like rainy days.")
    for conversation, upto in ((covered, early + 1), (other, elsewhere)):
        store.summaries.set(conversation.id, text="Olive told Ember about a trip.",
                            upto_message_id=upto)
        memory._index_summary(conversation.id)
    replies(services, user, [(covered.id, "Do you remember my trip?")])
    assert store.windows.find(covered.id) is not None

    def summarised(conversation_id: int) -> bool:
        return bool(memory.index.get([memory_ids.summary(conversation_id)]))

    # Changes after what a summary covers leave it; one inside it drops it and the window
    # state, so the next turn packs afresh.
    services.conversations.edit_message(user, late, content="We ate sardines there.")
    services.conversations.delete_message(user, elsewhere + 1)
    assert store.summaries.find(covered.id) is not None and summarised(covered.id)
    assert store.summaries.find(other.id) is not None and summarised(other.id)
    services.conversations.edit_message(user, early, content="I visited Porto last spring.")
    assert store.summaries.find(covered.id) is None and not summarised(covered.id)
    assert store.windows.find(covered.id) is None
    services.conversations.delete_message(user, elsewhere)
    assert store.summaries.find(other.id) is None and not summarised(other.id)

    (finished,) = replies(services, user, [(covered.id, "Where did I go last spring?")])
    assert finished.message.content and finished.message.status == "complete"
    assert store.windows.find(covered.id) is not None


def test_with_memory_off_edits_and_deletes_still_drop_a_stale_summary(start_services) -> None:  # noqa: ANN001
    services = start_services(memory={"enabled": False})
    user, store = services.user, services.store
    assert services.memory is None
    conversation = services.conversations.start(user, 1).conversation
    early, late = _said(services, conversation.id, "I visited Lisbon.", "I ate tarts.")
    store.summaries.set(conversation.id, text="A trip.", upto_message_id=early + 1)
    services.conversations.edit_message(user, late, content="I ate sardines.")
    services.conversations.delete_message(user, late + 1)
    assert store.summaries.find(conversation.id) is not None
    services.conversations.edit_message(user, early, content="I visited Porto.")
    assert store.summaries.find(conversation.id) is None
    services.conversations.delete_message(user, early)
    assert [m.content for m in store.messages.list(conversation.id)][1:] == [
        "I see.", "I ate sardines."]


def test_a_new_embedder_rebuilds_the_index_by_itself(  # noqa: ANN001
        llama, embedder, multilingual_embedder, tmp_path, caplog) -> None:  # noqa: ANN001
    """An index built by MiniLM is rebuilt at the next start with the configured e5,
    with progress logged, and Korean recall then finds the right memory."""
    from hearth.engines.llm import ModelOwner
    from hearth.memory.index import LEGACY_EMBEDDER
    from hearth.services import Services
    from tests.conftest import make_settings

    settings = make_settings(tmp_path / "data")
    said = {2: "내 고양이 이름은 나비야.", 4: "다음 달에 부산으로 이사 가."}
    old = Services.start(settings, model=ModelOwner(llama, queue_size=4), embedder=embedder)
    user = old.user
    conversation = old.chat.start_conversation(user, 1)
    old.chat.import_messages(user, conversation.id, history(40, time.time() - 9 * DAY, said))
    old.memory.reindex()
    assert old.memory.index.stamp().embedder == LEGACY_EMBEDDER == embedder.name
    old.close()

    new = Services.start(settings, model=ModelOwner(llama, queue_size=4),
                         embedder=multilingual_embedder)
    with caplog.at_level("INFO", logger="hearth.memory.service"):
        assert new.memory.sync() == len(new.store.messages.ids())  # what start-up runs
    assert "built by the all-MiniLM-L6-v2 embedder" in caplog.text
    assert new.memory.index.stamp().embedder == multilingual_embedder.name
    assert new.memory.sync() == 0  # stamped: the next start only catches up
    query = multilingual_embedder.embed(["우리 고양이 이름이 뭐였더라?"], query=True)[0]
    (best, similarity), = new.memory.index.nearest(query, user_id=user.id, character_id=1, k=1)
    assert new.memory.index.get([best])[0].text == said[2]
    assert similarity >= multilingual_embedder.strong_similarity
    new.close()
