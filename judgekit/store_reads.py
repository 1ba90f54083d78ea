"""The query half of the result store: runs, experiments, examples and cases read back."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from judgekit.errors import StoreError
from judgekit.store_schema import ExperimentRow, RunRow
from judgekit.store_schema import loads_column as _loads
from judgekit.store_texts import SharedTexts
from judgekit.types import CallRecord, CaseError, CaseResult, Example, Score, Usage

__all__ = ["StoreReads"]


class StoreReads:
    """The read methods of :class:`judgekit.store.Store`, which opens the connection."""

    db: sqlite3.Connection
    path: Path
    _texts: SharedTexts

    def _run(self, row: sqlite3.Row | tuple[Any, ...]) -> RunRow:
        return RunRow(row[0], row[1], row[2], row[3], row[4], row[5], _loads(row[6]) or {},
                      row[7])

    def _experiment(self, row: tuple[Any, ...]) -> ExperimentRow:
        return ExperimentRow(
            id=row[0], run_id=row[1], position=row[2], variant=_loads(row[3]),
            variant_label=row[4], dataset_name=row[5], dataset_version=row[6],
            n_examples=row[7], repeat=row[8], evaluators=_loads(row[9]),
            goals=_loads(row[10]), created_at=row[11], summary=_loads(row[12]),
            goal_results=_loads(row[13]),
        )

    _RUN_COLS = "id, suite, path, status, created_at, finished_at, config, judgekit_version"
    _EXP_COLS = ("id, run_id, position, variant, variant_label, dataset_name, dataset_version,"
                 " n_examples, repeat, evaluators, goals, created_at, summary, goal_results")

    def list_runs(self, limit: int | None = None) -> list[RunRow]:
        """Runs, newest first."""
        sql = f"SELECT {self._RUN_COLS} FROM runs ORDER BY created_at DESC"
        if limit:
            sql += f" LIMIT {int(limit)}"
        return [self._run(r) for r in self.db.execute(sql)]

    def get_run(self, ref: str) -> RunRow:
        """The run whose id is ``ref`` or starts with it (an experiment id names its run too).

        Raises:
            StoreError: when no run, or more than one, matches.
        """
        ref = ref.strip()
        run_ref = ref.split("-")[0] if "-" in ref else ref
        rows = self.db.execute(
            f"SELECT {self._RUN_COLS} FROM runs WHERE substr(id, 1, ?) = ?"
            " ORDER BY created_at DESC", (len(run_ref), run_ref)).fetchall()
        if not rows:
            raise StoreError(f"no run {ref!r} in {self.path}; `judgekit runs` lists them")
        if len(rows) > 1:
            raise StoreError(f"run id {ref!r} is ambiguous ({', '.join(r[0] for r in rows[:5])}"
                             "); give more characters")
        return self._run(rows[0])

    def experiments(self, run_id: str) -> list[ExperimentRow]:
        """The experiments of a run, in variant order."""
        return [self._experiment(r) for r in self.db.execute(
            f"SELECT {self._EXP_COLS} FROM experiments WHERE run_id=? ORDER BY position",
            (run_id,))]

    def get_experiment(self, experiment_id: str) -> ExperimentRow:
        """One experiment by exact id."""
        row = self.db.execute(f"SELECT {self._EXP_COLS} FROM experiments WHERE id=?",
                              (experiment_id,)).fetchone()
        if row is None:
            raise StoreError(f"no experiment {experiment_id!r} in {self.path}")
        return self._experiment(row)

    def resolve(self, ref: str) -> list[ExperimentRow]:
        """The experiments ``ref`` names: a run id (or a prefix of one) names all its
        experiments, an experiment id (``RUN-N``) that one.

        Raises:
            StoreError: when no run or experiment matches.
        """
        run = self.get_run(ref)
        rows = self.experiments(run.id)
        ref = ref.strip()
        if "-" in ref:
            wanted = f"{run.id}-{ref.split('-', 1)[1]}"
            picked = [r for r in rows if r.id == wanted]
            if not picked:
                raise StoreError(f"run {run.id} has no experiment {wanted!r}; it has "
                                 f"{', '.join(r.id for r in rows) or 'none'}")
            return picked
        return rows

    def case_refs(self, experiment_id: str, score_key: str
                  ) -> Iterator[tuple[int, str, int, Any, str | None, bool]]:
        """``(case_id, example_id, repetition, outputs, error_type, has_score)`` per case, where
        ``has_score`` says whether a verdict (ok or unscored) with ``score_key`` is stored."""
        for r in self.db.execute(
            "SELECT c.id, c.example_id, c.repetition, c.outputs, c.error_type,"
            " EXISTS(SELECT 1 FROM scores s WHERE s.case_id = c.id AND s.key = ?"
            " AND s.status IN ('ok', 'unscored'))"
            " FROM cases c WHERE c.experiment_id=? ORDER BY c.id", (score_key, experiment_id),
        ).fetchall():
            yield r[0], r[1], r[2], _loads(r[3]), r[4], bool(r[5])


    def finished_cases(self, experiment_id: str) -> set[tuple[str, int]]:
        """``(example_id, repetition)`` of every case already stored."""
        return {(r[0], r[1]) for r in self.db.execute(
            "SELECT example_id, repetition FROM cases WHERE experiment_id=?", (experiment_id,))}

    def examples(self, dataset_version: str) -> list[Example]:
        """The stored examples of a dataset version, in order."""
        return [Example(id=r[0], inputs=_loads(r[1]), reference=_loads(r[2]),
                        metadata=_loads(r[3]))
                for r in self.db.execute(
                    "SELECT id, inputs, reference, metadata FROM examples"
                    " WHERE dataset_version=? ORDER BY position", (dataset_version,))]

    _CASE_COLS = ("c.id, c.example_id, c.repetition, c.outputs, c.error_type, c.error_message,"
                  " c.error_traceback, c.latency_s, c.started_at, c.ended_at, c.prompt_tokens,"
                  " c.completion_tokens, c.cached_tokens, c.cost_usd, c.n_calls")
    _CASE_ORDER = (" FROM cases c JOIN experiments x ON x.id = c.experiment_id"
                   " LEFT JOIN examples e ON e.dataset_version = x.dataset_version"
                   " AND e.id = c.example_id"
                   " WHERE c.experiment_id=? ORDER BY c.repetition, e.position, c.id")
    #: Cases read (and their scores and calls fetched) per query: one query per case made a
    #: 100,000-case report spend most of its time in SQLite calls.
    _BATCH = 500

    def iter_cases(self, experiment_id: str, *, with_calls: bool = True) -> Iterator[CaseResult]:
        """Stream an experiment's cases in dataset order (repetition, then example position),
        with their scores, and their calls unless ``with_calls=False``.

        Memory stays bounded: cases are read in batches, each batch's scores (and calls) in one
        query. With calls, only the case ids are read up front, so the caller may write to the
        store while iterating (no statement stays open across the yields).
        """
        batches: Iterator[list[tuple[Any, ...]]]
        if with_calls:
            ids = [r[0] for r in self.db.execute(f"SELECT c.id{self._CASE_ORDER}",
                                                 (experiment_id,))]
            batches = (self._case_rows(ids[i:i + self._BATCH])
                       for i in range(0, len(ids), self._BATCH))
        else:
            cursor = self.db.execute(f"SELECT {self._CASE_COLS}{self._CASE_ORDER}",
                                     (experiment_id,))
            batches = iter(lambda: cursor.fetchmany(self._BATCH), [])
        for batch in batches:
            case_ids = [r[0] for r in batch]
            scores = self._scores_by_case(case_ids)
            calls = self._calls_by_case(case_ids) if with_calls else {}
            for r in batch:
                yield CaseResult(
                    example_id=r[1], repetition=r[2], outputs=_loads(r[3]),
                    error=CaseError(r[4], r[5] or "", r[6]) if r[4] else None,
                    latency_s=r[7], started_at=r[8] or 0.0, ended_at=r[9] or 0.0,
                    variant={}, scores=tuple(scores.get(r[0], ())),
                    calls=tuple(calls.get(r[0], ())),
                    usage=Usage(prompt_tokens=r[10], completion_tokens=r[11],
                                cached_tokens=r[12], cost_usd=r[13], latency_s=r[7],
                                calls=r[14] or 0),
                )

    def iter_case_rows(self, experiment_id: str
                       ) -> Iterator[tuple[tuple[Any, ...], list[tuple[Any, ...]]]]:
        """The rows behind :meth:`iter_cases` (``with_calls=False``), for writers that turn them
        into text without building a :class:`CaseResult` per case: each case's row
        (the columns of ``_CASE_COLS``, outputs as stored JSON text) with its scores'
        ``(key, score, value, passed, status, comment, metadata JSON text)``, in write order.
        """
        cursor = self.db.execute(f"SELECT {self._CASE_COLS}{self._CASE_ORDER}",
                                 (experiment_id,))
        for batch in iter(lambda: cursor.fetchmany(self._BATCH), []):
            scores: dict[int, list[tuple[Any, ...]]] = {}
            for r in self.db.execute(
                "SELECT case_id, key, score, value, passed, status, comment, metadata"
                f" FROM scores WHERE case_id IN ({','.join('?' * len(batch))}) ORDER BY id",
                [r[0] for r in batch],
            ):
                scores.setdefault(r[0], []).append(r[1:])
            for r in batch:
                yield r, scores.get(r[0], [])

    def _case_rows(self, case_ids: Sequence[int]) -> list[tuple[Any, ...]]:
        """The case rows of ``case_ids``, in that order (a case deleted since is left out)."""
        marks = ",".join("?" * len(case_ids))
        rows = {r[0]: r for r in self.db.execute(
            f"SELECT {self._CASE_COLS} FROM cases c WHERE c.id IN ({marks})", case_ids)}
        return [rows[i] for i in case_ids if i in rows]

    def _scores_by_case(self, case_ids: Sequence[int]) -> dict[int, list[Score]]:
        out: dict[int, list[Score]] = {}
        if case_ids:
            marks = ",".join("?" * len(case_ids))
            for case_id, score in self._scores(f"case_id IN ({marks})", tuple(case_ids),
                                               with_case=True):
                out.setdefault(case_id, []).append(score)
        return out

    def _calls_by_case(self, case_ids: Sequence[int]) -> dict[int, list[CallRecord]]:
        out: dict[int, list[CallRecord]] = {}
        if case_ids:
            marks = ",".join("?" * len(case_ids))
            for case_id, call in self._calls(f"case_id IN ({marks})", tuple(case_ids)):
                out.setdefault(case_id, []).append(call)
        return out

    def score_keys(self, experiment_ids: Sequence[str]) -> set[str]:
        """Every score key stored in these experiments (cases' and summary scores)."""
        marks = ",".join("?" * len(experiment_ids))
        return {r[0] for r in self.db.execute(
            f"SELECT DISTINCT key FROM scores WHERE experiment_id IN ({marks})",
            list(experiment_ids))} if experiment_ids else set()

    def summary_scores(self, experiment_id: str) -> list[Score]:
        """Scores written by summary evaluators for the experiment."""
        return list(self._scores("experiment_id=? AND case_id IS NULL", (experiment_id,)))

    def _scores(self, cond: str, args: tuple[Any, ...],
                with_case: bool = False) -> Iterator[Any]:
        """Scores matching ``cond`` in write order; ``(case_id, score)`` with ``with_case``."""
        for r in self.db.execute(
            "SELECT key, score, value, passed, status, comment, metadata, prompt_tokens,"
            f" completion_tokens, cost_usd, latency_s, case_id FROM scores WHERE {cond}"
            " ORDER BY id", args,
        ):
            usage = None if r[7] is None else Usage(
                prompt_tokens=r[7], completion_tokens=r[8] or 0, cost_usd=r[9],
                latency_s=r[10] or 0.0)
            score = Score(key=r[0], score=r[1], value=r[2],
                          passed=None if r[3] is None else bool(r[3]), status=r[4],
                          comment=r[5], metadata=_loads(r[6]) or {}, usage=usage)
            yield (r[11], score) if with_case else score

    def _calls(self, cond: str, args: tuple[Any, ...]) -> Iterator[tuple[int, CallRecord]]:
        """``(case_id, call)`` of the calls matching ``cond``, in write order."""
        texts: dict[int, str | None] = {}
        for r in self.db.execute(
            "SELECT role, provider, model, request, response_text, finish_reason,"
            " prompt_tokens, completion_tokens, cached_tokens, cost_usd, latency_s, attempts,"
            f" cache_hit, score_key, error, started_at, case_id FROM calls WHERE {cond}"
            " ORDER BY id", args,
        ):
            yield r[16], CallRecord(role=r[0], provider=r[1], model=r[2],
                             request=self._texts.restore(_loads(r[3]), texts),
                             response_text=r[4], finish_reason=r[5], prompt_tokens=r[6],
                             completion_tokens=r[7], cached_tokens=r[8], cost_usd=r[9],
                             latency_s=r[10], attempts=r[11], cache_hit=bool(r[12]),
                             score_key=r[13], error=r[14], started_at=r[15] or 0.0)
