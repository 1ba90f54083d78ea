"""The ``judgekit`` argument parser: every command, its options and their checks.

A flat list read top to bottom like ``--help``; each command's ``func`` names the module and
function that run it, so parsing imports none of them.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Sequence
from typing import Any

__all__ = ["build_parser"]


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be more than 0, got {text}")
    return value


def build_parser() -> argparse.ArgumentParser:
    """The argument parser for every command."""
    # One flat list of subcommands and options, long but read top to bottom like --help.
    parser = argparse.ArgumentParser(
        prog="judgekit",
        description="Evaluate LLM applications with LLM-as-judge and code checks.",
        epilog="exit codes: 0 goals met · 1 goal missed (or --strict failure) · 2 usage/config "
               "error · 3 internal error · 130 interrupted (resume with --resume RUN)",
    )
    parser.add_argument("--version", action=_VersionAction)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    store_help = "result store (default: $JUDGEKIT_STORE or .judgekit/judgekit.db)"
    ev = sub.add_parser("eval", help="run a suite file and compare its variants",
                        description="Run the suites in a file (PATH::name picks one), store "
                                    "every result, print one row per variant, check goals.")
    ev.add_argument("path", metavar="PATH[::NAME]", help="suite file, optionally ::suite_name")
    ev.add_argument("--json", metavar="FILE",
                    help="write the machine-readable result (- = stdout)")
    ev.add_argument("--junit", metavar="FILE",
                    help="write JUnit XML (a testcase per case × variant)")
    # A string default goes through _positive_int too: a bad $JUDGEKIT_CONCURRENCY is a usage
    # error (exit 2), not a ValueError traceback while building the parser.
    ev.add_argument("--concurrency", type=_positive_int, metavar="N",
                    default=os.environ.get("JUDGEKIT_CONCURRENCY") or None,
                    help="cases in flight at once (default: $JUDGEKIT_CONCURRENCY or 8; "
                         "10000 with --batch)")
    ev.add_argument("--judge-concurrency", type=_positive_int, metavar="N",
                    default=os.environ.get("JUDGEKIT_JUDGE_CONCURRENCY") or None,
                    help="judge calls in flight at once, per endpoint (default: as "
                         "--concurrency; $JUDGEKIT_JUDGE_CONCURRENCY)")
    ev.add_argument("--judge-model", metavar="MODEL",
                    help="model for LLM judges that name none, e.g. gpt-4o or "
                         "openai:gpt-4o-mini (default: $JUDGEKIT_JUDGE_MODEL or gpt-4o)")
    ev.add_argument("--cache", choices=("read-write", "off", "refresh", "replay"),
                    default=os.environ.get("JUDGEKIT_CACHE_MODE") or None,
                    help="model response cache: read-write (default), off, refresh (call "
                         "again and overwrite), replay (a miss is an error: offline CI)")
    ev.add_argument("--cache-file", metavar="PATH",
                    help="response cache file (default: $JUDGEKIT_CACHE, or cache.db beside "
                         "the store)")
    ev.add_argument("--timeout", type=_positive_float, metavar="SECONDS",
                    help="time limit of each model call attempt (default 60)")
    ev.add_argument("--batch", action="store_true",
                    help="send OpenAI calls through the Batch API (half price, results within "
                         "24 h); --resume re-attaches to the jobs already submitted")
    ev.add_argument("--batch-poll", type=_positive_float, metavar="SECONDS",
                    help="seconds between polls of a batch job (default 30)")
    ev.add_argument("--repeat", type=_positive_int, default=1, metavar="N",
                    help="run every case N times: mean and spread per score")
    ev.add_argument("--resume", metavar="RUN",
                    help="finish an interrupted run, skipping stored cases")
    ev.add_argument("--retry-errors", metavar="RUN", help="redo only the cases of RUN that errored")
    ev.add_argument("--store", metavar="PATH", help=store_help)
    ev.add_argument("--baseline", metavar="RUN",
                    help="compare each variant with the same-named one of RUN (paired "
                         "tests) and exit 1 when a metric drops with p < --alpha")
    ev.add_argument("--alpha", type=_fraction, default=0.05, metavar="A",
                    help="significance level of the --baseline gate (default 0.05)")
    ev.add_argument("--shard", metavar="I/N",
                    help="run only shard I of N (1-based; examples split by a sha256 of their "
                         "id)")
    ev.add_argument("--shard-group", metavar="NAME",
                    help="name shared by the shards of one evaluation (their LangSmith "
                         "experiment; default: a hash of suite, data, variants, git commit)")
    ev.add_argument("--strict", action="store_true",
                    help="exit 1 when any check fails, errors or is skipped, not only on goals")
    ev.add_argument("--debug", action="store_true", help="show tracebacks")
    ev.add_argument("--langsmith", action=argparse.BooleanOptionalAction, default=None,
                    help="send the run to LangSmith when it is stored (also "
                         "$JUDGEKIT_LANGSMITH=1): dataset, experiments, traces, feedback")
    _langsmith_naming(ev)
    ev.set_defaults(func="judgekit.cli.eval_cmd:run")

    runs = sub.add_parser("runs", help="list stored experiments")
    runs.add_argument("--store", metavar="PATH", help=store_help)
    runs.add_argument("--limit", type=_positive_int, default=20, metavar="N",
                      help="show the newest N runs (default 20)")
    runs.add_argument("--debug", action="store_true", help=argparse.SUPPRESS)
    runs.set_defaults(func="judgekit.cli.show_cmd:runs")

    show = sub.add_parser("show", help="summary and failing cases of a stored run")
    show.add_argument("run", metavar="RUN", help="run id (or a prefix, or an experiment id)")
    show.add_argument("--store", metavar="PATH", help=store_help)
    show.add_argument("--unscored", action="store_true", help="list unscored verdicts")
    show.add_argument("--errors", action="store_true", help="list cases whose target raised")
    show.add_argument("--all", action="store_true", help="list every failing case, not 20")
    show.add_argument("--json", metavar="FILE", help="also write the run's JSON result")
    show.add_argument("--debug", action="store_true", help=argparse.SUPPRESS)
    show.set_defaults(func="judgekit.cli.show_cmd:show")

    cache = sub.add_parser("cache", help="inspect or clear the model response cache",
                           description="The response cache keeps every model reply, so a "
                                       "re-run costs nothing and --cache replay works offline.")
    cache_sub = cache.add_subparsers(dest="cache_command", metavar="ACTION", required=True)
    for action, text in (("stats", "entries, size and models in the cache"),
                         ("clear", "delete cached responses")):
        c = cache_sub.add_parser(action, help=text, description=text)
        c.add_argument("--store", metavar="PATH", help=store_help)
        c.add_argument("--cache-file", metavar="PATH",
                       help="cache file (default: $JUDGEKIT_CACHE, or cache.db beside the store)")
        c.add_argument("--debug", action="store_true", help=argparse.SUPPRESS)
        if action == "clear":
            c.add_argument("--model", metavar="MODEL", help="only this model's responses")
            c.add_argument("--older-than", metavar="DAYS", type=_positive_float,
                           help="only responses older than DAYS days")
            c.add_argument("-y", "--yes", action="store_true",
                           help="do not ask (needed when not on a terminal)")
        c.set_defaults(func=f"judgekit.cli.cache_cmd:{action}")

    sy = sub.add_parser("sync", help="send stored runs to LangSmith",
                        description="Send stored runs to LangSmith (LANGSMITH_ENDPOINT, "
                                    "LANGSMITH_API_KEY): the dataset, one experiment per "
                                    "variant with a trace per case, and feedback per score. "
                                    "Sending again creates nothing twice.")
    sy.add_argument("runs", nargs="+", metavar="RUN", help="run id (or a prefix of one)")
    sy.add_argument("--store", metavar="PATH", help=store_help)
    _langsmith_naming(sy)
    sy.add_argument("--json", metavar="FILE", help="write what was sent, with URLs (- = stdout)")
    sy.add_argument("--debug", action="store_true", help="show tracebacks")
    sy.set_defaults(func="judgekit.cli.sync_cmd:sync")
    _export_parser(sub, store_help)
    _compare_parser(sub, store_help)
    _rescore_parser(sub, store_help)
    _probe_parser(sub, store_help)
    _viewer_parsers(sub, store_help)
    _human_parsers(sub, store_help)
    _merge_parser(sub)

    evs = sub.add_parser("evaluators", help="list registered evaluators (built-in and plugins)")
    evs.add_argument("--debug", action="store_true", help=argparse.SUPPRESS)
    evs.set_defaults(func="judgekit.cli.show_cmd:evaluators")
    return parser


def _export_parser(sub: Any, store_help: str) -> None:
    ex = sub.add_parser(
        "export", help="write a run as fine-tuning JSONL (OpenAI chat) or its results as JSONL/CSV",
        description="Write a stored run to FILE (- = stdout). openai-chat: one fine-tuning "
                    "example per target model call, the messages as sent and the reply as "
                    "received, checked against OpenAI's format; export a strong model's "
                    "(teacher's) passing cases to fine-tune a smaller one on them "
                    "(distillation). jsonl, csv: one row per case x score; CSV cells that "
                    "would run as spreadsheet formulas start with a '.")
    ex.add_argument("run", metavar="RUN",
                    help="run id (or a prefix): all its experiments; RUN-N: one experiment")
    ex.add_argument("file", metavar="FILE", help="where to write (- = stdout)")
    ex.add_argument("--format", required=True, choices=("openai-chat", "jsonl", "csv"),
                    help="openai-chat: fine-tuning JSONL; jsonl, csv: results")
    ex.add_argument("--where", choices=("passed",),
                    help="passed: only cases with no error and no failed or errored score")
    ex.add_argument("--score", action="append", metavar="KEY>=X",
                    help="only cases whose ok KEY score compares true (>=, >, <=, <, ==); "
                         "repeatable, quote it in the shell")
    ex.add_argument("--variant", action="append", metavar="LABEL",
                    help="only this variant's experiment (repeatable; default: all)")
    ex.add_argument("--dedupe", action="store_true",
                    help="drop examples whose messages repeat an earlier one (openai-chat)")
    ex.add_argument("--store", metavar="PATH", help=store_help)
    ex.add_argument("--debug", action="store_true", help=argparse.SUPPRESS)
    ex.set_defaults(func="judgekit.cli.export_cmd:export")


def _fraction(text: str) -> float:
    value = _positive_float(text)
    if not value < 1:
        raise argparse.ArgumentTypeError(f"must be less than 1, got {text}")
    return value


def _non_negative(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more, got {text}")
    return value


def _compare_parser(sub: Any, store_help: str) -> None:
    cp = sub.add_parser(
        "compare", help="compare stored runs: paired tests, regressions, the cheapest variant "
                        "meeting the goals, cascades",
        description="Compare stored runs or experiments with the first (the baseline), paired "
                    "on the examples they share: exact McNemar for pass/fail scores, a "
                    "paired t-test and a seeded bootstrap CI for numeric means, cost/1k at "
                    "list price and p50/p99 latency. Unscored, errored and missing cases are "
                    "left out pair by pair and counted. No model is called.")
    cp.add_argument("refs", nargs="+", metavar="RUN",
                    help="run id (all its experiments) or experiment id RUN-N; the first is "
                         "the baseline")
    cp.add_argument("--store", metavar="PATH", help=store_help)
    cp.add_argument("--metric", metavar="KEY",
                    help="headline score for changes, --pick, MPI and cascades (default: the "
                         "accuracy goal's score, else the first pass/fail one)")
    cp.add_argument("--alpha", type=_fraction, default=0.05, metavar="A",
                    help="significance level (default 0.05); CIs are at 1 - A")
    cp.add_argument("--resamples", type=_positive_int, default=10_000, metavar="N",
                    help="bootstrap resamples (default 10000)")
    cp.add_argument("--seed", type=int, default=0, metavar="N", help="resampling seed")
    cp.add_argument("--limit", type=_positive_int, default=10, metavar="N",
                    help="changed cases shown per variant and kind (default 10)")
    cp.add_argument("--only-different", action="store_true",
                    help="list every case whose outputs or any verdict differ, instead of "
                         "the headline metric's regressions and improvements")
    cp.add_argument("--fail-on-regression", action="store_true",
                    help="exit 1 when a metric drops with p < alpha (CI gate)")
    cp.add_argument("--json", metavar="FILE", help="write the comparison (- = stdout)")
    cp.add_argument("--pick", action="store_true",
                    help="name the cheapest variant that meets every goal (exit 1 if none)")
    cp.add_argument("--value-per-item", type=_non_negative, metavar="V",
                    help="value of a correct item, for the break-even accuracy")
    cp.add_argument("--cost-per-error", type=_non_negative, metavar="E",
                    help="loss per wrong item: break-even accuracy is E / (V + E)")
    cp.add_argument("--items", type=_positive_int, metavar="N",
                    help="project each variant's cost for N items")
    cp.add_argument("--training-cost", action="append", metavar="LABEL=USD",
                    help="one-off cost (e.g. fine-tuning) added to LABEL's projection; "
                         "repeatable")
    cp.add_argument("--mpi", action="store_true",
                    help="MPI matrix: share of examples the row variant gets wrong and the "
                         "column variant right")
    cp.add_argument("--signal", metavar="KEY[:FIELD]",
                    help="cascade acceptance signal: a stored score (json_schema, a judge's "
                         "score) or a number in its metadata (cot_qa:agreement)")
    cp.add_argument("--cascade", metavar="A,B[,C]",
                    help="variants in cascade order (with --thresholds: simulate it; "
                         "without: search orders of up to 3 of them)")
    cp.add_argument("--thresholds", metavar="T1[,T2]",
                    help="accept stage i's answer when its signal >= Ti (all stages but "
                         "the last)")
    cp.add_argument("--budget", type=_non_negative, metavar="USD",
                    help="search: best accuracy at most USD per 1,000 items")
    cp.add_argument("--holdout", type=_fraction, metavar="FRACTION",
                    help="search: fit on the rest, report the chosen cascade on this share "
                         "of the examples")
    cp.add_argument("--debug", action="store_true", help=argparse.SUPPRESS)
    cp.set_defaults(func="judgekit.cli.compare_cmd:compare_runs")


def _judge_call_options(p: argparse.ArgumentParser) -> None:
    """The judge-call options of the commands that re-ask a stored run's judges."""
    p.add_argument("--judge-model", metavar="MODEL",
                   help="model for LLM judges that name none (default: "
                        "$JUDGEKIT_JUDGE_MODEL or gpt-4o)")
    p.add_argument("--cache", choices=("read-write", "off", "refresh", "replay"),
                   default=os.environ.get("JUDGEKIT_CACHE_MODE") or None,
                   help="model response cache mode, as for eval (default read-write)")
    p.add_argument("--cache-file", metavar="PATH",
                   help="response cache file (default: $JUDGEKIT_CACHE, or cache.db beside "
                        "the store)")
    p.add_argument("--timeout", type=_positive_float, metavar="SECONDS",
                   help="time limit of each judge call attempt (default 60)")


def _rescore_parser(sub: Any, store_help: str) -> None:
    rs = sub.add_parser(
        "rescore", help="score a stored run's outputs with new or changed evaluators",
        description="Score the stored outputs of RUN with the --evaluator(s) as a new run "
                    "linked to it ('rescore of RUN' in `judgekit runs`): no target calls; the "
                    "cases' outputs, latency and target calls (tokens, cost) are carried "
                    "over, judge calls go through the response cache. Cases whose target "
                    "raised stay errors. Goals are the original's, less those on scores "
                    "the rescore does not write.")
    rs.add_argument("run", metavar="RUN",
                    help="run id (or a prefix): all its experiments; RUN-N: one experiment")
    rs.add_argument("--evaluator", action="append", required=True, metavar="NAME[:ARGS]",
                    help="repeatable. NAME: a registered evaluator (`judgekit evaluators`) or, "
                         "without ARGS, the key of one of the suite's evaluators as its file "
                         "defines it now. ARGS: key=value,... (values read as JSON when they "
                         "parse) or a JSON object, e.g. cot_qa:model=gpt-4o-mini,key=cot_mini")
    rs.add_argument("--keep", action="store_true",
                    help="also keep the original scores that no --evaluator writes again")
    rs.add_argument("--variant", action="append", metavar="LABEL",
                    help="only this variant's experiment (repeatable; default: all)")
    rs.add_argument("--json", metavar="FILE",
                    help="write the new run's machine-readable result (- = stdout)")
    rs.add_argument("--concurrency", type=_positive_int, metavar="N",
                    default=os.environ.get("JUDGEKIT_CONCURRENCY") or "8",
                    help="cases scored at once (default: $JUDGEKIT_CONCURRENCY or 8)")
    rs.add_argument("--judge-concurrency", type=_positive_int, metavar="N",
                    default=os.environ.get("JUDGEKIT_JUDGE_CONCURRENCY") or None,
                    help="judge calls in flight at once, per endpoint (default: as "
                         "--concurrency; $JUDGEKIT_JUDGE_CONCURRENCY)")
    _judge_call_options(rs)
    rs.add_argument("--strict", action="store_true",
                    help="exit 1 when any check fails, errors or is skipped, not only on goals")
    rs.add_argument("--store", metavar="PATH", help=store_help)
    rs.add_argument("--debug", action="store_true", help="show tracebacks")
    rs.set_defaults(func="judgekit.cli.rescore_cmd:rescore")


def _port(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a port number, got {text!r}") from None
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"must be 0..65535, got {value}")
    return value


def _viewer_parsers(sub: Any, store_help: str) -> None:
    rp = sub.add_parser("report", help="write stored runs as one self-contained HTML page",
                        description="Write one HTML file (no network needed to open it): the "
                                    "comparison table with goals, an accuracy-vs-cost plot "
                                    "with the Pareto frontier, and every case with its scores, "
                                    "judge reasoning and model calls; filters and search.")
    rp.add_argument("runs", nargs="+", metavar="RUN", help="run id (or a prefix); several "
                                                           "are compared")
    rp.add_argument("--html", required=True, metavar="FILE", help="where to write the page")
    rp.add_argument("--store", metavar="PATH", help=store_help)
    rp.add_argument("--debug", action="store_true", help=argparse.SUPPRESS)
    rp.set_defaults(func="judgekit.cli.report_cmd:report")
    vw = sub.add_parser("view", help="browse the store's runs in a local web viewer",
                        description="Serve the stored runs on http://127.0.0.1:PORT/ (loopback "
                                    "only): the run list, each run's page as in `report`, "
                                    "several runs compared; pages update while a run writes.")
    vw.add_argument("--store", metavar="PATH", help=store_help)
    vw.add_argument("--port", type=_port, default=8765, metavar="N",
                    help="port on 127.0.0.1 (default 8765; 0 picks a free one)")
    vw.add_argument("--debug", action="store_true", help=argparse.SUPPRESS)
    vw.set_defaults(func="judgekit.cli.report_cmd:view")


def _probe_parser(sub: Any, store_help: str) -> None:
    pr = sub.add_parser(
        "probe", help="probe a run's LLM judge for verbosity bias and sample instability",
        description="Re-ask RUN's judge (rebuilt from its stored spec) over the stored outputs: "
                    "plain and padded with fixed neutral text (score shift, pass-rate change) "
                    "and with --samples draws (stable rate, Krippendorff's α), with seeded "
                    "bootstrap / Wilson intervals; unscored verdicts counted apart. Judge calls "
                    "go through the response cache. Stored as a run linked to RUN ('probe of "
                    "RUN' in `judgekit runs`). Pairwise judges (position probe) are not "
                    "probed yet.")
    pr.add_argument("run", metavar="RUN", help="run id (or a prefix)")
    pr.add_argument("--judge", required=True, metavar="KEY", help="the judge's score key")
    pr.add_argument("--samples", type=_positive_int, default=3, metavar="N",
                    help="draws per case for the stability probe (default 3, at least 2)")
    pr.add_argument("--limit", type=_positive_int, metavar="N",
                    help="probe the first N cases only (default: all)")
    pr.add_argument("--confidence", type=_confidence, default=0.95, metavar="LEVEL",
                    help="confidence level of the intervals (default 0.95)")
    pr.add_argument("--resamples", type=_positive_int, default=1000, metavar="N",
                    help="bootstrap resamples (default 1000)")
    pr.add_argument("--seed", type=int, default=0, help="bootstrap seed (default 0)")
    pr.add_argument("--concurrency", type=_positive_int, metavar="N",
                    default=os.environ.get("JUDGEKIT_CONCURRENCY") or "8",
                    help="cases probed at once (default: $JUDGEKIT_CONCURRENCY or 8)")
    _judge_call_options(pr)
    pr.add_argument("--json", metavar="FILE", help="write the result as JSON (- = stdout)")
    pr.add_argument("--store", metavar="PATH", help=store_help)
    pr.add_argument("--debug", action="store_true", help="show tracebacks")
    pr.set_defaults(func="judgekit.cli.probe_cmd:probe_command")


def _confidence(text: str) -> float:
    value = _positive_float(text)
    if not value < 1:
        raise argparse.ArgumentTypeError(f"must be between 0 and 1, e.g. 0.95; got {text}")
    return value


def _human_parsers(sub: Any, store_help: str) -> None:
    an = sub.add_parser(
        "annotate", help="label a run's cases by hand (stored as human scores)",
        description="Show each case of RUN (input, output, the judge's verdict and reasoning) "
                    "and store the label typed as a `human` score (`human:NAME` with "
                    "--annotator). Keys: 1..N or the label's text, s skip, b back, q quit. "
                    "Labels are stored at once; cases already labelled are left out, so "
                    "running it again carries on. Reads lines from stdin.")
    an.add_argument("run", metavar="RUN", help="run id (or a prefix); RUN-N: one experiment")
    an.add_argument("--labels", metavar="A,B,...",
                    help="the label choices (default: the judge's verdicts in the run)")
    an.add_argument("--judge", metavar="KEY",
                    help="the judge score to show (default: the run's only text verdict)")
    an.add_argument("--annotator", metavar="NAME",
                    help="whose labels: stored as human:NAME (default: human)")
    an.add_argument("--redo", action="store_true",
                    help="show cases this annotator already labelled too")
    an.add_argument("--store", metavar="PATH", help=store_help)
    an.add_argument("--debug", action="store_true", help=argparse.SUPPRESS)
    an.set_defaults(func="judgekit.cli.annotate_cmd:annotate")

    ag = sub.add_parser(
        "agreement", help="how well a judge agrees with human labels (accuracy, κ, α)",
        description="Pair each case's judge verdict with its human labels and report "
                    "accuracy, Cohen's κ (weighted with --ordinal), Krippendorff's α with "
                    "several annotators, the confusion matrix and bootstrap CIs, per "
                    "experiment. Unscored verdicts are counted apart, never as disagreement.")
    ag.add_argument("run", metavar="RUN", help="run id (or a prefix); RUN-N: one experiment")
    ag.add_argument("--judge", required=True, metavar="KEY", help="the judge's score key")
    ag.add_argument("--human", metavar="KEY",
                    help="human labels: a score key (human, the default, reads human and "
                         "human:NAME, one annotator each) or metadata.FIELD from the dataset "
                         "(default without human scores: metadata.human_label)")
    ag.add_argument("--ordinal", action="store_true",
                    help="numeric labels on an ordered scale: weighted κ, ordinal α")
    ag.add_argument("--weights", choices=("linear", "quadratic"),
                    help="κ weights on an ordinal scale (default quadratic; implies --ordinal)")
    ag.add_argument("--confidence", type=_confidence, default=0.95, metavar="LEVEL",
                    help="confidence level of the bootstrap intervals (default 0.95)")
    ag.add_argument("--resamples", type=_positive_int, default=1000, metavar="N",
                    help="bootstrap resamples (default 1000)")
    ag.add_argument("--seed", type=int, default=0, help="bootstrap seed (default 0)")
    ag.add_argument("--json", metavar="FILE", help="write the result as JSON (- = stdout)")
    ag.add_argument("--store", metavar="PATH", help=store_help)
    ag.add_argument("--debug", action="store_true", help=argparse.SUPPRESS)
    ag.set_defaults(func="judgekit.cli.agreement_cmd:agreement_command")


def _merge_parser(sub: Any) -> None:
    mg = sub.add_parser(
        "merge", help="combine the stores of a sharded run (eval --shard i/n) into one run",
        description="Combine the shard runs of one evaluation (judgekit eval --shard i/n, one "
                    "STORE each) into one run of --into: every case, score and call copied, "
                    "then the summary, summary evaluators and goals computed over all of them, "
                    "as one unsharded run would have. The shards must share suite, data "
                    "version, variants, evaluators, goals and shard count, one of each.")
    mg.add_argument("stores", nargs="+", metavar="STORE[::RUN]",
                    help="a shard's store; ::RUN picks its run (default: its newest shard run)")
    mg.add_argument("--into", metavar="PATH",
                    help="store to write the merged run to (default: $JUDGEKIT_STORE or "
                         ".judgekit/judgekit.db); not one of the shards' stores")
    mg.add_argument("--suite", metavar="PATH",
                    help="the suite file, when summary evaluators must run again and it has "
                         "moved since the shards ran")
    mg.add_argument("--json", metavar="FILE", help="write the merged run's JSON result")
    mg.add_argument("--strict", action="store_true",
                    help="exit 1 when any check fails, errors or is skipped, not only on goals")
    mg.add_argument("--debug", action="store_true", help="show tracebacks")
    mg.set_defaults(func="judgekit.cli.merge_cmd:merge")


def _langsmith_naming(p: argparse.ArgumentParser) -> None:
    p.add_argument("--langsmith-project", metavar="PREFIX",
                   help="LangSmith experiment names PREFIX:<variant>:<run> (default: the suite)")
    p.add_argument("--dataset-name", metavar="NAME",
                   help="LangSmith dataset name (default: the data file's stem, or the suite "
                        "name for inline data)")


class _VersionAction(argparse.Action):
    """``--version``, read from the installed package only when asked: importlib.metadata
    costs every other command ~6 ms of start-up."""

    def __init__(self, option_strings: Sequence[str], dest: str) -> None:
        super().__init__(option_strings, dest, nargs=0, help="show the version and exit")

    def __call__(self, parser: argparse.ArgumentParser, *args: Any) -> None:
        print(f"judgekit {_version()}")
        parser.exit()


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("judgekit")
    except PackageNotFoundError:
        return "unknown"
