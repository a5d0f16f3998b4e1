"""The chat model: `load_model(settings)` gives the backend the settings name, and
`ModelOwner` is the one owner every request goes through.

    types     messages, sampling, prompts, streamed items, `ChatModel`, the fit check
    vocab     a GGUF's tokenizer and chat template (both backends use it)
    kv_slots  parked KV caches of the conversations the local model is not serving
    llama     the local model, llama.cpp through llama-cpp-python
    remote    a model on another machine, over the OpenAI-compatible API (httpx)
    owner     the queue in front of the model: fair turns, cancellation, swaps

Imports go one way, in that order; nothing else imports llama_cpp.
"""

from __future__ import annotations

from hearth.config import LLMSettings
from hearth.engines.llm.kv_slots import keep_heap_small
from hearth.engines.llm.llama import LlamaModel, can_load
from hearth.engines.llm.owner import ModelOwner
from hearth.engines.llm.types import (
    ChatMessage,
    ChatModel,
    Finished,
    Preempted,
    Prompt,
    Role,
    SamplingParams,
    Token,
    Usage,
    check_fits,
    fits,
)
from hearth.engines.llm.vocab import Vocab

__all__ = [
    "ChatMessage",
    "ChatModel",
    "Finished",
    "LlamaModel",
    "ModelOwner",
    "Preempted",
    "Prompt",
    "Role",
    "SamplingParams",
    "Token",
    "Usage",
    "Vocab",
    "can_load",
    "check_fits",
    "fits",
    "keep_heap_small",
    "load_model",
]


def load_model(settings: LLMSettings) -> ChatModel:
    """The chat model `settings` describe: a GGUF loaded here, or a model server's."""
    if settings.backend == "remote":
        from hearth.engines.llm.remote import RemoteModel  # imports httpx only when used

        return RemoteModel.from_settings(settings)
    keep_heap_small()
    return LlamaModel(
        settings.model_path,
        n_ctx=settings.n_ctx,
        n_gpu_layers=settings.n_gpu_layers,
        n_threads=settings.n_threads,
        n_batch=settings.n_batch,
        kv_sessions=settings.kv_sessions,
    )
