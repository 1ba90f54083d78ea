"""judgekit's model layer: providers, the call pipeline, settings, cost and cache.

Importing this package is cheap: the OpenAI and LangChain SDKs, genai-prices and SQLite are
imported on first use. ``wrap_openai`` and ``JudgekitCallback`` load their modules when first
accessed.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from judgekit.models.base import ChatModel, ChatResponse, Message
from judgekit.models.calls import chat, chat_sync
from judgekit.models.llm import LLM
from judgekit.models.mock import MockModel
from judgekit.models.pricing import cost_usd
from judgekit.models.registry import get_model
from judgekit.models.settings import ModelSettings, current_settings, use_settings

if TYPE_CHECKING:
    from judgekit.models.langchain_callback import JudgekitCallback
    from judgekit.models.wrap import wrap_openai

__all__ = [
    "LLM",
    "ChatModel",
    "ChatResponse",
    "JudgekitCallback",
    "Message",
    "MockModel",
    "ModelSettings",
    "chat",
    "chat_sync",
    "cost_usd",
    "current_settings",
    "get_model",
    "use_settings",
    "wrap_openai",
]

# Loaded on first access: one needs langchain-core, the other the openai SDK.
_LAZY = {
    "JudgekitCallback": "judgekit.models.langchain_callback",
    "wrap_openai": "judgekit.models.wrap",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'judgekit.models' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value
