"""Running a suite: one asyncio loop, bounded concurrency, results streamed to the store.

A run is planned synchronously (:func:`plan_run`: the run and one experiment per variant are
written to the store first, so an interrupted run can always be resumed), then executed
(:func:`execute`) by ``concurrency`` workers pulling cases from one iterator, and finally
summarised (:func:`finalize`). Each case is written to the store the moment it is scored.
Sync targets run in a thread pool sized to the concurrency; a target's exception is a case
error and the run goes on; an ``assert`` in a target is a failed ``assertion`` score.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import inspect
import os
import queue
import threading
import time
import traceback
from collections.abc import Callable, Coroutine, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, TypeVar

from judgekit.aio import to_daemon_thread
from judgekit.comparisons import run_comparisons
from judgekit.errors import ConfigError, ModelNotConfigured, RunStopped, SuiteError
from judgekit.evaluation import Evaluator
from judgekit.recording import CaseRecorder, scoring, with_usage
from judgekit.run_owner import is_stale, live_owner
from judgekit.run_plan import DoneCases, ExperimentPlan, Progress, RunPlan, plan_run
from judgekit.store import ExperimentRow, Store
from judgekit.suite import FIXTURES, Suite
from judgekit.summary import summarize
from judgekit.types import SKIPPED, CaseError, CaseResult, Example, Score, Usage

__all__ = [
    "DoneCases",
    "ExperimentPlan",
    "Progress",
    "RunPlan",
    "execute",
    "finalize",
    "is_stale",
    "live_owner",
    "plan_run",
    "run_one_case",
]

T = TypeVar("T")

ASSERTION_KEY = "assertion"



def _fixtures(suite: Suite, example: Example, variant: Mapping[str, Any],
              repetition: int, params: Sequence[tuple[str, inspect.Parameter]] | None = None,
              ) -> dict[str, Any]:
    kwargs: dict[str, Any] = {}
    if params is None:
        params = list(inspect.signature(suite.target).parameters.items())
    for name, param in params:
        if name == "inputs":
            kwargs[name] = example.inputs
        elif name == "reference":
            kwargs[name] = example.reference
        elif name == "example":
            kwargs[name] = example
        elif name == "variant":
            kwargs[name] = dict(variant)
        elif name == "repetition":
            kwargs[name] = repetition
        elif name in variant:
            kwargs[name] = variant[name]
        elif name in FIXTURES:
            kwargs[name] = FIXTURES[name](example, variant)
        elif name in example.inputs:
            kwargs[name] = example.inputs[name]
        elif param.default is param.empty and param.kind not in (param.VAR_KEYWORD,
                                                                 param.VAR_POSITIONAL):
            raise SuiteError(f"{suite.qualname}: example {example.id!r} has no input "
                             f"{name!r} for the target's parameter of that name")
    return kwargs


class _DaemonThreads:
    """Up to ``size`` daemon threads that run sync targets, reused from case to case.

    A new thread per case cost about half of a code-only case's time: ``Thread.start`` waits
    until the new thread has been scheduled, behind the GIL. Daemon threads, as
    :func:`judgekit.aio.to_daemon_thread`'s: a Ctrl-C never waits for a target still blocked
    in a call. :meth:`close` lets the idle ones end.
    """

    def __init__(self, size: int) -> None:
        self.size = size
        self.jobs: queue.SimpleQueue[Callable[[], None] | None] = queue.SimpleQueue()
        self.lock = threading.Lock()
        self.started = 0
        self.busy = 0  # jobs submitted and not finished: a thread is started while busy > started

    def _serve(self) -> None:
        while (job := self.jobs.get()) is not None:
            job()

    async def run(self, fn: Callable[[], Any]) -> Any:
        """Await ``fn()`` in one of the threads, in a copy of this context (the case's)."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Any] = loop.create_future()
        ctx = contextvars.copy_context()  # carries the case recorder into the thread

        def settle(error: BaseException | None, value: Any) -> None:
            if not future.done():  # done: cancelled, the run was interrupted
                if error is not None:
                    future.set_exception(error)
                else:
                    future.set_result(value)

        def job() -> None:
            error: BaseException | None = None
            value: Any = None
            try:
                value = ctx.run(fn)
            except BaseException as exc:  # handed to the awaiting task
                error = exc
            with self.lock:  # before the result is handed over: the next job may come at once
                self.busy -= 1
            # A closed loop (RuntimeError) means the run was interrupted: nobody is waiting.
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(settle, error, value)

        with self.lock:
            self.busy += 1
            grow = self.busy > self.started and self.started < self.size
            if grow:
                self.started += 1
        if grow:
            threading.Thread(target=self._serve, name=f"judgekit-target-{self.started}",
                             daemon=True).start()
        self.jobs.put(job)
        return await future

    def close(self) -> None:
        """Let every thread end once it is idle (one that is still busy ends after its job)."""
        for _ in range(self.started):
            self.jobs.put(None)


class _Executor:
    """Runs cases: the target, then every per-case evaluator, then the write."""

    def __init__(self, plan: RunPlan, progress: Progress | None) -> None:
        self.plan = plan
        self.progress = progress
        self.suite = plan.suite
        # Comparative evaluators wait for both variants' outputs: see judgekit.comparisons.
        self.case_evaluators = [e for e in plan.suite.evaluators
                                if not e.summary and e.against is None]
        self.is_async = inspect.iscoroutinefunction(plan.suite.target)
        self.threads: _DaemonThreads | None = None
        # The target's signature, read once: inspect.signature is slow enough to show per case.
        self.params = list(inspect.signature(plan.suite.target).parameters.items())
        self.writer = CaseWriter(plan.store)

    async def call_target(self, kwargs: dict[str, Any], timing: list[float]) -> Any:
        """Call the target; ``timing`` gets the seconds a sync target spent running."""
        if self.is_async:
            return await self.suite.target(**kwargs)

        def timed() -> Any:
            # Timed in its own thread: measured from the loop, a 0.4 ms function reads as
            # 10 ms under concurrency (thread start and the GIL's 5 ms switch interval).
            start = time.perf_counter()
            try:
                return self.suite.target(**kwargs)
            finally:
                timing.append(time.perf_counter() - start)

        # Daemon threads: an interrupt must stop promptly, not wait at exit for sync targets
        # still running. Reused across cases when the run has a pool (see _DaemonThreads).
        result = await (self.threads.run(timed) if self.threads is not None
                        else to_daemon_thread(timed, name="judgekit-target"))
        if inspect.isawaitable(result):
            timing.clear()  # the work continues on the loop: time it from there
            result = await result
        return result

    async def score(self, ev: Evaluator, example: Example, outputs: Any) -> list[Score]:
        with scoring(ev.key):
            return await ev.score(inputs=example.inputs, outputs=outputs,
                                  reference_outputs=example.reference, example=example)

    async def run_case(self, exp: ExperimentPlan, example: Example, rep: int) -> CaseResult:
        recorder = CaseRecorder()
        started = time.time()
        t0 = time.perf_counter()
        timing: list[float] = []
        outputs: Any = None
        error: CaseError | None = None
        scores: list[Score] = []
        with recorder.active():
            try:
                kwargs = _fixtures(self.suite, example, exp.variant, rep, self.params)
                outputs = await self.call_target(kwargs, timing)
            except AssertionError as exc:
                message = str(exc) or "assertion failed in the target"
                scores.append(Score(key=ASSERTION_KEY, score=0.0, passed=False, comment=message))
                error_note = f"not evaluated: the target's assertion failed: {message}"
                scores += [Score(key=e.key, status="error", comment=error_note)
                           for e in self.case_evaluators]
            except RunStopped:
                raise  # e.g. --cache replay promised every response: stop the run, say which
            except ModelNotConfigured as exc:
                # An LLM variant with no endpoint: skipped (code variants still run), and
                # stored as such so --retry-errors runs it once a key is set.
                # No per-evaluator scores: the experiment summary says "skipped" once.
                error = CaseError(SKIPPED, str(exc))
            except Exception as exc:
                error = CaseError(type(exc).__name__, str(exc), user_traceback(exc))
            latency = (timing[0] if timing else time.perf_counter() - t0) - recorder.setup_s
            if error is not None and not error.skipped:
                scores = [Score(key=e.key, status="error",
                                comment=f"not evaluated: the target raised {error}")
                          for e in self.case_evaluators]
            elif error is None and not scores:
                # Inline (pure code) evaluators run right here; the rest concurrently. Scores
                # keep the suite's evaluator order either way.
                results: dict[int, list[Score]] = {}
                for i, ev in enumerate(self.case_evaluators):
                    if ev.inline:
                        results[i] = await self.score(ev, example, outputs)
                pending = {i: self.score(ev, example, outputs)
                           for i, ev in enumerate(self.case_evaluators) if not ev.inline}
                if pending:
                    results.update(zip(pending, await _together(list(pending.values())),
                                       strict=True))
                scores = [s for i in sorted(results) for s in results[i]]
        calls = tuple(recorder.calls)
        if calls:
            scores = [with_usage(s, calls) for s in scores]
        usage = Usage.of(calls)
        return CaseResult(
            example_id=example.id, variant=exp.variant, repetition=rep, outputs=outputs,
            error=error, latency_s=latency, scores=tuple(scores), calls=calls, usage=usage,
            started_at=started, ended_at=time.time(),
        )

    async def run_and_store(self, exp: ExperimentPlan, example: Example,
                            rep: int) -> CaseResult:
        """Run one case, write it to the store and count it on its experiment."""
        case = await self.run_case(exp, example, rep)
        await self.writer.write(exp.id, case)
        exp.done.add((example.id, rep))
        exp.n_done += 1
        exp.n_passed += case.passed
        exp.n_skipped += bool(case.error and case.error.skipped)
        if exp.cost_usd is not None:
            exp.cost_usd = None if case.usage.cost_usd is None else (
                exp.cost_usd + case.usage.cost_usd)
        return case

    async def worker(self, work: Iterator[tuple[ExperimentPlan, Example, int]]) -> None:
        for exp, example, rep in work:
            case = await self.run_and_store(exp, example, rep)
            if self.progress is not None:
                self.progress.case_done(exp, case)

    async def run(self) -> None:
        from judgekit.models.calls import bind_loop

        # Sync targets calling llm.chat_sync from their threads then share this loop (and its
        # connections, limiters and the case recorder) instead of a private loop per call.
        bind_loop()
        if ("llm" in self.suite.fixture_names() or any(e.judge for e in self.suite.evaluators)) \
                and _expects_provider_calls():
            from judgekit.models.openai import start_preload

            # The SDK's import starts now, off the loop; the first call that needs it does not
            # count the wait as the case's latency.
            start_preload(unless_unconfigured=True)
        work = self.plan.work()  # shared: each worker pulls the next case when free
        n_workers = min(self.plan.concurrency, max(self.plan.n_todo, 1))
        if not self.is_async:
            # At most one sync target per worker is running at a time.
            self.threads = _DaemonThreads(n_workers)
        batch = self._start_batch()
        workers = [asyncio.create_task(self.worker(work)) for _ in range(n_workers)]
        try:
            await asyncio.gather(*workers)
        except BaseException:
            for w in workers:
                w.cancel()
            await asyncio.gather(*workers, return_exceptions=True)
            raise
        finally:
            if self.threads is not None:
                self.threads.close()
                self.threads = None
            if batch is not None:
                from judgekit.models.calls import use_batch

                use_batch(None)
                await batch.close()

    def _start_batch(self) -> Any:
        """The run's batch queue under ``--batch`` (None for live calls)."""
        from judgekit.models.settings import current_settings

        settings = current_settings()
        if not settings.batch:
            return None
        from judgekit.models.batch import BatchSession
        from judgekit.models.calls import use_batch

        session = BatchSession(self.plan.store, self.plan.run_id, poll_s=settings.batch_poll_s,
                               on_state=getattr(self.progress, "batch_state", None))
        use_batch(session)
        return session


async def _together(coros: list[Coroutine[Any, Any, T]]) -> list[T]:
    """``asyncio.gather`` for a case's evaluators, with one task fewer: the first runs in the
    case's own task while the others run in tasks of their own (each task was ~3 % of a cached
    case). One evaluator needs no task at all. Should one fail or the case be cancelled, the
    others are cancelled too (evaluators turn their own errors into scores: only a stopped run
    or an interrupt gets here)."""
    tasks = [asyncio.ensure_future(c) for c in coros[1:]]
    try:
        results = [await coros[0]]
        for task in tasks:
            results.append(await task)
        return results
    except BaseException:
        for task in tasks:
            task.cancel()
        raise


def _expects_provider_calls() -> bool:
    """Whether this run will surely call a provider: the cache is off or refreshed, or has
    no file yet. Otherwise the first cache miss loads the SDK: a run answered from the cache
    never imports it, which on two cores took a third of a 2,000-case cached re-run (the
    import in a thread holds the GIL most of the time)."""
    from judgekit.models.cache import default_cache_path
    from judgekit.models.settings import current_settings

    settings = current_settings()
    if settings.cache in ("off", "refresh"):
        return True
    if settings.cache == "replay":
        return False  # a miss stops the run
    return not (settings.cache_path or default_cache_path()).exists()


class CaseWriter:
    """Writes finished cases to the store, those that finish in the same turn of the event
    loop in one transaction.

    The first case of a turn waits one turn (``sleep(0)``) for the cases finishing beside it,
    then commits them all: a commit is most of a case's write, and a cached re-run finishes
    dozens of cases per turn. Each case is committed within one turn of finishing (at once
    when ``LIMIT`` are waiting, and on cancellation), so a SIGKILL can lose only the cases of
    that last turn besides those in flight; ``--resume`` runs them again from the response
    cache, paying for nothing twice.
    """

    LIMIT = 256

    def __init__(self, store: Store) -> None:
        self.store = store
        self.pending: list[tuple[str, CaseResult]] = []

    async def write(self, experiment_id: str, case: CaseResult) -> None:
        self.pending.append((experiment_id, case))
        if len(self.pending) >= self.LIMIT:
            self.flush()
        elif len(self.pending) == 1:
            try:
                await asyncio.sleep(0)
            finally:  # cancelled too (Ctrl-C): what finished is stored
                self.flush()

    def flush(self) -> None:
        if self.pending:
            batch, self.pending = self.pending, []
            self.store.write_cases(batch)


_INTERNAL = (str(Path(__file__).parent), str(Path(asyncio.__file__).parent),
             str(Path(contextvars.__file__).parent / "concurrent"))


def user_traceback(exc: BaseException) -> str:
    """The traceback of ``exc`` without judgekit's and the event loop's own frames."""
    frames = [f for f in traceback.extract_tb(exc.__traceback__)
              if not f.filename.startswith(_INTERNAL)]
    return "".join(["Traceback (most recent call last):\n",
                    *traceback.format_list(frames[-8:]),
                    *traceback.format_exception_only(type(exc), exc)])


async def execute(plan: RunPlan, progress: Progress | None = None) -> None:
    """Run every case of the plan that is not in the store yet."""
    if progress is not None:
        progress.start(plan)
    await _Executor(plan, progress).run()


async def run_one_case(plan: RunPlan, exp: ExperimentPlan, example: Example,
                       rep: int) -> CaseResult:
    """Run, store and count one case of ``plan`` on its own, outside :func:`execute`.

    The pytest plugin uses it: each test item is one case, run in pytest's order.
    """
    from judgekit.models.calls import bind_loop

    bind_loop()
    return await _Executor(plan, None).run_and_store(exp, example, rep)


async def run_summary_evaluators(plan: RunPlan, exp: ExperimentPlan) -> list[Score]:
    """Run the suite's summary evaluators over one experiment's stored cases."""
    summary_evs = [e for e in plan.suite.evaluators if e.summary]
    if not summary_evs:
        return []
    # Summary evaluators take every case's outputs at once: here the examples are held too.
    order: dict[str, int] = {}
    by_id: dict[str, Example] = {}
    for i, e in enumerate(plan.iter_examples()):
        order[e.id], by_id[e.id] = i, e
    stored = [c for c in plan.store.iter_cases(exp.id, with_calls=False)
              if c.example_id in by_id]
    # Skipped cases have no outputs to count: a confusion matrix of Nones would be a lie.
    cases = sorted((c for c in stored if not (c.error and c.error.skipped)),
                   key=lambda c: (c.repetition, order[c.example_id]))
    if stored and not cases:
        reason = stored[0].error.message if stored[0].error else "skipped"
        return [Score(key=ev.key, status="skipped", comment=reason) for ev in summary_evs]
    examples = [by_id[c.example_id] for c in cases]
    scores: list[Score] = []
    for ev in summary_evs:
        with scoring(ev.key):
            scores += await ev.score(
                inputs=[e.inputs for e in examples], outputs=[c.outputs for c in cases],
                reference_outputs=[e.reference for e in examples], examples=examples,
                scores=[list(c.scores) for c in cases],
            )
    return scores


async def finalize(plan: RunPlan, status: str = "complete") -> list[ExperimentRow]:
    """Summarise every experiment, check goals, store both, and mark the run."""
    await run_comparisons(plan)
    rows = []
    for exp in plan.experiments:
        summary_scores = await run_summary_evaluators(plan, exp)
        summary = summarize(plan.store, exp.id, plan.repeat, summary_scores)
        goals = plan.suite.goals.check(summary) if plan.suite.goals else []
        plan.store.save_summary(exp.id, summary, summary_scores, [g.to_dict() for g in goals])
        rows.append(plan.store.get_experiment(exp.id))
    plan.store.finish_run(plan.run_id, status)
    return rows


def default_concurrency() -> int:
    """``$JUDGEKIT_CONCURRENCY`` or 8."""
    try:
        return int(os.environ.get("JUDGEKIT_CONCURRENCY", "8"))
    except ValueError:
        raise ConfigError("JUDGEKIT_CONCURRENCY must be a whole number") from None
