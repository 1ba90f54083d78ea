"""The bias probes' figures: per-probe results and the statistics behind them (bootstrap and
Wilson intervals, Krippendorff's α), computed from the probe's scored cases."""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

from judgekit.agreement import Interval
from judgekit.types import Score

__all__ = ["PositionProbe", "StabilityProbe", "VerbosityProbe"]


@dataclass(frozen=True)
class VerbosityProbe:
    """Score shift when the same output is padded with :data:`judgekit.probe.PADDING`.

    Attributes:
        n: Cases where both the plain and the padded output got a numeric score.
        n_unscored: Cases where either verdict was unscored (not counted as a shift).
        n_error: Cases where either judge call errored or was skipped.
        n_not_padded: Outputs with no text field to pad (neither text nor a mapping with an
            ``output`` text field or a single text field).
        mean_plain: Mean score of the plain outputs (over the ``n`` cases).
        mean_padded: Mean score of the padded outputs.
        mean_shift: ``mean_padded - mean_plain``; > 0: padding is rewarded.
        mean_shift_ci: Bootstrap interval of the mean paired difference.
        n_pass: Cases of the ``n`` where both verdicts say passed or failed.
        pass_rate_plain: Pass rate of the plain outputs over ``n_pass`` cases.
        pass_rate_padded: Pass rate of the padded outputs.
        pass_rate_change: ``pass_rate_padded - pass_rate_plain``.
        pass_rate_change_ci: Bootstrap interval of the paired pass-rate change.
    """

    n: int
    n_unscored: int
    n_error: int
    n_not_padded: int
    mean_plain: float | None
    mean_padded: float | None
    mean_shift: float | None
    mean_shift_ci: Interval
    n_pass: int
    pass_rate_plain: float | None
    pass_rate_padded: float | None
    pass_rate_change: float | None
    pass_rate_change_ci: Interval


@dataclass(frozen=True)
class StabilityProbe:
    """Agreement of the judge with itself over ``samples`` draws per case.

    Attributes:
        samples: Draws per case.
        temperature: The judges' sampling temperature (None: the judge's default for several
            samples).
        n: Cases where every sample gave a verdict.
        n_unscored: Cases where a sample had no verdict (not counted as disagreement).
        n_error: Cases where a judge call errored or was skipped.
        stable_rate: Share of the ``n`` cases whose samples all agree.
        stable_rate_ci: Its Wilson interval.
        mean_agreement: Mean share of samples that gave the case's reduced verdict.
        alpha: Krippendorff's α with the samples as raters (nominal for labels, interval
            for ratings); None when undefined (e.g. one value throughout).
    """

    samples: int
    temperature: float | None
    n: int
    n_unscored: int
    n_error: int
    stable_rate: float | None
    stable_rate_ci: Interval
    mean_agreement: float | None
    alpha: float | None


@dataclass(frozen=True)
class PositionProbe:
    """Does the judge's pick follow which answer it reads first?

    Attributes:
        variants: The two variants whose outputs were compared (A, B); empty when skipped.
        n: Pairs where both orders gave a verdict.
        n_unscored: Pairs where either order had no verdict (not counted).
        n_error: Pairs whose judge call errored.
        consistent_rate: Share of the ``n`` pairs whose two orders agree (swap consistency).
        consistent_rate_ci: Its Wilson interval.
        first_position_rate: Share of the ``n`` pairs where each order picked the answer
            shown first.
        first_position_rate_ci: Its Wilson interval.
        skipped: Why the probe did not run, or None.
    """

    variants: tuple[str, ...]
    n: int
    n_unscored: int
    n_error: int
    consistent_rate: float | None
    consistent_rate_ci: Interval
    first_position_rate: float | None
    first_position_rate_ci: Interval
    skipped: str | None = None


def _none_if_nan(x: float) -> float | None:
    return None if math.isnan(x) else float(x)


def _mean_ci(diffs: Sequence[float], confidence: float, n_resamples: int,
             seed: int) -> Interval:
    """Percentile bootstrap interval of the mean of paired differences (seeded)."""
    import numpy as np
    from scipy.stats import bootstrap

    if len(diffs) < 2:
        return Interval(None, None, confidence)
    data = np.asarray(diffs, dtype=float)
    if np.all(data == data[0]):  # a constant sample: every resample has that mean
        return Interval(float(data[0]), float(data[0]), confidence)
    with warnings.catch_warnings(), np.errstate(invalid="ignore", divide="ignore"):
        warnings.simplefilter("ignore")
        res = bootstrap((data,), np.mean, vectorized=True, n_resamples=n_resamples,
                        confidence_level=confidence, method="percentile",
                        rng=np.random.default_rng(seed))
    low, high = res.confidence_interval
    return Interval(_none_if_nan(low), _none_if_nan(high), confidence)


def _wilson(k: int, n: int, confidence: float) -> Interval:
    from statsmodels.stats.proportion import proportion_confint

    if n == 0:
        return Interval(None, None, confidence)
    low, high = proportion_confint(k, n, alpha=1 - confidence, method="wilson")
    # At k = 0 or k = n the bound is exactly the rate; statsmodels leaves float dust.
    return Interval(0.0 if k == 0 else float(low), 1.0 if k == n else float(high), confidence)


def _alpha(rows: Sequence[Sequence[Any]], numeric: bool) -> float | None:
    """Krippendorff's α, the samples as raters (rows) and the cases as units (columns)."""
    import krippendorff
    import numpy as np

    if not rows or len(rows[0]) < 2:
        return None
    level: Literal["interval", "nominal"]
    if numeric:
        data = np.array([[math.nan if v is None else float(v) for v in r] for r in rows])
        level = "interval"
    else:
        labels = sorted({str(v) for r in rows for v in r if v is not None})
        code = {v: float(i) for i, v in enumerate(labels)}
        data = np.array([[math.nan if v is None else code[str(v)] for v in r] for r in rows])
        level = "nominal"
    try:
        with warnings.catch_warnings(), np.errstate(invalid="ignore", divide="ignore"):
            warnings.simplefilter("ignore", RuntimeWarning)
            return _none_if_nan(float(krippendorff.alpha(reliability_data=data,
                                                         level_of_measurement=level)))
    except ValueError:  # one value throughout: α is undefined
        return None


# -- the figures of each probe, from its scored cases --------------------------------------


class ProbedCase:
    """One case's scores from the three probes' judge calls (None: not asked or no score)."""
    plain: Score | None = None
    padded: Score | None = None
    sampled: Score | None = None
    not_padded: bool = False


def position_probe(scores: Sequence[Score], variants: tuple[str, ...],
                   confidence: float) -> PositionProbe:
    """The position probe's figures from the pairwise judge's scores, both orders each."""
    n_unscored = n_error = consistent = first = 0
    for s in scores:
        orders = (s.metadata or {}).get("orders")
        if s.status == "error" or s.status == "skipped":
            n_error += 1
        elif s.status == "unscored" or not isinstance(orders, list) or None in orders:
            n_unscored += 1
        else:
            consistent += orders[0] == orders[1]
            # Un-swapped verdicts [A, B]: A when A was first, B when B was first.
            first += orders == ["A", "B"]
    n = len(scores) - n_unscored - n_error
    return PositionProbe(
        variants=variants, n=n, n_unscored=n_unscored, n_error=n_error,
        consistent_rate=consistent / n if n else None,
        consistent_rate_ci=_wilson(consistent, n, confidence),
        first_position_rate=first / n if n else None,
        first_position_rate_ci=_wilson(first, n, confidence))


def no_position_probe(reason: str) -> PositionProbe:
    """A position probe that could not run, and why."""
    none = Interval(None, None, 0.0)
    return PositionProbe((), 0, 0, 0, None, none, None, none, skipped=reason)


def verbosity_probe(cases: Sequence[ProbedCase], confidence: float, n_resamples: int,
                    seed: int) -> VerbosityProbe:
    """The verbosity probe's figures: how scores move when the answer is padded."""
    n_unscored = n_error = n_not_padded = 0
    plain: list[float] = []
    longer: list[float] = []
    passes: list[tuple[bool, bool]] = []
    for c in cases:
        if c.not_padded or c.padded is None or c.plain is None:
            n_not_padded += 1
            continue
        statuses = {c.plain.status, c.padded.status}
        if statuses - {"ok", "unscored"}:
            n_error += 1
        elif "unscored" in statuses or c.plain.score is None or c.padded.score is None:
            n_unscored += 1
        else:
            plain.append(float(c.plain.score))
            longer.append(float(c.padded.score))
            if c.plain.passed is not None and c.padded.passed is not None:
                passes.append((bool(c.plain.passed), bool(c.padded.passed)))
    n = len(plain)
    diffs = [b - a for a, b in zip(plain, longer, strict=True)]
    pass_diffs = [float(b) - float(a) for a, b in passes]
    return VerbosityProbe(
        n=n, n_unscored=n_unscored, n_error=n_error, n_not_padded=n_not_padded,
        mean_plain=sum(plain) / n if n else None, mean_padded=sum(longer) / n if n else None,
        mean_shift=sum(diffs) / n if n else None,
        mean_shift_ci=_mean_ci(diffs, confidence, n_resamples, seed),
        n_pass=len(passes),
        pass_rate_plain=sum(a for a, _ in passes) / len(passes) if passes else None,
        pass_rate_padded=sum(b for _, b in passes) / len(passes) if passes else None,
        pass_rate_change=sum(pass_diffs) / len(passes) if passes else None,
        pass_rate_change_ci=_mean_ci(pass_diffs, confidence, n_resamples, seed))


def stability_probe(cases: Sequence[ProbedCase], samples: int, temperature: float | None,
                    confidence: float) -> StabilityProbe:
    """The stability probe's figures: how often repeated samples give one verdict."""
    n_unscored = n_error = 0
    draws: list[list[Any]] = []
    agreements: list[float] = []
    numeric = False
    for c in cases:
        s = c.sampled
        values = (s.metadata or {}).get("samples") if s is not None else None
        if s is None or s.status not in ("ok", "unscored") or not isinstance(values, list):
            n_error += 1
            continue
        if len(values) != samples or any(v is None for v in values):
            n_unscored += 1
            continue
        numeric = numeric or all(isinstance(v, (int, float)) for v in values)
        draws.append(values)
        agreement = (s.metadata or {}).get("agreement")
        if isinstance(agreement, (int, float)):
            agreements.append(float(agreement))
    stable = sum(len({str(v) for v in d}) == 1 for d in draws)
    n = len(draws)
    rows = [[d[i] for d in draws] for i in range(samples)] if draws else []
    return StabilityProbe(
        samples=samples, temperature=temperature, n=n, n_unscored=n_unscored, n_error=n_error,
        stable_rate=stable / n if n else None, stable_rate_ci=_wilson(stable, n, confidence),
        mean_agreement=sum(agreements) / len(agreements) if agreements else None,
        alpha=_alpha(rows, numeric))

