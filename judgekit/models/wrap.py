"""Record the calls of code that already uses the openai SDK: ``wrap_openai(client)``.

::

    client = judgekit.wrap_openai(openai.OpenAI())
    client.chat.completions.create(model="gpt-4o-mini", messages=[...])   # recorded

Inside a case each ``chat.completions.create`` call (sync or async client, streamed or not)
becomes a :class:`~judgekit.types.CallRecord` on that case: request, reply text, tokens
(cached ones included), cost, latency and error. Outside a case nothing is recorded. The SDK's
own return values and exceptions come back unchanged; there is no cache and no retry here (the
client's own ``max_retries`` still applies).

Not recorded: ``with_raw_response`` / ``with_streaming_response`` calls, ``.parse()``, and
clients derived later with ``with_options()`` (wrap those too).
"""

from __future__ import annotations

import contextvars
import functools
import json
import time
from collections.abc import AsyncIterator, Callable, Iterator, Mapping
from typing import TYPE_CHECKING, Any, TypeVar, cast

from judgekit import recording
from judgekit.models.openai import call_error, usage_tokens
from judgekit.types import CallRecord

if TYPE_CHECKING:
    import openai

__all__ = ["wrap_openai"]

_Client = TypeVar("_Client", bound="openai.OpenAI | openai.AsyncOpenAI")

# create() arguments that shape the HTTP exchange, not the generation: not part of the request.
_TRANSPORT_ARGS = frozenset({"extra_headers", "extra_query", "extra_body", "timeout"})


def wrap_openai(client: _Client) -> _Client:
    """Record every ``client.chat.completions.create`` call on the current case.

    Args:
        client: An ``openai.OpenAI`` or ``openai.AsyncOpenAI`` client (or a subclass, such
            as the Azure clients).

    Returns:
        The same client, its ``chat.completions.create`` wrapped. Wrapping twice is harmless.

    Raises:
        TypeError: when ``client`` is not an openai client.
    """
    import openai

    if not isinstance(client, (openai.OpenAI, openai.AsyncOpenAI)):
        raise TypeError("wrap_openai() expects an openai.OpenAI or openai.AsyncOpenAI client, "
                        f"got {type(client).__name__}")
    completions: Any = client.chat.completions
    original = completions.create
    if getattr(original, "__judgekit_wrapped__", False):
        return client
    # These helpers wrap `completions.create` when first built: build them now, around the
    # original, so that a raw-response call never runs through the recorder half-way.
    _ = completions.with_raw_response, completions.with_streaming_response
    if isinstance(client, openai.AsyncOpenAI):
        wrapper = _async_create(original)
    else:
        wrapper = _sync_create(original)
    wrapper.__judgekit_wrapped__ = True  # type: ignore[attr-defined]
    completions.create = wrapper  # an instance attribute shadows the class's method
    return client


def _sync_create(original: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(original)
    def create(*args: Any, **kwargs: Any) -> Any:
        call = _Call(kwargs)
        try:
            result = original(*args, **kwargs)
        except Exception as exc:
            call.finish(error=exc)
            raise
        if kwargs.get("stream") is True:
            return call.watch_stream(result)
        call.finish(completion=result)
        return result

    return create


def _async_create(original: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(original)
    async def create(*args: Any, **kwargs: Any) -> Any:
        call = _Call(kwargs)
        try:
            result = await original(*args, **kwargs)
        except Exception as exc:
            call.finish(error=exc)
            raise
        if kwargs.get("stream") is True:
            return call.watch_stream(result)
        call.finish(completion=result)
        return result

    return create


class _Call:
    """One create() call on its way to a CallRecord (recorded once, when it ends)."""

    def __init__(self, kwargs: Mapping[str, Any]) -> None:
        self.started = time.perf_counter()
        self.model = str(kwargs.get("model") or "")
        self.request = _request(kwargs)
        # A stream may end (or be garbage-collected) elsewhere: record in the caller's context.
        self.context = contextvars.copy_context()
        self.done = False
        self.parts: list[str] = []
        self.finish_reason: str | None = None
        self.reply_model: str | None = None
        self.usage: Any = None

    def watch_stream(self, stream: Any) -> Any:
        """Observe the chunks of an SDK ``Stream``/``AsyncStream``; return the same object."""
        inner = getattr(stream, "_iterator", None)
        if inner is None:  # an SDK without the attribute: record the call, not the text
            self.finish()
            return stream
        close = stream.close
        if hasattr(inner, "__anext__"):
            stream._iterator = self._watch_async(inner)

            async def aclose() -> None:
                try:
                    await close()
                finally:
                    self.finish()

            stream.close = aclose
        else:
            stream._iterator = self._watch_sync(inner)

            def sclose() -> None:
                try:
                    close()
                finally:
                    self.finish()

            stream.close = sclose
        # A stream left early is recorded when closed (``with`` does that) or collected.
        return stream

    def _watch_sync(self, chunks: Iterator[Any]) -> Iterator[Any]:
        try:
            for chunk in chunks:
                self._add(chunk)
                yield chunk
        except Exception as exc:
            self.finish(error=exc)
            raise
        finally:
            self.finish()  # exhausted, or closed early: record what came

    async def _watch_async(self, chunks: AsyncIterator[Any]) -> AsyncIterator[Any]:
        try:
            async for chunk in chunks:
                self._add(chunk)
                yield chunk
        except Exception as exc:
            self.finish(error=exc)
            raise
        finally:
            self.finish()

    def _add(self, chunk: Any) -> None:
        self.reply_model = self.reply_model or getattr(chunk, "model", None)
        self.usage = getattr(chunk, "usage", None) or self.usage
        for choice in getattr(chunk, "choices", None) or []:
            if choice.index != 0:
                continue
            if choice.delta is not None and choice.delta.content:
                self.parts.append(choice.delta.content)
            self.finish_reason = choice.finish_reason or self.finish_reason

    def finish(self, *, completion: Any = None, error: BaseException | None = None) -> None:
        """Record the call (only the first time)."""
        if self.done:
            return
        self.done = True
        if completion is not None:
            choices = getattr(completion, "choices", None) or []
            if choices:
                self.parts = [choices[0].message.content or ""]
                self.finish_reason = choices[0].finish_reason
            self.reply_model = getattr(completion, "model", None)
            self.usage = getattr(completion, "usage", None)
        self.context.run(recording.record_call, self._record(error))

    def _record(self, error: BaseException | None) -> CallRecord:
        from judgekit.models.pricing import cost_usd

        prompt, completion, cached = usage_tokens(self.usage)
        model = self.reply_model or self.model
        priced = error is None and self.usage is not None  # no usage: cost unknown, not $0
        return CallRecord(
            role="target", provider="openai", model=model, request=self.request,
            response_text="".join(self.parts) if error is None else None,
            finish_reason=self.finish_reason, prompt_tokens=prompt,
            completion_tokens=completion, cached_tokens=cached,
            cost_usd=cost_usd("openai", model, prompt, completion, cached) if priced else None,
            latency_s=(latency := time.perf_counter() - self.started),
            started_at=time.time() - latency,
            error=_error_message(error) if error is not None else None)


def _request(kwargs: Mapping[str, Any]) -> dict[str, Any]:
    """{"messages": [...], "params": {...}} as JSON values (SDK sentinels dropped)."""
    import openai

    params = {k: v for k, v in kwargs.items()
              if k not in ("messages", "model") and k not in _TRANSPORT_ARGS
              and not isinstance(v, (openai.NotGiven, openai.Omit))}
    request = {"messages": list(kwargs.get("messages") or []), "params": params}
    # Round-trip through JSON so the stored request never holds SDK objects; anything odd
    # (a pydantic model, a Path) is stored as its text.
    return cast(dict[str, Any], json.loads(json.dumps(request, default=str)))


def _error_message(error: BaseException) -> str:
    mapped = call_error(error)
    return str(mapped) if mapped is not None else f"{type(error).__name__}: {error}"
