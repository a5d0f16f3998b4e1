"""What the store reads back: one frozen dataclass per kind of record."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

from hearth.zones import local_zone, zone_named


@dataclass(frozen=True)
class User:
    id: int
    name: str
    created_at: float
    role: str = "member"
    has_password: bool = False
    # The profile, as the person set it ('' = not set; see relationship/profile.py).
    display_name: str = ""
    pronouns: str = ""
    persona: str = ""
    timezone: str = ""  # IANA name; '' = the machine's zone
    language: str = ""  # BCP-47; '' = English
    reach_out: bool = True  # the character may start a conversation

    @property
    def is_owner(self) -> bool:
        return self.role == "owner"

    @property
    def shown_name(self) -> str:
        """What characters call the person: their display name, else their account name."""
        return self.display_name or self.name

    @property
    def zone(self) -> ZoneInfo:
        """The person's time zone: theirs, else the machine's, else UTC."""
        return zone_named(self.timezone) or local_zone()

    @property
    def lang(self) -> str:
        """The person's language tag in effect."""
        return self.language or "en"


@dataclass(frozen=True)
class Token:
    id: int
    user_id: int
    kind: str
    label: str
    created_at: float
    expires_at: float | None
    last_used_at: float | None


@dataclass(frozen=True)
class Character:
    id: int
    name: str
    data: dict[str, Any]
    has_avatar: bool
    created_at: float
    updated_at: float
    # Lorebook regex keys that ran out of time on a message: they stay off until the
    # lorebook changes (see lorebook.KeyRules).
    lore_keys_off: tuple[str, ...] = ()
    model_id: str = ""  # its id on /v1/models: given once, kept through renames


@dataclass(frozen=True)
class Conversation:
    id: int
    user_id: int
    character_id: int
    title: str
    created_at: float
    updated_at: float


@dataclass(frozen=True)
class Message:
    id: int
    conversation_id: int
    role: str
    swipes: list[str]
    swipe_index: int
    status: str
    created_at: float
    updated_at: float
    # Why the character wrote first ({kind, about: [message ids], due}); None for a reply.
    reason: dict[str, Any] | None = None

    @property
    def content(self) -> str:
        return self.swipes[self.swipe_index]

    @property
    def initiated_by(self) -> str:
        return "character" if self.reason is not None else "user"


@dataclass(frozen=True)
class OwnedMessage:
    """A message with whose it is: the user and character of its conversation."""

    message: Message
    user_id: int
    character_id: int


@dataclass(frozen=True)
class Fact:
    id: int
    user_id: int
    character_id: int
    text: str
    source_message_ids: list[int]
    said_at: float
    created_at: float
    updated_at: float


@dataclass(frozen=True)
class Plan:
    """A dated plan or yearly date the person mentioned (relationship/plans.py finds them)."""

    id: int
    user_id: int
    character_id: int
    conversation_id: int
    text: str
    kind: str  # "plan", or "date": yearly, like a birthday
    due_at: float
    all_day: bool
    status: str  # "upcoming", "done" or "cancelled"
    source_message_ids: list[int]
    followed_up_at: float | None
    created_at: float
    updated_at: float


@dataclass(frozen=True)
class Summary:
    """A conversation's rolling summary, covering every message up to `upto_message_id`."""

    text: str
    upto_message_id: int
    updated_at: float


@dataclass(frozen=True)
class Note:
    """The memory the context builder put beside a user message."""

    text: str
    sources: list[str]  # memory ids ("m12", "f3", "lore:2")


@dataclass(frozen=True)
class StoredWindow:
    """Where a conversation's verbatim turns start, with the profile and summary frozen then."""

    start_message_id: int
    profile: str
    summary: str
