"""``judgekit probe RUN --judge KEY``: see :mod:`judgekit.probe`."""

from __future__ import annotations

import argparse

from rich.console import Console
from rich.table import Table
from rich.text import Text

from judgekit.agreement import Interval
from judgekit.cli.stored_run import check_json_target, stored_run_settings
from judgekit.probe import ProbeResult, probe
from judgekit.report.console import table_console
from judgekit.store import Store

__all__ = ["probe_command", "render_probe"]


def _num(x: float | None, signed: bool = False) -> str:
    return "–" if x is None else f"{x:+.3f}" if signed else f"{x:.3f}"


def _with_ci(x: float | None, ci: Interval, signed: bool = False) -> str:
    if x is None or ci.low is None or ci.high is None:
        return _num(x, signed)
    return f"{_num(x, signed)} [{_num(ci.low, signed)}, {_num(ci.high, signed)}]"


def render_probe(result: ProbeResult, console: Console) -> None:
    """Print one table: each probe's measure with its interval, n and the unscored apart."""
    v, s = result.verbosity, result.stability
    conf = f"{result.confidence:.0%} CI"
    console.print(Text(f"bias probes of {result.judge} · run {result.probe_of} · "
                       f"{result.n_cases} cases · stored as run {result.run_id}"))
    table = Table(box=None, header_style="bold", pad_edge=False)
    for col in ("probe", "measure", f"value ({conf})", "n", "unscored", "errors"):
        table.add_column(col, justify="left" if col in ("probe", "measure") else "right")
    table.add_row("verbosity", "mean score shift (padded − plain)",
                  _with_ci(v.mean_shift, v.mean_shift_ci, True), str(v.n), str(v.n_unscored),
                  str(v.n_error))
    table.add_row("verbosity", "pass-rate change",
                  _with_ci(v.pass_rate_change, v.pass_rate_change_ci, True), str(v.n_pass),
                  str(v.n_unscored), str(v.n_error))
    table.add_row("stability", f"stable rate ({s.samples} samples)",
                  _with_ci(s.stable_rate, s.stable_rate_ci), str(s.n), str(s.n_unscored),
                  str(s.n_error))
    table.add_row("stability", "Krippendorff's α (samples as raters)", _num(s.alpha), str(s.n),
                  str(s.n_unscored), str(s.n_error))
    p = result.position
    if p.skipped is None:
        pair = f"{p.variants[0]} vs {p.variants[1]}"
        table.add_row("position", f"swap consistency ({pair})",
                      _with_ci(p.consistent_rate, p.consistent_rate_ci), str(p.n),
                      str(p.n_unscored), str(p.n_error))
        table.add_row("position", "picked the answer shown first",
                      _with_ci(p.first_position_rate, p.first_position_rate_ci), str(p.n),
                      str(p.n_unscored), str(p.n_error))
    console.print(table)
    if v.n_not_padded:
        console.print(Text(f" note: {v.n_not_padded} outputs have no text field to pad"))
    if p.skipped is not None:
        console.print(Text(f" position: not probed: {p.skipped}"))


def probe_command(args: argparse.Namespace) -> int:
    """Probe the run's judge, print the table, store it; exit 0 (a bias is a finding)."""
    check_json_target(args.json)
    console = table_console(stderr=args.json == "-")  # `--json -` owns stdout
    with Store.existing(args.store) as store:
        models = stored_run_settings(args, store, judge_concurrency=args.concurrency)
        result = probe(args.run, args.judge, store=store, samples=args.samples,
                       limit=args.limit, confidence=args.confidence,
                       n_resamples=args.resamples, seed=args.seed,
                       concurrency=args.concurrency, models=models)
        render_probe(result, console)
        if args.json:
            from judgekit.report.json_report import write_json

            write_json(result.to_dict(), args.json)
    return 0
