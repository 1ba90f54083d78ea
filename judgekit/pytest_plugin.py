"""The pytest plugin: ``pytest suites/reviews.py`` runs a judgekit suite as ordinary test items.

Loaded automatically through the ``pytest11`` entry point; ``-p no:judgekit`` turns it off.

Design:

- **Collection.** ``@suite`` turns a ``test_*`` function into a :class:`~judgekit.suite.Suite`
  object, which pytest's own collector would mistake for a plain function. The
  ``pytest_pycollect_makeitem`` hook claims it first and returns one :class:`SuiteItem` per
  variant × example (× repetition with ``--judgekit-repeat``), named like pytest's parametrized
  tests, ``test_extract[rules-review-017]``, so ``-k``, ``::test_extract`` and node ids work.
- **Running.** Nothing is written until the first item of a suite runs: then the store is
  opened and :func:`~judgekit.runner.plan_run` creates the run and its experiments, once per
  suite per session. Each item runs its case with :func:`~judgekit.runner.run_one_case`, which
  stores it exactly as ``judgekit eval`` does. Items run one at a time in pytest's order, on one
  event loop kept for the session (clients bound to a loop survive from item to item);
  ``judgekit eval`` is the fast, concurrent path for the same file.
- **Outcome of an item.** The target raising fails it with the user's traceback (judgekit's
  frames removed); a failed score or an evaluator error fails it with one line per score,
  ``{key} {verdict}: {comment}`` (an ``assert`` in the target is a failed ``assertion`` score);
  unscored scores never fail; a case whose scores were all skipped is reported as skipped with
  the reason (a failure under ``--judgekit-strict``).
- **Goals.** At session end every run is finalised (summary, summary evaluators, goals) and the
  terminal summary prints one ``judgekit goals:`` line per variant. A missed goal fails the
  session (exit code 1). Goals are about the whole dataset, so a variant whose cases did not all
  run (``-k``, ``-x``, Ctrl-C) is *not checked*: the line says so, no goal result is stored for
  it, and the run is left ``interrupted`` so ``judgekit eval PATH --resume RUN`` can finish it.
- **Inert** for sessions without suites: no store is opened and nothing is printed.
- Not made for pytest-xdist: each worker would store its own partial run.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import os
from collections.abc import Coroutine
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import pytest

from judgekit.aio import run_sync
from judgekit.api import EvalResult
from judgekit.errors import JudgekitError
from judgekit.runner import ASSERTION_KEY, RunPlan, finalize, plan_run, run_one_case
from judgekit.store import ExperimentRow, Store, default_store_path
from judgekit.suite import Suite
from judgekit.types import CaseResult, Example, Score

__all__ = ["CaseFailed", "SuiteItem"]

T = TypeVar("T")


def pytest_addoption(parser: pytest.Parser) -> None:
    """Register the ``--judgekit-*`` options."""
    group = parser.getgroup("judgekit", "judgekit suites (LLM evaluation)")
    group.addoption("--judgekit-store", metavar="PATH", default=None,
                    help="result store (default: $JUDGEKIT_STORE or .judgekit/judgekit.db)")
    group.addoption("--judgekit-repeat", metavar="N", type=int, default=1,
                    help="run every example N times (one test item per repetition)")
    group.addoption("--judgekit-strict", action="store_true", default=False,
                    help="fail on skipped scores too, and fail the session on any failed, "
                         "errored or skipped result")
    group.addoption("--judgekit-json", metavar="FILE", default=None,
                    help="write the session's runs as judgekit JSON (as `judgekit eval --json`)")
    group.addoption("--judgekit-judge-model", metavar="MODEL", default=None,
                    help="model for LLM judges that name none (default: "
                         "$JUDGEKIT_JUDGE_MODEL or gpt-4o)")
    group.addoption("--judgekit-cache", default=None,
                    choices=("read-write", "off", "refresh", "replay"),
                    help="model response cache mode (default read-write; replay: offline)")


def pytest_configure(config: pytest.Config) -> None:
    """Check the options and attach the session state (nothing is opened yet)."""
    repeat = config.getoption("judgekit_repeat")
    if repeat < 1:
        raise pytest.UsageError(f"--judgekit-repeat must be at least 1, got {repeat}")
    out = config.getoption("judgekit_json")
    if out and not (config.invocation_params.dir / out).parent.is_dir():
        raise pytest.UsageError(f"--judgekit-json {out}: the directory does not exist")
    config.pluginmanager.register(_Session(config), "judgekit-session")


@pytest.hookimpl(tryfirst=True)
def pytest_pycollect_makeitem(collector: pytest.Collector, name: str,
                              obj: object) -> list[SuiteItem] | None:
    """Collect a ``@suite`` object as one item per variant × example (× repetition)."""
    if not isinstance(obj, Suite) or not getattr(collector, "funcnamefilter", bool)(name):
        return None
    try:
        examples = obj.data.examples  # loads and validates the data file
        if not examples:
            raise JudgekitError(f"the dataset {obj.data.name!r} has no examples")
        obj.check_fixtures(examples[0])
    except JudgekitError as exc:
        # CollectError: pytest shows the message alone, as `judgekit eval` would (no traceback).
        raise collector.CollectError(f"{name}: {exc}") from None
    repeat: int = collector.config.getoption("judgekit_repeat")
    items = []
    for index, label in enumerate(obj.variant_labels):
        for rep in range(repeat):
            for example in examples:
                # "::" would split the node id: pytest reads it as a path separator.
                case_id = f"{label}-{example.id}".replace("::", ":")
                if repeat > 1:
                    case_id += f"-rep{rep}"
                items.append(SuiteItem.from_parent(
                    collector, name=f"{name}[{case_id}]", suite=obj, variant_index=index,
                    example=example, repetition=rep))
    return items


class CaseFailed(Exception):
    """A case failed: its message is the whole report (pytest adds no judgekit frames)."""


class SuiteItem(pytest.Item):
    """One case of a suite: a variant, an example and a repetition."""

    def __init__(self, *, suite: Suite, variant_index: int, example: Example, repetition: int,
                 **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.suite = suite
        self.variant_index = variant_index
        self.example = example
        self.repetition = repetition
        # Marks put on the function under @suite apply to its items, as for any test.
        for mark in getattr(suite.target, "pytestmark", []):
            self.add_marker(mark)

    def runtest(self) -> None:
        """Run the case, store it, and turn its result into pass, fail or skip."""
        session: _Session = self.config.pluginmanager.getplugin("judgekit-session")
        run_id, case = session.run_case(self)
        # Shown by --junitxml: where the case is stored and what it scored.
        self.user_properties.append(("judgekit_run", run_id))
        self.user_properties += [(s.key, s.value if s.value is not None else
                                  s.score if s.score is not None else s.status)
                                 for s in case.scores]
        if case.error is not None and case.error.skipped:
            if self.config.getoption("judgekit_strict"):
                raise CaseFailed(f"skipped (--judgekit-strict): {case.error.message}")
            pytest.skip(case.error.message)
        if case.error is not None:
            raise CaseFailed(f"the target raised {case.error}\n\n{case.error.traceback or ''}")
        strict = self.config.getoption("judgekit_strict")
        failed = [s for s in case.scores if s.failed]
        # After a failed assert the other evaluators did not run: their "error" is no news.
        asserted = any(s.key == ASSERTION_KEY for s in failed)
        bad = [s for s in case.scores if s.failed or (s.status == "error" and not asserted)
               or (strict and s.status == "skipped")]
        if bad:
            raise CaseFailed("\n".join(_score_line(s) for s in bad))
        if case.scores and all(s.status == "skipped" for s in case.scores):
            reasons = dict.fromkeys(f"{s.key}: {s.comment or 'skipped'}" for s in case.scores)
            pytest.skip("; ".join(reasons))

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException],
                     style: Any = None) -> Any:
        """A failed case is its message alone: the user's traceback or the judges' reasons."""
        if isinstance(excinfo.value, CaseFailed):
            return str(excinfo.value)
        return super().repr_failure(excinfo, style)

    def reportinfo(self) -> tuple[Path, int | None, str]:
        """Point reports at the target function's line."""
        try:
            line: int | None = inspect.getsourcelines(self.suite.target)[1] - 1
        except (OSError, TypeError):
            line = None
        return self.path, line, self.name


def _score_line(score: Score) -> str:
    """``cot_qa INCORRECT: the reasoning``; a pass/fail check shows ``failed``."""
    trace = score.metadata.get("traceback") if score.status == "error" else None
    return f"{score.describe()}\n{trace}" if trace else score.describe()


@dataclass
class _SuiteRun:
    """One suite's run in this session: its plan once the first item ran, or why it failed."""

    suite: Suite
    plan: RunPlan | None = None
    error: str | None = None
    rows: list[ExperimentRow] = field(default_factory=list)


class _Session:
    """The plugin's state for one pytest session: store, event loop, one run per suite."""

    def __init__(self, config: pytest.Config) -> None:
        self.config = config
        self.store_shown: Path | None = None  # as given (or the default), for the summary line
        self.store: Store | None = None
        self.loop: asyncio.AbstractEventLoop | None = None
        self.runs: dict[int, _SuiteRun] = {}  # by id(): a Suite is a mutable dataclass
        self.lines: list[tuple[str, str]] = []  # (text, colour) for the terminal summary
        self.settings_scope = contextlib.ExitStack()  # the model settings, for the session

    def _await(self, coro: Coroutine[Any, Any, T]) -> T:
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            if self.loop is None:
                self.loop = asyncio.new_event_loop()
            return self.loop.run_until_complete(coro)
        return run_sync(coro)  # pytest itself driven from a running loop: use a helper thread

    def _use_model_settings(self, here: Path) -> None:
        """Judge model, cache and prices for the session, as `judgekit eval` sets them."""
        from judgekit.models.settings import settings_for_run, use_settings

        assert self.store is not None
        settings = settings_for_run(
            here, self.store.path, judge_model=self.config.getoption("judgekit_judge_model"),
            cache=self.config.getoption("judgekit_cache") or os.environ.get("JUDGEKIT_CACHE_MODE"))
        self.settings_scope.enter_context(use_settings(settings))

    def run_case(self, item: SuiteItem) -> tuple[str, CaseResult]:
        """Run and store the item's case (planning the suite's run on first use).

        Returns:
            The run id and the stored case.
        """
        here = self.config.invocation_params.dir
        run = self.runs.setdefault(id(item.suite), _SuiteRun(item.suite))
        if run.plan is None and run.error is None:
            try:
                if self.store is None:
                    given = self.config.getoption("judgekit_store")
                    self.store_shown = Path(given) if given else default_store_path()
                    self.store = Store(here / self.store_shown)
                    self._use_model_settings(here)
                suite = item.suite
                if suite.path is not None and suite.path.is_absolute():
                    # Stored and shown as typed, e.g. suites/reviews.py (as `judgekit eval`).
                    with contextlib.suppress(ValueError):  # another drive, on Windows
                        suite.path = Path(os.path.relpath(suite.path, here))
                args = list(self.config.invocation_params.args)
                run.plan = plan_run(suite, self.store, concurrency=1,
                                    repeat=self.config.getoption("judgekit_repeat"),
                                    config={"runner": "pytest", "argv": args})
            except JudgekitError as exc:
                run.error = str(exc)
        if run.plan is None:
            pytest.fail(f"judgekit: {run.error}", pytrace=False)
        exp = run.plan.experiments[item.variant_index]
        case = self._await(run_one_case(run.plan, exp, item.example, item.repetition))
        return run.plan.run_id, case

    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        """Finalise every run, check goals, write JSON, and fail the session on a miss."""
        try:
            # A list, not a generator: every run is finalised even after the first miss.
            failed = any([self._finish(run) for run in self.runs.values() if run.plan])
            run_ids = [r.plan.run_id for r in self.runs.values() if r.plan]
            if run_ids:
                self.lines.append((f"judgekit: stored in {self.store_shown} · " + ", ".join(
                    f"judgekit show {run_id}" for run_id in run_ids), ""))
                out = self.config.getoption("judgekit_json")
                if out:
                    self._write_json(self.config.invocation_params.dir / out)
        finally:
            if self.loop is not None:
                self.loop.run_until_complete(self.loop.shutdown_asyncgens())
                self.loop.run_until_complete(self.loop.shutdown_default_executor())
                self.loop.close()
            if self.store is not None:
                self.store.close()
            self.settings_scope.close()
        if failed and session.exitstatus == pytest.ExitCode.OK:
            session.exitstatus = pytest.ExitCode.TESTS_FAILED

    def _finish(self, run: _SuiteRun) -> bool:
        """Finalise one run and add its summary lines; True when it fails the session."""
        # Imported here, not at the top: rich is only worth loading when a suite ran.
        from judgekit.report.console import fmt_goal

        plan = run.plan
        assert plan is not None and self.store is not None
        complete = [len(e.done) == e.n_expected for e in plan.experiments]
        rows = self._await(finalize(plan, "complete" if all(complete) else "interrupted"))
        for exp, row, done in zip(plan.experiments, rows, complete, strict=True):
            if not done and row.goal_results:
                # Goals are about the whole dataset: keep no verdict on part of it.
                self.store.save_summary(row.id, row.summary or {},
                                        self.store.summary_scores(row.id), [])
            name = f"{plan.suite.name} · {row.variant_label}" if len(self.runs) > 1 \
                else row.variant_label
            if not done and exp.done and plan.suite.goals:
                self.lines.append((f"judgekit goals: {name} not checked: {len(exp.done)} of "
                                   f"{exp.n_expected} cases ran (partial run)", "yellow"))
            elif done and row.goal_results:
                missed = any(g["met"] is False for g in row.goal_results)
                text = "  ".join(fmt_goal(g).plain for g in row.goal_results)
                self.lines.append((f"judgekit goals: {name} {text}", "red" if missed else "green"))
        run.rows = [self.store.get_experiment(r.id) for r in rows]
        result = EvalResult(self.store, self.store.get_run(plan.run_id), run.rows,
                            plan.suite.qualname)
        if not result.goals_met:
            return True
        if result.exit_code(strict=self.config.getoption("judgekit_strict")):
            self.lines.append((f"judgekit strict: {plan.suite.name} has failed, errored or "
                               "skipped results", "red"))
            return True
        return False

    def _write_json(self, path: Path) -> None:
        """The DESIGN §9 object; several suites share one object, as in `judgekit eval`."""
        from judgekit.report.json_report import combine, run_json, write_json

        assert self.store is not None
        store = self.store
        docs = [run_json(store, store.get_run(r.plan.run_id), r.rows, lazy=True)
                for r in self.runs.values() if r.plan is not None]
        write_json(combine(docs, "pytest"), path)

    @pytest.hookimpl(wrapper=True, tryfirst=True)
    def pytest_terminal_summary(self, terminalreporter: Any) -> Any:
        """Print the goal lines and where the results are stored, after the short summary."""
        # The outermost wrapper resumes last: after pytest's "short test summary info".
        result = yield
        for text, colour in self.lines:
            terminalreporter.write_line(text, **({colour: True} if colour else {}))
        return result
