"""``get_model``: turn a model spec (a string, a LangChain model, a ChatModel) into a ChatModel.

Specs::

    gpt-4o, ft:gpt-4o-mini-2024-07-18:acme::abc123     OpenAI (or OPENAI_BASE_URL's server)
    openai:gpt-4o-mini                                  the same, explicitly
    langchain:anthropic:claude-3-5-sonnet-latest        LangChain's init_chat_model
    anthropic:claude-3-5-sonnet-latest                  the same (any other provider prefix)
"""

from __future__ import annotations

import re
import sys
from typing import Any

from judgekit.errors import ConfigError
from judgekit.models.base import ChatModel

__all__ = ["get_model"]


def _is_langchain_model(obj: Any) -> bool:
    # Only look if LangChain is already imported: an object cannot be a LangChain model
    # otherwise, and importing it just to check would slow every get_model() down.
    if "langchain_core" not in sys.modules:
        return False
    from langchain_core.language_models import BaseChatModel

    return isinstance(obj, BaseChatModel)


def _langchain(provider: str, model: str, kwargs: dict[str, Any]) -> ChatModel:
    try:
        from langchain.chat_models import init_chat_model
    except ImportError:
        raise ConfigError(f"model {provider}:{model} needs LangChain: "
                          "pip install 'judgekit[langchain]'") from None
    from judgekit.models.langchain import LangChainModel

    try:
        chat_model = init_chat_model(model, model_provider=provider, **kwargs)
    except ImportError as exc:
        # LangChain's message names the package (langchain-aws for bedrock, ...); else guess.
        named = re.search(r"pip install (?:-U )?([\w.\[\]-]+)", str(exc))
        package = named.group(1) if named else f"langchain-{provider.replace('_', '-')}"
        raise ConfigError(f"model {provider}:{model} needs the {package} package: "
                          f"pip install {package}") from None
    except ValueError as exc:
        raise ConfigError(f"model {provider}:{model}: {' '.join(str(exc).split())}") from None
    return LangChainModel(chat_model)


def get_model(spec: str | ChatModel | Any, **kwargs: Any) -> ChatModel:
    """Resolve ``spec`` to a :class:`ChatModel`.

    Args:
        spec: A ChatModel (returned as is), a LangChain chat model instance (wrapped), or a
            model string (see the module docstring).
        **kwargs: Passed to the provider's constructor (``base_url=``, ``api_key=``, ...).

    Raises:
        ConfigError: for an empty or unknown spec, or a provider whose package is missing
            (the message has the ``pip install`` line).
    """
    if not isinstance(spec, str):
        return _model_object(spec)
    text = spec.strip()
    if not text or text.endswith(":"):
        raise ConfigError(f"model spec {spec!r} names no model: use e.g. 'gpt-4o-mini' or "
                          "'openai:gpt-4o-mini'")
    provider, sep, rest = text.partition(":")
    if not sep or provider == "ft":
        provider, rest = "openai", text  # bare names and fine-tunes are OpenAI's naming
    provider = provider.lower()
    if provider == "openai":
        from judgekit.models.openai import OpenAIModel

        return OpenAIModel(rest, **kwargs)
    if provider == "langchain":
        inner, sep, model = rest.partition(":")
        if not sep or not inner or not model:
            raise ConfigError(f"model spec {spec!r}: use langchain:<provider>:<model>, e.g. "
                              "langchain:anthropic:claude-3-5-sonnet-latest")
        return _langchain(inner.lower(), model, kwargs)
    return _langchain(provider, rest, kwargs)


def _model_object(spec: Any) -> ChatModel:
    # Only for non-strings: a runtime Protocol check is slow, and most specs are strings.
    if isinstance(spec, ChatModel):
        return spec
    if _is_langchain_model(spec):
        from judgekit.models.langchain import LangChainModel

        return LangChainModel(spec)
    raise ConfigError(f"cannot use {spec!r} as a model: give a model name such as "
                      "'gpt-4o-mini' or 'anthropic:claude-3-5-sonnet-latest', a LangChain "
                      "chat model, or a judgekit ChatModel")
