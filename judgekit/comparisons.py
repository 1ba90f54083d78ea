"""Comparative evaluators: judge each variant's output against another variant's, case by case.

``pairwise(against="gpt-4o")`` in a suite compares every other variant with the ``gpt-4o``
variant on the same example and repetition. Such a verdict needs both outputs, and variants run
interleaved, so these evaluators do not run with the case: :func:`run_comparisons` runs them
when the run is finalised, over the stored cases, and adds their scores (and judge calls) to the
cases they judge. It only scores what has no verdict yet, so a resumed or retried run finishes
the comparisons without paying for any twice.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

from judgekit.recording import CaseRecorder, scoring, with_usage
from judgekit.types import SKIPPED, Example, Score, ScoreStatus

if TYPE_CHECKING:
    from judgekit.evaluation import Evaluator
    from judgekit.runner import ExperimentPlan, RunPlan

__all__ = ["run_comparisons"]


async def run_comparisons(plan: RunPlan) -> None:
    """Score every comparative evaluator of the suite on every case that lacks its verdict."""
    comparative = [e for e in plan.suite.evaluators if e.against is not None and not e.summary]
    if not comparative:
        return
    limit = asyncio.Semaphore(plan.concurrency)
    examples = {e.id: e for e in plan.iter_examples()}
    for ev in comparative:
        base = next(e for e in plan.experiments if e.label == ev.against)
        others = {(ex, rep): (outputs, err)
                  for _, ex, rep, outputs, err, _ in plan.store.case_refs(base.id, ev.key)}
        for exp in plan.experiments:
            if exp is not base:
                await asyncio.gather(*(
                    _compare(plan, exp, ev, ref, examples.get(ref[1]),
                             others.get((ref[1], ref[2])), limit)
                    for ref in plan.store.case_refs(exp.id, ev.key) if not ref[5]))


async def _compare(plan: RunPlan, exp: ExperimentPlan, ev: Evaluator,
                   ref: tuple[int, str, int, Any, str | None, bool], example: Example | None,
                   other: tuple[Any, str | None] | None, limit: asyncio.Semaphore) -> None:
    case_id, _, _, outputs, error_type, _ = ref
    recorder = CaseRecorder()
    scores: list[Score]
    if example is None:
        return  # the example left the dataset (resumed on changed data is refused earlier)
    if error_type is not None:
        status: ScoreStatus = "skipped" if error_type == SKIPPED else "error"
        scores = [Score(key=ev.key, status=status,
                        comment=f"not compared: this case has no output ({error_type})")]
    elif other is None or other[1] is not None:
        why = "has not run" if other is None else f"has no output ({other[1]})"
        status = "skipped" if other is not None and other[1] == SKIPPED else "error"
        scores = [Score(key=ev.key, status=status,
                        comment=f"not compared: {ev.against} {why} for this case")]
    else:
        async with limit:
            with recorder.active(), scoring(ev.key):
                scores = await ev.score(inputs=example.inputs, outputs=outputs,
                                        reference_outputs=example.reference, example=example,
                                        other_outputs=other[0])
        scores = [with_usage(s, recorder.calls) for s in scores]
    plan.store.add_case_scores(exp.id, case_id, scores, recorder.calls)
