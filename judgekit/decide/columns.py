"""One stored experiment's cases as columns (numpy arrays), the input of every comparison.

A comparison of 100,000-case runs needs each case's status, pass/fail and score per key, its
latency and its cost, not its outputs or the judge's reasoning: those are read back from the
store only for the few cases a report shows (:func:`case_detail`).

Cost is the *list price* of a case's calls: what they cost at the provider whether this run
paid for them or the response cache answered (a cache hit keeps the price it was paid at). The
eval table's cost counts only calls paid in that run, so a cached re-run shows $0 there; here
it compares the same as the first run, which is what a decision about a variant needs.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from judgekit._json import loads
from judgekit.errors import ConfigError
from judgekit.store import ExperimentRow, Store
from judgekit.types import SKIPPED

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

__all__ = ["ABSENT", "STATUSES", "CaseDetail", "Columns", "ScoreColumn", "case_detail",
           "load_columns", "signal_column"]

#: Score statuses by code in :attr:`ScoreColumn.status`; ``ABSENT``: the case has no such score.
STATUSES = ("ok", "unscored", "error", "skipped")
ABSENT = len(STATUSES)

Key = tuple[str, int]  # (example_id, repetition)


@dataclass(frozen=True)
class ScoreColumn:
    """One score key over an experiment's cases (aligned with :attr:`Columns.keys`).

    Attributes:
        status: Code of the score's status per case (index into :data:`STATUSES`, or ABSENT).
        score: The numeric score (NaN: none).
        passed: 1.0 passed, 0.0 failed, NaN: no pass/fail verdict.
    """

    status: npt.NDArray[np.int8]
    score: npt.NDArray[np.float64]
    passed: npt.NDArray[np.float64]

    @property
    def ok(self) -> npt.NDArray[np.bool_]:
        """Cases with an ok verdict."""
        return self.status == 0

    @property
    def pass_fail(self) -> bool:
        """True when every ok verdict has a pass/fail (then it is compared as pass/fail)."""
        import numpy as np

        ok = self.ok
        return bool(ok.any()) and not bool(np.isnan(self.passed[ok]).any())


@dataclass(frozen=True)
class Columns:
    """An experiment's cases, one array entry per case in dataset order."""

    experiment: ExperimentRow
    keys: list[Key]
    index: dict[Key, int]
    errored: npt.NDArray[np.bool_]
    skipped: npt.NDArray[np.bool_]
    latency: npt.NDArray[np.float64]
    target_cost: npt.NDArray[np.float64]  # list price of the target calls; NaN: unknown
    judge_cost: npt.NDArray[np.float64]
    outputs_hash: npt.NDArray[np.int64]
    scores: dict[str, ScoreColumn]

    def __len__(self) -> int:
        return len(self.keys)

    def per_1k(self, cost: npt.NDArray[np.float64]) -> float | None:
        """Cost per 1,000 cases (skipped cases left out); None when any price is unknown."""
        ran = cost[~self.skipped]
        if not len(ran) or bool(_isnan(ran).any()):
            return None if len(ran) else 0.0
        return float(ran.mean() * 1000)

    def latency_percentiles(self) -> tuple[float | None, float | None]:
        """(p50, p99) of the cases that did not error: numpy's default interpolation, as the
        eval summary's."""
        import numpy as np

        ok = self.latency[~self.errored & ~self.skipped]
        if not len(ok):
            return None, None
        p50, p99 = np.percentile(ok, [50, 99])
        return float(p50), float(p99)


def _isnan(a: Any) -> Any:
    import numpy as np

    return np.isnan(a)


def _case_costs(store: Store, experiment_id: str) -> dict[int, tuple[float, float]]:
    """case id -> (target, judge) list price; NaN when a call that returned has no price.

    A call that failed returned no usage to price (providers do not bill a 429 or a 500), so
    it cannot make the total unknown, as in the eval summary.
    """
    out: dict[int, tuple[float, float]] = {}
    for case_id, role, n_unknown, total in store.db.execute(
        "SELECT case_id, role, SUM(cost_usd IS NULL AND error IS NULL), COALESCE(SUM(cost_usd), 0)"
        " FROM calls WHERE experiment_id=? GROUP BY case_id, role", (experiment_id,),
    ):
        target, judge = out.get(case_id, (0.0, 0.0))
        value = math.nan if n_unknown else float(total)
        out[case_id] = (value, judge) if role == "target" else (target, value)
    return out


def load_columns(store: Store, experiment: ExperimentRow) -> Columns:
    """Read an experiment's cases from the store as :class:`Columns`."""
    import numpy as np

    costs = _case_costs(store, experiment.id)
    keys: list[Key] = []
    errored: list[bool] = []
    skipped: list[bool] = []
    latency: list[float] = []
    target_cost: list[float] = []
    judge_cost: list[float] = []
    hashes: list[int] = []
    raw: dict[str, list[tuple[int, int, float, float]]] = {}
    code = {name: i for i, name in enumerate(STATUSES)}
    for row, scores in store.iter_case_rows(experiment.id):
        i = len(keys)
        keys.append((row[1], row[2]))
        error_type = row[4]
        errored.append(error_type is not None and error_type != SKIPPED)
        skipped.append(error_type == SKIPPED)
        latency.append(float(row[7]))
        target, judge = costs.get(row[0], (0.0, 0.0))
        target_cost.append(target)
        judge_cost.append(judge)
        hashes.append(hash(row[3]))
        for key, score, _value, passed, status, _comment, _meta in scores:
            raw.setdefault(key, []).append(
                (i, code.get(status, 2), math.nan if score is None else float(score),
                 math.nan if passed is None else float(passed)))
    n = len(keys)
    columns: dict[str, ScoreColumn] = {}
    for key, entries in raw.items():
        status = np.full(n, ABSENT, dtype=np.int8)
        value = np.full(n, np.nan)
        passed_a = np.full(n, np.nan)
        for i, st, sc, ps in entries:
            # A key scored twice on one case (it should not be) keeps its first verdict.
            if status[i] == ABSENT:
                status[i], value[i], passed_a[i] = st, sc, ps
        columns[key] = ScoreColumn(status, value, passed_a)
    return Columns(
        experiment=experiment, keys=keys, index={k: i for i, k in enumerate(keys)},
        errored=np.array(errored, dtype=bool), skipped=np.array(skipped, dtype=bool),
        latency=np.array(latency, dtype=float), target_cost=np.array(target_cost, dtype=float),
        judge_cost=np.array(judge_cost, dtype=float),
        outputs_hash=np.array(hashes, dtype=np.int64), scores=columns)


def signal_column(store: Store, columns: Columns, spec: str
                  ) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """The acceptance signal ``KEY`` or ``KEY:FIELD`` per case, and the judge cost behind it.

    ``KEY`` is the ok score's numeric value (a code check such as ``json_schema`` gives 1 or
    0); ``KEY:FIELD`` a number in that score's metadata (``cot_qa:agreement``: the share of
    judge samples that agreed). NaN where the case has no ok score or no such number: such a
    case is never accepted on its signal. The cost is the list price of the judge calls made
    for that score (a code check costs nothing).

    Raises:
        ConfigError: when no case of the experiment has the score key (or the field).
    """
    import numpy as np

    key, _, name = spec.partition(":")
    exp = columns.experiment
    values = np.full(len(columns), np.nan)
    found = False
    for example_id, repetition, score, meta in store.db.execute(
        "SELECT c.example_id, c.repetition, s.score, s.metadata FROM scores s"
        " JOIN cases c ON c.id = s.case_id WHERE s.experiment_id=? AND s.key=?"
        " AND s.status='ok' ORDER BY s.id", (exp.id, key),
    ):
        i = columns.index.get((example_id, repetition))
        if i is None or not math.isnan(values[i]):
            continue
        value = score if not name else (loads(meta) or {}).get(name)
        if isinstance(value, bool):
            value = float(value)
        if isinstance(value, (int, float)) and math.isfinite(value):
            values[i] = float(value)
            found = True
    if not found:
        known = sorted(columns.scores)
        what = f"score {key!r}" if not name else f"a number {name!r} in the metadata of {key!r}"
        raise ConfigError(
            f"--signal {spec}: no case of {exp.variant_label} ({exp.id}) has {what}; "
            f"its score keys are {', '.join(known) or 'none'} (KEY or KEY:FIELD, "
            "e.g. cot_qa:agreement)")
    cost = np.zeros(len(columns))
    for example_id, repetition, n_unknown, total in store.db.execute(
        "SELECT c.example_id, c.repetition, SUM(k.cost_usd IS NULL AND k.error IS NULL),"
        " COALESCE(SUM(k.cost_usd), 0) FROM calls k JOIN cases c ON c.id = k.case_id"
        " WHERE k.experiment_id=? AND k.role='judge' AND k.score_key=?"
        " GROUP BY c.id", (exp.id, key),
    ):
        i = columns.index.get((example_id, repetition))
        if i is not None:
            cost[i] = math.nan if n_unknown else float(total)
    return values, cost


@dataclass(frozen=True)
class CaseDetail:
    """What a report shows of one case: its outputs (or error) and one score's verdict."""

    example_id: str
    repetition: int
    inputs: Any
    outputs: Any
    error: str | None
    score: float | None
    value: str | None
    passed: bool | None
    status: str
    comment: str | None

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON."""
        return {"example_id": self.example_id, "repetition": self.repetition,
                "inputs": self.inputs, "outputs": self.outputs, "error": self.error,
                "score": self.score, "value": self.value, "passed": self.passed,
                "status": self.status, "comment": self.comment}


def case_detail(store: Store, experiment: ExperimentRow, key: Key, metric: str) -> CaseDetail:
    """One case of ``experiment`` read back from the store, with its ``metric`` verdict."""
    row = store.db.execute(
        "SELECT c.id, c.outputs, c.error_type, c.error_message, e.inputs FROM cases c"
        " LEFT JOIN examples e ON e.dataset_version=? AND e.id=c.example_id"
        " WHERE c.experiment_id=? AND c.example_id=? AND c.repetition=?",
        (experiment.dataset_version, experiment.id, key[0], key[1])).fetchone()
    if row is None:
        return CaseDetail(key[0], key[1], None, None, "no such case", None, None, None,
                          "absent", None)
    score = store.db.execute(
        "SELECT score, value, passed, status, comment FROM scores WHERE case_id=? AND key=?"
        " ORDER BY id LIMIT 1", (row[0], metric)).fetchone()
    error = f"{row[2]}: {row[3]}" if row[2] else None
    inputs = None if row[4] is None else loads(row[4])
    outputs = None if row[1] is None else loads(row[1])
    if score is None:
        return CaseDetail(key[0], key[1], inputs, outputs, error, None, None, None, "absent",
                          None)
    return CaseDetail(key[0], key[1], inputs, outputs, error, score[0], score[1],
                      None if score[2] is None else bool(score[2]), score[3], score[4])


def shared_keys(sides: Sequence[Columns]) -> list[Key]:
    """The (example, repetition) keys every experiment has, in the first one's order."""
    common = set(sides[0].index)
    for side in sides[1:]:
        common &= side.index.keys()
    return [k for k in sides[0].keys if k in common]


def goals_of(experiment: ExperimentRow) -> Mapping[str, Any] | None:
    """The goals stored with the experiment (``Goals.to_dict``), None when it had none."""
    goals = experiment.goals
    if not goals:
        return None
    return goals if any(v not in (None, {}) for v in goals.values()) else None
