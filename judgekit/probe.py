"""Bias probes for a run's LLM judge: does it reward padding, and does it agree with itself?

:func:`probe` re-asks a stored run's judge (rebuilt from the evaluator spec stored with the run)
over the run's stored outputs, with perturbations, and measures:

* **verbosity**: each output scored as stored and with :data:`PADDING` (fixed, neutral text
  that adds nothing to the answer) appended. The shift is the mean of the paired score
  differences (padded minus plain) and the change in pass rate, each with a seeded percentile
  bootstrap interval (``scipy.stats.bootstrap``) over the cases. An unbiased judge shifts 0.
* **stability**: the judge rebuilt with ``samples=n`` (at its own temperature, else the judges'
  sampling temperature) on the stored output. A case is *stable* when every sample gave the
  same verdict; the stable rate gets a Wilson interval (``statsmodels`` ``proportion_confint``),
  and Krippendorff's α (``krippendorff``) treats the samples as raters of the cases.

Cases whose target raised (no outputs) are left out; a verdict that cannot be read is counted
as unscored, apart from the measured ones, never as a shift or a disagreement. Judge calls go
through the response cache like a run's: probing twice sends no request the second time.

* **position**: when the run has two or more variants, their outputs for the same case are
  compared by a ``pairwise`` judge on the probed judge's model, asked in both orders (A shown
  first, then B shown first). The swap-consistency rate is the share of pairs whose two orders
  name the same winner, and the first-position rate the share where each order picked whichever
  answer was shown first; both with Wilson intervals. An unbiased judge is consistent (1.0) and
  never follows position (0.0). A run with one variant has no pairs: the probe says so.

Pairwise judges themselves (``pairwise(against=...)``) are not probed: they already ask both
orders and store ``order_agreement`` per case. The result is stored as a run linked to the
probed one, ``config["probe_of"]`` and ``config["probe"]`` (no schema change); ``judgekit
runs`` lists it.
"""

from __future__ import annotations

import asyncio
import math
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from judgekit.agreement import Interval
from judgekit.errors import ConfigError, EvaluatorError, JudgekitError, RunStopped
from judgekit.evaluation import Evaluator, get_evaluator
from judgekit.recording import CaseRecorder, scoring
from judgekit.run_owner import _owner, live_owner
from judgekit.store import RunRow, Store
from judgekit.types import CaseResult, Example, Score

if TYPE_CHECKING:
    from judgekit.models.settings import ModelSettings

__all__ = ["PADDING", "PositionProbe", "ProbeResult", "StabilityProbe", "VerbosityProbe",
           "probe"]

#: Appended to every output by the verbosity probe: true of any answer, says nothing new.
PADDING = ("\n\nTo summarise the above in other words: this is the answer given to the "
           "question, written out in full. The points made above are the whole of it, and "
           "nothing in this paragraph adds to them or changes them.")


@dataclass(frozen=True)
class VerbosityProbe:
    """Score shift when the same output is padded with :data:`PADDING`.

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


@dataclass(frozen=True)
class ProbeResult:
    """What :func:`probe` measured, and where it is stored.

    Attributes:
        run_id: The stored probe run (``config["probe_of"]`` is the probed run).
        probe_of: The probed run's id.
        judge: The judge's score key.
        evaluator: The judge's stored spec (name, args, version).
        n_cases: Cases probed (after ``limit``; cases whose target raised left out).
        verbosity: The verbosity probe.
        stability: The sample-stability probe.
        position: The position probe (``skipped`` says why it did not run).
        confidence: Confidence level of the intervals.
        seed: Bootstrap seed.
    """

    run_id: str
    probe_of: str
    judge: str
    evaluator: Mapping[str, Any]
    n_cases: int
    verbosity: VerbosityProbe
    stability: StabilityProbe
    position: PositionProbe
    confidence: float
    seed: int

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (the ``--json`` shape and what the probe run stores)."""
        out = asdict(self)
        out["evaluator"] = dict(self.evaluator)
        return out


# -- the judge ------------------------------------------------------------------------------


def _judge_spec(store: Store, run: RunRow, key: str) -> dict[str, Any]:
    specs: dict[str, dict[str, Any]] = {}
    for row in store.experiments(run.id):
        for spec in row.evaluators:
            specs.setdefault(str(spec.get("key")), dict(spec))
    if key not in specs:
        raise ConfigError(f"run {run.id} has no evaluator with score key {key!r} (its keys: "
                          f"{', '.join(specs) or 'none'}); give --judge one of them")
    return specs[key]


def _build(spec: Mapping[str, Any], **extra: Any) -> Evaluator:
    name, key = str(spec.get("name")), str(spec.get("key"))
    args = {**dict(spec.get("args") or {}), **extra}
    try:
        ev = get_evaluator(name, key=key, **args)
    except JudgekitError as exc:
        raise EvaluatorError(f"--judge {key}: cannot rebuild evaluator {name!r} from the "
                             f"run's stored spec ({exc})") from None
    except Exception as exc:  # a factory refusing a stored argument
        raise EvaluatorError(f"--judge {key}: cannot rebuild evaluator {name!r} from the "
                             f"run's stored spec ({type(exc).__name__}: {exc})") from None
    return ev


# -- perturbations --------------------------------------------------------------------------


def padded(outputs: Any) -> Any:
    """``outputs`` with :data:`PADDING` appended to its text, or None if it has no text.

    Text is padded; a mapping has its ``output`` field padded when that is text, else its
    only field when that is text (what the judges read as the answer).
    """
    if isinstance(outputs, str):
        return outputs + PADDING
    if isinstance(outputs, Mapping):
        field = "output" if isinstance(outputs.get("output"), str) else None
        if field is None and len(outputs) == 1:
            (only, value), = outputs.items()
            field = only if isinstance(value, str) else None
        if field is not None:
            return {**outputs, field: outputs[field] + PADDING}
    return None


# -- statistics -----------------------------------------------------------------------------


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


# -- the probe ------------------------------------------------------------------------------


@dataclass
class _Case:
    plain: Score | None = None
    padded: Score | None = None
    sampled: Score | None = None
    not_padded: bool = False


async def _score(ev: Evaluator, example: Example, outputs: Any) -> Score:
    recorder = CaseRecorder()
    try:
        with recorder.active(), scoring(ev.key):
            scores = await ev.score(inputs=example.inputs, outputs=outputs,
                                    reference_outputs=example.reference, example=example)
    except RunStopped:
        raise  # e.g. --cache replay without the reply: nothing after it can be measured
    except JudgekitError as exc:  # a failed call: that case's probe errored, counted apart
        return Score(key=ev.key, status="error", comment=str(exc))
    mine = [s for s in scores if s.key == ev.key] or scores
    return mine[0] if mine else Score(key=ev.key, status="error", comment="no score")


async def _probe_cases(judge: Evaluator, sampler: Evaluator,
                       cases: Sequence[tuple[Example, CaseResult]],
                       concurrency: int) -> list[_Case]:
    from judgekit.models.calls import bind_loop

    bind_loop()
    gate = asyncio.Semaphore(concurrency)
    out = [_Case() for _ in cases]

    async def one(i: int, example: Example, case: CaseResult) -> None:
        async with gate:
            got = out[i]
            longer = padded(case.outputs)
            got.not_padded = longer is None
            jobs = [_score(judge, example, case.outputs), _score(sampler, example, case.outputs)]
            if longer is not None:
                jobs.append(_score(judge, example, longer))
            res = await asyncio.gather(*jobs)
            got.plain, got.sampled = res[0], res[1]
            got.padded = res[2] if longer is not None else None

    await asyncio.gather(*(one(i, e, c) for i, (e, c) in enumerate(cases)))
    return out


async def _position_scores(judge: Evaluator, pairs: Sequence[tuple[Example, Any, Any]],
                           concurrency: int) -> list[Score]:
    from judgekit.models.calls import bind_loop

    bind_loop()
    gate = asyncio.Semaphore(concurrency)

    async def one(example: Example, a: Any, b: Any) -> Score:
        async with gate:
            recorder = CaseRecorder()
            try:
                with recorder.active(), scoring(judge.key):
                    (score,) = await judge.score(inputs=example.inputs, outputs=a,
                                                 reference_outputs=example.reference,
                                                 example=example, other_outputs=b)
            except RunStopped:
                raise
            except JudgekitError as exc:
                return Score(key=judge.key, status="error", comment=str(exc))
            return score

    return list(await asyncio.gather(*(one(e, a, b) for e, a, b in pairs)))


def _position(scores: Sequence[Score], variants: tuple[str, ...],
              confidence: float) -> PositionProbe:
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


def _no_position(reason: str) -> PositionProbe:
    none = Interval(None, None, 0.0)
    return PositionProbe((), 0, 0, 0, None, none, None, none, skipped=reason)


def _verbosity(cases: Sequence[_Case], confidence: float, n_resamples: int,
               seed: int) -> VerbosityProbe:
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


def _stability(cases: Sequence[_Case], samples: int, temperature: float | None,
               confidence: float) -> StabilityProbe:
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


def probe(
    run: str,
    judge: str,
    *,
    store: Store | str | Path | None = None,
    samples: int = 3,
    limit: int | None = None,
    confidence: float = 0.95,
    n_resamples: int = 1000,
    seed: int = 0,
    concurrency: int = 8,
    models: ModelSettings | None = None,
) -> ProbeResult:
    """Probe a stored run's LLM judge for verbosity bias and sample instability.

    The judge is rebuilt from the evaluator spec stored with the run (its prompt, model,
    temperature...) and asked again over the run's stored outputs: plain and padded with
    :data:`PADDING`, and with ``samples`` draws. The target is never called; judge calls go
    through the response cache. The result is stored as a new run linked to ``run``.

    Args:
        run: The run id (or a prefix).
        judge: The judge's score key.
        store: A :class:`~judgekit.Store` or a path (default: ``$JUDGEKIT_STORE`` or
            ``.judgekit/judgekit.db``); it must exist.
        samples: Draws per case for the stability probe (at least 2).
        limit: Probe the first ``limit`` cases only (default: all).
        confidence: Confidence level of the intervals.
        n_resamples: Bootstrap resamples.
        seed: Bootstrap seed (the same seed prints the same intervals).
        concurrency: Cases probed at once.
        models: Judge model, response cache, limits (default: the settings in force).

    Returns:
        The :class:`ProbeResult`, already stored.

    Raises:
        StoreError: an unknown run. ConfigError: an unknown judge key, a judge that is not an
            LLM judge, a pairwise judge, bad options, a run still running.
        EvaluatorError: the judge cannot be rebuilt from its stored spec.

    Example:
        >>> import judgekit  # doctest: +SKIP
        >>> judgekit.probe("7f3a2c", "criteria").verbosity.mean_shift  # doctest: +SKIP
        0.0
    """
    owned = not isinstance(store, Store)
    st = store if isinstance(store, Store) else Store.existing(store)
    try:
        return _probe(st, run, judge, samples=samples, limit=limit, confidence=confidence,
                      n_resamples=n_resamples, seed=seed, concurrency=concurrency,
                      models=models)
    finally:
        if owned:
            st.close()


def _probe(store: Store, ref: str, key: str, *, samples: int, limit: int | None,
           confidence: float, n_resamples: int, seed: int, concurrency: int,
           models: ModelSettings | None) -> ProbeResult:
    from judgekit._version import __version__
    from judgekit.aio import run_sync

    if isinstance(samples, bool) or not isinstance(samples, int) or samples < 2:
        raise ConfigError(f"--samples must be a whole number of at least 2, got {samples!r}")
    if limit is not None and limit < 1:
        raise ConfigError(f"--limit must be at least 1, got {limit}")
    if not 0 < confidence < 1:
        raise ConfigError(f"--confidence must be between 0 and 1, got {confidence}")
    if concurrency < 1:
        raise ConfigError(f"--concurrency must be at least 1, got {concurrency}")
    original = store.get_run(ref)
    owner = live_owner(original) if original.status == "running" else None
    if owner is not None:
        raise ConfigError(f"run {original.id} cannot be probed: it is still running "
                          f"(process {owner})")
    spec = _judge_spec(store, original, key)
    base = _build(spec)
    if not base.judge:
        raise ConfigError(f"--judge {key}: {spec.get('name')} is not an LLM judge; probe "
                          "one whose verdict comes from a model")
    if base.summary or base.against is not None or spec.get("name") == "pairwise":
        raise ConfigError(f"--judge {key}: a pairwise judge already asks both orders (its "
                          "scores' order_agreement is the swap consistency); probe a "
                          "single-answer judge")
    temperature = spec.get("args", {}).get("temperature")
    sampler = _build(spec, samples=samples)
    cases: list[tuple[Example, CaseResult]] = []
    by_variant: list[tuple[str, dict[tuple[str, int], tuple[Example, CaseResult]]]] = []
    for row in store.experiments(original.id):
        examples = {e.id: e for e in store.examples(row.dataset_version)}
        mine: dict[tuple[str, int], tuple[Example, CaseResult]] = {}
        for case in store.iter_cases(row.id):
            example = examples.get(case.example_id)
            if case.error is not None or example is None:
                continue  # no outputs to judge (the target raised or skipped)
            cases.append((example, case))
            mine[(case.example_id, case.repetition)] = (example, case)
        by_variant.append((row.variant_label, mine))
    if limit is not None:
        cases = cases[:limit]
    if not cases:
        raise ConfigError(f"run {original.id} has no cases with outputs to probe")
    pairs: list[tuple[Example, Any, Any]] = []
    if len(by_variant) >= 2:
        (label_a, a), (label_b, b) = by_variant[:2]
        pairs = [(ex, case.outputs, b[k][1].outputs) for k, (ex, case) in a.items() if k in b]
        pairs = pairs[:limit] if limit is not None else pairs
    model = spec.get("args", {}).get("model")
    pair_judge = _build({"name": "pairwise", "key": f"{key}.position",
                         "args": {"model": model} if isinstance(model, str) else {}})

    async def everything() -> tuple[list[_Case], list[Score]]:
        got = await _probe_cases(base, sampler, cases, concurrency)
        return got, await _position_scores(pair_judge, pairs, concurrency)

    if models is None:
        got, pair_scores = run_sync(everything())
    else:
        from judgekit.models.settings import use_settings

        with use_settings(models):
            got, pair_scores = run_sync(everything())
    verbosity = _verbosity(got, confidence, n_resamples, seed)
    stability = _stability(got, samples, temperature, confidence)
    if pairs:
        position = _position(pair_scores, (label_a, label_b), confidence)
    else:
        position = _no_position("the run has one variant: no two outputs of a case to compare"
                                if len(by_variant) < 2 else "no case has outputs in both of "
                                "the first two variants")
    result = ProbeResult(run_id="", probe_of=original.id, judge=key, evaluator=spec,
                         n_cases=len(cases), verbosity=verbosity, stability=stability,
                         position=position, confidence=confidence, seed=seed)
    body = result.to_dict()
    del body["run_id"]
    run_id = store.create_run(original.suite, original.path,
                              {"probe_of": original.id, "probe": body, **_owner()},
                              __version__)
    store.finish_run(run_id, "complete")
    return ProbeResult(**{**asdict(result), "run_id": run_id, "verbosity": verbosity,
                          "stability": stability, "position": position})
