"""What the report and the viewer show, read from the store: the comparison of the opened
runs' variants, the plot's points and every case with its scores and model calls.

Figures come from the stored summary (``judgekit.summary``) and goal results; a run still
writing has none yet, so they are computed the same way on the fly. Labels are formatted by
the console report's own helpers, so the page and the terminal agree.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from judgekit.goals import GoalResult, Goals
from judgekit.report.console import fmt_cost, fmt_goal, fmt_latency, fmt_score
from judgekit.store import ExperimentRow, RunRow, Store
from judgekit.summary import summarize
from judgekit.types import CallRecord, CaseResult, Example, Score
from judgekit.viewer.pareto import Plot, plot

__all__ = ["CaseView", "PageData", "VariantView", "page_data", "store_version"]


@dataclass
class VariantView:
    """One experiment (a variant of a run) as a row of the comparison table."""

    id: str
    run_id: str
    label: str
    cells: dict[str, str]
    goals: list[tuple[str, bool | None]]  # (text, met)
    accuracy: float | None
    cost_per_1k: float | None


@dataclass
class CaseView:
    """One case with everything the drawer shows; ``flags`` drive the filters."""

    index: int
    experiment: str
    example_id: str
    repetition: int
    inputs: str
    reference: str
    outputs: str
    error: str | None
    scores: list[Score]
    calls: list[CallRecord]
    flags: list[str] = field(default_factory=list)
    passed: bool | None = None

    @property
    def status(self) -> str:
        """``error``, ``failed``, ``unscored`` or ``passed``: the row's badge."""
        for flag in ("error", "failed", "unscored"):
            if flag in self.flags:
                return flag
        return "skipped" if self.passed is None else "passed"


@dataclass
class PageData:
    """The whole page: runs, comparison, plot and cases."""

    runs: list[RunRow]
    columns: list[str]
    variants: list[VariantView]
    plot: Plot
    unplotted: list[str]
    cases: list[CaseView]
    version: str


def store_version(store: Store, run_ids: Sequence[str]) -> str:
    """A fingerprint that changes whenever a case, a summary or a run's status is written:
    the live viewer polls it and redraws when it moves."""
    marks = ",".join("?" * len(run_ids))
    n_cases, last_case = store.db.execute(
        f"SELECT COUNT(*), COALESCE(MAX(c.id), 0) FROM cases c JOIN experiments x"
        f" ON x.id = c.experiment_id WHERE x.run_id IN ({marks})", tuple(run_ids)).fetchone()
    status = store.db.execute(
        f"SELECT group_concat(status || COALESCE(finished_at, ''), '|') FROM runs"
        f" WHERE id IN ({marks})", tuple(run_ids)).fetchone()[0]
    n_summaries = store.db.execute(
        f"SELECT COUNT(summary) FROM experiments WHERE run_id IN ({marks})",
        tuple(run_ids)).fetchone()[0]
    return f"{n_cases}.{last_case}.{n_summaries}.{status}"


def _summary(store: Store, exp: ExperimentRow) -> tuple[Mapping[str, Any], list[Any]]:
    if exp.summary is not None:
        return exp.summary, list(exp.goal_results or [])
    summary = summarize(store, exp.id, exp.repeat)
    goals: list[Any] = []
    if exp.goals:
        g = dict(exp.goals)
        acc = g.get("accuracy")
        goals = [r.to_dict() for r in Goals(
            accuracy=(acc[0], acc[1]) if acc else None, scores=g.get("scores") or {},
            cost_per_1k=g.get("cost_per_1k"), mean_latency_s=g.get("mean_latency_s"),
            p50_latency_s=g.get("p50_latency_s"),
            p99_latency_s=g.get("p99_latency_s")).check(summary)]
    return summary, goals


def _score_cell(entry: Mapping[str, Any] | None) -> str:
    if entry is None:
        return "–"
    if entry.get("mean") is None and entry.get("n_skipped"):
        return "skipped"
    text = fmt_score(entry.get("mean"))
    if entry.get("std") is not None:
        text += f" ±{fmt_score(entry['std'])}"
    if entry.get("n_unscored"):
        text += f" ({entry['n_unscored']} ?)"
    if entry.get("n_error"):
        text += f" ({entry['n_error']} err)"
    return text


def _pretty(value: Any) -> str:
    if isinstance(value, str):
        return value
    return json.dumps(value, indent=2, ensure_ascii=False, default=str)


def _flags(case: CaseResult) -> list[str]:
    flags = []
    if (case.error is not None and not case.error.skipped) or any(
            s.status == "error" for s in case.scores):
        flags.append("error")
    if any(s.failed for s in case.scores):
        flags.append("failed")
    if any(s.status == "unscored" for s in case.scores):
        flags.append("unscored")
    return flags


def page_data(store: Store, runs: Sequence[RunRow]) -> PageData:
    """Read everything one page shows about ``runs`` (one or several, compared)."""
    exps = [(run, exp) for run in runs for exp in store.experiments(run.id)]
    summaries = {exp.id: _summary(store, exp) for _, exp in exps}
    keys: list[str] = []
    for summary, _ in summaries.values():
        keys += [k for k in summary.get("scores", {}) if k not in keys]
    metric = next((exp.goals["accuracy"][0] for _, exp in exps
                   if exp.goals and exp.goals.get("accuracy")), None)
    many = len(runs) > 1
    variants: list[VariantView] = []
    acc_goals: list[float] = []
    cost_goals: list[float] = []
    for run, exp in exps:
        summary, goals = summaries[exp.id]
        cells = {k: _score_cell(summary.get("scores", {}).get(k)) for k in keys}
        latency = summary.get("latency_s", {})
        cost = summary.get("cost_usd", {}).get("per_1k_cases")
        cells.update({"pass": fmt_score(summary.get("pass_rate")),
                      "errors": str(summary.get("n_errors", 0)),
                      "cost/1k": fmt_cost(cost), "p50": fmt_latency(latency.get("p50")),
                      "p99": fmt_latency(latency.get("p99"))})
        entry = summary.get("scores", {}).get(metric) if metric else None
        accuracy = entry.get("mean") if entry else summary.get("pass_rate")
        for g in goals:
            gr = GoalResult.from_dict(g)
            bucket = acc_goals if gr.metric == metric else cost_goals \
                if gr.name == "cost" else None
            if bucket is not None and gr.target not in bucket:
                bucket.append(gr.target)
        variants.append(VariantView(
            exp.id, run.id, f"{exp.variant_label} ({run.id})" if many else exp.variant_label,
            cells, [(fmt_goal(g).plain, g.get("met")) for g in goals], accuracy, cost))
    placed = [v for v in variants if v.accuracy is not None and v.cost_per_1k is not None]
    chart = plot([(v.label, float(v.cost_per_1k or 0.0), float(v.accuracy or 0.0))
                  for v in placed], metric or "pass rate",
                 accuracy_goals=acc_goals, cost_goals=cost_goals)
    cases = _cases(store, [(v, exp) for v, (_, exp) in zip(variants, exps, strict=True)])
    return PageData(list(runs), [*keys, "pass", "errors", "cost/1k", "p50", "p99"], variants,
                    chart, [v.label for v in variants if v not in placed], cases,
                    store_version(store, [r.id for r in runs]))


def _cases(store: Store, exps: Sequence[tuple[VariantView, ExperimentRow]]) -> list[CaseView]:
    examples: dict[str, dict[str, Example]] = {}
    cases: list[CaseView] = []
    outcomes: dict[tuple[str, int], set[bool]] = {}
    for variant, exp in exps:
        if exp.dataset_version not in examples:
            examples[exp.dataset_version] = {e.id: e for e in store.examples(exp.dataset_version)}
        known = examples[exp.dataset_version]
        for case in store.iter_cases(exp.id):
            ex = known.get(case.example_id)
            ran = case.error is None or not case.error.skipped
            view = CaseView(
                len(cases), variant.label, case.example_id, case.repetition,
                _pretty(dict(ex.inputs)) if ex else "", _pretty(ex.reference) if ex else "",
                _pretty(case.outputs), str(case.error) if case.error else None,
                list(case.scores), list(case.calls), _flags(case),
                case.passed if ran else None)
            if view.passed is not None:
                outcomes.setdefault((case.example_id, case.repetition), set()).add(view.passed)
            cases.append(view)
    # "changed": the same example passed in one opened experiment and not in another.
    for view in cases:
        if len(outcomes.get((view.example_id, view.repetition), ())) > 1:
            view.flags.append("changed")
    return cases
