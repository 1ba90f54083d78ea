"""``judgekit agreement RUN --judge KEY [--human KEY]``: see :mod:`judgekit.human_labels`."""

from __future__ import annotations

import argparse

from rich.console import Console
from rich.table import Table
from rich.text import Text

from judgekit.agreement import Agreement, Interval
from judgekit.human_labels import AgreementReport, agreement
from judgekit.report.console import table_console

__all__ = ["agreement_command", "render_report"]


def _num(x: float | None) -> str:
    return "–" if x is None else f"{x:.3f}"


def _with_ci(x: float | None, ci: Interval) -> str:
    if x is None:
        return "–"
    if ci.low is None or ci.high is None:
        return _num(x)
    return f"{x:.3f} [{ci.low:.3f}, {ci.high:.3f}]"


def _label(value: str | float) -> str:
    return value if isinstance(value, str) else f"{value:g}"


def render_report(report: AgreementReport, console: Console) -> None:
    """Print the per-experiment table, then each experiment's confusion matrix (and the judge
    against each annotator when there are several)."""
    first = report.experiments[0]
    conf = f"{first.accuracy_ci.confidence:.0%} CI"
    scale = (f" · ordinal, {first.weights}-weighted κ" if first.scale == "ordinal" else "")
    console.print(Text(f"agreement of {report.judge} with human labels ({report.human}) · run "
                       f"{report.run_id}{scale}"))
    several = any(len(a.annotators) > 1 for a in report.experiments)
    table = Table(box=None, header_style="bold", pad_edge=False)
    columns = ["variant", "pairs", f"accuracy ({conf})", f"κ ({conf})"]
    if several:
        columns += ["α humans", "α with judge"]
    columns += ["unscored", "no verdict", "unlabelled"]
    if several:
        columns.append("no consensus")
    for col in columns:
        table.add_column(col, justify="left" if col == "variant" else "right")
    for a in report.experiments:
        row: list[Text | str] = [Text(a.variant or a.experiment_id or ""), str(a.n_pairs),
               _with_ci(a.accuracy, a.accuracy_ci), _with_ci(a.kappa, a.kappa_ci)]
        if several:
            row += [_num(a.alpha_humans), _num(a.alpha_with_judge)]
        row += [str(a.n_unscored), str(a.n_no_verdict), str(a.n_unlabelled)]
        if several:
            row.append(str(a.n_no_consensus))
        table.add_row(*row)
    console.print(table)
    for a in report.experiments:
        _confusion(a, console)
        if len(a.annotators) > 1:
            _annotators(a, console)
    if report.without_pairs:
        console.print(Text(f"no case both judged and labelled in {', '.join(report.without_pairs)}"
                           " (left out)"))
    if any(a.n_unscored for a in report.experiments):
        console.print(Text("unscored verdicts are counted apart, not as disagreement: "
                           f"`judgekit show {report.run_id} --unscored` lists them"))


def _confusion(a: Agreement, console: Console) -> None:
    console.print(Text(f"\n{a.variant or a.experiment_id} · rows human, columns judge",
                       style="bold"))
    table = Table(box=None, header_style="bold", pad_edge=False)
    table.add_column("")
    for label in a.labels:
        table.add_column(Text(_label(label)), justify="right")
    for label, row in zip(a.labels, a.confusion, strict=True):
        table.add_row(Text(_label(label)), *(str(n) for n in row))
    console.print(table)


def _annotators(a: Agreement, console: Console) -> None:
    table = Table(box=None, header_style="bold", pad_edge=False)
    for col in ("judge vs", "pairs", "accuracy", "κ"):
        table.add_column(col, justify="left" if col == "judge vs" else "right")
    for p in a.per_annotator:
        table.add_row(Text(p.annotator), str(p.n_pairs),
                      _num(p.accuracy), _num(p.kappa))
    console.print(table)


def agreement_command(args: argparse.Namespace) -> int:
    """Measure, print the tables (to stderr when ``--json -`` owns stdout), write the JSON."""
    report = agreement(args.run, judge=args.judge, human=args.human, store=args.store,
                       ordinal=args.ordinal or args.weights is not None, weights=args.weights,
                       confidence=args.confidence, n_resamples=args.resamples, seed=args.seed)
    render_report(report, table_console(stderr=args.json == "-"))
    if args.json:
        from judgekit.report.json_report import write_json

        write_json(report.to_dict(), args.json)
    return 0
