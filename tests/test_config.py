"""Settings: defaults < TOML file < HEARTH_* environment < choices.json < overrides (CLI flags),
and values out of range refused with the field named."""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from pydantic import BaseModel, ValidationError

from hearth.config import CHOICES_FILE, DEFAULT_MODEL, Settings, load_settings, read_choices


@pytest.fixture(autouse=True)
def clean(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """No HEARTH_* variables and no ./hearth.toml but the ones a test writes."""
    for name in list(os.environ):
        if name.startswith("HEARTH_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)
    yield tmp_path


def write_toml(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def choose(data_dir: Path, choices: object) -> None:
    data_dir.mkdir(parents=True, exist_ok=True)
    (data_dir / CHOICES_FILE).write_text(json.dumps(choices), encoding="utf-8")


def test_defaults() -> None:
    settings = load_settings()
    assert settings.data_dir == Path("data") and settings.db_path == Path("data/hearth.db")
    assert settings.index_path == Path("data/memory")
    assert (settings.server.host, settings.server.port) == ("127.0.0.1", 8000)
    assert settings.llm.model_path == DEFAULT_MODEL and settings.llm.n_ctx == 4096
    assert settings.llm.backend == "local" and settings.memory.enabled
    assert not settings.wyoming.enabled


def test_environment_variables_name_section_and_field(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HEARTH_LLM__N_CTX", "2048")
    monkeypatch.setenv("HEARTH_SERVER__PORT", "8123")
    monkeypatch.setenv("HEARTH_MEMORY__ENABLED", "false")
    monkeypatch.setenv("HEARTH_SERVER__CORS_ORIGINS", '["http://192.168.1.20:3000"]')
    monkeypatch.setenv("HEARTH_DATA_DIR", "/srv/hearth")
    monkeypatch.setenv("HEARTH_VOICE__LANGUAGE", "")  # empty: as if unset
    monkeypatch.setenv("HEARTH_NO_SUCH_THING", "1")  # unknown: ignored
    settings = load_settings()
    assert settings.llm.n_ctx == 2048 and settings.server.port == 8123
    assert settings.memory.enabled is False
    assert settings.server.cors_origins == ["http://192.168.1.20:3000"]
    assert settings.data_dir == Path("/srv/hearth")
    assert settings.voice.language is None
    # Only the named fields change; the rest of each section keeps its defaults.
    assert settings.llm.max_reply_tokens == 256 and settings.server.host == "127.0.0.1"


def test_config_file_in_the_working_directory_or_named(tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    write_toml(tmp_path / "hearth.toml", 'data_dir = "./here"\n[llm]\nn_ctx = 1024\n')
    settings = load_settings()
    assert settings.data_dir == Path("here") and settings.llm.n_ctx == 1024

    named = write_toml(tmp_path / "other.toml",
                       '[server]\nport = 9000\n[memory]\nlorebook_tokens = 64\n')
    monkeypatch.setenv("HEARTH_CONFIG", str(named))
    settings = load_settings()
    assert settings.server.port == 9000 and settings.memory.lorebook_tokens == 64
    assert settings.llm.n_ctx == 4096, "./hearth.toml is not read when another file is named"


def test_a_path_in_the_file_or_environment_expands_the_home_directory(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    write_toml(tmp_path / "hearth.toml", '[voice]\nvoices_dir = "~/voices"\n')
    monkeypatch.setenv("HEARTH_DATA_DIR", "~/data")
    settings = load_settings()
    assert settings.data_dir == tmp_path / "data"
    assert settings.voice.voices_dir == tmp_path / "voices"


def test_each_layer_overrides_the_one_below(tmp_path: Path,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    data = tmp_path / "data"
    write_toml(tmp_path / "hearth.toml", f'data_dir = "{data}"\n'
               "[llm]\nn_ctx = 1024\nn_batch = 64\ntemperature = 0.3\nmax_reply_tokens = 100\n"
               '[voice]\ndefault_voice = "from-file"\nsilence_ms = 600\n')
    monkeypatch.setenv("HEARTH_LLM__N_CTX", "2048")
    monkeypatch.setenv("HEARTH_LLM__TEMPERATURE", "0.5")
    monkeypatch.setenv("HEARTH_VOICE__DEFAULT_VOICE", "from-env")
    choose(data, {"llm": {"model_path": str(DEFAULT_MODEL), "temperature": 0.7},
                  "voice": {"default_voice": "chosen"}})

    settings = load_settings()
    assert settings.llm.n_batch == 64 and settings.voice.silence_ms == 600  # file over default
    assert settings.llm.n_ctx == 2048  # environment over file
    assert settings.llm.temperature == 0.7  # choices over environment
    assert settings.voice.default_voice == "chosen"
    assert settings.llm.max_reply_tokens == 100

    # Overrides (the CLI's flags) win, merged field by field into their section.
    settings = load_settings(llm={"temperature": 0.1, "n_ctx": 512}, voice={"silence_ms": 300})
    assert (settings.llm.temperature, settings.llm.n_ctx) == (0.1, 512)
    assert settings.llm.n_batch == 64 and settings.llm.model_path == DEFAULT_MODEL
    assert settings.voice.silence_ms == 300 and settings.voice.default_voice == "chosen"

    # The choices read are those of the data directory the overrides name.
    elsewhere = load_settings(data_dir=tmp_path / "elsewhere")
    assert elsewhere.llm.temperature == 0.5 and elsewhere.voice.default_voice == "from-env"


def test_choices_that_cannot_be_used_are_left_out(tmp_path: Path,
                                                  caplog: pytest.LogCaptureFixture) -> None:
    data = tmp_path / "data"
    assert read_choices(data) == {}  # none made yet
    choose(data, {"llm": {"model_path": str(tmp_path / "gone.gguf"), "n_ctx": 1024},
                  "voice": {"default_voice": "joe"}, "nonsense": {"a": 1}, "server": "x"})
    with caplog.at_level(logging.WARNING, logger="hearth.config"):
        choices = read_choices(data)
    assert choices == {"llm": {"n_ctx": 1024}, "voice": {"default_voice": "joe"}}
    assert "gone.gguf is gone" in caplog.text
    settings = load_settings(data_dir=data)
    assert settings.llm.model_path == DEFAULT_MODEL and settings.llm.n_ctx == 1024

    caplog.clear()
    (data / CHOICES_FILE).write_text("{not json", encoding="utf-8")
    with caplog.at_level(logging.WARNING, logger="hearth.config"):
        assert read_choices(data) == {}
    assert "cannot be read" in caplog.text
    assert load_settings(data_dir=data).voice.default_voice != "joe"


@pytest.mark.parametrize(("section", "field", "value"), [
    ("server", "port", 0),
    ("server", "port", 70000),
    ("llm", "n_ctx", 100),
    ("llm", "temperature", 2.5),
    ("llm", "top_p", 0.0),
    ("llm", "max_reply_tokens", 8),
    ("llm", "n_gpu_layers", -2),
    ("llm", "remote_url", "gpu-box:8080"),
    ("memory", "recent_share", 1.5),
    ("memory", "chroma_url", "nas:8001"),
    ("memory", "chroma_database", "db"),
    ("voice", "vad_threshold", 1.0),
    ("voice", "silence_ms", 10),
    ("limits", "max_message_chars", 0),
    ("wyoming", "port", 65536),
])
def test_values_out_of_range_are_refused_naming_the_field(section: str, field: str,
                                                          value: object) -> None:
    with pytest.raises(ValidationError) as refused:
        load_settings(**{section: {field: value}})
    assert any(error["loc"][:2] == (section, field) or field in error["msg"]
               for error in refused.value.errors()), refused.value


def test_bad_values_from_the_environment_and_the_file_are_refused(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HEARTH_LLM__N_CTX", "lots")
    with pytest.raises(ValidationError, match="n_ctx"):
        load_settings()
    monkeypatch.delenv("HEARTH_LLM__N_CTX")
    write_toml(tmp_path / "hearth.toml", "[server]\nport = 99999\n")
    with pytest.raises(ValidationError, match="port"):
        load_settings()


def test_every_setting_says_what_it_is_for() -> None:
    def fields(model: type[BaseModel], prefix: str = "") -> Iterator[tuple[str, str | None]]:
        for name, info in model.model_fields.items():
            kind = info.annotation
            if isinstance(kind, type) and issubclass(kind, BaseModel):
                yield from fields(kind, f"{prefix}{name}.")
            else:
                yield f"{prefix}{name}", info.description

    found = dict(fields(Settings))
    assert "llm.n_ctx" in found and "voice.silence_ms" in found
    assert [name for name, description in found.items() if not description] == []
