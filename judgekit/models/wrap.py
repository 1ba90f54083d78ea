"""Calls of code that already uses the openai SDK: ``wrap_openai(client)``.

::

    client = judgekit.wrap_openai(openai.OpenAI())
    client.chat.completions.create(model="gpt-4o-mini", messages=[...])

Each ``chat.completions.create`` call (sync or async client, streamed or not) becomes a
:class:`~judgekit.types.CallRecord` on the current case: request, reply text, tokens (cached
ones included), cost, latency, attempts and error. What else happens depends on where:

* **Inside a run** (a case of ``judgekit eval`` or the pytest plugin) the call goes through
  the same pipeline as the ``llm`` fixture (:mod:`judgekit.models.wrapped_calls`): the
  response cache (a second identical run sends no request), the run's retry policy (the
  client's own ``max_retries`` is not used) and the per-endpoint rate limiter, shared with
  every other call to that base URL. The SDK's objects come back: a ``ChatCompletion``, or
  for ``stream=True`` an ``openai.Stream``/``AsyncStream``; a streamed reply is read to its
  end before the caller iterates it, so that a stream failing half-way is retried. A call
  that fails after the retries raises the SDK exception of its last attempt.
* **Outside a run** it is a pure recorder: the call goes to the SDK unchanged (its own
  retries), the SDK's return values and exceptions come back untouched, nothing is cached,
  and outside any case nothing is recorded either.

``wrap_openai(client, cache=False)`` keeps the client's calls out of the response cache; they
are still rate-limited and retried (the endpoint's limit holds whatever the cache does).

Not covered: ``with_raw_response`` / ``with_streaming_response`` calls, ``.parse()``, and
clients derived later with ``with_options()`` (wrap those too).
"""

from __future__ import annotations

import contextvars
import functools
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator, Mapping
from typing import TYPE_CHECKING, Any, TypeVar

from judgekit import recording
from judgekit.errors import ModelCallError
from judgekit.models.openai import call_error, usage_tokens
from judgekit.types import CallRecord

if TYPE_CHECKING:
    import openai

__all__ = ["wrap_openai"]

_Client = TypeVar("_Client", bound="openai.OpenAI | openai.AsyncOpenAI")


def wrap_openai(client: _Client, *, cache: bool = True) -> _Client:
    """Record every ``client.chat.completions.create`` call on the current case; inside a
    run, send it through the response cache, retries and rate limiter.

    Args:
        client: An ``openai.OpenAI`` or ``openai.AsyncOpenAI`` client (or a subclass, such
            as the Azure clients).
        cache: False keeps this client's calls out of the response cache (inside a run they
            are still rate-limited and retried).

    Returns:
        The same client, its ``chat.completions.create`` wrapped. Wrapping twice is harmless
        (the first wrapping's ``cache`` stays).

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
    pipeline = _Pipeline(client, cache)
    if isinstance(client, openai.AsyncOpenAI):
        wrapper = _async_create(original, pipeline)
    else:
        wrapper = _sync_create(original, pipeline)
    wrapper.__judgekit_wrapped__ = True  # type: ignore[attr-defined]
    completions.create = wrapper  # an instance attribute shadows the class's method
    return client


class _Pipeline:
    """What a wrapped client's calls need inside a run (see :mod:`.wrapped_calls`)."""

    def __init__(self, client: openai.OpenAI | openai.AsyncOpenAI, cache: bool) -> None:
        self.client = client
        self.cache = cache
        self._bare: openai.OpenAI | openai.AsyncOpenAI | None = None
        self._lock = threading.Lock()

    def bare(self) -> openai.OpenAI | openai.AsyncOpenAI:
        """A copy of the client without SDK retries (it shares the connection pool): the
        pipeline retries, and SDK retries inside each attempt would bypass the limiter."""
        with self._lock:
            if self._bare is None:
                self._bare = self.client.with_options(max_retries=0)
            return self._bare

    def model(self, kwargs: Mapping[str, Any]) -> Any:
        from judgekit.models.wrapped_calls import ClientModel

        return ClientModel(self.bare(), kwargs, cacheable=self.cache)


def _in_run(args: tuple[Any, ...]) -> bool:
    from judgekit.models.calls import in_run

    # create() takes keyword arguments only; anything else goes to the SDK to be refused.
    return not args and in_run()


def _sync_create(original: Callable[..., Any], pipeline: _Pipeline) -> Callable[..., Any]:
    @functools.wraps(original)
    def create(*args: Any, **kwargs: Any) -> Any:
        if _in_run(args):
            return _run_sync(pipeline, kwargs)
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


def _async_create(original: Callable[..., Any], pipeline: _Pipeline) -> Callable[..., Any]:
    @functools.wraps(original)
    async def create(*args: Any, **kwargs: Any) -> Any:
        if _in_run(args):
            return await _run_async(pipeline, kwargs)
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


def _run_sync(pipeline: _Pipeline, kwargs: dict[str, Any]) -> Any:
    from judgekit.models.calls import chat_blocking
    from judgekit.models.wrapped_calls import key_request, sdk_error

    model = pipeline.model(kwargs)
    _, messages, params = key_request(kwargs)
    try:
        reply = chat_blocking(model, messages, **params)
    except ModelCallError as exc:
        raise sdk_error(exc) from None
    return _result(pipeline, kwargs, reply)


async def _run_async(pipeline: _Pipeline, kwargs: dict[str, Any]) -> Any:
    from judgekit.models.calls import chat
    from judgekit.models.wrapped_calls import key_request, sdk_error

    model = pipeline.model(kwargs)
    _, messages, params = key_request(kwargs)
    try:
        reply = await chat(model, messages, **params)
    except ModelCallError as exc:
        raise sdk_error(exc) from None
    return _result(pipeline, kwargs, reply)


def _result(pipeline: _Pipeline, kwargs: Mapping[str, Any], reply: Any) -> Any:
    from judgekit.models.wrapped_calls import to_completion, to_stream

    if kwargs.get("stream") is True:
        return to_stream(reply, pipeline.client, kwargs)
    return to_completion(reply, str(kwargs.get("model") or ""))


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
    from judgekit.models.wrapped_calls import key_request

    _, messages, params = key_request(kwargs)
    return {"messages": messages, "params": params}


def _error_message(error: BaseException) -> str:
    mapped = call_error(error)
    return str(mapped) if mapped is not None else f"{type(error).__name__}: {error}"
