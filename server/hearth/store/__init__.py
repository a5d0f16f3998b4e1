"""SQLite, the durable record: users, characters, conversations, messages, memory.

`Store(path)` opens the database once and offers one repository per family of
records over it: `store.people.get(id)`, `store.messages.add(...)`, ... Lookups
follow one rule: `get`/`get_by_name` raise NotFound, `find`/`find_by_name` return
None.
"""

from __future__ import annotations

from pathlib import Path

from hearth.store.characters import Characters
from hearth.store.conversations import Conversations
from hearth.store.db import Database
from hearth.store.memory import Facts, Notes, Summaries, Windows
from hearth.store.messages import Messages
from hearth.store.meta import Meta
from hearth.store.people import People, Tokens
from hearth.store.plans import Plans
from hearth.store.records import (
    Character,
    Conversation,
    Fact,
    Message,
    Note,
    OwnedMessage,
    Plan,
    StoredWindow,
    Summary,
    Token,
    User,
)

__all__ = [
    "Character", "Conversation", "Database", "Fact", "Message", "Note", "OwnedMessage", "Plan",
    "Store", "StoredWindow", "Summary", "Token", "User",
]


class Store:
    def __init__(self, path: Path) -> None:
        self.db = Database(path)
        self.people = People(self.db)
        self.tokens = Tokens(self.db)
        self.characters = Characters(self.db)
        self.conversations = Conversations(self.db)
        self.messages = Messages(self.db)
        self.facts = Facts(self.db)
        self.summaries = Summaries(self.db)
        self.notes = Notes(self.db)
        self.windows = Windows(self.db)
        self.meta = Meta(self.db)
        self.plans = Plans(self.db)

    def close(self) -> None:
        self.db.close()
