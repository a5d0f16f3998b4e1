"""The household's members as the owner manages them; removing one forgets them everywhere."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from hearth.accounts import Accounts
from hearth.memory.service import Memory
from hearth.relationship.profile import ProfileFields, check
from hearth.store import User


@dataclass
class People:
    accounts: Accounts
    memory: Memory | None
    # Refuses a persona too long for the model's window (None: the character limit only).
    check_persona: Callable[[str], None] | None = None

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

    def set_profile(self, user_id: int, fields: ProfileFields) -> User:
        """Change a person's profile: every given field is checked first, and nothing
        changes unless all of them pass (InvalidInput names the field)."""
        checked = check(fields)
        if self.check_persona is not None and checked.get("persona"):
            self.check_persona(str(checked["persona"]))
        user = self.accounts.store.people.set_profile(user_id, **checked)
        if self.memory is not None and "language" in checked:
            self.memory.follow_language()  # a new language may need another embedder
        return user
