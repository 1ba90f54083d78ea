"""``MockModel``: scripted or computed replies, for unit tests and docs.

It goes through the same pipeline as real providers (retries, limiter, recording, pricing),
so a script of exceptions exercises the retry logic without a server::

    from judgekit.errors import ModelCallError
    model = MockModel([ModelCallError("429 Too Many Requests", status=429, retryable=True,
                                      retry_after=0.01), "GRADE: CORRECT"])
"""

from __future__ import annotations

import asyncio
import math
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from judgekit.errors import ModelCallError
from judgekit.models.base import ChatResponse, Message

__all__ = ["MockCall", "MockModel"]

Script = (str | Sequence[str | ChatResponse | BaseException]
          | Callable[[list[dict[str, Any]], dict[str, Any]], str | ChatResponse])


@dataclass(frozen=True)
class MockCall:
    """One attempt a :class:`MockModel` received."""

    messages: list[dict[str, Any]]
    params: dict[str, Any]
    timeout: float


def _tokens(text: str) -> int:
    return max(1, math.ceil(len(text) / 4))


class MockModel:
    """A chat model that answers from a script.

    Args:
        replies: One string (every call gets it); a sequence of strings, ``ChatResponse``s or
            exceptions, used one per *attempt* in order (an exception is raised: use
            ``ModelCallError`` with ``retryable=True`` to script a transient failure); or a
            function ``(messages, params) -> str | ChatResponse`` that may raise.
        model: The model name reported and priced (``"gpt-4o-mini"`` gets a real price).
        prompt_tokens: Tokens to report per call; None estimates len(prompt)/4.
        completion_tokens: Tokens to report per call; None estimates len(reply)/4.
        cached_tokens: Cached prompt tokens to report per call.
        delay: Seconds each attempt takes (to exercise timeouts and concurrency).
        cycle: When a sequence script runs out, start over; by default running out raises a
            non-retryable ``ModelCallError`` saying how many replies were scripted.
        cache: Let judgekit's response cache store these replies. Off by default, so a
            scripted test never reads a reply cached by another test.
        endpoint: The rate-limit bucket and cache-key endpoint.
        supports_structured_output: What judges should assume.

    Attributes:
        calls: Every attempt received, in order.
    """

    provider = "mock"

    def __init__(self, replies: Script, *, model: str = "mock",
                 prompt_tokens: int | None = None, completion_tokens: int | None = None,
                 cached_tokens: int = 0, delay: float = 0.0, cycle: bool = False,
                 cache: bool = False, endpoint: str = "mock",
                 supports_structured_output: bool = False) -> None:
        self.model = model
        self.endpoint = endpoint
        self.supports_structured_output = supports_structured_output
        self.cacheable = cache
        self.prompt_tokens = prompt_tokens
        self.completion_tokens = completion_tokens
        self.cached_tokens = cached_tokens
        self.delay = delay
        self.cycle = cycle
        self.calls: list[MockCall] = []
        self._replies = replies
        self._lock = threading.Lock()  # chat_sync may call from several threads

    def __repr__(self) -> str:
        return f"MockModel(model={self.model!r})"

    def configured(self) -> str | None:
        """Always usable."""
        return None

    def _next(self, index: int, messages: list[dict[str, Any]], params: dict[str, Any]) -> Any:
        script = self._replies
        if isinstance(script, str):
            return script
        if callable(script):
            return script(messages, params)
        if index >= len(script):
            if not self.cycle or not script:
                raise ModelCallError(
                    f"MockModel {self.model!r}: script exhausted: {len(script)} replies were "
                    f"scripted and this is attempt {index + 1} (pass cycle=True to repeat)")
            index %= len(script)
        return script[index]

    async def complete(self, messages: Sequence[Message], params: Mapping[str, Any], *,
                       timeout: float) -> ChatResponse:
        """Return (or raise) the next scripted reply."""
        msgs, kwargs = [dict(m) for m in messages], dict(params)
        with self._lock:
            self.calls.append(MockCall(msgs, kwargs, timeout))
            index = len(self.calls) - 1
        if self.delay:
            await asyncio.sleep(self.delay)
        reply = self._next(index, msgs, kwargs)
        if isinstance(reply, BaseException):
            raise reply
        if isinstance(reply, ChatResponse):
            return reply if reply.model else replace(reply, model=self.model)
        text = str(reply)
        prompt = self.prompt_tokens
        if prompt is None:
            prompt = _tokens("".join(str(m.get("content", "")) for m in msgs))
        completion = self.completion_tokens
        return ChatResponse(text=text, finish_reason="stop", prompt_tokens=prompt,
                            completion_tokens=_tokens(text) if completion is None else completion,
                            cached_tokens=min(self.cached_tokens, prompt), model=self.model)
