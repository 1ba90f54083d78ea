"""``LLM``: the ``llm`` fixture a suite's target receives, bound to the variant's model.

    @suite(data=QA, evaluators=[cot_qa()])
    @parametrize("model", ["gpt-4o-mini", "gpt-4o"])
    async def test_answer(question: str, llm: LLM) -> str:
        return (await llm.chat(question, system="Answer briefly.")).text

Every call goes through :func:`judgekit.models.calls.chat`: cached, rate-limited, retried,
priced and recorded on the case.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from judgekit.errors import ConfigError
from judgekit.models.base import ChatModel, ChatResponse, Message
from judgekit.models.calls import chat, chat_sync, model_for
from judgekit.models.registry import get_model

__all__ = ["LLM"]


def _messages(messages: str | Sequence[Message], system: str | None) -> list[Message]:
    msgs: list[Message] = ([{"role": "user", "content": messages}] if isinstance(messages, str)
                           else [dict(m) for m in messages])
    if system is not None:
        msgs.insert(0, {"role": "system", "content": system})
    return msgs


class LLM:
    """A model handle with default generation parameters.

    Args:
        model: A model spec (``"gpt-4o-mini"``, ``"openai:..."``, ...), a ChatModel, a
            LangChain chat model, or None (then each call must pass ``model=``).
        **defaults: Generation parameters for every call (``temperature=0``, ...); a call's
            own parameters win.
    """

    def __init__(self, model: str | ChatModel | Any | None = None, **defaults: Any) -> None:
        self.model_spec = model
        self.defaults = defaults
        self._resolved: dict[str, ChatModel] = {}

    def __repr__(self) -> str:
        return f"LLM({self.model_spec!r})"

    def resolve(self, model: str | ChatModel | Any | None = None) -> ChatModel:
        """The ChatModel a call with ``model=`` (or the default) would use."""
        spec = model if model is not None else self.model_spec
        if spec is None:
            raise ConfigError('the llm fixture has no model: parametrize "model" in the '
                              "suite's variants, or pass model= to llm.chat")
        if not isinstance(spec, str):
            return get_model(spec)
        # Resolved once per name: the provider object (and its client) is reused across calls,
        # and across the run's cases (each case gets an LLM of its own).
        found = self._resolved.get(spec)
        if found is None:
            found = self._resolved[spec] = model_for(spec)
        return found

    async def chat(self, messages: str | Sequence[Message], *,
                   model: str | ChatModel | Any | None = None, system: str | None = None,
                   sample: int = 0, **params: Any) -> ChatResponse:
        """Send a chat; a string is one user message, ``system`` prepends a system message.

        Raises:
            ConfigError: no model given here or when the LLM was made.
            ModelNotConfigured: the model has no key or endpoint (the case is skipped).
            ModelCallError: the call failed after retries (the case errors).
        """
        target = self.resolve(model)
        return await chat(target, _messages(messages, system), sample=sample,
                          **{**self.defaults, **params})

    def chat_sync(self, messages: str | Sequence[Message], *,
                  model: str | ChatModel | Any | None = None, system: str | None = None,
                  sample: int = 0, **params: Any) -> ChatResponse:
        """:meth:`chat` for sync targets."""
        target = self.resolve(model)
        return chat_sync(target, _messages(messages, system), sample=sample,
                         **{**self.defaults, **params})
