"""A local LangSmith-compatible HTTP server for tests: the routes the ``langsmith`` SDK calls.

It speaks enough of the LangSmith REST API for the official ``langsmith.Client`` (0.15) to
create and read datasets, examples, projects (sessions), runs and feedback over real HTTP on
127.0.0.1, and it records what it received in plain dicts that tests assert on::

    with LangSmithServer() as srv:
        client = langsmith.Client(api_url=srv.url, api_key=srv.api_key)
        ds = client.create_dataset("qa")
        ...
        client.flush()
        assert srv.runs[str(root_id)]["reference_example_id"] == str(example_id)

Routes (paths as the SDK sends them, relative to ``LANGSMITH_ENDPOINT``):

* ``GET /info`` (no key needed, as on LangSmith): version, ``batch_ingest_config`` and
  ``instance_flags``. By default it advertises what LangSmith Cloud does today: the multipart
  run endpoint, multipart example uploads and zstd-compressed trace ingestion. Each can be
  turned off in the constructor, so tests can drive the SDK's ``/runs/batch`` and
  ``/examples/bulk`` paths too.
* datasets: ``POST /datasets``, ``GET /datasets`` (``id``, ``name``, ``name_contains``,
  ``data_type``, ``metadata``, ``limit``/``offset``), ``GET|PATCH|DELETE /datasets/{id}``,
  ``GET /datasets/{id}/versions``, ``GET /datasets/{id}/version`` (``as_of`` or ``tag``),
  ``PUT /datasets/{id}/tags``.
* examples: ``POST /examples``, ``POST /examples/bulk``, the multipart upload and update
  ``POST|PATCH /v1/platform/datasets/{id}/examples``, ``GET /examples`` (``dataset``, ``id``,
  ``as_of`` (a timestamp or a tag), ``splits``, ``metadata``, ``limit``/``offset``),
  ``GET|PATCH|DELETE /examples/{id}``, ``DELETE /examples?example_ids=...`` and the hard
  delete ``POST /v1/platform/datasets/examples/delete``.
* sessions (projects, experiments): ``POST /sessions`` (``upsert``), ``GET /sessions`` (``id``,
  ``name``, ``name_contains``, ``reference_dataset``, ``reference_free``, ``metadata``),
  ``GET|PATCH|DELETE /sessions/{id}``.
* runs: ``POST /runs``, ``PATCH /runs/{id}``, ``POST /runs/batch``, ``POST /runs/multipart``
  (parts ``post.{id}``, ``patch.{id}``, ``post.{id}.inputs`` ... ``feedback.{id}``;
  attachments are accepted and ignored), ``GET /runs/{id}``, ``POST /runs/query``.
* feedback: ``POST /feedback``, ``GET /feedback`` (``run``, ``key``, ``session``, ``source``),
  ``GET|PATCH|DELETE /feedback/{id}``.

Semantics follow LangSmith where the SDK depends on them: ids chosen by the client are kept; a
run posted twice (or posted, then patched) is merged into one record; dataset and project names
are unique (409); a feedback id posted twice is a 409; a request without the right
``x-api-key`` gets 401 ``{"detail": "Invalid token"}``; unknown ids are 404. Like a LangSmith
tenant, the server starts with one project named ``default`` (the SDK looks the tenant id up
from the first project of ``GET /sessions?limit=1``, once per client, and again on every call
while the list is empty). ``llm`` runs get ``prompt_tokens``/``completion_tokens``/
``total_tokens`` (and ``total_cost`` when given) from ``usage_metadata`` in their outputs or in
``extra.metadata``, as LangSmith derives them.

Bodies compressed with ``Content-Encoding: gzip`` or ``zstd`` are decoded (zstd needs the
``zstandard`` package, which the SDK itself needs to compress). Faults: :meth:`fail` answers the
next matching requests with a status (and ``Retry-After``) before they touch any state.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import gzip
import json
import re
import socket
import socketserver
import sys
import threading
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any
from urllib.parse import parse_qs, urlsplit

__all__ = ["LangSmithServer"]

TENANT_ID = "00000000-0000-4000-8000-000000000001"
SERVER_VERSION = "0.10.120"  # >= 0.8.10: the SDK then batches feedback with trace_id


class HTTPError(Exception):
    """Answer the request with ``status`` and LangSmith's ``{"detail": ...}`` body."""

    def __init__(self, status: int, detail: str) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail


@dataclass
class Request:
    """One parsed request, as route handlers see it."""

    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        if not self.body:
            return None
        try:
            return json.loads(self.body)
        except ValueError:
            raise HTTPError(422, "Request body is not valid JSON") from None

    def arg(self, name: str) -> str | None:
        values = self.query.get(name)
        return values[-1] if values else None

    def args(self, name: str) -> list[str]:
        return self.query.get(name, [])

    def int_arg(self, name: str, default: int) -> int:
        value = self.arg(name)
        try:
            return int(value) if value is not None else default
        except ValueError:
            raise HTTPError(422, f"query parameter {name!r} must be an integer") from None


@dataclass
class _Fault:
    method: str | None
    prefix: str
    status: int
    times: int
    retry_after: float | None


Handler = Callable[..., Any]


# --- small helpers ------------------------------------------------------------------------------


def _parse_time(value: Any) -> dt.datetime | None:
    """An ISO 8601 string (``Z`` or offset; naive means UTC) as an aware datetime."""
    if value is None or value == "":
        return None
    if isinstance(value, dt.datetime):
        when = value
    else:
        text = str(value).strip().replace("Z", "+00:00").replace(" ", "+", 1)
        if re.fullmatch(r"\d{8}T\d{6}\d*", text):  # a dotted_order stamp: 20240101T120000123456
            when = dt.datetime.strptime(text[:21].ljust(21, "0"), "%Y%m%dT%H%M%S%f")
        else:
            try:
                when = dt.datetime.fromisoformat(str(value).strip().replace("Z", "+00:00"))
            except ValueError:
                raise HTTPError(422, f"invalid datetime {value!r}") from None
    return when if when.tzinfo else when.replace(tzinfo=dt.timezone.utc)


def _iso(when: dt.datetime) -> str:
    return when.astimezone(dt.timezone.utc).isoformat()


def _uuid(value: Any, what: str) -> str:
    try:
        return str(uuid.UUID(str(value)))
    except ValueError:
        raise HTTPError(422, f"{what} must be a UUID, got {value!r}") from None


def _json_filter(raw: str | None) -> dict[str, Any] | None:
    """A ``metadata=`` query parameter: a JSON object every match must contain."""
    if raw is None:
        return None
    try:
        value = json.loads(raw)
    except ValueError:
        raise HTTPError(422, "metadata must be a JSON object") from None
    if not isinstance(value, dict):
        raise HTTPError(422, "metadata must be a JSON object")
    return value


def _contains(have: Mapping[str, Any] | None, want: Mapping[str, Any] | None) -> bool:
    return not want or all((have or {}).get(k) == v for k, v in want.items())


def _page(items: list[dict[str, Any]], req: Request) -> list[dict[str, Any]]:
    offset = req.int_arg("offset", 0)
    limit = req.int_arg("limit", 100)
    return items[offset:offset + limit]


def _truthy(value: str | None) -> bool:
    return (value or "").lower() in ("1", "true", "yes")


def _parse_multipart(content_type: str, body: bytes) -> list[tuple[str, str, bytes]]:
    """(name, content type, data) of each part of a ``multipart/form-data`` body."""
    match = re.search(r'boundary="?([^";]+)"?', content_type)
    if not match:
        raise HTTPError(422, "multipart body without a boundary")
    delimiter = b"--" + match.group(1).encode()
    parts: list[tuple[str, str, bytes]] = []
    for chunk in body.split(delimiter)[1:]:
        if chunk.startswith(b"--"):
            break  # the closing delimiter
        head, sep, data = chunk.removeprefix(b"\r\n").partition(b"\r\n\r\n")
        if not sep:
            raise HTTPError(422, "malformed multipart part")
        headers = {}
        for line in head.decode("utf-8", "replace").split("\r\n"):
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        found = re.search(r'name="([^"]*)"', headers.get("content-disposition", ""))
        if not found:
            raise HTTPError(422, "multipart part without a name")
        parts.append((found.group(1), headers.get("content-type", ""),
                      data.removesuffix(b"\r\n")))
    return parts


def _decode_body(raw: bytes, encoding: str) -> bytes:
    encoding = encoding.strip().lower()
    if encoding in ("", "identity"):
        return raw
    if encoding == "gzip":
        return gzip.decompress(raw)
    if encoding == "zstd":
        import zstandard  # the SDK only compresses when it is installed

        # Frames written by a streaming compressor carry no content size: read until the end.
        with zstandard.ZstdDecompressor().stream_reader(raw) as reader:
            return reader.read()
    raise HTTPError(415, f"unsupported Content-Encoding {encoding!r}")


def _usage_from(run: Mapping[str, Any]) -> dict[str, Any] | None:
    """``usage_metadata`` of a run: in its outputs, or in ``extra.metadata`` (traceable)."""
    outputs = run.get("outputs")
    if isinstance(outputs, dict) and isinstance(outputs.get("usage_metadata"), dict):
        return outputs["usage_metadata"]
    metadata = (run.get("extra") or {}).get("metadata") or {}
    usage = metadata.get("usage_metadata") if isinstance(metadata, dict) else None
    return usage if isinstance(usage, dict) else None


def _merge_extra(old: dict[str, Any] | None, new: dict[str, Any]) -> dict[str, Any]:
    """A patch's ``extra`` on top of the post's, ``metadata`` and ``runtime`` key by key."""
    merged = {**(old or {}), **new}
    for key in ("metadata", "runtime"):
        if isinstance((old or {}).get(key), dict) and isinstance(new.get(key), dict):
            merged[key] = {**(old or {})[key], **new[key]}
    return merged


# --- the server -----------------------------------------------------------------------------


class LangSmithServer:
    """A local LangSmith-compatible server on 127.0.0.1 and a random port.

    Args:
        api_key: The only ``x-api-key`` accepted.
        multipart: Advertise the ``/runs/multipart`` endpoint (else the SDK uses
            ``/runs/batch``, and drops background feedback).
        zstd: Advertise zstd-compressed trace ingestion (the SDK then compresses runs that go
            through its background queue, if ``zstandard`` is installed).
        examples_multipart: Advertise multipart example uploads (else the SDK uses
            ``POST /examples`` and ``/examples/bulk``).

    Attributes:
        url: ``http://127.0.0.1:PORT``, what ``LANGSMITH_ENDPOINT`` gets.
        datasets, examples, sessions, runs, feedback: What was received, by id (str).
        requests: ``(method, path, status)`` of every request, in order.
        received: Every request in full (query, headers, body decoded), in order, failed
            ones included: what :meth:`sent_as_data` scans.
        compressed: ``(path, Content-Encoding)`` of every request whose body was encoded.
    """

    def __init__(self, *, api_key: str = "ls-test-key", multipart: bool = True,
                 zstd: bool = True, examples_multipart: bool = True) -> None:
        self.api_key = api_key
        self.multipart = multipart
        self.zstd = zstd
        self.examples_multipart = examples_multipart
        self.datasets: dict[str, dict[str, Any]] = {}
        self.examples: dict[str, dict[str, Any]] = {}
        self.sessions: dict[str, dict[str, Any]] = {}
        self.runs: dict[str, dict[str, Any]] = {}
        self.feedback: dict[str, dict[str, Any]] = {}
        self.requests: list[tuple[str, str, int]] = []
        self.received: list[Request] = []
        self.compressed: list[tuple[str, str]] = []  # (path, Content-Encoding) of encoded bodies
        self._lock = threading.RLock()
        self._faults: list[_Fault] = []
        # Every example state by time, for as_of reads: id -> [(when, example or None)].
        self._history: dict[str, list[tuple[dt.datetime, dict[str, Any] | None]]] = {}
        self._tags: dict[str, dict[str, dt.datetime]] = {}  # dataset id -> tag -> as_of
        self._last_time = dt.datetime.fromtimestamp(0, dt.timezone.utc)
        self._routes: list[tuple[str, re.Pattern[str], Handler]] = []
        self._connections: dict[socket.socket, threading.Thread] = {}
        self._httpd: _HTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._register_routes()
        self._new_session({"name": "default"})

    # --- lifecycle ---------------------------------------------------------------------------

    def start(self) -> LangSmithServer:
        """Start serving in a background thread; returns the server."""
        if self._httpd is not None:
            raise RuntimeError("LangSmithServer already started")
        self._httpd = _HTTPServer(self)
        self._thread = threading.Thread(target=self._httpd.serve_forever,
                                        kwargs={"poll_interval": 0.05},
                                        name="langsmith-server", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and close the listening socket."""
        httpd, self._httpd = self._httpd, None
        if httpd is None:
            return
        httpd.shutdown()
        with self._lock:
            connections = list(self._connections.items())
        for conn, _ in connections:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)  # wakes handlers waiting on keep-alive
        for _, thread in connections:
            thread.join(timeout=2)
        httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=2)

    def _track(self, conn: socket.socket, *, add: bool) -> None:
        with self._lock:
            if add:
                self._connections[conn] = threading.current_thread()
            else:
                self._connections.pop(conn, None)

    def __enter__(self) -> LangSmithServer:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()

    @property
    def url(self) -> str:
        """The endpoint for clients: ``http://127.0.0.1:PORT``."""
        if self._httpd is None:
            raise RuntimeError("LangSmithServer is not running; call start() first")
        return f"http://127.0.0.1:{self._httpd.server_port}"

    def __repr__(self) -> str:
        where = self.url if self._httpd is not None else "stopped"
        return (f"<LangSmithServer {where} datasets={len(self.datasets)} "
                f"runs={len(self.runs)} requests={len(self.requests)}>")

    # --- test controls -----------------------------------------------------------------------

    def fail(self, method: str | None, path_prefix: str, status: int, times: int = 1,
             retry_after: float | None = None) -> None:
        """Answer the next ``times`` requests matching ``method`` and ``path_prefix`` with
        ``status`` (e.g. 429, 500, 503), before they change anything.

        Args:
            method: ``"GET"``, ``"POST"``, ... or None for any method.
            path_prefix: Matches paths that start with it (``"/runs"`` matches
                ``/runs/multipart``).
            status: The status to answer.
            times: How many requests to fail.
            retry_after: Send ``Retry-After`` with this many seconds (rounded up to an
                integer: urllib3, which retries for the SDK, reads only whole seconds).
        """
        with self._lock:
            self._faults.append(_Fault(method.upper() if method else None, path_prefix, status,
                                       times, retry_after))

    def clear_faults(self) -> None:
        """Forget the faults :meth:`fail` set that have not been used up (a storm ends)."""
        with self._lock:
            self._faults.clear()

    def count(self, method: str | None = None, path_prefix: str = "") -> int:
        """How many requests had this method (None: any) and a path starting with the prefix."""
        with self._lock:
            return sum(1 for m, p, _ in self.requests
                       if (method is None or m == method.upper()) and p.startswith(path_prefix))

    def sent_as_data(self) -> str:
        """Everything clients sent, as text, except the credential headers themselves
        (``x-api-key``, ``authorization``): paths, queries, other headers and decoded bodies
        (multipart parts included), for asserting that a secret was never sent as data."""
        with self._lock:
            received = list(self.received)
        chunks: list[str] = []
        for req in received:
            headers = {k: v for k, v in req.headers.items()
                       if k not in ("x-api-key", "authorization")}
            chunks.append(f"{req.method} {req.path} {json.dumps(req.query)} "
                          f"{json.dumps(headers)}\n{req.body.decode('utf-8', 'replace')}")
        return "\n".join(chunks)

    def experiments(self, dataset_id: str | None = None) -> list[dict[str, Any]]:
        """The sessions linked to a dataset (any dataset if None), in creation order."""
        with self._lock:
            return [s for s in self.sessions.values() if s.get("reference_dataset_id")
                    and (dataset_id is None or s["reference_dataset_id"] == str(dataset_id))]

    def children(self, run_id: str) -> list[dict[str, Any]]:
        """The runs whose ``parent_run_id`` is ``run_id``, in ``dotted_order``."""
        with self._lock:
            kids = [r for r in self.runs.values() if r.get("parent_run_id") == str(run_id)]
        return sorted(kids, key=lambda r: r.get("dotted_order") or "")

    # --- request handling ----------------------------------------------------------------------

    def _register_routes(self) -> None:
        uid = r"(?P<id>[0-9a-fA-F-]{36})"
        table: list[tuple[str, str, Handler]] = [
            ("GET", r"/info", self._info),
            ("POST", r"/datasets", self._create_dataset),
            ("GET", r"/datasets", self._list_datasets),
            ("GET", rf"/datasets/{uid}", self._read_dataset),
            ("PATCH", rf"/datasets/{uid}", self._update_dataset),
            ("DELETE", rf"/datasets/{uid}", self._delete_dataset),
            ("GET", rf"/datasets/{uid}/versions", self._list_versions),
            ("GET", rf"/datasets/{uid}/version", self._read_version),
            ("PUT", rf"/datasets/{uid}/tags", self._tag_version),
            ("POST", rf"/v1/platform/datasets/{uid}/examples", self._upload_examples),
            ("PATCH", rf"/v1/platform/datasets/{uid}/examples", self._update_examples),
            ("POST", r"/examples", self._create_example),
            ("POST", r"/examples/bulk", self._create_examples),
            ("GET", r"/examples", self._list_examples),
            ("GET", rf"/examples/{uid}", self._read_example),
            ("PATCH", rf"/examples/{uid}", self._update_example),
            ("DELETE", rf"/examples/{uid}", self._delete_example),
            ("DELETE", r"/examples", self._delete_examples),
            ("POST", r"/v1/platform/datasets/examples/delete", self._hard_delete_examples),
            ("POST", r"/sessions", self._create_session),
            ("GET", r"/sessions", self._list_sessions),
            ("GET", rf"/sessions/{uid}", self._read_session),
            ("PATCH", rf"/sessions/{uid}", self._update_session),
            ("DELETE", rf"/sessions/{uid}", self._delete_session),
            ("POST", r"/runs", self._post_run),
            ("POST", r"/runs/batch", self._batch_runs),
            ("POST", r"/runs/multipart", self._multipart_runs),
            ("POST", r"/runs/query", self._query_runs),
            ("GET", rf"/runs/{uid}", self._read_run),
            ("PATCH", rf"/runs/{uid}", self._patch_run),
            ("POST", r"/feedback", self._create_feedback),
            ("GET", r"/feedback", self._list_feedback),
            ("GET", rf"/feedback/{uid}", self._read_feedback),
            ("PATCH", rf"/feedback/{uid}", self._update_feedback),
            ("DELETE", rf"/feedback/{uid}", self._delete_feedback),
        ]
        self._routes = [(m, re.compile(p + "/?"), h) for m, p, h in table]

    def _handle(self, h: _Handler, method: str) -> None:
        parts = urlsplit(h.path)
        path = parts.path
        length = int(h.headers.get("Content-Length") or 0)
        raw = h.rfile.read(length) if length else b""
        headers = {k.lower(): v for k, v in h.headers.items()}
        status, payload, extra_headers = self._respond(method, path, parts.query, headers, raw)
        try:
            decoded = _decode_body(raw, headers.get("content-encoding", ""))
        except Exception:  # recorded as it came
            decoded = raw
        with self._lock:
            self.requests.append((method, path, status))
            self.received.append(Request(method, path, parse_qs(parts.query,
                                                                keep_blank_values=True),
                                         headers, decoded))
        body = json.dumps(payload, default=str).encode()
        h.send_response(status)
        h.send_header("Content-Type", "application/json")
        h.send_header("Content-Length", str(len(body)))
        for name, value in extra_headers.items():
            h.send_header(name, value)
        h.end_headers()
        h.wfile.write(body)

    def _respond(self, method: str, path: str, query: str, headers: dict[str, str],
                 raw: bytes) -> tuple[int, Any, dict[str, str]]:
        fault = self._take_fault(method, path)
        if fault is not None:
            extra = {}
            if fault.retry_after is not None:
                extra["Retry-After"] = str(max(0, -int(-fault.retry_after // 1)))
            return fault.status, {"detail": f"Injected fault {fault.status}"}, extra
        if path != "/info" and headers.get("x-api-key") != self.api_key:
            return 401, {"detail": "Invalid token"}, {}
        for route_method, pattern, handler in self._routes:
            match = pattern.fullmatch(path)
            if match is None or route_method != method:
                continue
            encoding = headers.get("content-encoding", "")
            if encoding:
                with self._lock:
                    self.compressed.append((path, encoding))
            try:
                body = _decode_body(raw, encoding)
                req = Request(method, path, parse_qs(query, keep_blank_values=True), headers,
                              body)
                with self._lock:  # one request changes the state at a time, as a DB would
                    result = handler(req, **match.groupdict())
            except HTTPError as exc:
                return exc.status, {"detail": exc.detail}, {}
            except Exception as exc:  # a bug here: show it to the test as a 500
                return 500, {"detail": f"langsmith_server: {type(exc).__name__}: {exc}"}, {}
            status, payload = result if isinstance(result, tuple) else (200, result)
            return status, payload, {}
        if any(p.fullmatch(path) for _, p, _ in self._routes):
            return 405, {"detail": "Method Not Allowed"}, {}
        return 404, {"detail": "Not Found"}, {}

    def _take_fault(self, method: str, path: str) -> _Fault | None:
        with self._lock:
            for fault in self._faults:
                if (fault.times > 0 and (fault.method is None or fault.method == method)
                        and path.startswith(fault.prefix)):
                    fault.times -= 1
                    return fault
        return None

    def _now(self) -> dt.datetime:
        """Strictly increasing UTC time: two changes never share a version timestamp."""
        now = dt.datetime.now(dt.timezone.utc)
        if now <= self._last_time:
            now = self._last_time + dt.timedelta(microseconds=1)
        self._last_time = now
        return now

    # --- /info -------------------------------------------------------------------------------

    def _info(self, req: Request) -> dict[str, Any]:
        return {
            "version": SERVER_VERSION,
            "license_expiration_time": None,
            "batch_ingest_config": {
                "use_multipart_endpoint": self.multipart,
                "scale_up_qsize_trigger": 1000,
                "scale_up_nthreads_limit": 16,
                "scale_down_nempty_trigger": 4,
                "size_limit": 100,
                "size_limit_bytes": 20_971_520,
            },
            "instance_flags": {
                "dataset_examples_multipart_enabled": self.examples_multipart,
                "examples_multipart_enabled": self.examples_multipart,
                "zstd_compression_enabled": self.zstd,
            },
            "tenant_handle": None,
        }

    # --- datasets ----------------------------------------------------------------------------

    def _dataset(self, dataset_id: str) -> dict[str, Any]:
        ds = self.datasets.get(dataset_id)
        if ds is None:
            raise HTTPError(404, "Dataset not found")
        return ds

    def _dataset_view(self, ds: dict[str, Any]) -> dict[str, Any]:
        count = sum(1 for e in self.examples.values() if e["dataset_id"] == ds["id"])
        sessions = sum(1 for s in self.sessions.values()
                       if s.get("reference_dataset_id") == ds["id"])
        return {**ds, "example_count": count, "session_count": sessions}

    def _create_dataset(self, req: Request) -> dict[str, Any]:
        body = req.json() or {}
        name = body.get("name")
        if not name:
            raise HTTPError(422, "name is required")
        if any(d["name"] == name for d in self.datasets.values()):
            raise HTTPError(409, "Dataset with this name already exists.")
        now = self._now()
        extra = body.get("extra") or {}
        ds_id = _uuid(body["id"], "id") if body.get("id") else str(uuid.uuid4())
        self.datasets[ds_id] = {
            "id": ds_id,
            "name": name,
            "description": body.get("description"),
            "data_type": body.get("data_type") or "kv",
            "inputs_schema": body.get("inputs_schema_definition"),
            "outputs_schema": body.get("outputs_schema_definition"),
            "transformations": body.get("transformations"),
            "extra": extra,
            "metadata": extra.get("metadata") if isinstance(extra, dict) else None,
            "tenant_id": TENANT_ID,
            "created_at": _iso(now),
            "modified_at": _iso(now),
            "last_session_start_time": None,
        }
        return self._dataset_view(self.datasets[ds_id])

    def _list_datasets(self, req: Request) -> list[dict[str, Any]]:
        ids = set(req.args("id"))
        name = req.arg("name")
        contains = req.arg("name_contains")
        data_type = req.arg("data_type")
        metadata = _json_filter(req.arg("metadata"))
        found = [self._dataset_view(d) for d in self.datasets.values()
                 if (not ids or d["id"] in ids) and (name is None or d["name"] == name)
                 and (contains is None or contains.lower() in d["name"].lower())
                 and (data_type is None or d["data_type"] == data_type)
                 and _contains(d.get("metadata"), metadata)]
        found.sort(key=lambda d: d["created_at"], reverse=True)  # newest first, as LangSmith
        return _page(found, req)

    def _read_dataset(self, req: Request, id: str) -> dict[str, Any]:
        return self._dataset_view(self._dataset(id))

    def _update_dataset(self, req: Request, id: str) -> dict[str, Any]:
        ds = self._dataset(id)
        body = req.json() or {}
        for key in ("name", "description"):
            if body.get(key) is not None:
                ds[key] = body[key]
        if isinstance(body.get("metadata"), dict):
            ds["metadata"] = body["metadata"]
        return self._dataset_view(ds)

    def _delete_dataset(self, req: Request, id: str) -> dict[str, Any]:
        self._dataset(id)
        del self.datasets[id]
        for ex_id in [e for e, ex in self.examples.items() if ex["dataset_id"] == id]:
            del self.examples[ex_id]
        return {}

    def _versions(self, dataset_id: str) -> list[dt.datetime]:
        """Every moment the dataset's examples changed, oldest first."""
        stamps = {when for ex_id, history in self._history.items() for when, state in history
                  if self._history_dataset(ex_id) == dataset_id}
        return sorted(stamps)

    def _history_dataset(self, example_id: str) -> str | None:
        for _, state in reversed(self._history.get(example_id, [])):
            if state is not None:
                return str(state["dataset_id"])
        return None

    def _version_view(self, dataset_id: str, as_of: dt.datetime) -> dict[str, Any]:
        tags = sorted(t for t, when in self._tags.get(dataset_id, {}).items() if when == as_of)
        return {"as_of": _iso(as_of), "tags": tags}

    def _list_versions(self, req: Request, id: str) -> list[dict[str, Any]]:
        self._dataset(id)
        versions = [self._version_view(id, w) for w in reversed(self._versions(id))]
        search = req.arg("search")
        if search:
            versions = [v for v in versions if any(search in t for t in v["tags"])]
        return _page(versions, req)

    def _resolve_as_of(self, dataset_id: str, value: str) -> dt.datetime:
        """A version: a tag name (``latest`` included) or a timestamp."""
        if value == "latest":
            versions = self._versions(dataset_id)
            return versions[-1] if versions else self._now()
        tagged = self._tags.get(dataset_id, {}).get(value)
        if tagged is not None:
            return tagged
        try:
            when = _parse_time(value)
        except HTTPError:
            raise HTTPError(404, f"Dataset version {value!r} not found") from None
        assert when is not None
        return when

    def _read_version(self, req: Request, id: str) -> dict[str, Any]:
        self._dataset(id)
        tag, as_of = req.arg("tag"), req.arg("as_of")
        if bool(tag) == bool(as_of):
            raise HTTPError(422, "Exactly one of as_of and tag must be specified")
        when = self._resolve_as_of(id, tag or as_of or "")
        # The version in effect at that moment: the latest change at or before it.
        earlier = [v for v in self._versions(id) if v <= when]
        if not earlier:
            raise HTTPError(404, "Dataset version not found")
        return self._version_view(id, earlier[-1])

    def _tag_version(self, req: Request, id: str) -> dict[str, Any]:
        self._dataset(id)
        body = req.json() or {}
        when = _parse_time(body.get("as_of"))
        tag = body.get("tag")
        if when is None or not tag:
            raise HTTPError(422, "as_of and tag are required")
        if when not in self._versions(id):
            raise HTTPError(404, "as_of must be an exact version of the dataset")
        self._tags.setdefault(id, {})[tag] = when
        return self._version_view(id, when)

    # --- examples ----------------------------------------------------------------------------

    def _put_example(self, dataset_id: str, ex_id: str | None, fields: Mapping[str, Any],
                     now: dt.datetime) -> dict[str, Any]:
        """Create (or replace, same id) one example and record it in the version history."""
        ds = self._dataset(dataset_id)
        ex_id = _uuid(ex_id, "example id") if ex_id else str(uuid.uuid4())
        old = self.examples.get(ex_id)
        if old is not None and old["dataset_id"] != dataset_id:
            raise HTTPError(409, f"Example {ex_id} already exists in another dataset")
        inputs = fields.get("inputs")
        if not isinstance(inputs, dict):
            raise HTTPError(422, "inputs must be an object")
        split = fields.get("split")
        metadata = dict(fields.get("metadata") or {})
        # LangSmith keeps splits in metadata["dataset_split"] (a list; "base" by default).
        if split is not None:
            metadata["dataset_split"] = [split] if isinstance(split, str) else list(split)
        elif "dataset_split" not in metadata:
            metadata["dataset_split"] = ["base"]
        example = {
            "id": ex_id,
            "dataset_id": dataset_id,
            "inputs": inputs,
            "outputs": fields.get("outputs"),
            "metadata": metadata,
            "source_run_id": fields.get("source_run_id"),
            "created_at": old["created_at"] if old else _iso(
                _parse_time(fields.get("created_at")) or now),
            "modified_at": _iso(now),
            "name": f"#{ex_id[:4]} @ {ds['name']}",
            "attachment_urls": None,
        }
        self.examples[ex_id] = example
        self._history.setdefault(ex_id, []).append((now, json.loads(json.dumps(example))))
        ds["modified_at"] = _iso(now)
        return example

    def _create_example(self, req: Request) -> dict[str, Any]:
        body = req.json() or {}
        if not body.get("dataset_id"):
            raise HTTPError(422, "dataset_id is required")
        ds_id = _uuid(body["dataset_id"], "dataset_id")
        if body.get("id") and str(body["id"]) in self.examples:
            raise HTTPError(409, "Example with this id already exists")
        return self._put_example(ds_id, body.get("id"), body, self._now())

    def _create_examples(self, req: Request) -> list[dict[str, Any]]:
        body = req.json()
        if not isinstance(body, list):
            raise HTTPError(422, "expected a list of examples")
        now = self._now()  # one bulk upload is one dataset version
        out = []
        for item in body:
            if not isinstance(item, dict) or not item.get("dataset_id"):
                raise HTTPError(422, "each example needs a dataset_id")
            out.append(self._put_example(_uuid(item["dataset_id"], "dataset_id"),
                                         item.get("id"), item, now))
        return out

    @staticmethod
    def _example_parts(req: Request) -> dict[str, dict[str, Any]]:
        """Rows of a multipart example upload: parts ``{id}``, ``{id}.inputs``, ...``"""
        rows: dict[str, dict[str, Any]] = {}
        for name, _, data in _parse_multipart(req.headers.get("content-type", ""), req.body):
            ex_id, _, field = name.partition(".")
            row = rows.setdefault(ex_id, {})
            if field.startswith("attachment"):
                continue  # attachments (and their operations) are accepted and not kept
            value = json.loads(data) if data else None
            if field:
                row[field] = value
            elif isinstance(value, dict):
                row.update({k: v for k, v in value.items() if k not in ("inputs", "outputs")})
        return rows

    def _upload_examples(self, req: Request, id: str) -> dict[str, Any]:
        self._dataset(id)
        now = self._now()  # one upload is one dataset version
        ids = [self._put_example(id, ex_id, row, now)["id"]
               for ex_id, row in self._example_parts(req).items()]
        return {"example_ids": ids, "count": len(ids), "as_of": _iso(now)}

    def _update_examples(self, req: Request, id: str) -> dict[str, Any]:
        self._dataset(id)
        rows = self._example_parts(req)
        for ex_id in rows:
            if self.examples.get(_uuid(ex_id, "example id"), {}).get("dataset_id") != id:
                raise HTTPError(404, f"Example {ex_id} not found in this dataset")
        now = self._now()
        for ex_id, row in rows.items():
            old = self.examples[ex_id]
            fields = {"inputs": old["inputs"], "outputs": old["outputs"],
                      "metadata": old["metadata"], **row}
            self._put_example(id, ex_id, fields, now)
        return {"example_ids": list(rows), "count": len(rows), "as_of": _iso(now)}

    def _example(self, example_id: str) -> dict[str, Any]:
        ex = self.examples.get(example_id)
        if ex is None:
            raise HTTPError(404, "Example not found")
        return ex

    def _examples_as_of(self, dataset_id: str | None, when: dt.datetime) -> list[dict[str, Any]]:
        found = []
        for history in self._history.values():
            states = [state for stamp, state in history if stamp <= when]
            current = states[-1] if states else None
            if current is not None and dataset_id in (None, current["dataset_id"]):
                found.append(current)
        return found

    def _list_examples(self, req: Request) -> list[dict[str, Any]]:
        dataset_id = req.arg("dataset")
        if dataset_id is not None:
            dataset_id = _uuid(dataset_id, "dataset")
            self._dataset(dataset_id)
        as_of = req.arg("as_of")
        if as_of:
            if dataset_id is None:
                raise HTTPError(422, "as_of needs a dataset")
            rows = self._examples_as_of(dataset_id, self._resolve_as_of(dataset_id, as_of))
        else:
            rows = [e for e in self.examples.values()
                    if dataset_id is None or e["dataset_id"] == dataset_id]
        ids = set(req.args("id"))
        splits = set(req.args("splits"))
        metadata = _json_filter(req.arg("metadata"))
        rows = [e for e in rows if (not ids or e["id"] in ids)
                and (not splits or splits & set(e["metadata"].get("dataset_split") or []))
                and _contains(e["metadata"], metadata)]
        rows.sort(key=lambda e: (e["created_at"], e["id"]))  # stable pages
        return _page(rows, req)

    def _read_example(self, req: Request, id: str) -> dict[str, Any]:
        as_of = req.arg("as_of")
        if not as_of:
            return self._example(id)
        dataset_id = self._history_dataset(id)
        if dataset_id is None:
            raise HTTPError(404, "Example not found")
        found = [e for e in self._examples_as_of(dataset_id,
                                                 self._resolve_as_of(dataset_id, as_of))
                 if e["id"] == id]
        if not found:
            raise HTTPError(404, "Example not found at this version")
        return found[0]

    def _update_example(self, req: Request, id: str) -> dict[str, Any]:
        ex = self._example(id)
        body = req.json() or {}
        fields = {"inputs": ex["inputs"], "outputs": ex["outputs"], "metadata": ex["metadata"]}
        fields.update({k: v for k, v in body.items() if v is not None and k in
                       ("inputs", "outputs", "metadata", "split")})
        self._put_example(ex["dataset_id"], id, fields, self._now())
        return {"message": "Example updated successfully"}

    def _remove_example(self, example_id: str, now: dt.datetime) -> None:
        """Delete an example: gone from now on, still there for ``as_of`` earlier versions."""
        ex = self._example(example_id)
        del self.examples[example_id]
        self._history[example_id].append((now, None))
        self.datasets[ex["dataset_id"]]["modified_at"] = _iso(now)

    def _delete_example(self, req: Request, id: str) -> dict[str, Any]:
        self._remove_example(id, self._now())
        return {}

    def _delete_examples(self, req: Request) -> dict[str, Any]:
        """``DELETE /examples?example_ids=...`` (the SDK's ``delete_examples``)."""
        ids = [_uuid(i, "example_ids") for i in req.args("example_ids")]
        for ex_id in ids:
            self._example(ex_id)  # all or nothing: check every id first
        now = self._now()  # one call is one dataset version
        for ex_id in ids:
            self._remove_example(ex_id, now)
        return {}

    def _hard_delete_examples(self, req: Request) -> dict[str, Any]:
        """``POST /v1/platform/datasets/examples/delete`` (``delete_examples(hard_delete=True)``):
        gone, history included."""
        body = req.json() or {}
        ids = [_uuid(i, "example_ids") for i in body.get("example_ids") or []]
        for ex_id in ids:
            self._example(ex_id)
        now = self._now()
        for ex_id in ids:
            self.datasets[self.examples.pop(ex_id)["dataset_id"]]["modified_at"] = _iso(now)
            self._history.pop(ex_id, None)
        return {}

    # --- sessions (projects / experiments) ---------------------------------------------------

    def _new_session(self, body: Mapping[str, Any]) -> dict[str, Any]:
        now = self._now()
        sid = _uuid(body["id"], "id") if body.get("id") else str(uuid.uuid4())
        ref = body.get("reference_dataset_id")
        if ref is not None:
            ref = _uuid(ref, "reference_dataset_id")
            self._dataset(ref)
            self.datasets[ref]["last_session_start_time"] = _iso(now)
        session = {
            "id": sid,
            "name": body.get("name") or f"project-{sid[:8]}",
            "description": body.get("description"),
            "extra": body.get("extra"),
            "reference_dataset_id": ref,
            "start_time": _iso(_parse_time(body.get("start_time")) or now),
            "end_time": body.get("end_time"),
            "tenant_id": TENANT_ID,
            "default_dataset_id": None,
        }
        for key in ("num_examples", "num_repetitions", "evaluator_keys"):
            if key in body:
                session[key] = body[key]
        self.sessions[sid] = session
        return session

    def _session(self, session_id: str) -> dict[str, Any]:
        s = self.sessions.get(session_id)
        if s is None:
            raise HTTPError(404, "Session not found")
        return s

    def _session_view(self, s: dict[str, Any]) -> dict[str, Any]:
        runs = [r for r in self.runs.values() if r.get("session_id") == s["id"]]
        return {**s, "run_count": len(runs),
                "last_run_start_time": max((r["start_time"] for r in runs), default=None)}

    def _create_session(self, req: Request) -> dict[str, Any]:
        body = req.json() or {}
        if not body.get("name"):
            raise HTTPError(422, "name is required")
        same = next((s for s in self.sessions.values() if s["name"] == body["name"]), None)
        if same is not None:
            if not _truthy(req.arg("upsert")):
                raise HTTPError(409, "Session already exists.")
            for key in ("description", "extra", "reference_dataset_id"):
                if body.get(key) is not None:
                    same[key] = body[key]
            return self._session_view(same)
        if body.get("id") and str(body["id"]) in self.sessions:
            raise HTTPError(409, "Session already exists.")
        return self._session_view(self._new_session(body))

    def _list_sessions(self, req: Request) -> list[dict[str, Any]]:
        ids = set(req.args("id"))
        name = req.arg("name")
        contains = req.arg("name_contains")
        ref = req.arg("reference_dataset")
        ref_free = req.arg("reference_free")
        metadata = _json_filter(req.arg("metadata"))
        found = [self._session_view(s) for s in self.sessions.values()
                 if (not ids or s["id"] in ids) and (name is None or s["name"] == name)
                 and (contains is None or contains.lower() in s["name"].lower())
                 and (ref is None or s["reference_dataset_id"] == ref)
                 and (ref_free is None
                      or _truthy(ref_free) == (s["reference_dataset_id"] is None))
                 and _contains((s.get("extra") or {}).get("metadata"), metadata)]
        return _page(found, req)

    def _read_session(self, req: Request, id: str) -> dict[str, Any]:
        return self._session_view(self._session(id))

    def _update_session(self, req: Request, id: str) -> dict[str, Any]:
        s = self._session(id)
        body = req.json() or {}
        for key in ("name", "description", "end_time"):
            if body.get(key) is not None:
                s[key] = body[key]
        if isinstance(body.get("extra"), dict):
            s["extra"] = _merge_extra(s.get("extra"), body["extra"])
        return self._session_view(s)

    def _delete_session(self, req: Request, id: str) -> dict[str, Any]:
        self._session(id)
        del self.sessions[id]
        return {}

    # --- runs --------------------------------------------------------------------------------

    def _session_for(self, run: Mapping[str, Any]) -> str:
        """The run's session id: given, or the project named ``session_name`` (created on
        first use, as LangSmith does), or ``default``."""
        if run.get("session_id"):
            sid = _uuid(run["session_id"], "session_id")
            self._session(sid)
            return sid
        name = run.get("session_name") or "default"
        for s in self.sessions.values():
            if s["name"] == name:
                return str(s["id"])
        return str(self._new_session({"name": name})["id"])

    def _upsert_run(self, body: Mapping[str, Any], *, patch: bool, run_id: str | None = None
                    ) -> dict[str, Any]:
        """Merge one post or patch into :attr:`runs` (a run posted twice stays one run)."""
        rid = _uuid(run_id or body.get("id"), "run id")
        old = self.runs.get(rid)
        if old is None and patch and not body.get("trace_id"):
            raise HTTPError(404, "Run not found")
        run = dict(old) if old else {"id": rid, "extra": {}, "events": [], "tags": [],
                                      "inputs": {}, "outputs": None, "error": None,
                                      "parent_run_id": None, "reference_example_id": None,
                                      "end_time": None}
        for key, value in body.items():
            if value is None or key in ("id", "attachments"):
                continue
            if key == "extra" and isinstance(value, dict):
                run["extra"] = _merge_extra(run.get("extra"), value)
            elif key in ("parent_run_id", "trace_id", "reference_example_id", "session_id"):
                run[key] = _uuid(value, key)
            elif key in ("start_time", "end_time"):
                when = _parse_time(value)
                run[key] = _iso(when) if when else None
            else:
                run[key] = value
        if not run.get("trace_id"):
            parent = self.runs.get(run.get("parent_run_id") or "", {})
            run["trace_id"] = parent.get("trace_id") or rid
        if not run.get("start_time"):
            run["start_time"] = _iso(self._now())
        if old is None or body.get("session_id") or body.get("session_name"):
            run["session_id"] = self._session_for(run)
            run["session_name"] = self.sessions[run["session_id"]]["name"]
        run["status"] = "error" if run.get("error") else (
            "success" if run.get("end_time") else "pending")
        usage = _usage_from(run)
        if run.get("run_type") == "llm" and usage:
            run["prompt_tokens"] = usage.get("input_tokens")
            run["completion_tokens"] = usage.get("output_tokens")
            run["total_tokens"] = usage.get("total_tokens") or (
                (usage.get("input_tokens") or 0) + (usage.get("output_tokens") or 0))
            for key in ("input_cost", "output_cost", "total_cost"):
                if usage.get(key) is not None:
                    run[key.replace("input", "prompt").replace("output", "completion")] = \
                        usage[key]
        self.runs[rid] = run
        return run

    def _post_run(self, req: Request) -> tuple[int, dict[str, Any]]:
        body = req.json()
        if not isinstance(body, dict):
            raise HTTPError(422, "expected a run object")
        self._upsert_run(body, patch=False)
        return 202, {}

    def _patch_run(self, req: Request, id: str) -> dict[str, Any]:
        body = req.json()
        if not isinstance(body, dict):
            raise HTTPError(422, "expected a run object")
        if id not in self.runs:
            raise HTTPError(404, "Run not found")
        self._upsert_run(body, patch=True, run_id=id)
        return {}

    def _batch_runs(self, req: Request) -> tuple[int, dict[str, Any]]:
        body = req.json() or {}
        if not isinstance(body, dict):
            raise HTTPError(422, "expected {post: [...], patch: [...]}")
        for key, patch in (("post", False), ("patch", True)):
            for run in body.get(key) or []:
                self._upsert_run(run, patch=patch)
        return 202, {}

    def _multipart_runs(self, req: Request) -> tuple[int, dict[str, Any]]:
        ops: dict[tuple[str, str], dict[str, Any]] = {}
        feedback: list[dict[str, Any]] = []
        for name, _, data in _parse_multipart(req.headers.get("content-type", ""), req.body):
            kind, _, rest = name.partition(".")
            if kind == "attachment":
                continue  # accepted, not kept
            value = json.loads(data) if data else None
            if kind == "feedback":
                if not isinstance(value, dict):
                    raise HTTPError(422, f"part {name!r} must be a JSON object")
                feedback.append(value)
                continue
            if kind not in ("post", "patch"):
                raise HTTPError(422, f"unknown multipart part {name!r}")
            run_id, _, field = rest.partition(".")
            op = ops.setdefault((kind, run_id), {"id": run_id})
            if field:
                op[field] = value
            else:
                op.update(value or {})
        for kind in ("post", "patch"):  # a post and its patch in one request: post first
            for (op_kind, _), op in ops.items():
                if op_kind == kind:
                    self._upsert_run(op, patch=kind == "patch")
        for item in feedback:
            if str(item.get("id")) not in self.feedback:  # ingest is idempotent
                self._store_feedback(item)
        return 202, {}

    def _read_run(self, req: Request, id: str) -> dict[str, Any]:
        run = self.runs.get(id)
        if run is None:
            raise HTTPError(404, "Run not found")
        return {**run, "child_run_ids": [r["id"] for r in self.children(id)]}

    def _query_runs(self, req: Request) -> dict[str, Any]:
        body = req.json() or {}

        def listed(key: str) -> set[str] | None:
            value = body.get(key)
            if value is None:
                return None
            return {str(v) for v in (value if isinstance(value, list) else [value])}

        sessions, ids, traces = listed("session"), listed("id"), listed("trace")
        refs, parents = listed("reference_example"), listed("parent_run")
        found = [r for r in self.runs.values()
                 if (sessions is None or r.get("session_id") in sessions)
                 and (ids is None or r["id"] in ids)
                 and (traces is None or r.get("trace_id") in traces)
                 and (refs is None or r.get("reference_example_id") in refs)
                 and (parents is None or r.get("parent_run_id") in parents)
                 and (body.get("run_type") is None or r.get("run_type") == body["run_type"])
                 and (body.get("is_root") is None
                      or bool(body["is_root"]) == (r.get("parent_run_id") is None))
                 and (body.get("error") is None
                      or bool(body["error"]) == bool(r.get("error")))]
        found.sort(key=lambda r: r.get("dotted_order") or r.get("start_time") or "")
        if body.get("limit"):
            found = found[:int(body["limit"])]
        return {"runs": found, "cursors": {"next": None}}

    # --- feedback ----------------------------------------------------------------------------

    def _store_feedback(self, body: Mapping[str, Any]) -> dict[str, Any]:
        fid = _uuid(body["id"], "id") if body.get("id") else str(uuid.uuid4())
        if fid in self.feedback:
            raise HTTPError(409, "Feedback with this id already exists")
        if not body.get("key"):
            raise HTTPError(422, "key is required")
        run_id = body.get("run_id")
        session_id = body.get("session_id")
        if run_id is None and session_id is None:
            raise HTTPError(422, "run_id or session_id is required")
        now = _iso(self._now())
        source = body.get("feedback_source") or {}
        source_run = ((source.get("metadata") or {}).get("__run") or {}).get("run_id")
        item = {
            **body,
            "id": fid,
            "run_id": _uuid(run_id, "run_id") if run_id else None,
            "trace_id": _uuid(body["trace_id"], "trace_id") if body.get("trace_id") else None,
            "session_id": _uuid(session_id, "session_id") if session_id else None,
            "created_at": body.get("created_at") or now,
            "modified_at": body.get("modified_at") or now,
            "feedback_source": source or None,
            "source_run_id": source_run,
        }
        self.feedback[fid] = item
        return item

    def _create_feedback(self, req: Request) -> dict[str, Any]:
        body = req.json()
        if not isinstance(body, dict):
            raise HTTPError(422, "expected a feedback object")
        return self._store_feedback(body)

    def _list_feedback(self, req: Request) -> list[dict[str, Any]]:
        runs, keys = set(req.args("run")), set(req.args("key"))
        sessions, sources = set(req.args("session")), set(req.args("source"))
        found = [f for f in self.feedback.values()
                 if (not runs or f.get("run_id") in runs) and (not keys or f["key"] in keys)
                 and (not sessions or f.get("session_id") in sessions)
                 and (not sources or (f.get("feedback_source") or {}).get("type") in sources)]
        return _page(found, req)

    def _feedback(self, feedback_id: str) -> dict[str, Any]:
        item = self.feedback.get(feedback_id)
        if item is None:
            raise HTTPError(404, "Feedback not found")
        return item

    def _read_feedback(self, req: Request, id: str) -> dict[str, Any]:
        return self._feedback(id)

    def _update_feedback(self, req: Request, id: str) -> dict[str, Any]:
        item = self._feedback(id)
        body = req.json() or {}
        item.update({k: v for k, v in body.items()
                     if k in ("score", "value", "comment", "correction")})
        item["modified_at"] = _iso(self._now())
        return item

    def _delete_feedback(self, req: Request, id: str) -> dict[str, Any]:
        self._feedback(id)
        del self.feedback[id]
        return {}


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as the SDK's connection pool expects
    disable_nagle_algorithm = True
    server: _HTTPServer

    def log_message(self, format: str, *args: Any) -> None:
        pass  # tests read srv.requests

    def setup(self) -> None:
        super().setup()
        self.server.owner._track(self.connection, add=True)

    def finish(self) -> None:
        try:
            super().finish()
        except OSError:
            pass  # the client already closed the connection
        finally:
            self.server.owner._track(self.connection, add=False)

    def do_GET(self) -> None:
        self.server.owner._handle(self, "GET")

    def do_POST(self) -> None:
        self.server.owner._handle(self, "POST")

    def do_PATCH(self) -> None:
        self.server.owner._handle(self, "PATCH")

    def do_PUT(self) -> None:
        self.server.owner._handle(self, "PUT")

    def do_DELETE(self) -> None:
        self.server.owner._handle(self, "DELETE")


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, owner: LangSmithServer) -> None:
        self.owner = owner
        super().__init__(("127.0.0.1", 0), _Handler)

    def handle_error(self, request: Any, client_address: Any) -> None:
        if not isinstance(sys.exc_info()[1], (ConnectionError, TimeoutError)):
            super().handle_error(request, client_address)

    def server_bind(self) -> None:
        # HTTPServer.server_bind resolves the host name (a reverse DNS lookup): skip it.
        socketserver.TCPServer.server_bind(self)
        self.server_name, self.server_port = "127.0.0.1", self.server_address[1]
