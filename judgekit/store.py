"""The local result store: SQLite in WAL mode, at ``.judgekit/judgekit.db`` by default.

A *run* is one ``judgekit eval`` invocation; it holds one *experiment* per variant. Each
experiment holds its *cases* (example × repetition), each case its *scores* and model *calls*.
A case and everything under it is written in one transaction as soon as it finishes, so a killed
process loses at most the cases still in flight and never leaves a half-written case behind;
``--resume`` skips every case already present. Examples are stored once per dataset version so a
run can be re-scored or exported without the original files.

Schema changes go through :data:`MIGRATIONS`, keyed by ``PRAGMA user_version``.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import sqlite3
import time
import uuid
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from judgekit._json import dumps, loads
from judgekit.errors import StoreError
from judgekit.types import CallRecord, CaseError, CaseResult, Example, Score, Usage

__all__ = ["DEFAULT_STORE", "ExperimentRow", "RunRow", "Store", "default_store_path"]

DEFAULT_STORE = Path(".judgekit") / "judgekit.db"

MIGRATIONS: dict[int, str] = {
    1: """
    CREATE TABLE runs (
        id TEXT PRIMARY KEY, suite TEXT NOT NULL, path TEXT, status TEXT NOT NULL,
        created_at REAL NOT NULL, finished_at REAL, config TEXT NOT NULL DEFAULT '{}',
        judgekit_version TEXT
    );
    CREATE TABLE experiments (
        id TEXT PRIMARY KEY, run_id TEXT NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
        position INTEGER NOT NULL, variant TEXT NOT NULL, variant_label TEXT NOT NULL,
        dataset_name TEXT NOT NULL, dataset_version TEXT NOT NULL, n_examples INTEGER NOT NULL,
        repeat INTEGER NOT NULL, evaluators TEXT NOT NULL, goals TEXT,
        created_at REAL NOT NULL, summary TEXT, goal_results TEXT
    );
    CREATE TABLE examples (
        dataset_version TEXT NOT NULL, id TEXT NOT NULL, position INTEGER NOT NULL,
        inputs TEXT NOT NULL, reference TEXT, metadata TEXT NOT NULL,
        PRIMARY KEY (dataset_version, id)
    );
    CREATE TABLE cases (
        id INTEGER PRIMARY KEY,
        experiment_id TEXT NOT NULL REFERENCES experiments(id) ON DELETE CASCADE,
        example_id TEXT NOT NULL, repetition INTEGER NOT NULL, outputs TEXT,
        error_type TEXT, error_message TEXT, error_traceback TEXT,
        latency_s REAL NOT NULL, started_at REAL, ended_at REAL, passed INTEGER NOT NULL,
        prompt_tokens INTEGER NOT NULL DEFAULT 0, completion_tokens INTEGER NOT NULL DEFAULT 0,
        cached_tokens INTEGER NOT NULL DEFAULT 0, cost_usd REAL, n_calls INTEGER DEFAULT 0,
        UNIQUE (experiment_id, example_id, repetition)
    );
    CREATE TABLE scores (
        id INTEGER PRIMARY KEY,
        case_id INTEGER REFERENCES cases(id) ON DELETE CASCADE,
        experiment_id TEXT NOT NULL REFERENCES experiments(id) ON DELETE CASCADE,
        key TEXT NOT NULL, score REAL, value TEXT, passed INTEGER, status TEXT NOT NULL,
        comment TEXT, metadata TEXT NOT NULL DEFAULT '{}',
        prompt_tokens INTEGER, completion_tokens INTEGER, cost_usd REAL, latency_s REAL
    );
    CREATE TABLE calls (
        id INTEGER PRIMARY KEY,
        case_id INTEGER NOT NULL REFERENCES cases(id) ON DELETE CASCADE,
        experiment_id TEXT NOT NULL, role TEXT NOT NULL, score_key TEXT,
        provider TEXT NOT NULL, model TEXT NOT NULL, request TEXT NOT NULL, response_text TEXT,
        finish_reason TEXT, prompt_tokens INTEGER NOT NULL, completion_tokens INTEGER NOT NULL,
        cached_tokens INTEGER NOT NULL, cost_usd REAL, latency_s REAL NOT NULL,
        attempts INTEGER NOT NULL, cache_hit INTEGER NOT NULL, error TEXT
    );
    CREATE INDEX cases_by_experiment ON cases(experiment_id, passed);
    CREATE INDEX scores_by_case ON scores(case_id);
    CREATE INDEX scores_by_experiment ON scores(experiment_id, key, status);
    CREATE INDEX calls_by_case ON calls(case_id);
    CREATE INDEX experiments_by_run ON experiments(run_id, position);
    """,
    # Calls keep their wall-clock start so traces (LangSmith) can place them in the case.
    2: "ALTER TABLE calls ADD COLUMN started_at REAL",
    # System prompts are stored once: a judge's instructions were 62% of every request stored
    # (2 KB a case). A call's request then holds {"role": "system", "$text": id} instead.
    3: """
    CREATE TABLE texts (id INTEGER PRIMARY KEY, sha256 TEXT NOT NULL UNIQUE, text TEXT NOT NULL)
    """,
    # eval --batch: the provider's batch jobs of a run, so a resumed run re-attaches to them.
    4: """
    CREATE TABLE batches (
        id TEXT PRIMARY KEY, run_id TEXT NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
        model TEXT NOT NULL, endpoint TEXT NOT NULL, status TEXT NOT NULL,
        custom_ids TEXT NOT NULL, created_at REAL NOT NULL, updated_at REAL NOT NULL
    );
    CREATE INDEX batches_by_run ON batches(run_id, created_at)
    """,
}
SCHEMA_VERSION = max(MIGRATIONS)


def default_store_path() -> Path:
    """``$JUDGEKIT_STORE`` if set, else ``.judgekit/judgekit.db`` under the current directory."""
    env = os.environ.get("JUDGEKIT_STORE")
    return Path(env) if env else DEFAULT_STORE


def _loads(text: str | None) -> Any:
    return None if text is None else loads(text)


@dataclass(frozen=True)
class RunRow:
    """A stored run (one ``judgekit eval`` invocation)."""

    id: str
    suite: str
    path: str | None
    status: str
    created_at: float
    finished_at: float | None
    config: Mapping[str, Any]
    judgekit_version: str | None

    @property
    def rescore_of(self) -> str | None:
        """The run whose stored outputs this one re-scored (``judgekit rescore``), else None.

        Kept in the run's config (``{"rescore_of": RUN, "rescore": {...}}``): no schema change.
        """
        value = self.config.get("rescore_of") if isinstance(self.config, Mapping) else None
        return str(value) if value else None


@dataclass(frozen=True)
class ExperimentRow:
    """A stored experiment (one variant of one run)."""

    id: str
    run_id: str
    position: int
    variant: Mapping[str, Any]
    variant_label: str
    dataset_name: str
    dataset_version: str
    n_examples: int
    repeat: int
    evaluators: Sequence[Mapping[str, Any]]
    goals: Mapping[str, Any] | None
    created_at: float
    summary: Mapping[str, Any] | None
    goal_results: Sequence[Mapping[str, Any]] | None

    @property
    def n_expected(self) -> int:
        """How many cases a complete experiment has."""
        return self.n_examples * self.repeat


class Store:
    """The SQLite result store.

    Example:
        >>> import tempfile, pathlib
        >>> with Store(pathlib.Path(tempfile.mkdtemp()) / "j.db") as store:
        ...     store.list_runs()
        []
    """

    def __init__(self, path: str | Path | None = None) -> None:
        self.path = Path(path) if path is not None else default_store_path()
        # Texts this handle knows the ids of (see _text_id); cleared on rollback, so set
        # before the first transaction (a migration's) can roll back.
        self._text_ids: dict[str, int] = {}
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            # isolation_level=None: we open transactions explicitly, one per case.
            self.db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False,
                                      timeout=30.0)
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

    def _insert_calls(self, experiment_id: str, case_id: int | None,
                      calls: Sequence[CallRecord]) -> None:
        if calls:
            self.db.executemany(
                "INSERT INTO calls(case_id, experiment_id, role, score_key, provider, model,"
                " request, response_text, finish_reason, prompt_tokens, completion_tokens,"
                " cached_tokens, cost_usd, latency_s, attempts, cache_hit, error, started_at)"
                " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                [(case_id, experiment_id, c.role, c.score_key, c.provider, c.model,
                  dumps(self._shared_texts(c.request)), c.response_text, c.finish_reason,
                  c.prompt_tokens, c.completion_tokens, c.cached_tokens, c.cost_usd,
                  c.latency_s, c.attempts, int(c.cache_hit), c.error, c.started_at or None)
                 for c in calls],
            )

    def _shared_texts(self, request: Mapping[str, Any]) -> dict[str, Any]:
        """``request`` with each system message's text replaced by its id in ``texts``."""
        out = dict(request)
        messages = out.get("messages")
        if isinstance(messages, list):
            out["messages"] = [
                {k: v for k, v in m.items() if k != "content"} | {"$text": self._text_id(text)}
                if isinstance(m, Mapping) and m.get("role") == "system"
                and isinstance(text := m.get("content"), str) and "$text" not in m
                else m for m in messages]
        return out

    def _text_id(self, text: str) -> int:
        """The id of ``text`` in ``texts``, added if new (inside the caller's transaction)."""
        known = self._text_ids.get(text)
        if known is not None:
            return known
        sha = hashlib.sha256(text.encode("utf-8")).hexdigest()
        self.db.execute("INSERT OR IGNORE INTO texts(sha256, text) VALUES (?, ?)", (sha, text))
        (text_id,) = self.db.execute("SELECT id FROM texts WHERE sha256=?", (sha,)).fetchone()
        if len(self._text_ids) >= 256:  # a system prompt that varies per case: bound memory
            self._text_ids.clear()
        self._text_ids[text] = text_id
        return int(text_id)

    def _full_texts(self, request: Any, seen: dict[int, str | None]) -> Any:
        """A stored request with its shared texts put back (see :meth:`_shared_texts`);
        ``seen`` keeps the texts already read by this query."""
        messages = request.get("messages") if isinstance(request, dict) else None
        if not isinstance(messages, list):
            return request
        for i, m in enumerate(messages):
            if isinstance(m, dict) and "$text" in m:
                text_id = m["$text"]
                if text_id not in seen:
                    row = self.db.execute("SELECT text FROM texts WHERE id=?",
                                          (text_id,)).fetchone()
                    seen[text_id] = None if row is None else row[0]
                rest = {k: v for k, v in m.items() if k != "$text"}
                messages[i] = {**rest, "content": seen[text_id]}
        return request

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
                 "custom_ids": loads(r[4]), "created_at": r[5]} for r in rows]

    @contextlib.contextmanager
    def _tx(self) -> Iterator[None]:
        """One write transaction: committed whole or rolled back whole."""
        self.db.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            self.db.execute("ROLLBACK")
            self._text_ids.clear()  # texts added in this transaction are gone again
            raise
        self.db.execute("COMMIT")

    # -- reading ---------------------------------------------------------------------------

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
            rows = [r for r in rows if r.id == wanted]
            if not rows:
                raise StoreError(f"run {run.id} has no experiment {wanted!r}; it has "
                                 f"{', '.join(r.id for r in self.experiments(run.id))}")
        return rows

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
                             request=self._full_texts(_loads(r[3]), texts),
                             response_text=r[4], finish_reason=r[5], prompt_tokens=r[6],
                             completion_tokens=r[7], cached_tokens=r[8], cost_usd=r[9],
                             latency_s=r[10], attempts=r[11], cache_hit=bool(r[12]),
                             score_key=r[13], error=r[14], started_at=r[15] or 0.0)
