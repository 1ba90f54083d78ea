"""``judgekit rescore RUN --evaluator NAME[:ARGS] ...``: see :mod:`judgekit.rescoring`."""

from __future__ import annotations

import argparse

from judgekit.cli.stored_run import check_json_target, stored_run_settings
from judgekit.report.console import ConsoleProgress, render_table, table_console
from judgekit.rescoring import rescore as rescore_run
from judgekit.store import Store

__all__ = ["rescore"]


def rescore(args: argparse.Namespace) -> int:
    """Re-score the run, print the new run's table; exit 1 when a goal is missed."""
    check_json_target(args.json)
    console = table_console(stderr=args.json == "-")  # `--json -` owns stdout
    with Store.existing(args.store) as store:
        models = stored_run_settings(args, store,
                                     judge_concurrency=args.judge_concurrency or args.concurrency)
        result = rescore_run(
            args.run, args.evaluator, store=store, keep=args.keep, variants=args.variant or (),
            concurrency=args.concurrency, models=models,
            progress=ConsoleProgress(table_console(stderr=True)),
            config={"argv": ["rescore", args.run, *_argv_evaluators(args)]})
        render_table(store, result.run_id, f"{result.suite} · rescore of {result.original}",
                     result.experiments, console)
        n_skipped = sum(int((e.summary or {}).get("n_skipped") or 0) for e in result.experiments)
        line = f" rescored {result.n_rescored} cases from run {result.original}; no target calls"
        if result.n_not_rescored:
            line += (f"; {result.n_not_rescored - n_skipped} with no outputs (the target raised"
                     " or asserted) kept as errors")
            if n_skipped:
                line += f", {n_skipped} skipped kept as skipped"
        console.print(line, highlight=False, markup=False)
        for note in result.notes:
            console.print(f" note: {note}", highlight=False, markup=False)
        if args.json:
            from judgekit.report.json_report import write_json

            write_json(result.to_json(lazy=True), args.json)
    return result.exit_code(strict=args.strict)


def _argv_evaluators(args: argparse.Namespace) -> list[str]:
    return [a for spec in args.evaluator for a in ("--evaluator", spec)]
