"""``judgekit compare A B ...``: paired comparison of stored runs, and the decisions on it."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from judgekit.decide import Comparison, compare
from judgekit.errors import ConfigError
from judgekit.report import compare_console as view
from judgekit.report.console import table_console
from judgekit.store import ExperimentRow, Store

if TYPE_CHECKING:
    from rich.console import Console

__all__ = ["baseline_gate", "compare_runs", "parse_costs", "parse_numbers"]


def parse_numbers(text: str, flag: str) -> list[float]:
    """``"0.8,0.9"`` → ``[0.8, 0.9]``."""
    try:
        return [float(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise ConfigError(f"{flag} {text}: give numbers separated by commas, e.g. 0.8,0.9"
                          ) from None


def parse_costs(items: list[str] | None) -> dict[str, float]:
    """``["ft=25"]`` → ``{"ft": 25.0}``."""
    out: dict[str, float] = {}
    for item in items or []:
        label, sep, usd = item.rpartition("=")
        try:
            if not sep or not label:
                raise ValueError
            out[label] = float(usd)
        except ValueError:
            raise ConfigError(f"--training-cost {item}: give LABEL=USD, e.g. ft-mini=25"
                              ) from None
    return out


def _labels(text: str, comparison: Comparison) -> list[str]:
    labels = [x.strip() for x in text.split(",") if x.strip()]
    for label in labels:
        comparison.side(label)  # an unknown label is a ConfigError naming the variants
    return labels


def compare_runs(args: argparse.Namespace) -> int:
    """Compare, print, write JSON; exit 1 on a regression under --fail-on-regression or when
    --pick finds no variant meeting every goal."""
    json_to_stdout = args.json == "-"
    console = table_console(stderr=json_to_stdout)
    costs = parse_costs(args.training_cost)
    if (args.value_per_item is None) != (args.cost_per_error is None):
        raise ConfigError("give --value-per-item and --cost-per-error together")
    if (args.cascade or args.thresholds or args.budget is not None or args.holdout) \
            and not args.signal:
        raise ConfigError("cascade analysis needs --signal KEY (or KEY:FIELD, e.g. "
                          "cot_qa:agreement): the score that decides to accept an answer")
    with Store.existing(args.store) as store:
        comparison = compare(*args.refs, store=store, alpha=args.alpha,
                             resamples=args.resamples, seed=args.seed, metric=args.metric)
        doc: dict[str, Any] = comparison.to_dict()
        view.render_comparison(comparison, console)
        kinds = ["different"] if args.only_different else ["regression", "improvement"]
        view.render_changes(comparison, console, kinds=kinds, limit=args.limit)
        doc["changes"] = [c.to_dict() for label in comparison.labels[1:] for kind in kinds
                          for c in comparison.changes(label, kind, limit=args.limit)[0]]
        code = 1 if args.fail_on_regression and comparison.regressions() else 0
        if args.pick:
            pick = comparison.pick()
            view.render_pick(pick, console)
            doc["pick"] = pick.to_dict()
            code = max(code, 0 if pick.chosen else 1)
        if args.value_per_item is not None:
            be = comparison.break_even(args.value_per_item, args.cost_per_error)
            view.render_break_even(be, console)
            doc["break_even"] = be.to_dict()
        if args.items is not None or costs:
            proj = comparison.projection(args.items or 1000, costs)
            view.render_projection(proj, console)
            doc["projection"] = proj.to_dict()
        if args.mpi:
            mpi = comparison.mpi()
            view.render_mpi(mpi, console)
            doc["mpi"] = mpi.to_dict()
        if args.signal:
            order = _labels(args.cascade, comparison) if args.cascade else None
            if order and args.thresholds:
                result = comparison.cascade(order, args.signal,
                                            parse_numbers(args.thresholds, "--thresholds"))
                view.render_cascade(result, console)
                doc["cascade"] = result.to_dict()
            else:
                found = comparison.search_cascade(args.signal, budget=args.budget,
                                                  candidates=order, holdout=args.holdout)
                view.render_search(found, console)
                doc["cascade_search"] = found.to_dict()
        if args.json:
            from judgekit.report.json_report import write_json

            write_json(doc, args.json)
    return code


def baseline_gate(store: Store, baseline: str, experiments: Sequence[ExperimentRow],
                  console: Console, *, alpha: float) -> tuple[int, dict[str, Any]]:
    """``eval --baseline RUN``: compare each new experiment with RUN's experiment of the same
    variant label; 1 when any metric dropped with p < alpha. Returns the code and the JSON
    (``{"run_id", "alpha", "comparisons": [...], "unmatched": [...]}``)."""
    from rich.text import Text

    old = {e.variant_label: e for e in store.resolve(baseline)}
    doc: dict[str, Any] = {"run_id": store.get_run(baseline).id, "alpha": alpha,
                           "comparisons": [], "unmatched": []}
    code = 0
    for exp in experiments:
        base = old.get(exp.variant_label)
        if base is None:
            doc["unmatched"].append(exp.variant_label)
            continue
        comparison = compare(base, exp, store=store, alpha=alpha)
        console.print(Text(f"\n{exp.variant_label} against baseline {base.id}", style="bold"))
        view.render_comparison(comparison, console)
        view.render_changes(comparison, console, kinds=["regression"], limit=5)
        doc["comparisons"].append(comparison.to_dict())
        if comparison.regressions():
            code = 1
    if doc["unmatched"]:
        console.print(Text(f"warning: baseline {baseline} has no variant "
                           f"{', '.join(doc['unmatched'])}: not compared", style="yellow"))
    return code, doc
