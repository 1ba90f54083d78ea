"""OpenAI, or any OpenAI-compatible server (vLLM, Ollama, llama.cpp, Azure), as a chat model.

:class:`OpenAIModel` makes one attempt per :meth:`~OpenAIModel.complete` with the official
``openai`` SDK, its own retries turned off (``max_retries=0``): retries, rate limits and the
cache belong to :mod:`judgekit.models.calls`, which needs every failure reported as a
:class:`~judgekit.errors.ModelCallError` saying whether trying again may help and how long the
provider asked us to wait. :func:`call_error` does that mapping; :func:`retry_after_seconds`
reads ``retry-after-ms`` / ``Retry-After``.

The SDK is imported on first use so that ``import judgekit`` stays light.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import email.utils
import functools
import importlib
import math
import os
import threading
import time
from collections.abc import AsyncGenerator, Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from judgekit.errors import ModelCallError, ModelNotConfigured
from judgekit.models.base import ChatResponse, Message

if TYPE_CHECKING:
    import openai

__all__ = ["DEFAULT_BASE_URL", "NOT_CONFIGURED", "OpenAIModel", "call_error", "preload",
           "read_completion_body",
           "retry_after_seconds", "start_preload", "usage_tokens"]

DEFAULT_BASE_URL = "https://api.openai.com/v1"

#: What :meth:`OpenAIModel.configured` says when there is neither a key nor a base URL.
NOT_CONFIGURED = "set OPENAI_API_KEY (or OPENAI_BASE_URL for a compatible server)"

# Local OpenAI-compatible servers ignore the key, but the SDK refuses to start without one.
_PLACEHOLDER_KEY = "sk-no-key"

# Statuses worth another attempt besides 5xx: request timeout, conflict (OpenAI asks clients to
# retry 409 lock timeouts) and rate limits.
_RETRYABLE_STATUSES = frozenset({408, 409, 429})

# Clients per (event loop, base URL, key, organization). An AsyncOpenAI client owns an httpx
# connection pool bound to the loop it first ran on, so it must never be shared across loops;
# within a loop, sharing it shares the pool (keep-alive) among all models and judges.
_ClientKey = tuple[str, str, "str | None"]

# Requests in flight per client before the next client (pool) of the same key takes the rest.
# The SDK's connection pool scans every connection it holds, probing idle sockets with a
# syscall or two each, whenever a request starts or ends, so its cost grows with the pool
# (bench/README, point 1). Small pools keep that scan short; filling the first pool before
# opening another keeps a run with few calls in flight on one pool and its warm connections.
_PER_CLIENT = 16
_MAX_CLIENTS = 16


class _LoopClients:
    """The clients of one event loop, closed when the loop shuts down.

    The hook: an async generator started in the loop is finalised by
    ``loop.shutdown_asyncgens()``, which ``asyncio.run()`` calls before closing the loop, so
    its ``finally`` closes the connections while the loop can still run the closing code.
    """

    def __init__(self) -> None:
        self.clients: dict[_ClientKey, list[openai.AsyncOpenAI]] = {}
        self.busy: dict[_ClientKey, list[int]] = {}  # requests in flight, per client
        self._closer: AsyncGenerator[None, None] | None = None  # strong ref: loops keep weak ones

    async def start(self, loop: asyncio.AbstractEventLoop) -> None:
        if self._closer is None:
            closer = self._closer = self._close_at_shutdown(loop)
            await closer.__anext__()  # runs to the yield: from now on the loop tracks it

    async def _close_at_shutdown(
            self, loop: asyncio.AbstractEventLoop) -> AsyncGenerator[None, None]:
        try:
            yield
        finally:
            with _clients_lock:
                _clients.pop(loop, None)
            for shards in list(self.clients.values()):
                for client in shards:
                    await client.close()


_clients: dict[asyncio.AbstractEventLoop, _LoopClients] = {}
_clients_lock = threading.Lock()


@functools.lru_cache(maxsize=1)
def _ssl_context() -> Any:
    """One SSL context for every client: building one (loading the CA bundle) takes ~40 ms
    of CPU, which each new SDK client would otherwise spend on the event loop."""
    base = importlib.import_module("openai._base_client")
    httpx = getattr(base, "httpx2", None) or importlib.import_module("httpx")  # as the SDK
    return httpx.create_ssl_context()


class OpenAIModel:
    """A chat model served by the OpenAI API or an OpenAI-compatible server.

    The base URL and key are read when the model is made: ``base_url`` / ``api_key`` if given,
    else ``$OPENAI_BASE_URL`` / ``$OPENAI_API_KEY``; the base URL defaults to OpenAI's. A base
    URL without a key is enough (local servers need none).

    Args:
        model: The model name (``gpt-4o-mini``, ``ft:gpt-4o-mini-2024-07-18:acme::abc123``).
        base_url: The ``/v1`` base URL of the server.
        api_key: The API key.
        organization: The OpenAI organization id (the SDK falls back to ``$OPENAI_ORG_ID``).
        client: An ``openai.AsyncOpenAI`` client to use as is (its own retry setting applies).
        streaming: Stream the reply (``stream=True`` with usage) and assemble it.

    Attributes:
        provider: ``"openai"``.
        model: The model name.
        endpoint: The base URL (never the key): the cache key's and rate limiter's bucket.
        supports_structured_output: True: ``response_format`` with a JSON schema works.
    """

    provider = "openai"
    supports_structured_output = True

    def __init__(self, model: str, *, base_url: str | None = None, api_key: str | None = None,
                 organization: str | None = None, client: openai.AsyncOpenAI | None = None,
                 streaming: bool = False) -> None:
        self.model = model
        self.streaming = streaming
        self._client = client
        self._organization = organization
        self._api_key = api_key or os.environ.get("OPENAI_API_KEY") or None
        self._base_url = base_url or os.environ.get("OPENAI_BASE_URL") or None
        if client is not None:
            self.endpoint = str(client.base_url).rstrip("/")
        else:
            self.endpoint = (self._base_url or DEFAULT_BASE_URL).rstrip("/")

    def __repr__(self) -> str:
        return f"OpenAIModel({self.model!r}, endpoint={self.endpoint!r})"

    def configured(self) -> str | None:
        """None when a key, a base URL or a client was given; else how to configure one."""
        if self._client is not None or self._api_key or self._base_url:
            return None
        return NOT_CONFIGURED

    async def complete(self, messages: Sequence[Message], params: Mapping[str, Any], *,
                       timeout: float) -> ChatResponse:
        """Make one chat completion attempt.

        Args:
            messages: OpenAI chat messages.
            params: Other ``chat.completions.create`` arguments (``temperature``, ``seed``,
                ``response_format``, ...). ``stream`` and ``stream_options`` are ignored: the
                ``streaming`` setting decides.
            timeout: Seconds the whole attempt may take (streaming included).

        Raises:
            judgekit.errors.ModelNotConfigured: without a key, base URL or client.
            judgekit.errors.ModelCallError: on any failure of the call.
        """
        if (hint := self.configured()) is not None:
            raise ModelNotConfigured(f"model {self.model!r}: {hint}")
        request = {k: v for k, v in params.items() if k not in ("stream", "stream_options")}
        release = None
        try:
            if self._client is not None:
                client = self._client
            else:
                client, release = await self._lease()
            # The SDK's timeout bounds each read; wait_for bounds the attempt as a whole (a
            # stream trickling one chunk a second would otherwise never time out).
            return await asyncio.wait_for(
                self._attempt(client, list(messages), request, timeout), timeout)
        except asyncio.TimeoutError:
            raise ModelCallError(f"request timed out after {timeout:g}s",
                                 retryable=True) from None
        except ModelCallError:
            raise
        except Exception as exc:
            error = call_error(exc, timeout=timeout)
            if error is None:
                raise  # not a call failure: a bug (ours or the caller's) should surface as such
            raise error from exc
        finally:
            if release is not None:
                release()

    async def prepare(self) -> None:
        """Load the SDK off the event loop before the call is timed (see :func:`preload`)."""
        await preload()

    async def sdk_client(self) -> openai.AsyncOpenAI:
        """The shared client of this loop for this endpoint and key (or the given client):
        the one the next request would use (batch mode sends its files and jobs with it)."""
        if self._client is not None:
            return self._client
        client, release = await self._lease()
        release()
        return client

    async def _lease(self) -> tuple[openai.AsyncOpenAI, Callable[[], None]]:
        """A shared client of this loop for the next request, and the function that gives it
        back: the first client with fewer than ``_PER_CLIENT`` requests in flight, else a new
        one (up to ``_MAX_CLIENTS``), else the least busy. See ``_PER_CLIENT`` for why."""
        import openai

        loop = asyncio.get_running_loop()
        key: _ClientKey = (self.endpoint, self._api_key or _PLACEHOLDER_KEY, self._organization)
        with _clients_lock:
            for old in [lp for lp in _clients if lp.is_closed()]:
                del _clients[old]  # closed without shutdown_asyncgens(): drop, can't close
            clients = _clients.setdefault(loop, _LoopClients())
            shards = clients.clients.setdefault(key, [])
            busy = clients.busy.setdefault(key, [])
            index = next((i for i, n in enumerate(busy) if n < _PER_CLIENT), None)
            if index is None and len(shards) < _MAX_CLIENTS:
                shards.append(openai.AsyncOpenAI(
                    api_key=key[1], base_url=self.endpoint, organization=self._organization,
                    max_retries=0,
                    http_client=openai.DefaultAsyncHttpxClient(verify=_ssl_context())))
                busy.append(0)
                index = len(shards) - 1
            elif index is None:
                index = min(range(len(busy)), key=busy.__getitem__)
            busy[index] += 1
            client = shards[index]
        await clients.start(loop)

        def release() -> None:
            with _clients_lock:
                busy[index] -= 1

        return client, release

    async def _attempt(self, client: openai.AsyncOpenAI, messages: list[Any],
                       params: dict[str, Any], timeout: float) -> ChatResponse:
        create = client.chat.completions.with_raw_response.create
        if not self.streaming:
            raw = await create(model=self.model, messages=messages, timeout=timeout, **params)
            headers = {k.lower(): v for k, v in raw.headers.items()}
            try:
                return _read_completion(raw.parse(), headers)
            except (ValueError, AttributeError, TypeError) as exc:
                raise _malformed(exc) from exc
        raw = await create(model=self.model, messages=messages, timeout=timeout, stream=True,
                           stream_options={"include_usage": True}, **params)
        headers = {k.lower(): v for k, v in raw.headers.items()}
        stream: Any = raw.parse()
        try:
            return await _read_stream(stream, headers)
        except (ValueError, AttributeError, TypeError) as exc:
            raise _malformed(exc) from exc
        finally:
            await stream.close()


def read_completion_body(body: Mapping[str, Any]) -> ChatResponse:
    """A ChatResponse from a chat completion's JSON body (a batch output line's).

    Raises:
        ValueError: the body is not a chat completion with a choice.
    """
    from openai.types.chat import ChatCompletion

    try:
        completion = ChatCompletion.model_validate(body)
    except Exception as exc:  # pydantic's ValidationError
        raise ValueError(str(exc)[:300]) from None
    return _read_completion(completion, {})


def _read_completion(completion: Any, headers: dict[str, str]) -> ChatResponse:
    """A ChatResponse from a parsed ``ChatCompletion`` (ValueError when it is not one)."""
    choices = getattr(completion, "choices", None)
    if not choices:
        raise ValueError(f"no choices in the reply: {str(completion)[:200]!r}")
    choice = choices[0]
    prompt, completion_tokens, cached = usage_tokens(getattr(completion, "usage", None))
    return ChatResponse(text=choice.message.content or "", finish_reason=choice.finish_reason,
                        prompt_tokens=prompt, completion_tokens=completion_tokens,
                        cached_tokens=cached, model=completion.model, headers=headers)


async def _read_stream(stream: Any, headers: dict[str, str]) -> ChatResponse:
    """Assemble a streamed reply: the text of choice 0, its finish reason, the usage chunk."""
    parts: list[str] = []
    finish_reason = model = usage = None
    seen_choice = False
    async for chunk in stream:
        model = model or chunk.model
        usage = chunk.usage or usage
        for choice in chunk.choices:
            if choice.index != 0:
                continue
            seen_choice = True
            if choice.delta is not None and choice.delta.content:
                parts.append(choice.delta.content)
            finish_reason = choice.finish_reason or finish_reason
    if not seen_choice:
        raise ValueError("the stream ended without any choice")
    prompt, completion_tokens, cached = usage_tokens(usage)
    return ChatResponse(text="".join(parts), finish_reason=finish_reason, prompt_tokens=prompt,
                        completion_tokens=completion_tokens, cached_tokens=cached, model=model,
                        headers=headers)


def start_preload(*, unless_unconfigured: bool = False) -> None:
    """Start importing the openai SDK in a background thread, once per process.

    ``import openai`` takes most of a second. The runner starts it, without waiting, before a
    run whose target or judges will call a model; otherwise the first call that needs the SDK
    starts it in :func:`preload`. Either way that call waits there, and the case does not
    count the wait as its latency (:func:`judgekit.recording.setup_wait`). With
    ``unless_unconfigured`` and no ``OPENAI_API_KEY`` / ``OPENAI_BASE_URL`` those steps are
    skipped, so nothing is started.
    """
    global _warming
    if unless_unconfigured and not (os.environ.get("OPENAI_API_KEY")
                                    or os.environ.get("OPENAI_BASE_URL")):
        return
    with _warm_lock:
        if _warming is None:
            _warming = concurrent.futures.Future()
            threading.Thread(target=_warm_up, args=(_warming,), name="judgekit-openai-import",
                             daemon=True).start()


async def preload() -> None:
    """Wait until the SDK is imported (starting the import if nothing has): off the event
    loop, so the cases in flight go on meanwhile."""
    start_preload()
    assert _warming is not None
    if not _warming.done():
        await asyncio.wrap_future(_warming)


_warming: concurrent.futures.Future[None] | None = None
_warm_lock = threading.Lock()


def _warm_up(done: concurrent.futures.Future[None]) -> None:
    """Import the SDK and build the shared SSL context and a throwaway HTTP client, so the
    modules the SDK imports on first use are loaded too: done later, on the event loop, that
    took ~0.4 s after the first calls had passed the rate limiter (bench/ratelimit), and a
    window-counting server saw them arrive that late."""
    try:
        openai = importlib.import_module("openai")
        openai.DefaultAsyncHttpxClient(verify=_ssl_context())
    except BaseException as exc:  # the call that needs the SDK reports it
        done.set_exception(exc)
    else:
        done.set_result(None)


def usage_tokens(usage: Any) -> tuple[int, int, int]:
    """(prompt, completion, cached) tokens of an SDK ``usage``; zeros when there is none."""
    if usage is None:
        return 0, 0, 0
    details = getattr(usage, "prompt_tokens_details", None)
    cached = getattr(details, "cached_tokens", None) or 0
    return usage.prompt_tokens or 0, usage.completion_tokens or 0, cached


def _malformed(exc: BaseException) -> ModelCallError:
    # A garbled body is usually a proxy or server hiccup: another attempt may well succeed.
    return ModelCallError(f"malformed response: {type(exc).__name__}: {exc}", retryable=True)


def call_error(exc: BaseException, *, timeout: float | None = None) -> ModelCallError | None:
    """The :class:`ModelCallError` for an exception the openai SDK raised, None for others.

    429, 408, 409 and 5xx, timeouts, connection errors and garbled replies are retryable;
    other statuses (400, 401, 403, 404, 422, ...) are not. The message is the provider's own,
    after the status (``"429 Too Many Requests: Rate limit reached ..."``).

    Args:
        exc: What the SDK raised.
        timeout: The attempt's timeout, for the message of a timeout.
    """
    import json

    import openai

    if isinstance(exc, openai.APITimeoutError):
        after = f" after {timeout:g}s" if timeout is not None else ""
        return ModelCallError(f"request timed out{after}", retryable=True)
    if isinstance(exc, openai.APIStatusError):
        status = exc.status_code
        reason = exc.response.reason_phrase or ""
        return ModelCallError(
            f"{status} {reason}".rstrip() + f": {_provider_message(exc)}", status=status,
            retryable=status in _RETRYABLE_STATUSES or status >= 500,
            retry_after=retry_after_seconds(exc.response.headers))
    if isinstance(exc, openai.APIConnectionError):
        cause = exc.__cause__
        detail = f"{type(cause).__name__}: {cause}" if cause is not None else exc.message
        # httpx's ConnectError: refused, or no such host. Nothing was sent; a reset or a
        # broken reply is a different error (ReadError, RemoteProtocolError, ...).
        return ModelCallError(f"connection error: {detail}", retryable=True,
                              connect_failed=type(cause).__name__ == "ConnectError")
    if isinstance(exc, openai.APIResponseValidationError):
        return _malformed(exc)
    if isinstance(exc, openai.APIError):  # e.g. an error event in the middle of a stream
        return ModelCallError(exc.message, retryable=True)
    if isinstance(exc, json.JSONDecodeError):  # the SDK lets a body that isn't JSON through
        return _malformed(exc)
    if isinstance(exc, openai.OpenAIError):  # misconfiguration, e.g. no API key
        return ModelCallError(str(exc), retryable=False)
    return None


def _provider_message(exc: openai.APIStatusError) -> str:
    body = exc.body  # the SDK hands over the "error" object of the body when there is one
    if isinstance(body, Mapping) and body.get("message"):
        return str(body["message"])
    if isinstance(body, str) and body.strip():
        return body.strip()[:500]
    return exc.message


def retry_after_seconds(headers: Mapping[str, str]) -> float | None:
    """Seconds a response asks us to wait: ``retry-after-ms``, else ``Retry-After``.

    ``Retry-After`` may be seconds or an HTTP date. Unreadable or negative values give None.
    """
    lower = {k.lower(): v for k, v in headers.items()}
    for name, scale in (("retry-after-ms", 1000.0), ("retry-after", 1.0)):
        value = lower.get(name)
        if value is None:
            continue
        try:
            seconds = float(value) / scale
        except ValueError:
            if name == "retry-after-ms":
                continue
            try:
                when = email.utils.parsedate_to_datetime(value)
            except (TypeError, ValueError):
                continue
            seconds = max(0.0, when.timestamp() - time.time())
        if math.isfinite(seconds) and seconds >= 0:
            return seconds
    return None
