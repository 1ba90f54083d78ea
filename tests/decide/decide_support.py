"""Stored runs for the decide tests, written through the Store API: each case is given as a
small spec, so a test states exactly which verdicts, signals and costs a variant has.
Imported by name (``from decide_support import ...``)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from judgekit.store import Store
from judgekit.types import CallRecord, CaseError, CaseResult, Example, Score


@dataclass(frozen=True)
class Spec:
    """One case: ``passed`` (None: no pass/fail), ``score``, status, signal, cost, latency."""

    id: str
    passed: bool | None = True
    score: float | None = None
    status: str = "ok"
    error: bool = False
    target_cost: float | None = 0.001
    judge_cost: float | None = 0.0
    latency: float = 0.1
    confidence: float | None = None  # metadata "confidence" of the "judge" score
    outputs: Any = None
    comment: str | None = None
    extra: Mapping[str, float] = field(default_factory=dict)  # more numeric score keys


def case_of(spec: Spec, metric: str = "judge", repetition: int = 0) -> CaseResult:
    calls = [CallRecord(role="target", provider="openai", model="m",
                        request={"messages": [{"role": "user", "content": spec.id}]},
                        response_text="a", cost_usd=spec.target_cost, cache_hit=False)]
    if spec.judge_cost is not None and spec.judge_cost > 0:
        calls.append(CallRecord(role="judge", provider="openai", model="j", score_key=metric,
                                request={"messages": []}, response_text="v",
                                cost_usd=spec.judge_cost))
    if spec.error:
        return CaseResult(example_id=spec.id, variant={}, repetition=repetition, outputs=None,
                          error=CaseError("ValueError", "boom"), latency_s=spec.latency,
                          scores=(Score(key=metric, status="error", comment="not evaluated"),),
                          calls=tuple(calls[:1]))
    meta = {} if spec.confidence is None else {"confidence": spec.confidence}
    score = spec.score if spec.score is not None else (
        None if spec.passed is None else float(spec.passed))
    scores = [Score(key=metric, score=score if spec.status == "ok" else None,
                    passed=spec.passed if spec.status == "ok" else None, status=spec.status,  # type: ignore[arg-type]
                    comment=spec.comment or f"reasoning for {spec.id}", metadata=meta)]
    scores += [Score(key=k, score=v, passed=None) for k, v in spec.extra.items()]
    return CaseResult(example_id=spec.id, variant={}, repetition=repetition,
                      outputs=spec.outputs if spec.outputs is not None else {"answer": spec.id},
                      error=None, latency_s=spec.latency, scores=tuple(scores),
                      calls=tuple(calls))


def store_run(store: Store, variants: Mapping[str, Sequence[Spec]], *,
              goals: Mapping[str, Any] | None = None, metric: str = "judge",
              version: str = "v1", suite: str = "test_qa") -> str:
    """One run with an experiment per variant; returns the run id."""
    run_id = store.create_run(suite, "suite.py", {}, "0.1.0")
    examples: dict[str, Example] = {}
    for pos, (label, specs) in enumerate(variants.items()):
        for s in specs:
            examples.setdefault(s.id, Example(id=s.id, inputs={"q": f"question {s.id}"},
                                              reference="ref"))
        exp_id = store.create_experiment(run_id, pos, {"model": label}, label, "qa", version,
                                         len(specs), 1, [], goals)
        store.write_cases([(exp_id, case_of(s, metric)) for s in specs])
    store.save_examples(version, list(examples.values()))
    store.finish_run(run_id, "finished")
    return run_id


def specs(passes: Sequence[bool], **kw: Any) -> list[Spec]:
    """Cases e0, e1, ... with the given pass/fail verdicts."""
    return [Spec(id=f"e{i}", passed=p, **kw) for i, p in enumerate(passes)]
