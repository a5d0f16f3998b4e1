"""A real Hearth server on loopback, in a thread or a subprocess, for end-to-end tests."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import uvicorn
from fastapi import FastAPI

from hearth.api.server import Server, server
from hearth.config import ServerSettings

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def stop(proc: subprocess.Popen[bytes]) -> None:
    """Ask a server process to end; kill it if it has not within 30 s."""
    proc.terminate()
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


class ThreadServer:
    """uvicorn serving `app` on a free loopback port, in a background thread, stopping
    as `hearth serve` does; with `settings`, also with its time limits."""

    def __init__(self, app: FastAPI, settings: ServerSettings | None = None) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        where = {"host": "127.0.0.1", "port": self.port, "log_level": "warning"}
        self._server = (Server(app, uvicorn.Config(app, **where)) if settings is None
                        else server(app, settings, **where))
        self._thread = threading.Thread(target=self._server.run, daemon=True)

    def __enter__(self) -> ThreadServer:
        self._thread.start()
        deadline = time.monotonic() + 60
        while not self._server.started:
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise RuntimeError("test server did not start")
            time.sleep(0.02)
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=30)


class ProcessServer:
    """`hearth serve` as a real process, as a user would run it."""

    def __init__(self, data_dir: Path, *args: str, env: dict[str, str] | None = None) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._cmd = [sys.executable, "-m", "hearth", "serve", "--port", str(self.port),
                     "--data-dir", str(data_dir), *args]
        self._env = {**os.environ, **(env or {})}
        self.proc: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> ProcessServer:
        self.proc = subprocess.Popen(self._cmd, env=self._env, cwd=ROOT,
                                     stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"hearth serve exited: {self.proc.stderr.read().decode()}")  # type: ignore[union-attr]
            try:
                if httpx.get(self.url + "/api/health", timeout=1).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        raise RuntimeError("hearth serve did not become healthy")

    def __exit__(self, *exc: object) -> None:
        assert self.proc is not None
        stop(self.proc)


def sse_events(response: httpx.Response) -> Iterator[tuple[str, Any]]:
    """Parse a Server-Sent Events response into (event, data) pairs as they arrive."""
    event, data = "message", []
    for line in response.iter_lines():
        if line.startswith("event:"):
            event = line[6:].strip()
        elif line.startswith("data:"):
            data.append(line[5:].strip())
        elif not line and data:
            yield event, json.loads("\n".join(data))
            event, data = "message", []


class BackendServer:
    """A server of another program (a model or index server) on a free loopback port,
    started as a process, ready once `ready_path` answers; its log goes to `log_path`."""

    def __init__(self, cmd: list[str], ready_path: str, log_path: Path) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._cmd = [arg.format(port=self.port) for arg in cmd]
        self._ready = ready_path
        self.log_path = log_path
        self.proc: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> BackendServer:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("wb") as log:
            self.proc = subprocess.Popen(self._cmd, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self._cmd[0]} exited: {self.log_path.read_text()[-2000:]}")
            try:
                if httpx.get(self.url + self._ready, timeout=1).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        self.__exit__()
        raise RuntimeError(f"{self._cmd} did not become ready")

    def __exit__(self, *exc: object) -> None:
        assert self.proc is not None
        stop(self.proc)


def llama_server(model: Path, log_path: Path, n_ctx: int = 2048) -> BackendServer:
    """llama-cpp-python's OpenAI-compatible server on `model` (verbose: its log tells
    how much of each prompt came from its cache)."""
    return BackendServer(
        [sys.executable, "-m", "llama_cpp.server", "--model", str(model), "--host", "127.0.0.1",
         "--port", "{port}", "--n_ctx", str(n_ctx)], "/v1/models", log_path)


def chroma_server(path: Path, log_path: Path) -> BackendServer:
    """`chroma run`, the Chroma server that chromadb installs, on data in `path`."""
    chroma = Path(sys.executable).with_name("chroma")
    return BackendServer([str(chroma), "run", "--path", str(path), "--host", "127.0.0.1",
                          "--port", "{port}"], "/api/v2/heartbeat", log_path)
