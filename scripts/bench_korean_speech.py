#!/usr/bin/env python3
"""Korean speech round trip: sentences spoken by eSpeak NG (`espeak-ko`), heard back by the
multilingual Whisper (models/whisper-base) with language 'ko'. Prints each sentence's
character error rate (CER, over Hangul and digits, spaces and punctuation ignored) and
transcription time, then a JSON line.

    python scripts/bench_korean_speech.py
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "server"))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from hearth.config import DEFAULT_STT_MULTILINGUAL_MODEL  # noqa: E402
from hearth.engines.espeak import EspeakSynthesizer  # noqa: E402
from hearth.engines.stt import Transcriber  # noqa: E402
from tests.utils.speech import KOREAN_SENTENCES, character_error_rate, spoken_by  # noqa: E402


def main() -> int:
    espeak = EspeakSynthesizer()
    model = Transcriber(DEFAULT_STT_MULTILINGUAL_MODEL)
    rows = []
    for sentence in KOREAN_SENTENCES:
        audio = spoken_by(espeak, sentence, voice="espeak-ko")
        started = time.perf_counter()
        heard = model.transcribe(audio, language="ko")
        seconds = time.perf_counter() - started
        cer = character_error_rate(sentence, heard.text)
        rows.append({"said": sentence, "heard": heard.text, "cer": round(cer, 3),
                     "audio_s": round(heard.duration, 2), "stt_s": round(seconds, 2)})
        print(f"{cer:5.2f}  {heard.duration:4.1f} s audio  {seconds:4.2f} s  "  # noqa: T201
              f"{sentence}  →  {heard.text}", flush=True)
    mean = sum(r["cer"] for r in rows) / len(rows)
    print(json.dumps({"mean_cer": round(mean, 3), "model": model.name, "voice": "espeak-ko",  # noqa: T201
                      "sentences": rows}, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
