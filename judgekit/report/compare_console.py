"""The terminal view of a comparison: one table of metrics, cost and latency against the
baseline, the cases that changed, and the decisions asked for.

Labels, outputs and judge reasoning are data: they go into :class:`rich.text.Text` objects,
never through markup, so ``[red]`` or ``<script>`` in a model's reply prints as written.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from rich.table import Table
from rich.text import Text

from judgekit._json import dumps
from judgekit.decide.decisions import percent
from judgekit.report.console import fmt_cost, fmt_latency, fmt_score

if TYPE_CHECKING:
    from rich.console import Console

    from judgekit.decide import (
        BreakEven,
        CascadeResult,
        CascadeSearch,
        Comparison,
        Mpi,
        Pick,
        Projection,
    )
    from judgekit.decide.columns import CaseDetail

__all__ = ["render_break_even", "render_cascade", "render_changes", "render_comparison",
           "render_mpi", "render_pick", "render_projection", "render_search"]


def _delta(value: float | None, *, points: bool) -> str:
    if value is None:
        return "–"
    if points:  # a difference of shares reads in percentage points
        return f"{value * 100:+.1f} pt"
    return f"{value:+.3g}"


def _p(value: float | None) -> str:
    if value is None:
        return "–"
    return "<0.001" if value < 0.001 else f"{value:.3f}"


def _excluded(counts: dict[str, int]) -> str:
    return ", ".join(f"{n} {name}" for name, n in counts.items() if n) or "–"


def _money_delta(value: float | None, base: float | None) -> str:
    if value is None or base is None:
        return "–"
    diff = value - base
    ratio = f" ({percent(value / base)})" if base else ""
    sign = "+" if diff >= 0 else "−"
    return f"{sign}{fmt_cost(abs(diff))}{ratio}"


def _seconds_delta(value: float | None, base: float | None) -> str:
    if value is None or base is None:
        return "–"
    sign = "+" if value >= base else "−"
    return f"{sign}{fmt_latency(abs(value - base))}"


def render_comparison(comparison: Comparison, console: Console) -> None:
    """Print the comparison table and its warnings."""
    base = comparison.variants[0]
    console.print(Text(f"{len(comparison.variants)} variants on {comparison.shared} shared "
                       f"examples; baseline {base.label} ({base.experiment_id}); paired tests, "
                       f"alpha {comparison.alpha:g}, {comparison.resamples:,} resamples, "
                       f"seed {comparison.seed}"))
    for w in comparison.warnings:
        console.print(Text(f"warning: {w}", style="yellow"))
    level = f"{(1 - comparison.alpha) * 100:g}% CI"
    table = Table(header_style="bold", box=None, pad_edge=False)
    for name in ("metric", "variant", "value", "Δ vs baseline", level, "p", "pairs",
                 "left out"):
        table.add_column(name, justify="left" if name in ("metric", "variant", "left out")
                         else "right")
    for m in comparison.metrics:
        points = m.kind == "pass_fail"
        test_name = "McNemar" if points else "paired t"
        for i, row in enumerate(m.rows):
            metric_cell = Text(m.key if i == 0 else "")
            if i == 0:
                metric_cell.append(f" ({test_name})", style="dim")
            if row.test is None:
                table.add_row(metric_cell, Text(row.label), fmt_score(row.value), "baseline",
                              "", "", "", "")
                continue
            t = row.test
            style = "red" if row.regression else ("green" if row.improvement else "")
            mark = " ▼" if row.regression else (" ▲" if row.improvement else "")
            ci = "–" if t.ci is None else \
                f"[{_delta(t.ci[0], points=points)}, {_delta(t.ci[1], points=points)}]"
            table.add_row(metric_cell, Text(row.label), fmt_score(row.value),
                          Text(_delta(t.delta, points=points) + mark, style=style), ci,
                          Text(_p(t.p_value), style=style), str(t.n_pairs),
                          _excluded(row.excluded))
        table.add_section()
    for i, v in enumerate(comparison.variants):
        table.add_row("cost/1k (target)" if i == 0 else "", Text(v.label),
                      fmt_cost(v.target_per_1k),
                      "baseline" if i == 0 else _money_delta(v.target_per_1k, base.target_per_1k),
                      "", "", "", "")
    for i, v in enumerate(comparison.variants):
        table.add_row("cost/1k (judges)" if i == 0 else "", Text(v.label),
                      fmt_cost(v.judge_per_1k),
                      "baseline" if i == 0 else _money_delta(v.judge_per_1k, base.judge_per_1k),
                      "", "", "", "")
    table.add_section()
    for stat in ("p50", "p99"):
        for i, v in enumerate(comparison.variants):
            value = v.p50_latency_s if stat == "p50" else v.p99_latency_s
            base_value = base.p50_latency_s if stat == "p50" else base.p99_latency_s
            table.add_row(f"latency {stat}" if i == 0 else "", Text(v.label),
                          fmt_latency(value),
                          "baseline" if i == 0 else _seconds_delta(value, base_value),
                          "", "", "", "")
    console.print(table)
    regressions = comparison.regressions()
    if regressions:
        names = ", ".join(f"{key} on {r.label}" for key, r in regressions)
        console.print(Text(f"regression (p < {comparison.alpha:g}): {names}", style="red"))


def _short(value: Any, width: int) -> str:
    text = value if isinstance(value, str) else dumps(value)
    text = " ".join(str(text).split())  # one line: a reply's newlines would break the list
    return text if len(text) <= width else text[:width - 1] + "…"


def _verdict(d: CaseDetail) -> str:
    if d.status != "ok":
        return d.status
    if d.passed is not None:
        return "pass" if d.passed else "fail"
    return "–" if d.score is None else f"{d.score:.3g}"


def _side(d: CaseDetail) -> str:
    return d.error if d.error else _short(d.outputs, 120)


def render_changes(comparison: Comparison, console: Console, *, kinds: Sequence[str],
                   limit: int | None) -> None:
    """Print the cases that changed against the baseline, ``limit`` per variant and kind."""
    base = comparison.labels[0]
    for label in comparison.labels[1:]:
        for kind in kinds:
            shown, total = comparison.changes(label, kind, limit=limit)
            if not total:
                continue
            title = {"regression": "regressions", "improvement": "improvements",
                     "different": "cases that differ"}[kind]
            console.print(Text(f"\n{title}: {label} vs {base} on {shown[0].metric} ({total})",
                               style="bold"))
            for change in shown:
                b, v = change.baseline, change.variant
                rep = f" #{b.repetition}" if b.repetition else ""
                console.print(Text(f"  {b.example_id}{rep}: {_verdict(b)} → {_verdict(v)}"))
                console.print(Text(f"    {base}: {_side(b)}", style="dim"))
                console.print(Text(f"    {label}: {_side(v)}"))
                reason = v.comment or b.comment
                if reason:
                    console.print(Text(f"    judge: {_short(reason, 240)}", style="dim"))
            if total > len(shown):
                console.print(Text(f"  … and {total - len(shown)} more (--limit N shows more)",
                                   style="dim"))


def render_pick(pick: Pick, console: Console) -> None:
    """Print the pick."""
    console.print(Text(f"\npick: {pick.sentence}", style="bold green" if pick.chosen else "red"))


def render_break_even(result: BreakEven, console: Console) -> None:
    """Print the break-even accuracy and each variant's net value."""
    console.print(Text(f"\nbreak-even accuracy {result.accuracy_needed * 100:.1f}% "
                       f"(value {result.value_per_item:g} per item, {result.cost_per_error:g} "
                       "lost per error)", style="bold"))
    table = Table(header_style="bold", box=None, pad_edge=False)
    for name in ("variant", "accuracy", "clears", "net value / 1k items"):
        table.add_column(name, justify="left" if name == "variant" else "right")
    for r in result.rows:
        clears = "–" if r.clears is None else ("✓" if r.clears else "✗")
        table.add_row(Text(r.label), fmt_score(r.accuracy),
                      Text(clears, style="green" if r.clears else "red"),
                      "–" if r.net_per_1k is None else f"{r.net_per_1k:,.2f}")
    console.print(table)


def render_projection(result: Projection, console: Console) -> None:
    """Print projected costs."""
    console.print(Text(f"\ncost for {result.items:,} items (target calls at list price)",
                       style="bold"))
    table = Table(header_style="bold", box=None, pad_edge=False)
    for name in ("variant", "calls", "training", "total"):
        table.add_column(name, justify="left" if name == "variant" else "right")
    for r in result.rows:
        table.add_row(Text(r.label), fmt_cost(r.run_cost), fmt_cost(r.training_cost),
                      fmt_cost(r.total))
    console.print(table)


def render_mpi(result: Mpi, console: Console) -> None:
    """Print the MPI matrix."""
    console.print(Text(f"\nMPI on {result.metric}: share of examples the row gets wrong and "
                       "the column right", style="bold"))
    table = Table(header_style="bold", box=None, pad_edge=False)
    table.add_column("wrong \\ right")
    for label in result.labels:
        table.add_column(Text(label), justify="right")
    for label, row in zip(result.labels, result.share, strict=True):
        table.add_row(Text(label), *("–" if s is None else fmt_score(s) for s in row))
    console.print(table)


def render_cascade(result: CascadeResult, console: Console) -> None:
    """Print one simulated cascade."""
    console.print(Text(f"\ncascade {result.describe()} on {result.signal}: accuracy "
                       f"{fmt_score(result.accuracy)}, {fmt_cost(result.cost_per_1k)} per 1k "
                       f"({result.n_cases} cases)", style="bold"))
    shares = ", ".join(f"{label} {percent(s)}" for label, s in
                       zip(result.order, result.answered_by, strict=True))
    console.print(Text(f"  answered by: {shares}"))


def render_search(result: CascadeSearch, console: Console) -> None:
    """Print the best cascade under the budget and the accuracy-vs-cost frontier."""
    budget = "" if result.budget is None else f" under {fmt_cost(result.budget)} per 1k"
    held = f", {result.n_holdout} held out" if result.n_holdout else ""
    console.print(Text(f"\ncascades on {result.signal} ({result.evaluated:,} tried on "
                       f"{result.n_fit} cases{held})", style="bold"))
    for w in result.warnings:
        console.print(Text(f"warning: {w}", style="yellow"))
    if result.best is None:
        console.print(Text(f"  no cascade{budget}", style="red"))
    else:
        b = result.best
        console.print(Text(f"  best{budget}: {b.describe()}: accuracy {fmt_score(b.accuracy)}, "
                           f"{fmt_cost(b.cost_per_1k)} per 1k"))
        if result.best_holdout is not None:
            h = result.best_holdout
            console.print(Text(f"  on the {h.n_cases} held-out cases: accuracy "
                               f"{fmt_score(h.accuracy)}, {fmt_cost(h.cost_per_1k)} per 1k"))
        else:
            console.print(Text("  measured on the cases the thresholds were fitted to: "
                               "optimistic (--holdout 0.3 reports on unseen cases)",
                               style="dim"))
    table = Table(title="accuracy-vs-cost frontier", header_style="bold", box=None,
                  pad_edge=False)
    for name in ("cascade", "accuracy", "cost/1k"):
        table.add_column(name, justify="left" if name == "cascade" else "right")
    for r in result.frontier:
        table.add_row(Text(r.describe()), fmt_score(r.accuracy), fmt_cost(r.cost_per_1k))
    console.print(table)
