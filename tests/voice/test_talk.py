"""`hearth talk`: a voice conversation through the microphone and speaker.

The sound card is the only thing faked, at the sounddevice adapter: a fake
`sounddevice` module whose input stream plays Piper speech in real time and whose
output stream records what the speaker was given. Everything behind it is real.
"""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from hearth import cli
from hearth.store import Store
from hearth.voice import devices
from tests.utils.live import ROOT
from tests.utils.speech import SpeechMaker, silence


class FakeSoundDevice:
    """Just enough of the `sounddevice` module for `hearth.voice.devices`."""

    def __init__(self, recording: np.ndarray) -> None:
        self.recording = recording
        self.played: list[np.ndarray] = []
        self.device = self

    def query_devices(self, kind: str) -> dict[str, Any]:
        return {"name": f"fake {kind}", "max_input_channels": 1, "max_output_channels": 1}

    def InputStream(self, *, samplerate: int, blocksize: int, callback: Any,  # noqa: N802
                    finished_callback: Any, **_: Any) -> _Stream:
        def run(stop: threading.Event) -> None:
            start = time.monotonic()
            for i in range(0, len(self.recording) - blocksize + 1, blocksize):
                if stop.is_set():
                    return
                time.sleep(max(0.0, start + (i + blocksize) / samplerate - time.monotonic()))
                callback(self.recording[i : i + blocksize, None], blocksize, None, None)
            finished_callback()

        return _Stream(run)

    def OutputStream(self, *, samplerate: int, callback: Any, **_: Any) -> _Stream:  # noqa: N802
        block = samplerate // 50

        def run(stop: threading.Event) -> None:
            start, n = time.monotonic(), 0
            while not stop.is_set():
                out = np.zeros((block, 1), np.int16)
                callback(out, block, None, None)
                self.played.append(out[:, 0].copy())
                n += block
                time.sleep(max(0.0, start + n / samplerate - time.monotonic()))

        return _Stream(run)


class _Stream:
    def __init__(self, run: Any) -> None:
        self._stop = threading.Event()
        self._thread = threading.Thread(target=run, args=(self._stop,), daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def close(self) -> None:
        pass

    def __enter__(self) -> _Stream:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def test_talk_holds_a_spoken_conversation(
    speech: SpeechMaker, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    said = speech("Good evening. Tell me a short story.")
    fake = FakeSoundDevice(np.concatenate([silence(0.5), said.audio, silence(1.5)]))
    monkeypatch.setattr(devices, "_sounddevice", lambda: fake)
    data = tmp_path / "data"

    code = cli.main(["talk", "--data-dir", str(data), "--n-ctx", "2048"])

    assert code == 0
    shown = capsys.readouterr().out
    store = Store(data / "hearth.db")
    (conversation,) = store.conversations.list(user_id=store.people.ensure("User").id)
    greeting, question, reply = store.messages.list(conversation.id)
    assert "story" in question.content.lower() and f"You: {question.content}" in shown
    assert reply.role == "assistant" and reply.content and reply.content in shown
    audio = np.concatenate(fake.played)
    assert np.count_nonzero(audio) > 0.5 * 22050  # over half a second of the reply was played


def test_talk_without_a_sound_device_says_so(tmp_path: Path) -> None:
    run = subprocess.run([sys.executable, "-m", "hearth", "talk", "--data-dir", str(tmp_path)],
                         capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert run.returncode != 0
    assert "sound device" in run.stderr or "PortAudio" in run.stderr, run.stderr
