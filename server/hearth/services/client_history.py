"""Which stored conversation a stateful client's request belongs to, brought in step.

A client that sends its whole chat (SillyTavern) names no conversation: its history
says which one it is. With no `X-Hearth-Conversation` header and no `user` thread, the
person's conversation with the character that shares the most messages with it is
taken (the latest on a tie); a history that shares none beyond the greeting is a new
chat and opens a new conversation (or the latest one, while it holds only the
greeting). Then `hearth.client_history.plan` says what to change there, and it is
done through the same services as a native edit, delete or import; a history that
cannot follow from the conversation forks a new one holding the client's history, and
the old one stays as it was. A request with no history (only its last message) is a
plain client's: it goes where `Chat.conversation_for` says, and nothing is compared.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

from hearth.chat import Chat, ImportItem
from hearth.client_history import Plan, Sent, plan
from hearth.services.conversations import Conversations
from hearth.store import Conversation, Store, User

CANDIDATES = 20  # the person's most recent conversations with the character, compared


@dataclass(frozen=True)
class Placed:
    conversation: Conversation
    plan: Plan = field(default_factory=Plan)
    notes: tuple[str, ...] = ()  # what was done, in words


@dataclass
class ClientHistory:
    store: Store
    chat: Chat
    conversations: Conversations
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)

    def place(self, user: User, character_id: int, sent: Sequence[Sent], *, kind: str,
              conversation_id: int | None = None, thread: str | None = None) -> Placed:
        """The conversation for a request whose user/assistant messages are `sent`, and
        what was changed there. `kind`: "turn" (the last is a new user message),
        "continue" (the last is the reply to go on with) or "once" (nothing is stored,
        so nothing is changed either)."""
        turn = kind == "turn"
        if len(sent) <= (1 if turn else 0):
            return Placed(self.chat.conversation_for(
                user, character_id, conversation_id=conversation_id, thread=thread))
        with self._lock:
            latest = self.store.conversations.latest(user_id=user.id, character_id=character_id)
            latest_id = latest.id if latest else None
            if conversation_id is not None or thread:
                conversation = self.chat.conversation_for(
                    user, character_id, conversation_id=conversation_id, thread=thread)
                chosen: tuple[Conversation, Plan] | None = (
                    conversation, self._plan(conversation, sent, turn))
            else:
                chosen = self._best(user, character_id, sent, turn)
            if kind == "once":
                if chosen is None or chosen[1].fork is not None:
                    return Placed(self.chat.conversation_for(user, character_id))
                return Placed(chosen[0])
            notes: list[str] = []
            if chosen is None or chosen[1].fork is not None:
                chosen, old = self._new(user, character_id, sent, turn), chosen
                if old is not None:
                    notes.append(f"forked from conversation {old[0].id}: {old[1].fork}")
                elif chosen[0].id != latest_id:
                    notes.append(f"started conversation {chosen[0].id}: the client's history "
                                 "follows from none stored with this character")
                if thread:
                    self.store.conversations.set_thread(
                        user_id=user.id, character_id=character_id, name=thread,
                        conversation_id=chosen[0].id)
            conversation, steps = chosen
            self._apply(user, conversation, steps)
            return Placed(conversation, steps, (*notes, *steps.describe()))

    def _plan(self, conversation: Conversation, sent: Sequence[Sent], turn: bool) -> Plan:
        return plan(self.store.messages.list(conversation.id), sent, turn=turn)

    def _best(self, user: User, character_id: int, sent: Sequence[Sent], turn: bool
              ) -> tuple[Conversation, Plan] | None:
        """The conversation sharing the most messages with `sent`: one able to follow it
        if any shares some, else the one it would fork from; None if none shares any."""
        best = None
        mine = [c for c in self.store.conversations.list(user_id=user.id)
                if c.character_id == character_id][:CANDIDATES]
        for conversation in mine:  # the most recent first: it wins a tie
            steps = self._plan(conversation, sent, turn)
            rank = (steps.fork is None, steps.matched)
            if steps.matched and (best is None or rank > (best[1].fork is None,
                                                          best[1].matched)):
                best = (conversation, steps)
        return best

    def _new(self, user: User, character_id: int, sent: Sequence[Sent], turn: bool
             ) -> tuple[Conversation, Plan]:
        """A conversation for a history new to Hearth: the latest, while nothing but the
        greeting is in it, else a new one (opened by the greeting)."""
        latest = self.store.conversations.latest(user_id=user.id, character_id=character_id)
        if latest is not None:
            stored = self.store.messages.list(latest.id)
            if all(m.role == "assistant" for m in stored) and len(stored) <= 1:
                return latest, plan(stored, sent, turn=turn)
        conversation = self.chat.start_conversation(user, character_id)
        return conversation, self._plan(conversation, sent, turn)

    def _apply(self, user: User, conversation: Conversation, steps: Plan) -> None:
        for edit in steps.edits:
            self.conversations.edit_message(user, edit.message.id, content=edit.text,
                                            swipe_index=edit.swipe_index)
        for message in steps.deletes:
            self.conversations.delete_message(user, message.id)
        if steps.appends:
            now = time.time()
            self.chat.import_messages(user, conversation.id, [
                ImportItem(s.role, s.text, now) for s in steps.appends])
