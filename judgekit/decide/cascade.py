"""Cascades of models, simulated over stored cases (FrugalGPT, Chen et al. 2023).

A cascade asks its variants in order and accepts variant *i*'s answer when its acceptance
signal (a score already in the store: a judge's confidence, a code check such as
``json_schema``, self-consistency agreement) reaches the threshold τᵢ; otherwise it asks the
next one, and the last one's answer is always taken. A case pays for every variant it reached:
its target calls and the judge calls behind the signal, at list price.

No model is called: each variant's stored answer, verdict and signal per example stand in for
what it would have said. Orders and thresholds searched on the same cases they are scored on
give an optimistic figure (the thresholds fit those cases); ``holdout`` fits them on one part
and reports the chosen cascade on the rest.

The MPI matrix (maximum performance improvement) says how much any cascade could gain: for
every ordered pair, the share of examples the row variant gets wrong and the column one right.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from judgekit.decide.columns import signal_column
from judgekit.errors import ConfigError

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

    from judgekit.decide.comparison import Comparison

__all__ = ["CascadeResult", "CascadeSearch", "Mpi", "mpi", "search", "simulate"]

#: Candidate thresholds per stage in a search: the signal's distinct values, or this many
#: quantiles of them when there are more.
MAX_THRESHOLDS = 20


@dataclass(frozen=True)
class Mpi:
    """``share[i][j]``: of the examples both scored, the share variant i gets wrong and j right."""

    metric: str
    labels: list[str]
    share: list[list[float | None]]
    n_pairs: list[list[int]]

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON."""
        return {"metric": self.metric, "labels": self.labels, "share": self.share,
                "n_pairs": self.n_pairs}


def _pass_fail(comparison: Comparison, metric: str) -> None:
    if comparison.metric(metric).kind != "pass_fail":
        raise ConfigError(f"{metric} is a numeric score; the MPI matrix and cascades need a "
                          "pass/fail one (give --metric KEY)")


def mpi(comparison: Comparison, metric: str) -> Mpi:
    """The MPI matrix of every compared variant on a pass/fail ``metric``."""
    import numpy as np

    _pass_fail(comparison, metric)
    cols = comparison.columns
    k = len(cols)
    share: list[list[float | None]] = [[None] * k for _ in range(k)]
    counts = [[0] * k for _ in range(k)]
    for i, j in itertools.permutations(range(k), 2):
        a, b = cols[i], cols[j]
        ca, cb = a.scores.get(metric), b.scores.get(metric)
        if ca is None or cb is None:
            continue
        common = [key for key in a.keys if key in b.index]
        ai = np.array([a.index[key] for key in common], dtype=np.int64)
        bi = np.array([b.index[key] for key in common], dtype=np.int64)
        pa, pb = ca.passed[ai], cb.passed[bi]
        both = ca.ok[ai] & cb.ok[bi] & ~np.isnan(pa) & ~np.isnan(pb)
        n = int(both.sum())
        counts[i][j] = n
        if n:
            share[i][j] = float(((pa[both] == 0) & (pb[both] == 1)).sum() / n)
    return Mpi(metric, list(comparison.labels), share, counts)


@dataclass(frozen=True)
class CascadeResult:
    """One cascade's figures on a set of cases.

    Attributes:
        answered_by: Share of the cases each stage answered.
        cost_per_1k: Per 1,000 cases, every stage a case reached paid for (None: unknown).
    """

    order: list[str]
    thresholds: list[float]
    signal: str
    accuracy: float | None
    cost_per_1k: float | None
    n_cases: int
    answered_by: list[float]

    def describe(self) -> str:
        """``small (≥0.9) → large``."""
        parts = [f"{label} (≥{t:g})" for label, t in zip(self.order, self.thresholds, strict=False)]
        return " → ".join([*parts, self.order[-1]])

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON."""
        return {"order": self.order, "thresholds": self.thresholds, "signal": self.signal,
                "accuracy": self.accuracy, "cost_per_1k": self.cost_per_1k,
                "n_cases": self.n_cases, "answered_by": self.answered_by,
                "description": self.describe()}


@dataclass(frozen=True)
class _Stage:
    label: str
    correct: npt.NDArray[np.float64]  # 1/0 on the case set
    signal: npt.NDArray[np.float64] | None  # None: no such signal (last stage only)
    cost: npt.NDArray[np.float64]


@dataclass
class _Cases:
    """The stages' arrays over the examples every candidate scored."""

    stages: dict[str, _Stage]
    n_excluded: int
    warnings: list[str] = field(default_factory=list)


def _cases(comparison: Comparison, labels: Sequence[str], signal: str, metric: str,
           need_signal: Sequence[str]) -> _Cases:
    import numpy as np

    _pass_fail(comparison, metric)
    sides = [comparison.side(label) for label in labels]
    common = [k for k in sides[0].keys if all(k in s.index for s in sides[1:])]
    keep = np.ones(len(common), dtype=bool)
    per: list[tuple[Any, Any, Any]] = []
    for side in sides:
        idx = np.array([side.index[k] for k in common], dtype=np.int64)
        col = side.scores.get(metric)
        if col is None:
            raise ConfigError(f"{side.experiment.variant_label} has no {metric} score")
        status, passed = col.status[idx], col.passed[idx]
        # An errored verdict is a wrong answer (as a goal counts it); unscored or missing
        # ones leave the example out: nothing says whether the answer was right.
        correct = np.where(status == 2, 0.0, passed)
        keep &= (status == 2) | ((status == 0) & ~np.isnan(passed))
        per.append((side, idx, correct))
    warnings: list[str] = []
    stages: dict[str, _Stage] = {}
    for label, (side, idx, correct) in zip(labels, per, strict=True):
        try:
            values, judge_cost = signal_column(comparison.store, side, signal)
            sig = values[idx][keep]
            cost = (side.target_cost[idx] + judge_cost[idx])[keep]
        except ConfigError:
            if label in need_signal:
                raise
            warnings.append(f"{label} has no {signal} signal: it can only be the last stage")
            sig, cost = None, side.target_cost[idx][keep]
        stages[label] = _Stage(label, correct[keep], sig, cost)
    # Examples of the first candidate that the search leaves out (missing elsewhere, or
    # without a verdict somewhere).
    return _Cases(stages, len(sides[0]) - int(keep.sum()), warnings)


def _run(stages: Sequence[_Stage], thresholds: Sequence[float], signal: str,
         rows: npt.NDArray[np.int64] | None = None) -> CascadeResult:
    import numpy as np

    def at(a: Any) -> Any:
        return a if rows is None else a[rows]

    n = len(at(stages[0].correct))
    reached = np.ones(n, dtype=bool)
    correct = np.zeros(n)
    cost = np.zeros(n)
    answered: list[float] = []
    for s, stage in enumerate(stages):
        cost += np.where(reached, at(stage.cost), 0.0)
        if s == len(stages) - 1 or stage.signal is None:
            accept = reached
        else:
            with np.errstate(invalid="ignore"):
                accept = reached & (at(stage.signal) >= thresholds[s])
        correct += np.where(accept, at(stage.correct), 0.0)
        answered.append(float(accept.mean()) if n else 0.0)
        reached &= ~accept
    total = float(cost.mean() * 1000) if n else None
    return CascadeResult(
        [st.label for st in stages], [float(t) for t in thresholds[:len(stages) - 1]], signal,
        float(correct.mean()) if n else None,
        None if total is None or math.isnan(total) else total, n, answered)


def simulate(comparison: Comparison, order: Sequence[str], signal: str,
             thresholds: Sequence[float], metric: str) -> CascadeResult:
    """One cascade: ``order`` (labels) with a threshold for every stage but the last.

    Raises:
        ConfigError: for an unknown label, a wrong number of thresholds, a signal key the
            stages lack, or a numeric metric.
    """
    if len(thresholds) != len(order) - 1:
        raise ConfigError(f"--thresholds: a cascade of {len(order)} needs {len(order) - 1} "
                          f"threshold(s), one per stage but the last; got {len(thresholds)}")
    cases = _cases(comparison, order, signal, metric, need_signal=order[:-1])
    return _run([cases.stages[label] for label in order], thresholds, signal)


@dataclass(frozen=True)
class CascadeSearch:
    """The best cascade under the budget and the accuracy-vs-cost frontier.

    Attributes:
        best: Best accuracy with cost ≤ budget (cheapest on ties), on the fitting cases.
        best_holdout: ``best`` scored on the held-out cases (None without ``holdout``).
        frontier: Cascades no other beats on both accuracy and cost, cheapest first.
        evaluated: How many (order, thresholds) were tried.
    """

    signal: str
    metric: str
    budget: float | None
    best: CascadeResult | None
    best_holdout: CascadeResult | None
    frontier: list[CascadeResult]
    evaluated: int
    n_fit: int
    n_holdout: int
    n_excluded: int
    warnings: list[str]

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON."""
        return {"signal": self.signal, "metric": self.metric, "budget_per_1k": self.budget,
                "best": self.best.to_dict() if self.best else None,
                "best_holdout": self.best_holdout.to_dict() if self.best_holdout else None,
                "frontier": [r.to_dict() for r in self.frontier], "evaluated": self.evaluated,
                "n_fit": self.n_fit, "n_holdout": self.n_holdout,
                "n_excluded": self.n_excluded, "warnings": self.warnings}


def _candidates(signal: npt.NDArray[np.float64]) -> list[float]:
    import numpy as np

    values = np.unique(signal[~np.isnan(signal)])
    if len(values) > MAX_THRESHOLDS:
        values = np.unique(np.quantile(values, np.linspace(0, 1, MAX_THRESHOLDS)))
    return [float(v) for v in values]


def frontier(results: Sequence[CascadeResult]) -> list[CascadeResult]:
    """The Pareto frontier: cheapest first, each more accurate than every cheaper one."""
    priced = sorted((r for r in results if r.cost_per_1k is not None and r.accuracy is not None),
                    key=lambda r: (r.cost_per_1k, -(r.accuracy or 0.0), len(r.order)))
    out: list[CascadeResult] = []
    for r in priced:
        if not out or (r.accuracy or 0.0) > (out[-1].accuracy or 0.0) + 1e-12:
            out.append(r)
    return out


def search(comparison: Comparison, signal: str, *, budget: float | None,
           candidates: Sequence[str], max_length: int, holdout: float | None,
           metric: str) -> CascadeSearch:
    """Try every order of up to ``max_length`` of ``candidates`` and every combination of
    candidate thresholds; keep the most accurate under ``budget`` and the frontier.

    Raises:
        ConfigError: for a bad holdout fraction or length, or a signal no candidate has.
    """
    import numpy as np

    if holdout is not None and not 0 < holdout < 1:
        raise ConfigError(f"--holdout {holdout}: give a fraction between 0 and 1, e.g. 0.3")
    if max_length < 1:
        raise ConfigError("a cascade has at least one stage")
    cases = _cases(comparison, candidates, signal, metric, need_signal=())
    if all(st.signal is None for st in cases.stages.values()):
        # Raise the signal's own message (it lists the score keys there are).
        signal_column(comparison.store, comparison.side(candidates[0]), signal)
    n = len(next(iter(cases.stages.values())).correct)
    order_rows = np.random.default_rng(comparison.seed).permutation(n)
    n_hold = round(n * holdout) if holdout else 0
    fit_rows, hold_rows = np.sort(order_rows[n_hold:]), np.sort(order_rows[:n_hold])
    if holdout and (not len(fit_rows) or not len(hold_rows)):
        raise ConfigError(f"--holdout {holdout}: {n} shared cases are too few to split")
    results: list[CascadeResult] = []
    for length in range(1, min(max_length, len(candidates)) + 1):
        for order in itertools.permutations(candidates, length):
            stages = [cases.stages[label] for label in order]
            if any(st.signal is None for st in stages[:-1]):
                continue
            grids = [_candidates(st.signal[fit_rows]) for st in stages[:-1]
                     if st.signal is not None]
            for thresholds in itertools.product(*grids):
                results.append(_run(stages, thresholds, signal, fit_rows))
    affordable = [r for r in results if r.cost_per_1k is not None and r.accuracy is not None
                  and (budget is None or r.cost_per_1k <= budget + 1e-12)]
    best = max(affordable, key=lambda r: (r.accuracy or 0.0, -(r.cost_per_1k or 0.0)),
               default=None)
    best_holdout = None
    if best is not None and n_hold:
        best_holdout = _run([cases.stages[label] for label in best.order], best.thresholds,
                            signal, hold_rows)
    return CascadeSearch(signal, metric, budget, best, best_holdout, frontier(results),
                         len(results), len(fit_rows), n_hold, cases.n_excluded, cases.warnings)
