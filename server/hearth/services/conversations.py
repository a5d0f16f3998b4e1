"""A person's conversations and their messages, with the memory index kept in step.

Every change to what was said goes through here, so the index never holds a
message the database no longer has, nor an old wording of an edited one; and the
facts and summary drawn from a changed message follow it (`Memory.said_changed`).
The turn itself (a new message and its reply) is `Chat`'s.
"""

from __future__ import annotations

from dataclasses import dataclass

from hearth.chat import Chat
from hearth.errors import InvalidInput
from hearth.memory.service import Memory, drop_drawn_from
from hearth.store import Conversation, Message, Store, Summary, User


@dataclass(frozen=True)
class StartedConversation:
    conversation: Conversation
    messages: list[Message]  # the character's greeting, with its alternatives as swipes


@dataclass
class Conversations:
    store: Store
    chat: Chat
    memory: Memory | None

    def start(self, user: User, character_id: int) -> StartedConversation:
        """A new conversation with a character; it opens with the character's greeting."""
        conversation = self.chat.start_conversation(user, character_id)
        return StartedConversation(conversation, self.store.messages.list(conversation.id))

    def all(self, user: User) -> list[Conversation]:
        return self.store.conversations.list(user_id=user.id)

    def get(self, user: User, conversation_id: int) -> Conversation:
        return self.store.conversations.get(conversation_id, user_id=user.id)

    def delete(self, user: User, conversation_id: int) -> None:
        """Delete the conversation; its messages and summary leave the index too."""
        self.get(user, conversation_id)
        deleted = self.store.conversations.delete(conversation_id)
        if self.memory is not None:
            self.memory.forget_conversation(conversation_id, deleted)

    def messages(self, user: User, conversation_id: int) -> list[Message]:
        self.get(user, conversation_id)
        return self.store.messages.list(conversation_id)

    def summary(self, user: User, conversation_id: int) -> Summary | None:
        """The conversation's rolling summary; None while nothing has left its window."""
        self.get(user, conversation_id)
        return self.store.summaries.find(conversation_id)

    def edit_message(self, user: User, message_id: int, *, content: str | None = None,
                     swipe_index: int | None = None) -> Message:
        """Rewrite a message and/or pick which of its alternatives counts; reindexed."""
        message = self.store.messages.get(message_id, user_id=user.id)
        if content is None and swipe_index is None:
            raise InvalidInput("nothing to change: give `content` and/or `swipe_index`")
        if swipe_index is not None and swipe_index >= len(message.swipes):
            raise InvalidInput(
                f"swipe_index {swipe_index} is out of range: this message has "
                f"{len(message.swipes)} alternative(s), numbered from 0"
            )
        if content is not None:
            self.chat.check_content(content)
        edited = self.store.messages.edit(message, content=content, swipe_index=swipe_index)
        if self.memory is not None:
            self.memory.index_messages([edited.id])
        if edited.content != message.content:  # only the shown words count
            self._said_changed(message)
            self._extract_facts(user, edited)
        return edited

    def delete_message(self, user: User, message_id: int) -> None:
        """Delete one message; it leaves the index, and what memory drew from it goes."""
        message = self.store.messages.get(message_id, user_id=user.id)
        self.store.messages.delete(message_id)
        if self.memory is not None:
            self.memory.forget([message_id])
        self._said_changed(message)

    def _said_changed(self, message: Message) -> None:
        if self.memory is not None:
            self.memory.said_changed(message)
        else:  # memory off keeps no index, but a stale summary would still be shown
            drop_drawn_from(self.store, message)

    def _extract_facts(self, user: User, message: Message) -> None:
        """Facts from a user message's new words, in the background as after a turn."""
        memory = self.memory
        if memory is None or message.role != "user" or not self.chat.settings.memory.background:
            return
        conversation = self.store.conversations.get(message.conversation_id, user_id=user.id)
        self.chat.jobs.submit("facts", lambda: memory.extract_facts(
            message, user=user.shown_name, user_id=user.id,
            character_id=conversation.character_id))
