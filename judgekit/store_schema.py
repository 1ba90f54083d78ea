"""What the result store holds on disk: its location, its tables and their migrations, and
the run and experiment rows read back from it.

Schema changes go through :data:`MIGRATIONS`, keyed by ``PRAGMA user_version``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from judgekit._json import loads

__all__ = ["DEFAULT_STORE", "MIGRATIONS", "SCHEMA_VERSION", "ExperimentRow", "RunRow",
           "default_store_path", "loads_column"]

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
    # System prompts are stored once: a judge's instructions repeat in every request it makes.
    # A call's request then holds {"role": "system", "$text": id} instead.
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

def loads_column(text: str | None) -> Any:
    """A JSON column's value (None for SQL NULL)."""
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

