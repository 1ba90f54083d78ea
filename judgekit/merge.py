"""``judgekit merge``: the shard runs of one evaluation (``eval --shard i/n``) as one run.

Each shard is an ordinary run in its own store that ran only its part of the data. Merging
copies every case (with its scores and calls) into a new run of another store, then computes
the summary, the summary evaluators and the goals over all of them, as one unsharded run
would have: summaries are never averaged across shards (p99 latency and F1 do not average).
Everything is checked before anything is written, so a refused merge writes nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from judgekit._version import __version__
from judgekit.errors import ConfigError
from judgekit.goals import Goals
from judgekit.shard import Shard
from judgekit.store import ExperimentRow, RunRow, Store
from judgekit.summary import summarize

__all__ = ["ShardRun", "check_shards", "merge_shards", "open_shard"]

_OWNER_KEYS = ("pid", "host", "boot_id", "started")  # the shard process's, not the merge's


@dataclass
class ShardRun:
    """One shard's run, read from its store.

    Attributes:
        store: The shard's store (open).
        run: The shard's run.
        shard: Which shard it is.
        experiments: The run's experiments, one per variant.
    """

    store: Store
    run: RunRow
    shard: Shard
    experiments: list[ExperimentRow]

    @property
    def where(self) -> str:
        """``STORE::RUN``, as the command line names it."""
        return f"{self.store.path}::{self.run.id}"


def open_shard(spec: str) -> ShardRun:
    """Open ``STORE[::RUN]``: the given run, or the store's newest shard run.

    Raises:
        ConfigError: the store does not exist, or the run is not a finished shard run.
        StoreError: no such run.
    """
    path, _, ref = spec.partition("::")
    if not Path(path).is_file():
        raise ConfigError(f"{path}: no such store; give the store file each shard ran with "
                          "(judgekit eval --shard i/n --store PATH)")
    store = Store.existing(path)
    if ref:
        run = store.get_run(ref)
    else:
        runs = [r for r in store.list_runs() if Shard.from_config(r.config)]
        if not runs:
            store.close()
            raise ConfigError(f"{path}: no shard run in this store (judgekit eval --shard i/n)")
        run = runs[0]
    shard = Shard.from_config(run.config)
    if shard is None:
        store.close()
        raise ConfigError(f"{path}::{run.id} is not a shard run; merge the runs of "
                          "`judgekit eval --shard i/n`")
    if run.status != "complete":
        store.close()
        raise ConfigError(f"{path}::{run.id} (shard {shard}) is {run.status}; finish it first "
                          f"(judgekit eval SUITE --shard {shard} --resume {run.id})")
    return ShardRun(store, run, shard, store.experiments(run.id))


def _shape(s: ShardRun) -> dict[str, Any]:
    """What every shard of one evaluation has in common."""
    return {
        "suite": s.run.suite,
        "shard count": s.shard.count,
        "shard group": s.shard.group,
        "variants": [e.variant_label for e in s.experiments],
        "data version": sorted({e.dataset_version for e in s.experiments}),
        "evaluators": [list(e.evaluators) for e in s.experiments],
        "goals": [e.goals for e in s.experiments],
        "repeat": [e.repeat for e in s.experiments],
    }


def check_shards(shards: Sequence[ShardRun]) -> None:
    """Refuse shards that are not exactly the n shards of one evaluation.

    Raises:
        ConfigError: naming the first difference, a missing or a repeated shard.
    """
    first = shards[0]
    want = _shape(first)
    for s in shards[1:]:
        got = _shape(s)
        for field, value in want.items():
            if got[field] != value:
                raise ConfigError(f"{s.where} is not a shard of the same evaluation as "
                                  f"{first.where}: its {field} is {got[field]}, not {value}")
    seen: dict[int, ShardRun] = {}
    for s in shards:
        if s.shard.index in seen:
            raise ConfigError(f"shard {s.shard} is given twice: {seen[s.shard.index].where} and "
                              f"{s.where}")
        seen[s.shard.index] = s
    missing = [str(i) for i in range(1, first.shard.count + 1) if i not in seen]
    if missing:
        raise ConfigError(f"shard{'s' if len(missing) > 1 else ''} {', '.join(missing)} of "
                          f"{first.shard.count} missing: give every shard's store")


def merge_shards(specs: Sequence[str], into: Store, *, suite_path: str | None = None) -> str:
    """Merge the shard runs named by ``specs`` (``STORE[::RUN]``) into one run of ``into``.

    Args:
        specs: One ``STORE[::RUN]`` per shard.
        into: The store to write the merged run to; none of the shards' stores.
        suite_path: The suite file, when the run has summary evaluators (they need every case
            at once, so they run again) and the file has moved since the shards ran.

    Returns:
        The merged run's id.

    Raises:
        ConfigError: shards that do not make up one evaluation, or ``into`` being one of them.
    """
    shards: list[ShardRun] = []
    try:
        for spec in specs:
            shards.append(open_shard(spec))
        into_path = Path(into.path).resolve()
        for s in shards:
            if Path(s.store.path).resolve() == into_path:
                raise ConfigError(f"--into {into.path} is the store of shard {s.shard}; merge into "
                                  "another store")
        check_shards(shards)
        shards.sort(key=lambda s: s.shard.index)
        summary_suite = _summary_suite(shards, suite_path)
        return _write(shards, into, summary_suite)
    finally:
        for s in shards:
            s.store.close()


def _summary_suite(shards: Sequence[ShardRun], suite_path: str | None) -> Any:
    """The suite, loaded only when its summary evaluators must run again over every case."""
    first = shards[0]
    if not any(s.store.summary_scores(e.id) for s in shards for e in s.experiments):
        return None
    from judgekit.suite import load_suites

    path = suite_path or first.run.path
    if not path or not Path(path.split("::")[0]).is_file():
        raise ConfigError(f"run {first.run.id} has summary evaluators, which need every case "
                          f"at once: give --suite PATH (its suite file {path} is not here)")
    (suite,) = load_suites(f"{path.split('::')[0]}::{first.run.suite}")
    version = first.experiments[0].dataset_version
    if suite.data.version != version:
        raise ConfigError(f"{path}: the suite's data is version {suite.data.version}, the shards "
                          f"ran version {version}; merge with the data they ran")
    return suite


def _write(shards: Sequence[ShardRun], into: Store, suite: Any) -> str:
    from judgekit.aio import run_sync
    from judgekit.runner import ExperimentPlan, RunPlan, run_summary_evaluators

    first = shards[0]
    config = {k: v for k, v in first.run.config.items()
              if k not in _OWNER_KEYS and k != "shard"}
    config["merged_from"] = [{"store": str(s.store.path), "run": s.run.id,
                              "shard": str(s.shard)} for s in shards]
    config["shard_group"] = first.shard.group
    run_id = into.create_run(first.run.suite, first.run.path, config, __version__)
    version = first.experiments[0].dataset_version
    into.save_examples(version, first.store.examples(version))
    plans: list[ExperimentPlan] = []
    for position, exp in enumerate(first.experiments):
        n_examples = sum(s.experiments[position].n_examples for s in shards)
        exp_id = into.create_experiment(run_id, position, exp.variant, exp.variant_label,
                                        exp.dataset_name, version, n_examples, exp.repeat,
                                        exp.evaluators, exp.goals)
        for s in shards:
            batch = []
            for case in s.store.iter_cases(s.experiments[position].id):
                batch.append((exp_id, case))
                if len(batch) >= 500:
                    into.write_cases(batch)
                    batch = []
            into.write_cases(batch)
        plans.append(ExperimentPlan(exp_id, position, dict(exp.variant), exp.variant_label,
                                    n_examples * exp.repeat))
    for plan_exp, exp in zip(plans, first.experiments, strict=True):
        summary_scores = []
        if suite is not None:
            plan = RunPlan(run_id, suite, into, plans, suite.data, exp.repeat, 1)
            summary_scores = run_sync(run_summary_evaluators(plan, plan_exp))
        summary = summarize(into, plan_exp.id, exp.repeat, summary_scores)
        goals = Goals.from_dict(exp.goals).check(summary) if exp.goals else []
        into.save_summary(plan_exp.id, summary, summary_scores, [g.to_dict() for g in goals])
    into.finish_run(run_id, "complete")
    return run_id
