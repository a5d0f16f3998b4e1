"""The voice WebSocket end to end: real VAD, Whisper, the chat model and Piper.

Speech made by Piper goes in as 16 kHz PCM frames; transcripts, replies, stored
messages and reply audio come out. Barge-in and the echo guard are driven the
way a client would: by talking over the reply, and by feeding the reply's own
audio back in.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from typing import Any

import httpx
import numpy as np
import pytest
from websockets.sync.client import ClientConnection, connect

from hearth.store import Message
from tests.utils.live import ThreadServer
from tests.utils.speech import RATE, SpeechMaker, pcm16, resample, silence

FRAME = 320  # 20 ms


class Client:
    """A voice client: sends microphone frames, collects events and audio by turn."""

    def __init__(self, ws: ClientConnection) -> None:
        self.ws = ws
        self.events: list[dict[str, Any]] = []
        self.audio: dict[int, list[np.ndarray]] = {}
        self.first_audio: dict[int, float] = {}
        self.arrivals: dict[int, list[float]] = {}  # when each audio frame came
        self.played: dict[int, list[np.ndarray]] = {}  # each audio frame at 16 kHz
        self.mic_clock: float | None = None  # when the realtime input sent so far ends
        self.lock = threading.Lock()
        self.ready = json.loads(ws.recv(timeout=30))
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        try:
            for message in self.ws:
                with self.lock:
                    if isinstance(message, bytes):
                        turn = int.from_bytes(message[:4], "little")
                        self.first_audio.setdefault(turn, time.monotonic())
                        self.audio.setdefault(turn, []).append(np.frombuffer(message[4:], "<i2"))
                        self.arrivals.setdefault(turn, []).append(time.monotonic())
                        self.played.setdefault(turn, []).append(resample(
                            self.audio[turn][-1], self.ready["output"]["sample_rate"]))
                    else:
                        self.events.append(json.loads(message))
        except Exception:  # noqa: BLE001 - the socket closed
            pass

    def send_audio(self, audio: np.ndarray, realtime: bool = False) -> None:
        """Send microphone input; `realtime`: each frame once it has been "recorded", on
        one clock across calls as a microphone's (paced call by call, the input ran ~20%
        fast and the server's timeline outran the speaker's: own voice taken for speech)."""
        if not realtime:
            self.mic_clock = None
        for i in range(0, len(audio), FRAME):
            frame = audio[i : i + FRAME]
            if realtime:
                self.mic_clock = (self.mic_clock or time.monotonic()) + len(frame) / RATE
                time.sleep(max(0.0, self.mic_clock - time.monotonic()))
            self.ws.send(pcm16(frame).tobytes())

    def send_room(self, turn: int, until: float, delay: float, gain: float) -> None:
        """Send, in real time until `until` (monotonic), what a microphone beside the
        speaker records: each frame holds what the speaker played `delay` s before it."""
        n = 5 * FRAME  # 100 ms at a time
        while (recorded := self.mic_clock or time.monotonic()) < until:
            at = int((recorded - self.first_audio[turn] - delay) * RATE)
            played = np.concatenate([silence(max(0, -at) / RATE),
                                     self.speaker_output(turn)[max(0, at):]])
            self.send_audio(gain * np.concatenate([played, silence(n / RATE)])[:n],
                            realtime=True)

    def of(self, kind: str, turn: int | None = None) -> list[dict[str, Any]]:
        with self.lock:
            return [e for e in self.events
                    if e["type"] == kind and (turn is None or e.get("turn") == turn)]

    def wait(self, kind: str, turn: int | None = None, timeout: float = 90) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if found := self.of(kind, turn):
                return found[-1]
            time.sleep(0.02)
        raise AssertionError(f"no {kind} event for turn {turn}; got {self.events}")

    def reply_audio(self, turn: int) -> np.ndarray:
        with self.lock:
            return np.concatenate(self.audio.get(turn, [np.zeros(0, np.int16)]))

    def speaker_output(self, turn: int) -> np.ndarray:
        """What a speaker played (16 kHz, from the first audio on): each frame as soon as
        it came and the one before it ended, silence where the reply had not come yet."""
        with self.lock:
            frames = list(zip(self.arrivals.get(turn, []), self.played.get(turn, []),
                              strict=True))
        out = np.zeros(0, np.float32)
        for arrived, pcm in frames:
            start = max(int((arrived - self.first_audio[turn]) * RATE), len(out))
            out = np.concatenate([out, silence((start - len(out)) / RATE), pcm])
        return out


@pytest.fixture()
def conversation(client: httpx.Client) -> int:
    character = client.get("/api/characters").json()[0]
    return client.post("/api/conversations", json={"character_id": character["id"]}).json()["id"]


@pytest.fixture()
def voice(server: ThreadServer, conversation: int) -> Iterator[Client]:
    url = server.url.replace("http", "ws") + f"/api/voice?conversation={conversation}"
    with connect(url, max_size=None, open_timeout=30) as ws:
        yield Client(ws)


def words(text: str) -> set[str]:
    return {w.strip(".,!?'").lower() for w in text.split()}


def test_a_spoken_turn_gives_a_transcript_a_stored_reply_and_audio(
    voice: Client, speech: SpeechMaker, client: httpx.Client, conversation: int
) -> None:
    assert voice.ready["input"] == {"format": "pcm_s16le", "sample_rate": 16000, "channels": 1}
    said = speech("Tell me about your favourite book.")
    voice.send_audio(np.concatenate([silence(0.3), said.audio, silence(1.0)]))

    transcript = voice.wait("transcript")
    assert len(words(transcript["text"]) & words(said.text)) >= 4, transcript
    turn = transcript["turn"]
    finished = voice.wait("turn_finished", turn)
    kinds = [e["type"] for e in voice.events]
    assert kinds.index("speech_started") < kinds.index("speech_stopped") < kinds.index(
        "transcript") < kinds.index("turn_started") < kinds.index("turn_finished")
    timings = finished["timings"]
    for stage in ("endpoint_ms", "stt_ms", "ttft_ms", "first_sentence_ms", "first_audio_ms",
                  "voice_to_voice_ms"):
        assert timings[stage] > 0, (stage, timings)
    reply = "".join(e["text"] for e in voice.of("reply_delta", turn))

    messages = client.get(f"/api/conversations/{conversation}/messages").json()
    assert messages[-2]["role"] == "user" and messages[-2]["content"] == transcript["text"]
    assert messages[-1]["id"] == finished["message_id"]
    assert messages[-1]["content"] == reply.strip() and messages[-1]["status"] == "complete"

    audio = voice.reply_audio(turn)
    rate = voice.ready["output"]["sample_rate"]
    assert len(audio) / rate > 0.5 and np.abs(audio).max() > 1000  # real speech, not silence


def test_speaking_over_the_reply_interrupts_it_and_keeps_what_was_heard(
    voice: Client, speech: SpeechMaker, client: httpx.Client, conversation: int
) -> None:
    voice.send_audio(np.concatenate([speech("Tell me a long story about the sea.").audio,
                                     silence(1.0)]))
    turn = voice.wait("turn_started")["turn"]
    deadline = time.monotonic() + 90
    while turn not in voice.first_audio:
        assert time.monotonic() < deadline, voice.events
        time.sleep(0.02)
    time.sleep(1.5)  # let a few words play
    voice.send_audio(np.concatenate([speech("Wait, stop please.").audio, silence(1.0)]),
                     realtime=True)

    interrupted = voice.wait("interrupted", turn)
    heard = interrupted["heard"]
    generated = "".join(e["text"] for e in voice.of("reply_delta", turn)).strip()
    assert heard and len(heard) < len(generated) and generated.startswith(heard.split()[0])
    # (The turn may have finished generating already: its audio was still playing.)
    stored = client.get(f"/api/conversations/{conversation}/messages").json()
    cut = next(m for m in stored if m["id"] == interrupted["message_id"])
    assert cut["content"] == heard and cut["status"] == "interrupted"
    # The interruption is the next turn.
    nxt = voice.wait("transcript", turn + 1)
    assert "stop" in words(nxt["text"])


def test_the_assistants_own_voice_does_not_interrupt_it(
    voice: Client, speech: SpeechMaker
) -> None:
    # A story: a reply long enough to echo for four seconds (a short greedy answer, which
    # the cache state can give to a plain question, would test nothing).
    asked = "Tell me a long story about a brave little fox."
    voice.send_audio(np.concatenate([speech(asked).audio, silence(1.0)]))
    rate = voice.ready["output"]["sample_rate"]
    deadline = time.monotonic() + 120
    # The microphone goes on; the room is quiet until the reply plays.
    while not (started := voice.of("turn_started")) or started[0]["turn"] not in voice.first_audio:
        assert time.monotonic() < deadline, voice.events
        voice.send_audio(silence(0.1), realtime=True)
    turn = started[0]["turn"]
    # A microphone beside the speaker: the reply comes back 120 ms later, a little quieter;
    # four seconds of it is plenty to fool a plain VAD.
    voice.send_room(turn, until=voice.first_audio[turn] + 4.0, delay=0.12, gain=0.6)
    voice.send_audio(silence(0.5), realtime=True)
    waits = len(voice.speaker_output(turn)) / RATE - len(voice.reply_audio(turn)) / rate
    assert not voice.of("interrupted"), (f"the speaker waited {waits:.2f} s for audio",
                                         voice.events)
    # The echo was speech all along.
    assert len(voice.reply_audio(turn)) / rate > 4.0, voice.of("turn_finished", turn)
    assert len(voice.of("speech_started")) == 1  # only the user's question


@dataclass(frozen=True)
class Started(Message):
    """A stored message as the character sends it on its own (`reason` set)."""

    reason: dict[str, Any] | None = None


def character_says(services: Any, conversation: int, text: str) -> Message:
    """Store and publish a message the character starts, as the scheduler does."""
    stored = services.store.messages.add(conversation_id=conversation, role="assistant",
                                         content=text)
    started = Started(**{**asdict(stored), "reason": {"kind": "follow_up", "about": []}})
    return services.chat._stored(services.user.id, started)


def test_a_message_the_character_starts_is_spoken_once_the_call_is_idle(
    voice: Client, server: ThreadServer, speech: SpeechMaker, conversation: int
) -> None:
    services = server.services  # type: ignore[attr-defined]
    feed = services.feed
    deadline = time.monotonic() + 60
    while not feed.listeners(services.user.id):  # the call is listening
        assert time.monotonic() < deadline
        time.sleep(0.02)

    # Idle: spoken at once, as a turn of its own with its text and its audio.
    said = character_says(services, conversation, "Hello again! How did the exam go?")
    finished = voice.wait("turn_finished")
    turn = finished["turn"]
    assert finished["message_id"] == said.id
    assert voice.wait("turn_started", turn)["user_message_id"] is None
    assert "".join(e["text"] for e in voice.of("reply_delta", turn)) == said.content
    audio = voice.reply_audio(turn)
    assert len(audio) / voice.ready["output"]["sample_rate"] > 0.5 and np.abs(audio).max() > 1000

    # Not spoken: ordinary replies, the character's words elsewhere.
    other = services.chat.start_conversation(services.user, services.store.characters.list()[0].id)
    character_says(services, other.id, "Only for the other conversation.")
    services.chat._stored(services.user.id, services.store.messages.add(
        conversation_id=conversation, role="assistant", content="No reason given."))

    # While the person speaks, it waits; their turn goes first, then it is spoken.
    asked = speech("What is your favourite colour?")
    voice.send_audio(asked.audio)  # no silence yet: the utterance is still going on
    voice.wait("speech_started")
    later = character_says(services, conversation, "By the way, happy birthday!")
    voice.send_audio(silence(1.0))
    spoken = next_turn_finished(voice, after=turn, message_id=later.id)
    kinds = [(e["type"], e.get("turn")) for e in voice.events]
    answered = voice.wait("transcript")["turn"]
    assert answered < spoken["turn"]
    assert kinds.index(("turn_finished", answered)) < kinds.index(("turn_started", spoken["turn"]))
    assert [e["message_id"] for e in voice.of("turn_finished")] == [
        said.id, voice.of("turn_finished", answered)[0]["message_id"], later.id]


def next_turn_finished(voice: Client, *, after: int, message_id: int) -> dict[str, Any]:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        for event in voice.of("turn_finished"):
            if event["turn"] > after and event["message_id"] == message_id:
                return event
        time.sleep(0.02)
    raise AssertionError(f"message {message_id} was not spoken; got {voice.events}")


def test_bad_frames_and_messages_get_errors_and_the_socket_stays_usable(voice: Client) -> None:
    voice.ws.send(b"\x01\x02\x03")  # odd length: not PCM16
    assert voice.wait("error")["code"] == "bad_audio"
    for bad in ("not json", '{"type": "dance"}', "[1, 2]", '{"type": "text", "content": 5}'):
        voice.ws.send(bad)
    deadline = time.monotonic() + 10
    while len(voice.of("error")) < 5:
        assert time.monotonic() < deadline, voice.events
        time.sleep(0.02)
    assert {e["code"] for e in voice.of("error")} == {"bad_audio", "bad_message"}
    assert all("type" in e["message"] or "PCM16" in e["message"] for e in voice.of("error"))

    voice.ws.send(json.dumps({"type": "text", "content": "Hello, who are you?"}))
    finished = voice.wait("turn_finished")
    assert finished["message_id"] and voice.reply_audio(finished["turn"]).size > 0


def test_an_unknown_conversation_is_refused_plainly(server: ThreadServer) -> None:
    url = server.url.replace("http", "ws") + "/api/voice?conversation=999999"
    with connect(url, open_timeout=30) as ws:
        error = json.loads(ws.recv(timeout=30))
        assert error["type"] == "error" and error["code"] == "not_found"
        with pytest.raises(Exception):  # noqa: B017 - closed by the server
            ws.recv(timeout=30)
        assert ws.close_code == 4404


def test_frames_beyond_the_rate_limit_are_dropped() -> None:
    from hearth.api.routes.voice import FrameRate

    # 50 a second of the time that passed, measured: on a busy machine the calls can be
    # preempted and sleep(0.2) can last much longer, so the bounds are not fixed counts.
    started = time.monotonic()
    rate = FrameRate(50)
    burst = sum(rate.allow() for _ in range(200))
    emptied = time.monotonic()
    assert 50 <= burst <= 50 + (emptied - started) * 50 + 1  # a burst of one second's worth
    time.sleep(0.2)
    later = sum(rate.allow() for _ in range(200))
    assert 9 <= later <= (time.monotonic() - emptied) * 50 + 1  # then 50 a second


def test_each_event_goes_out_as_the_readme_documents_it() -> None:
    from hearth.api.routes.voice import wire
    from hearth.voice import events as ev

    timings = ev.Timings(endpoint_ms=640.04, stt_ms=81.26, stt_wait_ms=0.0, ttft_ms=120.0,
                         first_sentence_ms=300.56, tts_first_ms=90.0, first_audio_ms=390.5,
                         voice_to_voice_ms=1200.0, prompt_tokens=812, prompt_tokens_reused=790)
    pcm16 = {"format": "pcm_s16le", "channels": 1}
    sent = [json.loads(json.dumps(wire(e))) for e in [
        ev.Ready(3, input_rate=16000, output_rate=22050),
        ev.SpeechStarted(), ev.SpeechStopped(),
        ev.Transcript(1, "hello"),
        ev.TurnStarted(1, user_message_id=7, sample_rate=22050),
        ev.ReplyDelta(1, "Hi"),
        ev.TurnFinished(1, message_id=8, timings=timings),
        ev.TurnFinished(2, message_id=None, timings=ev.Timings(stt_ms=0.0, ttft_ms=55.54)),
        ev.Interrupted(1, heard="Hi", message_id=None),
        ev.Error("not_found", "no such conversation"),
        ev.Error("internal", "the turn failed", turn=2),
    ]]
    assert sent == [
        {"type": "ready", "conversation": 3, "input": {**pcm16, "sample_rate": 16000},
         "output": {**pcm16, "sample_rate": 22050}},
        {"type": "speech_started"}, {"type": "speech_stopped"},
        {"type": "transcript", "turn": 1, "text": "hello"},
        {"type": "turn_started", "turn": 1, "user_message_id": 7, "sample_rate": 22050},
        {"type": "reply_delta", "turn": 1, "text": "Hi"},
        {"type": "turn_finished", "turn": 1, "message_id": 8, "timings": {
            "endpoint_ms": 640.0, "stt_ms": 81.3, "stt_wait_ms": 0.0, "ttft_ms": 120.0,
            "first_sentence_ms": 300.6, "tts_first_ms": 90.0, "first_audio_ms": 390.5,
            "voice_to_voice_ms": 1200.0, "prompt_tokens": 812, "prompt_tokens_reused": 790}},
        {"type": "turn_finished", "turn": 2, "message_id": None,
         "timings": {"stt_ms": 0.0, "ttft_ms": 55.5}},
        {"type": "interrupted", "turn": 1, "heard": "Hi", "message_id": None},
        {"type": "error", "code": "not_found", "message": "no such conversation"},
        {"type": "error", "turn": 2, "code": "internal", "message": "the turn failed"},
    ]
