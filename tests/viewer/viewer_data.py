"""A store written through the Store API for the viewer tests: two variants with goals, a
judge with reasoning, model calls, an unscored verdict, an error and hostile model text."""

from __future__ import annotations

from pathlib import Path

from judgekit.goals import Goals
from judgekit.store import Store
from judgekit.summary import summarize
from judgekit.types import CallRecord, CaseError, CaseResult, Example, Score

#: Model output that would run, break out of an element or a template if it were not escaped.
HOSTILE = ('<script>alert(1)</script></textarea></script><img src=x onerror=alert(2)>'
           '<a href="javascript:alert(3)">click</a> {{ 7*7 }}')
GOALS = Goals(accuracy=("cot_qa", 0.6), cost_per_1k=5.0)


def _call(role: str, text: str, cost: float, *, key: str | None = None,
          hit: bool = False) -> CallRecord:
    return CallRecord(role=role, provider="openai", model="gpt-4o-mini",  # type: ignore[arg-type]
                      request={"messages": [{"role": "user", "content": f"ask {text[:20]}"}]},
                      response_text=text, prompt_tokens=12, completion_tokens=5,
                      cost_usd=cost, latency_s=0.25, cache_hit=hit, score_key=key)


def grade(passed: bool | None, reasoning: str) -> Score:
    if passed is None:
        return Score(key="cot_qa", status="unscored", comment=reasoning)
    return Score(key="cot_qa", score=1.0 if passed else 0.0,
                 value="CORRECT" if passed else "INCORRECT", comment=reasoning)


def case(example_id: str, output: str, passed: bool | None, *, cost: float = 0.001,
         error: bool = False) -> CaseResult:
    if error:
        return CaseResult(example_id, {}, 0, None, CaseError("TimeoutError", "model timed out"),
                          0.5)
    reasoning = f"The answer {output[:40]} is {'right' if passed else 'wrong'}.\nGRADE: ..."
    return CaseResult(example_id, {}, 0, output, None, 0.3,
                      scores=(grade(passed, reasoning),),
                      calls=(_call("target", output, cost),
                             _call("judge", reasoning, cost, key="cot_qa", hit=True)))


def add_experiment(store: Store, run_id: str, position: int, label: str,
                   cases: list[CaseResult], *, finish: bool = True) -> str:
    exp = store.create_experiment(run_id, position, {"model": label}, label, "qa", "v1",
                                  len(cases), 1, [], GOALS.to_dict())
    for c in cases:
        store.write_case(exp, c)
    if finish:
        summary = summarize(store, exp, 1)
        store.save_summary(exp, summary, [], [g.to_dict() for g in GOALS.check(summary)])
    return exp


def make_store(path: Path) -> tuple[Store, str]:
    """A finished run with variants ``small`` (cheap, 1 of 3 right), ``large`` (dear, 3 of 3)
    and ``mid`` (dearer than small, worse than large: not on the frontier)."""
    store = Store(path)
    run_id = store.create_run("test_qa", "suite.py", {}, "0.1.0")
    store.save_examples("v1", [Example(id=f"q{i}", inputs={"question": f"question {i}"},
                                       reference=f"answer {i}") for i in range(1, 5)])
    add_experiment(store, run_id, 0, "small", [
        case("q1", "answer 1", True), case("q2", HOSTILE, False), case("q3", "hmm", None),
        case("q4", "", False, error=True)])
    add_experiment(store, run_id, 1, "large", [
        case(f"q{i}", f"answer {i}", True, cost=0.01) for i in range(1, 5)])
    add_experiment(store, run_id, 2, "mid", [
        case("q1", "answer 1", True, cost=0.02), case("q2", "no", False, cost=0.02),
        case("q3", "answer 3", True, cost=0.02), case("q4", "no", False, cost=0.02)])
    store.finish_run(run_id, "complete")
    return store, run_id
