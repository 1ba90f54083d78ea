"""``judgekit runs``, ``judgekit show RUN`` and ``judgekit evaluators``."""

from __future__ import annotations

import argparse
import datetime as dt
from pathlib import Path
from typing import Any

from rich.table import Table

from judgekit.report.console import fmt_cost, fmt_score, render_table, table_console
from judgekit.store import ExperimentRow, Store, default_store_path

__all__ = ["evaluators", "runs", "show"]


def _when(ts: float) -> str:
    return dt.datetime.fromtimestamp(ts).strftime("%Y-%m-%d %H:%M")


def _headline(row: ExperimentRow) -> str:
    """The goal's accuracy metric, else the first two scores, as ``key 71%``."""
    scores = (row.summary or {}).get("scores", {})
    goal_key = (row.goals or {}).get("accuracy")
    keys = [goal_key[0]] if goal_key and goal_key[0] in scores else list(scores)[:2]
    return "  ".join(f"{k} {fmt_score(scores[k].get('mean'))}" for k in keys)


def runs(args: argparse.Namespace) -> int:
    """List stored experiments, newest run first."""
    console = table_console()
    path = Path(args.store) if args.store else default_store_path()
    if not path.is_file():  # listing creates nothing
        console.print(f"no runs in {path} yet: `judgekit eval suites/reviews.py`")
        return 0
    with Store(path) as store:
        run_rows = store.list_runs(limit=args.limit)
        if not run_rows:
            console.print(f"no runs in {store.path} yet: `judgekit eval suites/reviews.py`")
            return 0
        table = Table(box=None, header_style="bold", pad_edge=False)
        for col in ("id", "suite", "variant", "when", "n", "scores", "cost/1k", "status"):
            table.add_column(col, justify="right" if col in ("n", "cost/1k") else "left")
        for run in run_rows:
            probed = run.config.get("probe") if isinstance(run.config, dict) else None
            if run.config.get("probe_of") and isinstance(probed, dict):
                # A probe run has no experiments: one row with its headline measures.
                table.add_row(run.id, f"{run.suite} (probe of {run.config['probe_of']})",
                              str(probed.get("judge")), _when(run.created_at),
                              str(probed.get("n_cases")), _probe_headline(probed), "–",
                              run.status)
                continue
            for exp in store.experiments(run.id):
                summary = exp.summary or {}
                n = summary.get("n_cases", len(store.finished_cases(exp.id)))
                skipped = bool(summary.get("skipped"))
                original = run.rescore_of
                suite = f"{run.suite} (rescore of {original})" if original else run.suite
                table.add_row(exp.id, suite, exp.variant_label, _when(run.created_at),
                              f"{n}/{exp.n_expected}" if n != exp.n_expected else str(n),
                              "–" if skipped else _headline(exp),
                              fmt_cost(summary.get("cost_usd", {}).get("per_1k_cases"))
                              if summary and not skipped else "–",
                              "skipped" if skipped else run.status)
        console.print(table)
    return 0


def _probe_headline(probed: dict[str, Any]) -> str:
    """``shift +0.250 stable 0.67 swap 1.00`` from a stored probe (``judgekit probe``)."""
    shift = (probed.get("verbosity") or {}).get("mean_shift")
    stable = (probed.get("stability") or {}).get("stable_rate")
    position = probed.get("position")
    swap = position.get("consistent_rate") if isinstance(position, dict) else None
    return (f"shift {'–' if shift is None else f'{shift:+.3f}'} "
            f"stable {'–' if stable is None else f'{stable:.2f}'}"
            + ("" if swap is None else f" swap {swap:.2f}"))


def _comment(text: str | None, limit: int = 300) -> str:
    text = " ".join((text or "").split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def show(args: argparse.Namespace) -> int:
    """Print a run's table and its failing (or unscored, or errored) cases."""
    console = table_console(stderr=args.json == "-")  # `--json -` owns stdout
    with Store.existing(args.store) as store:
        run = store.get_run(args.run)
        rows = store.experiments(run.id)
        suite = f"{run.path}::{run.suite}" if run.path else run.suite
        original = run.rescore_of
        link = f" · rescore of {original}" if original else ""
        console.print(f"run {run.id} · {suite}{link} · {run.status} · {_when(run.created_at)}",
                      highlight=False, markup=False)
        if run.status in ("running", "interrupted"):
            console.print(f" incomplete: finish it with `judgekit eval {suite} --resume {run.id}`",
                          highlight=False)
        render_table(store, run.id, suite, rows, console, show_hints=False)
        want = "unscored" if args.unscored else "errors" if args.errors else "failed"
        limit = None if args.all else 20
        for exp in rows:
            listed = 0
            header_done = False
            hidden = 0
            for case in store.iter_cases(exp.id, with_calls=False):
                lines = _case_lines(case, want)
                if not lines:
                    continue
                if limit is not None and listed >= limit:
                    hidden += 1
                    continue
                if not header_done:
                    console.print(f"\n[bold]{exp.variant_label}[/bold] ({exp.id}) — {want}:")
                    header_done = True
                listed += 1
                rep = f" #{case.repetition}" if exp.repeat > 1 else ""
                console.print(f" [bold]{case.example_id}{rep}[/bold]", highlight=False)
                for line in lines:
                    console.print(f"   {line}", highlight=False, markup=False)
            if hidden:
                console.print(f" … {hidden} more (--all lists them)")
        if args.json:
            from judgekit.report.json_report import run_json, write_json

            write_json(run_json(store, run, rows, lazy=True), args.json)
    return 0


def _case_lines(case: Any, want: str) -> list[str]:
    if case.error is not None and case.error.skipped:
        return []  # not a failure: the table's footnote says why, once
    if want == "errors":
        return [str(case.error)] if case.error else []
    if want == "unscored":
        return [_comment(s.describe(), 400) for s in case.scores if s.status == "unscored"]
    if case.error:
        return [f"error {case.error}"]
    return [_comment(s.describe(), 400) for s in case.scores if s.failed]


def evaluators(args: argparse.Namespace) -> int:
    """List every registered evaluator with the first line of its docstring."""
    from judgekit.evaluation import evaluator_registry

    console = table_console()
    for name, factory in sorted(evaluator_registry().items()):
        doc = (getattr(factory, "__doc__", None) or "").strip().splitlines()
        console.print(f" [bold]{name}[/bold]  {doc[0] if doc else ''}", highlight=False)
    return 0
