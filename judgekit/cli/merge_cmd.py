"""``judgekit merge STORE ... --into PATH``: see :mod:`judgekit.merge`."""

from __future__ import annotations

import argparse

from judgekit.api import EvalResult
from judgekit.merge import merge_shards
from judgekit.report.console import render_table, table_console
from judgekit.store import Store

__all__ = ["merge"]


def merge(args: argparse.Namespace) -> int:
    """Merge the shard stores, print the merged run's table, write ``--json``; the exit code
    is the one an unsharded ``judgekit eval`` would have had (1 when a goal is missed)."""
    with Store(args.into) as into:
        run_id = merge_shards(args.stores, into, suite_path=args.suite)
        run = into.get_run(run_id)
        result = EvalResult(into, run, into.experiments(run_id), run.suite)
        console = table_console()
        err = table_console(stderr=True)
        err.print(f"merged {len(args.stores)} shards into run {run_id} in {into.path}",
                  highlight=False, markup=False)
        render_table(into, run_id, run.suite, result.experiments, console)
        if args.json:
            from judgekit.report.json_report import write_json

            write_json(result.to_json(lazy=True), args.json)
        return result.exit_code(strict=args.strict)
