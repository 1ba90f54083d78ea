"""Trace shape beyond one call per case: repetitions, judge self-consistency, a failed target.

One ``judgekit eval --repeat 2 --langsmith`` of a suite whose ``cot_qa`` judge draws three
samples per verdict and whose target fails on one example, against the local servers.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
from e2e_support import JUDGE_SYSTEM, Ran, judgekit, write
from langsmith_server import LangSmithServer
from openai_server import OpenAIServer, Reply
from sync_support import QA, feedback_of, ls_env, roots, target_reply, write_suite

pytest.importorskip("langsmith")

SAMPLES = 3
REPEAT = 2

SUITE = f"""\
from judgekit import dataset, suite
from judgekit.models import LLM
from judgekit_evaluators import cot_qa, exact_match


@suite(data=dataset("data/qa.jsonl"),
       evaluators=[exact_match(), cot_qa(model="gpt-4o", samples={SAMPLES})])
async def test_qa(question: str, llm: LLM) -> str:
    if "cheese" in question:
        raise ValueError("no answer for cheese")
    return (await llm.chat(question, model="gpt-4o-mini", temperature=0)).text
"""

Scenario = tuple[Ran, LangSmithServer]


@pytest.fixture(scope="module")
def sent(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Scenario]:
    root: Path = tmp_path_factory.mktemp("ls-traces")
    write_suite(root)
    write(root / "suites" / "qa.py", SUITE)
    with OpenAIServer() as oai, LangSmithServer() as ls:
        oai.reply(None, target_reply("Paris"))
        oai.reply(JUDGE_SYSTEM, Reply("Looks right.\nGRADE: CORRECT", prompt_tokens=50,
                                      completion_tokens=7))
        ran = judgekit("eval", "suites/qa.py", "--repeat", str(REPEAT), "--langsmith",
                       cwd=root, srv=oai, env=ls_env(ls))
        assert ran.returncode == 0, ran.output
        yield ran, ls


def test_each_repetition_is_its_own_root_run(sent: Scenario) -> None:
    ran, ls = sent
    (exp,) = ls.experiments()
    rs = roots(ls, exp["id"])
    assert len(rs) == len(QA) * REPEAT == len({r["id"] for r in rs})
    per_example = Counter(r["reference_example_id"] for r in rs)
    assert set(per_example) == set(ls.examples) and set(per_example.values()) == {REPEAT}
    reps = Counter((r["extra"]["metadata"]["judgekit_example_id"],
                    r["extra"]["metadata"]["repetition"]) for r in rs)
    assert set(reps) == {(row["id"], i) for row in QA for i in range(REPEAT)}
    stored = {(c["example_id"], c["repetition"]) for c in ran.experiment()["cases"]}
    assert stored == set(reps)
    # Each root has its own feedback, once per key.
    for r in rs:
        assert set(feedback_of(ls, r["id"])) == {"exact_match", "cot_qa"}


def test_each_judge_call_is_its_own_llm_run(sent: Scenario) -> None:
    _, ls = sent
    (exp,) = ls.experiments()
    judge_calls: set[str] = set()
    for r in roots(ls, exp["id"]):
        if r["error"]:
            continue
        judge = feedback_of(ls, r["id"])["cot_qa"]
        assert judge["score"] == 1.0
        judge_run = ls.runs[judge["source_run_id"]]
        assert judge_run["extra"]["metadata"]["reference_run_id"] == r["id"]
        calls = ls.children(judge_run["id"])
        assert len(calls) == SAMPLES  # every sample drawn is a run with its tokens
        assert all(c["run_type"] == "llm" and c["trace_id"] == judge_run["id"] for c in calls)
        assert all((c["prompt_tokens"], c["completion_tokens"]) == (50, 7) for c in calls)
        assert sorted(c["extra"]["metadata"].get("judgekit_sample", 0) for c in calls) == \
            list(range(SAMPLES))
        judge_calls.update(c["id"] for c in calls)
    assert len(judge_calls) == (len(QA) - 1) * REPEAT * SAMPLES


def test_a_failed_case_is_a_root_run_with_its_error(sent: Scenario) -> None:
    ran, ls = sent
    (exp,) = ls.experiments()
    failed = [r for r in roots(ls, exp["id"]) if r["error"]]
    assert len(failed) == REPEAT
    stored = [c for c in ran.experiment()["cases"] if c["error"]]
    assert {c["example_id"] for c in stored} == {"moon"}
    for r in failed:
        assert r["extra"]["metadata"]["judgekit_example_id"] == "moon"
        assert r["error"] == "ValueError: no answer for cheese"
        assert r["outputs"] in (None, {})
        assert ls.children(r["id"]) == []  # it made no model call
        for f in feedback_of(ls, r["id"]).values():
            assert f.get("score") is None  # never a zero for a case that could not be scored
            assert f["comment"]
