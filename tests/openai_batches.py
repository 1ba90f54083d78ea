"""The Batch API of the local OpenAI-compatible server: ``/v1/files`` and ``/v1/batches``.

Enough for the official SDK's ``files.create`` (a multipart upload), ``files.content``,
``batches.create``, ``batches.retrieve`` and ``batches.cancel``. A job stays
``in_progress`` for :attr:`BatchAPI.delay` seconds (0 by default: the first poll finds it
done), then answers every line by the server's reply rules (:meth:`OpenAIServer.answer`):
200 lines go to the output file, the others (a rule's 400 or 500) to the error file, as the
real API does. Tests can make the next jobs expire (only part of their lines answered, the
rest ``batch_expired`` in the error file) or fail validation.
"""

from __future__ import annotations

import email.parser
import email.policy
import itertools
import json
import re
import threading
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from openai_server import OpenAIServer, RecordedRequest

__all__ = ["BatchAPI", "BatchJob"]

_FILE = re.compile(r"^/v1/files/([^/]+)(/content)?$")
_BATCH = re.compile(r"^/v1/batches/([^/]+)(/cancel)?$")


@dataclass
class BatchJob:
    """One job the server holds.

    Attributes:
        id: ``batch_N``.
        input_file_id: The uploaded request file.
        lines: The request lines, parsed.
        status: The job's status.
        created: ``time.monotonic()`` at creation.
        expire: The share of lines to answer before expiring (None: the job completes).
        fail: A validation error to fail with (None: valid).
        output_file_id: Set once the job has ended with answered lines.
        error_file_id: Set once the job has ended with failed lines.
        polls: How many times it was retrieved.
    """

    id: str
    input_file_id: str
    lines: list[dict[str, Any]]
    metadata: dict[str, Any] | None
    status: str = "validating"
    created: float = field(default_factory=time.monotonic)
    created_at: int = field(default_factory=lambda: int(time.time()))
    expire: float | None = None
    fail: str | None = None
    output_file_id: str | None = None
    error_file_id: str | None = None
    n_completed: int = 0
    n_failed: int = 0
    polls: int = 0


class BatchAPI:
    """Files and batch jobs of one :class:`OpenAIServer`.

    Attributes:
        delay: Seconds a job stays ``in_progress`` before it ends.
        files: Uploaded and result files: id -> (filename, bytes).
        jobs: Jobs by id, in creation order.
    """

    def __init__(self, owner: OpenAIServer) -> None:
        self.owner = owner
        self.delay = 0.0
        self.files: dict[str, tuple[str, bytes]] = {}
        self.jobs: dict[str, BatchJob] = {}
        self._lock = threading.Lock()
        self._ids = itertools.count(1)
        self._expire: list[float] = []
        self._fail: list[str] = []

    def expire_next(self, n: int = 1, *, answered: float = 0.5) -> None:
        """Make the next ``n`` jobs expire after answering ``answered`` of their lines."""
        with self._lock:
            self._expire += [answered] * n

    def fail_next(self, n: int = 1, message: str = "Invalid batch input file.") -> None:
        """Make the next ``n`` jobs fail validation."""
        with self._lock:
            self._fail += [message] * n

    def lines(self) -> list[dict[str, Any]]:
        """Every request line of every job, in order."""
        with self._lock:
            return [line for job in self.jobs.values() for line in job.lines]

    # --- HTTP ------------------------------------------------------------------------------

    def handle(self, req: RecordedRequest, raw: bytes) -> tuple[int, bytes, str]:
        """Answer one ``/v1/files`` or ``/v1/batches`` request: (status, body, content type)."""
        with self._lock:
            if (req.method, req.path) == ("POST", "/v1/files"):
                return self._upload(req, raw)
            if (req.method, req.path) == ("POST", "/v1/batches"):
                return self._create(req.body)
            if req.method == "GET" and (m := _FILE.match(req.path)):
                found = self.files.get(m.group(1))
                if found is None:
                    return _error(404, f"No such File object: {m.group(1)}")
                if m.group(2):
                    return 200, found[1], "application/octet-stream"
                return _json(self._file_doc(m.group(1)))
            if m := _BATCH.match(req.path):
                job = self.jobs.get(m.group(1))
                if job is None:
                    return _error(404, f"No such Batch object: {m.group(1)}")
                if req.method == "POST" and m.group(2):
                    if job.status not in ("completed", "failed", "expired"):
                        job.status = "cancelled"
                    return _json(self._batch_doc(job))
                if req.method == "GET" and not m.group(2):
                    job.polls += 1
                    self._advance(job)
                    return _json(self._batch_doc(job))
        return _error(404, f"Unknown request URL: {req.method} {req.path}")

    def _upload(self, req: RecordedRequest, raw: bytes) -> tuple[int, bytes, str]:
        content_type = req.headers.get("content-type", "")
        if not content_type.startswith("multipart/form-data"):
            return _error(400, "files.create expects multipart/form-data")
        message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
            f"Content-Type: {content_type}\r\n\r\n".encode() + raw)
        fields: dict[str, tuple[str | None, bytes]] = {}
        for part in message.iter_parts():
            name = part.get_param("name", header="content-disposition")
            payload = part.get_payload(decode=True)
            fields[str(name)] = (part.get_filename(), payload if isinstance(payload, bytes)
                                 else b"")
        if fields.get("purpose", (None, b""))[1] != b"batch" or "file" not in fields:
            return _error(400, "expected a 'file' and purpose 'batch'")
        file_id = f"file-{next(self._ids)}"
        self.files[file_id] = (fields["file"][0] or "upload.jsonl", fields["file"][1])
        return _json(self._file_doc(file_id))

    def _create(self, body: Any) -> tuple[int, bytes, str]:
        if not isinstance(body, dict) or body.get("input_file_id") not in self.files:
            return _error(400, "input_file_id names no uploaded file")
        if body.get("endpoint") != "/v1/chat/completions":
            return _error(400, f"unsupported endpoint {body.get('endpoint')!r}")
        data = self.files[body["input_file_id"]][1]
        lines = [json.loads(line) for line in data.splitlines() if line.strip()]
        job = BatchJob(f"batch_{next(self._ids)}", body["input_file_id"], lines,
                       body.get("metadata"))
        if self._fail:
            job.fail = self._fail.pop(0)
        elif self._expire:
            job.expire = self._expire.pop(0)
        self.jobs[job.id] = job
        return _json(self._batch_doc(job))

    def _advance(self, job: BatchJob) -> None:
        """Move a job on: validating -> in_progress -> an end, after ``delay`` seconds."""
        if job.status in ("completed", "failed", "expired", "cancelled"):
            return
        if job.fail is not None:
            job.status = "failed"
            return
        if time.monotonic() - job.created < self.delay:
            job.status = "in_progress"
            return
        answered = job.lines if job.expire is None else job.lines[:int(len(job.lines)
                                                                         * job.expire)]
        out, errors = [], []
        for i, line in enumerate(job.lines):
            head = {"id": f"batch_req_{job.id}_{i}", "custom_id": line["custom_id"]}
            if i >= len(answered):
                errors.append({**head, "response": None, "error": {
                    "code": "batch_expired", "message": "This request could not be executed "
                                                        "before the completion window expired."}})
                continue
            status, doc = self.owner.answer(line["body"])
            entry = {**head, "response": {"status_code": status, "request_id": head["id"],
                                          "body": doc}, "error": None}
            (out if status == 200 else errors).append(entry)
        job.n_completed, job.n_failed = len(out), len(errors)
        if out:
            job.output_file_id = self._result_file(job, "output", out)
        if errors:
            job.error_file_id = self._result_file(job, "error", errors)
        job.status = "completed" if job.expire is None else "expired"

    def _result_file(self, job: BatchJob, kind: str, entries: list[dict[str, Any]]) -> str:
        file_id = f"file-{next(self._ids)}"
        self.files[file_id] = (f"{job.id}_{kind}.jsonl",
                               b"".join(json.dumps(e).encode() + b"\n" for e in entries))
        return file_id

    def _file_doc(self, file_id: str) -> dict[str, Any]:
        name, data = self.files[file_id]
        return {"id": file_id, "object": "file", "bytes": len(data), "created_at": 0,
                "filename": name, "purpose": "batch", "status": "processed"}

    @staticmethod
    def _batch_doc(job: BatchJob) -> dict[str, Any]:
        errors = ({"object": "list", "data": [{"code": "invalid_request", "message": job.fail,
                                              "param": None, "line": None}]}
                  if job.status == "failed" else None)
        return {"id": job.id, "object": "batch", "endpoint": "/v1/chat/completions",
                "errors": errors, "input_file_id": job.input_file_id,
                "completion_window": "24h", "status": job.status,
                "output_file_id": job.output_file_id, "error_file_id": job.error_file_id,
                "created_at": job.created_at,
                "request_counts": {"total": len(job.lines), "completed": job.n_completed,
                                   "failed": job.n_failed},
                "metadata": job.metadata}


def _json(doc: dict[str, Any]) -> tuple[int, bytes, str]:
    return 200, json.dumps(doc).encode(), "application/json"


def _error(status: int, message: str) -> tuple[int, bytes, str]:
    doc = {"error": {"message": message, "type": "invalid_request_error", "param": None,
                     "code": None}}
    return status, json.dumps(doc).encode(), "application/json"
