"""Library entry points: :func:`run_suite` (what the CLI and pytest call) and :func:`evaluate`.

Both return an :class:`EvalResult`, a read-only view of a stored run: the same table the CLI
prints, the DESIGN §9 JSON, cases as rows, and the exit code the goals imply.
"""

from __future__ import annotations

import io
import sys
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from judgekit.dataset import Dataset, dataset
from judgekit.errors import JudgekitError, RunStopped
from judgekit.evaluation import iter_evaluators
from judgekit.goals import Goals
from judgekit.report.json_report import StoredCases, run_json, write_json
from judgekit.runner import Progress, RunPlan, execute, finalize, plan_run
from judgekit.shard import Shard, shard_group
from judgekit.store import ExperimentRow, RunRow, Store
from judgekit.suite import Suite, parametrize
from judgekit.types import CaseResult

if TYPE_CHECKING:
    from judgekit.models.settings import ModelSettings

__all__ = ["BATCH_CONCURRENCY", "DEFAULT_CONCURRENCY", "EvalResult", "RunInterrupted",
           "StoredCases", "evaluate", "run_suite"]

#: Cases in flight at once, by default: live calls, and under ``batch`` (where a case waits
#: on a batch job, and the more cases wait the larger and fewer the jobs).
DEFAULT_CONCURRENCY = 8
BATCH_CONCURRENCY = 10_000

EXIT_OK, EXIT_GOAL_MISSED, EXIT_USAGE, EXIT_INTERNAL, EXIT_INTERRUPTED = 0, 1, 2, 3, 130


class RunInterrupted(JudgekitError):
    """Ctrl-C stopped a run; finished cases are stored and ``--resume`` completes it."""

    def __init__(self, plan: RunPlan) -> None:
        done = sum(len(e.done) for e in plan.experiments)
        total = sum(e.n_expected for e in plan.experiments)
        self.run_id = plan.run_id
        super().__init__(
            f"interrupted: {done}/{total} cases stored in {plan.store.path}; "
            f"finish with: judgekit eval {plan.suite.qualname} --resume {plan.run_id}"
        )


class EvalResult:
    """A finished (or resumed) run, read from the store."""

    def __init__(self, store: Store, run: RunRow, experiments: Sequence[ExperimentRow],
                 suite: str) -> None:
        self.store = store
        self.run = run
        self.experiments = list(experiments)
        self.suite = suite

    @property
    def run_id(self) -> str:
        """The run's id (``judgekit show RUN_ID``)."""
        return self.run.id

    @property
    def goals_met(self) -> bool:
        """True when every goal of every variant is met (or no goals are set)."""
        return all(g["met"] is not False for e in self.experiments
                   for g in (e.goal_results or []))

    def exit_code(self, *, strict: bool = False) -> int:
        """0 all goals met, 1 a goal missed, or (``strict``) any failed, errored or skipped."""
        if not self.goals_met:
            return EXIT_GOAL_MISSED
        if strict:
            for e in self.experiments:
                s = e.summary or {}
                if s.get("n_errors") or s.get("n_skipped") or \
                        s.get("n_passed", 0) < s.get("n_cases", 0):
                    return EXIT_GOAL_MISSED
                scores = s.get("scores", {}).values()
                if any(v.get("n_skipped") or v.get("n_error") for v in scores):
                    return EXIT_GOAL_MISSED
        return EXIT_OK

    def summary(self, *, width: int = 160) -> str:
        """The comparison table the CLI prints, as plain text."""
        from rich.console import Console

        from judgekit.report.console import render_table

        buf = io.StringIO()
        console = Console(file=buf, width=width, force_terminal=False, color_system=None,
                          emoji=False)
        render_table(self.store, self.run.id, self.suite, self.experiments, console,
                     show_hints=False)
        return buf.getvalue()

    def to_json(self, *, lazy: bool = False) -> dict[str, Any]:
        """The DESIGN §9 result object.

        Args:
            lazy: Leave each experiment's ``cases`` in the store: a list that reads them only
                as :meth:`write_json` writes it, so a 100,000-case result is written in
                bounded memory. Not for indexing.
        """
        return run_json(self.store, self.run, self.experiments, lazy=lazy)

    def write_json(self, path: str | Path) -> None:
        """Write :meth:`to_json` to ``path`` (``-``: stdout), streaming the cases."""
        write_json(self.to_json(lazy=True), path)

    def cases(self, variant: str | None = None) -> Iterator[tuple[ExperimentRow, CaseResult]]:
        """Every stored case (optionally of one variant label), with its experiment."""
        for exp in self.experiments:
            if variant is None or exp.variant_label == variant:
                for case in self.store.iter_cases(exp.id):
                    yield exp, case

    def to_pandas(self) -> Any:
        """One row per case: variant, example id, repetition, latency, error and each score.

        Raises:
            ImportError: when pandas is not installed (``pip install pandas``).
        """
        try:
            import pandas as pd
        except ImportError:
            raise ImportError("to_pandas() needs pandas: pip install pandas") from None
        records = []
        for exp, case in self.cases():
            rec: dict[str, Any] = {"experiment_id": exp.id, "variant": exp.variant_label,
                                   "example_id": case.example_id,
                                   "repetition": case.repetition, "latency_s": case.latency_s,
                                   "error": str(case.error) if case.error else None,
                                   "passed": case.passed, "outputs": case.outputs}
            for s in case.scores:
                rec[s.key] = s.score if s.status == "ok" else None
            records.append(rec)
        return pd.DataFrame.from_records(records)

    def close(self) -> None:
        """Close the store connection (``evaluate(store=path)`` opened it for this result)."""
        self.store.close()

    def __enter__(self) -> EvalResult:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"EvalResult(run={self.run.id!r}, suite={self.suite!r}, " \
               f"variants={[e.variant_label for e in self.experiments]})"


def run_suite(
    suite: Suite,
    *,
    store: Store,
    concurrency: int | None = None,
    repeat: int = 1,
    resume: str | None = None,
    retry_errors: str | None = None,
    progress: Progress | None = None,
    config: Mapping[str, Any] | None = None,
    models: ModelSettings | None = None,
    shard: Shard | None = None,
    batch: bool = False,
) -> EvalResult:
    """Run (or resume) a suite to completion and return the stored result.

    ``models`` sets the judge model, response cache, call limits and prices for the run
    (default: the settings in force, see :func:`judgekit.models.use_settings`). ``shard``
    runs one part of the data (:mod:`judgekit.shard`); its group, unless given, is derived
    from the suite, data version, variants and ``config["git_commit"]``. ``batch`` sends the
    OpenAI calls through the Batch API (:mod:`judgekit.models.batch`); ``concurrency``, the
    cases in flight, is then 10,000 unless given, so that the jobs are large.

    Raises:
        RunInterrupted: on Ctrl-C, after marking the run interrupted (finished cases are kept).
        JudgekitError: for bad data, options or a run that cannot be resumed.
    """
    from judgekit.aio import run_sync

    if batch:
        from dataclasses import replace

        from judgekit.models.settings import current_settings

        models = replace(models or current_settings(), batch=True)
    if concurrency is None:
        concurrency = BATCH_CONCURRENCY if models is not None and models.batch \
            else DEFAULT_CONCURRENCY
    if shard is not None and not (resume or retry_errors):
        commit = (config or {}).get("git_commit")
        shard = shard_group(shard, suite.name, suite.data.version, suite.variant_labels,
                            str(commit) if commit else None)
    plan = plan_run(suite, store, concurrency=concurrency, repeat=repeat, resume=resume,
                    retry_errors=retry_errors, config=config, shard=shard)

    async def go() -> list[ExperimentRow]:
        try:
            await execute(plan, progress)
        finally:
            if progress is not None:
                progress.finish(plan)
        return await finalize(plan)

    try:
        if models is None:
            rows = run_sync(go())
        else:
            from judgekit.models.settings import use_settings

            with use_settings(models):
                rows = run_sync(go())
    except (KeyboardInterrupt, SystemExit):
        store.finish_run(plan.run_id, "interrupted")
        raise RunInterrupted(plan) from None
    except RunStopped as exc:
        # E.g. replay met an uncached call, or no server listens: the run stays resumable,
        # and the one line the user sees says how.
        store.finish_run(plan.run_id, "interrupted")
        exc.args = (f"{exc}; once fixed, finish it with: judgekit eval {plan.suite.qualname} "
                    f"--resume {plan.run_id}",)
        raise
    except BaseException:
        # A bug in judgekit (exit 3): finished cases are kept; the run says it did not finish.
        store.finish_run(plan.run_id, "failed")
        raise
    return EvalResult(store, store.get_run(plan.run_id), rows, suite.qualname)


def evaluate(
    target: Callable[..., Any],
    data: Dataset | str | Path | Sequence[Mapping[str, Any]],
    evaluators: Sequence[Any] = (),
    *,
    goals: Goals | None = None,
    variants: Mapping[str, Sequence[Any]] | None = None,
    name: str | None = None,
    concurrency: int = 8,
    repeat: int = 1,
    store: Store | str | Path | None = None,
    models: ModelSettings | None = None,
) -> EvalResult:
    """Evaluate a function on a dataset without writing a suite file.

    Args:
        target: The function under test (sync or async); receives fixtures by parameter name
            (``inputs``, ``reference``, ``example``, input fields, variant names).
        data: A dataset, a path (relative to the calling file) or a list of records.
        evaluators: Evaluators, registered names, or plain functions.
        goals: Optional :class:`Goals`.
        variants: ``{"model": ["a", "b"]}``: compare variants side by side (a matrix when
            several names are given).
        name: The suite name in the store (default: the target's name).
        concurrency: Cases in flight at once.
        repeat: Repetitions per case (mean and spread per score).
        store: A :class:`Store` or a path (default: ``$JUDGEKIT_STORE`` or
            ``.judgekit/judgekit.db``).
        models: Judge model, response cache, call limits and prices
            (:class:`judgekit.models.ModelSettings`; default: the settings in force).

    Example:
        >>> import tempfile, judgekit
        >>> result = judgekit.evaluate(
        ...     lambda inputs: inputs["a"] + inputs["b"],
        ...     data=[{"inputs": {"a": 1, "b": 2}, "reference": 3}],
        ...     evaluators=["exact_match"], store=tempfile.mkdtemp() + "/j.db")
        >>> result.experiments[0].summary["scores"]["exact_match"]["mean"]
        1.0
    """
    if isinstance(data, (str, Path)):
        caller = sys._getframe(1).f_globals.get("__file__")
        data = dataset(data, base_dir=Path(caller).resolve().parent if caller else None)
    elif not isinstance(data, Dataset):
        data = dataset(data)
    fn_name = str(name or getattr(target, "__name__", None) or "target")
    if fn_name == "<lambda>":
        fn_name = "target"
    s = Suite(name=fn_name, target=target, data=data, evaluators=iter_evaluators(evaluators),
              goals=goals)
    for var_name, values in reversed(list((variants or {}).items())):
        parametrize(var_name, values)(s)
    owned = not isinstance(store, Store)
    st = store if isinstance(store, Store) else Store(store)
    try:
        result = run_suite(s, store=st, concurrency=concurrency, repeat=repeat, models=models)
    except BaseException:
        if owned:
            st.close()
        raise
    return result
