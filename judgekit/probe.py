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
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from judgekit.errors import ConfigError, EvaluatorError, JudgekitError, RunStopped
from judgekit.evaluation import Evaluator, get_evaluator
from judgekit.probe_stats import (
    PositionProbe,
    ProbedCase,
    StabilityProbe,
    VerbosityProbe,
    no_position_probe,
    position_probe,
    stability_probe,
    verbosity_probe,
)
from judgekit.recording import CaseRecorder, scoring
from judgekit.run_owner import live_owner, owner_fields
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

# -- the probe ------------------------------------------------------------------------------


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
                       concurrency: int) -> list[ProbedCase]:
    from judgekit.models.calls import bind_loop

    bind_loop()
    gate = asyncio.Semaphore(concurrency)
    out = [ProbedCase() for _ in cases]

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
    from judgekit.aio import run_sync

    _check_options(samples, limit, confidence, concurrency)
    original = store.get_run(ref)
    owner = live_owner(original) if original.status == "running" else None
    if owner is not None:
        raise ConfigError(f"run {original.id} cannot be probed: it is still running "
                          f"(process {owner})")
    spec, base = _probed_judge(store, original, key)
    temperature = spec.get("args", {}).get("temperature")
    sampler = _build(spec, samples=samples)
    cases, by_variant = _judged_cases(store, original)
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

    async def everything() -> tuple[list[ProbedCase], list[Score]]:
        got = await _probe_cases(base, sampler, cases, concurrency)
        return got, await _position_scores(pair_judge, pairs, concurrency)

    if models is None:
        got, pair_scores = run_sync(everything())
    else:
        from judgekit.models.settings import use_settings

        with use_settings(models):
            got, pair_scores = run_sync(everything())
    verbosity = verbosity_probe(got, confidence, n_resamples, seed)
    stability = stability_probe(got, samples, temperature, confidence)
    if pairs:
        position = position_probe(pair_scores, (label_a, label_b), confidence)
    else:
        position = no_position_probe("the run has one variant: no two outputs of a case to compare"
                                     if len(by_variant) < 2 else "no case has outputs in both of "
                                     "the first two variants")
    result = ProbeResult(run_id="", probe_of=original.id, judge=key, evaluator=spec,
                         n_cases=len(cases), verbosity=verbosity, stability=stability,
                         position=position, confidence=confidence, seed=seed)
    return _saved(store, original, result)


_Judged = tuple[Example, CaseResult]


def _check_options(samples: int, limit: int | None, confidence: float,
                   concurrency: int) -> None:
    if isinstance(samples, bool) or not isinstance(samples, int) or samples < 2:
        raise ConfigError(f"--samples must be a whole number of at least 2, got {samples!r}")
    if limit is not None and limit < 1:
        raise ConfigError(f"--limit must be at least 1, got {limit}")
    if not 0 < confidence < 1:
        raise ConfigError(f"--confidence must be between 0 and 1, got {confidence}")
    if concurrency < 1:
        raise ConfigError(f"--concurrency must be at least 1, got {concurrency}")


def _probed_judge(store: Store, original: RunRow, key: str) -> tuple[dict[str, Any], Evaluator]:
    """The stored spec of the judge behind ``key`` and the judge built from it, if it is a
    single-answer LLM judge (the only kind the probes apply to)."""
    spec = _judge_spec(store, original, key)
    base = _build(spec)
    if not base.judge:
        raise ConfigError(f"--judge {key}: {spec.get('name')} is not an LLM judge; probe "
                          "one whose verdict comes from a model")
    if base.summary or base.against is not None or spec.get("name") == "pairwise":
        raise ConfigError(f"--judge {key}: a pairwise judge already asks both orders (its "
                          "scores' order_agreement is the swap consistency); probe a "
                          "single-answer judge")
    return spec, base


def _judged_cases(store: Store, original: RunRow,
                  ) -> tuple[list[_Judged], list[tuple[str, dict[tuple[str, int], _Judged]]]]:
    """Every case with outputs, in run order, and per variant the same keyed by
    (example, repetition) for the position probe's pairs."""
    cases: list[_Judged] = []
    by_variant: list[tuple[str, dict[tuple[str, int], _Judged]]] = []
    for row in store.experiments(original.id):
        examples = {e.id: e for e in store.examples(row.dataset_version)}
        mine: dict[tuple[str, int], _Judged] = {}
        for case in store.iter_cases(row.id):
            example = examples.get(case.example_id)
            if case.error is not None or example is None:
                continue  # no outputs to judge (the target raised or skipped)
            cases.append((example, case))
            mine[(case.example_id, case.repetition)] = (example, case)
        by_variant.append((row.variant_label, mine))
    return cases, by_variant


def _saved(store: Store, original: RunRow, result: ProbeResult) -> ProbeResult:
    """Store the probe as a completed run of its own; the result with that run's id."""
    from judgekit._version import __version__

    body = result.to_dict()
    del body["run_id"]
    run_id = store.create_run(original.suite, original.path,
                              {"probe_of": original.id, "probe": body, **owner_fields()},
                              __version__)
    store.finish_run(run_id, "complete")
    return replace(result, run_id=run_id)

