"""Human labels on stored runs, and the judge's agreement with them.

A human label lives in one of two places:

* the dataset: ``metadata.human_label`` of an example (any ``metadata.FIELD`` can be named), so
  labels collected elsewhere come in with the data. A CSV column ``metadata.human_label`` or a
  ``fields={"metadata": ["human_label"]}`` mapping puts it there. A scalar is one annotator's
  label; an object ``{"alice": "A", "bob": "B"}`` (or a list) holds several annotators' labels;
* a ``human`` score on a stored case, written by ``judgekit annotate`` (:func:`record_label`):
  ``value`` is the label, ``metadata.annotator`` who gave it. Each annotator has a key of their
  own, ``human:NAME`` (plain ``human`` when no name is given), so two people labelling the same
  run never overwrite each other and ``--human human`` reads them all as annotators.

:func:`agreement` pairs each case's judge verdict with its human labels, per experiment, and
measures them with :func:`judgekit.agreement.compute_agreement`.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from judgekit.agreement import (
    Agreement,
    AgreementError,
    LabelledCase,
    NoLabelledPairs,
    Weights,
    compute_agreement,
    normalise_label,
)
from judgekit.store import ExperimentRow, Store
from judgekit.types import CaseResult, Score

__all__ = [
    "HUMAN",
    "AgreementReport",
    "agreement",
    "human_key",
    "human_labels",
    "metadata_labels",
    "record_label",
]

#: The score key of human labels (``human:NAME`` per named annotator).
HUMAN = "human"
_METADATA = "metadata."


def human_key(annotator: str | None = None, base: str = HUMAN) -> str:
    """The score key of an annotator's labels: ``human``, or ``human:NAME``.

    Raises:
        AgreementError: the name is empty after trimming or holds a ``:``.
    """
    if annotator is None:
        return base
    name = annotator.strip()
    if not name or ":" in name:
        raise AgreementError(f"--annotator {annotator!r}: give a name without ':' (it "
                             f"becomes the score key {base}:NAME)")
    return f"{base}:{name}"


def human_labels(scores: Iterable[Score], key: str = HUMAN) -> dict[str, Any]:
    """Annotator → label from a case's ok scores keyed ``key`` or ``key:NAME``."""
    out: dict[str, Any] = {}
    for s in scores:
        if s.status != "ok" or not (s.key == key or s.key.startswith(key + ":")):
            continue
        value = s.value if s.value is not None else s.score
        if normalise_label(value) is not None:
            out[s.key.partition(":")[2] or s.key] = value
    return out


def metadata_labels(metadata: Mapping[str, Any], field: str) -> dict[str, Any]:
    """Annotator → label from an example's ``metadata[field]``: a scalar is one annotator
    (named ``field``), an object maps names to labels, a list numbers its annotators 1, 2, ..."""
    value = metadata.get(field)
    if isinstance(value, Mapping):
        return {str(k): v for k, v in value.items() if normalise_label(v) is not None}
    if isinstance(value, (list, tuple)):
        return {str(i): v for i, v in enumerate(value, start=1)
                if normalise_label(v) is not None}
    return {} if normalise_label(value) is None else {field: value}


def record_label(store: Store, experiment_id: str, case_id: int, label: str, *,
                 annotator: str | None = None, note: str | None = None) -> Score:
    """Store a human label on a stored case as a ``human`` (or ``human:NAME``) score,
    replacing that annotator's earlier label of the case.

    Example:
        >>> record_label(store, "7f3a2c-1", 12, "CORRECT", annotator="alice")  # doctest: +SKIP
    """
    score = Score(key=human_key(annotator), value=label, comment=note,
                  metadata={"annotator": annotator, "labelled_at": time.time(),
                            "source": "judgekit annotate"})
    store.add_case_scores(experiment_id, case_id, [score])
    return score


@dataclass(frozen=True)
class AgreementReport:
    """Agreement of a judge with human labels across a run's experiments.

    Attributes:
        run_id: The run.
        judge: The judge's score key.
        human: Where the labels came from: a score key, or ``metadata.FIELD``.
        experiments: One :class:`~judgekit.agreement.Agreement` per experiment with pairs.
        without_pairs: Ids of experiments with no case both judged and labelled.
    """

    run_id: str
    judge: str
    human: str
    experiments: tuple[Agreement, ...]
    without_pairs: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """The ``judgekit agreement --json`` object (keys may be added, never renamed)."""
        return {"run": self.run_id, "judge": self.judge, "human": self.human,
                "experiments": [a.to_dict() for a in self.experiments],
                "without_pairs": list(self.without_pairs)}


def _case_name(case: CaseResult, repeat: int) -> str:
    return f"{case.example_id}#{case.repetition}" if repeat > 1 else case.example_id


def _labelled_cases(store: Store, exp: ExperimentRow, judge: str, human: str
                    ) -> Iterator[LabelledCase]:
    field = human[len(_METADATA):] if human.startswith(_METADATA) else None
    meta = ({e.id: metadata_labels(e.metadata, field)
             for e in store.examples(exp.dataset_version)} if field is not None else {})
    for case in store.iter_cases(exp.id, with_calls=False):
        verdict = next((s for s in case.scores if s.key == judge), None)
        if verdict is None:
            status, value = ("error" if case.error else "missing"), None
        else:
            status = verdict.status
            value = verdict.value if verdict.value is not None else verdict.score
        marks = meta.get(case.example_id, {}) if field is not None else \
            human_labels(case.scores, human)
        yield LabelledCase(_case_name(case, exp.repeat), value, status, marks)


def _has_metadata_labels(store: Store, rows: Sequence[ExperimentRow], field: str) -> bool:
    return any(metadata_labels(e.metadata, field)
               for version in {r.dataset_version for r in rows}
               for e in store.examples(version))


def agreement(run: str, *, judge: str, human: str | None = None,
              store: Store | str | Path | None = None, ordinal: bool = False,
              weights: Weights | None = None, confidence: float = 0.95,
              n_resamples: int = 1000, seed: int = 0) -> AgreementReport:
    """Measure a stored run's judge against human labels, per experiment.

    Args:
        run: A run id (or prefix): every experiment; ``RUN-N``: that one.
        judge: The judge's score key, e.g. ``cot_qa``.
        human: ``human`` (the default): the ``human`` and ``human:NAME`` scores, i.e. labels
            from ``judgekit annotate``, each name one annotator; another score key the same way;
            or ``metadata.FIELD``: labels in the dataset. When not given and the run holds no
            ``human`` scores, ``metadata.human_label`` is read.
        store: The store, or its path (default: ``$JUDGEKIT_STORE`` or
            ``.judgekit/judgekit.db``).
        ordinal: Numeric labels on an ordered scale: weighted κ and ordinal α.
        weights: ``linear`` or ``quadratic`` (the default on an ordinal scale).
        confidence: Confidence level of the bootstrap intervals.
        n_resamples: Bootstrap resamples.
        seed: Seed of the bootstrap.

    Returns:
        An :class:`AgreementReport`: one :class:`~judgekit.agreement.Agreement` per experiment.

    Raises:
        StoreError: no such store or run.
        AgreementError: an unknown judge or human key, or no experiment with a case both judged
            and labelled.

    Example:
        >>> report = judgekit.agreement("7f3a2c", judge="cot_qa")  # doctest: +SKIP
        >>> report.experiments[0].kappa  # doctest: +SKIP
        0.71
    """
    if isinstance(store, Store):
        return _agreement(store, run, judge, human, ordinal, weights, confidence, n_resamples,
                          seed)
    with Store.existing(store) as opened:
        return _agreement(opened, run, judge, human, ordinal, weights, confidence, n_resamples,
                          seed)


def _agreement(store: Store, ref: str, judge: str, human: str | None, ordinal: bool,
               weights: Weights | None, confidence: float, n_resamples: int, seed: int
               ) -> AgreementReport:
    rows = store.resolve(ref)
    run_id = store.get_run(ref).id
    keys = _score_keys(store, rows)
    if judge not in keys:
        raise AgreementError(f"--judge {judge!r}: run {run_id} has no such score; its keys are "
                             f"{', '.join(sorted(keys)) or 'none'}")
    if human is None:
        human = HUMAN
        if not _any_key(keys, HUMAN) and _has_metadata_labels(store, rows, "human_label"):
            human = _METADATA + "human_label"
    if human.startswith(_METADATA):
        field = human[len(_METADATA):]
        if not field or not _has_metadata_labels(store, rows, field):
            raise AgreementError(f"--human {human!r}: no example of run {run_id} has "
                                 f"metadata.{field or 'FIELD'}; label cases with `judgekit "
                                 f"annotate {run_id}` or add the field to the dataset")
    elif not _any_key(keys, human):
        raise AgreementError(
            f"--human {human!r}: run {run_id} has no {human} scores (labels): add them with "
            f"`judgekit annotate {run_id}`, or give --human metadata.FIELD for labels in the "
            f"dataset; its score keys are {', '.join(sorted(keys)) or 'none'}")
    results: list[Agreement] = []
    empty: list[str] = []
    failures: list[str] = []
    for exp in rows:
        cases = list(_labelled_cases(store, exp, judge, human))
        try:
            results.append(compute_agreement(
                cases, judge=judge, human=human, ordinal=ordinal, weights=weights,
                confidence=confidence, n_resamples=n_resamples, seed=seed,
                experiment_id=exp.id, variant=exp.variant_label))
        except NoLabelledPairs as exc:
            empty.append(exp.id)
            failures.append(str(exc))
    if not results:
        where = f"run {run_id}" if len(rows) == 1 else f"run {run_id} ({len(rows)} experiments)"
        raise NoLabelledPairs(f"{where}: {failures[0]}")
    return AgreementReport(run_id, judge, human, tuple(results), tuple(empty))


def _any_key(keys: Iterable[str], base: str) -> bool:
    return any(k == base or k.startswith(base + ":") for k in keys)


def _score_keys(store: Store, rows: Sequence[ExperimentRow]) -> set[str]:
    return store.score_keys([r.id for r in rows])
