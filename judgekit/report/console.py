"""The terminal: a live progress bar per variant, then one comparison table (UX.md).

Progress goes to stderr and is replaced by the summary when done; when stderr is not a terminal
it prints one plain line per variant as it finishes instead. The table goes to stdout.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.measure import Measurement
from rich.table import Table
from rich.text import Text

from judgekit.goals import GoalResult
from judgekit.runner import ExperimentPlan, RunPlan
from judgekit.store import ExperimentRow, Store
from judgekit.types import CaseResult

if TYPE_CHECKING:
    from rich.progress import Progress, TaskID

    from judgekit.models.batch import BatchState

__all__ = [
    "ConsoleProgress",
    "fmt_cost",
    "fmt_latency",
    "fmt_score",
    "render_table",
    "table_console",
]


def fmt_score(mean: float | None) -> str:
    """0.713 → ``71%``; numbers outside 0..1 keep two decimals."""
    if mean is None:
        return "–"
    if 0.0 <= mean <= 1.0:
        return f"{mean * 100:.0f}%"
    return f"{mean:.2f}"


def fmt_cost(usd: float | None) -> str:
    """Dollars, with ``?`` for an unknown price (never ``$0.00`` for a priced model)."""
    if usd is None:
        return "?"
    return f"${usd:.2f}" if usd >= 0.01 or usd == 0 else f"${usd:.4f}"


def fmt_latency(seconds: float | None) -> str:
    """0.0001 → ``0.1 ms``; 1.93 → ``1.9 s``."""
    if seconds is None:
        return "–"
    if seconds < 1.0:
        return f"{seconds * 1000:.1f} ms" if seconds < 0.1 else f"{seconds * 1000:.0f} ms"
    return f"{seconds:.1f} s"


def _fmt_goal_value(g: GoalResult, value: float | None) -> str:
    if value is None:
        return "unknown"
    if g.name == "cost":
        return fmt_cost(value)
    if g.metric.startswith("latency_"):
        return fmt_latency(value)
    return fmt_score(value)


def fmt_goal(goal: Mapping[str, Any]) -> Text:
    """``✓ accuracy`` or ``✗ accuracy 71% < 90%``."""
    g = GoalResult.from_dict(goal)
    label = g.name if g.name != "score" else g.metric
    if g.skipped:
        return Text(f"– {label} skipped", style="yellow")
    if g.met:
        return Text(f"✓ {label}", style="green")
    bad_op = "<" if g.op == ">=" else ">"
    return Text(f"✗ {label} {_fmt_goal_value(g, g.actual)} {bad_op} "
                f"{_fmt_goal_value(g, g.target)}", style="red")


def _score_keys(rows: Sequence[ExperimentRow]) -> list[str]:
    keys: list[str] = []
    for row in rows:
        for key in (row.summary or {}).get("scores", {}):
            if key not in keys:
                keys.append(key)
    return keys


def table_console(*, stderr: bool = False) -> Console:
    """A stdout (or stderr) console; wide when not a terminal so piped tables are never cut.

    ``emoji=False``: labels, comments and suite names are data, shown as written (a comment
    holding ":+1:" is not a thumb), and rich's emoji table (~1.4 ms) is never loaded.
    """
    console = Console(stderr=stderr, emoji=False)
    return console if console.is_terminal else Console(stderr=stderr, width=200,
                                                       soft_wrap=False, emoji=False)


def _goal_label(goal: Mapping[str, Any]) -> str:
    g = GoalResult.from_dict(goal)
    label = g.metric if g.name == "score" else g.name
    if g.name == "accuracy":
        label = g.metric
    return f"{label} {'≥' if g.op == '>=' else '≤'} {_fmt_goal_value(g, g.target)}"


def _goal_cell(goal: Mapping[str, Any]) -> Text:
    g = GoalResult.from_dict(goal)
    if g.skipped:
        return Text("– skipped", style="yellow")
    return Text(f"{'✓' if g.met else '✗'} {_fmt_goal_value(g, g.actual)}",
                style="green" if g.met else "red")


# skip reason -> (score keys, variant labels) it skipped
_Footnotes = dict[str, tuple[list[str], list[str]]]
_METRIC_COLUMNS = ("pass", "errors", "cost/1k", "p50", "p99")


def _skipped_cell(footnotes: _Footnotes, reason: str, *, score: str = "",
                  variant: str = "") -> Text:
    """A ``skipped¹`` cell, recording the score or variant under the reason's footnote."""
    # One footnote per distinct fix ("set OPENAI_API_KEY ..."), naming every score and
    # variant it skipped, so a missing key reads as one line however many there are.
    scores, variants = footnotes.setdefault(reason, ([], []))
    for names, name in ((scores, score), (variants, variant)):
        if name and name not in names:
            names.append(name)
    return Text(f"skipped{_sup(list(footnotes).index(reason) + 1)}", style="yellow")


def _score_cell(store: Store, row: ExperimentRow, key: str, entry: Mapping[str, Any] | None,
                footnotes: _Footnotes) -> Text | str:
    """One variant's cell for score ``key``: mean ± std with its unscored and error counts."""
    if entry is None:
        return "–"
    n_skipped, n_unscored = entry.get("n_skipped", 0), entry.get("n_unscored", 0)
    if entry.get("mean") is None and n_skipped:
        return _skipped_cell(footnotes, _skip_reason(store, row.id, key) or "skipped", score=key)
    text = fmt_score(entry.get("mean"))
    if entry.get("std") is not None:
        text += f" ±{fmt_score(entry['std'])}"
    if n_unscored:
        text += f" ({n_unscored} ?)"
    if entry.get("n_error"):
        # The mean is over ok verdicts; say how many cases it could not include.
        text += f" ({entry['n_error']} err)"
    return text


def _table_columns(store: Store, rows: Sequence[ExperimentRow],
                   footnotes: _Footnotes) -> tuple[dict[str, list[Any]], int]:
    """Every column's cells, one per variant in variant order, and the unscored total."""
    keys = _score_keys(rows)
    unscored_total = 0
    columns: dict[str, list[Any]] = {key: [] for key in keys}
    for name in _METRIC_COLUMNS:
        columns[name] = []
    for row in rows:
        summary = row.summary or {}
        if summary.get("skipped"):
            cell = _skipped_cell(footnotes, summary["skipped"], variant=row.variant_label)
            for key in keys:
                columns[key].append(cell)
            for name in _METRIC_COLUMNS:
                columns[name].append("–")
            continue
        for key in keys:
            entry = summary.get("scores", {}).get(key)
            columns[key].append(_score_cell(store, row, key, entry, footnotes))
            if entry is not None and not (entry.get("mean") is None
                                          and entry.get("n_skipped", 0)):
                unscored_total += entry.get("n_unscored", 0)
        cost = summary.get("cost_usd", {})
        latency = summary.get("latency_s", {})
        n_err = summary.get("n_errors", 0)
        columns["pass"].append(fmt_score(summary.get("pass_rate")))
        columns["errors"].append(Text(str(n_err), style="red" if n_err else ""))
        columns["cost/1k"].append(fmt_cost(cost.get("per_1k_cases")))
        columns["p50"].append(fmt_latency(latency.get("p50")))
        columns["p99"].append(fmt_latency(latency.get("p99")))
    return columns, unscored_total


def _wide_table(rows: Sequence[ExperimentRow], columns: dict[str, list[Any]]) -> Table:
    """A row per variant, a column per metric, and the goals at the end."""
    table = Table(header_style="bold", box=None, pad_edge=False)
    table.add_column("variant", no_wrap=True)
    for name in columns:
        table.add_column(name, justify="right", no_wrap=True)
    table.add_column("goals", no_wrap=True)
    for i, row in enumerate(rows):
        goals = row.goal_results or []
        table.add_row(row.variant_label, *(cells[i] for cells in columns.values()),
                      Text("  ").join(fmt_goal(g) for g in goals) if goals else Text("–"))
    return table


def _tall_table(rows: Sequence[ExperimentRow], columns: dict[str, list[Any]]) -> Table:
    """Metrics and goals down the side, variants across the top."""
    table = Table(header_style="bold", box=None, pad_edge=False)
    table.add_column("", no_wrap=True)
    for row in rows:
        table.add_column(row.variant_label, justify="right", no_wrap=True)
    for name, cells in columns.items():
        table.add_row(name, *cells)
    goal_labels: list[str] = []
    for row in rows:
        for g in row.goal_results or []:
            if _goal_label(g) not in goal_labels:
                goal_labels.append(_goal_label(g))
    for label in goal_labels:
        goal_cells: list[Any] = []
        for row in rows:
            match = [g for g in row.goal_results or [] if _goal_label(g) == label]
            goal_cells.append(_goal_cell(match[0]) if match else "–")
        table.add_row(Text(f"goal {label}", style="bold"), *goal_cells)
    return table


def _print_footnotes(store: Store, run_id: str, rows: Sequence[ExperimentRow],
                     console: Console, footnotes: _Footnotes, unscored_total: int) -> None:
    """The lines under the table explaining its skipped, ``?``, ``(n ?)`` and error cells."""
    for i, (reason, (scores, variants)) in enumerate(footnotes.items(), start=1):
        console.print(f" {_sup(i)} skipped {_skipped_names(scores, variants)} — {reason}",
                      highlight=False)
    unpriced = _unpriced_models(store, rows)
    if unpriced:
        console.print(f" ? = cost unknown: no price for {', '.join(unpriced)}; add one under "
                      "[tool.judgekit.prices] in pyproject.toml (USD per 1M tokens)",
                      highlight=False, markup=False)
    if unscored_total:
        console.print(f" (n ?) = verdicts unscored: the evaluator reached no verdict — "
                      f"`judgekit show {run_id} --unscored`", highlight=False)
    if any(r.summary and r.summary.get("n_errors") for r in rows):
        # A rescore ran no target: its errors are the original run's, redone there.
        redo = store.get_run(run_id).rescore_of or run_id
        console.print(f" errors: cases whose target raised — `judgekit show {run_id} --errors`;"
                      f" redo them with `--retry-errors {redo}`", highlight=False)


def render_table(store: Store, run_id: str, suite: str, rows: Sequence[ExperimentRow],
                 console: Console, *, show_hints: bool = True) -> None:
    """Print the comparison (a row per variant, or a column per variant when that is too wide
    for the terminal) and its footnotes."""
    footnotes: _Footnotes = {}
    columns, unscored_total = _table_columns(store, rows, footnotes)
    table = _wide_table(rows, columns)
    natural = Measurement.get(console, console.options.update_width(100_000), table).maximum
    if natural > console.width:
        # Too many scores to read across: metrics down the side, variants across the top.
        table = _tall_table(rows, columns)
    console.print()
    console.print(Text(f"{suite} (run {run_id})", style="bold"))
    console.print(table)
    console.print()
    _print_footnotes(store, run_id, rows, console, footnotes, unscored_total)
    if show_hints:
        console.print(f" Stored in {store.path} · `judgekit show {run_id}`", highlight=False)


_SUPERSCRIPTS = str.maketrans("0123456789", "⁰¹²³⁴⁵⁶⁷⁸⁹")


def _sup(n: int) -> str:
    return str(n).translate(_SUPERSCRIPTS)


def _unpriced_models(store: Store, rows: Sequence[ExperimentRow]) -> list[str]:
    """Models whose calls in these experiments had no known price (what makes a cost ``?``)."""
    ids = [r.id for r in rows]
    if not ids:
        return []
    marks = ",".join("?" * len(ids))
    return [m for (m,) in store.db.execute(
        f"SELECT DISTINCT model FROM calls WHERE experiment_id IN ({marks})"
        " AND cost_usd IS NULL AND cache_hit=0 AND error IS NULL ORDER BY model", ids)]


def _skipped_names(scores: Sequence[str], variants: Sequence[str]) -> str:
    """``cot_qa and variants gpt-4o-mini, gpt-4o``."""
    parts = [", ".join(scores)] if scores else []
    if variants:
        parts.append(f"variant{'s' if len(variants) > 1 else ''} {', '.join(variants)}")
    return " and ".join(parts)


def _skip_reason(store: Store, experiment_id: str, key: str) -> str | None:
    """The fix a skipped score names: its ``configure`` metadata (a judge's "set
    OPENAI_API_KEY ..."), else its comment."""
    row = store.db.execute(
        "SELECT comment, metadata FROM scores WHERE experiment_id=? AND key=?"
        " AND status='skipped' LIMIT 1", (experiment_id, key)).fetchone()
    if row is None:
        return None
    configure = json.loads(row[1] or "{}").get("configure") if row[1] else None
    return str(configure or row[0] or f"{key} was skipped")


def _judges(plan: RunPlan) -> str:
    """`` · judge gpt-4o`` for the header line when the suite has LLM judges."""
    models = list(dict.fromkeys(m for e in plan.suite.evaluators
                                if (m := e.judge_model) is not None))
    return f" · judge {', '.join(models)}" if models else ""


class ConsoleProgress:
    """Live progress per variant on stderr; plain lines when stderr is not a terminal."""

    def __init__(self, console: Console | None = None) -> None:
        self.console = console or Console(stderr=True, emoji=False)
        self.live = self.console.is_terminal
        self.progress: Progress | None = None
        self.tasks: dict[str, TaskID] = {}
        self.started = time.monotonic()

    def start(self, plan: RunPlan) -> None:
        """Print the header line and open one bar per variant."""
        n_var = len(plan.experiments)
        resumed = " (resumed)" if plan.resumed else ""
        from judgekit._version import __version__

        self.console.print(
            f"judgekit {__version__} · {plan.suite.qualname} · {plan.n_examples} examples × "
            f"{n_var} variant{'s' if n_var != 1 else ''}"
            f"{f' × {plan.repeat} repeats' if plan.repeat > 1 else ''}{_judges(plan)}"
            f" · run {plan.run_id}{resumed}", highlight=False)
        if not self.live:
            return
        # Only a terminal gets bars: rich.progress (~4 ms) is not loaded for CI logs and pipes.
        from rich.progress import (
            BarColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )

        self.progress = Progress(
            TextColumn("{task.description}", style="bold"), BarColumn(),
            TextColumn("{task.completed}/{task.total}"), TimeElapsedColumn(),
            TimeRemainingColumn(), TextColumn("{task.fields[status]}"),
            console=self.console, transient=True,
        )
        width = max(len(e.label) for e in plan.experiments)
        for exp in plan.experiments:
            done = len(exp.done)
            self.tasks[exp.id] = self.progress.add_task(
                exp.label.ljust(width), total=exp.n_expected, completed=done, status="")
        self.progress.start()

    def case_done(self, experiment: ExperimentPlan, case: CaseResult) -> None:
        """Advance the variant's bar and its running pass rate and cost."""
        ran = experiment.n_done - experiment.n_skipped
        status = f"pass {fmt_score(experiment.n_passed / ran)}" if ran else "skipped"
        if self.progress is None:
            if len(experiment.done) == experiment.n_expected:
                self.console.print(
                    f" {experiment.label}: {len(experiment.done)}/{experiment.n_expected} done,"
                    f" {status}", highlight=False)
            return
        if experiment.cost_usd:
            status += f"  {fmt_cost(experiment.cost_usd)}"
        elif experiment.cost_usd is None:
            status += "  $?"
        self.progress.update(self.tasks[experiment.id], advance=1, status=status)

    def batch_state(self, state: BatchState) -> None:
        """Show where a batch job is (``--batch``): a bar of its own, or one line per change."""
        from rich.markup import escape

        # The provider names the job and its status: shown as text, never as markup.
        line = (f"{state.status} {state.completed}/{state.total}"
                + (f", {state.failed} failed" if state.failed else ""))
        if self.progress is None:
            self.console.print(f" batch {escape(state.batch_id)} ({escape(state.model)}): "
                               f"{escape(line)}", highlight=False)
            return
        task = self.tasks.get(state.batch_id)
        if task is None:
            task = self.tasks[state.batch_id] = self.progress.add_task(
                escape(f"batch {state.batch_id}"), total=state.total or None, status="")
        self.progress.update(task, completed=state.completed + state.failed,
                             total=state.total or None, status=escape(state.status))

    def finish(self, plan: RunPlan) -> None:
        """Close the bars (they disappear; the table replaces them)."""
        if self.progress is not None:
            self.progress.stop()
            self.progress = None
