"""The household's members as the owner manages them; removing one forgets them everywhere."""

from __future__ import annotations

from dataclasses import dataclass

from hearth.accounts import Accounts
from hearth.memory.service import Memory
from hearth.store import User


@dataclass
class People:
    accounts: Accounts
    memory: Memory | None

    def all(self) -> list[User]:
        return self.accounts.store.people.list()

    def remove(self, user_id: int) -> int:
        """Remove a member with everything that was theirs, their memories in the index
        included; returns how many of their messages went."""
        user = self.accounts.store.people.get(user_id)
        deleted = self.accounts.remove(user)
        if self.memory is not None:
            self.memory.forget_user(user.id)
        return len(deleted)
