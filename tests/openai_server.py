"""A local OpenAI-compatible HTTP server for tests and benchmarks.

It speaks enough of the OpenAI REST API for the official ``openai`` SDK (and LangChain's
``ChatOpenAI``) to talk to it over real HTTP on 127.0.0.1:

* ``POST /v1/chat/completions``, plain or streaming (SSE; a final usage chunk when
  ``stream_options.include_usage`` is set), ``GET /v1/models``;
* scripted replies by rule, global latency, per-reply delays;
* rate limits (requests per second and tokens per minute) answered with 429 and the
  ``retry-after-ms`` / ``retry-after`` / ``x-ratelimit-*`` headers, modelled either as a
  sliding window (``"window"``, the default: at most N in any second) or as a continuously
  refilled token bucket (``"bucket"``, what OpenAI documents: the budget refills evenly);
* faults: any status (500, 503, 400, ...), hangs (released when the client goes away or the
  server stops), connection resets, malformed bodies, and random faults at a given rate;
* the Batch API (``/v1/files``, ``/v1/batches``): :attr:`OpenAIServer.batches`.

It imports nothing from pytest, so benchmark scripts can use it too::

    with OpenAIServer() as srv:
        srv.reply("capital of France", "Paris")
        client = openai.OpenAI(base_url=srv.url, api_key="sk-test", max_retries=0)
        ...
        assert srv.count(path="/v1/chat/completions", status=200) == 1

The server is a stdlib ``ThreadingHTTPServer`` (one daemon thread per connection) speaking
HTTP/1.1 with keep-alive: every reply has a ``Content-Length`` or is chunked, so clients reuse
their connections as they would with the real API.
"""

from __future__ import annotations

import contextlib
import io
import itertools
import json
import math
import random
import re
import select
import socket
import socketserver
import struct
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any

from openai_batches import BatchAPI

__all__ = [
    "FAULT_KINDS",
    "RATE_MODELS",
    "OpenAIServer",
    "RecordedRequest",
    "Reply",
    "estimate_tokens",
]

#: Fault kinds :meth:`OpenAIServer.fault_rate` can inject.
FAULT_KINDS = ("429", "500", "503", "reset", "malformed", "hang")

CHAT_PATH = "/v1/chat/completions"
MODELS_PATH = "/v1/models"


def estimate_tokens(text: str) -> int:
    """The server's token count for ``text``: about one token per four characters, at least 1."""
    return max(1, math.ceil(len(text) / 4))


@dataclass(frozen=True)
class Reply:
    """What the server answers to one chat completion request.

    Attributes:
        text: The assistant's text (for an error status: the error message).
        status: HTTP status; 400 and above send an OpenAI-shaped error body.
        headers: Extra response headers.
        delay: Seconds to wait before answering (on top of the server's ``latency``).
        prompt_tokens: Usage to report; None estimates it from the request's messages.
        completion_tokens: Usage to report; None estimates it from ``text``.
        cached_tokens: ``usage.prompt_tokens_details.cached_tokens``.
        finish_reason: The choice's finish reason.
        raw_body: Bytes sent verbatim as the body instead of a JSON reply (malformed replies);
            with ``stream=True`` they are sent as the event stream.
        hang: Never answer; the request is released (connection closed) when the client
            disconnects or the server stops.
        reset: Close the connection (TCP reset) without answering.
        model: The model name to report; None echoes the request's model.
    """

    text: str = ""
    status: int = 200
    headers: Mapping[str, str] | None = None
    delay: float = 0.0
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    cached_tokens: int = 0
    finish_reason: str = "stop"
    raw_body: bytes | str | None = None
    hang: bool = False
    reset: bool = False
    model: str | None = None


@dataclass
class RecordedRequest:
    """One request the server received.

    Attributes:
        method: ``GET`` or ``POST``.
        path: The URL path without the query string (``/v1/chat/completions``).
        headers: Request headers, lower-case names.
        body: The JSON body, parsed (None when there was none or it was not JSON).
        peer: The client's ``host:port`` (requests on one keep-alive connection share it).
        status: The status answered; None while in flight, or when the server hung up or reset.
        time: ``time.monotonic()`` when the request arrived.
    """

    method: str
    path: str
    headers: dict[str, str]
    body: Any
    peer: str = ""
    status: int | None = None
    time: float = field(default_factory=time.monotonic)

    @property
    def messages(self) -> list[dict[str, Any]]:
        """The chat messages of a chat completion request ([] for other requests)."""
        body = self.body if isinstance(self.body, dict) else {}
        messages = body.get("messages")
        return messages if isinstance(messages, list) else []


Match = str | Callable[[dict[str, Any]], bool] | None
ReplySpec = Reply | str | Callable[[dict[str, Any]], Reply | str]


@dataclass
class _Rule:
    match: Match
    reply: ReplySpec
    times: int | None  # None: forever; else how many more requests this rule answers


def _content_text(content: Any) -> str:
    """The text of a message's content: a string, or a list of parts with ``text``."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(p.get("text", "") for p in content if isinstance(p, dict))
    return ""


def _prompt_text(body: Mapping[str, Any]) -> str:
    messages = body.get("messages")
    if not isinstance(messages, list):
        return ""
    return "\n".join(_content_text(m.get("content")) for m in messages if isinstance(m, dict))


def _format_duration(seconds: float) -> str:
    """OpenAI's style for ``x-ratelimit-reset-*``: ``20ms``, ``1.5s``, ``6m0s``."""
    if seconds < 1:
        return f"{math.ceil(seconds * 1000)}ms"
    minutes, secs = divmod(seconds, 60)
    secs = round(secs, 3)
    return f"{int(minutes)}m{secs:g}s" if minutes else f"{secs:g}s"


class _Window:
    """A sliding-window log: at most ``limit`` units used in any ``window`` seconds.

    Not thread-safe by itself; :class:`_RateLimiter` holds the lock.
    """

    def __init__(self, limit: float, window: float) -> None:
        self.limit = limit
        self.window = window
        self.used = 0.0
        self.log: deque[list[float]] = deque()  # [arrival time, units], oldest first

    def _expire(self, now: float) -> None:
        while self.log and self.log[0][0] <= now - self.window:
            self.used -= self.log.popleft()[1]

    def wait(self, now: float, units: float) -> float:
        """Seconds until ``units`` more fit in the window (0: they fit now)."""
        self._expire(now)
        if self.used + units <= self.limit:
            return 0.0
        if units > self.limit:
            return self.window  # never fits; tell the client to back off a whole window
        freed = 0.0
        for arrived, used in self.log:
            freed += used
            if self.used - freed + units <= self.limit:
                return arrived + self.window - now
        return self.window  # not reached: freeing the whole log always makes room

    def add(self, now: float, units: float) -> list[float]:
        entry = [now, units]
        self.log.append(entry)
        self.used += units
        return entry

    def adjust(self, entry: list[float], units: float) -> None:
        """Change what an admitted request costs once its real size is known."""
        if any(e is entry for e in self.log):  # not yet expired: it still counts
            self.used += units - entry[1]
            entry[1] = units

    def headers(self, now: float, kind: str) -> dict[str, str]:
        self._expire(now)
        reset = (self.log[-1][0] + self.window - now) if self.log else 0.0
        return {
            f"x-ratelimit-limit-{kind}": str(int(self.limit)),
            f"x-ratelimit-remaining-{kind}": str(max(0, int(self.limit - self.used))),
            f"x-ratelimit-reset-{kind}": _format_duration(max(0.0, reset)),
        }


class _Bucket:
    """A token bucket of ``limit`` units refilled continuously at ``limit / window`` per second,
    as OpenAI describes its limits (a full bucket allows a burst of ``limit`` at once).

    Same interface as :class:`_Window`; not thread-safe by itself.
    """

    def __init__(self, limit: float, window: float) -> None:
        self.limit = limit
        self.window = window
        self.rate = limit / window
        self.level = limit  # units available now
        self.at = time.monotonic()

    def _refill(self, now: float) -> None:
        self.level = min(self.limit, self.level + (now - self.at) * self.rate)
        self.at = now

    def wait(self, now: float, units: float) -> float:
        """Seconds until ``units`` more are available (0: they are now)."""
        self._refill(now)
        if units > self.limit:
            return self.window
        return 0.0 if self.level >= units else (units - self.level) / self.rate

    def add(self, now: float, units: float) -> list[float]:
        self._refill(now)
        self.level -= units
        return [now, units]

    def adjust(self, entry: list[float], units: float) -> None:
        """Change what an admitted request costs once its real size is known."""
        self.level -= units - entry[1]
        entry[1] = units

    def headers(self, now: float, kind: str) -> dict[str, str]:
        self._refill(now)
        # OpenAI's reset: the time until the bucket is back to its full limit.
        reset = (self.limit - self.level) / self.rate
        return {
            f"x-ratelimit-limit-{kind}": str(int(self.limit)),
            f"x-ratelimit-remaining-{kind}": str(max(0, int(self.level))),
            f"x-ratelimit-reset-{kind}": _format_duration(max(0.0, reset)),
        }


#: Rate-limit models :meth:`OpenAIServer.rate_limit` offers.
RATE_MODELS = ("window", "bucket")


class _RateLimiter:
    """Requests per second and tokens per minute, checked and charged atomically."""

    def __init__(self, rps: float | None, tpm: float | None, model: str = "window") -> None:
        if model not in RATE_MODELS:
            raise ValueError(f"unknown rate-limit model {model!r}; choose from {RATE_MODELS}")
        kind = _Window if model == "window" else _Bucket
        self._lock = threading.Lock()
        self.requests: _Window | _Bucket | None = None
        self.tokens: _Window | _Bucket | None = None
        if rps is not None:
            # Below 1 rps the window grows instead: rps=0.5 is one request per 2 seconds.
            self.requests = kind(rps, 1.0) if rps >= 1 else kind(1, 1.0 / rps)
        if tpm is not None:
            self.tokens = kind(tpm, 60.0)

    def admit(self, tokens: int) -> tuple[float, dict[str, str], list[float] | None]:
        """Try to admit a request of ``tokens`` estimated tokens.

        Returns:
            (seconds to wait, 0 when admitted; the x-ratelimit headers; the token entry to
            adjust later, if admitted and tokens are limited).
        """
        with self._lock:
            now = time.monotonic()
            wait = max(self.requests.wait(now, 1) if self.requests else 0.0,
                       self.tokens.wait(now, tokens) if self.tokens else 0.0)
            entry = None
            if wait == 0.0:
                if self.requests:
                    self.requests.add(now, 1)
                if self.tokens:
                    entry = self.tokens.add(now, tokens)
            headers: dict[str, str] = {}
            if self.requests:
                headers.update(self.requests.headers(now, "requests"))
            if self.tokens:
                headers.update(self.tokens.headers(now, "tokens"))
            return wait, headers, entry

    def charge(self, entry: list[float] | None, tokens: int) -> None:
        """Set the real token cost of an admitted request."""
        if entry is not None and self.tokens is not None:
            with self._lock:
                self.tokens.adjust(entry, tokens)


_ERROR_TYPES = {
    400: ("invalid_request_error", None),
    401: ("invalid_request_error", "invalid_api_key"),
    403: ("permission_error", None),
    404: ("invalid_request_error", "model_not_found"),
    408: ("timeout", None),
    409: ("conflict", None),
    429: ("requests", "rate_limit_exceeded"),
    500: ("server_error", None),
    503: ("server_error", "service_unavailable"),
}


def _error_body(status: int, message: str) -> bytes:
    kind, code = _ERROR_TYPES.get(status, ("server_error" if status >= 500 else
                                           "invalid_request_error", None))
    return json.dumps({"error": {"message": message, "type": kind, "param": None,
                                 "code": code}}).encode()


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive: every reply carries Content-Length or is chunked
    disable_nagle_algorithm = True  # else small writes wait ~40 ms for the client's delayed ACK
    server: _HTTPServer

    def log_message(self, format: str, *args: Any) -> None:
        pass  # tests read srv.requests; access logs would only clutter the output

    def setup(self) -> None:
        super().setup()
        self.server.owner._track(self.connection, add=True)

    def finish(self) -> None:
        try:
            super().finish()
        except OSError:
            pass  # the client (or a reset reply) already closed the connection
        finally:
            self.server.owner._track(self.connection, add=False)

    def do_GET(self) -> None:
        self.server.owner._handle(self, "GET")

    def do_POST(self) -> None:
        self.server.owner._handle(self, "POST")

    # --- writing replies -------------------------------------------------------------------

    record: RecordedRequest | None = None  # the request being answered

    def send_response(self, code: int, message: str | None = None) -> None:
        # Record the status before any byte leaves: a client may read srv.requests right away.
        if self.record is not None:
            self.record.status = code
        super().send_response(code, message)

    def send(self, status: int, body: bytes, headers: Mapping[str, str] | None = None, *,
             content_type: str = "application/json") -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)

    def send_events(self, events: Iterable[bytes], headers: Mapping[str, str] | None) -> None:
        """Send SSE ``data:`` events with chunked transfer encoding, then ``[DONE]``."""
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream; charset=utf-8")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Transfer-Encoding", "chunked")
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        for data in itertools.chain(events, [b"[DONE]"]):
            self.write_chunk(b"data: " + data + b"\n\n")
        self.wfile.write(b"0\r\n\r\n")

    def write_chunk(self, data: bytes) -> None:
        # One write per chunk: size line, data and CRLF leave in the same segment.
        self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))

    def peer_closed(self) -> bool:
        """Whether the client has closed its end (readable with nothing to read)."""
        try:
            readable, _, _ = select.select([self.connection], [], [], 0)
            return bool(readable) and self.connection.recv(1, socket.MSG_PEEK) == b""
        except (OSError, ValueError):
            return True

    def abort(self) -> None:
        """Drop the connection with a TCP reset, without a reply."""
        self.close_connection = True
        try:
            # The makefile() objects hold references that would keep the socket open; the
            # stand-in absorbs the flush the stdlib does after every request.
            self.rfile.close()
            self.wfile.close()
            self.wfile = io.BytesIO()
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                                       struct.pack("ii", 1, 0))
            self.connection.close()
        except OSError:
            pass


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True  # a hung handler never keeps the process alive
    request_queue_size = 1024  # benchmarks open many connections at once

    def __init__(self, owner: OpenAIServer) -> None:
        self.owner = owner
        super().__init__(("127.0.0.1", 0), _Handler)

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client hanging up mid-request is normal here (timeouts, resets); other errors are
        # bugs worth the stdlib's traceback.
        if not isinstance(sys.exc_info()[1], (ConnectionError, TimeoutError)):
            super().handle_error(request, client_address)

    def server_bind(self) -> None:
        # HTTPServer.server_bind resolves the host name (a reverse DNS lookup): skip it.
        socketserver.TCPServer.server_bind(self)
        self.server_name, self.server_port = "127.0.0.1", self.server_address[1]


class OpenAIServer:
    """A local OpenAI-compatible server on 127.0.0.1 and a random port.

    Attributes:
        latency: Seconds every request waits before it is answered (default 0).
        models: The model ids ``GET /v1/models`` lists.
    """

    def __init__(self) -> None:
        self.latency = 0.0
        self.models: list[str] = ["gpt-4o-mini", "gpt-4o"]
        self._lock = threading.RLock()  # RLock: rule callables may call count() or requests
        self._requests: list[RecordedRequest] = []
        self._rules: list[_Rule] = []
        self._limiter: _RateLimiter | None = None
        self._faults: tuple[float, tuple[str, ...], random.Random] | None = None
        self._ids = itertools.count(1)
        self._stopping = threading.Event()
        self._connections: dict[socket.socket, threading.Thread] = {}
        self._httpd: _HTTPServer | None = None
        self._thread: threading.Thread | None = None
        #: The Batch API: ``/v1/files`` and ``/v1/batches`` (see tests/openai_batches.py).
        self.batches = BatchAPI(self)

    # --- lifecycle ---------------------------------------------------------------------------

    def start(self) -> OpenAIServer:
        """Start serving in a background thread; returns the server."""
        if self._httpd is not None:
            raise RuntimeError("OpenAIServer already started")
        self._stopping.clear()
        self._httpd = _HTTPServer(self)
        self._thread = threading.Thread(target=self._httpd.serve_forever,
                                        kwargs={"poll_interval": 0.05},
                                        name="openai-server", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving, release hung requests and close every open connection."""
        httpd, self._httpd = self._httpd, None
        if httpd is None:
            return
        self._stopping.set()  # hangs and delays end now
        httpd.shutdown()
        with self._lock:
            connections = list(self._connections.items())
        for conn, _ in connections:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)  # wakes handlers waiting for the next request
        for _, thread in connections:
            thread.join(timeout=2)
        httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=2)

    def __enter__(self) -> OpenAIServer:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()

    @property
    def url(self) -> str:
        """The base URL for clients: ``http://127.0.0.1:PORT/v1``."""
        if self._httpd is None:
            raise RuntimeError("OpenAIServer is not running; call start() first")
        return f"http://127.0.0.1:{self._httpd.server_port}/v1"

    def __repr__(self) -> str:
        where = self.url if self._httpd is not None else "stopped"
        return f"<OpenAIServer {where} requests={len(self._requests)}>"

    # --- configuration -----------------------------------------------------------------------

    def reply(self, match: Match, reply: ReplySpec, *, times: int | None = None) -> None:
        """Add a reply rule; the newest matching rule answers.

        Args:
            match: A substring of any message's text, a ``callable(body) -> bool``, or None
                (or "") to match every chat request.
            reply: A :class:`Reply`, a string (a plain 200 reply with that text), or a
                ``callable(body) -> Reply | str``.
            times: Answer at most this many requests, then step aside (None: forever).
        """
        with self._lock:
            self._rules.append(_Rule(match, reply, times))

    def rate_limit(self, rps: float | None = None, tpm: float | None = None, *,
                   model: str = "window") -> None:
        """Limit chat requests per second and/or tokens per minute (None for both: no limit).

        Requests beyond the limit get 429 with ``retry-after-ms``, ``retry-after`` and the
        ``x-ratelimit-*`` headers; admitted ones carry the ``x-ratelimit-*`` headers too.
        Rejected requests use no quota. Tokens are charged as the prompt estimate on
        admission, then corrected to prompt + completion tokens of the reply.

        Args:
            rps: Requests per second.
            tpm: Tokens per minute.
            model: ``"window"``: a sliding window, at most ``rps`` requests in any second
                (``x-ratelimit-reset-*``: until the window is empty). ``"bucket"``: a token
                bucket refilled continuously, as OpenAI's limits are (a full bucket allows a
                burst of ``rps``; reset: until it is full again).
        """
        with self._lock:
            self._limiter = _RateLimiter(rps, tpm, model) if rps or tpm else None

    def fault_rate(self, p: float, kinds: Iterable[str] = ("429", "500", "503", "reset",
                                                            "malformed"),
                   seed: int | None = None) -> None:
        """Answer a fraction ``p`` of chat requests with a random fault from ``kinds``.

        Kinds: ``"429"`` (with ``retry-after-ms: 100``), ``"500"``, ``"503"``, ``"reset"``,
        ``"malformed"`` (a body that is not JSON) and ``"hang"``. ``p=0`` turns faults off.
        """
        kinds = tuple(kinds)
        unknown = sorted(set(kinds) - set(FAULT_KINDS))
        if unknown or not kinds:
            raise ValueError(f"unknown fault kinds {unknown}; choose from {FAULT_KINDS}")
        with self._lock:
            self._faults = (p, kinds, random.Random(seed)) if p > 0 else None

    # --- what happened -----------------------------------------------------------------------

    @property
    def requests(self) -> list[RecordedRequest]:
        """A snapshot of the requests received so far, oldest first."""
        with self._lock:
            return list(self._requests)

    def count(self, path: str | None = None, status: int | None = None) -> int:
        """How many requests had this path and/or answered this status (None: any)."""
        with self._lock:
            return sum(1 for r in self._requests
                       if (path is None or r.path == path)
                       and (status is None or r.status == status))

    # --- serving -----------------------------------------------------------------------------

    def _track(self, conn: socket.socket, *, add: bool) -> None:
        with self._lock:
            if add:
                self._connections[conn] = threading.current_thread()
            else:
                self._connections.pop(conn, None)

    def _sleep(self, seconds: float) -> None:
        if seconds > 0:
            self._stopping.wait(seconds)

    def _handle(self, h: _Handler, method: str) -> None:
        path = h.path.split("?", 1)[0]
        length = int(h.headers.get("Content-Length") or 0)
        raw = h.rfile.read(length) if length else b""
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = None
        req = RecordedRequest(method, path, {k.lower(): v for k, v in h.headers.items()}, body,
                              peer=f"{h.client_address[0]}:{h.client_address[1]}")
        with self._lock:
            self._requests.append(req)
        h.record = req
        try:
            self._route(h, req, raw)
        except (BrokenPipeError, ConnectionResetError):
            h.close_connection = True  # the client went away mid-reply
        except Exception as exc:  # a bug in a rule callable: show it to the test as a 500
            h.send(500, _error_body(500, f"openai_server: {type(exc).__name__}: {exc}"))

    def _route(self, h: _Handler, req: RecordedRequest, raw: bytes) -> None:
        if req.path.startswith(("/v1/files", "/v1/batches")):
            status, data, content_type = self.batches.handle(req, raw)
            h.send(status, data, content_type=content_type)
            return
        if (req.method, req.path) == ("GET", MODELS_PATH):
            self._sleep(self.latency)
            data = [{"id": m, "object": "model", "created": 0, "owned_by": "openai-server"}
                    for m in self.models]
            h.send(200, json.dumps({"object": "list", "data": data}).encode())
            return
        if (req.method, req.path) != ("POST", CHAT_PATH):
            h.send(404, _error_body(404, f"Unknown request URL: {req.method} {req.path}"))
            return
        if not isinstance(req.body, dict) or not isinstance(req.body.get("messages"), list):
            message = ("'messages' is a required property" if raw else
                       "We could not parse the JSON body of your request.")
            h.send(400, _error_body(400, message))
            return
        return self._chat(h, req.body)

    def _chat(self, h: _Handler, body: dict[str, Any]) -> None:
        prompt = estimate_tokens(_prompt_text(body))
        limit_headers: dict[str, str] = {}
        entry = None
        with self._lock:
            limiter = self._limiter
        if limiter is not None:
            wait, limit_headers, entry = limiter.admit(prompt)
            if wait > 0:
                # 429s are answered at once, as a gateway would, without the latency.
                h.send(429, _error_body(429, f"Rate limit reached. Please try again in "
                                             f"{_format_duration(wait)}."),
                       {**limit_headers, "retry-after-ms": str(math.ceil(wait * 1000)),
                        "retry-after": str(math.ceil(wait))})
                return
        self._sleep(self.latency)
        reply = self._fault() or self._pick(body)
        self._sleep(reply.delay)
        if self._stopping.is_set():
            h.abort()  # the server is going away: don't start a reply it cannot finish
            return
        if reply.hang:
            while not self._stopping.wait(0.05) and not h.peer_closed():
                pass
            h.abort()
            return
        if reply.reset:
            h.abort()
            return
        headers = {**limit_headers, **(reply.headers or {})}
        stream = bool(body.get("stream"))
        if reply.raw_body is not None:
            data = (reply.raw_body.encode() if isinstance(reply.raw_body, str)
                    else reply.raw_body)
            h.send(reply.status, data, headers,
                   content_type="text/event-stream" if stream else "application/json")
            return
        if reply.status >= 400:
            h.send(reply.status, _error_body(reply.status, reply.text or h.responses.get(
                reply.status, ("error",))[0]), headers)
            return
        base, usage = self._head(body, reply, prompt)
        if limiter is not None:
            limiter.charge(entry, usage["total_tokens"])
        if stream:
            include_usage = bool((body.get("stream_options") or {}).get("include_usage"))
            h.send_events(self._chunks(base, reply, usage if include_usage else None), headers)
        else:
            h.send(reply.status, json.dumps(self._completion(base, usage, reply, body)).encode(),
                   headers)

    def _head(self, body: dict[str, Any], reply: Reply,
              prompt: int) -> tuple[dict[str, Any], dict[str, Any]]:
        """A reply's id/model fields and its usage."""
        prompt_tokens = prompt if reply.prompt_tokens is None else reply.prompt_tokens
        completion_tokens = (estimate_tokens(reply.text) if reply.completion_tokens is None
                             else reply.completion_tokens)
        usage = {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens,
                 "total_tokens": prompt_tokens + completion_tokens,
                 "prompt_tokens_details": {"cached_tokens": reply.cached_tokens}}
        base = {"id": f"chatcmpl-{next(self._ids)}", "created": int(time.time()),
                "model": reply.model or body.get("model") or "unknown",
                "system_fingerprint": "fp_openai_server"}
        return base, usage

    @staticmethod
    def _completion(base: dict[str, Any], usage: dict[str, Any], reply: Reply,
                    body: dict[str, Any]) -> dict[str, Any]:
        message = {"role": "assistant", "content": reply.text, "refusal": None}
        choices = [{"index": i, "message": message, "finish_reason": reply.finish_reason,
                    "logprobs": None} for i in range(max(1, int(body.get("n") or 1)))]
        return {**base, "object": "chat.completion", "choices": choices, "usage": usage}

    def answer(self, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        """The status and JSON body a chat request gets by the reply rules, without HTTP
        (no latency, limits or faults): what a batch job answers for one of its lines."""
        reply = self._pick(body)
        if reply.status >= 400:
            return reply.status, {"error": {"message": reply.text or "error",
                                            "type": "invalid_request_error", "code": None}}
        base, usage = self._head(body, reply, estimate_tokens(_prompt_text(body)))
        return reply.status, self._completion(base, usage, reply, body)

    @staticmethod
    def _chunks(base: dict[str, Any], reply: Reply,
                usage: dict[str, Any] | None) -> Iterator[bytes]:
        """The SSE chunks of a streamed reply: role, text pieces, finish, usage."""
        base = {**base, "object": "chat.completion.chunk"}
        if usage is not None:
            base["usage"] = None  # as the API does: null on every chunk but the last

        def chunk(delta: dict[str, Any], finish: str | None = None) -> bytes:
            choice = {"index": 0, "delta": delta, "finish_reason": finish, "logprobs": None}
            return json.dumps({**base, "choices": [choice]}).encode()

        yield chunk({"role": "assistant", "content": ""})
        for piece in re.findall(r"\s*\S+\s*|\s+", reply.text):
            yield chunk({"content": piece})
        yield chunk({}, reply.finish_reason)
        if usage is not None:
            yield json.dumps({**base, "choices": [], "usage": usage}).encode()

    def _fault(self) -> Reply | None:
        with self._lock:
            if self._faults is None:
                return None
            p, kinds, rng = self._faults
            if rng.random() >= p:
                return None
            kind = rng.choice(kinds)
        if kind == "429":
            return Reply("Rate limit reached (injected fault).", status=429,
                         headers={"retry-after-ms": "100", "retry-after": "1"})
        if kind in ("500", "503"):
            return Reply(f"Injected fault {kind}.", status=int(kind))
        if kind == "malformed":
            return Reply(raw_body=b'{"id": "chatcmpl-broken", "choices": [')
        return Reply(reset=kind == "reset", hang=kind == "hang")

    def _pick(self, body: dict[str, Any]) -> Reply:
        """The reply of the newest matching rule (default: ``OK``)."""
        spec: ReplySpec = Reply("OK")
        with self._lock:
            for rule in reversed(self._rules):
                if rule.times is not None and rule.times <= 0:
                    continue
                if self._matches(rule.match, body):
                    if rule.times is not None:
                        rule.times -= 1
                    spec = rule.reply
                    break
        # Call reply functions outside the lock: they may be slow or stateful.
        reply = spec(body) if callable(spec) else spec
        return Reply(reply) if isinstance(reply, str) else reply

    @staticmethod
    def _matches(match: Match, body: dict[str, Any]) -> bool:
        if match is None or match == "":
            return True
        if callable(match):
            return bool(match(body))
        return any(match in _content_text(m.get("content"))
                   for m in body["messages"] if isinstance(m, dict))
