"""Core value types shared by every part of judgekit (DESIGN §3).

All of them are frozen dataclasses: a result, once produced, is never edited in place; code that
needs a changed copy uses :func:`dataclasses.replace`. Field names of :class:`Score` map 1:1 onto
LangSmith's ``EvaluationResult`` so that a score can be sent there unchanged.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, TypeVar

__all__ = [
    "SKIPPED",
    "STATUSES",
    "CallRecord",
    "CaseError",
    "CaseResult",
    "Example",
    "Score",
    "ScoreStatus",
    "Usage",
]

_T = TypeVar("_T")

ScoreStatus = Literal["ok", "unscored", "error", "skipped"]
STATUSES: tuple[ScoreStatus, ...] = ("ok", "unscored", "error", "skipped")
#: ``CaseError.type`` of a case that could not run because its model is not configured.
SKIPPED = "Skipped"


@dataclass(frozen=True)
class Example:
    """One dataset row: what the target receives and what a correct answer looks like.

    Attributes:
        id: Stable identifier: given in the data, or a hash of inputs and reference.
        inputs: Keyword inputs for the target.
        reference: The reference outputs (``None`` when the row has none).
        metadata: Free-form metadata carried along (tags, split, source line, ...).
    """

    id: str
    inputs: Mapping[str, Any]
    reference: Any = None
    metadata: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Usage:
    """Tokens, cost and time spent by model calls.

    ``cost_usd`` is ``None`` when any call behind it had an unknown price: an unknown price is
    never shown as zero.
    """

    prompt_tokens: int = 0
    completion_tokens: int = 0
    cached_tokens: int = 0
    cost_usd: float | None = 0.0
    latency_s: float = 0.0
    calls: int = 0

    @classmethod
    def of(cls, calls: Iterable[CallRecord]) -> Usage:
        """The total of ``calls`` (each as :meth:`CallRecord.usage` counts it), in one pass."""
        prompt = completion = cached = n = 0
        cost: float | None = 0.0
        latency = 0.0
        for c in calls:
            paid = c.paid_usd
            cost = None if cost is None or paid is None else cost + paid
            prompt += c.prompt_tokens
            completion += c.completion_tokens
            cached += c.cached_tokens
            latency += c.latency_s
            n += 1
        return cls(prompt_tokens=prompt, completion_tokens=completion, cached_tokens=cached,
                   cost_usd=cost, latency_s=latency, calls=n)

    def __add__(self, other: Usage) -> Usage:
        cost = (
            None
            if self.cost_usd is None or other.cost_usd is None
            else self.cost_usd + other.cost_usd
        )
        return Usage(
            prompt_tokens=self.prompt_tokens + other.prompt_tokens,
            completion_tokens=self.completion_tokens + other.completion_tokens,
            cached_tokens=self.cached_tokens + other.cached_tokens,
            cost_usd=cost,
            latency_s=self.latency_s + other.latency_s,
            calls=self.calls + other.calls,
        )


@dataclass(frozen=True)
class Score:
    """One evaluator verdict on one case (or, for summary evaluators, on the experiment).

    Attributes:
        key: The metric name, e.g. ``"exact_match"`` or ``"json_match.product"``.
        score: Numeric score (``True``/``False`` become 1.0/0.0); ``None`` when not numeric or
            when no verdict was reached.
        value: Categorical verdict or label, e.g. ``"CORRECT"`` or ``"positive"``.
        passed: Whether the case passes this check; ``None`` when pass/fail does not apply.
        comment: The judge's reasoning or the check's explanation.
        status: ``ok``; ``unscored`` (ran but reached no verdict: excluded from means, counted
            apart, never pass and never fail); ``error`` (the evaluator raised); ``skipped``
            (could not run, e.g. no judge model; the comment says why).
        metadata: Extra detail (per-class metrics, the raw judge reply, ...).
        usage: Tokens, cost and latency of the model calls behind this score, if any.
    """

    key: str
    score: float | None = None
    value: str | None = None
    passed: bool | None = None
    comment: str | None = None
    status: ScoreStatus = "ok"
    metadata: Mapping[str, Any] = field(default_factory=dict)
    usage: Usage | None = None

    def __post_init__(self) -> None:
        if self.status not in STATUSES:
            raise ValueError(f"Score.status must be one of {STATUSES}, got {self.status!r}")
        if isinstance(self.score, bool):
            object.__setattr__(self, "score", 1.0 if self.score else 0.0)
        # A 0/1 score with no explicit pass flag reads as pass/fail; other numbers do not.
        if self.status == "ok" and self.passed is None and self.score in (0.0, 1.0):
            object.__setattr__(self, "passed", self.score == 1.0)

    @property
    def failed(self) -> bool:
        """True when this score is a definite failure (an ok verdict that did not pass)."""
        return self.status == "ok" and self.passed is False

    def describe(self) -> str:
        """One line for reports: ``cot_qa INCORRECT: reasoning``, ``exact_match failed``.

        A pass/fail check shows ``failed``/``passed`` (a bare 0 says less than the word);
        unscored, error and skipped scores show their status and why.
        """
        verdict: str
        if self.status != "ok":
            verdict = self.status
        elif self.value is not None:
            verdict = self.value
        elif self.score is None or self.score in (0.0, 1.0):
            verdict = "failed" if self.passed is False else "passed"
        else:
            verdict = f"{self.score:g}"
        return f"{self.key} {verdict}: {self.comment}" if self.comment else f"{self.key} {verdict}"

    def to_langsmith(self) -> dict[str, Any]:
        """Return the score as a LangSmith ``EvaluationResult``-shaped dict.

        judgekit-only fields (``passed``, ``status``) travel in ``metadata`` so that LangSmith,
        which forbids unknown top-level keys, accepts the dict as it is. An unscored or skipped
        score carries no number, only its comment.
        """
        meta = dict(self.metadata)
        meta["status"] = self.status
        if self.passed is not None:
            meta["passed"] = self.passed
        out: dict[str, Any] = {"key": self.key, "metadata": meta}
        if self.score is not None:
            out["score"] = self.score
        if self.value is not None:
            out["value"] = self.value
        out["comment"] = self.comment or (None if self.score is not None else self.status)
        return out

    def to_dict(self) -> dict[str, Any]:
        """Return the score in the DESIGN §9 JSON shape (``metadata`` included)."""
        return {
            "key": self.key,
            "score": self.score,
            "value": self.value,
            "passed": self.passed,
            "status": self.status,
            "comment": self.comment,
            "metadata": dict(self.metadata),
        }


@dataclass(frozen=True)
class CallRecord:
    """One model call made while producing a case (by the target) or a score (by a judge)."""

    role: Literal["target", "judge"]
    provider: str
    model: str
    request: Mapping[str, Any]
    response_text: str | None
    finish_reason: str | None = None
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cached_tokens: int = 0
    cost_usd: float | None = None
    latency_s: float = 0.0
    attempts: int = 1
    cache_hit: bool = False
    score_key: str | None = None
    error: str | None = None
    #: Wall-clock (epoch seconds) start of the call, so traces can place it in time.
    started_at: float = 0.0

    @property
    def paid_usd(self) -> float | None:
        """What the call cost: nothing for a reply from judgekit's cache (``cost_usd`` keeps
        what it would have cost) or for a call that failed without usage; None: unknown."""
        if self.cache_hit or (self.error is not None and self.cost_usd is None):
            return 0.0
        return self.cost_usd

    def usage(self) -> Usage:
        """Return this call as a :class:`Usage` (its cost is :attr:`paid_usd`)."""
        return Usage(
            prompt_tokens=self.prompt_tokens,
            completion_tokens=self.completion_tokens,
            cached_tokens=self.cached_tokens,
            cost_usd=self.paid_usd,
            latency_s=self.latency_s,
            calls=1,
        )


@dataclass(frozen=True)
class CaseError:
    """Why a case produced no outputs: the exception type and its message."""

    type: str
    message: str
    traceback: str | None = None

    @property
    def skipped(self) -> bool:
        """True when the case did not run for want of a configured model (not a failure)."""
        return self.type == SKIPPED

    def __str__(self) -> str:
        return f"{self.type}: {self.message}"


@dataclass(frozen=True)
class CaseResult:
    """Everything judgekit knows about one example × variant × repetition."""

    example_id: str
    variant: Mapping[str, Any]
    repetition: int
    outputs: Any
    error: CaseError | None
    latency_s: float
    scores: tuple[Score, ...] = ()
    calls: tuple[CallRecord, ...] = ()
    usage: Usage = field(default_factory=Usage)
    started_at: float = 0.0
    ended_at: float = 0.0

    @property
    def passed(self) -> bool:
        """True when the case ran and no ok score failed."""
        return self.error is None and not any(s.failed for s in self.scores)


def evolve(obj: _T, **changes: Any) -> _T:
    """:func:`dataclasses.replace` for fields no ``__post_init__`` rule reads (a score's key or
    usage), without running ``__init__``: a judged score is copied twice per case, and this
    is worth 3-4% of a cached re-run (bench/README: issue 19). Internal: not exported.
    """
    new = object.__new__(type(obj))
    new.__dict__.update(obj.__dict__, **changes)
    return new
