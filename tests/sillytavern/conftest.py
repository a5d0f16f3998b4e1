"""SillyTavern itself, driven through its own backend routes the way its UI drives them.

SillyTavern (npm, pinned in package.json here; `make setup` installs it with
scripts/sillytavern.sh) runs as a process on loopback, once per test session, with a
throwaway config and data directory: no browser, no extension or content updates, no
downloads. Its UI talks to its server, which talks to the model server; the tests here
play the UI, so every request to Hearth is the one SillyTavern's server builds. Where
node or the package is missing, every test here is skipped with the reason.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from hearth.api.app import create_app
from hearth.engines.embed import MiniLMEmbedder
from hearth.engines.llm import LlamaModel, ModelOwner
from hearth.services import Services
from tests.conftest import make_settings
from tests.utils.live import BackendServer, ThreadServer

HERE = Path(__file__).resolve().parent
PACKAGE = HERE / "node_modules" / "sillytavern"
INSTALL_HINT = "run `make setup` or `bash scripts/sillytavern.sh`"

# Everything that would reach outside or wait on a person is off. The whitelist stays
# on (loopback only), as a default install has it.
CONFIG = {
    "listen": False,
    "protocol": {"ipv4": True, "ipv6": False},
    "whitelistMode": True,
    "whitelist": ["127.0.0.1", "::1"],
    "basicAuthMode": False,
    "enableUserAccounts": False,
    "browserLaunch": {"enabled": False},
    "skipContentCheck": True,
    "extensions": {"enabled": False, "autoUpdate": False, "models": {"autoDownload": False}},
    "enableDownloadableTokenizers": False,
    "enableServerPlugins": False,
    "enableServerPluginsAutoUpdate": False,
    "backups": {"chat": {"enabled": False}},
    "thumbnails": {"enabled": False},
    "logging": {"enableAccessLog": False, "minLogLevel": 1},
}


def _node_version() -> tuple[int, ...] | None:
    node = shutil.which("node")
    if node is None:
        return None
    out = subprocess.run([node, "--version"], capture_output=True, text=True).stdout
    return tuple(int(p) for p in out.strip().lstrip("v").split(".")[:2] if p.isdigit())


def sillytavern_version() -> str:
    return json.loads((PACKAGE / "package.json").read_text())["version"]


@dataclass
class Hearth:
    """A live Hearth server with an owner; `api` is Hearth's own API as the owner."""
    url: str
    token: str
    api: httpx.Client
    services: Services


@pytest.fixture(scope="session")
def hearth(llama: LlamaModel, embedder: MiniLMEmbedder,
           tmp_path_factory: pytest.TempPathFactory) -> Iterator[Hearth]:
    """Hearth for SillyTavern to talk to, with an owner account (SillyTavern sends the
    owner's token as its API key); short replies, no background facts or summaries."""
    settings = make_settings(tmp_path_factory.mktemp("st-hearth"), {"background": False},
                             max_reply_tokens=48)
    services = Services.start(settings, model=ModelOwner(llama, queue_size=4), embedder=embedder)
    _, token = services.accounts.init_owner("Olive")
    with ThreadServer(create_app(settings, services)) as live, httpx.Client(
            base_url=live.url, headers={"Authorization": f"Bearer {token}"}, timeout=120) as api:
        yield Hearth(live.url, token, api, services)
    services.close()


class SillyTavern:
    """SillyTavern's server as its UI sees it: one session cookie and its CSRF token
    (`GET /csrf-token`, then `X-CSRF-Token` on every request), and the UI's requests."""

    def __init__(self, url: str, log_path: Path) -> None:
        self.url = url
        self.log_path = log_path
        self.http = httpx.Client(base_url=url, timeout=180)
        token = self.http.get("/csrf-token")
        token.raise_for_status()
        self.http.headers["X-CSRF-Token"] = token.json()["token"]

    def close(self) -> None:
        self.http.close()

    def post(self, path: str, body: dict[str, Any]) -> httpx.Response:
        return self.http.post(path, json=body)

    def set_api_key(self, key: str, *, secret: str = "api_key_custom") -> None:
        """What the UI's API key field does: `api_key_custom` for a custom chat-completion
        source; `api_key_llamacpp`, `api_key_koboldcpp`... for text completion."""
        r = self.post("/api/secrets/write", {"key": secret, "value": key, "label": "hearth"})
        assert r.status_code == 200, r.text

    # Chat Completion → Custom (OpenAI-compatible), as public/scripts/openai.js sends it.

    def status(self, custom_url: str) -> dict[str, Any]:
        """The connection check: SillyTavern's server GETs `{custom_url}/models`."""
        r = self.post("/api/backends/chat-completions/status", {
            "chat_completion_source": "custom", "custom_url": custom_url,
            "custom_include_headers": "", "reverse_proxy": "", "proxy_password": ""})
        assert r.status_code == 200, r.text
        return r.json()

    def generate_body(self, custom_url: str, model: str, messages: list[dict[str, Any]], *,
                      stream: bool = False, type: str = "normal", **extra: Any) -> dict[str, Any]:
        """The body of the UI's request with its default settings (temperature 1, top_p 1,
        300 tokens); SillyTavern's server passes most of it on to `/chat/completions`.
        `extra` overrides any of it (e.g. `custom_include_body`, YAML merged into the
        outgoing body; `custom_include_headers`, YAML merged into its headers)."""
        return {
            "type": type, "messages": messages, "model": model, "temperature": 1,
            "frequency_penalty": 0, "presence_penalty": 0, "top_p": 1, "max_tokens": 300,
            "stream": stream, "chat_completion_source": "custom", "user_name": "User",
            "char_name": model, "group_names": [], "include_reasoning": False,
            "reasoning_effort": "auto", "enable_web_search": False, "request_images": False,
            "custom_prompt_post_processing": "", "custom_url": custom_url,
            "custom_include_body": "", "custom_exclude_body": "", "custom_include_headers": "",
            **extra,
        }

    def generate(self, custom_url: str, model: str, messages: list[dict[str, Any]], *,
                 stream: bool = False, **extra: Any) -> str:
        """One generation through `/api/backends/chat-completions/generate`: the reply's
        text (from the JSON, or gathered from the relayed Server-Sent Events)."""
        body = self.generate_body(custom_url, model, messages, stream=stream, **extra)
        if not stream:
            r = self.post("/api/backends/chat-completions/generate", body)
            assert r.status_code == 200, r.text
            data = r.json()
            assert "error" not in data, data
            return str(data["choices"][0]["message"]["content"])
        text = []
        with self.http.stream("POST", "/api/backends/chat-completions/generate",
                              json=body) as r:
            assert r.status_code == 200, r.read().decode()
            for line in r.iter_lines():
                if line.startswith("data: ") and line != "data: [DONE]":
                    chunk = json.loads(line[6:])
                    for choice in chunk.get("choices", []):
                        text.append(choice["delta"].get("content") or "")
        return "".join(text)

    # Characters and chats (chat files are JSON lines: a header, then one line a message).

    def create_character(self, name: str, **card: str) -> str:
        """A character card (default avatar); returns its avatar file name, the key of
        its chats."""
        r = self.post("/api/characters/create", {"ch_name": name, **card})
        assert r.status_code == 200, r.text
        return r.text

    def save_chat(self, avatar: str, file_name: str, chat: list[dict[str, Any]]) -> None:
        r = self.post("/api/chats/save", {"avatar_url": avatar, "file_name": file_name,
                                          "chat": chat, "force": True})
        assert r.status_code == 200, r.text

    def get_chat(self, avatar: str, file_name: str) -> list[dict[str, Any]]:
        r = self.post("/api/chats/get", {"avatar_url": avatar, "file_name": file_name})
        assert r.status_code == 200, r.text
        return list(r.json())


@pytest.fixture(scope="session")
def sillytavern_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BackendServer]:
    """SillyTavern's server on a free loopback port, with a throwaway config and data."""
    version = _node_version()
    if version is None:
        pytest.skip("node is not installed: SillyTavern needs Node.js 20 or newer "
                    "(e.g. sudo apt-get install nodejs npm), then " + INSTALL_HINT)
    if version < (20,):
        pytest.skip(f"node {'.'.join(map(str, version))} is too old: SillyTavern needs 20 or "
                    "newer")
    if not (PACKAGE / "server.js").is_file():
        pytest.skip(f"SillyTavern is not installed in {PACKAGE.parent}: " + INSTALL_HINT)
    root = tmp_path_factory.mktemp("sillytavern")
    config, data = root / "config.yaml", root / "data"
    config.write_text(json.dumps(CONFIG))  # JSON is YAML
    # Its front-end bundle is compiled at start (webpack, ~15 s) into the data root unless
    # in a container; a cache kept with the package makes every later start quick.
    cache = PACKAGE / "dist" / "_webpack"
    cache.mkdir(parents=True, exist_ok=True)
    data.mkdir()
    (data / "_webpack").symlink_to(cache, target_is_directory=True)
    server = BackendServer([shutil.which("node") or "node", str(PACKAGE / "server.js"),
                            "--configPath", str(config), "--dataRoot", str(data),
                            "--port", "{port}", "--listen", "false",
                            "--browserLaunchEnabled", "false"],
                           "/csrf-token", root / "sillytavern.log")
    with server:
        yield server


@pytest.fixture(scope="session")
def sillytavern(sillytavern_server: BackendServer, hearth: Hearth) -> Iterator[SillyTavern]:
    """A client of SillyTavern's server, as its UI, with Hearth's owner token saved as the
    custom source's API key (Hearth's address goes with each request, as `custom_url`)."""
    client = SillyTavern(sillytavern_server.url, sillytavern_server.log_path)
    client.set_api_key(hearth.token)
    yield client
    client.close()
