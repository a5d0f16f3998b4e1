"""OpenAI-style requests that are not a plain new turn, through the official `openai`
package: image parts, continuing the last reply, a system prompt answered once (stored
nowhere), and a non-streamed request whose client leaves before the reply is ready."""

from __future__ import annotations

import httpx
import openai
import pytest

from tests.api.routes.test_openai_chat import HEADER, House, Person, house, messages

__all__ = ["house"]  # the live server, shared with test_openai_chat's fixture
NOTE = "X-Hearth-Note"


def create(person: Person, msgs: list[dict], **kwargs: object) -> tuple[int, str, object]:
    """(conversation, X-Hearth-Note, the completion or stream) of one request to Ember."""
    raw = person.ai.chat.completions.with_raw_response.create(model="ember", messages=msgs,
                                                              **kwargs)
    return int(raw.headers[HEADER]), raw.headers.get(NOTE, ""), raw.parse()


def test_image_parts_are_dropped_with_a_note(house: House) -> None:
    alice = house.alice
    content = [{"type": "text", "text": "Look at my garden!"},
               {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}},
               {"type": "text", "text": " Do you like the roses?"}]
    cid, note, done = create(alice, [{"role": "user", "content": content}], user="photos",
                             max_tokens=8)
    assert "1 image_url" in note and "text only" in note
    assert done.model_extra["notes"] == [note]
    assert done.choices[0].message.content.strip()
    stored = messages(alice, cid)
    assert [m["content"] for m in stored[-2:]] == [
        "Look at my garden! Do you like the roses?", done.choices[0].message.content]
    # A part type of the client's own making is named safely (the note is a header).
    odd = [{"type": "text", "text": "And this?"}, {"type": "vidéo\r\nX-Evil: 1"}]
    _, note, _ = create(alice, [{"role": "user", "content": odd}], user="photos", max_tokens=4)
    assert "1 other part" in note
    # Text turns carry no note.
    _, note, done = create(alice, [{"role": "user", "content": "Thanks!"}], user="photos",
                           max_tokens=4)
    assert note == "" and done.model_extra["notes"] == []


def test_an_assistant_message_last_continues_the_stored_reply(house: House) -> None:
    alice = house.alice
    said = [{"role": "user", "content": "Tell me a long story about a brave little fox."}]
    cid, _, first = create(alice, said, user="continue", max_tokens=6)
    assert first.choices[0].finish_reason == "length"
    start = first.choices[0].message.content
    before = messages(alice, cid)

    history = [*said, {"role": "assistant", "content": start}]
    again, note, more = create(alice, history, user="continue", max_tokens=6)
    added = more.choices[0].message.content
    assert again == cid and note == "" and added.strip()
    stored = messages(alice, cid)
    assert len(stored) == len(before), "no new message: the reply grew"
    assert stored[-1]["id"] == before[-1]["id"] and stored[-1]["content"] == start + added

    # Streamed, the same: the deltas are the new text, leading space and all.
    history[-1]["content"] = start + added
    _, _, stream = create(alice, history, user="continue", max_tokens=6, stream=True)
    streamed = "".join(c.choices[0].delta.content or "" for c in stream if c.choices)
    assert streamed.strip()
    assert messages(alice, cid)[-1]["content"] == start + added + streamed.rstrip()

    # A client whose copy differs (its person edited the reply) has its copy continued:
    # the stored reply is edited to it first, and the note says so.
    history[-1]["content"] = "Something else entirely."
    _, note, more = create(alice, history, user="continue", max_tokens=2)
    assert f"edited message {stored[-1]['id']}" in note
    assert messages(alice, cid)[-1]["content"] == (
        "Something else entirely." + more.choices[0].message.content)


def test_nothing_to_continue_is_a_conflict(house: House) -> None:
    alice = house.alice
    with pytest.raises(openai.ConflictError, match="greeting"):
        create(alice, [{"role": "assistant", "content": "Hello"}], user="just-greeted")


def test_a_system_message_last_is_answered_once_and_not_stored(house: House) -> None:
    alice = house.alice
    cid, _, _ = create(alice, [{"role": "user", "content": "I planted tulips today."}],
                       user="quiet", max_tokens=8)
    before = messages(alice, cid)
    quiet = [{"role": "user", "content": "I planted tulips today."},
             {"role": "system", "content": "Summarize the conversation in one sentence."}]
    again, note, done = create(alice, quiet, user="quiet", max_tokens=24)
    assert again == cid and "nothing was stored" in note
    assert done.choices[0].message.content.strip()
    _, _, stream = create(alice, quiet, user="quiet", max_tokens=8, stream=True)
    assert "".join(c.choices[0].delta.content or "" for c in stream if c.choices).strip()
    assert messages(alice, cid) == before


def test_a_client_that_leaves_a_whole_reply_cancels_it(house: House) -> None:
    alice = house.alice
    # The thread's conversation, started by a request that stores no turn.
    cid, _, _ = create(alice, [{"role": "system", "content": "Say hi."}], user="abandoned",
                       max_tokens=2)
    body = {"model": "ember", "user": "abandoned", "max_tokens": 1500,
            "messages": [{"role": "user", "content": "Please tell me a very long story "
                          "about a dragon and a lighthouse."}]}
    with httpx.Client(base_url=house.url, timeout=httpx.Timeout(60, read=0.5),
                      headers={"Authorization": f"Bearer {alice.token}"}) as client:
        with pytest.raises(httpx.ReadTimeout):
            client.post("/v1/chat/completions", json=body)  # leaves after half a second
    # The model runs one generation at a time: once this one-off is answered, the
    # abandoned reply has ended, stopped early rather than written out to 1500 tokens.
    create(alice, [{"role": "system", "content": "Say hi."}], user="abandoned", max_tokens=2)
    stored = messages(alice, cid)
    said = next(i for i, m in enumerate(stored) if m["content"].startswith("Please tell me"))
    reply = stored[said + 1:]
    # What was said before the client left is kept, marked; nothing said, nothing kept.
    assert reply == [] or [m["status"] for m in reply] == ["interrupted"], reply
