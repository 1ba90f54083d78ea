"""Compare stored experiments: per metric, each variant against the first (the baseline).

Every test is paired: a variant is compared with the baseline only on the (example,
repetition) pairs both have and both scored. Pairs where either side errored, could not be
scored (unscored), was skipped, or is missing are left out and counted by reason, never folded
into pass or fail.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from judgekit.decide.columns import (
    ABSENT,
    CaseDetail,
    Columns,
    ScoreColumn,
    case_detail,
    goals_of,
    load_columns,
    shared_keys,
)
from judgekit.decide.stats import Kind, PairedTest, paired_test
from judgekit.errors import ConfigError
from judgekit.goals import GoalResult, Goals
from judgekit.store import ExperimentRow, Store

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

    from judgekit.decide.cascade import CascadeResult, CascadeSearch, Mpi
    from judgekit.decide.decisions import BreakEven, Pick, Projection

__all__ = ["Change", "Comparison", "MetricComparison", "MetricRow", "Variant", "compare"]


@dataclass(frozen=True)
class Variant:
    """One compared experiment and its figures (cost at list price, see
    :mod:`judgekit.decide.columns`).

    Attributes:
        accuracy: The headline metric as a goal counts it (errored cases count as 0).
        goals: The experiment's stored goals checked again on these figures (None: no goals).
    """

    label: str
    experiment_id: str
    run_id: str
    dataset_name: str
    dataset_version: str
    n_cases: int
    n_errors: int
    target_per_1k: float | None
    judge_per_1k: float | None
    p50_latency_s: float | None
    p99_latency_s: float | None
    accuracy: float | None
    goals: list[GoalResult] | None

    @property
    def total_per_1k(self) -> float | None:
        """Target and judge cost per 1,000 cases (what a cost goal holds to)."""
        if self.target_per_1k is None or self.judge_per_1k is None:
            return None
        return self.target_per_1k + self.judge_per_1k

    @property
    def meets_goals(self) -> bool | None:
        """True when every goal is met; None when the experiment has no goals."""
        if self.goals is None:
            return None
        return all(g.met for g in self.goals)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON."""
        return {"label": self.label, "experiment_id": self.experiment_id,
                "run_id": self.run_id,
                "dataset": {"name": self.dataset_name, "version": self.dataset_version},
                "n_cases": self.n_cases, "n_errors": self.n_errors,
                "cost_usd": {"target_per_1k": self.target_per_1k,
                             "judge_per_1k": self.judge_per_1k,
                             "total_per_1k": self.total_per_1k},
                "latency_s": {"p50": self.p50_latency_s, "p99": self.p99_latency_s},
                "accuracy": self.accuracy,
                "goals": None if self.goals is None else [g.to_dict() for g in self.goals],
                "meets_goals": self.meets_goals}


@dataclass(frozen=True)
class MetricRow:
    """One variant on one metric.

    Attributes:
        value: Mean over the variant's own ok verdicts (pass rate for pass/fail).
        n_ok: How many ok verdicts that is.
        test: Against the baseline; None for the baseline itself.
        excluded: Pairs left out of the test, by reason (error, unscored, skipped, missing).
        regression: The metric dropped with p < alpha.
        improvement: It rose with p < alpha.
    """

    label: str
    value: float | None
    n_ok: int
    test: PairedTest | None = None
    excluded: dict[str, int] = field(default_factory=dict)
    regression: bool = False
    improvement: bool = False

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON."""
        out: dict[str, Any] = {"label": self.label, "value": self.value, "n_ok": self.n_ok}
        if self.test is not None:
            out.update(self.test.to_dict())
            out.update(excluded=self.excluded, regression=self.regression,
                       improvement=self.improvement)
        return out


@dataclass(frozen=True)
class MetricComparison:
    """Every variant on one score key; ``rows[0]`` is the baseline."""

    key: str
    kind: Kind
    rows: list[MetricRow]

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON."""
        return {"key": self.key, "kind": self.kind,
                "test": "mcnemar_exact" if self.kind == "pass_fail" else "paired_t",
                "variants": [r.to_dict() for r in self.rows]}


@dataclass(frozen=True)
class Change:
    """One case that changed between the baseline and a variant."""

    label: str
    metric: str
    kind: str  # "regression", "improvement" or "different"
    baseline: CaseDetail
    variant: CaseDetail

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON."""
        return {"label": self.label, "metric": self.metric, "kind": self.kind,
                "example_id": self.baseline.example_id, "repetition": self.baseline.repetition,
                "baseline": self.baseline.to_dict(), "variant": self.variant.to_dict()}


def _values(col: ScoreColumn, kind: Kind) -> npt.NDArray[np.float64]:
    return col.passed if kind == "pass_fail" else col.score


class Comparison:
    """The result of :func:`compare`: variants, per-metric paired tests, and the decisions
    built on them (:meth:`pick`, :meth:`break_even`, :meth:`projection`, :meth:`mpi`,
    :meth:`cascade`, :meth:`search_cascade`). Case details and signals are read from the
    store on demand, so it keeps the store open."""

    def __init__(self, store: Store, columns: list[Columns], labels: list[str], *,
                 alpha: float, resamples: int, seed: int, metric: str | None,
                 warnings: list[str]) -> None:
        self.store = store
        self.columns = columns
        self.labels = labels
        self.alpha = alpha
        self.resamples = resamples
        self.seed = seed
        self.warnings = warnings
        self.shared = len(shared_keys(columns))
        self.metrics = self._metrics()
        self.headline = self._headline(metric)
        self.variants = [self._variant(c, label) for c, label in zip(columns, labels, strict=True)]

    # -- building ------------------------------------------------------------------------

    def _metrics(self) -> list[MetricComparison]:
        import numpy as np

        base = self.columns[0]
        out: list[MetricComparison] = []
        for key in base.scores:
            cols = [c.scores.get(key) for c in self.columns]
            present = [c for c in cols if c is not None and c.ok.any()]
            if len(present) < 2 or cols[0] is None:
                continue
            kind: Kind
            if all(c.pass_fail for c in present):
                kind = "pass_fail"
            elif all(not np.isnan(c.score[c.ok]).all() for c in present):
                kind = "numeric"
            else:
                self.warnings.append(f"{key}: labels only (no score or pass/fail): not tested")
                continue
            rows = [self._row(key, kind, 0, None)]
            rows += [self._row(key, kind, i, cols[0]) for i in range(1, len(self.columns))]
            out.append(MetricComparison(key, kind, rows))
        return out

    def _row(self, key: str, kind: Kind, i: int, base_col: ScoreColumn | None) -> MetricRow:
        import numpy as np

        side = self.columns[i]
        col = side.scores.get(key)
        label = self.labels[i]
        if col is None:
            name = "mcnemar_exact" if kind == "pass_fail" else "paired_t"
            return MetricRow(label, None, 0, PairedTest(0, None, None, None, name, 0, 0),
                             {"missing": len(side)})
        own = _values(col, kind)[col.ok]
        own = own[~np.isnan(own)]
        value = float(own.mean()) if len(own) else None
        if base_col is None:
            return MetricRow(label, value, len(own))
        base = self.columns[0]
        common = [k for k in base.keys if k in side.index]
        bi = np.array([base.index[k] for k in common], dtype=np.int64)
        vi = np.array([side.index[k] for k in common], dtype=np.int64)
        bvals, vvals = _values(base_col, kind)[bi], _values(col, kind)[vi]
        bstat, vstat = base_col.status[bi], col.status[vi]
        usable = (bstat == 0) & (vstat == 0) & ~np.isnan(bvals) & ~np.isnan(vvals)
        excluded = {"missing": len(base) + len(side) - 2 * len(common)}
        left = ~usable
        for code, name in ((2, "error"), (1, "unscored"), (3, "skipped"), (ABSENT, "absent")):
            hit = left & ((bstat == code) | (vstat == code))
            excluded[name] = int(hit.sum())
            left &= ~hit
        excluded["absent"] += int(left.sum())  # ok verdicts without a value to compare
        test = paired_test(bvals[usable], vvals[usable], kind, alpha=self.alpha,
                           resamples=self.resamples, seed=self.seed)
        significant = test.p_value is not None and test.p_value < self.alpha
        delta = test.delta or 0.0
        return MetricRow(label, value, len(own), test, excluded,
                         regression=significant and delta < 0,
                         improvement=significant and delta > 0)

    def _headline(self, metric: str | None) -> str | None:
        keys = [m.key for m in self.metrics]
        if metric is not None:
            if metric not in keys:
                raise ConfigError(f"--metric {metric}: not a score the runs share; they share "
                                  f"{', '.join(keys) or 'none'}")
            return metric
        goals = goals_of(self.columns[0].experiment)
        accuracy = (goals or {}).get("accuracy")
        if accuracy and accuracy[0] in keys:
            return str(accuracy[0])
        pass_fail = [m.key for m in self.metrics if m.kind == "pass_fail"]
        return (pass_fail or keys)[0] if keys else None

    def _variant(self, side: Columns, label: str) -> Variant:
        exp = side.experiment
        p50, p99 = side.latency_percentiles()
        target, judge = side.per_1k(side.target_cost), side.per_1k(side.judge_cost)
        accuracy = self._accuracy(side, self.headline) if self.headline else None
        stored = goals_of(exp)
        goals = None if stored is None else Goals.from_dict(stored).check(
            self._summary(side, p50, p99, target, judge))
        return Variant(label, exp.id, exp.run_id, exp.dataset_name, exp.dataset_version,
                       len(side), int(side.errored.sum()), target, judge, p50, p99,
                       accuracy, goals)

    @staticmethod
    def _accuracy(side: Columns, key: str) -> float | None:
        """A score's goal value: the mean of ok scores with errored verdicts counted as 0."""
        import numpy as np

        col = side.scores.get(key)
        if col is None:
            return None
        ok = col.ok & ~np.isnan(col.score)
        counted = int(ok.sum() + (col.status == 2).sum())
        return float(col.score[ok].sum() / counted) if counted else None

    def _summary(self, side: Columns, p50: float | None, p99: float | None,
                 target: float | None, judge: float | None) -> dict[str, Any]:
        """The figures a goal checks, in the shape of the eval summary (DESIGN §9)."""
        import numpy as np

        scores = {key: {"goal_value": self._accuracy(side, key), "n_ok": int(col.ok.sum()),
                        "n_skipped": int((col.status == 3).sum())}
                  for key, col in side.scores.items()}
        ran = side.latency[~side.errored & ~side.skipped]
        total = None if target is None or judge is None else target + judge
        return {"scores": scores, "cost_usd": {"per_1k_cases": total},
                "latency_s": {"mean": float(np.mean(ran)) if len(ran) else None,
                              "p50": p50, "p99": p99},
                "skipped": bool(len(side)) and bool(side.skipped.all())}

    # -- reading -------------------------------------------------------------------------

    def metric(self, key: str) -> MetricComparison:
        """The comparison on one score key."""
        for m in self.metrics:
            if m.key == key:
                return m
        raise ConfigError(f"{key!r} is not a score the runs share; they share "
                          f"{', '.join(m.key for m in self.metrics) or 'none'}")

    def regressions(self) -> list[tuple[str, MetricRow]]:
        """``(metric, row)`` of every metric that dropped with p < alpha."""
        return [(m.key, r) for m in self.metrics for r in m.rows[1:] if r.regression]

    def side(self, label: str) -> Columns:
        """The columns of the variant called ``label``."""
        if label not in self.labels:
            raise ConfigError(f"no variant {label!r} among {', '.join(self.labels)}")
        return self.columns[self.labels.index(label)]

    def changes(self, label: str, kind: str = "regression", *, metric: str | None = None,
                limit: int | None = 10) -> tuple[list[Change], int]:
        """Cases that changed from the baseline to ``label`` (first ``limit``, and how many).

        ``kind``: ``"regression"`` (pass → fail, or a lower score), ``"improvement"``, or
        ``"different"`` (any score's verdict or the outputs differ).
        """
        import numpy as np

        key = metric or self.headline
        if key is None:
            return [], 0
        m = self.metric(key)
        base, side = self.columns[0], self.side(label)
        common = [k for k in base.keys if k in side.index]
        bi = np.array([base.index[k] for k in common], dtype=np.int64)
        vi = np.array([side.index[k] for k in common], dtype=np.int64)
        if kind == "different":
            hit = base.outputs_hash[bi] != side.outputs_hash[vi]
            for name, bcol in base.scores.items():
                vcol = side.scores.get(name)
                if vcol is None:
                    continue
                for a, b in ((bcol.status, vcol.status), (bcol.passed, vcol.passed),
                             (bcol.score, vcol.score)):
                    x, y = a[bi], b[vi]
                    same = (x == y) | (np.isnan(x) & np.isnan(y)) if x.dtype.kind == "f" \
                        else x == y
                    hit |= ~same
        else:
            bcol, vcol = base.scores[key], side.scores.get(key)
            if vcol is None:
                return [], 0
            b, v = _values(bcol, m.kind)[bi], _values(vcol, m.kind)[vi]
            usable = (bcol.status[bi] == 0) & (vcol.status[vi] == 0)
            with np.errstate(invalid="ignore"):
                hit = usable & ((v < b) if kind == "regression" else (v > b))
        picked = [common[i] for i in np.flatnonzero(hit)]
        shown = picked if limit is None else picked[:limit]
        return [Change(label, key, kind,
                       case_detail(self.store, base.experiment, k, key),
                       case_detail(self.store, side.experiment, k, key))
                for k in shown], len(picked)

    # -- deciding (in their own modules) -------------------------------------------------

    def pick(self) -> Pick:
        """The cheapest variant that meets every goal (:func:`judgekit.decide.decisions.pick`)."""
        from judgekit.decide.decisions import pick

        return pick(self)

    def break_even(self, value_per_item: float, cost_per_error: float) -> BreakEven:
        """Break-even accuracy and each variant's net value per 1,000 items."""
        from judgekit.decide.decisions import break_even

        return break_even(self, value_per_item, cost_per_error)

    def projection(self, items: int, training_cost: dict[str, float] | None = None
                   ) -> Projection:
        """Each variant's cost for ``items`` items, plus a one-off training cost."""
        from judgekit.decide.decisions import projection

        return projection(self, items, training_cost or {})

    def mpi(self, metric: str | None = None) -> Mpi:
        """The FrugalGPT MPI matrix (:func:`judgekit.decide.cascade.mpi`)."""
        from judgekit.decide.cascade import mpi

        return mpi(self, metric or self._need_headline())

    def cascade(self, order: Sequence[str], signal: str, thresholds: Sequence[float], *,
                metric: str | None = None) -> CascadeResult:
        """Simulate one cascade over the stored cases (:mod:`judgekit.decide.cascade`)."""
        from judgekit.decide.cascade import simulate

        return simulate(self, order, signal, thresholds, metric or self._need_headline())

    def search_cascade(self, signal: str, *, budget: float | None = None,
                       candidates: Sequence[str] | None = None, max_length: int = 3,
                       holdout: float | None = None, metric: str | None = None
                       ) -> CascadeSearch:
        """Search cascade orders and thresholds (:func:`judgekit.decide.cascade.search`)."""
        from judgekit.decide.cascade import search

        return search(self, signal, budget=budget, candidates=candidates or self.labels,
                      max_length=max_length, holdout=holdout,
                      metric=metric or self._need_headline())

    def _need_headline(self) -> str:
        if self.headline is None:
            raise ConfigError("the runs share no score to decide on; give --metric KEY")
        return self.headline

    def to_dict(self) -> dict[str, Any]:
        """The comparison as plain JSON (keys may be added, never renamed)."""
        from judgekit._version import __version__

        return {"judgekit_version": __version__, "baseline": self.labels[0],
                "alpha": self.alpha, "resamples": self.resamples, "seed": self.seed,
                "headline_metric": self.headline, "shared_examples": self.shared,
                "warnings": list(self.warnings),
                "variants": [v.to_dict() for v in self.variants],
                "metrics": [m.to_dict() for m in self.metrics],
                "regressions": [{"metric": key, "label": r.label,
                                 "delta": r.test.delta if r.test else None,
                                 "p_value": r.test.p_value if r.test else None}
                                for key, r in self.regressions()]}


def _labels(rows: Sequence[ExperimentRow]) -> list[str]:
    """Variant labels, with ``@run`` added where two experiments share one."""
    counts: dict[str, int] = {}
    for r in rows:
        counts[r.variant_label] = counts.get(r.variant_label, 0) + 1
    return [r.variant_label if counts[r.variant_label] == 1 else f"{r.variant_label}@{r.run_id}"
            for r in rows]


def _experiments(store: Store, refs: Iterable[str]) -> list[ExperimentRow]:
    rows: list[ExperimentRow] = []
    seen: set[str] = set()
    for ref in refs:
        for row in store.resolve(ref):
            if row.id not in seen:
                seen.add(row.id)
                rows.append(row)
    return rows


def compare(*refs: str | ExperimentRow, store: Store | str | Path | None = None,
            alpha: float = 0.05, resamples: int = 10_000, seed: int = 0,
            metric: str | None = None) -> Comparison:
    """Compare stored runs or experiments; the first experiment is the baseline.

    Args:
        refs: Run ids as ``judgekit runs`` prints them (a run means all its experiments),
            experiment ids (``RUN-N``), or experiment rows.
        store: The store (default: ``$JUDGEKIT_STORE`` or ``.judgekit/judgekit.db``).
        alpha: Significance level of the tests (and 1 − the CIs' confidence).
        resamples: Bootstrap resamples.
        seed: Seed of every resampling.
        metric: The headline score key (default: the accuracy goal's, else the first
            pass/fail score).

    Returns:
        A :class:`Comparison`.

    Raises:
        ConfigError: fewer than two experiments, or none of their examples shared.
        StoreError: an unknown run.

    Example:
        >>> result = judgekit.compare("a1b2c3", "d4e5f6")  # doctest: +SKIP
        >>> [(r.label, r.test.p_value) for key, r in result.regressions()]  # doctest: +SKIP
    """
    if not 0 < alpha < 1:
        raise ConfigError(f"alpha must be between 0 and 1, got {alpha}")
    if resamples < 1:
        raise ConfigError(f"resamples must be at least 1, got {resamples}")
    handle = store if isinstance(store, Store) else Store.existing(store)
    rows = [r for r in refs if isinstance(r, ExperimentRow)]
    rows += _experiments(handle, [r for r in refs if isinstance(r, str)])
    if len(rows) < 2:
        raise ConfigError(f"compare needs two experiments or more; {' '.join(map(str, refs))} "
                          f"{'names' if len(refs) == 1 else 'name'} {len(rows)} (give another "
                          "run; `judgekit runs` lists them)")
    warnings: list[str] = []
    base = rows[0]
    for r in rows[1:]:
        if r.dataset_version != base.dataset_version:
            warnings.append(f"{r.id} ran on dataset {r.dataset_name} {r.dataset_version[:12]}, "
                            f"the baseline on {base.dataset_name} {base.dataset_version[:12]}: "
                            "comparing the examples they share")
    columns = [load_columns(handle, r) for r in rows]
    for r, c in zip(rows[1:], columns[1:], strict=True):
        if not any(k in columns[0].index for k in c.keys):
            raise ConfigError(f"{r.id} ({r.variant_label}) shares no example with the baseline "
                              f"{base.id} ({base.variant_label}): they ran on different "
                              "datasets; compare runs of the same suite")
    return Comparison(handle, columns, _labels(rows), alpha=alpha, resamples=resamples,
                      seed=seed, metric=metric, warnings=warnings)

