"""A client that keeps its own chats and sends one whole with every request, as
SillyTavern does, and a scripted session of 30 actions on it.

Edits and deletes happen on the client's side only (it sends nothing for them); Hearth
learns of them from the next request's history. `generate` is the transport: the
official `openai` package straight to Hearth, or SillyTavern's own server.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

Generate = Callable[[list[dict[str, Any]]], str]  # the request's messages -> the reply


@dataclass
class ClientChats:
    generate: Generate
    greeting: str
    char: str = "Juniper"
    user: str = "User"
    chats: list[list[dict[str, str]]] = field(default_factory=list)
    current: int = 0
    requests: int = 0

    def __post_init__(self) -> None:
        self.new_chat()

    @property
    def chat(self) -> list[dict[str, str]]:
        return self.chats[self.current]

    def _prompt(self, history: list[dict[str, str]]) -> list[dict[str, Any]]:
        # SillyTavern's default main prompt first, then the chat from the greeting on.
        main = (f"Write {self.char}'s next reply in a fictional chat between {self.char} and "
                f"{self.user}.")
        return [{"role": "system", "content": main}, *(dict(m) for m in history)]

    def _ask(self, messages: list[dict[str, Any]]) -> str:
        self.requests += 1
        return self.generate(messages)

    # -- what its person does ---------------------------------------------------------

    def send(self, text: str) -> None:
        self.chat.append({"role": "user", "content": text})
        reply = self._ask(self._prompt(self.chat))
        self.chat.append({"role": "assistant", "content": reply.strip()})

    def swipe(self) -> None:
        """A new swipe of the last reply: the history without it is sent again."""
        assert self.chat[-1]["role"] == "assistant"
        self.chat[-1]["content"] = self._ask(self._prompt(self.chat[:-1])).strip()

    def continue_reply(self) -> None:
        """Continue with "Continue prefill" on: the reply is sent last and grows."""
        assert self.chat[-1]["role"] == "assistant"
        added = self._ask(self._prompt(self.chat))
        self.chat[-1]["content"] = (self.chat[-1]["content"] + added).rstrip()

    def impersonate(self) -> str:
        """A system prompt last: the model writes the user's line; nothing is kept."""
        nudge = {"role": "system", "content": f"Write {self.user}'s next reply."}
        return self._ask([*self._prompt(self.chat), nudge])

    def edit(self, index: int, text: str) -> None:
        self.chat[index]["content"] = text

    def delete(self, count: int) -> None:
        del self.chat[-count:]

    def new_chat(self) -> None:
        self.chats.append([{"role": "assistant", "content": self.greeting}])
        self.current = len(self.chats) - 1

    def open(self, index: int) -> None:
        self.current = index

    def shown(self) -> list[list[tuple[str, str]]]:
        return [[(m["role"], m["content"].strip()) for m in chat] for chat in self.chats]


def scripted_session(client: ClientChats) -> int:
    """30 actions: turns, swipes, edits, deletes, continues, an impersonation, new chats
    and going back to an older one. Returns how many actions were taken."""
    c = client
    actions: list[Callable[[], object]] = [
        lambda: c.send("Hi Juniper! I just got back from the market."),
        lambda: c.send("I bought a tortoise today. His name is Pebble."),
        c.swipe,
        lambda: c.send("What should I feed him?"),
        c.swipe,
        c.swipe,
        lambda: c.edit(3, "I bought a tortoise today. His name is Rocky."),
        lambda: c.send("Do tortoises like strawberries?"),
        c.continue_reply,
        lambda: c.delete(2),
        lambda: c.send("Do tortoises like lettuce?"),
        c.new_chat,
        lambda: c.send("Good morning! Ready for a new story?"),
        lambda: c.send("Let's begin in a snowy village."),
        c.swipe,
        c.continue_reply,
        lambda: c.edit(4, "Once upon a time, in a snowy village, there lived a baker."),
        lambda: c.send("What did the baker make?"),
        c.impersonate,
        lambda: c.open(0),
        lambda: c.send("I'm back. Rocky is asleep in his box."),
        lambda: c.delete(1),
        lambda: c.send("Are you there?"),
        c.swipe,
        lambda: c.edit(1, "Hi Juniper! I just got back from the farmers' market."),
        lambda: c.send("Tell me a joke."),
        c.continue_reply,
        lambda: c.open(1),
        lambda: c.send("The end. Thank you!"),
        c.swipe,
    ]
    for action in actions:
        action()
    return len(actions)
