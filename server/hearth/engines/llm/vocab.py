"""A GGUF's tokenizer and chat template, shared by the local and the remote model: both
render prompts and count tokens with the model's own vocabulary.

This is also where llama-cpp-python is found (`llama_class`), with an install hint
when it is missing.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from hearth.engines.llm.types import ChatMessage, Prompt

log = logging.getLogger(__name__)

# Used only when a GGUF carries no chat template of its own.
CHATML_TEMPLATE = (
    "{% for message in messages %}<|im_start|>{{ message.role }}\n{{ message.content }}"
    "<|im_end|>\n{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)


def llama_class() -> Any:
    """llama-cpp-python's `Llama`, or a RuntimeError that says how to install it."""
    try:
        from llama_cpp import Llama
    except ImportError as e:  # pragma: no cover - install problem
        raise RuntimeError(
            "llama-cpp-python is not installed: run `make run` or `pip install llama-cpp-python`"
        ) from e
    return Llama


def check_model_file(path: Path) -> None:
    if not Path(path).is_file():
        raise FileNotFoundError(
            f"chat model not found at {path}: run `python scripts/install_models.py` "
            "or pass --model PATH to a GGUF file"
        )


class Vocab:
    """A GGUF's tokenizer and chat template: exact prompts and token counts.

    Built from a loaded model, or with `Vocab.open` from the vocabulary alone
    (a few MB, under a second) when the model itself runs on another machine.
    """

    def __init__(self, llama: Any, name: str) -> None:
        from llama_cpp.llama_chat_format import Jinja2ChatFormatter

        self._llama = llama
        meta = llama.metadata
        template = meta.get("tokenizer.chat_template") or CHATML_TEMPLATE
        if "tokenizer.chat_template" not in meta:
            log.warning("%s has no chat template; falling back to ChatML", name)
        bos = self._piece(llama.token_bos())
        self._formatter = Jinja2ChatFormatter(
            template=template, eos_token=self._piece(llama.token_eos()), bos_token=bos
        )
        # What tokenizing text puts in front by itself ("" for models without a BOS).
        self.bos_text = bos if llama._model.add_bos_token() else ""

    @classmethod
    def open(cls, path: Path) -> Vocab:
        Llama = llama_class()
        check_model_file(path)
        return cls(Llama(model_path=str(path), vocab_only=True, verbose=False), Path(path).name)

    def _piece(self, token: int) -> str:
        if token < 0:
            return ""
        return self._llama.detokenize([token], special=True).decode("utf-8", errors="ignore")

    def render(self, messages: list[ChatMessage], *, reply_start: str = "",
               for_server: bool = False) -> Prompt:
        """The prompt for `messages`, the reply opened with `reply_start` (the model goes on
        from it). `for_server`: as text for a server that tokenizes it the usual way (BOS
        added when the model wants one), with the tokens it will see."""
        result = self._formatter(
            messages=[{"role": m.role, "content": m.content} for m in messages]
        )
        text, add_bos = result.prompt + reply_start, not result.added_special
        if for_server:
            text, add_bos = text.removeprefix(self.bos_text), True  # the server adds the BOS
        tokens = self._llama.tokenize(text.encode("utf-8"), add_bos=add_bos, special=True)
        stop = result.stop
        if not isinstance(stop, list):
            stop = [stop] if stop else []
        return Prompt(text=text, tokens=tokens, stop=tuple(stop))

    def render_text(self, text: str) -> Prompt:
        """A prompt the client built itself, taken as it is (no chat template). Special
        tokens in it are read as such; the BOS goes in front when the model wants one,
        once (a prompt that starts with it already is not given a second). The text is
        what a server that tokenizes the usual way is sent."""
        text = text.removeprefix(self.bos_text)
        tokens = self._llama.tokenize(text.encode("utf-8"), add_bos=True, special=True)
        return Prompt(text=text, tokens=tokens, raw=True)

    def count(self, text: str) -> int:
        """Exact token count of `text` with the model's tokenizer (no BOS)."""
        return len(self._llama.tokenize(text.encode("utf-8"), add_bos=False, special=True))
