"""The long-lived parts of a running Hearth, built once from settings and shared."""

from __future__ import annotations

import json
import logging
import threading
from dataclasses import dataclass, field
from importlib import resources

from hearth.accounts import Accounts, is_loopback
from hearth.characters import normalise_data
from hearth.chat import Chat
from hearth.choices import Choices
from hearth.config import Settings
from hearth.engines.embed import Embedder, MiniLMEmbedder
from hearth.engines.llm import ModelOwner, load_model
from hearth.engines.stt import Transcriber, load_transcriber
from hearth.engines.tts import PiperSynthesizer, Synthesizer
from hearth.jobs import Jobs
from hearth.memory.index import MemoryIndex
from hearth.memory.service import Memory
from hearth.store import Store, User

log = logging.getLogger(__name__)

@dataclass
class Services:
    settings: Settings
    store: Store
    model: ModelOwner
    memory: Memory | None
    jobs: Jobs
    chat: Chat
    accounts: Accounts
    choices: Choices  # the model and default voice in use: `hearth ... use` replaces it
    _speaker: Synthesizer | None = field(default=None, init=False, repr=False)
    _speaker_lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)
    _transcriber: Transcriber | None = field(default=None, init=False, repr=False)
    _transcriber_lock: threading.Lock = field(
        default_factory=threading.Lock, init=False, repr=False
    )

    @classmethod
    def start(
        cls, settings: Settings, model: ModelOwner | None = None, embedder: Embedder | None = None
    ) -> Services:
        """Open the store and index, load the models (or share already loaded ones)."""
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        store = Store(settings.db_path)
        seed_default_character(store)
        if model is None:
            log.info("loading chat model %s", settings.llm.remote_url or settings.llm.model_path)
            model = ModelOwner(load_model(settings.llm), queue_size=settings.llm.queue_size,
                               queue_per_user=settings.llm.queue_per_user)
        memory = None
        if settings.memory.enabled:
            embedder = embedder or MiniLMEmbedder(settings.memory.embedder_dir)
            index = MemoryIndex(settings.index_path, embedder, url=settings.memory.chroma_url,
                                database=settings.memory.chroma_database)
            memory = Memory(store=store, index=index, embedder=embedder, model=model,
                            settings=settings)
        jobs = Jobs()
        chat = Chat(store=store, model=model, settings=settings, memory=memory, jobs=jobs)
        accounts = Accounts(store, loopback_only=is_loopback(settings.server.host))
        return cls(settings, store, model, memory, jobs, chat, accounts, Choices.of(settings))

    @property
    def user(self) -> User:
        """Whom the CLI acts as by default: the owner, or the single local user."""
        return self.accounts.local_user()

    def remove_user(self, user: User) -> None:
        """Remove a member and forget everything that was theirs, index included."""
        self.accounts.remove(user)
        if self.memory is not None:
            self.memory.forget_user(user.id)

    def speaker(self) -> Synthesizer:
        """The speech synthesizer, made on first use; each voice loads when first spoken."""
        with self._speaker_lock:
            if self._speaker is None:
                self._speaker = PiperSynthesizer(self.settings.voice.voices_dir)
            return self._speaker

    def transcriber(self) -> Transcriber:
        """The speech-to-text model, loaded on first use: start-up stays fast, and a
        household that never speaks never loads it. Blocks while loading (~1 s)."""
        with self._transcriber_lock:
            if self._transcriber is None:
                log.info("loading speech-to-text model %s", self.settings.voice.stt_model)
                self._transcriber = load_transcriber(self.settings.voice)
            return self._transcriber

    def close(self) -> None:
        if self.memory is not None:
            self.memory.index.close()
        close_model = getattr(self.model.model, "close", None)  # a remote model's connections
        if close_model is not None:
            close_model()
        self.store.close()


def seed_default_character(store: Store) -> None:
    """Give a fresh install someone to talk to, once (a deleted default stays deleted)."""
    if store.meta.find("seeded_default_character"):
        return
    if store.characters.count() == 0:
        text = resources.files("hearth.data").joinpath("default_character.json").read_text()
        store.characters.create(data=normalise_data(json.loads(text)["data"]), avatar=None)
    store.meta.set("seeded_default_character", "1")
