"""The people of the household: an owner, members, their passwords and tokens.

Until an owner exists and while the server listens on loopback only, Hearth runs
in single-user mode: requests without a token act as the one local user. The
first owner takes over that user's conversations and memories. Listening on any
other address needs accounts: nothing on the LAN gets in without a key.

Tokens are random (256 bits) and only their SHA-256 is stored; passwords are
hashed with scrypt. A web login gets a session token that expires.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import hmac
import ipaddress
import secrets
import threading
import time
import unicodedata
from collections import deque
from dataclasses import dataclass, field

from hearth.errors import (
    Conflict,
    Forbidden,
    HearthError,
    InvalidInput,
    TooManyAttempts,
    Unauthorized,
)
from hearth.store import Store, Token, User

LOCAL_USER = "User"  # the single user of a loopback-only install without accounts
SESSION_SECONDS = 30 * 24 * 3600
TOKEN_PREFIX = "hth_"
MIN_PASSWORD = 8
_SCRYPT = {"n": 2**14, "r": 8, "p": 1}


def hash_password(password: str) -> str:
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, **_SCRYPT)
    return "scrypt$" + "$".join(base64.b64encode(x).decode() for x in (salt, digest))


def check_password(password: str, stored: str | None) -> bool:
    if not stored or not stored.startswith("scrypt$"):
        return False
    salt, digest = (base64.b64decode(x) for x in stored.split("$")[1:])
    return hmac.compare_digest(hashlib.scrypt(password.encode(), salt=salt, **_SCRYPT), digest)


@functools.cache
def _unmatchable_hash() -> str:
    """A hash no password matches, checked in place of a missing one (made once)."""
    return hash_password(secrets.token_urlsafe(32))


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _valid_name(name: str) -> str:
    name = unicodedata.normalize("NFC", name.strip())  # one spelling, as lookups use
    if not 1 <= len(name) <= 64 or any(not c.isprintable() for c in name):
        raise InvalidInput("a user name is 1 to 64 printable characters")
    return name


def _valid_password(password: str) -> str:
    if len(password) < MIN_PASSWORD:
        raise InvalidInput(f"a password needs at least {MIN_PASSWORD} characters")
    return password


@dataclass
class Accounts:
    store: Store
    loopback_only: bool
    _failures: dict[str, deque[float]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    # -- modes ------------------------------------------------------------

    @property
    def single_user(self) -> bool:
        """No owner yet and reachable from this box only: no token needed."""
        return self.loopback_only and self.store.people.owner() is None

    def local_user(self) -> User:
        """The user the CLI acts as by default: the owner, or the single local user.
        Asked on every request in single-user mode, so it only reads once that user exists."""
        return (self.store.people.owner() or self.store.people.find_by_name(LOCAL_USER)
                or self.store.people.ensure(LOCAL_USER))

    def check_exposure(self, host: str) -> None:
        """Refuse to serve the LAN before anyone has a key."""
        if not is_loopback(host) and self.store.people.owner() is None:
            raise HearthError(
                f"Hearth would listen on {host} with no accounts, open to anyone on the "
                "network: create the owner first with `hearth users init NAME`, or listen "
                "on 127.0.0.1"
            )

    # -- people -----------------------------------------------------------

    def init_owner(self, name: str, password: str | None = None) -> tuple[User, str]:
        """Create the household's owner and their first API token.

        The owner inherits the single local user's conversations and memories, so
        what was said before accounts existed is kept.
        """
        name = _valid_name(name)
        if self.store.people.owner() is not None:
            raise Conflict("the household already has an owner; the owner adds members")
        hashed = hash_password(_valid_password(password)) if password else None
        local = self.store.people.find_by_name(LOCAL_USER)
        if local is not None and self.store.people.find_by_name(name) in (None, local):
            user = self.store.people.update(local.id, name=name, role="owner",
                                            password_hash=hashed)
        else:
            user = self.store.people.create(name, role="owner", password_hash=hashed)
        return user, self.issue_token(user, "first token")[1]

    def add_member(self, name: str, password: str | None = None) -> tuple[User, str]:
        name = _valid_name(name)
        hashed = hash_password(_valid_password(password)) if password else None
        user = self.store.people.create(name, role="member", password_hash=hashed)
        return user, self.issue_token(user, "first token")[1]

    def remove(self, user: User) -> list[int]:
        """Remove a member with everything that was theirs; returns deleted message ids."""
        if user.is_owner:
            raise Forbidden("the owner cannot be removed")
        return self.store.people.delete(user.id)

    def set_password(self, user: User, password: str) -> User:
        hashed = hash_password(_valid_password(password))
        user = self.store.people.update(user.id, password_hash=hashed)
        self.store.tokens.delete_all(user.id, kind="session")  # other browsers must log in again
        return user

    # -- tokens and sessions ------------------------------------------------

    def issue_token(self, user: User, label: str, *, kind: str = "api",
                    lifetime: float | None = None) -> tuple[Token, str]:
        """A new token: its record, and the secret, which is shown once and never stored."""
        secret = TOKEN_PREFIX + secrets.token_urlsafe(32)
        expires = time.time() + lifetime if lifetime else None
        token = self.store.tokens.add(user.id, kind=kind, label=label[:100],
                                      digest=token_digest(secret), expires_at=expires)
        return token, secret

    def tokens(self, user: User) -> list[Token]:
        return self.store.tokens.list(user.id)

    def revoke(self, user: User, token_id: int) -> None:
        self.store.tokens.delete(token_id, user_id=user.id)

    def authenticate(self, token: str) -> User | None:
        if not token.startswith(TOKEN_PREFIX) or len(token) > 200:
            return None
        return self.store.people.find_by_token(token_digest(token), now=time.time())

    def login(self, name: str, password: str, *, label: str = "web session") -> tuple[User, str]:
        """A session token for a name and password; repeated failures are slowed down."""
        name = unicodedata.normalize("NFC", name.strip())
        key = name.casefold()
        self._reserve_attempt(key)  # counted as failed until the password checks out
        user = self.store.people.find_by_name(name)
        stored = self.store.people.password_hash(user.id) if user else None
        # An unknown name (or one without a password) costs the same hash as a known
        # one, so the time of the answer does not tell which names exist.
        matches = check_password(password, stored or _unmatchable_hash())
        if user is None or stored is None or not matches:
            raise Unauthorized("wrong name or password")
        with self._lock:
            self._failures.pop(key, None)
        return user, self.issue_token(user, label, kind="session", lifetime=SESSION_SECONDS)[1]

    def logout(self, token: str) -> None:
        self.store.tokens.delete_digest(token_digest(token))

    def _reserve_attempt(self, key: str, limit: int = 5, window: float = 60.0) -> None:
        """Count an attempt as a failure before its slow password check, so attempts
        made at once cannot all pass the limit; a success clears the count."""
        with self._lock:
            recent = self._failures.setdefault(key, deque())
            now = time.monotonic()
            while recent and now - recent[0] > window:
                recent.popleft()
            if len(recent) >= limit:
                raise TooManyAttempts(
                    f"too many failed logins for this name; wait {int(window)} seconds")
            recent.append(now)
