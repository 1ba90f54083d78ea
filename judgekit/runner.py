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
import socket
import threading
import time
import traceback
from collections.abc import Callable, Coroutine, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, TypeVar

from judgekit.aio import to_daemon_thread
from judgekit.comparisons import run_comparisons
from judgekit.dataset import Dataset
from judgekit.errors import ConfigError, ModelNotConfigured, RunStopped, SuiteError
from judgekit.evaluation import Evaluator
from judgekit.recording import CaseRecorder, scoring, with_usage
from judgekit.shard import Shard
from judgekit.store import ExperimentRow, RunRow, Store
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


class Progress(Protocol):
    """Receives progress events; the console and pytest implement it."""

    def start(self, plan: RunPlan) -> None: ...
    def case_done(self, experiment: ExperimentPlan, case: CaseResult) -> None: ...
    def finish(self, plan: RunPlan) -> None: ...


class DoneCases:
    """The cases of an experiment that are in the store, as far as this process knows.

    It holds the ``(example_id, repetition)`` keys that were stored before the plan was made
    (what ``--resume`` skips) and only *counts* the cases stored since: each is stored once and
    never looked up again (:meth:`RunPlan.work` yields every key once), and keeping 100,000 keys
    would cost ~13 MB, the only part of a run's memory that grew with its size. ``len()`` is
    the number stored; ``in`` answers for the keys stored before the plan.
    """

    __slots__ = ("_added", "_before")

    def __init__(self, before: Iterable[tuple[str, int]] = ()) -> None:
        self._before = set(before)
        self._added = 0

    def add(self, key: tuple[str, int]) -> None:
        """Count a case just stored (stored once: its key is not kept)."""
        if key not in self._before:
            self._added += 1

    def __contains__(self, key: object) -> bool:
        return key in self._before

    def __len__(self) -> int:
        return len(self._before) + self._added

    def __repr__(self) -> str:
        return f"DoneCases({len(self)} stored, {len(self._before)} before this plan)"


@dataclass
class ExperimentPlan:
    """One variant of a run and how far it has got."""

    id: str
    position: int
    variant: dict[str, Any]
    label: str
    n_expected: int
    done: DoneCases = field(default_factory=DoneCases)
    n_done: int = 0
    n_passed: int = 0
    n_skipped: int = 0
    cost_usd: float | None = 0.0


@dataclass
class RunPlan:
    """A run ready to execute: the suite, the store rows and the work left to do.

    ``examples`` is the suite's dataset: a file dataset is streamed from disk by
    :meth:`iter_examples` (once per repetition), never held in memory as a whole.
    """

    run_id: str
    suite: Suite
    store: Store
    experiments: list[ExperimentPlan]
    examples: Dataset | Sequence[Example]
    repeat: int
    concurrency: int
    resumed: bool = False
    shard: Shard | None = None

    @property
    def n_examples(self) -> int:
        """Examples this run evaluates: the dataset's, or its shard's share."""
        return self.experiments[0].n_expected // self.repeat if self.experiments else 0

    @property
    def n_todo(self) -> int:
        """Cases still to run."""
        return sum(e.n_expected - len(e.done) for e in self.experiments)

    def iter_examples(self) -> Iterator[Example]:
        """The examples in order (this shard's only), streamed from the file for a file
        dataset."""
        examples = (self.examples.stream() if isinstance(self.examples, Dataset)
                    else iter(self.examples))
        return examples if self.shard is None else self.shard.select(examples)

    def work(self) -> Iterator[tuple[ExperimentPlan, Example, int]]:
        """Cases to run, variants interleaved so every variant advances together.

        Lazy: the workers pull one case at a time, so only the cases in flight are read.
        """
        for rep in range(self.repeat):
            for example in self.iter_examples():
                for exp in self.experiments:
                    if (example.id, rep) not in exp.done:
                        yield exp, example, rep


def plan_run(
    suite: Suite,
    store: Store,
    *,
    concurrency: int = 8,
    repeat: int = 1,
    resume: str | None = None,
    retry_errors: str | None = None,
    config: Mapping[str, Any] | None = None,
    shard: Shard | None = None,
) -> RunPlan:
    """Create (or reopen, for ``resume``/``retry_errors``) a run in the store.

    With ``shard``, only the examples of that shard are run (every example is still stored,
    so the run's dataset is whole for LangSmith); a resumed run
    keeps the shard it was started with.

    Raises:
        ConfigError: bad concurrency/repeat, or a run that does not belong to this suite.
        DatasetError: a malformed dataset (raised here, before anything is written).
    """
    from judgekit._version import __version__

    if concurrency < 1:
        raise ConfigError(f"--concurrency must be at least 1, got {concurrency}")
    if repeat < 1:
        raise ConfigError(f"--repeat must be at least 1, got {repeat}")
    if resume and retry_errors:
        raise ConfigError("give either --resume or --retry-errors, not both")
    examples = suite.data
    # len() reads and validates the whole file (streamed, not kept) before any write.
    n_examples = len(examples)
    if not n_examples:
        raise SuiteError(f"{suite.qualname}: the dataset {suite.data.name!r} has no examples")
    with contextlib.closing(examples.stream()) as first:
        suite.check_fixtures(next(first))
    for ev in suite.evaluators:
        if ev.against is not None and ev.against not in suite.variant_labels:
            raise SuiteError(f"{suite.qualname}: {ev.key}(against={ev.against!r}) names no "
                             f"variant; the variants are {', '.join(suite.variant_labels)}")
    version = suite.data.version
    reopen = resume or retry_errors
    if reopen:
        run = store.get_run(reopen)
        if run.rescore_of:
            # Its cases are copies whose target ran in the original run: redo them there.
            raise ConfigError(f"run {run.id} is a rescore of run {run.rescore_of} and ran no "
                              f"target; use --{'resume' if resume else 'retry-errors'} "
                              f"{run.rescore_of}, then `judgekit rescore {run.rescore_of}` again")
        if run.suite != suite.name:
            raise ConfigError(f"run {run.id} is of suite {run.suite!r}, not {suite.name!r}; "
                              f"`judgekit show {run.id}` tells which file it came from")
        pid = live_owner(run)
        if pid is not None:
            # Two processes on one run would both run its missing cases: the second one's
            # writes would collide with the first's.
            raise ConfigError(f"run {run.id} is still running (process {pid} on this machine);"
                              f" let it finish, or stop it (kill {pid}) and then resume")
        rows = store.experiments(run.id)
        labels = [r.variant_label for r in rows]
        if labels != suite.variant_labels:
            raise ConfigError(f"run {run.id} compared variants {labels}, the suite now has "
                              f"{suite.variant_labels}; start a new run instead")
        for row in rows:
            if row.dataset_version != version:
                raise ConfigError(
                    f"run {run.id} used dataset version {row.dataset_version}, the data is now "
                    f"{version}: the examples changed, so start a new run instead of resuming")
        store.reopen_run(run.id, _owner())
        plans = []
        for row in rows:
            if retry_errors:
                store.delete_error_cases(row.id)
            plans.append(ExperimentPlan(row.id, row.position, dict(row.variant),
                                        row.variant_label, row.n_expected,
                                        DoneCases(store.finished_cases(row.id))))
        return RunPlan(run.id, suite, store, plans, examples, rows[0].repeat if rows else repeat,
                       concurrency, resumed=True, shard=Shard.from_config(run.config))
    run_cfg = {"concurrency": concurrency, "repeat": repeat, **(config or {}), **_owner()}
    if shard is not None:
        run_cfg["shard"] = shard.to_dict()
        n_total, n_examples = n_examples, sum(1 for _ in shard.select(examples.stream()))
        if not n_examples:
            raise ConfigError(f"--shard {shard}: none of the {n_total} examples falls in this "
                              "shard; use fewer shards")
    run_id = store.create_run(suite.name, str(suite.path) if suite.path else None, run_cfg,
                              __version__)
    store.save_examples(version, examples.stream())
    specs = [e.spec for e in suite.evaluators]
    goals = suite.goals.to_dict() if suite.goals else None
    plans = []
    variants = zip(suite.variants, suite.variant_labels, strict=True)
    for position, (variant, label) in enumerate(variants):
        exp_id = store.create_experiment(run_id, position, variant, label, suite.data.name,
                                         version, n_examples, repeat, specs, goals)
        plans.append(ExperimentPlan(exp_id, position, dict(variant), label,
                                    n_examples * repeat))
    return RunPlan(run_id, suite, store, plans, examples, repeat, concurrency, shard=shard)


def _boot_id() -> str | None:
    """This machine's boot id (Linux), or None: a pid from an earlier boot is another process."""
    try:
        with open("/proc/sys/kernel/random/boot_id", encoding="ascii") as f:
            return f.read().strip() or None
    except OSError:
        return None


def _start_ticks(pid: int) -> int | None:
    """When process ``pid`` started (clock ticks since boot, /proc/PID/stat field 22), or None
    when it does not exist or there is no /proc (then the pid alone is all we know)."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            stat = f.read()
    except OSError:
        return None
    # The command name (field 2) may hold spaces and ')': the fields after it follow the last ')'.
    fields = stat[stat.rfind(b")") + 2:].split()
    try:
        return int(fields[19])  # field 22 is the 20th after the name and the state (fields 2-3)
    except (IndexError, ValueError):
        return None


def _owner() -> dict[str, Any]:
    """Who runs a run: kept in its config so that a killed run can be told from a live one.

    A pid alone is not an identity (pids are recycled), so the boot id and the process start
    time are kept too: the owner is live only if all of them match.
    """
    # None when unknown (no /proc): a resume then overwrites a previous owner's values too.
    return {"pid": os.getpid(), "host": socket.gethostname(), "boot_id": _boot_id(),
            "started": _start_ticks(os.getpid())}


def _owner_state(run: RunRow) -> tuple[str, int | None]:
    """("live", pid), ("gone", pid) or ("unknown", None) for the process running ``run``."""
    if run.status != "running" or not isinstance(run.config, Mapping):
        return "unknown", None
    pid, host = run.config.get("pid"), run.config.get("host")
    if not isinstance(pid, int) or host != socket.gethostname():
        return "unknown", None  # an older judgekit, or another machine: cannot tell
    boot, started = run.config.get("boot_id"), run.config.get("started")
    if isinstance(boot, str) and isinstance(started, int):
        now_boot = _boot_id()
        if now_boot is not None:
            # Full identity: same boot, and a process with that pid that started when ours did.
            if now_boot != boot:
                return "gone", pid  # the machine rebooted since
            ticks = _start_ticks(pid)
            return ("live" if ticks == started else "gone"), pid
        # No /proc here now (a record from Linux read elsewhere?): the pid rule below.
    if pid == os.getpid():
        return "live", pid
    try:
        os.kill(pid, 0)  # signal 0: only asks whether the process exists
    except ProcessLookupError:
        return "gone", pid
    except OSError:
        pass  # exists, owned by someone else
    try:
        # A record of an older judgekit (no start time): a recycled pid that is some other
        # program is not the owner, which was a Python process.
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            cmdline = f.read().lower()
        # (Empty while a process is just starting: then trust the pid.)
        if cmdline and b"python" not in cmdline and b"judgekit" not in cmdline:
            return "gone", pid
    except OSError:
        pass  # no /proc (macOS): trust the pid
    return "live", pid


def live_owner(run: RunRow) -> int | None:
    """The id of another process on this machine still running ``run``, or None.

    None when the run is not ``running``, was started elsewhere or by an older judgekit (no
    owner recorded), or its process is gone (see :func:`is_stale`).
    """
    state, pid = _owner_state(run)
    return pid if state == "live" and pid != os.getpid() else None


def is_stale(run: RunRow) -> bool:
    """True for a ``running`` run whose process, on this machine, is gone: it was killed
    (SIGKILL, a crash, a reboot) and ``--resume`` finishes it. ``judgekit runs`` can say so."""
    return _owner_state(run)[0] == "gone"


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
        # The target's signature, read once (inspect.signature per case was 10% of a case).
        self.params = list(inspect.signature(plan.suite.target).parameters.items())
        self.writer = _CaseWriter(plan.store)

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


class _CaseWriter:
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
