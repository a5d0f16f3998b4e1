"""Schemathesis against the server's own OpenAPI schema, on loopback: every operation,
with requests that fit the schema and requests that break it. No request may get a
5xx; a 4xx comes in the one error shape with a message; a 2xx matches the schema.

Two more runs per operation: one with what exists (ids of the default character, of a
conversation, a fact, the installed voice, a real recording), so requests get past
the 404 into the code behind it; and, for JSON bodies, one whose strings carry a lone
UTF-16 surrogate ("\\ud800": valid JSON, but no character). Operations that run the
chat model, Piper or Whisper get few examples, so the whole run stays within a couple
of minutes on two cores; each still runs a few times.

The server's own log shows what each request did; `fuzz_headers` (conftest) is where
a token goes once the server asks for one.
"""

from __future__ import annotations

import json
import string
from collections import Counter
from collections.abc import Callable
from typing import Any

import httpx
import requests
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from hypothesis.errors import Unsatisfiable
from schemathesis import Case, GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.core import NOT_SET
from schemathesis.specs.openapi.checks import response_schema_conformance

from hearth.engines.codec import encode
from tests.fuzz.conftest import Tally
from tests.fuzz.test_cards_fuzz import json_texts
from tests.utils.live import ThreadServer
from tests.utils.speech import RATE, SpeechMaker, pcm16

EXAMPLES = 25  # per operation and run
SLOW = {  # operations that generate, synthesise, transcribe or embed: examples per run
    "POST /api/conversations/{conversation_id}/messages": 4,
    "POST /api/conversations/{conversation_id}/regenerate": 3,
    "POST /v1/audio/speech": 4,
    "GET /api/voices/{name}/preview": 3,
    "POST /v1/audio/transcriptions": 4,
    "POST /api/conversations/{conversation_id}/import": 10,
    "POST /api/conversations/{conversation_id}/context": 10,
    "POST /v1/chat/completions": 4,
    "POST /v1/completions": 4,
    "POST /completion": 3,  # n_predict -1 fills the window: a few examples only
    "POST /api/v1/generate": 3,
    "POST /api/extra/generate/stream": 3,
}
# Run last: deletions, which take away what the others work on, and accounts, which
# once made would turn every request without a token into a 401.
ACCOUNTS = ("/api/users", "/api/tokens", "/api/login", "/api/logout", "/api/me")
TIMEOUT = 120
# Never ends, by design (its pings keep it open): a fuzzed request would wait forever.
# Its bad input (`after`, `Last-Event-ID`) is tested in tests/api/routes/test_events.py.
ENDLESS = {"GET /api/events"}


def _runs_last(label: str) -> bool:
    method, path = label.split(" ", 1)
    return method == "DELETE" or any(path == p or path.startswith(p + "/") for p in ACCOUNTS)


def _known(client: httpx.Client, speech: SpeechMaker) -> dict[str, Any]:
    """Values that exist here: the default character, a conversation with it (greeting
    and one turn), a fact, the installed voice, and a spoken phrase as a wav file."""
    character = client.get("/api/characters").json()[0]["id"]
    conversation = client.post("/api/conversations", json={"character_id": character}).json()
    cid = conversation["id"]
    client.post(f"/api/conversations/{cid}/messages", json={"content": "Hello!", "stream": False})
    fact = client.post("/api/facts", json={"character_id": character, "text": "Likes tea."})
    known: dict[str, Any] = {
        "character_id": character, "conversation_id": cid,
        "message_id": conversation["messages"][0]["id"],
        "name": client.get("/api/voices").json()[0]["name"],
        "wav": encode(pcm16(speech("Turn on the kitchen lights.").audio), RATE, "wav"),
    }
    if fact.status_code == 201:
        known["fact_id"] = fact.json()["id"]
    return known


def _plausible_bodies(known: dict[str, Any]) -> dict[str, st.SearchStrategy[Any]]:
    """Bodies that get past validation to the engines, still with random content."""
    words = st.text(string.ascii_letters + " ,.!?'", min_size=1, max_size=80).filter(str.strip)
    return {
        "POST /api/conversations/{conversation_id}/messages": st.fixed_dictionaries(
            {"content": words | st.text(max_size=200), "stream": st.booleans()}),
        "POST /v1/audio/speech": st.fixed_dictionaries({
            "input": words | st.text(max_size=80),
            "voice": st.sampled_from([known["name"], "alloy"]),
            "response_format": st.sampled_from(["mp3", "opus", "aac", "flac", "wav", "pcm"]),
            "speed": st.floats(0.25, 4.0)}),
        "POST /v1/audio/transcriptions": st.fixed_dictionaries({
            "file": st.sampled_from([known["wav"], known["wav"][: len(known["wav"]) // 3]]),
            "response_format": st.sampled_from(["json", "text", "verbose_json", "srt", "vtt"])}),
        "POST /v1/chat/completions": st.fixed_dictionaries({
            "model": st.just("ember"),
            "messages": st.lists(st.fixed_dictionaries({
                "role": st.sampled_from(["system", "user", "assistant"]),
                "content": words | st.text(max_size=80)}), min_size=1, max_size=3),
            "stream": st.booleans(), "max_tokens": st.integers(1, 8),
            "stop": st.lists(st.text(min_size=1, max_size=3), max_size=4)}),
        "POST /v1/completions": st.fixed_dictionaries({
            "model": st.just("ember"), "prompt": words | st.text(max_size=200),
            "stream": st.booleans(), "max_tokens": st.integers(1, 8),
            "stop": st.lists(st.text(min_size=1, max_size=3), max_size=4)}),
    }


SURROGATES = st.sampled_from(["\ud800", "\udfff", "x\udc80y", "\ud83d"])  # halves of a pair


def _poisoned(value: Any, bad: str) -> Any:
    """`value` with `bad` added to every string: JSON can carry a lone UTF-16 surrogate
    ("\\ud800"), which is no character at all."""
    if isinstance(value, str):
        return value + bad
    if isinstance(value, list):
        return [_poisoned(v, bad) for v in value]
    if isinstance(value, dict):
        return {k: _poisoned(v, bad) for k, v in value.items()}
    return value


def _with_surrogates(case: Case, bad: str) -> Case:
    case.body = _poisoned(case.body, bad)
    return case


def check_error_shape(response: requests.Response | httpx.Response) -> None:
    """Bad input gets the one error envelope, with a message that says what to do."""
    if not 400 <= response.status_code < 500:
        return
    body = response.json()
    error = body.get("error") if isinstance(body, dict) else None
    assert isinstance(error, dict), f"{response.status_code} without the error envelope: {body}"
    assert isinstance(error.get("code"), str) and error["code"], body
    assert isinstance(error.get("message"), str) and len(error["message"]) > 10, body


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=json_texts)
def test_card_json_that_trips_parsers_over_http(
    fuzz_server: ThreadServer, fuzz_headers: dict[str, str], tally: Tally, text: bytes
) -> None:
    """Nesting thousands deep and numbers thousands of digits long, as a card body and
    as an imported card file: a 4xx that says so, never a 5xx."""
    with httpx.Client(base_url=fuzz_server.url, headers=fuzz_headers, timeout=TIMEOUT) as client:
        for response in (
            client.post("/api/characters", content=text,
                        headers={"content-type": "application/json"}),
            client.post("/api/characters/import", files={"file": ("card.json", text)}),
        ):
            tally()
            assert response.status_code < 500, response.text
            check_error_shape(response)


def _run(strategy: st.SearchStrategy[Case], examples: int, send: Callable[[Case], None]) -> None:
    @settings(max_examples=examples, deadline=None, database=None,
              phases=[Phase.explicit, Phase.generate], suppress_health_check=list(HealthCheck))
    @given(case=strategy)
    def fuzz(case: Case) -> None:
        send(case)

    fuzz()


def test_openapi_operations_never_5xx(fuzz_server: ThreadServer, fuzz_headers: dict[str, str],
                                      speech: SpeechMaker, tally: Tally) -> None:
    base = fuzz_server.url
    with httpx.Client(base_url=base, headers=fuzz_headers, timeout=TIMEOUT) as client:
        known = _known(client, speech)
    bodies = _plausible_bodies(known)
    schema = schemathesis.openapi.from_url(f"{base}/openapi.json", headers=dict(fuzz_headers))
    operations = sorted((op for op in (r.ok() for r in schema.get_all_operations())
                         if op.label not in ENDLESS),
                        key=lambda op: (_runs_last(op.label), op.label))
    session = requests.Session()
    failures: list[str] = []
    statuses: dict[str, Counter[int]] = {}

    def call(case: Case) -> None:
        tally()
        # Copies: schemathesis adds its own headers to the dict it is given.
        response = case.call(base_url=base, session=session, headers=dict(fuzz_headers),
                             timeout=TIMEOUT)
        check(case, response)

    def call_ascii(case: Case) -> None:
        """Sent as ASCII JSON, so that a lone surrogate travels as the escape "\\ud800"."""
        tally()
        response = session.request(
            case.method, base + case.formatted_path, params=case.query,
            data=None if case.body is NOT_SET else json.dumps(case.body).encode(),
            headers={**fuzz_headers, "content-type": "application/json"}, timeout=TIMEOUT)
        # Not case.validate_response: schemathesis cannot re-read a body with a surrogate.
        check(case, response, validate=False)

    def check(case: Case, response: requests.Response, validate: bool = True) -> None:
        statuses.setdefault(case.operation.label, Counter())[response.status_code] += 1
        if validate:
            case.validate_response(response, headers=dict(fuzz_headers),
                                   checks=[not_a_server_error, response_schema_conformance])
        assert response.status_code < 500, f"{case.method} {case.formatted_path}: {response.text}"
        check_error_shape(response)

    for op in operations:
        n = SLOW.get(op.label, EXAMPLES)
        runs = {mode.value: op.as_strategy(generation_mode=mode)
                for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE)}
        fixed = {
            "path_parameters": {p.name: known[p.name] for p in op.path_parameters
                                if p.name in known},
            "query": {p.name: known[p.name] for p in op.query if p.name in known},
        }
        if op.label.startswith("DELETE"):
            fixed = {}  # keep what the other operations use
        if any(alt.media_type == "application/json" for alt in op.body):
            runs["lone surrogates"] = st.tuples(op.as_strategy(**fixed), SURROGATES).map(
                lambda pair: _with_surrogates(*pair))
        if op.label in bodies:
            runs["known values"] = bodies[op.label].flatmap(
                lambda body, fixed=fixed, op=op: op.as_strategy(body=body, **fixed))
        elif any(fixed.values()):
            runs["known values"] = op.as_strategy(**fixed)
        for what, strategy in runs.items():
            try:
                _run(strategy, n, call_ascii if what == "lone surrogates" else call)
            except Unsatisfiable:  # nothing to break: an operation without parameters
                assert what == GenerationMode.NEGATIVE.value, op.label
            except (Exception, BaseExceptionGroup) as e:  # noqa: BLE001 - gathered: one run
                # reports every operation (schemathesis raises a group of its failures)
                failures.append(f"{op.label} ({what}): {type(e).__name__}: {str(e)[:1500]}")

    with httpx.Client(base_url=base, headers=fuzz_headers, timeout=TIMEOUT) as client:
        assert client.get("/api/health").status_code == 200
    assert not failures, "\n\n".join(failures)
    # The engines really ran: the model replied, Piper spoke and Whisper listened.
    for label in ("POST /api/conversations/{conversation_id}/messages",
                  "POST /v1/audio/speech", "POST /v1/audio/transcriptions"):
        assert statuses[label][200] >= 1, (label, statuses[label])
