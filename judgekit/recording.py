"""Attributing model calls to the case (and the score) that made them.

The runner opens a :class:`CaseRecorder` around each case; model clients call
:func:`record_call` after every request. Context variables carry the recorder into tasks and
worker threads, so a call made anywhere below a target or an evaluator lands on the right case,
and a call made while an evaluator runs is recorded as a *judge* call under that score's key.
"""

from __future__ import annotations

import contextlib
import dataclasses
import time
from collections.abc import Iterator, Sequence
from contextvars import ContextVar

from judgekit.types import CallRecord, Score, Usage, evolve

__all__ = [
    "CaseRecorder",
    "current_recorder",
    "current_score_key",
    "record_call",
    "scoring",
    "setup_wait",
    "with_usage",
]

_recorder: ContextVar[CaseRecorder | None] = ContextVar("judgekit_recorder", default=None)
_score_key: ContextVar[str | None] = ContextVar("judgekit_score_key", default=None)


class CaseRecorder:
    """Collects the model calls of one case."""

    def __init__(self) -> None:
        self.calls: list[CallRecord] = []
        #: Seconds the case waited for one-time set-up (see :func:`setup_wait`).
        self.setup_s = 0.0

    @contextlib.contextmanager
    def active(self) -> Iterator[CaseRecorder]:
        """Make this the recorder for code running in the current context (a ``with`` block)."""
        token = _recorder.set(self)
        try:
            yield self
        finally:
            _recorder.reset(token)


def current_recorder() -> CaseRecorder | None:
    """The recorder of the case running in this context, if any."""
    return _recorder.get()


def current_score_key() -> str | None:
    """The key of the score being produced in this context (inside an evaluator), if any."""
    return _score_key.get()


@contextlib.contextmanager
def scoring(key: str) -> Iterator[str]:
    """Mark calls made inside (a ``with`` block) as judge calls behind the score ``key``."""
    token = _score_key.set(key)
    try:
        yield key
    finally:
        _score_key.reset(token)


@contextlib.contextmanager
def setup_wait() -> Iterator[None]:
    """Time spent inside is one-time set-up (loading an SDK), not the case's latency.

    Concurrent calls of one case wait for the same set-up, so the case keeps the longest
    wait rather than their sum.
    """
    began = time.perf_counter()
    try:
        yield
    finally:
        recorder = _recorder.get()
        if recorder is not None:
            recorder.setup_s = max(recorder.setup_s, time.perf_counter() - began)


def record_call(call: CallRecord) -> None:
    """Record a model call on the current case; outside a case this does nothing.

    A call made while an evaluator runs is stored with ``role="judge"`` and the score's key.
    """
    recorder = _recorder.get()
    if recorder is None:
        return
    key = _score_key.get()
    if key is not None and (call.role != "judge" or call.score_key != key):
        call = dataclasses.replace(call, role="judge", score_key=key)
    recorder.calls.append(call)


def with_usage(score: Score, calls: Sequence[CallRecord]) -> Score:
    """``score`` with the usage of the judge calls made under its key (or a parent key:
    ``json_match.product`` is produced by the calls of ``json_match``)."""
    mine = [c for c in calls if c.score_key == score.key or (
        c.score_key and score.key.startswith(c.score_key + "."))]
    if not mine:
        return score
    return evolve(score, usage=Usage.of(mine))
