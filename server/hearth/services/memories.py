"""Memory in the person's hands: searching what they said, and the facts a character keeps."""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime

from hearth.errors import Conflict
from hearth.memory.recall import Recalled
from hearth.memory.service import Memory
from hearth.store import Fact, Store, User


@dataclass
class Memories:
    store: Store
    memory: Memory | None

    def _on(self) -> Memory:
        if self.memory is None:
            raise Conflict("long-term memory is turned off (memory.enabled = false)")
        return self.memory

    def search(self, user: User, query: str, *, character_id: int,
               limit: int) -> list[Recalled]:
        """The user's memories with a character that best match `query` (hybrid recall,
        as a turn would). Blocking: embeds the query."""
        memory = self._on()
        character = self.store.characters.get(character_id)
        found = memory.recall(
            query, user_id=user.id, character_id=character.id, now=datetime.now(user.zone),
            exclude=set(), names=(user.shown_name, character.name), limit=limit)
        return found[:limit]

    def facts(self, user: User, character_id: int | None = None) -> list[Fact]:
        """What the characters (or one of them) know about the user, oldest first."""
        return self.store.facts.list(user_id=user.id, character_id=character_id)

    def add_fact(self, user: User, *, character_id: int, text: str) -> Fact:
        memory = self._on()
        self.store.characters.get(character_id)
        fact = memory.add_fact(user_id=user.id, character_id=character_id, text=text.strip(),
                               source_message_ids=[], said_at=time.time())
        if fact is None:
            raise Conflict("that fact is already known; edit the existing one instead")
        return fact

    def edit_fact(self, user: User, fact_id: int, text: str) -> Fact:
        return self._on().edit_fact(fact_id, user_id=user.id, text=text.strip())

    def delete_fact(self, user: User, fact_id: int) -> None:
        self._on().delete_fact(fact_id, user_id=user.id)
