"""The machine-readable result of a run: the DESIGN §9 contract.

Keys may be added, never renamed. :func:`write_json` is the one writer (``judgekit eval`` and
``show --json``, the pytest plugin, :meth:`judgekit.api.EvalResult.write_json`): the object is
indented, and each case stands compact on a line of its own, read from the store while it is
written.
"""

from __future__ import annotations

import json
import secrets
import sys
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from judgekit._files import atomic_text
from judgekit._json import dumps, loads
from judgekit.store import ExperimentRow, RunRow, Store
from judgekit.types import CaseResult

__all__ = ["StoredCases", "case_json", "combine", "experiment_json", "run_json", "write_json"]


def case_json(case: CaseResult) -> dict[str, Any]:
    """One case as JSON: outputs, error, latency, usage and scores."""
    return {
        "example_id": case.example_id,
        "repetition": case.repetition,
        "outputs": case.outputs,
        "error": None if case.error is None else {"type": case.error.type,
                                                  "message": case.error.message},
        "passed": case.passed,
        "latency_s": case.latency_s,
        "usage": {"prompt_tokens": case.usage.prompt_tokens,
                  "completion_tokens": case.usage.completion_tokens,
                  "cost_usd": case.usage.cost_usd, "calls": case.usage.calls},
        "scores": [s.to_dict() for s in case.scores],
    }


def _stored_case_json(row: tuple[Any, ...], scores: Sequence[tuple[Any, ...]]) -> dict[str, Any]:
    """:func:`case_json` of a stored case, from its rows (:meth:`Store.iter_case_rows`)."""
    return {
        "example_id": row[1],
        "repetition": row[2],
        "outputs": _parsed(row[3]),
        "error": None if not row[4] else {"type": row[4], "message": row[5] or ""},
        # Worked out from the scores, as CaseResult.passed is: a comparison's verdict is
        # added to a case after the case's row was written.
        "passed": not row[4] and not any(s[4] == "ok" and s[3] == 0 for s in scores),
        "latency_s": row[7],
        "usage": {"prompt_tokens": row[10], "completion_tokens": row[11],
                  "cost_usd": row[13], "calls": row[14] or 0},
        "scores": [{"key": s[0], "score": s[1], "value": s[2],
                    "passed": None if s[3] is None else bool(s[3]), "status": s[4],
                    "comment": s[5], "metadata": _parsed(s[6]) if s[6] else {}}
                   for s in scores],
    }


def _parsed(stored: str | None) -> Any:
    return None if stored is None else loads(stored)


class StoredCases(list[dict[str, Any]]):
    """An experiment's cases as DESIGN §9 JSON, read from the store while being written.

    A ``list`` so that it stands where the cases' list stands: iterating reads the cases in
    batches (:meth:`Store.iter_case_rows`) and keeps none. Only iteration and ``len`` work.
    """

    def __init__(self, store: Store, experiment_id: str) -> None:
        super().__init__()
        self.store = store
        self.experiment_id = experiment_id
        (self.n,) = store.db.execute("SELECT COUNT(*) FROM cases WHERE experiment_id=?",
                                     (experiment_id,)).fetchone()

    def __iter__(self) -> Iterator[dict[str, Any]]:
        return (_stored_case_json(row, scores)
                for row, scores in self.store.iter_case_rows(self.experiment_id))

    def __len__(self) -> int:
        return int(self.n)

    def __repr__(self) -> str:
        return f"<StoredCases {self.experiment_id}: {self.n} cases>"


def experiment_json(store: Store, row: ExperimentRow, *, cases: bool = True,
                    lazy: bool = False) -> dict[str, Any]:
    """One experiment: variant, dataset, summary, goals, and (optionally) every case.

    Args:
        store: The store the experiment is in.
        row: The experiment.
        cases: Include its cases.
        lazy: Cases as :class:`StoredCases` (read while written) instead of a list.
    """
    out: dict[str, Any] = {
        "id": row.id,
        "variant": dict(row.variant),
        "variant_label": row.variant_label,
        "dataset": {"name": row.dataset_name, "version": row.dataset_version},
        "evaluators": list(row.evaluators),
        "summary": row.summary,
        "summary_scores": [s.to_dict() for s in store.summary_scores(row.id)],
        "goals": list(row.goal_results or []),
    }
    if cases:
        out["cases"] = StoredCases(store, row.id) if lazy else \
            [case_json(c) for c in store.iter_cases(row.id, with_calls=False)]
    return out


def run_json(store: Store, run: RunRow, rows: Sequence[ExperimentRow], *,
             lazy: bool = False) -> dict[str, Any]:
    """The whole run in the DESIGN §9 shape (``lazy``: see :func:`experiment_json`)."""
    from judgekit._version import __version__

    return {
        "judgekit_version": __version__,
        "suite": f"{run.path}::{run.suite}" if run.path else run.suite,
        "run_id": run.id,
        "status": run.status,
        "store": str(store.path),
        # The run whose stored outputs this one re-scored (`judgekit rescore`), else null.
        "rescore_of": run.rescore_of,
        "experiments": [experiment_json(store, r, lazy=lazy) for r in rows],
    }


def combine(docs: Sequence[dict[str, Any]], suite: str) -> dict[str, Any]:
    """One object for several runs (the suites of one file or one pytest session): the first
    run's keys, ``runs`` listing them all, and every experiment naming its suite."""
    if len(docs) == 1:
        return docs[0]
    return {**docs[0], "suite": suite, "runs": [d["run_id"] for d in docs],
            "experiments": [{**e, "suite": d["suite"]} for d in docs for e in d["experiments"]]}



def write_json(doc: Mapping[str, Any], path: str | Path) -> None:
    """Write a result object (a run's, or :func:`combine`'s) to ``path``; ``-`` is stdout.

    The object is indented by 2; each case is one compact line (json's C encoder, a tenth of
    the indenting one's time), read from the store as it is written when the doc is lazy. A
    file is written beside ``path`` and renamed over it, so a reader never sees half of one.
    """
    lists: list[Any] = []
    # A stand-in for each cases list while the rest of the object is indented; random, so no
    # string in the data (a label in a summary, say) can be taken for it.
    mark_text = f"\0judgekit-cases-{secrets.token_hex(8)}:"

    def mark(obj: Any, key: str | None = None) -> Any:
        if key == "cases" and isinstance(obj, list):
            lists.append(obj)
            return f"{mark_text}{len(lists) - 1}"
        if isinstance(obj, Mapping):
            return {k: mark(v, k) for k, v in obj.items()}
        if isinstance(obj, list) and any(isinstance(v, Mapping) for v in obj):
            return [mark(v) for v in obj]
        return obj

    text = json.dumps(mark(doc), indent=2, ensure_ascii=False, default=repr)
    if str(path) == "-":
        _write_chunks(sys.stdout, text, lists, mark_text)
        sys.stdout.flush()
        return
    with atomic_text(path) as f:
        _write_chunks(f, text, lists, mark_text)


def _write_chunks(f: Any, text: str, lists: list[Any], mark_text: str) -> None:
    """Write ``text`` with each marker replaced by its cases, one per line, 500 at a time."""
    marker = json.dumps(mark_text)[:-1]  # the marker's opening quote and text, as json wrote it
    pos = 0
    for i, cases in enumerate(lists):
        end = f'{marker}{i}"'
        at = text.index(end, pos)
        indent = " " * (at - text.rindex("\n", 0, at) - 1 - len('"cases": '))
        f.write(text[pos:at])
        sep, buf = "[\n", []
        for line in map(dumps, cases):
            buf.append(f"{sep}{indent}  {line}")
            sep = ",\n"
            if len(buf) == 500:
                f.write("".join(buf))
                buf = []
        f.write("".join(buf) + ("[]" if sep == "[\n" else f"\n{indent}]"))
        pos = at + len(end)
    f.write(text[pos:] + "\n")
