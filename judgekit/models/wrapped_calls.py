"""A ``wrap_openai`` client's calls inside a run: through :func:`judgekit.models.calls.chat`.

Each ``chat.completions.create`` call becomes a one-call :class:`ClientModel` whose single
attempt is the client's own ``create`` (on a copy with ``max_retries=0``: retries belong to
the pipeline), so the call shares the run's response cache, retry policy and per-endpoint
rate limiter with the ``llm`` fixture and the judges. The caller still gets the SDK's objects:

* not streamed: the ``ChatCompletion`` the SDK parsed, or on a cache hit one rebuilt from the
  reply JSON kept in the cache entry (every choice, tool calls, logprobs);
* streamed: an ``openai.Stream`` / ``AsyncStream`` over the chunks. The attempt reads the
  stream to its end (so that a failure half-way is retried like any other) and the caller
  iterates the same chunks afterwards; a cache hit replays the stored chunks.

The cache key holds every ``create`` argument but ``extra_headers`` and ``timeout`` (so
``tools``, ``response_format``, ``n``, ``seed``, ``stream``, ``extra_body``... all count).
"""

from __future__ import annotations

import importlib
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from judgekit.errors import ModelCallError
from judgekit.models.base import ChatResponse, Message
from judgekit.models.openai import call_error, usage_tokens

if TYPE_CHECKING:
    import openai

__all__ = ["ClientModel", "WrappedReply", "key_request", "sdk_error", "to_completion",
           "to_stream"]

# create() arguments that shape only the HTTP exchange: kept out of the cache key and request.
TRANSPORT_ARGS = frozenset({"extra_headers", "timeout"})


@dataclass(frozen=True)
class WrappedReply(ChatResponse):
    """A live reply of a wrapped client: the pipeline's fields plus the SDK's own data.

    Attributes:
        raw: The reply as JSON, kept in the cache entry: ``{"completion": {...}}`` or
            ``{"chunks": [...]}`` for a stream.
        sdk: The ``ChatCompletion`` the SDK parsed (None for a stream): handed back as is.
    """

    raw: Mapping[str, Any] | None = field(default=None, compare=False)
    sdk: Any = field(default=None, compare=False, repr=False)


def _jsonable(value: Any) -> Any:
    # An SDK message object put back into `messages` (a tool loop does that) is its JSON.
    dump = getattr(value, "model_dump", None)
    if callable(dump):
        return dump(mode="json", exclude_unset=True)
    return str(value)


def key_request(kwargs: Mapping[str, Any]) -> tuple[str, list[Message], dict[str, Any]]:
    """(model, messages, params) of a ``create`` call as JSON values, SDK sentinels dropped.

    ``params`` is every other argument but :data:`TRANSPORT_ARGS`: what the cache key and the
    stored request hold.
    """
    import openai

    params = {k: v for k, v in kwargs.items()
              if k not in ("messages", "model") and k not in TRANSPORT_ARGS
              and not isinstance(v, (openai.NotGiven, openai.Omit))}
    # Round-trip through JSON so that keys and stored requests never hold SDK objects.
    request = json.loads(json.dumps({"messages": list(kwargs.get("messages") or []),
                                     "params": params}, default=_jsonable))
    return str(kwargs.get("model") or ""), request["messages"], request["params"]


class ClientModel:
    """One ``create`` call of a wrapped client, as a :class:`~judgekit.models.base.ChatModel`.

    Args:
        client: The wrapped client's copy without SDK retries (sync or async).
        kwargs: The call's ``create`` arguments, sent as given.
        cacheable: False for ``wrap_openai(client, cache=False)``.

    Attributes:
        provider: ``"openai"``.
        model: The model the call asks for.
        endpoint: The client's base URL: the rate limiter's bucket and part of the cache key.
    """

    provider = "openai"
    supports_structured_output = True

    def __init__(self, client: openai.OpenAI | openai.AsyncOpenAI, kwargs: Mapping[str, Any],
                 *, cacheable: bool) -> None:
        self.client = client
        self.kwargs = dict(kwargs)
        self.model = str(kwargs.get("model") or "")
        self.endpoint = str(client.base_url).rstrip("/")
        self.cacheable = cacheable
        self.stream = kwargs.get("stream") is True

    def configured(self) -> str | None:
        """None: a client is always configured (its own errors say otherwise)."""
        return None

    async def complete(self, messages: Sequence[Message], params: Mapping[str, Any], *,
                       timeout: float) -> ChatResponse:
        """One attempt with the original arguments (``messages``/``params`` are their JSON).

        Raises:
            ModelCallError: any failure the SDK reported (its exception as the cause).
        """
        import openai

        kwargs = {"timeout": timeout, **self.kwargs}  # the caller's own timeout wins
        create: Any = self.client.chat.completions.with_raw_response.create
        try:
            if isinstance(self.client, openai.AsyncOpenAI):
                raw = await create(**kwargs)
                headers = {k.lower(): v for k, v in raw.headers.items()}
                parsed: Any = raw.parse()
                if not self.stream:
                    return _completion_reply(parsed, headers)
                try:
                    return _stream_reply([chunk async for chunk in parsed], headers)
                finally:
                    await parsed.close()
            # A sync client blocks this thread: chat_blocking runs it off the run's loop.
            raw = create(**kwargs)
            headers = {k.lower(): v for k, v in raw.headers.items()}
            parsed = raw.parse()
            if not self.stream:
                return _completion_reply(parsed, headers)
            with parsed:
                return _stream_reply(list(parsed), headers)
        except ModelCallError:
            raise
        except Exception as exc:
            error = call_error(exc, timeout=timeout)
            if error is None:
                raise  # not a call failure: a bug should surface as such
            raise error from exc


def _completion_reply(completion: Any, headers: dict[str, str]) -> WrappedReply:
    choices = getattr(completion, "choices", None)
    if not choices:
        # Retryable like the llm fixture's: a garbled body is usually a proxy's hiccup.
        raise ModelCallError(f"malformed response: no choices in {str(completion)[:200]!r}",
                             retryable=True)
    prompt, completion_tokens, cached = usage_tokens(getattr(completion, "usage", None))
    return WrappedReply(
        text=choices[0].message.content or "", finish_reason=choices[0].finish_reason,
        prompt_tokens=prompt, completion_tokens=completion_tokens, cached_tokens=cached,
        model=getattr(completion, "model", None), headers=headers,
        raw={"completion": completion.to_dict()}, sdk=completion)


def _stream_reply(chunks: list[Any], headers: dict[str, str]) -> WrappedReply:
    parts: list[str] = []
    finish_reason = model = usage = None
    for chunk in chunks:
        model = model or getattr(chunk, "model", None)
        usage = getattr(chunk, "usage", None) or usage
        for choice in getattr(chunk, "choices", None) or []:
            if choice.index == 0:
                if choice.delta is not None and choice.delta.content:
                    parts.append(choice.delta.content)
                finish_reason = choice.finish_reason or finish_reason
    prompt, completion_tokens, cached = usage_tokens(usage)
    return WrappedReply(
        text="".join(parts), finish_reason=finish_reason, prompt_tokens=prompt,
        completion_tokens=completion_tokens, cached_tokens=cached, model=model,
        headers=headers, raw={"chunks": [chunk.to_dict() for chunk in chunks]})


def _fields_completion(reply: ChatResponse, model: str) -> dict[str, Any]:
    """The ChatCompletion JSON of a cache entry that kept only the text fields (one written
    by the ``llm`` fixture for the same request)."""
    return {
        "id": "chatcmpl-judgekit-cache", "object": "chat.completion", "created": 0,
        "model": reply.model or model,
        "choices": [{"index": 0, "finish_reason": reply.finish_reason or "stop",
                     "message": {"role": "assistant", "content": reply.text}}],
        "usage": {"prompt_tokens": reply.prompt_tokens,
                  "completion_tokens": reply.completion_tokens,
                  "total_tokens": reply.prompt_tokens + reply.completion_tokens,
                  "prompt_tokens_details": {"cached_tokens": reply.cached_tokens}},
    }


def _fields_chunks(reply: ChatResponse, model: str, usage: bool) -> list[dict[str, Any]]:
    """The chunks of a stream of ``reply`` (an entry without chunks): text, end, usage."""
    whole = _fields_completion(reply, model)
    head = {k: whole[k] for k in ("id", "created", "model")}
    chunks: list[dict[str, Any]] = [
        {**head, "object": "chat.completion.chunk", "choices": [
            {"index": 0, "delta": {"role": "assistant", "content": reply.text},
             "finish_reason": None}]},
        {**head, "object": "chat.completion.chunk", "choices": [
            {"index": 0, "delta": {}, "finish_reason": whole["choices"][0]["finish_reason"]}]},
    ]
    if usage:
        chunks.append({**head, "object": "chat.completion.chunk", "choices": [],
                       "usage": whole["usage"]})
    return chunks


def to_completion(reply: ChatResponse, model: str) -> Any:
    """The ``ChatCompletion`` for ``reply``: the SDK's own (live), else rebuilt from JSON."""
    from openai.types.chat import ChatCompletion

    if isinstance(reply, WrappedReply) and reply.sdk is not None:
        return reply.sdk
    raw = getattr(reply, "raw", None)
    data = raw.get("completion") if isinstance(raw, Mapping) else None
    if not isinstance(data, Mapping):
        data = _fields_completion(reply, model)
    # construct(), as the SDK itself builds replies: lenient with compatible servers' extras.
    return ChatCompletion.construct(**data)


def to_stream(reply: ChatResponse, client: openai.OpenAI | openai.AsyncOpenAI,
              kwargs: Mapping[str, Any]) -> Any:
    """An SDK ``Stream`` (``AsyncStream`` for an async client) over ``reply``'s chunks.

    The chunks are sent through the SDK's own event-stream decoding, from memory: the caller
    gets exactly the objects a live stream would have given.
    """
    import openai
    from openai.types.chat import ChatCompletionChunk

    raw = getattr(reply, "raw", None)
    chunks = raw.get("chunks") if isinstance(raw, Mapping) else None
    if not isinstance(chunks, list):
        options = kwargs.get("stream_options")
        usage = isinstance(options, Mapping) and bool(options.get("include_usage"))
        chunks = _fields_chunks(reply, str(kwargs.get("model") or ""), usage)
    body = b"".join(b"data: " + json.dumps(chunk).encode() + b"\n\n" for chunk in chunks)
    httpx = _httpx()
    response = httpx.Response(
        200, content=body + b"data: [DONE]\n\n",
        headers={"content-type": "text/event-stream"},
        request=httpx.Request("POST", f"{str(client.base_url).rstrip('/')}/chat/completions"))
    stream_type: Callable[..., Any] = (openai.AsyncStream if isinstance(client, openai.AsyncOpenAI)
                                       else openai.Stream)
    return stream_type(cast_to=ChatCompletionChunk, response=response, client=client)


def _httpx() -> Any:
    # The HTTP library the installed SDK speaks (httpx2 in newer releases, else httpx).
    base = importlib.import_module("openai._base_client")
    return getattr(base, "httpx2", None) or importlib.import_module("httpx")


def sdk_error(error: BaseException) -> BaseException:
    """The SDK exception behind a failed call (the last attempt's), else ``error`` itself."""
    import openai

    seen: BaseException | None = error
    while seen is not None:
        if isinstance(seen, openai.OpenAIError):
            return seen
        seen = seen.__cause__
    return error
