"""How well a judge agrees with human labels: accuracy, Cohen's κ, Krippendorff's α, confusion.

The input is one :class:`LabelledCase` per judged case: the judge's verdict (or why there is
none) and the human labels, one per annotator. :func:`compute_agreement` turns them into an
:class:`Agreement`:

* a *pair* is a case with an ok judge verdict and a human consensus label. Cases whose verdict
  is unscored (or errored, skipped, missing) are counted apart and never taken for
  disagreement; so are cases nobody labelled and, with several annotators, cases without a
  consensus (nominal: no single most common label; ordinal: the lower median is used);
* accuracy (``sklearn.metrics.accuracy_score``), Cohen's κ (``sklearn.metrics
  .cohen_kappa_score``; weighted linearly or quadratically on an ordinal scale) and the confusion
  matrix (``sklearn.metrics.confusion_matrix``; rows human, columns judge);
* percentile bootstrap confidence intervals for accuracy and κ (``scipy.stats.bootstrap``,
  resampling pairs, seeded so a re-run prints the same interval);
* with two or more annotators: the judge against each annotator, and Krippendorff's α
  (``krippendorff.alpha``) among the humans and among the humans plus the judge: a judge that
  leaves α where it was agrees with people as well as they agree with each other.

Labels are compared as text (``1``, ``1.0`` and ``"1"`` are one label) on a nominal scale, and as
numbers on an ordinal one. :func:`judgekit.agreement <judgekit.human_labels.agreement>` reads the
cases from a stored run.
"""

from __future__ import annotations

import math
import statistics
import warnings
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from judgekit.errors import ConfigError

__all__ = [
    "Agreement",
    "AgreementError",
    "AnnotatorAgreement",
    "Interval",
    "LabelledCase",
    "NoLabelledPairs",
    "Weights",
    "compute_agreement",
    "normalise_label",
]

Weights = Literal["linear", "quadratic"]
Label = str | float
# Each labelled case's verdict (None: the judge gave none) and its annotators' marks.
_Rated = list[tuple[Label | None, dict[str, Label]]]


class AgreementError(ConfigError):
    """Agreement cannot be measured as asked: an unknown score key, labels that are not
    numbers on an ordinal scale, or no case with both a verdict and a human label."""


class NoLabelledPairs(AgreementError):
    """No case has both an ok judge verdict and a human (consensus) label."""


@dataclass(frozen=True)
class LabelledCase:
    """One judged case with its human labels.

    Attributes:
        case: Names the case in messages (example id, ``#repetition`` when repeated).
        judge: The judge's label (its ``value``, else its ``score``); ``None`` without a verdict.
        judge_status: ``ok``, ``unscored``, ``error``, ``skipped``, or ``missing`` (no score).
        human: Annotator name → label; empty when nobody labelled the case.
    """

    case: str
    judge: Any
    judge_status: str = "ok"
    human: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Interval:
    """A bootstrap confidence interval; ``low``/``high`` are ``None`` when it is undefined
    (fewer than two pairs, or κ undefined in the resamples)."""

    low: float | None
    high: float | None
    confidence: float


@dataclass(frozen=True)
class AnnotatorAgreement:
    """The judge against one annotator, on the cases that annotator labelled."""

    annotator: str
    n_pairs: int
    accuracy: float | None
    kappa: float | None


@dataclass(frozen=True)
class Agreement:
    """Agreement of one judge with human labels on one experiment (or one list of cases).

    Attributes:
        judge: The judge's score key.
        human: Where the human labels came from (a score key or ``metadata.FIELD``).
        scale: ``nominal`` or ``ordinal``.
        weights: κ weighting on an ordinal scale (``linear``/``quadratic``), else ``None``.
        labels: Every label seen in the pairs, in confusion-matrix order.
        n_pairs: Cases with an ok verdict and a human consensus: what the metrics are over.
        n_unscored: Labelled cases whose verdict was unscored (not disagreement).
        n_no_verdict: Labelled cases without a verdict: the judge errored, was skipped, or
            did not score the case.
        n_unlabelled: Cases with a verdict and no human label.
        n_no_consensus: Labelled cases whose annotators reached no consensus.
        accuracy: Share of pairs where the judge's label equals the human one.
        accuracy_ci: Its bootstrap interval.
        kappa: Cohen's κ (weighted on an ordinal scale); ``None`` when undefined (one label
            throughout).
        kappa_ci: Its bootstrap interval.
        confusion: Counts, rows the human label and columns the judge's, in ``labels`` order.
        annotators: The annotators' names.
        per_annotator: The judge against each annotator (with two or more annotators).
        alpha_humans: Krippendorff's α among the annotators (two or more), else ``None``.
        alpha_with_judge: α among the annotators and the judge as one more rater.
        experiment_id: The stored experiment, when read from a store.
        variant: Its variant label.
    """

    judge: str
    human: str
    scale: Literal["nominal", "ordinal"]
    weights: Weights | None
    labels: tuple[Label, ...]
    n_pairs: int
    n_unscored: int
    n_no_verdict: int
    n_unlabelled: int
    n_no_consensus: int
    accuracy: float
    accuracy_ci: Interval
    kappa: float | None
    kappa_ci: Interval
    confusion: tuple[tuple[int, ...], ...]
    annotators: tuple[str, ...] = ()
    per_annotator: tuple[AnnotatorAgreement, ...] = ()
    alpha_humans: float | None = None
    alpha_with_judge: float | None = None
    experiment_id: str | None = None
    variant: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (the ``--json`` shape: keys may be added, never renamed)."""
        out = asdict(self)
        out["labels"] = list(self.labels)
        out["confusion"] = [list(row) for row in self.confusion]
        return out


def normalise_label(value: Any) -> str | None:
    """A label as text: integral numbers without ``.0`` (``1.0`` → ``"1"``), text stripped;
    ``None`` and empty text are no label."""
    if value is None or isinstance(value, bool):
        return None if value is None else str(value).lower()
    if isinstance(value, (int, float)):
        if isinstance(value, float) and not math.isfinite(value):
            return None
        return str(int(value)) if float(value).is_integer() else repr(float(value))
    text = str(value).strip()
    return text or None


def _ordinal(value: Any, where: str) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise AgreementError(f"{where}: label {value!r} is not a number; an ordinal scale "
                             "(--ordinal) needs numeric labels, drop --ordinal for "
                             "categories") from None
    if not math.isfinite(number):
        raise AgreementError(f"{where}: label {value!r} is not a finite number")
    return number


def _consensus(labels: Sequence[Label], ordinal: bool) -> Label | None:
    if len(labels) == 1:
        return labels[0]
    if ordinal:
        return statistics.median_low(labels)
    (top, n), *rest = Counter(labels).most_common()
    return None if rest and rest[0][1] == n else top


def _none_if_nan(x: float) -> float | None:
    return None if math.isnan(x) else float(x)


def compute_agreement(
    cases: Sequence[LabelledCase], *, judge: str = "judge", human: str = "human",
    ordinal: bool = False, weights: Weights | None = None, confidence: float = 0.95,
    n_resamples: int = 1000, seed: int = 0, experiment_id: str | None = None,
    variant: str | None = None,
) -> Agreement:
    """Measure a judge against human labels.

    Args:
        cases: One entry per judged case.
        judge: The judge's name or score key (reported, and used in messages).
        human: Where the labels came from (reported, and used in messages).
        ordinal: Labels are numbers on an ordered scale: weighted κ, ordinal α, and the lower
            median as consensus.
        weights: κ weighting on an ordinal scale (default ``quadratic``); needs ``ordinal``.
        confidence: Confidence level of the bootstrap intervals.
        n_resamples: Bootstrap resamples.
        seed: Seed of the bootstrap's random generator.
        experiment_id: Reported with the result.
        variant: Reported with the result.

    Returns:
        The :class:`Agreement`.

    Raises:
        AgreementError: no case has both an ok verdict and a human consensus, labels that
            are not numbers on an ordinal scale, or ``weights`` without ``ordinal``.

    Example:
        >>> a = compute_agreement([LabelledCase("a", "yes", human={"ann": "yes"}),
        ...                        LabelledCase("b", "no", human={"ann": "yes"}),
        ...                        LabelledCase("c", None, "unscored", {"ann": "no"})],
        ...                       n_resamples=50)
        >>> a.n_pairs, a.accuracy, a.n_unscored
        (2, 0.5, 1)
    """
    if weights is not None and not ordinal:
        raise AgreementError(f"κ weights {weights!r} need an ordinal scale: add --ordinal")
    if weights is not None and weights not in ("linear", "quadratic"):
        raise AgreementError(f"κ weights {weights!r}: choose linear or quadratic")
    if ordinal and weights is None:
        weights = "quadratic"

    judged, humans, rated, names, counts = _pairs(cases, judge, human, ordinal)
    if not judged:
        raise NoLabelledPairs(_no_pairs(judge, human, counts, len(cases)))

    from sklearn.metrics import confusion_matrix

    labels = tuple(sorted(set(judged) | set(humans), key=lambda v: (isinstance(v, str), v)))
    per_annotator: tuple[AnnotatorAgreement, ...] = ()
    if len(names) > 1:
        per_annotator = tuple(_against(name, rated, labels, weights) for name in names)
    acc, acc_ci, kappa, kappa_ci = _with_intervals(judged, humans, labels, weights, confidence,
                                                   n_resamples, seed)
    alpha_humans = alpha_with_judge = None
    if len(names) > 1:
        alpha_humans = _alpha(rated, names, labels, ordinal, with_judge=False)
        alpha_with_judge = _alpha(rated, names, labels, ordinal, with_judge=True)
    matrix = confusion_matrix(humans, judged, labels=list(labels))
    return Agreement(
        judge=judge, human=human, scale="ordinal" if ordinal else "nominal", weights=weights,
        labels=labels, n_pairs=len(judged), n_unscored=counts["unscored"],
        n_no_verdict=counts["no_verdict"], n_unlabelled=counts["unlabelled"],
        n_no_consensus=counts["no_consensus"], accuracy=acc, accuracy_ci=acc_ci, kappa=kappa,
        kappa_ci=kappa_ci, confusion=tuple(tuple(int(x) for x in row) for row in matrix),
        annotators=names, per_annotator=per_annotator, alpha_humans=alpha_humans,
        alpha_with_judge=alpha_with_judge, experiment_id=experiment_id, variant=variant,
    )



def _pairs(cases: Sequence[LabelledCase], judge: str, human: str, ordinal: bool,
           ) -> tuple[list[Label], list[Label], _Rated, tuple[str, ...], Counter[str]]:
    """The judge's verdicts and the human consensus of each case that has both; every
    labelled case's verdict and marks (for α); the annotators; and why cases were left out."""

    def label(value: Any, where: str) -> Label | None:
        text = normalise_label(value)
        return None if text is None else _ordinal(text, where) if ordinal else text

    counts = Counter[str]()
    judged: list[Label] = []
    humans: list[Label] = []
    rated: _Rated = []
    annotators: dict[str, None] = {}
    for c in cases:
        marks: dict[str, Label] = {}
        for who, value in c.human.items():
            got = label(value, f"case {c.case}: {human} ({who})")
            if got is not None:
                marks[str(who)] = got
                annotators.setdefault(str(who))
        verdict = label(c.judge, f"case {c.case}: {judge}") if c.judge_status == "ok" else None
        if not marks:
            counts["unlabelled" if verdict is not None else "neither"] += 1
            continue
        rated.append((verdict, marks))
        if verdict is None:
            counts["unscored" if c.judge_status == "unscored" else "no_verdict"] += 1
            continue
        agreed = _consensus(list(marks.values()), ordinal)
        if agreed is None:
            counts["no_consensus"] += 1
            continue
        judged.append(verdict)
        humans.append(agreed)
    return judged, humans, rated, tuple(annotators), counts


def _no_pairs(judge: str, human: str, counts: Counter[str], n: int) -> str:
    labelled = counts["unscored"] + counts["no_verdict"] + counts["no_consensus"]
    why = [f"{n} cases", f"{n - counts['neither'] - labelled} judged by {judge} and unlabelled",
           f"{labelled} labelled ({human})"]
    if counts["unscored"]:
        why.append(f"{counts['unscored']} of them unscored by the judge")
    if counts["no_consensus"]:
        why.append(f"{counts['no_consensus']} without a consensus among annotators")
    return (f"no case has both an ok {judge} verdict and a human label ({'; '.join(why)}): "
            "label cases with `judgekit annotate RUN`, or point --human at the labels")


def _kappa(a: Sequence[Label], b: Sequence[Label], labels: Sequence[Label],
           weights: Weights | None) -> float | None:
    from sklearn.metrics import cohen_kappa_score

    with warnings.catch_warnings():
        # One label throughout: κ is 0/0; sklearn warns and returns nan, reported as None.
        warnings.simplefilter("ignore", RuntimeWarning)
        return _none_if_nan(float(cohen_kappa_score(a, b, labels=list(labels),
                                                    weights=weights)))


def _with_intervals(judged: Sequence[Label], humans: Sequence[Label], labels: Sequence[Label],
                    weights: Weights | None, confidence: float, n_resamples: int, seed: int
                    ) -> tuple[float, Interval, float | None, Interval]:
    import numpy as np
    from scipy.stats import bootstrap
    from sklearn.metrics import accuracy_score

    acc = float(accuracy_score(humans, judged))
    # The share that agree: its bootstrap is a vectorised mean, not 1,000 sklearn calls.
    agree = np.array([j == h for j, h in zip(judged, humans, strict=True)], dtype=float)
    kappa = _kappa(humans, judged, labels, weights)
    none = Interval(None, None, confidence)
    if len(agree) < 2:
        return acc, none, kappa, none
    # Codes, not the labels: numpy arrays of mixed text would not sort in the label order.
    index = {v: i for i, v in enumerate(labels)}
    codes = list(range(len(labels)))
    h_codes = np.array([index[v] for v in humans])
    j_codes = np.array([index[v] for v in judged])

    def interval(data: tuple[Any, ...], statistic: Any, vectorized: bool) -> Interval:
        with warnings.catch_warnings(), np.errstate(invalid="ignore", divide="ignore"):
            warnings.simplefilter("ignore")  # a constant sample: scipy's degenerate warning
            res = bootstrap(data, statistic, paired=len(data) > 1, vectorized=vectorized,
                            n_resamples=n_resamples, confidence_level=confidence,
                            method="percentile", rng=np.random.default_rng(seed))
        low, high = res.confidence_interval
        return Interval(_none_if_nan(low), _none_if_nan(high), confidence)

    acc_ci = interval((agree,), np.mean, True)
    kappa_ci = none
    if kappa is not None:
        kappa_ci = interval((h_codes, j_codes),
                            lambda h, j: (_kappa(h, j, codes, weights) or math.nan), False)
    return acc, acc_ci, kappa, kappa_ci


def _against(name: str, rated: Sequence[tuple[Label | None, Mapping[str, Label]]],
             labels: Sequence[Label], weights: Weights | None) -> AnnotatorAgreement:
    pairs = [(marks[name], verdict) for verdict, marks in rated
             if verdict is not None and name in marks]
    if not pairs:
        return AnnotatorAgreement(name, 0, None, None)
    theirs = [p[0] for p in pairs]
    judged = [p[1] for p in pairs]
    every = sorted(set(labels) | set(theirs), key=lambda v: (isinstance(v, str), v))
    from sklearn.metrics import accuracy_score

    return AnnotatorAgreement(name, len(pairs), float(accuracy_score(theirs, judged)),
                              _kappa(theirs, judged, every, weights))


def _alpha(rated: Sequence[tuple[Label | None, Mapping[str, Label]]], names: Sequence[str],
           labels: Sequence[Label], ordinal: bool, *, with_judge: bool) -> float | None:
    import krippendorff
    import numpy as np

    every = sorted(set(labels) | {v for _, m in rated for v in m.values()},
                   key=lambda v: (isinstance(v, str), v))
    code = {v: float(i) for i, v in enumerate(every)}
    rows = [[code[m[n]] if n in m else np.nan for _, m in rated] for n in names]
    if with_judge:
        rows.append([np.nan if v is None or v not in code else code[v] for v, _ in rated])
    data = np.array(rows, dtype=float)
    # Codes keep the order of the labels, which is all ordinal α uses of them.
    level: Literal["ordinal", "nominal"] = "ordinal" if ordinal else "nominal"
    try:
        with warnings.catch_warnings(), np.errstate(invalid="ignore", divide="ignore"):
            warnings.simplefilter("ignore", RuntimeWarning)
            alpha = float(krippendorff.alpha(reliability_data=data, level_of_measurement=level,
                                             value_domain=list(code.values())))
    except ValueError:  # fewer than two units rated twice, or one value throughout
        return None
    return _none_if_nan(alpha)
