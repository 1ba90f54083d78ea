"""Re-scoring a stored run: new or changed evaluators over its stored outputs, no target calls.

:func:`rescore` writes a *new* run, linked to the original by ``config["rescore_of"]``, with one
experiment per original experiment (same position, variant, label, dataset version, example ids
and repetitions), so it reads like any other run in ``judgekit runs``, ``show``, ``export`` and
``compare``. Each case keeps the original's outputs, latency and target calls (their tokens and
cost, so cost and latency figures stay those of the system under test); only the judge calls
are new, and they go through the response cache and per-endpoint limiter like a normal run's.

Cases whose target raised (or was skipped, or failed an ``assert``) have no outputs to score:
they are copied as they were, each new evaluator recorded as an ``error`` score on them (as
``judgekit eval`` does), and counted. Goals are the original run's, as stored with it; a goal
on a score the re-score no longer writes is dropped and said so.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from judgekit.api import EvalResult, RunInterrupted
from judgekit.dataset import Dataset
from judgekit.errors import ConfigError, EvaluatorError, JudgekitError, RunStopped
from judgekit.evaluation import Evaluator
from judgekit.evaluator_specs import SuiteEvaluators, parse_evaluator_spec, resolve_evaluators
from judgekit.goals import Goals
from judgekit.recording import CaseRecorder, scoring, with_usage
from judgekit.run_owner import owner_fields
from judgekit.runner import (
    ASSERTION_KEY,
    CaseWriter,
    DoneCases,
    ExperimentPlan,
    Progress,
    RunPlan,
    live_owner,
    run_summary_evaluators,
)
from judgekit.store import ExperimentRow, RunRow, Store
from judgekit.suite import Suite
from judgekit.summary import summarize
from judgekit.types import CallRecord, CaseResult, Example, Score, Usage

if TYPE_CHECKING:
    from judgekit.models.settings import ModelSettings

__all__ = ["RescoreInterrupted", "RescoreResult", "parse_evaluator_spec", "rescore"]


class RescoreInterrupted(RunInterrupted):
    """Ctrl-C stopped a re-score: what finished is stored; re-scoring again pays nothing twice
    (every judge reply already received is in the response cache)."""

    def __init__(self, run_id: str, original: str, done: int, total: int) -> None:
        self.run_id = run_id
        JudgekitError.__init__(
            self, f"interrupted: rescore {run_id} of run {original} stopped at {done}/{total} "
                  f"cases; rescore {original} again (judge replies so far are cached)")


class RescoreResult(EvalResult):
    """:class:`~judgekit.api.EvalResult` of the new run, plus what the re-score did.

    Attributes:
        original: The id of the run that was re-scored.
        n_rescored: Cases whose stored outputs the new evaluators scored.
        n_not_rescored: Cases copied unscored: their target raised, was skipped or asserted.
        notes: One line each: where each evaluator came from, goals dropped, and the like.
    """

    def __init__(self, base: EvalResult, original: str, n_rescored: int, n_not_rescored: int,
                 notes: Sequence[str]) -> None:
        super().__init__(base.store, base.run, base.experiments, base.suite)
        self.original = original
        self.n_rescored = n_rescored
        self.n_not_rescored = n_not_rescored
        self.notes = list(notes)

    def __repr__(self) -> str:
        return f"RescoreResult(run={self.run.id!r}, rescore_of={self.original!r}, " \
               f"rescored={self.n_rescored}, not_rescored={self.n_not_rescored})"


# -- the run --------------------------------------------------------------------------------


def _not_target(**_: Any) -> Any:
    """The re-score's stand-in target: never called (the outputs are the stored ones)."""
    raise AssertionError("rescore never calls the target")


def _replaces(key: str, new_keys: set[str]) -> bool:
    """Whether a stored score (or judge call) ``key`` is one a new evaluator writes again."""
    return key in new_keys or any(key.startswith(k + ".") for k in new_keys)


def _goals(row: ExperimentRow, written: set[str], any_summary: bool,
           notes: list[str]) -> Goals | None:
    """The original's goals, less those on scores this re-score does not write."""
    if not row.goals:
        return None
    goals = Goals.from_dict(row.goals)
    if any_summary:
        return goals  # summary evaluators name their metrics only when they run

    def kept(key: str) -> bool:
        return any(key == k or key.startswith(k + ".") for k in written)

    dropped = [k for k in goals.score_keys if not kept(k)]
    for key in dropped:
        notes.append(f"goal on {key} not checked: this rescore does not write {key} "
                     "(--keep keeps the original scores)")
    accuracy = goals.accuracy if goals.accuracy and kept(goals.accuracy[0]) else None
    return Goals(accuracy=accuracy, scores={k: v for k, v in goals.scores.items() if kept(k)},
                 cost_per_1k=goals.cost_per_1k, mean_latency_s=goals.mean_latency_s,
                 p50_latency_s=goals.p50_latency_s, p99_latency_s=goals.p99_latency_s)


@dataclass
class _Rescorer:
    plan: RunPlan
    originals: dict[str, ExperimentRow]  # new experiment id -> the original
    case_evaluators: list[Evaluator]
    examples: dict[str, dict[str, Example]]  # dataset version -> id -> example
    keep: bool
    progress: Progress | None
    n_rescored: int = 0
    n_not_rescored: int = 0

    def __post_init__(self) -> None:
        self.new_keys = {e.key for e in self.plan.suite.evaluators}
        self.writer = CaseWriter(self.plan.store)

    def work(self) -> Iterator[tuple[ExperimentPlan, CaseResult]]:
        for exp in self.plan.experiments:
            for case in self.plan.store.iter_cases(self.originals[exp.id].id):
                yield exp, case

    async def score_outputs(self, example: Example, outputs: Any) -> tuple[list[Score],
                                                                           list[CallRecord]]:
        recorder = CaseRecorder()
        results: dict[int, list[Score]] = {}

        async def one(i: int, ev: Evaluator) -> None:
            with scoring(ev.key):
                results[i] = await ev.score(inputs=example.inputs, outputs=outputs,
                                            reference_outputs=example.reference,
                                            example=example)

        with recorder.active():
            for i, ev in enumerate(self.case_evaluators):
                if ev.inline:  # pure code: on the loop, as the runner does
                    await one(i, ev)
            await asyncio.gather(*(one(i, ev) for i, ev in enumerate(self.case_evaluators)
                                   if not ev.inline))
        calls = list(recorder.calls)
        scores = [with_usage(s, calls) for i in sorted(results) for s in results[i]]
        return scores, calls

    async def rescore_case(self, exp: ExperimentPlan, case: CaseResult) -> CaseResult:
        original = self.originals[exp.id]
        example = self.examples[original.dataset_version].get(case.example_id)
        assertion = [s for s in case.scores if s.key == ASSERTION_KEY]
        kept = [s for s in case.scores if self.keep and s.key != ASSERTION_KEY
                and not _replaces(s.key, self.new_keys)]
        # The target's calls stay (its tokens, cost and the messages `export` reads); of the
        # judge calls only those behind kept scores do.
        calls = [c for c in case.calls if c.role == "target" or (
            self.keep and c.score_key is not None and not _replaces(c.score_key, self.new_keys))]
        new: list[Score] = []
        why = (f"the target raised {case.error}" if case.error is not None
               else f"the target's assertion failed: {assertion[0].comment}" if assertion
               else "its example is not in the store" if example is None else None)
        if why is None:
            assert example is not None
            new, judge_calls = await self.score_outputs(example, case.outputs)
            calls += judge_calls
            self.n_rescored += 1
        else:
            self.n_not_rescored += 1
            if case.error is None or not case.error.skipped:  # skipped: no scores, as eval
                new = [Score(key=e.key, status="error", comment=f"not evaluated: {why}")
                       for e in self.case_evaluators]
        return CaseResult(
            example_id=case.example_id, variant=exp.variant, repetition=case.repetition,
            outputs=case.outputs, error=case.error, latency_s=case.latency_s,
            scores=(*assertion, *kept, *new), calls=tuple(calls), usage=Usage.of(calls),
            started_at=case.started_at, ended_at=case.ended_at)

    async def worker(self, work: Iterator[tuple[ExperimentPlan, CaseResult]]) -> None:
        for exp, original in work:
            case = await self.rescore_case(exp, original)
            await self.writer.write(exp.id, case)
            exp.done.add((case.example_id, case.repetition))
            exp.n_done += 1
            exp.n_passed += case.passed
            exp.n_skipped += bool(case.error and case.error.skipped)
            if exp.cost_usd is not None:
                exp.cost_usd = None if case.usage.cost_usd is None else (
                    exp.cost_usd + case.usage.cost_usd)
            if self.progress is not None:
                self.progress.case_done(exp, case)

    async def run(self) -> list[ExperimentRow]:
        from judgekit.comparisons import run_comparisons
        from judgekit.models.calls import bind_loop

        bind_loop()
        if self.progress is not None:
            self.progress.start(self.plan)
        try:
            work = self.work()
            n_cases = sum(e.n_expected for e in self.plan.experiments)
            workers = [asyncio.create_task(self.worker(work))
                       for _ in range(max(1, min(self.plan.concurrency, n_cases)))]
            try:
                await asyncio.gather(*workers)
            except BaseException:
                for w in workers:
                    w.cancel()
                await asyncio.gather(*workers, return_exceptions=True)
                raise
            finally:
                self.writer.flush()
        finally:
            if self.progress is not None:
                self.progress.finish(self.plan)
        await run_comparisons(self.plan)
        return await self.finalize()

    async def finalize(self) -> list[ExperimentRow]:
        """As :func:`judgekit.runner.finalize`, keeping (with ``keep``) the original's summary
        scores that no new evaluator writes again."""
        store, rows = self.plan.store, []
        for exp in self.plan.experiments:
            summary_scores = await run_summary_evaluators(self.plan, exp)
            if self.keep:
                summary_scores += [s for s in store.summary_scores(self.originals[exp.id].id)
                                   if not _replaces(s.key, self.new_keys)]
            summary = summarize(store, exp.id, self.plan.repeat, summary_scores)
            goals = self.plan.suite.goals
            results = goals.check(summary) if goals else []
            store.save_summary(exp.id, summary, summary_scores, [g.to_dict() for g in results])
            rows.append(store.get_experiment(exp.id))
        store.finish_run(self.plan.run_id, "complete")
        return rows


def rescore(
    run: str,
    evaluators: Sequence[Any],
    *,
    store: Store | str | Path | None = None,
    keep: bool = False,
    variants: Sequence[str] = (),
    concurrency: int = 8,
    models: ModelSettings | None = None,
    progress: Progress | None = None,
    config: Mapping[str, Any] | None = None,
) -> RescoreResult:
    """Score a stored run's outputs with new or changed evaluators, as a new linked run.

    The target is never called. The new run has the original's experiments (variants, example
    ids, dataset version, repetitions), outputs, latency and target calls, and only the new
    evaluators' scores (with ``keep``, also the original scores they do not replace). Judge
    calls go through the response cache: re-scoring twice costs nothing the second time.

    Args:
        run: The run id (or a prefix; ``RUN-N`` picks one experiment).
        evaluators: ``"NAME[:ARGS]"`` specs as ``--evaluator`` takes them (see
            :func:`parse_evaluator_spec`; a NAME that is a key of the suite's evaluators is
            the suite's), :class:`~judgekit.Evaluator` objects or plain evaluator functions.
        store: A :class:`~judgekit.Store` or a path (default: ``$JUDGEKIT_STORE`` or
            ``.judgekit/judgekit.db``); it must exist.
        keep: Also keep the original scores no new evaluator writes again.
        variants: Only these variant labels (default: every experiment of the run).
        concurrency: Cases scored at once.
        models: Judge model, response cache, limits (default: the settings in force).
        progress: Progress events, as for :func:`judgekit.run_suite`.
        config: Extra keys for the new run's config.

    Returns:
        The new run, read from the store; ``exit_code()`` is 1 when a goal is missed.

    Raises:
        StoreError: an unknown run. EvaluatorError: an unknown evaluator or bad arguments.
        ConfigError: a run that is not complete, or an unknown variant.

    Example:
        >>> import judgekit  # doctest: +SKIP
        >>> result = judgekit.rescore("7f3a2c", ["cot_qa:model=gpt-4o"])  # doctest: +SKIP
        >>> result.run.config["rescore_of"]  # doctest: +SKIP
        '7f3a2c'
    """
    owned = not isinstance(store, Store)
    st = store if isinstance(store, Store) else Store.existing(store)
    try:
        return _rescore(st, run, evaluators, keep=keep, variants=variants,
                        concurrency=concurrency, models=models, progress=progress,
                        config=config)
    except BaseException:
        if owned:
            st.close()
        raise


def _rescore(store: Store, ref: str, specs: Sequence[Any], *, keep: bool,
             variants: Sequence[str], concurrency: int, models: ModelSettings | None,
             progress: Progress | None, config: Mapping[str, Any] | None) -> RescoreResult:
    if concurrency < 1:
        raise ConfigError(f"--concurrency must be at least 1, got {concurrency}")
    if not specs:
        raise EvaluatorError("give at least one --evaluator NAME[:ARGS] to rescore with")
    original = store.get_run(ref)
    rows = _chosen(store, original, ref, variants)
    if original.status != "complete":
        owner = live_owner(original)
        how = (f"it is still running (process {owner})" if owner is not None
               else f"it is {original.status}; finish it first with `judgekit eval "
                    f"{original.path or 'SUITE'}::{original.suite} --resume {original.id}`")
        raise ConfigError(f"run {original.id} cannot be rescored: {how}")
    notes: list[str] = []
    evs = resolve_evaluators(specs, SuiteEvaluators(original), notes)
    labels = [r.variant_label for r in rows]
    for ev in evs:
        if ev.against is not None and ev.against not in labels:
            raise EvaluatorError(f"{ev.key}(against={ev.against!r}) names no variant of the "
                                 f"rescored experiments: {', '.join(labels)}")
    written = {e.key for e in evs} | (
        {k for r in rows for k in (r.summary or {}).get("scores", {})} if keep else set())
    goals = _goals(rows[0], written, any(e.summary for e in evs), notes)
    examples: dict[str, dict[str, Example]] = {}
    for row in rows:
        if row.dataset_version not in examples:
            examples[row.dataset_version] = {e.id: e for e in
                                             store.examples(row.dataset_version)}
    first = rows[0]
    suite = Suite(name=original.suite, target=_not_target,
                  data=Dataset(first.dataset_name,
                               examples=list(examples[first.dataset_version].values())),
                  evaluators=evs)
    suite.goals = goals  # after construction: a kept score's goal names no new evaluator
    suite.path = Path(original.path) if original.path else None
    run_id, plans, originals = _new_rescore_run(store, original, rows, evs, keep, goals, notes,
                                                concurrency, config)
    plan = RunPlan(run_id, suite, store, plans, suite.data.examples, first.repeat, concurrency)
    rescorer = _Rescorer(plan, originals, [e for e in evs if not e.summary and e.against is None],
                         examples, keep, progress)
    result_rows = _run_rescorer(rescorer, models, original.id, sum(r.n_expected for r in rows))
    qualname = f"{original.path}::{original.suite}" if original.path else original.suite
    base = EvalResult(store, store.get_run(run_id), result_rows, qualname)
    return RescoreResult(base, original.id, rescorer.n_rescored, rescorer.n_not_rescored, notes)


def _new_rescore_run(store: Store, original: RunRow, rows: Sequence[ExperimentRow],
                     evs: Sequence[Evaluator], keep: bool, goals: Goals | None,
                     notes: list[str], concurrency: int, config: Mapping[str, Any] | None,
                     ) -> tuple[str, list[ExperimentPlan], dict[str, ExperimentRow]]:
    """Create the rescore's run and one experiment per rescored one, at the same position."""
    from judgekit._version import __version__

    specs_stored = [e.spec for e in evs]
    run_cfg = {"concurrency": concurrency, **(config or {}), "rescore_of": original.id,
               # New experiment N re-scores the original's experiment N (same position).
               "rescore": {"evaluators": specs_stored, "keep": keep,
                           "experiments": [r.id for r in rows], "notes": notes}, **owner_fields()}
    run_id = store.create_run(original.suite, original.path, run_cfg, __version__)
    plans, originals = [], {}
    new_keys = {e.key for e in evs}
    for row in rows:
        # The evaluators behind the new experiment's scores: with keep, the original's that
        # were not replaced, then the new ones.
        kept_specs = [dict(s) for s in row.evaluators
                      if keep and not _replaces(str(s.get("key")), new_keys)]
        exp_id = store.create_experiment(
            run_id, row.position, row.variant, row.variant_label, row.dataset_name,
            row.dataset_version, row.n_examples, row.repeat, kept_specs + specs_stored,
            goals.to_dict() if goals else None)
        plans.append(ExperimentPlan(exp_id, row.position, dict(row.variant), row.variant_label,
                                    row.n_expected, DoneCases()))
        originals[exp_id] = row
    return run_id, plans, originals


def _run_rescorer(rescorer: _Rescorer, models: ModelSettings | None, original_id: str,
                  total: int) -> list[ExperimentRow]:
    """Run the rescorer to the end, marking its run interrupted or failed if it does not."""
    from judgekit.aio import run_sync

    plan = rescorer.plan
    try:
        if models is None:
            return run_sync(rescorer.run())
        from judgekit.models.settings import use_settings

        with use_settings(models):
            return run_sync(rescorer.run())
    except (KeyboardInterrupt, SystemExit):
        plan.store.finish_run(plan.run_id, "interrupted")
        done = sum(len(p.done) for p in plan.experiments)
        raise RescoreInterrupted(plan.run_id, original_id, done, total) from None
    except RunStopped as exc:
        plan.store.finish_run(plan.run_id, "interrupted")
        exc.args = (f"{exc}; once fixed, rescore {original_id} again (judge replies so far "
                    "are cached)",)
        raise
    except BaseException:
        plan.store.finish_run(plan.run_id, "failed")
        raise


def _chosen(store: Store, run: RunRow, ref: str, variants: Sequence[str]
            ) -> list[ExperimentRow]:
    """The experiments to re-score: all of ``run``'s, the one ``RUN-N`` names, or those of
    the ``variants`` labels."""
    rows = store.experiments(run.id)
    if "-" in ref.strip():
        wanted = f"{run.id}-{ref.strip().split('-', 1)[1]}"
        rows = [r for r in rows if r.id == wanted]
        if not rows:
            raise ConfigError(f"run {run.id} has no experiment {wanted}; `judgekit show "
                              f"{run.id}` lists them")
    if variants:
        labels = [r.variant_label for r in rows]
        unknown = [v for v in variants if v not in labels]
        if unknown:
            raise ConfigError(f"run {run.id} has no variant {unknown[0]!r} (variants: "
                              f"{', '.join(labels)})")
        rows = [r for r in rows if r.variant_label in variants]
    if not rows:
        raise ConfigError(f"run {run.id} has no experiments to rescore")
    return rows
