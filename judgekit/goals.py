"""Goals: the bar a variant must clear (accuracy, cost per 1,000 cases, latency) and the check.

A goal compares one figure of an experiment's summary with a target. Errored cases cannot help
meet an accuracy goal: its actual value counts them as 0 (the summary's plain ``mean`` is over
ok scores only, as DESIGN §3 defines it). An unknown cost never meets a cost goal.

A goal whose figure could not be measured because the steps behind it were *skipped* (no model
configured) is neither met nor missed: ``met`` is ``None`` and ``skipped`` true. It does not fail
the run; ``--strict`` does.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from judgekit.errors import ConfigError

__all__ = ["GoalResult", "Goals"]


@dataclass(frozen=True)
class GoalResult:
    """One goal checked against one experiment."""

    name: str
    metric: str
    target: float
    actual: float | None
    met: bool | None
    op: str = ">="

    @property
    def skipped(self) -> bool:
        """True when the goal could not be checked because its steps were skipped."""
        return self.met is None

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> GoalResult:
        """Read back a goal object stored by :meth:`to_dict`."""
        return cls(d["name"], d["metric"], d["target"], d["actual"], d["met"], d.get("op", ">="))

    def to_dict(self) -> dict[str, Any]:
        """Return the DESIGN §9 goal object (``met`` is null and ``skipped`` true when skipped)."""
        out = {"name": self.name, "metric": self.metric, "target": self.target,
               "actual": self.actual, "met": self.met, "op": self.op}
        if self.met is None:
            out["skipped"] = True
        return out


@dataclass(frozen=True)
class Goals:
    """Targets for a suite; each variant is checked against all of them.

    Args:
        accuracy: ``(score_key, minimum)``: the headline score and the mean it must reach.
        scores: More minimums, ``{score_key: minimum}``.
        cost_per_1k: Maximum cost in USD per 1,000 cases (target and judge calls together).
        mean_latency_s: Maximum mean target latency in seconds.
        p50_latency_s: Maximum median target latency.
        p99_latency_s: Maximum 99th-percentile target latency.

    Example:
        >>> Goals(accuracy=("cot_qa", 0.9), cost_per_1k=5.0, p99_latency_s=2.0).accuracy
        ('cot_qa', 0.9)
    """

    accuracy: tuple[str, float] | None = None
    scores: Mapping[str, float] = field(default_factory=dict)
    cost_per_1k: float | None = None
    mean_latency_s: float | None = None
    p50_latency_s: float | None = None
    p99_latency_s: float | None = None

    def __post_init__(self) -> None:
        if self.accuracy is not None and not (
            isinstance(self.accuracy, tuple) and len(self.accuracy) == 2
            and isinstance(self.accuracy[0], str) and isinstance(self.accuracy[1], (int, float))
        ):
            raise ConfigError(
                f"Goals(accuracy={self.accuracy!r}): give (score_key, minimum), "
                'e.g. accuracy=("cot_qa", 0.9)'
            )
        minimums = dict(self.scores)
        if self.accuracy is not None:
            minimums[self.accuracy[0]] = self.accuracy[1]
        for key, target in minimums.items():
            # Scores are fractions; a target like 90 almost always means 0.90.
            if not 0.0 <= float(target) <= 1.0:
                raise ConfigError(f"Goals: target {target} for {key!r} is outside 0..1; "
                                  "write fractions (0.9 for 90%)")

    @property
    def score_keys(self) -> list[str]:
        """Every score key a goal refers to."""
        keys = [self.accuracy[0]] if self.accuracy else []
        return keys + [k for k in self.scores if k not in keys]

    def check(self, summary: Mapping[str, Any]) -> list[GoalResult]:
        """Check an experiment summary (the DESIGN §9 ``summary`` object) against the goals."""
        results: list[GoalResult] = []
        minimums: list[tuple[str, str, float]] = []
        if self.accuracy:
            minimums.append(("accuracy", self.accuracy[0], float(self.accuracy[1])))
        minimums += [("score", k, float(v)) for k, v in self.scores.items()]
        if summary.get("skipped"):
            # Nothing ran (an LLM variant without a model): no figure to hold to any goal.
            return [GoalResult(g.name, g.metric, g.target, None, None, g.op)
                    for g in Goals.check(self, {"scores": {}})]
        for name, metric, target in minimums:
            entry = summary.get("scores", {}).get(metric)
            actual = None if entry is None else entry.get("goal_value", entry.get("mean"))
            met: bool | None = actual is not None and actual >= target - 1e-12
            if entry is not None and not entry.get("n_ok") and entry.get("n_skipped"):
                met = None  # e.g. the judge behind the goal had no model
            results.append(GoalResult(name, metric, target, actual, met))
        if self.cost_per_1k is not None:
            cost = summary.get("cost_usd", {}).get("per_1k_cases")
            results.append(GoalResult("cost", "cost_per_1k", float(self.cost_per_1k), cost,
                                      cost is not None and cost <= self.cost_per_1k, "<="))
        latency = summary.get("latency_s", {})
        for name, stat, target_s in (("mean_latency", "mean", self.mean_latency_s),
                                     ("p50_latency", "p50", self.p50_latency_s),
                                     ("p99_latency", "p99", self.p99_latency_s)):
            if target_s is not None:
                actual_s = latency.get(stat)
                results.append(GoalResult(name, f"latency_{stat}", float(target_s), actual_s,
                                          actual_s is not None and actual_s <= target_s, "<="))
        return results

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Goals:
        """Read back goals stored by :meth:`to_dict`."""
        accuracy = d.get("accuracy")
        return cls(accuracy=(str(accuracy[0]), float(accuracy[1])) if accuracy else None,
                   scores=dict(d.get("scores") or {}), cost_per_1k=d.get("cost_per_1k"),
                   mean_latency_s=d.get("mean_latency_s"), p50_latency_s=d.get("p50_latency_s"),
                   p99_latency_s=d.get("p99_latency_s"))

    def to_dict(self) -> dict[str, Any]:
        """Return the goals as plain JSON for the store."""
        return {"accuracy": list(self.accuracy) if self.accuracy else None,
                "scores": dict(self.scores), "cost_per_1k": self.cost_per_1k,
                "mean_latency_s": self.mean_latency_s, "p50_latency_s": self.p50_latency_s,
                "p99_latency_s": self.p99_latency_s}
