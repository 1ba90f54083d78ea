"""The provider contract: what every chat model (OpenAI, LangChain, mock) implements.

A provider makes *one attempt* at a chat completion and reports what happened. Everything around
that attempt (cache, retries, rate limits, pricing, recording) lives in
:mod:`judgekit.models.calls`, written once for every provider.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

__all__ = ["ChatModel", "ChatResponse", "Message"]

#: One chat message, OpenAI-shaped: ``{"role": "user", "content": "..."}``.
Message = Mapping[str, Any]


@dataclass(frozen=True)
class ChatResponse:
    """The reply to one chat completion.

    Attributes:
        text: The assistant message's text ("" when the model returned none).
        finish_reason: ``stop``, ``length``, ``content_filter``, ... as the provider said.
        prompt_tokens: Input tokens, cached ones included (the provider's ``prompt_tokens``).
        completion_tokens: Output tokens.
        cached_tokens: The part of ``prompt_tokens`` read from the provider's prompt cache.
        model: The model name the provider reported (may differ from the one asked for).
        headers: Response headers (lower-case names) for rate-limit signals; never cached.
        cache_hit: True when this reply came from judgekit's response cache, not the provider.
    """

    text: str
    finish_reason: str | None = None
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cached_tokens: int = 0
    model: str | None = None
    headers: Mapping[str, str] = field(default_factory=dict, compare=False)
    cache_hit: bool = False

    def json(self) -> Any:
        """The reply parsed as JSON (code fences around it are allowed).

        Raises:
            ValueError: when the text is not JSON.
        """
        import json
        import re

        text = self.text.strip()
        fenced = re.fullmatch(r"```[a-zA-Z0-9_-]*\s*\n(.*?)\n?```", text, re.DOTALL)
        return json.loads(fenced.group(1) if fenced else text)

    def __str__(self) -> str:
        return self.text


@runtime_checkable
class ChatModel(Protocol):
    """A chat model judgekit can call: one attempt per :meth:`complete`.

    Attributes:
        provider: ``"openai"``, ``"langchain"``, ``"mock"``, ... (stored with every call).
        model: The model name, as prices and reports know it (``"gpt-4o-mini"``).
        endpoint: Where calls go (a base URL, or a provider id): the response-cache key and the
            rate limiter's bucket. Never contains a key.
        supports_structured_output: True when ``response_format`` with a JSON schema works.
    """

    provider: str
    model: str
    endpoint: str
    supports_structured_output: bool

    def configured(self) -> str | None:
        """None when the model can be called; otherwise one line saying how to configure it."""
        ...

    async def complete(self, messages: Sequence[Message], params: Mapping[str, Any], *,
                       timeout: float) -> ChatResponse:
        """Make one attempt.

        Args:
            messages: The chat messages.
            params: Generation parameters (``temperature``, ``seed``, ``max_tokens``,
                ``response_format``, ...), OpenAI names.
            timeout: Seconds this attempt may take in total.

        Raises:
            judgekit.errors.ModelCallError: on any failure, with ``status``, ``retryable``
                and ``retry_after`` filled in as far as the provider told.
        """
        ...
