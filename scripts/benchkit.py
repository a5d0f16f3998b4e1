"""What the scripts in this folder share: the servers they start, percentiles, the report.

The scripts run with the project's virtualenv, where `hearth` is installed (editable):

    .venv/bin/python scripts/bench_llm.py

Python puts the script's folder first on the import path, so `import benchkit` finds
this file; nothing else is added to the path.
"""

from __future__ import annotations

import json
import math
import os
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import numpy as np

ROOT = Path(__file__).resolve().parent.parent
PORT = "{port}"  # in a Server's command: replaced by the port it was given
START_TIMEOUT_S = 180.0  # loading the default models on a busy 2-core CPU


# -- servers --------------------------------------------------------------------------


def greedy_services(data_dir: Path, *, n_ctx: int, reply_tokens: int) -> Any:
    """Hearth's services in this process on the default models, decoding greedily with a
    fixed seed so that runs repeat (`hearth.services.Services`; close it when done)."""
    from hearth.config import load_settings
    from hearth.services import Services

    return Services.start(load_settings(data_dir=data_dir, llm={
        "n_ctx": n_ctx, "max_reply_tokens": reply_tokens, "temperature": 0.0, "seed": 7}))


def free_port() -> int:
    """A loopback TCP port nothing listens on now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Server:
    """A server process on loopback with its output in `log_path`, from the moment
    `ready_path` answers 200 until the `with` block ends (then terminated; killed if it
    has not ended within 30 s)."""

    def __init__(self, cmd: list[str], ready_path: str, log_path: Path, *, port: int = 0,
                 env: dict[str, str] | None = None) -> None:
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = log_path
        self._cmd = [str(self.port) if arg == PORT else arg for arg in cmd]
        self._ready = ready_path
        self._env = {**os.environ, **(env or {})}
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int:
        assert self.proc is not None, "the server runs inside its `with` block"
        return self.proc.pid

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def __enter__(self) -> Server:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("wb") as log:
            self.proc = subprocess.Popen(self._cmd, cwd=ROOT, env=self._env, stdout=log,
                                         stderr=subprocess.STDOUT)
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{' '.join(self._cmd)} exited:\n{self.log()[-3000:]}")
            try:
                if httpx.get(self.url + self._ready, timeout=1).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        self.__exit__()
        raise RuntimeError(f"{' '.join(self._cmd)} was not ready in {START_TIMEOUT_S:.0f} s:\n"
                           f"{self.log()[-3000:]}")

    def __exit__(self, *exc: object) -> None:
        assert self.proc is not None
        self.proc.terminate()
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def hearth_server(data_dir: Path, *args: str, env: dict[str, str] | None = None, port: int = 0,
                  log_path: Path | None = None) -> Server:
    """`hearth serve` on `data_dir`, with more flags in `args` and settings in `env`; its log
    goes to `log_path` (default: serve.log beside the data dir)."""
    return Server(
        [sys.executable, "-m", "hearth", "serve", "--port", PORT, "--data-dir", str(data_dir),
         *args], "/api/health", log_path or data_dir.parent / "serve.log", port=port, env=env)


def llama_server(model: Path, log_path: Path, n_ctx: int = 2048) -> Server:
    """llama-cpp-python's OpenAI-compatible server on `model` (verbose: its log tells
    how much of each prompt came from its cache)."""
    return Server(
        [sys.executable, "-m", "llama_cpp.server", "--model", str(model), "--host", "127.0.0.1",
         "--port", PORT, "--n_ctx", str(n_ctx)], "/v1/models", log_path)


def hearth_cli(*args: str, stdin: str | None = None) -> str:
    """Run `hearth ARGS...`; the last word it printed (`users init` / `add`: the API token)."""
    done = subprocess.run([sys.executable, "-m", "hearth", *args], input=stdin, cwd=ROOT,
                          check=True, capture_output=True, text=True)
    return done.stdout.split()[-1]


def process_ticks(pid: int) -> int:
    """CPU time a process has used so far (user + system), in clock ticks."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])


# -- Server-Sent Events -----------------------------------------------------------------


class _SSEParser:
    """Lines of an event stream in, (event, data) pairs out, one per blank line."""

    def __init__(self) -> None:
        self.event, self.data = "message", []

    def feed(self, line: str) -> tuple[str, Any] | None:
        if line.startswith("event:"):
            self.event = line[6:].strip()
        elif line.startswith("data:"):
            self.data.append(line[5:].strip())
        elif not line and self.data:
            item = self.event, json.loads("\n".join(self.data))
            self.event, self.data = "message", []
            return item
        return None


def sse_events(response: httpx.Response) -> Iterator[tuple[str, Any]]:
    """A streamed SSE response's (event, data) pairs as they arrive."""
    parser = _SSEParser()
    for line in response.iter_lines():
        if (item := parser.feed(line)) is not None:
            yield item


async def aiter_sse(response: httpx.Response) -> AsyncIterator[tuple[str, Any]]:
    """`sse_events` for an async client's response."""
    parser = _SSEParser()
    async for line in response.aiter_lines():
        if (item := parser.feed(line)) is not None:
            yield item


# -- statistics and the report -----------------------------------------------------------


def pct(values: Iterable[float | None], q: float) -> float:
    """The q-quantile (0-1) of the values (None skipped): the sample nearest to it, as
    numpy's method "nearest"; NaN when there are none."""
    ordered = sorted(v for v in values if v is not None)
    if not ordered:
        return float("nan")
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def pct_rank(values: Sequence[float], q: float) -> float:
    """The q-quantile (0-1) by nearest rank: the smallest sample with at least a share q
    of them at or below it (numpy's "inverted_cdf"). bench_index.py's p95 is this one;
    it can differ from `pct` by one sample."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(q * len(ordered)) - 1))]


@dataclass(frozen=True)
class Column:
    title: str
    width: int
    fmt: str = ""  # format spec after alignment and width, e.g. ".1f"
    left: bool = False  # names align left; numbers right

    def cell(self, value: Any, spec: str | None = None) -> str:
        align = "<" if self.left else ">"
        return f"{value:{align}{self.width}{self.fmt if spec is None else spec}}"


class Table:
    """A plain-text table: titles, then one line per row, cells separated by a space."""

    def __init__(self, *columns: Column) -> None:
        self.columns = columns

    def header(self) -> str:
        return " ".join(c.cell(c.title, "") for c in self.columns)

    def row(self, *values: Any) -> str:
        return " ".join(c.cell(v) for c, v in zip(self.columns, values, strict=True))

    def show(self, rows: Iterable[Sequence[Any]]) -> None:
        print(self.header())  # noqa: T201 - a bench's output is its report
        for values in rows:
            print(self.row(*values))  # noqa: T201


def clean(value: Any) -> Any:
    """NaN (no samples) as null and numpy scalars as Python ones, for a valid JSON line."""
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and value != value:
        return None
    if isinstance(value, dict):
        return {k: clean(v) for k, v in value.items()}
    if isinstance(value, list):
        return [clean(v) for v in value]
    return value


def print_json(result: dict[str, Any]) -> None:
    """The report's last line: the whole result as one JSON object."""
    print(json.dumps(clean(result)))  # noqa: T201
