"""The local result store: SQLite in WAL mode, at ``.judgekit/judgekit.db`` by default.

A *run* is one ``judgekit eval`` invocation; it holds one *experiment* per variant. Each
experiment holds its *cases* (example × repetition), each case its *scores* and model *calls*.
A case and everything under it is written in one transaction as soon as it finishes, so a killed
process loses at most the cases still in flight and never leaves a half-written case behind;
``--resume`` skips every case already present. Examples are stored once per dataset version so a
run can be re-scored or exported without the original files.

The schema and row types live in :mod:`judgekit.store_schema`, the queries in
:mod:`judgekit.store_reads`; :class:`Store` opens the file and writes.
"""

from __future__ import annotations

import contextlib
import sqlite3
import time
import uuid
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from judgekit._json import dumps
from judgekit.errors import StoreError
from judgekit.store_reads import StoreReads
from judgekit.store_schema import (
    DEFAULT_STORE,
    MIGRATIONS,
    SCHEMA_VERSION,
    ExperimentRow,
    RunRow,
    default_store_path,
)
from judgekit.store_schema import loads_column as _loads
from judgekit.store_texts import SharedTexts
from judgekit.types import CallRecord, CaseResult, Example, Score

__all__ = ["DEFAULT_STORE", "ExperimentRow", "RunRow", "Store", "default_store_path"]


class Store(StoreReads):
    """The SQLite result store.

    Example:
        >>> import tempfile, pathlib
        >>> with Store(pathlib.Path(tempfile.mkdtemp()) / "j.db") as store:
        ...     store.list_runs()
        []
    """

    def __init__(self, path: str | Path | None = None) -> None:
        self.path = Path(path) if path is not None else default_store_path()
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            # isolation_level=None: we open transactions explicitly, one per case.
            self.db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False,
                                      timeout=30.0)
            # Before the first transaction (a migration's), whose rollback forgets its texts.
            self._texts = SharedTexts(self.db)
            self.db.execute("PRAGMA journal_mode=WAL")
            self.db.execute("PRAGMA synchronous=NORMAL")
            self.db.execute("PRAGMA foreign_keys=ON")
            self._migrate()
        except sqlite3.DatabaseError as exc:
            raise StoreError(
                f"{self.path}: cannot open the result store ({exc}); point --store or "
                "JUDGEKIT_STORE at another file, or move this one aside"
            ) from None
        except OSError as exc:
            raise StoreError(f"{self.path}: cannot create the result store ({exc})") from None

    @classmethod
    def existing(cls, path: str | Path | None = None) -> Store:
        """Open a store that must already exist: for commands that only read one, which
        must not leave an empty store behind when pointed at the wrong place.

        Raises:
            StoreError: there is no file at ``path`` (default: ``$JUDGEKIT_STORE`` or
                ``.judgekit/judgekit.db``).
        """
        target = Path(path) if path is not None else default_store_path()
        if not target.is_file():
            raise StoreError(f"no store at {target}: run `judgekit eval` first, or give "
                             "--store PATH (or $JUDGEKIT_STORE)")
        return cls(target)

    def _migrate(self) -> None:
        version = self.db.execute("PRAGMA user_version").fetchone()[0]
        if version > SCHEMA_VERSION:
            raise StoreError(
                f"{self.path}: written by a newer judgekit (schema {version}, this one reads "
                f"up to {SCHEMA_VERSION}); upgrade judgekit or use another --store"
            )
        for target in range(version + 1, SCHEMA_VERSION + 1):
            with self._tx():
                for statement in MIGRATIONS[target].split(";"):
                    if statement.strip():
                        self.db.execute(statement)
                self.db.execute(f"PRAGMA user_version={target}")

    def close(self) -> None:
        """Close the connection (the WAL is checkpointed by SQLite)."""
        self.db.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- writing ---------------------------------------------------------------------------

    def create_run(self, suite: str, path: str | None, config: Mapping[str, Any],
                   version: str) -> str:
        """Insert a run in status ``running`` and return its id."""
        run_id = uuid.uuid4().hex[:8]
        with self._tx():
            self.db.execute(
                "INSERT INTO runs(id, suite, path, status, created_at, config, judgekit_version)"
                " VALUES (?,?,?,?,?,?,?)",
                (run_id, suite, path, "running", time.time(), dumps(dict(config)), version),
            )
        return run_id

    def create_experiment(
        self, run_id: str, position: int, variant: Mapping[str, Any], label: str,
        dataset_name: str, dataset_version: str, n_examples: int, repeat: int,
        evaluators: Sequence[Mapping[str, Any]], goals: Mapping[str, Any] | None,
    ) -> str:
        """Insert an experiment of ``run_id`` and return its id (``RUN-N``)."""
        exp_id = f"{run_id}-{position + 1}"
        with self._tx():
            self.db.execute(
                "INSERT INTO experiments(id, run_id, position, variant, variant_label,"
                " dataset_name, dataset_version, n_examples, repeat, evaluators, goals,"
                " created_at) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
                (exp_id, run_id, position, dumps(dict(variant)), label, dataset_name,
                 dataset_version, n_examples, repeat, dumps(list(evaluators)),
                 None if goals is None else dumps(goals), time.time()),
            )
        return exp_id

    def save_examples(self, dataset_version: str, examples: Iterable[Example]) -> None:
        """Store a dataset version's examples once (later calls with the same version no-op).

        ``examples`` may be a stream: rows are written as they are read, in one transaction.
        """
        with self._tx():
            self.db.executemany(
                "INSERT OR IGNORE INTO examples(dataset_version, id, position, inputs,"
                " reference, metadata) VALUES (?,?,?,?,?,?)",
                ((dataset_version, e.id, i, dumps(dict(e.inputs)), dumps(e.reference),
                  dumps(dict(e.metadata))) for i, e in enumerate(examples)),
            )

    def write_case(self, experiment_id: str, case: CaseResult) -> None:
        """Write a finished case with its scores and calls, atomically."""
        self.write_cases([(experiment_id, case)])

    def write_cases(self, cases: Sequence[tuple[str, CaseResult]]) -> None:
        """Write finished cases (``(experiment_id, case)``) with their scores and calls in
        one transaction: all of them or none.

        A commit is most of a case's write (~140 µs of ~250), so the runner writes the cases
        that finish in the same turn of its event loop together.
        """
        with self._tx():
            for experiment_id, case in cases:
                err = case.error
                u = case.usage
                cur = self.db.execute(
                    "INSERT INTO cases(experiment_id, example_id, repetition, outputs,"
                    " error_type, error_message, error_traceback, latency_s, started_at,"
                    " ended_at, passed, prompt_tokens, completion_tokens, cached_tokens,"
                    " cost_usd, n_calls) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                    (experiment_id, case.example_id, case.repetition,
                     None if err else dumps(case.outputs),
                     err.type if err else None, err.message if err else None,
                     err.traceback if err else None, case.latency_s, case.started_at,
                     case.ended_at, int(case.passed), u.prompt_tokens, u.completion_tokens,
                     u.cached_tokens, u.cost_usd, u.calls),
                )
                case_id = cur.lastrowid
                self._insert_scores(experiment_id, case_id, case.scores)
                self._insert_calls(experiment_id, case_id, case.calls)

    def add_case_scores(self, experiment_id: str, case_id: int, scores: Sequence[Score],
                        calls: Sequence[CallRecord] = ()) -> None:
        """Add scores (and the judge calls behind them) to a stored case, atomically.

        Comparative evaluators use it: they score a case only once its counterpart in the
        other variant is stored too.
        """
        with self._tx():
            # A comparison redone (its baseline case was retried) replaces the old verdict.
            self.db.executemany("DELETE FROM scores WHERE case_id=? AND key=?",
                                [(case_id, k) for k in {s.key for s in scores}])
            self._insert_scores(experiment_id, case_id, scores)
            self._insert_calls(experiment_id, case_id, calls)


    def _insert_calls(self, experiment_id: str, case_id: int | None,
                      calls: Sequence[CallRecord]) -> None:
        if calls:
            self.db.executemany(
                "INSERT INTO calls(case_id, experiment_id, role, score_key, provider, model,"
                " request, response_text, finish_reason, prompt_tokens, completion_tokens,"
                " cached_tokens, cost_usd, latency_s, attempts, cache_hit, error, started_at)"
                " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                [(case_id, experiment_id, c.role, c.score_key, c.provider, c.model,
                  dumps(self._texts.share(c.request)), c.response_text, c.finish_reason,
                  c.prompt_tokens, c.completion_tokens, c.cached_tokens, c.cost_usd,
                  c.latency_s, c.attempts, int(c.cache_hit), c.error, c.started_at or None)
                 for c in calls],
            )


    def _insert_scores(self, experiment_id: str, case_id: int | None,
                       scores: Sequence[Score]) -> None:
        self.db.executemany(
            "INSERT INTO scores(case_id, experiment_id, key, score, value, passed, status,"
            " comment, metadata, prompt_tokens, completion_tokens, cost_usd, latency_s)"
            " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
            [(case_id, experiment_id, s.key, s.score, s.value,
              None if s.passed is None else int(s.passed), s.status, s.comment,
              dumps(dict(s.metadata)),
              s.usage.prompt_tokens if s.usage else None,
              s.usage.completion_tokens if s.usage else None,
              s.usage.cost_usd if s.usage else None,
              s.usage.latency_s if s.usage else None) for s in scores],
        )

    def save_summary(self, experiment_id: str, summary: Mapping[str, Any],
                     summary_scores: Sequence[Score],
                     goal_results: Sequence[Mapping[str, Any]]) -> None:
        """Replace the experiment's summary, summary-evaluator scores and goal results."""
        with self._tx():
            self.db.execute("DELETE FROM scores WHERE experiment_id=? AND case_id IS NULL",
                            (experiment_id,))
            self._insert_scores(experiment_id, None, summary_scores)
            self.db.execute("UPDATE experiments SET summary=?, goal_results=? WHERE id=?",
                            (dumps(summary), dumps(list(goal_results)), experiment_id))

    def reopen_run(self, run_id: str, owner: Mapping[str, Any]) -> None:
        """Mark a run ``running`` again (``--resume``/``--retry-errors``), owned by ``owner``
        (merged into its config: the process now running it)."""
        with self._tx():
            row = self.db.execute("SELECT config FROM runs WHERE id=?", (run_id,)).fetchone()
            config = {**(_loads(row[0]) or {}), **owner} if row else dict(owner)
            self.db.execute("UPDATE runs SET status='running', finished_at=NULL, config=?"
                            " WHERE id=?", (dumps(config), run_id))

    def finish_run(self, run_id: str, status: str) -> None:
        """Mark a run ``complete``, ``interrupted`` or ``failed``."""
        with self._tx():
            self.db.execute("UPDATE runs SET status=?, finished_at=? WHERE id=?",
                            (status, time.time(), run_id))

    def delete_error_cases(self, experiment_id: str) -> int:
        """Delete the experiment's errored cases (scores and calls too); return how many.

        A case counts as errored when its target raised or any evaluator ended in ``error``
        (e.g. a judge call that failed for good), so a retry completes every verdict.
        """
        with self._tx():
            cur = self.db.execute(
                "DELETE FROM cases WHERE experiment_id=? AND (error_type IS NOT NULL OR id IN"
                " (SELECT case_id FROM scores WHERE experiment_id=? AND status='error'))",
                (experiment_id, experiment_id))
        return cur.rowcount

    def save_batch(self, batch_id: str, run_id: str, model: str, endpoint: str,
                   custom_ids: Sequence[str]) -> None:
        """Keep a submitted batch job of ``run_id`` and the request ids it holds."""
        now = time.time()
        with self._tx():
            self.db.execute(
                "INSERT OR REPLACE INTO batches(id, run_id, model, endpoint, status, custom_ids,"
                " created_at, updated_at) VALUES (?,?,?,?,?,?,?,?)",
                (batch_id, run_id, model, endpoint, "submitted", dumps(list(custom_ids)), now,
                 now))

    def update_batch(self, batch_id: str, status: str) -> None:
        """Record the status a batch job ended in."""
        with self._tx():
            self.db.execute("UPDATE batches SET status=?, updated_at=? WHERE id=?",
                            (status, time.time(), batch_id))

    def batches(self, run_id: str) -> list[dict[str, Any]]:
        """The batch jobs of a run, oldest first: id, model, endpoint, status, custom_ids."""
        rows = self.db.execute(
            "SELECT id, model, endpoint, status, custom_ids, created_at FROM batches "
            "WHERE run_id=? ORDER BY created_at, rowid", (run_id,)).fetchall()
        return [{"id": r[0], "model": r[1], "endpoint": r[2], "status": r[3],
                 "custom_ids": _loads(r[4]), "created_at": r[5]} for r in rows]

    @contextlib.contextmanager
    def _tx(self) -> Iterator[None]:
        """One write transaction: committed whole or rolled back whole."""
        self.db.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            self.db.execute("ROLLBACK")
            self._texts.forget()  # texts added in this transaction are gone again
            raise
        self.db.execute("COMMIT")

