"""The long-lived parts of a running Hearth, built once from settings and shared.

`Services` also holds one service per resource (`conversations`, `characters`,
`people`, `memories`): each workflow that the API and the CLI share is one method
there, which keeps the memory index in step with the database.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from importlib import resources

from hearth.accounts import Accounts, is_loopback
from hearth.characters import normalise_data
from hearth.chat import Chat
from hearth.choices import Choices
from hearth.config import MODELS_DIR, Settings
from hearth.engines.embed import Embedder, load_embedder
from hearth.engines.llm import ModelOwner, load_model
from hearth.engines.stt import SpeechToText, load_transcriber
from hearth.engines.voices import Voices, load_voices
from hearth.feed import Feed
from hearth.jobs import Jobs
from hearth.memory.embedder_choice import AUTO, household_embedder
from hearth.memory.index import MemoryIndex
from hearth.memory.service import Memory
from hearth.relationship.outreach import Outreach
from hearth.services.characters import Characters
from hearth.services.client_history import ClientHistory
from hearth.services.conversations import Conversations
from hearth.services.memories import Memories
from hearth.services.people import People
from hearth.store import Store, User

__all__ = ["Characters", "Conversations", "Memories", "People", "Services", "open_memory",
           "seed_default_character"]

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
    feed: Feed  # stored messages, live, to each person's listening clients
    conversations: Conversations = field(init=False)
    history: ClientHistory = field(init=False)  # stateful clients' chats, followed
    characters: Characters = field(init=False)
    people: People = field(init=False)
    memories: Memories = field(init=False)
    outreach: Outreach = field(init=False)
    _speaker: Voices | None = field(default=None, init=False, repr=False)
    _speaker_lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)
    _transcriber: SpeechToText | None = field(default=None, init=False, repr=False)
    _transcriber_lock: threading.Lock = field(
        default_factory=threading.Lock, init=False, repr=False
    )

    def __post_init__(self) -> None:
        self.conversations = Conversations(self.store, self.chat, self.memory)
        self.history = ClientHistory(self.store, self.chat, self.conversations)
        self.characters = Characters(self.store, self.memory, self.settings, self.speaker,
                                     check_fit=self.chat.context.check_card)
        self.people = People(self.accounts, self.memory,
                             check_persona=self.chat.context.check_persona)
        self.memories = Memories(self.store, self.memory)
        self.outreach = Outreach(self.store, self.chat, self.settings.relationship)

    @classmethod
    def start(
        cls, settings: Settings, model: ModelOwner | None = None, embedder: Embedder | None = None,
        embedders: Sequence[Embedder] = (),
    ) -> Services:
        """Open the store and index, load the models (or share already loaded ones: see
        `open_memory`)."""
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        store = Store(settings.db_path)
        seed_default_character(store)
        if model is None:
            log.info("loading chat model %s", settings.llm.remote_url or settings.llm.model_path)
            model = ModelOwner(load_model(settings.llm), queue_size=settings.llm.queue_size,
                               queue_per_user=settings.llm.queue_per_user)
        memory = None
        if settings.memory.enabled:
            memory = open_memory(settings, store, model=model, embedder=embedder,
                                 embedders=embedders)
        jobs = Jobs()
        feed = Feed()
        chat = Chat(store=store, model=model, settings=settings, memory=memory, jobs=jobs,
                    feed=feed)
        accounts = Accounts(store, loopback_only=is_loopback(settings.server.host))
        return cls(settings, store, model, memory, jobs, chat, accounts, Choices.of(settings),
                   feed)

    @property
    def user(self) -> User:
        """Whom the CLI acts as by default: the owner, or the single local user."""
        return self.accounts.local_user()

    def speaker(self) -> Voices:
        """Every engine's voices, made on first use; each voice loads when first spoken."""
        with self._speaker_lock:
            if self._speaker is None:
                self._speaker = load_voices(self.settings.voice)
            return self._speaker

    def transcriber(self) -> SpeechToText:
        """The speech-to-text models, loaded on first use: start-up stays fast, and a
        household that never speaks never loads them. Blocks while loading (~1 s); the
        multilingual model loads when a language first needs it."""
        with self._transcriber_lock:
            if self._transcriber is None:
                log.info("loading speech-to-text model %s", self.settings.voice.stt_model)
                self._transcriber = load_transcriber(self.settings.voice)
            return self._transcriber

    def close(self) -> None:
        self.feed.close()
        if self.memory is not None:
            self.memory.close()
        close_model = getattr(self.model.model, "close", None)  # a remote model's connections
        if close_model is not None:
            close_model()
        self.store.close()


def open_memory(settings: Settings, store: Store, *, model: ModelOwner | None = None,
                embedder: Embedder | None = None, embedders: Sequence[Embedder] = ()) -> Memory:
    """The memory index over `store`. Without a chat model it indexes, recalls and forgets,
    but writes no summaries or facts (the CLI's case). Close it with `memory.close()`.

    The embedder is the configured one, or with "auto" the one the household's languages
    call for (`household_embedder`); `embedder` is used as is instead, and `embedders`
    before loading one (tests share them)."""
    loaded = {e.name: e for e in embedders}

    def load(name: str) -> Embedder:
        return loaded.get(name) or load_embedder(name, settings.memory.embedder_dir, MODELS_DIR)

    auto = settings.memory.embedder == AUTO
    embedder = embedder or load(household_embedder(store) if auto else settings.memory.embedder)
    index = MemoryIndex(settings.index_path, embedder, url=settings.memory.chroma_url,
                        database=settings.memory.chroma_database)
    return Memory(store=store, index=index, embedder=embedder, model=model, settings=settings,
                  load=load if auto else None)


def seed_default_character(store: Store) -> None:
    """Give a fresh install someone to talk to, once (a deleted default stays deleted)."""
    if store.meta.find("seeded_default_character"):
        return
    if store.characters.count() == 0:
        text = resources.files("hearth.data").joinpath("default_character.json").read_text()
        store.characters.create(data=normalise_data(json.loads(text)["data"]), avatar=None)
    store.meta.set("seeded_default_character", "1")
