"""Planning a run: the run and its experiments written to the store before any case runs, and
the work left to do (what ``--resume`` skips)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from judgekit.dataset import Dataset
from judgekit.errors import ConfigError, SuiteError
from judgekit.run_owner import live_owner, owner_fields
from judgekit.shard import Shard
from judgekit.store import Store
from judgekit.suite import Suite
from judgekit.types import CaseResult, Example

__all__ = ["DoneCases", "ExperimentPlan", "Progress", "RunPlan", "plan_run"]


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
    if concurrency < 1:
        raise ConfigError(f"--concurrency must be at least 1, got {concurrency}")
    if repeat < 1:
        raise ConfigError(f"--repeat must be at least 1, got {repeat}")
    if resume and retry_errors:
        raise ConfigError("give either --resume or --retry-errors, not both")
    n_examples = _check_suite(suite)
    reopen = resume or retry_errors
    if reopen:
        return _reopen_run(suite, store, reopen, concurrency, repeat,
                           retry_errors=bool(retry_errors))
    return _new_run(suite, store, n_examples, concurrency, repeat, config, shard)


def _check_suite(suite: Suite) -> int:
    """The dataset's size, after checking what must hold before anything is written."""
    # len() reads and validates the whole file (streamed, not kept) before any write.
    n_examples = len(suite.data)
    if not n_examples:
        raise SuiteError(f"{suite.qualname}: the dataset {suite.data.name!r} has no examples")
    with contextlib.closing(suite.data.stream()) as first:
        suite.check_fixtures(next(first))
    for ev in suite.evaluators:
        if ev.against is not None and ev.against not in suite.variant_labels:
            raise SuiteError(f"{suite.qualname}: {ev.key}(against={ev.against!r}) names no "
                             f"variant; the variants are {', '.join(suite.variant_labels)}")
    return n_examples


def _reopen_run(suite: Suite, store: Store, run_id: str, concurrency: int, repeat: int, *,
                retry_errors: bool) -> RunPlan:
    """Reopen a stored run of this suite for --resume / --retry-errors."""
    flag = "retry-errors" if retry_errors else "resume"
    run = store.get_run(run_id)
    if run.rescore_of:
        # Its cases are copies whose target ran in the original run: redo them there.
        raise ConfigError(f"run {run.id} is a rescore of run {run.rescore_of} and ran no "
                          f"target; use --{flag} {run.rescore_of}, then "
                          f"`judgekit rescore {run.rescore_of}` again")
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
    version = suite.data.version
    for row in rows:
        if row.dataset_version != version:
            raise ConfigError(
                f"run {run.id} used dataset version {row.dataset_version}, the data is now "
                f"{version}: the examples changed, so start a new run instead of resuming")
    store.reopen_run(run.id, owner_fields())
    plans = []
    for row in rows:
        if retry_errors:
            store.delete_error_cases(row.id)
        plans.append(ExperimentPlan(row.id, row.position, dict(row.variant),
                                    row.variant_label, row.n_expected,
                                    DoneCases(store.finished_cases(row.id))))
    return RunPlan(run.id, suite, store, plans, suite.data, rows[0].repeat if rows else repeat,
                   concurrency, resumed=True, shard=Shard.from_config(run.config))


def _new_run(suite: Suite, store: Store, n_examples: int, concurrency: int, repeat: int,
             config: Mapping[str, Any] | None, shard: Shard | None) -> RunPlan:
    """Create a run, its examples and one experiment per variant in the store."""
    from judgekit._version import __version__

    examples, version = suite.data, suite.data.version
    run_cfg = {"concurrency": concurrency, "repeat": repeat, **(config or {}), **owner_fields()}
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

