"""The one pipeline every model call goes through, whatever the provider.

``chat()`` = configured? → response cache → rate limiter + retries + timeout → price → cache
write → a :class:`~judgekit.types.CallRecord` on the current case. Providers only implement one
attempt (:meth:`ChatModel.complete`); doing the rest once here keeps cache keys, retry rules
and cost accounting identical for OpenAI, LangChain and mock models.

Two optional provider attributes refine it: ``cacheable = False`` keeps a model's replies out
of the response cache (``MockModel`` by default), and ``pricing_provider`` names who serves
the model when ``provider`` does not (a LangChain model served by ``"openai"``).
"""

from __future__ import annotations

import asyncio
import contextvars
import random
import threading
import time
from collections.abc import Coroutine, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Literal, TypeVar

from judgekit import recording
from judgekit.errors import CacheMissError, EndpointUnreachable, ModelCallError, ModelNotConfigured
from judgekit.models.base import ChatModel, ChatResponse, Message

# Not lazy: every call asks the cache first, so an import inside the call would run per call
# (sqlite3 and orjson are loaded by the store anyway).
from judgekit.models.cache import CachedResponse, ResponseCache, cache_key, default_cache_path
from judgekit.models.registry import get_model
from judgekit.models.settings import (
    ModelSettings,
    current_settings,
    in_settings_block,
    judge_model_name,
    runtime_resets,
)
from judgekit.types import CallRecord

__all__ = ["bind_loop", "chat", "chat_blocking", "chat_sync", "in_run", "model_for",
           "reset_runtime", "runtime_cache", "use_batch"]

T = TypeVar("T")
Role = Literal["target", "judge"]


@dataclass
class _Runtime:
    """Per-settings state: a limiter per endpoint, a ceiling per (endpoint, role), a cache."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    limiters: dict[tuple[str, Role], Any] = field(default_factory=dict)
    shared: dict[str, Any] = field(default_factory=dict)
    cache: Any = None
    rng: random.Random = field(default_factory=random.Random)
    #: Endpoints that have answered (any HTTP status): a refused connection there is a blip.
    answered: set[str] = field(default_factory=set)
    #: Models resolved in this settings block, by the spec they were named by.
    models: dict[str | None, ChatModel] = field(default_factory=dict)
    #: The run's batch queue under ``--batch`` (judgekit.models.batch.BatchSession).
    batch: Any = None


_runtime = _Runtime()
# The run's event loop, as seen from the code it runs: a context variable, so worker threads
# started from the run's tasks (which copy their context) find it, while a helper thread with
# its own loop (aio.run_sync, blocking the caller's loop until it ends) never sends calls back
# to a loop that is waiting for it.
_home_loop: contextvars.ContextVar[asyncio.AbstractEventLoop | None] = contextvars.ContextVar(
    "judgekit_home_loop", default=None)


def reset_runtime() -> None:
    """Drop the limiters and close the cache handle (called by ``use_settings``)."""
    global _runtime
    old, _runtime = _runtime, _Runtime()
    with old.lock:
        if old.cache is not None:
            old.cache.close()


runtime_resets.append(reset_runtime)


def use_batch(session: Any) -> None:
    """Send the OpenAI calls of this settings block to ``session`` (a
    :class:`~judgekit.models.batch.BatchSession`; None: live calls again)."""
    _runtime.batch = session


def bind_loop(loop: asyncio.AbstractEventLoop | None = None) -> None:
    """Run ``chat_sync`` calls from worker threads on ``loop`` (default: the running one).

    Call it in the run's main task before starting case tasks: tasks and the threads they
    start inherit it, so sync targets share the loop's HTTP connections. Without it they run
    each call on a private loop, which is correct (limiters and cache are shared across loops
    and threads) but opens new connections.
    """
    _home_loop.set(loop or asyncio.get_running_loop())


def in_run() -> bool:
    """Whether this code runs inside a case of a judgekit run.

    True in the tasks and worker threads of a run that called :func:`bind_loop` (the runner
    and the pytest plugin do, before any case starts), while a case recorder is active; a
    recorder opened by hand, or code outside any run, gives False.
    """
    return _home_loop.get() is not None and recording.current_recorder() is not None


def _limiter(endpoint: str, role: Role, settings: ModelSettings) -> Any:
    from judgekit.models.limits import AdaptiveLimiter, RoleLimiter

    rt = _runtime
    with rt.lock:
        limiter = rt.limiters.get((endpoint, role))
        if limiter is None:
            # One budget per endpoint (the provider counts target and judge calls together),
            # one concurrency ceiling per role.
            shared = rt.shared.get(endpoint)
            if shared is None:
                shared = rt.shared[endpoint] = AdaptiveLimiter(
                    settings.concurrency + settings.judge_concurrency)
            ceiling = settings.judge_concurrency if role == "judge" else settings.concurrency
            limiter = rt.limiters[(endpoint, role)] = RoleLimiter(shared, ceiling)
        return limiter


def runtime_cache(settings: ModelSettings | None = None) -> Any:
    """The open :class:`~judgekit.models.cache.ResponseCache` of the current settings."""
    rt = _runtime
    if rt.cache is not None:  # every cached call asks: no lock once it is open
        return rt.cache
    settings = settings or current_settings()
    with rt.lock:
        if rt.cache is None:
            path = settings.cache_path or default_cache_path()
            if settings.cache == "replay" and not path.exists():
                # Replay never creates a cache: an empty new file would hide a wrong path.
                raise CacheMissError(f"--cache replay: no cache file at {path}; run once with "
                                     "--cache read-write to record one, or point "
                                     "--cache-file / JUDGEKIT_CACHE at it")
            # A run's handle (closed when its settings block ends) lets lookups share read
            # snapshots for 50 ms; one made outside a run may sit idle, and keeps none.
            rt.cache = ResponseCache(path, snapshot_s=0.05 if in_settings_block() else 0.0)
        return rt.cache


def model_for(spec: Any = None) -> ChatModel:
    """The model ``spec`` names: a model string, a model object, or None for the judge model
    (of the settings, ``--judge-model`` or ``$JUDGEKIT_JUDGE_MODEL``).

    Inside :func:`~judgekit.models.settings.use_settings` (every run) a model string is
    resolved on first use and the model reused by later calls, by every case's ``llm``
    fixture and every judge call: resolving reads the environment and makes a provider
    object, which each judge call and each case did. Outside, each call resolves afresh, so a
    changed environment is seen.
    """
    if spec is not None and not isinstance(spec, str):
        return get_model(spec)
    memo = _runtime.models if in_settings_block() else None
    found = memo.get(spec) if memo is not None else None
    if found is None:
        found = get_model(judge_model_name() if spec is None else spec)
        if memo is not None:
            memo[spec] = found
    return found


def _record(role: Role, model: ChatModel, request: Mapping[str, Any], *,
            reply: ChatResponse | None, latency: float, attempts: int,
            error: str | None = None, batch: bool = False) -> float | None:
    """Record the call on the current case; returns its cost (None: unknown or failed)."""
    name = (reply.model if reply is not None and reply.model else None) or model.model
    cost = None
    if isinstance(reply, CachedResponse) and reply.priced:
        cost = reply.cost_usd  # what it cost when it was paid
    elif reply is not None:
        from judgekit.models.pricing import cost_usd

        # A LangChain model knows who serves it ("openai", "anthropic"): price by that.
        provider = getattr(model, "pricing_provider", None) or model.provider
        cost = cost_usd(provider, name, reply.prompt_tokens, reply.completion_tokens,
                        reply.cached_tokens, batch=batch)
    recording.record_call(CallRecord(
        role=role, score_key=recording.current_score_key(), provider=model.provider,
        model=name, request=request,
        response_text=reply.text if reply is not None else None,
        finish_reason=reply.finish_reason if reply is not None else None,
        prompt_tokens=reply.prompt_tokens if reply is not None else 0,
        completion_tokens=reply.completion_tokens if reply is not None else 0,
        cached_tokens=reply.cached_tokens if reply is not None else 0,
        cost_usd=cost, latency_s=latency, attempts=attempts,
        cache_hit=reply.cache_hit if reply is not None else False, error=error,
        started_at=time.time() - latency))
    return cost


async def chat(model: ChatModel, messages: Sequence[Message], *, sample: int = 0,
               **params: Any) -> ChatResponse:
    """Call ``model`` through the cache, the rate limiter and the retry loop; record the call.

    Args:
        model: Any :class:`ChatModel`.
        messages: OpenAI-shaped chat messages.
        sample: The sample index: equal requests with different indexes are cached apart
            (self-consistency draws several verdicts for one prompt).
        **params: Generation parameters in OpenAI names (``temperature``, ``seed``, ...).

    Raises:
        ModelNotConfigured: the model has no key or endpoint (the step is skipped).
        CacheMissError: ``--cache replay`` and the reply is not in the cache.
        EndpointUnreachable: every attempt was refused by an endpoint that never answered.
        ModelCallError: the call failed after the allowed retries (``attempts`` set).
    """
    settings = current_settings()
    role: Role = "judge" if recording.current_score_key() else "target"
    hint = model.configured()
    if hint is not None:
        raise ModelNotConfigured(hint)
    msgs = [dict(m) for m in messages]
    request = {"messages": msgs, "params": dict(params), "sample": sample}
    cached = getattr(model, "cacheable", True) and settings.cache != "off"
    key = cache = None
    if cached:
        started = time.perf_counter()
        cache = runtime_cache(settings)
        key = cache_key(model.provider, model.endpoint, model.model, msgs, params, sample)
        if settings.cache in ("read-write", "replay"):
            hit = cache.get(key)
            if hit is not None:
                _record(role, model, request, reply=hit, attempts=0,
                        latency=time.perf_counter() - started)
                return hit
            if settings.cache == "replay":
                raise CacheMissError(
                    f"--cache replay: no cached reply for this {model.provider} call to "
                    f"{model.model} in {cache.path}; run once with --cache read-write to "
                    "record it")

    if _runtime.batch is not None:
        from judgekit.models.openai import OpenAIModel

        if isinstance(model, OpenAIModel):  # other providers have no batch API: live calls
            return await _batched(_runtime.batch, role, model, msgs, params, request, key,
                                  sample, cache)

    reply, attempts, latency = await _live(model, role, msgs, params, request, settings)
    _runtime.answered.add(model.endpoint)
    reply = replace(reply, cache_hit=False)
    cost = _record(role, model, request, reply=reply, latency=latency, attempts=attempts)
    if cache is not None and key is not None:
        cache.put(key, model.provider, model.model, reply, cost)
    return reply


async def _live(model: ChatModel, role: Role, msgs: list[dict[str, Any]], params: dict[str, Any],
                request: Mapping[str, Any], settings: ModelSettings,
                ) -> tuple[ChatResponse, int, float]:
    """The call made, through the rate limiter and the retry loop: (reply, attempts, latency).
    A failed call is recorded here; an endpoint that never answered stops the run."""
    from judgekit.models.limits import RetryPolicy, call_with_retries

    async def attempt() -> ChatResponse:
        return await model.complete(msgs, params, timeout=settings.timeout_s)

    prepare = getattr(model, "prepare", None)  # optional: load an SDK before timing starts
    if prepare is not None:
        with recording.setup_wait():
            await prepare()
    began = time.perf_counter()
    policy = RetryPolicy(max_attempts=settings.max_attempts, max_retry_s=settings.max_retry_s)
    try:
        return await call_with_retries(
            attempt, limiter=_limiter(model.endpoint, role, settings), policy=policy,
            timeout_s=settings.timeout_s, rng=_runtime.rng)
    except ModelCallError as exc:
        message = str(exc) if exc.attempts <= 1 else f"{exc} (after {exc.attempts} attempts)"
        _record(role, model, request, reply=None, latency=time.perf_counter() - began,
                attempts=exc.attempts,
                error=message)
        if exc.status is not None:
            _runtime.answered.add(model.endpoint)
        elif exc.connect_failed and model.endpoint not in _runtime.answered:
            # Nothing ever listened there: every case would wait out the same retries, and a
            # wrong OPENAI_BASE_URL would take minutes to end in identical errors.
            raise EndpointUnreachable(
                f"cannot connect to {model.endpoint} ({message}); check OPENAI_BASE_URL "
                "(or base_url=) and that the server is running"
            ) from exc
        raise ModelCallError(message, status=exc.status, retryable=exc.retryable,
                             retry_after=exc.retry_after, attempts=exc.attempts) from exc


async def _batched(session: Any, role: Role, model: Any, msgs: list[dict[str, Any]],
                   params: dict[str, Any], request: Mapping[str, Any], key: str | None,
                   sample: int, cache: Any) -> ChatResponse:
    """:func:`chat`'s attempt under ``--batch``: the reply comes from a batch job."""
    from judgekit.models.batch import batch_body

    if key is None:  # --cache off: the key still names the request in its batch
        key = cache_key(model.provider, model.endpoint, model.model, msgs, params, sample)
    began = time.perf_counter()
    try:
        reply = await session.call(model, key, batch_body(model, msgs, params))
    except ModelCallError as exc:
        _record(role, model, request, reply=None, latency=time.perf_counter() - began,
                attempts=exc.attempts, error=str(exc))
        raise
    reply = replace(reply, cache_hit=False)
    cost = _record(role, model, request, reply=reply, latency=time.perf_counter() - began,
                   attempts=1, batch=True)
    if cache is not None:
        cache.put(key, model.provider, model.model, reply, cost)
    return reply


async def _private(coro: Coroutine[Any, Any, T]) -> T:
    # A private loop is never a home loop: calls inside must not be sent back to another one.
    _home_loop.set(None)
    return await coro


def chat_sync(model: ChatModel, messages: Sequence[Message], *, sample: int = 0,
              **params: Any) -> ChatResponse:
    """:func:`chat` for sync code.

    From a worker thread of a run that called :func:`bind_loop`, the call runs on the run's
    loop (the calling context, and with it the case recorder, goes along). Otherwise it runs
    on a private loop: in this thread, or in a helper thread when this thread's own loop is
    running (blocking that loop's thread on itself would deadlock).
    """
    from judgekit.aio import run_sync

    try:
        running = asyncio.get_running_loop()
    except RuntimeError:
        running = None
    home = _home_loop.get()
    if running is None and home is not None and home.is_running():
        # call_soon_threadsafe copies this thread's context into the new task, so the call
        # is recorded on this thread's case and score.
        return asyncio.run_coroutine_threadsafe(
            chat(model, messages, sample=sample, **params), home).result()
    return run_sync(_private(chat(model, messages, sample=sample, **params)))


def chat_blocking(model: ChatModel, messages: Sequence[Message], *, sample: int = 0,
                  **params: Any) -> ChatResponse:
    """:func:`chat` for a model whose attempts block their thread (a sync SDK client).

    Unlike :func:`chat_sync` the call never goes to the run's loop, whose other cases a
    blocking attempt would stall: it runs on a private loop in this thread (a worker thread
    of a sync target has nothing else to do), or, when this thread's loop is running, in a
    helper thread that carries this thread's context (and with it the case recorder).
    """
    coro = _private(chat(model, messages, sample=sample, **params))
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coro)
    context = contextvars.copy_context()
    box: list[ChatResponse] = []
    errors: list[BaseException] = []

    def worker() -> None:
        try:
            box.append(context.run(asyncio.run, coro))
        except BaseException as exc:  # re-raised in the caller's thread
            errors.append(exc)

    thread = threading.Thread(target=worker, name="judgekit-blocking-call")
    thread.start()
    thread.join()
    if errors:
        raise errors[0]
    return box[0]
