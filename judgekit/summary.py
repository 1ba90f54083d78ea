"""Per-experiment summary (the DESIGN §9 ``summary`` object), computed from the store.

Aggregates are SQL queries over the stored cases, so summarising 100,000 cases holds no list of
them in memory: the latency mean is summed from a cursor, and p50/p99 are read at their rank
from SQLite's own sort (which spills to disk), exact as numpy's default percentile.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from typing import Any

from judgekit.store import Store
from judgekit.types import SKIPPED, Score

__all__ = ["percentile", "summarize"]


def percentile(sorted_values: Sequence[float], q: float) -> float | None:
    """Linear-interpolated percentile (numpy's default) of already sorted values."""
    if not sorted_values:
        return None
    pos = (len(sorted_values) - 1) * q / 100.0
    lo, hi = math.floor(pos), math.ceil(pos)
    return sorted_values[lo] + (sorted_values[hi] - sorted_values[lo]) * (pos - lo)


def _sql_percentile(store: Store, where: str, args: tuple[Any, ...], n: int,
                    q: float) -> float | None:
    """:func:`percentile` of ``latency_s`` over the ``n`` cases matching ``where``, read from
    the two values around its rank instead of a sorted list of all of them."""
    if not n:
        return None
    pos = (n - 1) * q / 100.0
    lo, hi = math.floor(pos), math.ceil(pos)
    values = [r[0] for r in store.db.execute(
        f"SELECT latency_s FROM cases WHERE {where} ORDER BY latency_s LIMIT ? OFFSET ?",
        (*args, hi - lo + 1, lo))]
    # The same arithmetic as percentile(), on the values at ranks lo and hi.
    return values[0] + (values[-1] - values[0]) * (pos - lo)


def _cost(store: Store, experiment_id: str, role: str) -> float | None:
    # Cache hits cost nothing, and a call that failed returned no usage to price (providers
    # do not bill a 429 or a 500): neither can make the total unknown.
    n_unknown, total = store.db.execute(
        "SELECT SUM(cost_usd IS NULL AND error IS NULL), COALESCE(SUM(cost_usd), 0) FROM calls"
        " WHERE experiment_id=? AND role=? AND cache_hit=0", (experiment_id, role)).fetchone()
    return None if n_unknown else float(total)


def summarize(store: Store, experiment_id: str, repeat: int,
              summary_scores: Sequence[Score] = ()) -> dict[str, Any]:
    """Summarise one experiment: counts, per-score means, cost, latency and tokens."""
    db = store.db
    n_cases, n_errors, n_skipped, n_passed = db.execute(
        "SELECT COUNT(*), COALESCE(SUM(error_type IS NOT NULL AND error_type != ?), 0),"
        " COALESCE(SUM(error_type = ?), 0), COALESCE(SUM(passed), 0)"
        " FROM cases WHERE experiment_id=?", (SKIPPED, SKIPPED, experiment_id)).fetchone()
    skipped = None
    if n_cases and n_skipped == n_cases:
        # Every case was skipped (an LLM variant with no model): say why, once.
        skipped = db.execute("SELECT error_message FROM cases WHERE experiment_id=? LIMIT 1",
                             (experiment_id,)).fetchone()[0]
    scores = _score_stats(store, experiment_id, repeat)
    for s in summary_scores:
        scores[s.key] = {"mean": s.score, "value": s.value, "n_ok": int(s.status == "ok"),
                         "n_unscored": int(s.status == "unscored"),
                         "n_error": int(s.status == "error"),
                         "n_skipped": int(s.status == "skipped"), "summary": True,
                         "goal_value": s.score}
    prompt, completion, cached = db.execute(
        "SELECT COALESCE(SUM(prompt_tokens),0), COALESCE(SUM(completion_tokens),0),"
        " COALESCE(SUM(cached_tokens),0) FROM calls WHERE experiment_id=?",
        (experiment_id,)).fetchone()
    n_run = n_cases - n_skipped
    out: dict[str, Any] = {
        "n_cases": n_cases,
        "n_errors": n_errors,
        "n_skipped": n_skipped,
        "n_passed": n_passed,
        "pass_rate": (n_passed / n_run) if n_run else None,
        "scores": scores,
        "cost_usd": _costs(store, experiment_id, n_cases),
        "latency_s": _latency(store, experiment_id),
        "tokens": {"prompt": prompt, "completion": completion, "cached": cached},
    }
    if skipped is not None:
        out["skipped"] = skipped
    return out


def _score_stats(store: Store, experiment_id: str, repeat: int) -> dict[str, dict[str, Any]]:
    """Per score key of the cases: counts by status, mean, pass rate, goal value and, over
    repetitions, the spread of the per-repetition means."""
    db = store.db
    scores: dict[str, dict[str, Any]] = {}
    ok_totals: dict[str, tuple[float, int]] = {}  # key -> (sum of ok scores, how many)
    for key, status, n, total, n_scored, n_passed_key, n_pass_known in db.execute(
        "SELECT key, status, COUNT(*), SUM(score), COUNT(score), SUM(passed), COUNT(passed)"
        " FROM scores WHERE experiment_id=? AND case_id IS NOT NULL GROUP BY key, status"
        " ORDER BY MIN(id)", (experiment_id,),
    ):
        entry = scores.setdefault(key, {"mean": None, "n_ok": 0, "n_unscored": 0, "n_error": 0,
                                        "n_skipped": 0, "pass_rate": None})
        entry[f"n_{status}"] = n
        if status == "ok":
            ok_totals[key] = (total or 0.0, n_scored)
            entry["mean"] = (total / n_scored) if n_scored else None
            entry["pass_rate"] = (n_passed_key / n_pass_known) if n_pass_known else None
    for key, entry in scores.items():
        total, n_scored = ok_totals.get(key, (0.0, 0))
        # Errors count as 0 towards a goal: a variant cannot meet accuracy by crashing.
        counted = n_scored + entry["n_error"]
        entry["goal_value"] = total / counted if counted else None
        if repeat > 1:
            means = [r[0] for r in db.execute(
                "SELECT AVG(s.score) FROM scores s JOIN cases c ON c.id = s.case_id"
                " WHERE s.experiment_id=? AND s.key=? AND s.status='ok' AND s.score IS NOT NULL"
                " GROUP BY c.repetition", (experiment_id, key))]
            entry["std"] = statistics.stdev(means) if len(means) > 1 else 0.0
            entry["per_repetition"] = means
    return scores


def _costs(store: Store, experiment_id: str, n_cases: int) -> dict[str, float | None]:
    """Target, judge and total cost, and per 1,000 cases (None: a price was unknown)."""
    target = _cost(store, experiment_id, "target")
    judge = _cost(store, experiment_id, "judge")
    total = None if target is None or judge is None else target + judge
    return {
        "target": target,
        "judge": judge,
        "total": total,
        "per_1k_cases": (total / n_cases * 1000) if total is not None and n_cases
        else (None if total is None else 0.0),
    }


def _latency(store: Store, experiment_id: str) -> dict[str, float | None]:
    """Mean, p50 and p99 latency of the cases that ran without error."""
    ok_cases = "experiment_id=? AND error_type IS NULL"
    (n,) = store.db.execute(f"SELECT COUNT(*) FROM cases WHERE {ok_cases}",
                            (experiment_id,)).fetchone()
    # fsum over a cursor: statistics.fmean's exact sum, without a list of every latency.
    mean = math.fsum(r[0] for r in store.db.execute(
        f"SELECT latency_s FROM cases WHERE {ok_cases}", (experiment_id,))) / n if n else None
    return {
        "mean": mean,
        "p50": _sql_percentile(store, ok_cases, (experiment_id,), n, 50),
        "p99": _sql_percentile(store, ok_cases, (experiment_id,), n, 99),
    }
