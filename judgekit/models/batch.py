"""``judgekit eval --batch``: model calls sent through the OpenAI Batch API.

A batched call takes the same path as a live one (:func:`judgekit.models.calls.chat`: cache
lookup, then the call, then price, cache write and the call record on its case); only the
attempt differs. Instead of one HTTP request, the call joins a :class:`BatchSession` queue
and waits. The queue is sent when no new call has joined it for :data:`COLLECT_S` seconds,
which in a run with every case in flight means "all cases are waiting", or at once when it is
full. Sending means one ``/v1/batches`` job per chunk (:func:`chunk_requests`: one model per
file, at most :data:`MAX_REQUESTS` requests and :data:`MAX_BYTES` per file, the API's limits).
The session polls each job until it ends, reads its output and error files, and hands each
waiting call its reply or error. Target calls go first; the judge calls they lead to form the
next jobs.

Each job's id and request ids (the calls' cache keys) are kept in the store's ``batches``
table as soon as it is created. A killed run resumed with ``--batch --resume RUN`` therefore
re-attaches its calls to the jobs already submitted and creates no second job for them.
Requests of an expired job that never ran, and lines that failed with a retryable status
(429, 5xx), are sent once more in a later job; a second failure is the call's error.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Final

from judgekit.errors import ModelCallError
from judgekit.models.base import ChatResponse

if TYPE_CHECKING:
    from judgekit.models.openai import OpenAIModel
    from judgekit.store import Store

__all__ = ["COLLECT_S", "MAX_BYTES", "MAX_REQUESTS", "BatchRequest", "BatchSession",
           "BatchState", "chunk_requests"]

#: The Batch API's limits per input file: 50,000 requests and 200 MB.
MAX_REQUESTS = 50_000
MAX_BYTES = 200 * 1024 * 1024
#: Seconds with no new call before the queue is sent.
COLLECT_S = 0.2
ENDPOINT: Final = "/v1/chat/completions"
TERMINAL = frozenset({"completed", "failed", "expired", "cancelled"})
# Line statuses worth one more try in a later job, as for live calls.
_RETRYABLE = frozenset({408, 409, 429})
# Consecutive failed polls (the API unreachable) before a job's calls fail; the job itself is
# kept in the store, so a resumed run picks it up again.
_MAX_POLL_ERRORS = 5


@dataclass(frozen=True)
class BatchRequest:
    """One request line of a batch input file.

    Attributes:
        custom_id: The call's response-cache key: equal calls share it.
        body: The ``/v1/chat/completions`` request body, model included.
    """

    custom_id: str
    body: Mapping[str, Any]

    def line(self) -> bytes:
        """The JSONL line (newline included)."""
        return json.dumps({"custom_id": self.custom_id, "method": "POST", "url": ENDPOINT,
                           "body": self.body}, ensure_ascii=False).encode() + b"\n"


@dataclass(frozen=True)
class BatchState:
    """Where one batch job is, for progress displays.

    Attributes:
        batch_id: The provider's batch id.
        model: The model its requests call.
        status: ``validating``, ``in_progress``, ``finalizing``, ``completed``, ``failed``,
            ``expired``, ``cancelling`` or ``cancelled``.
        total: Requests in the job.
        completed: Requests answered so far.
        failed: Requests that failed so far.
    """

    batch_id: str
    model: str
    status: str
    total: int
    completed: int = 0
    failed: int = 0


def chunk_requests(requests: Iterable[BatchRequest], *, max_requests: int = MAX_REQUESTS,
                   max_bytes: int = MAX_BYTES) -> list[list[BatchRequest]]:
    """Split requests into input files within the API's request and byte limits, in order.

    Raises:
        ValueError: a single request is larger than ``max_bytes``.
    """
    chunks: list[list[BatchRequest]] = []
    current: list[BatchRequest] = []
    size = 0
    for request in requests:
        n = len(request.line())
        if n > max_bytes:
            raise ValueError(f"request {request.custom_id} is {n} bytes, more than a batch "
                             f"file may hold ({max_bytes})")
        if current and (len(current) >= max_requests or size + n > max_bytes):
            chunks.append(current)
            current, size = [], 0
        current.append(request)
        size += n
    if current:
        chunks.append(current)
    return chunks


class _Unreachable(Exception):
    """Polling a job failed again and again: the job may still run, so nothing is resent."""


@dataclass
class _Call:
    request: BatchRequest
    future: asyncio.Future[ChatResponse]
    tries: int = 1


@dataclass
class _Job:
    """A submitted batch: the replies it gave (or the error of each line), once it ended."""

    batch_id: str
    model: OpenAIModel
    done: asyncio.Event = field(default_factory=asyncio.Event)
    replies: dict[str, ChatResponse | ModelCallError] = field(default_factory=dict)
    status: str = "validating"
    error: str | None = None  # the job's own errors, or why its results could not be had


class BatchSession:
    """The batch queue of one run: collects calls, submits jobs, polls them, hands out replies.

    Made by the runner for ``--batch`` on the run's event loop; calls from other loops or
    threads are handed over to it.

    Args:
        store: The run's store (its ``batches`` table).
        run_id: The run the jobs belong to.
        poll_s: Seconds between two polls of a job.
        on_state: Called with a :class:`BatchState` whenever a job's status or counts change.
        max_requests: Requests per input file (the API allows 50,000).
        max_bytes: Bytes per input file (the API allows 200 MB).
    """

    def __init__(self, store: Store, run_id: str, *, poll_s: float = 30.0,
                 on_state: Callable[[BatchState], None] | None = None,
                 max_requests: int = MAX_REQUESTS, max_bytes: int = MAX_BYTES) -> None:
        self.store = store
        self.run_id = run_id
        self.poll_s = poll_s
        self.on_state = on_state
        self.max_requests = max_requests
        self.max_bytes = max_bytes
        self.loop = asyncio.get_running_loop()
        # Jobs of this run submitted before (by a process that was stopped): request id ->
        # batch id, the newest job of a request winning (a resubmission supersedes).
        self.known: dict[str, str] = {}
        for row in store.batches(run_id):
            for custom_id in row["custom_ids"]:
                self.known[custom_id] = row["id"]
        self.jobs: dict[str, _Job] = {}
        self.queues: dict[tuple[Any, ...], list[_Call]] = {}
        self.models: dict[tuple[Any, ...], OpenAIModel] = {}
        self.last_join = 0.0
        self.timer: asyncio.TimerHandle | None = None
        self.tasks: set[asyncio.Task[None]] = set()
        self.submitted = 0  # jobs this session created

    # --- calls ---------------------------------------------------------------------------

    async def call(self, model: OpenAIModel, key: str,
                   body: Mapping[str, Any]) -> ChatResponse:
        """The reply to one request, from a batch job (an earlier one of the run, or the next).

        Raises:
            ModelCallError: the request's line failed, the job failed or expired twice.
        """
        if asyncio.get_running_loop() is not self.loop:
            # A sync target's private loop: the queue and its jobs live on the run's loop.
            return await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(
                self.call(model, key, body), self.loop))
        request = BatchRequest(key, body)
        old = self.known.pop(key, None)
        if old is not None:
            reply = await self._from_old_job(model, old, key)
            if reply is not None:
                return reply
        future: asyncio.Future[ChatResponse] = self.loop.create_future()
        self._enqueue(model, _Call(request, future))
        return await future

    async def _from_old_job(self, model: OpenAIModel, batch_id: str,
                            key: str) -> ChatResponse | None:
        """The reply a job of an earlier process holds for ``key``; None: send it again."""
        job = self.jobs.get(batch_id)
        if job is None:
            job = self.jobs[batch_id] = _Job(batch_id, model)
            self._spawn(self._watch(job, total=None))
        await job.done.wait()
        reply = job.replies.pop(key, None)
        if isinstance(reply, ChatResponse):
            return reply
        if isinstance(reply, ModelCallError) and not reply.retryable:
            raise reply
        return None  # expired, retryable, or never answered: a new job gets it

    def _enqueue(self, model: OpenAIModel, call: _Call) -> None:
        group = (model.endpoint, getattr(model, "_api_key", None),
                 getattr(model, "_organization", None), model.model)
        self.models.setdefault(group, model)
        queue = self.queues.setdefault(group, [])
        queue.append(call)
        self.last_join = time.monotonic()
        if len(queue) >= self.max_requests:
            self._send(group)
        elif self.timer is None:
            self.timer = self.loop.call_later(COLLECT_S, self._on_timer)

    def _on_timer(self) -> None:
        self.timer = None
        idle = time.monotonic() - self.last_join
        if idle < COLLECT_S:
            self.timer = self.loop.call_later(COLLECT_S - idle, self._on_timer)
            return
        for group in list(self.queues):
            self._send(group)

    def _send(self, group: tuple[Any, ...]) -> None:
        calls = self.queues.pop(group, [])
        if not calls:
            return
        by_id: dict[str, list[_Call]] = {}
        for c in calls:  # equal requests of one queue go once
            by_id.setdefault(c.request.custom_id, []).append(c)
        requests = [cs[0].request for cs in by_id.values()]
        for chunk in chunk_requests(requests, max_requests=self.max_requests,
                                    max_bytes=self.max_bytes):
            waiting = {r.custom_id: by_id[r.custom_id] for r in chunk}
            self._spawn(self._run_job(self.models[group], chunk, waiting))

    def _spawn(self, coro: Any) -> None:
        task = self.loop.create_task(coro)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    # --- jobs ----------------------------------------------------------------------------

    async def _run_job(self, model: OpenAIModel, chunk: list[BatchRequest],
                       waiting: dict[str, list[_Call]]) -> None:
        try:
            client = await model.sdk_client()
            upload = await client.files.create(
                file=("judgekit-batch.jsonl", b"".join(r.line() for r in chunk)),
                purpose="batch")
            batch = await client.batches.create(
                input_file_id=upload.id, endpoint=ENDPOINT, completion_window="24h",
                metadata={"judgekit_run": self.run_id})
        except Exception as exc:
            error = _sdk_error(exc, "could not submit a batch")
            for calls in waiting.values():
                for c in calls:
                    _settle(c.future, error)
            return
        self.submitted += 1
        self.store.save_batch(batch.id, self.run_id, model.model, model.endpoint,
                              [r.custom_id for r in chunk])
        job = self.jobs[batch.id] = _Job(batch.id, model)
        await self._watch(job, total=len(chunk), first=batch)
        # A job we lost sight of may still run: sending its requests again could pay twice.
        lost = job.status in ("unreachable", "unreadable")
        for custom_id, calls in waiting.items():
            reply = job.replies.pop(custom_id, None)
            for c in calls:
                if isinstance(reply, ChatResponse):
                    _settle(c.future, reply)
                elif not lost and c.tries < 2 and (reply is None or reply.retryable):
                    self._enqueue(model, _Call(c.request, c.future, c.tries + 1))
                elif reply is not None:
                    _settle(c.future, reply)
                elif lost:
                    _settle(c.future, ModelCallError(
                        f"batch {job.batch_id}: {job.error}; the job stays in the store, so "
                        "--retry-errors RUN (with --batch) polls it again"))
                else:
                    _settle(c.future, ModelCallError(
                        f"batch {job.batch_id} {job.status} without answering the request"
                        + (f" ({job.error})" if job.error else "")))

    async def _watch(self, job: _Job, *, total: int | None, first: Any = None) -> None:
        """Poll ``job`` until it ends, then read its output and error files into it."""
        try:
            client = await job.model.sdk_client()
            batch = first if first is not None else await self._poll(client, job.batch_id)
            seen = None
            while True:
                counts = getattr(batch, "request_counts", None)
                state = BatchState(
                    job.batch_id, job.model.model, batch.status,
                    getattr(counts, "total", None) or total or 0,
                    getattr(counts, "completed", 0) or 0, getattr(counts, "failed", 0) or 0)
                if state != seen and self.on_state is not None:
                    self.on_state(state)
                seen = state
                if batch.status in TERMINAL:
                    break
                await asyncio.sleep(self.poll_s)
                batch = await self._poll(client, job.batch_id)
            job.status = batch.status
            job.error = _batch_errors(batch)
            for file_id in (batch.output_file_id, batch.error_file_id):
                if file_id:
                    content = await client.files.content(file_id)
                    _read_lines(content.text, job.replies)
            self.store.update_batch(job.batch_id, batch.status)
        except _Unreachable as exc:
            job.status, job.error = "unreachable", str(exc)
        except Exception as exc:  # a reply we cannot read: every call of the job says so
            job.status, job.error = "unreadable", str(_sdk_error(exc, "reading the results"))
        finally:
            job.done.set()

    async def _poll(self, client: Any, batch_id: str) -> Any:
        """``batches.retrieve``, tried up to :data:`_MAX_POLL_ERRORS` times a poll apart.

        Raises:
            _Unreachable: every try failed.
        """
        attempt = 1
        while True:
            try:
                return await client.batches.retrieve(batch_id)
            except Exception as exc:
                if attempt >= _MAX_POLL_ERRORS:
                    raise _Unreachable(str(_sdk_error(exc, "polling"))) from exc
                attempt += 1
                await asyncio.sleep(self.poll_s)

    async def close(self) -> None:
        """Stop polling (a stopped run's jobs stay in the store for ``--resume``)."""
        if self.timer is not None:
            self.timer.cancel()
        for task in list(self.tasks):
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)


def _settle(future: asyncio.Future[ChatResponse], result: ChatResponse | BaseException) -> None:
    if future.done():
        return
    if isinstance(result, BaseException):
        future.set_exception(result)
    else:
        future.set_result(result)


def _sdk_error(exc: BaseException, doing: str) -> ModelCallError:
    from judgekit.models.openai import call_error

    error = call_error(exc)
    if error is None:
        return ModelCallError(f"{doing}: {type(exc).__name__}: {exc}")
    return ModelCallError(f"{doing}: {error}", status=error.status, retryable=False)


def _batch_errors(batch: Any) -> str | None:
    """The job-level errors (e.g. of validation) as one line, None when there are none."""
    data = getattr(getattr(batch, "errors", None), "data", None) or []
    messages = [str(getattr(e, "message", None) or getattr(e, "code", "")) for e in data]
    return "; ".join(m for m in messages if m) or None


def _read_lines(text: str, into: dict[str, ChatResponse | ModelCallError]) -> None:
    """Replies (or line errors) of an output or error file, by custom id."""
    from judgekit.models.openai import read_completion_body

    for raw in text.splitlines():
        if not raw.strip():
            continue
        line = json.loads(raw)
        custom_id = line.get("custom_id")
        if not isinstance(custom_id, str):
            continue
        response = line.get("response") or {}
        status = response.get("status_code")
        body = response.get("body")
        error = line.get("error")
        if status == 200 and isinstance(body, Mapping):
            try:
                into[custom_id] = read_completion_body(body)
            except (ValueError, TypeError) as exc:
                into[custom_id] = ModelCallError(f"malformed batch reply: {exc}",
                                                 retryable=True)
            continue
        if error:  # e.g. batch_expired: the request never ran
            code = error.get("code") or "error"
            into[custom_id] = ModelCallError(
                f"batch line {code}: {error.get('message') or ''}".rstrip(": "),
                retryable=code == "batch_expired")
            continue
        detail = (body or {}).get("error") if isinstance(body, Mapping) else None
        message = (detail or {}).get("message") if isinstance(detail, Mapping) else None
        into[custom_id] = ModelCallError(
            f"{status}: {message or 'the batch line failed'}", status=status,
            retryable=isinstance(status, int) and (status in _RETRYABLE or status >= 500))


def batch_body(model: OpenAIModel, messages: Sequence[Mapping[str, Any]],
               params: Mapping[str, Any]) -> dict[str, Any]:
    """The chat completion request body of a batched call (never streamed)."""
    return {"model": model.model, "messages": [dict(m) for m in messages],
            **{k: v for k, v in params.items() if k not in ("stream", "stream_options")}}
