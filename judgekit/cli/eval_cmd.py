"""``judgekit eval PATH[::name]``: run suites, print the comparison, write JSON/JUnit."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from judgekit.api import BATCH_CONCURRENCY, DEFAULT_CONCURRENCY, EvalResult, run_suite
from judgekit.cli.sync_cmd import git_commit, langsmith_config, send_run, wants_langsmith
from judgekit.errors import ConfigError
from judgekit.models.settings import ModelSettings, settings_for_run
from judgekit.report.console import ConsoleProgress, render_table, table_console
from judgekit.store import Store
from judgekit.suite import load_suites

if TYPE_CHECKING:
    from rich.console import Console

    from judgekit.langsmith.config import LangSmithConfig
    from judgekit.shard import Shard

__all__ = ["model_settings", "run"]


def model_settings(args: argparse.Namespace, suite_path: Path, store: Store) -> ModelSettings:
    """Model settings from ``[tool.judgekit]`` of the suite's project, overridden by flags."""
    # Under --batch, --concurrency counts cases waiting on batch jobs; live calls (other
    # providers) keep the usual ceiling unless it was given.
    calls = args.concurrency or DEFAULT_CONCURRENCY
    return settings_for_run(
        suite_path.resolve().parent, store.path, cache_file=args.cache_file,
        cache=args.cache, concurrency=calls,
        judge_concurrency=args.judge_concurrency or calls,
        judge_model=args.judge_model, timeout_s=args.timeout,
        batch=args.batch or None, batch_poll_s=args.batch_poll)


def run(args: argparse.Namespace) -> int:
    """Run every selected suite; the exit code is the worst of theirs."""
    suites = load_suites(args.path)
    if (args.resume or args.retry_errors) and len(suites) > 1:
        raise ConfigError(f"{args.path} has {len(suites)} suites; name one with "
                          f"PATH::name to resume or retry it")
    for out in (args.json, args.junit):
        if out and out != "-" and not Path(out).parent.exists():
            raise ConfigError(f"cannot write {out}: directory {Path(out).parent} does not exist")
    # Checked before anything runs: a missing LangSmith key or package is a usage error.
    langsmith = langsmith_config() if wants_langsmith(args) else None
    # `--json -` owns stdout: the table goes to stderr so the JSON stays parseable.
    console = table_console(stderr=args.json == "-")
    results: list[EvalResult] = []
    gates: dict[str, tuple[int, dict[str, Any]]] = {}  # run id -> (exit code, comparison)
    sent: dict[str, dict[str, Any]] = {}
    suite_file = Path(str(args.path).partition("::")[0])
    # The commit the suite ran at, kept with the run so a later `judgekit sync` can say it.
    config: dict[str, Any] = {"argv": sys.argv[1:]}
    commit = git_commit(suite_file)
    if commit:
        config["git_commit"] = commit
    shard = _shard(args)
    with Store(args.store) as store:
        if args.baseline:
            store.get_run(args.baseline)  # an unknown baseline is a usage error, before running
        models = model_settings(args, suite_file, store)
        for s in suites:
            result = run_suite(
                s, store=store, concurrency=args.concurrency or (
                    BATCH_CONCURRENCY if models.batch else DEFAULT_CONCURRENCY),
                repeat=args.repeat,
                resume=args.resume, retry_errors=args.retry_errors,
                progress=ConsoleProgress(table_console(stderr=True)),
                config=config, models=models, shard=shard,
            )
            render_table(store, result.run_id, s.qualname, result.experiments, console)
            results.append(result)
            if args.baseline:
                from judgekit.cli.compare_cmd import baseline_gate

                gates[result.run_id] = baseline_gate(store, args.baseline, result.experiments,
                                                     console, alpha=args.alpha)
            if langsmith is not None:
                sent[result.run_id] = _send(store, result.run_id, args, console, langsmith)
        if args.json:
            _write_json(args, results, sent, {run: gate for run, (_, gate) in gates.items()})
        if args.junit:
            from judgekit.report.junit import write_junit

            for i, r in enumerate(results):
                target = args.junit if i == 0 else f"{args.junit}.{i}"
                write_junit(target, store, r.run, r.experiments)
    return max(max(r.exit_code(strict=args.strict), gates.get(r.run_id, (0, {}))[0])
               for r in results)


def _shard(args: argparse.Namespace) -> Shard | None:
    if args.shard is not None:
        from judgekit.shard import parse_shard

        return parse_shard(args.shard, args.shard_group)
    if args.shard_group is not None:
        raise ConfigError("--shard-group names the group of a sharded run: give --shard i/n "
                          "too")
    return None


def _write_json(args: argparse.Namespace, results: Sequence[EvalResult],
                sent: Mapping[str, Any], gates: Mapping[str, Any]) -> None:
    """The --json document: each run's, with what was sent to LangSmith and the baseline
    comparison; several suites in one file make one object, every experiment naming its suite.
    """
    from judgekit.report.json_report import combine, write_json

    docs = [r.to_json(lazy=True) for r in results]
    for d in docs:
        if d["run_id"] in sent:
            d["langsmith"] = sent[d["run_id"]]
        if d["run_id"] in gates:
            d["baseline"] = gates[d["run_id"]]
    doc = combine(docs, str(args.path))
    if len(docs) > 1 and sent:
        doc["langsmith"] = [d["langsmith"] for d in docs if "langsmith" in d]
    write_json(doc, args.json)


def _send(store: Store, run_id: str, args: argparse.Namespace, console: Console,
          config: LangSmithConfig) -> dict[str, Any]:
    """Send a finished run to LangSmith. A failure is printed as an error with the command
    that retries it; it does not change the eval's exit code (the run is safe in the store)."""
    from judgekit.langsmith.remote import LangSmithError

    try:
        return send_run(store, run_id, args, console, config).to_json()
    except LangSmithError as exc:
        err = table_console(stderr=True)
        err.print(f"error: {exc}; run {run_id} is stored locally: `judgekit sync {run_id}` "
                  "sends it again", style="bold red", highlight=False, soft_wrap=True)
        return {"run_id": run_id, "error": str(exc)}
