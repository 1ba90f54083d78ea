"""``judgekit.rescore``: new evaluators over a stored run's outputs, as a new linked run.

The run is made by ``judgekit.evaluate`` with a target that asks the local OpenAI server (real
HTTP through the openai SDK), so its cases carry target calls with tokens and cost. The target
is then made to raise: a rescore that called it would show errors. Judges reach the same
server, which counts every request.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from openai_server import OpenAIServer, Reply

import judgekit
from judgekit import Goals, Store
from judgekit.errors import ConfigError, EvaluatorError, StoreError
from judgekit.models import ModelSettings
from judgekit.rescoring import RescoreResult, parse_evaluator_spec
from judgekit_evaluators import cot_qa

JUDGE_SYSTEM = "careful teacher grading"  # words of the cot_qa system prompt
DATA = [
    {"id": "a", "inputs": {"q": "capital of France"}, "reference": "Paris"},
    {"id": "b", "inputs": {"q": "largest planet"}, "reference": "Jupiter"},
    {"id": "c", "inputs": {"q": "boom"}, "reference": "x"},
]
ANSWERS = {"capital of France": "paris", "largest planet": "Saturn"}


class Target:
    """Answers through ``llm`` (a target call per case) until ``broken`` is set."""

    def __init__(self) -> None:
        self.broken = False
        self.calls = 0

    async def __call__(self, q: str, llm: Any) -> str:
        self.calls += 1
        if self.broken:
            raise AssertionError("rescore called the target")
        if q == "boom":
            raise RuntimeError("upstream 500")
        return str((await llm.chat(f"Answer: {q}")).text)


def judge(body: dict[str, Any]) -> Reply:
    text = "\n".join(str(m.get("content", "")) for m in body["messages"])
    grade = "CORRECT" if "paris" in text.lower().split("begin answer")[-1] else "INCORRECT"
    return Reply(f"Compared with the reference.\nGRADE: {grade}", prompt_tokens=300,
                 completion_tokens=20)


@pytest.fixture
def original(openai_env: OpenAIServer, tmp_path: Path
             ) -> tuple[Store, judgekit.EvalResult, Target, ModelSettings]:
    srv = openai_env
    for q, a in ANSWERS.items():
        srv.reply(f"Answer: {q}", Reply(a, prompt_tokens=10, completion_tokens=2))
    srv.reply(JUDGE_SYSTEM, judge)
    target = Target()
    models = ModelSettings(cache_path=tmp_path / "cache.db", timeout_s=10)
    store = Store(tmp_path / "j.db")
    result = judgekit.evaluate(target, DATA, ["exact_match"], name="qa",
                               goals=Goals(accuracy=("exact_match", 0.5), cost_per_1k=100.0),
                               variants={"model": ["gpt-4o-mini"]}, store=store,
                               models=models)
    assert target.calls == 3 and srv.count(status=200) == 2  # "boom" raised before calling
    target.broken = True
    return store, result, target, models


def test_spec_pairs_json_values_and_plain_text() -> None:
    assert parse_evaluator_spec("exact_match") == ("exact_match", None)
    assert parse_evaluator_spec("exact_match:") == ("exact_match", {})
    assert parse_evaluator_spec('json_match:keys=["a","b"], key=f') == (
        "json_match", {"keys": ["a", "b"], "key": "f"})
    assert parse_evaluator_spec("cot_qa:model=gpt-4o-mini,samples=3,strict=true") == (
        "cot_qa", {"model": "gpt-4o-mini", "samples": 3, "strict": True})
    assert parse_evaluator_spec('includes:{"key": "inc", "n": [1, 2]}') == (
        "includes", {"key": "inc", "n": [1, 2]})
    assert parse_evaluator_spec('regex_match:pattern="a,b",key=r') == (
        "regex_match", {"pattern": "a,b", "key": "r"})


@pytest.mark.parametrize(("spec", "says"), [
    (":x=1", "no evaluator name"),
    ("exact_match:case_sensitive", "expected key=value"),
    ("exact_match:a=1,a=2", "given twice"),
    ('exact_match:{"a": 1', "not valid JSON"),
    ("exact_match:[1]", "expected key=value"),
    ('exact_match:a=[1,2', "not valid JSON"),
    ('exact_match:a="x" y', "expected ','"),
])
def test_spec_mistakes_name_the_spec(spec: str, says: str) -> None:
    with pytest.raises(EvaluatorError, match=says) as info:
        parse_evaluator_spec(spec)
    assert repr(spec) in str(info.value) and "\n" not in str(info.value)


def test_rescore_scores_stored_outputs_as_a_linked_run_without_target_calls(
    original: tuple[Store, judgekit.EvalResult, Target, ModelSettings],
    openai_env: OpenAIServer,
) -> None:
    store, first, target, models = original
    before = openai_env.count()
    result = judgekit.rescore(first.run_id, ["exact_match:case_sensitive=false",
                                             cot_qa(model="gpt-4o-mini")],
                              store=store, models=models)
    assert isinstance(result, RescoreResult)
    assert target.calls == 3  # the target was never called again
    judge_requests = openai_env.requests[before:]
    assert len(judge_requests) == 2  # a judge call per case with outputs; none for "boom"
    assert all(JUDGE_SYSTEM in r.messages[0]["content"] for r in judge_requests)
    assert result.run.rescore_of == first.run_id and result.original == first.run_id
    assert (result.n_rescored, result.n_not_rescored) == (2, 1)
    old, new = first.experiments[0], result.experiments[0]
    for attr in ("position", "variant", "variant_label", "dataset_name", "dataset_version",
                 "n_examples", "repeat"):
        assert getattr(new, attr) == getattr(old, attr), attr
    cases = {c.example_id: c for _, c in result.cases()}
    olds = {c.example_id: c for _, c in first.cases()}
    assert list(cases) == list(olds)
    for cid in ("a", "b"):
        assert cases[cid].outputs == olds[cid].outputs
        assert cases[cid].latency_s == olds[cid].latency_s
        target_calls = [c for c in cases[cid].calls if c.role == "target"]
        assert target_calls == [c for c in olds[cid].calls if c.role == "target"]
        assert [c.score_key for c in cases[cid].calls if c.role == "judge"] == ["cot_qa"]
    assert {k: [(s.key, s.score) for s in c.scores] for k, c in cases.items() if k != "c"} == {
        "a": [("exact_match", 1.0), ("cot_qa", 1.0)],
        "b": [("exact_match", 0.0), ("cot_qa", 0.0)],
    }
    # The errored case stays errored, its error as stored, every new evaluator an error.
    assert cases["c"].error == olds["c"].error and cases["c"].outputs is None
    assert [(s.key, s.status) for s in cases["c"].scores] == [("exact_match", "error"),
                                                              ("cot_qa", "error")]
    summary, old_summary = new.summary or {}, old.summary or {}
    assert summary["n_errors"] == 1 and summary["n_cases"] == 3
    # Target cost and latency are the original's; the judge cost is the rescore's own.
    assert summary["cost_usd"]["target"] == pytest.approx(old_summary["cost_usd"]["target"])
    assert summary["cost_usd"]["target"] > 0
    assert summary["cost_usd"]["judge"] > 0 and old_summary["cost_usd"]["judge"] == 0
    assert summary["latency_s"] == old_summary["latency_s"]
    # The original's goals: exact_match is written again, now case-insensitively.
    assert [(g["name"], g["met"]) for g in new.goal_results or []] == [("accuracy", False),
                                                                       ("cost", True)]
    # a right (case-insensitively now), b wrong, c errored: counted as 0 toward the goal.
    assert summary["scores"]["exact_match"]["goal_value"] == pytest.approx(1 / 3)
    assert result.exit_code() == 1
    assert result.run.config["rescore"]["experiments"] == [old.id]
    assert [s["name"] for s in new.evaluators] == ["exact_match", "cot_qa"]
    assert result.to_json()["rescore_of"] == first.run_id
    assert store.get_run(first.run_id).rescore_of is None


def test_a_second_rescore_is_answered_by_the_cache(
    original: tuple[Store, judgekit.EvalResult, Target, ModelSettings],
    openai_env: OpenAIServer,
) -> None:
    store, first, _, models = original
    judgekit.rescore(first.run_id, [cot_qa(model="gpt-4o-mini")], store=store, models=models)
    before = openai_env.count()
    again = judgekit.rescore(first.run_id, [cot_qa(model="gpt-4o-mini")], store=store,
                             models=models)
    assert openai_env.count() == before  # no request reached the server
    judge_calls = [c for _, case in again.cases() for c in case.calls if c.role == "judge"]
    assert len(judge_calls) == 2 and all(c.cache_hit for c in judge_calls)
    assert (again.experiments[0].summary or {})["cost_usd"]["judge"] == 0.0


def test_keep_keeps_the_original_scores_and_goals_on_dropped_scores_are_said(
    original: tuple[Store, judgekit.EvalResult, Target, ModelSettings],
) -> None:
    store, first, _, models = original
    kept = judgekit.rescore(first.run_id, ["includes:key=inc"], store=store, keep=True,
                            models=models)
    case = next(c for _, c in kept.cases() if c.example_id == "a")
    assert [s.key for s in case.scores] == ["exact_match", "inc"]
    assert [g["metric"] for g in kept.experiments[0].goal_results or []] == ["exact_match",
                                                                            "cost_per_1k"]
    assert kept.notes == []
    dropped = judgekit.rescore(first.run_id, ["includes"], store=store, models=models)
    assert [g["metric"] for g in dropped.experiments[0].goal_results or []] == ["cost_per_1k"]
    assert dropped.notes == ["goal on exact_match not checked: this rescore does not write "
                             "exact_match (--keep keeps the original scores)"]
    assert dropped.exit_code() == 0


def test_rescoring_a_rescore_keeps_the_target_calls_and_links_to_its_parent(
    original: tuple[Store, judgekit.EvalResult, Target, ModelSettings],
) -> None:
    store, first, _, models = original
    once = judgekit.rescore(first.run_id, ["includes"], store=store, models=models)
    twice = judgekit.rescore(once.run_id, ["exact_match"], store=store, models=models)
    assert twice.run.rescore_of == once.run_id
    assert (twice.experiments[0].summary or {})["cost_usd"]["target"] == pytest.approx(
        (first.experiments[0].summary or {})["cost_usd"]["target"])


def test_resume_or_retry_of_a_rescore_points_at_the_original(
    original: tuple[Store, judgekit.EvalResult, Target, ModelSettings],
) -> None:
    store, first, _, models = original
    again = judgekit.rescore(first.run_id, ["includes"], store=store, models=models)
    with pytest.raises(ConfigError, match=f"rescore of run {first.run_id}.*--retry-errors "
                                          f"{first.run_id}"):
        judgekit.run_suite(_suite(), store=store, retry_errors=again.run_id)


def _suite() -> judgekit.Suite:
    return judgekit.Suite(name="qa", target=Target(), data=judgekit.dataset(DATA),
                          evaluators=[])


def test_bad_input_is_one_clear_error_and_writes_no_run(
    original: tuple[Store, judgekit.EvalResult, Target, ModelSettings],
) -> None:
    store, first, _, _ = original
    n_runs = len(store.list_runs())
    cases: list[tuple[Any, list[Any], dict[str, Any], str]] = [
        (StoreError, ["exact_match"], {"run": "zzzz"}, "no run 'zzzz'"),
        (EvaluatorError, ["exact_mach"], {}, "did you mean 'exact_match'"),
        (EvaluatorError, ["exact_match:bogus=1"], {}, "unexpected keyword argument 'bogus'"),
        (EvaluatorError, ["exact_match", "exact_match"], {}, "two evaluators write"),
        (EvaluatorError, ["pairwise:against=nope"], {}, "names no variant"),
        (EvaluatorError, [], {}, "at least one --evaluator"),
        (ConfigError, ["exact_match"], {"variants": ["gpt-4o"]}, "no variant 'gpt-4o'"),
        (ConfigError, ["exact_match"], {"run": f"{first.run_id}-7"}, "no experiment"),
    ]
    for error, specs, kw, says in cases:
        with pytest.raises(error, match=says):
            judgekit.rescore(kw.pop("run", first.run_id), specs, store=store, **kw)
    store.finish_run(first.run_id, "interrupted")
    with pytest.raises(ConfigError, match=f"it is interrupted; finish it first .*--resume "
                                          f"{first.run_id}"):
        judgekit.rescore(first.run_id, ["exact_match"], store=store)
    assert len(store.list_runs()) == n_runs
    with pytest.raises(StoreError, match="no store at"):
        judgekit.rescore("abc", ["exact_match"], store=Path(store.path).parent / "none.db")
