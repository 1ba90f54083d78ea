"""``judgekit rescore RUN --evaluator NAME[:ARGS] ...``: see :mod:`judgekit.rescoring`."""

from __future__ import annotations

import argparse
from pathlib import Path

from judgekit.models.settings import settings_for_run
from judgekit.report.console import ConsoleProgress, render_table, table_console
from judgekit.rescoring import rescore as rescore_run
from judgekit.store import Store

__all__ = ["rescore"]


def rescore(args: argparse.Namespace) -> int:
    """Re-score the run, print the new run's table; exit 1 when a goal is missed."""
    if args.json and args.json != "-" and not Path(args.json).parent.exists():
        from judgekit.errors import ConfigError

        raise ConfigError(f"cannot write {args.json}: directory {Path(args.json).parent} "
                          "does not exist")
    console = table_console(stderr=args.json == "-")  # `--json -` owns stdout
    with Store.existing(args.store) as store:
        original = store.get_run(args.run)
        # The original suite's project config (judge model, prices, cache path) applies when
        # its file is still there; else the current directory's.
        suite_file = Path(original.path) if original.path else None
        project = suite_file.resolve().parent if suite_file and suite_file.is_file() \
            else Path.cwd()
        models = settings_for_run(
            project, store.path, cache_file=args.cache_file, cache=args.cache,
            concurrency=args.concurrency,
            judge_concurrency=args.judge_concurrency or args.concurrency,
            judge_model=args.judge_model, timeout_s=args.timeout)
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
