"""Pure parts of the LangSmith sync: configuration, ids, reference mapping, feedback shapes."""

from __future__ import annotations

import datetime as dt
import subprocess
import sys
import uuid

import pytest

from judgekit.errors import ConfigError
from judgekit.langsmith.config import load_config, requested_by_env
from judgekit.langsmith.payloads import (
    TraceContext,
    case_context,
    case_feedback,
    case_runs,
    dotted_order,
    example_payload,
    reference_outputs,
    same_example,
    summary_feedback,
)
from judgekit.store import ExperimentRow, RunRow
from judgekit.types import CallRecord, CaseResult, Example, Score

RUN = RunRow("7f3a2c1d", "test_qa", "suites/qa.py", "complete", 1000.0, 1010.0, {}, "0.1.0")
EXP = ExperimentRow(id="7f3a2c1d-1", run_id=RUN.id, position=0, variant={"model": "m"},
                    variant_label="m", dataset_name="qa", dataset_version="abc", n_examples=1,
                    repeat=1, evaluators=[], goals=None, created_at=1000.0,
                    summary={"n_cases": 1, "n_passed": 1, "pass_rate": 1.0,
                             "cost_usd": {"per_1k_cases": None},
                             "latency_s": {"p50": 0.1, "p99": 0.2}},
                    goal_results=[{"name": "accuracy", "metric": "cot_qa", "target": 0.9,
                                   "actual": 0.5, "met": False, "op": ">="},
                                  {"name": "cost", "metric": "cost_per_1k", "target": 1.0,
                                   "actual": None, "met": None, "op": "<="}])


def test_config_reads_langsmith_then_langchain_variables() -> None:
    cfg = load_config({"LANGCHAIN_API_KEY": "old", "LANGCHAIN_ENDPOINT": "http://a/",
                       "LANGSMITH_API_KEY": " new "})
    assert (cfg.api_key, cfg.endpoint) == ("new", "http://a")
    assert "new" not in repr(cfg)
    assert load_config({"LANGSMITH_API_KEY": "k"}).endpoint == "https://api.smith.langchain.com"


def test_config_without_key_or_with_a_bad_endpoint_is_a_usage_error() -> None:
    with pytest.raises(ConfigError, match="set LANGSMITH_API_KEY"):
        load_config({"LANGSMITH_ENDPOINT": "http://a", "LANGSMITH_API_KEY": "  "})
    with pytest.raises(ConfigError, match="not an http"):
        load_config({"LANGSMITH_API_KEY": "k", "LANGSMITH_ENDPOINT": "api.smith"})


@pytest.mark.parametrize(("value", "want"), [("", False), ("0", False), ("1", True),
                                             ("true", True), ("off", False)])
def test_judgekit_langsmith_variable(value: str, want: bool) -> None:
    assert requested_by_env({"JUDGEKIT_LANGSMITH": value}) is want


def test_judgekit_langsmith_variable_rejects_junk() -> None:
    with pytest.raises(ConfigError, match="JUDGEKIT_LANGSMITH"):
        requested_by_env({"JUDGEKIT_LANGSMITH": "maybe"})


def test_references_map_to_outputs_objects() -> None:
    assert reference_outputs({"a": 1}) == {"a": 1}
    assert reference_outputs("Paris") == {"output": "Paris"}
    assert reference_outputs([1, 2]) == {"output": [1, 2]}
    assert reference_outputs(None) is None
    p = example_payload("qa", Example("q1", {"q": "?"}, {"answer": "x"}, {"split": "a"}))
    assert p["metadata"] == {"split": "a", "judgekit_id": "q1"}  # dict: not wrapped
    assert p["id"] == example_payload("qa", Example("q1", {"q": "other"}))["id"]  # by id only
    assert p["id"] != example_payload("qa2", Example("q1", {"q": "?"}))["id"]
    # LangSmith's own split metadata does not make an example differ.
    assert same_example(p, {"q": "?"}, {"answer": "x"},
                        {"split": "a", "judgekit_id": "q1", "dataset_split": ["base"]})
    assert not same_example(p, {"q": "?"}, {"answer": "y"}, {"split": "a", "judgekit_id": "q1"})


def test_dotted_order_matches_the_start_time() -> None:
    rid = uuid.UUID(int=1)
    start = dt.datetime(2026, 1, 2, 3, 4, 5, 678901, tzinfo=dt.timezone.utc)
    assert dotted_order(start, rid) == f"20260102T030405678901Z{rid}"
    assert dotted_order(start, rid, "P").startswith("P.20260102T")


def _ctx() -> TraceContext:
    return TraceContext(run=RUN, exp=EXP, project_id=uuid.UUID(int=7), project_name="x",
                        evaluators_project_id=uuid.UUID(int=8), target_name="test_qa",
                        example_ids={"q1": str(uuid.UUID(int=9))})


def test_feedback_never_turns_a_missing_verdict_into_a_zero() -> None:
    case = CaseResult(example_id="q1", variant={}, repetition=0, outputs="x", error=None,
                      latency_s=0.1, started_at=1001.0, ended_at=1002.0, scores=(
                          Score("ok", score=0.0, comment="wrong"),
                          Score("unscored", status="unscored", comment="no GRADE line"),
                          Score("skipped", status="skipped", comment="no judge model"),
                          Score("error", status="error", comment="boom"),
                          Score("label", value="CORRECT", passed=True)))
    cc = case_context(_ctx(), case)
    fb = {f["key"]: f for f in case_feedback(_ctx(), case, cc)}
    assert fb["ok"]["score"] == 0.0 and fb["ok"]["comment"] == "wrong"
    assert fb["unscored"]["score"] is None and fb["unscored"]["comment"] == \
        "unscored: no GRADE line"
    assert fb["skipped"]["score"] is None and fb["skipped"]["comment"].startswith("skipped: ")
    assert fb["error"]["score"] is None and fb["error"]["error"] is True
    assert fb["label"]["score"] == 1.0 and fb["label"]["value"] == "CORRECT"
    # Deterministic: the same case gives the same ids.
    again = case_feedback(_ctx(), case, case_context(_ctx(), case))
    assert [f["feedback_id"] for f in again] == [f["feedback_id"] for f in fb.values()]
    assert cc.start == dt.datetime.fromtimestamp(1001.0, dt.timezone.utc)


def test_summary_feedback_has_goals_met_missed_and_skipped() -> None:
    fb = {f["key"]: f for f in summary_feedback(uuid.UUID(int=7), EXP, [])}
    assert fb["pass_rate"]["score"] == 1.0
    assert fb["cost_per_1k_usd"]["score"] is None and "unknown" in fb["cost_per_1k_usd"]["comment"]
    assert fb["goal:accuracy"]["score"] == 0.0 and fb["goal:accuracy"]["value"] == "missed"
    assert fb["goal:cost"]["score"] is None and fb["goal:cost"]["comment"].startswith("skipped")
    assert all(f["run_id"] is None and f["project_id"] == uuid.UUID(int=7) for f in fb.values())


def test_importing_judgekit_and_the_cli_does_not_import_langsmith() -> None:
    code = ("import sys, judgekit, judgekit.langsmith, judgekit.cli.main as m, "
            "judgekit.cli.eval_cmd; m.build_parser(); "
            "print(any(k == 'langsmith' or k.startswith('langsmith.') for k in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    assert out.stdout.strip() == "False"


def test_per_field_scores_of_a_judge_point_at_its_judge_run() -> None:
    # One judge call under the evaluator key "crit" produced "crit.tone" and "crit.facts"
    # (as per-key evaluators name them); a code check "exact" made no call.
    call = CallRecord(role="judge", provider="openai", model="gpt-4o",
                      request={"messages": [{"role": "user", "content": "grade"}]},
                      response_text="tone: ok; facts: wrong", prompt_tokens=20,
                      completion_tokens=5, latency_s=0.2, started_at=1001.5, score_key="crit")
    case = CaseResult(example_id="q1", variant={}, repetition=0, outputs="x", error=None,
                      latency_s=0.1, started_at=1001.0, ended_at=1002.0, calls=(call,), scores=(
                          Score("crit.tone", score=1.0, comment="polite"),
                          Score("crit.facts", score=0.0, comment="wrong capital"),
                          Score("critique", score=1.0), Score("exact", score=1.0)))
    cc = case_context(_ctx(), case)
    fb = {f["key"]: f for f in case_feedback(_ctx(), case, cc)}
    judge_id = cc.judge_ids["crit"]
    assert fb["crit.tone"]["source_run_id"] == fb["crit.facts"]["source_run_id"] == judge_id
    assert fb["critique"]["source_run_id"] is None  # a prefix of the name, not a parent key
    assert fb["exact"]["source_run_id"] is None
    runs = {r["id"]: r for r in case_runs(_ctx(), case, cc)}
    judge = runs[judge_id]
    assert [s["key"] for s in judge["outputs"]["results"]] == ["crit.tone", "crit.facts"]
    (llm,) = [r for r in runs.values() if r.get("parent_run_id") == judge_id]
    assert llm["run_type"] == "llm" and llm["outputs"]["usage_metadata"]["input_tokens"] == 20
