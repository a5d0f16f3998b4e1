#!/usr/bin/env python3
"""End of turn: the fixed silence window against windows chosen by what was said.

Utterances said by the default Piper voice (noise off, so every run hears the same),
in a quiet room:
  paused    61 sentences with a pause of 300-900 ms where a person stops to think
            ("I was thinking that we could go to the … park tomorrow afternoon."):
            said whole with a comma at the break, whose silence is stretched, so the
            first half keeps the tone of a sentence that goes on; ending the turn
            inside the pause is a false cut-off;
  apart     the same, but the halves said separately (the first ends in a falling,
            final tone): harder for an ear, the same for the words;
  finished  60 finished sentences followed by silence: a turn ended before their last
            word is a cut too; the window is the silence waited (the VAD's end of
            speech to the end of the turn, as the session's `endpoint_ms`).
Each is fed frame by frame through the real Silero VAD and `Endpointer`, on the
stream's own clock (no sleeping), and each pause is read as the session reads it:
  fixed   voice.silence_ms, always;
  text    the pause's transcript (real Whisper, voice.stt_model) → `TurnEnd.window`;
  audio   Smart Turn v3 alone: short window if it hears a finished turn, else long;
  smart   both at once, in two threads (end_of_turn 'smart', the default).
A chosen window applies only once its reading would have finished (its measured
wall time is added to the stream time at the pause); until then, the long window
holds (fixed: silence_ms). That wall time varies with the machine's load, and with
it which short pauses are cut: `--read-ms` counts every reading as taking the same
time instead, so that two versions of the method compare on equal terms.

Every third sentence of each set is held out: the word tables were not tuned on it.
The last 21 paused and 20 finished sentences were added later (written before their
first run, split the same way).

Goal: false cut-offs <= 5% on the paused set while the median window on finished
turns is under the fixed 400 ms.

    python scripts/bench_turn_end.py [--verbose] [--smart-turn PATH]
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from benchkit import Column, Table, pct, print_json
from spoken import FRAME, RATE, Utterance, room, to_16k, voiced_end

from hearth.config import PROJECT_ROOT, load_settings
from hearth.engines import vad
from hearth.engines.smart_turn import SmartTurn
from hearth.engines.stt import SpeechToText, load_transcriber
from hearth.voice.turn_end import TurnEnd, verdict

# (said before the pause, said after it)
PAUSED = [
    ("I was thinking that we could go to the", "park tomorrow afternoon."),
    ("My sister called me yesterday and", "she told me she is moving to Berlin."),
    ("I really want to learn how to", "play the piano this year."),
    ("We had dinner at a little place near the", "river last night."),
    ("I can't sleep tonight because", "my neighbours are having a party."),
    ("Could you remind me to buy some milk and", "a loaf of bread on the way home?"),
    ("The best part of my day was when", "my dog jumped into the lake."),
    ("I'm not sure if", "I should take the new job or stay where I am."),
    ("Yesterday I went to the market with my", "brother and we bought apples."),
    ("She said that she would call me, but", "she never did."),
    ("I need to finish this report before", "the meeting on Monday."),
    ("My favourite kind of music is, um,", "probably old jazz records."),
    ("Tell me about the", "book you were reading last week."),
    ("I found an old photo of my grandfather in the", "attic this morning."),
    ("We should probably leave early so we", "don't miss the train."),
    ("I think the problem is that the", "heating doesn't work properly."),
    ("I wanted to ask you about", "the trip we talked about."),
    ("Last summer we drove all the way from", "Lisbon to Madrid."),
    ("Do you know a good recipe for", "a vegetarian lasagna?"),
    ("I've been feeling a bit tired, and", "I don't really know why."),
    ("My cat keeps sleeping on my", "keyboard when I work."),
    ("I'm going to paint the kitchen with a", "bright yellow colour."),
    ("Can you help me write a letter to my", "landlord about the broken window?"),
    ("The weather was so nice that we", "had lunch outside."),
    ("I usually go running in the", "morning before work."),
    ("We met at a friend's party, um,", "about three years ago."),
    ("He told me a funny story about his", "first day at school."),
    ("After the concert we walked along the", "river until midnight."),
    ("I'd like to plan a surprise for", "my mother's birthday."),
    ("The train was late again, so", "I missed the start of the film."),
    ("I keep forgetting where I put my", "glasses."),
    ("Maybe we could watch a movie or", "play a board game tonight."),
    # Pauses after a content word: the words alone cannot tell these.
    ("I bought a new", "bicycle for my commute."),
    ("When I got home", "the whole house smelled of smoke."),
    ("I think", "we should leave a little earlier."),
    ("My brother is a very talented", "carpenter."),
    ("If it rains tomorrow", "we can stay in and cook."),
    ("The thing I miss most", "is the sound of the sea."),
    ("I've always wanted to visit", "Japan in the spring."),
    ("Honestly,", "I'm not sure what to do."),
    # Added later, written before they were first run; split as the rest (i % 3 == 2).
    ("I was going to call you last night, but", "I fell asleep on the sofa."),
    ("Could you tell me how long I should boil an", "egg for breakfast?"),
    ("We could go hiking this weekend, or", "maybe just stay home and rest."),
    ("My doctor said I should drink more", "water during the day."),
    ("I forgot to water the plants, and", "now the basil looks terrible."),
    ("The movie was good, although", "the ending was a bit strange."),
    ("I'm trying to decide between the", "blue jacket and the green one."),
    ("Remind me tomorrow morning to", "send the invoice to Peter."),
    ("We finally painted the fence, so", "the garden looks much better."),
    ("I had a strange dream about", "flying over the ocean."),
    ("My neighbour's dog barks every time", "someone walks past the gate."),
    ("Can you, uh,", "play some quiet music for me?"),
    ("I love cooking, especially", "spicy Thai food."),
    ("The bus was full, so", "I had to walk to work."),
    ("I think my phone is", "broken again."),
    ("She works at the hospital in", "the children's ward."),
    ("Let's meet at the café after", "you finish your class."),
    ("I read somewhere that", "octopuses have three hearts."),
    ("My grandmother used to bake", "the best apple pie in town."),
    ("I was really tired yesterday, and", "I went to bed at eight."),
    ("What do you think about", "getting a second cat?"),
]
FINISHED = [
    "Good morning, how did you sleep?", "I just got back from the gym.",
    "What should I cook for dinner tonight?", "My cat is sleeping on the sofa.",
    "Tell me a joke.", "I had a really long day at work.",
    "Do you remember my sister's name?", "The weather is cold and grey today.",
    "Thank you, that was helpful.", "I think so.", "Where are you from?",
    "Can you recommend a good book?", "I'm going to bed now.",
    "That sounds like a great idea.", "We watched a movie last night.",
    "What is your favourite colour?", "I finally fixed the leaking tap.",
    "My friend is coming over for dinner.", "How was your day?",
    "I don't feel like cooking tonight.", "Let's talk about something else.",
    "I passed my driving test!", "Do you like rainy days?", "The concert was amazing.",
    "I need some advice about my garden.", "She gave me a beautiful scarf.",
    "Good night, talk to you tomorrow.", "That's the one I told you about.",
    "I'm learning to play the guitar.", "What time is it in Tokyo right now?",
    "My back hurts a little today.", "We are planning a trip to the mountains.",
    "I love the smell of fresh bread.", "Could you read me a short poem?",
    "It has been a quiet week.", "I forgot my umbrella again.", "Yes, please.",
    "No, not really.", "I'm proud of you.", "Okay, let's do it.",
    # Added later, as the paused ones.
    "I'm home.", "Can you set a timer for ten minutes?", "That was a really good movie.",
    "My train is delayed again.", "What's the weather like tomorrow?", "I miss my family.",
    "Please play some music.", "We had pizza for lunch.", "Is it going to rain today?",
    "I just finished reading the book.", "Thanks, that's all for now.",
    "My sister is getting married in June.", "How do you make pancakes?",
    "I'm feeling much better today.", "The kids are finally asleep.",
    "Can you remind me to call mum?", "It's too hot in here.", "I found my keys.",
    "Tell me something interesting.", "See you later.",
]
SMART_TURN = PROJECT_ROOT / "models" / "smart-turn-v3.2-cpu.onnx"
PAUSES_MS = [300, 400, 500, 600, 700, 800, 900]
LEAD_S, TAIL_S = 0.3, 2.0


def held_out(i: int) -> bool:
    return i % 3 == 2


@dataclass
class Case:
    text: str
    split: str  # 'tuned' or 'held-out'
    audio: np.ndarray
    ends: float  # stream time where the person stops speaking for good


@dataclass
class Outcome:
    cut: bool  # the turn ended before the person had finished
    window_ms: float  # silence waited before the turn ended (the first end)
    why: str = ""  # what chose each pause's window (a transcript, a probability)
    spent_ms: float = 0.0  # time taken to choose it


def synthesise(texts: list[str]) -> list[Utterance]:
    """Each text said by the default Piper voice at 16 kHz, without Piper's noise, so
    that every run hears the same audio."""
    from piper import PiperVoice, SynthesisConfig

    settings = load_settings().voice
    voice = PiperVoice.load(settings.voices_dir / f"{settings.default_voice}.onnx")
    config = SynthesisConfig(noise_scale=0.0, noise_w_scale=0.0)
    out = []
    for text in texts:
        pcm = np.concatenate([c.audio_int16_array for c in voice.synthesize(text, config)])
        audio = to_16k(pcm, voice.config.sample_rate)
        out.append(Utterance(text, audio, voiced_end(audio)))
    return out


def quiet_room(noise: np.random.Generator, samples: int) -> np.ndarray:
    return room(noise, samples / RATE + 0.01)[:samples]


def voiced_start(audio: np.ndarray) -> int:
    return len(audio) - voiced_end(audio[::-1].copy())


def build_cases() -> tuple[list[Case], list[Case], list[Case]]:
    """The paused set twice (spliced and apart), then the finished set."""
    firsts = synthesise([a for a, _ in PAUSED])
    seconds = synthesise([b for _, b in PAUSED])
    # Said whole with a comma at the break, Piper's first part keeps the rising or
    # level tone of a sentence that goes on; its comma's silence is then stretched.
    wholes = synthesise([f"{a.rstrip(',')}, {b}" for a, b in PAUSED])
    done = synthesise(FINISHED)
    noise = np.random.default_rng(7)
    lead = np.zeros(int(LEAD_S * RATE), np.float32)
    tail = np.zeros(int(TAIL_S * RATE), np.float32)

    def case(i: int, text: str, parts: list[np.ndarray]) -> Case:
        audio = np.concatenate([lead, *parts, tail])
        audio = audio + quiet_room(noise, len(audio))
        ends = (len(audio) - len(tail)) / RATE
        return Case(text, "held-out" if held_out(i) else "tuned", audio, ends)

    spliced, apart, finished = [], [], []
    for i, ((a, b), first, second, whole) in enumerate(
            zip(PAUSED, firsts, seconds, wholes, strict=True)):
        gap = np.zeros(int(PAUSES_MS[i % len(PAUSES_MS)] * RATE / 1000), np.float32)
        text = f"{a} … {b}"
        begin, end = comma_gap(whole.audio[: whole.speech_end], first.speech_end)
        spliced.append(case(i, text, [whole.audio[:begin], gap,
                                      whole.audio[end : whole.speech_end]]))
        apart.append(case(i, text, [first.audio[: first.speech_end], gap,
                                    second.audio[voiced_start(second.audio):]]))
    for i, u in enumerate(done):
        finished.append(case(i, u.text, [u.audio[: u.speech_end]]))
    return spliced, apart, finished


def comma_gap(audio: np.ndarray, near: int) -> tuple[int, int]:
    """The silence Piper left at the comma: of the quiet stretches (10 ms frames under
    the level `voiced_end` uses, 50 ms or more), the one nearest to `near`."""
    frames = audio[: len(audio) // 160 * 160].reshape(-1, 160)
    quiet = np.sqrt((frames**2).mean(axis=1)) <= 0.01
    runs, start = [], None
    for k, q in enumerate([*quiet, False]):
        if q and start is None:
            start = k
        elif not q and start is not None:
            if k - start >= 5 and start > 0:
                runs.append((start * 160, k * 160))
            start = None
    if not runs:
        raise RuntimeError("Piper left no silence at the comma")
    return min(runs, key=lambda r: abs((r[0] + r[1]) / 2 - near))


Chooser = Callable[[np.ndarray], tuple[int, str]]  # pause audio -> (window ms, why)


def run(case: Case, choose: Chooser | None, silence_ms: int,
        read_ms: float | None = None) -> Outcome:
    """Feed `case` as the voice session does; stop at the first end of turn. Until a
    pause has been read, its window is `silence_ms` (the long one, with a chooser);
    the reading takes its measured time, or `read_ms`."""
    endpointer = vad.Endpointer(silence_ms=silence_ms)
    pending: tuple[float, int] | None = None  # (stream time the window is known, window)
    why: list[str] = []
    spent_ms = 0.0
    for i in range(0, len(case.audio), FRAME):
        events: list[vad.VadEvent] = []
        if pending is not None and i / RATE >= pending[0]:
            events = endpointer.end_after(pending[1])
            pending = None
        for event in events or endpointer.feed(case.audio[i : i + FRAME]):
            if isinstance(event, vad.SpeechPaused) and choose is not None:
                started = time.perf_counter()
                window, reason = choose(event.audio)
                spent_ms = (time.perf_counter() - started) * 1000
                why.append(f"{event.at:.2f}s {reason}")
                pending = (event.at + (spent_ms if read_ms is None else read_ms) / 1000, window)
            elif isinstance(event, vad.SpeechResumed):
                pending = None
            elif isinstance(event, vad.SpeechEnded):
                cut = event.at < case.ends  # inside a pause: speech came after it
                return Outcome(cut, (event.at - event.speech_end) * 1000, " | ".join(why),
                               spent_ms)
    raise RuntimeError(f"the turn never ended: {case.text}")


def choosers(stt: SpeechToText, turn_end: TurnEnd, smart_turn: SmartTurn | None,
             pool: ThreadPoolExecutor) -> dict[str, Chooser | None]:
    def text(audio: np.ndarray) -> tuple[int, str]:
        heard = stt.transcribe(audio)
        said, stop_p = heard.text.strip(), heard.last_p
        return (turn_end.window(said, stop_p=stop_p),
                f"{verdict(said, stop_p=stop_p).value:10} {said!r} {_stop(stop_p)}")

    def sound(audio: np.ndarray) -> tuple[int, str]:
        assert smart_turn is not None
        p = smart_turn.finished(audio)
        return (turn_end.short_ms if p >= 0.5 else turn_end.long_ms), f"p={p:.2f}"

    def both(audio: np.ndarray) -> tuple[int, str]:
        # At once, in two threads, as the session runs them.
        assert smart_turn is not None
        heard = pool.submit(smart_turn.finished, audio)
        transcript = stt.transcribe(audio)
        said, stop_p = transcript.text.strip(), transcript.last_p
        p = heard.result()
        return (turn_end.window(said, finished=p, stop_p=stop_p),
                f"p={p:.2f} {verdict(said, stop_p=stop_p).value} {said!r} {_stop(stop_p)}")

    modes: dict[str, Chooser | None] = {"fixed": None, "text": text}
    if smart_turn is not None:
        modes["audio"] = sound
        modes["smart"] = both
    return modes


def _stop(stop_p: float | None) -> str:
    return "" if stop_p is None else f"({stop_p:.2f})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--verbose", action="store_true", help="one line per utterance")
    parser.add_argument("--smart-turn", type=Path, default=SMART_TURN,
                        help="Smart Turn v3 ONNX model (mode 'audio'; skipped when missing)")
    parser.add_argument("--read-ms", type=float, default=None,
                        help="count each pause's reading as this many ms, not its wall time")
    args = parser.parse_args()
    settings = load_settings()
    cfg = settings.voice
    stt = load_transcriber(cfg)
    turn_end = TurnEnd(cfg.end_of_turn_short_ms, cfg.silence_ms, cfg.end_of_turn_long_ms)
    smart_turn = SmartTurn(args.smart_turn) if args.smart_turn.is_file() else None
    started = time.perf_counter()
    spliced, apart, finished = build_cases()
    stt.transcribe(finished[0].audio)  # warm-up
    modes = choosers(stt, turn_end, smart_turn, ThreadPoolExecutor(1))
    results: dict[tuple[str, str], list[tuple[Case, Outcome]]] = {}
    for name, cases in (("paused", spliced), ("apart", apart), ("finished", finished)):
        for mode, choose in modes.items():
            silence = cfg.silence_ms if choose is None else turn_end.long_ms
            results[name, mode] = [(c, run(c, choose, silence, args.read_ms))
                                   for c in cases]
    if args.verbose:
        for (name, mode), rows in results.items():
            for case, out in rows:
                if mode != "fixed":
                    print(f"{mode:5} {name:8} {case.split:8} {'CUT' if out.cut else 'ok ':3} "  # noqa: T201
                          f"{out.window_ms:5.0f} ms  {out.why}  [{case.text}]")

    table = Table(Column("split", 8, left=True), Column("mode", 5, left=True),
                  Column("paused", 6), Column("cut", 4), Column("cut %", 6, ".1f"),
                  Column("apart cut %", 11, ".1f"), Column("finished", 8),
                  Column("cut %", 6, ".1f"),
                  Column("window p50", 10, ".0f"), Column("p90", 5, ".0f"),
                  Column("choose p50", 10, ".0f"))
    report: dict[str, object] = {}
    lines = []
    for split in ("tuned", "held-out", "all"):
        for mode in modes:
            def of(name: str, split: str = split, mode: str = mode) -> list[Outcome]:
                return [o for c, o in results[name, mode] if split in ("all", c.split)]
            p, a, f = of("paused"), of("apart"), of("finished")
            cuts = sum(o.cut for o in p)
            windows = [o.window_ms for o in f if not o.cut]
            spent = [o.spent_ms for o in p + f if o.spent_ms]
            row = {"paused": len(p), "false_cuts": cuts, "cut_pct": 100 * cuts / len(p),
                   "apart_cut_pct": 100 * sum(o.cut for o in a) / len(a),
                   "finished": len(f), "finished_cut_pct": 100 * sum(o.cut for o in f) / len(f),
                   "window_p50_ms": pct(windows, 0.5),
                   "window_p90_ms": pct(windows, 0.9), "choose_p50_ms": pct(spent, 0.5)}
            report[f"{split}/{mode}"] = row
            lines.append((split, mode, *row.values()))
    table.show(lines)
    verdicts = []
    for mode in modes:
        if mode != "fixed":
            row = report[f"all/{mode}"]
            assert isinstance(row, dict)
            met = row["cut_pct"] <= 5 and row["window_p50_ms"] < cfg.silence_ms
            verdicts.append(f"{mode}: {'met' if met else 'NOT met'}")
            report[f"goal_met/{mode}"] = met
    print(f"goal (false cut-offs <= 5%, median window < {cfg.silence_ms} ms): "  # noqa: T201
          f"{'; '.join(verdicts)}; {time.perf_counter() - started:.0f} s")
    print_json({"bench": "turn_end", "short_ms": turn_end.short_ms,
                "base_ms": turn_end.base_ms, "long_ms": turn_end.long_ms,
                **report})


if __name__ == "__main__":
    main()
