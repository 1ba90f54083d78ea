"""``judgekit eval --langsmith`` end to end: what LangSmith receives, and how it is linked.

One eval of a two-variant suite (a target calling the local OpenAI-compatible server, an exact
match check and a ``cot_qa`` judge on the same server) runs in a subprocess with
``LANGSMITH_ENDPOINT`` pointing at the local LangSmith server. The tests read what the server
recorded and check the linkage a LangSmith user relies on: dataset ↔ experiments ↔ root runs
(``reference_example_id``) ↔ llm child runs (tokens) ↔ feedback (judge comment, source run).
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from e2e_support import Ran, cot_qa_prompt_sha256, judgekit, query
from langsmith_server import LangSmithServer
from openai_server import OpenAIServer
from sync_support import QA, SECRET, TARGET_USAGE, feedback_of, ls_env, roots, serve, write_suite

pytest.importorskip("langsmith")

Scenario = tuple[Path, Ran, LangSmithServer, OpenAIServer]


def _git(root: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(root), "-c", "user.name=t", "-c",
                           "user.email=t@example.com", *args], check=True, capture_output=True,
                          text=True).stdout.strip()


@pytest.fixture(scope="module")
def sent(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Scenario]:
    root = tmp_path_factory.mktemp("ls")
    write_suite(root)
    _git(root, "init", "-q")
    _git(root, "add", "suites")
    _git(root, "commit", "-qm", "suite")
    with OpenAIServer() as oai, LangSmithServer(api_key=SECRET) as ls:
        serve(oai)
        ran = judgekit("eval", "suites/qa.py", "--langsmith", cwd=root, srv=oai, env=ls_env(ls))
        assert ran.returncode == 0, ran.output
        yield root, ran, ls, oai


def _dataset(ls: LangSmithServer) -> dict[str, Any]:
    (ds,) = ls.datasets.values()
    return ds


def _experiments(ls: LangSmithServer) -> dict[str, dict[str, Any]]:
    """Experiments by variant model."""
    return {s["extra"]["metadata"]["variant"]["model"]: s for s in ls.experiments()}


def test_one_dataset_with_every_example_once(sent: Scenario) -> None:
    _, _, ls, _ = sent
    ds = _dataset(ls)
    assert ds["name"] == "qa"  # the data file's stem
    examples = [e for e in ls.examples.values() if e["dataset_id"] == ds["id"]]
    by_jk = {e["metadata"]["judgekit_id"]: e for e in examples}
    assert len(examples) == len(by_jk) == len(QA)
    for row in QA:
        ex = by_jk[row["id"]]
        assert ex["inputs"] == row["inputs"]
        # A non-dict reference is sent as {"output": ...}, and the metadata says so.
        assert ex["outputs"] == {"output": row["reference"]}
        assert ex["metadata"]["judgekit_reference_key"] == "output"


def test_two_experiments_linked_to_the_dataset_with_their_metadata(sent: Scenario) -> None:
    root, ran, ls, _ = sent
    ds = _dataset(ls)
    exps = _experiments(ls)
    assert sorted(exps) == ["gpt-4o", "gpt-4o-mini"]
    run_id = ran.doc["run_id"]
    commit = _git(root, "rev-parse", "HEAD")
    for model, exp in exps.items():
        assert exp["reference_dataset_id"] == ds["id"]
        assert exp["name"] == f"test_qa:{model}:{run_id}"
        meta = exp["extra"]["metadata"]
        assert meta["suite"] == "suites/qa.py::test_qa"
        assert meta["model"] == model and meta["variant_label"] == model
        assert meta["git_commit"] == commit
        assert meta["judgekit_version"] == ran.doc["judgekit_version"]
        assert meta["judges"]["cot_qa"]["prompt_sha256"] == cot_qa_prompt_sha256()
        assert meta["judges"]["cot_qa"]["judge_model"] == "gpt-4o"
        assert meta["judgekit_dataset_version"] == ran.experiment(model)["dataset"]["version"]
        assert exp["end_time"] is not None


def test_one_root_run_per_case_with_its_example_and_stored_times(sent: Scenario) -> None:
    root, ran, ls, _ = sent
    ds_examples = {e["id"]: e for e in ls.examples.values()}
    for model, exp in _experiments(ls).items():
        runs = roots(ls, exp["id"])
        assert len(runs) == len(QA)
        exp_id = ran.experiment(model)["id"]
        stored = {r[0]: r for r in query(
            root / "store.db", "SELECT example_id, outputs, started_at, ended_at FROM cases"
            " WHERE experiment_id=?", exp_id)}
        seen = set()
        for r in runs:
            example = ds_examples[r["reference_example_id"]]
            jk_id = example["metadata"]["judgekit_id"]
            seen.add(jk_id)
            assert r["extra"]["metadata"]["judgekit_example_id"] == jk_id
            assert r["run_type"] == "chain" and r["name"] == "test_qa"
            assert r["inputs"] == example["inputs"]
            assert r["outputs"] == {"output": json.loads(stored[jk_id][1])}
            assert r["trace_id"] == r["id"] and r["dotted_order"].endswith(r["id"])
            started = ls_time(r["start_time"])
            assert abs(started - stored[jk_id][2]) < 1e-3
            assert abs(ls_time(r["end_time"]) - stored[jk_id][3]) < 1e-3
        assert seen == {row["id"] for row in QA}


def ls_time(text: str) -> float:
    import datetime as dt

    return dt.datetime.fromisoformat(text).timestamp()


def test_target_model_calls_are_llm_children_with_token_usage(sent: Scenario) -> None:
    _, _, ls, _ = sent
    for model, exp in _experiments(ls).items():
        for r in roots(ls, exp["id"]):
            (llm,) = ls.children(r["id"])
            assert llm["run_type"] == "llm" and llm["trace_id"] == r["id"]
            assert llm["dotted_order"].startswith(r["dotted_order"] + ".")
            assert llm["prompt_tokens"] == TARGET_USAGE["prompt_tokens"]
            assert llm["completion_tokens"] == TARGET_USAGE["completion_tokens"]
            assert llm["total_tokens"] == 15
            usage = llm["outputs"]["usage_metadata"]
            assert usage["input_token_details"]["cache_read"] == TARGET_USAGE["cached_tokens"]
            assert usage["total_cost"] > 0  # gpt-4o(-mini) have prices
            meta = llm["extra"]["metadata"]
            assert (meta["ls_provider"], meta["ls_model_name"], meta["ls_model_type"]) == \
                ("openai", model, "chat")
            assert llm["inputs"]["messages"][-1]["content"] == r["inputs"]["question"]
            assert llm["outputs"]["choices"][0]["message"]["content"] == \
                r["outputs"]["output"]


def test_one_feedback_per_score_with_the_judge_comment_and_run(sent: Scenario) -> None:
    _, ran, ls, _ = sent
    ds_examples = {e["id"]: e for e in ls.examples.values()}
    for model, exp in _experiments(ls).items():
        stored = {(c["example_id"]): {s["key"]: s for s in c["scores"]}
                  for c in ran.experiment(model)["cases"]}
        for r in roots(ls, exp["id"]):
            jk_id = ds_examples[r["reference_example_id"]]["metadata"]["judgekit_id"]
            fb = feedback_of(ls, r["id"])
            assert set(fb) == {"exact_match", "cot_qa"}
            assert all(f["session_id"] == exp["id"] for f in fb.values())
            assert fb["exact_match"]["score"] == stored[jk_id]["exact_match"]["score"]
            judge = fb["cot_qa"]
            # The judge's evaluator run, as langsmith.evaluate traces it: its own trace in the
            # "evaluators" project, pointing back at the run it judged, its llm call inside.
            judge_run = ls.runs[judge["source_run_id"]]
            assert judge_run["session_name"] == "evaluators" and judge_run["name"] == "cot_qa"
            assert judge_run["extra"]["metadata"]["reference_run_id"] == r["id"]
            (judge_llm,) = ls.children(judge_run["id"])
            assert judge_llm["extra"]["metadata"]["ls_model_name"] == "gpt-4o"
            assert judge_llm["prompt_tokens"] > 0
            assert judge["feedback_source"]["type"] == "model"
            if jk_id == "moon":  # the judge gave no verdict: a comment, never a zero
                assert judge.get("score") is None and judge.get("value") is None
                assert judge["comment"].startswith("unscored: ")
            else:
                assert judge["score"] == 1.0 and judge["value"] == "CORRECT"
                assert judge["comment"] == stored[jk_id]["cot_qa"]["comment"] == \
                    "The answer matches the reference."


def test_summary_metrics_and_goals_are_experiment_feedback(sent: Scenario) -> None:
    _, _, ls, _ = sent
    for exp in _experiments(ls).values():
        summary = {f["key"]: f for f in ls.feedback.values()
                   if f.get("run_id") is None and f.get("session_id") == exp["id"]}
        assert {"pass_rate", "cost_per_1k_usd", "latency_p50_s", "latency_p99_s",
                "goal:accuracy"} <= set(summary)
        assert summary["goal:accuracy"]["score"] == 1.0  # 2 of 2 verdicts CORRECT >= 50%


def test_json_and_console_carry_the_urls(sent: Scenario) -> None:
    _, ran, ls, _ = sent
    doc = ran.doc["langsmith"]
    ids = {e["id"] for e in doc["experiments"]}
    assert ids == {e["id"] for e in _experiments(ls).values()}
    ds = _dataset(ls)
    assert f"/datasets/{ds['id']}/compare?selectedSessions=" in doc["compare_url"]
    assert set(doc["compare_url"].rsplit("=", 1)[1].split(",")) == ids
    assert doc["compare_url"] in ran.stdout
    for e in doc["experiments"]:
        assert e["url"] in ran.stdout and e["url"].endswith(e["id"])


def test_no_api_key_in_anything_sent_or_stored(sent: Scenario) -> None:
    root, ran, ls, _ = sent
    # Every request as it arrived (paths, queries, headers but the x-api-key one, decoded
    # bodies and multipart parts), not only the objects the server kept.
    received = ls.sent_as_data()
    assert "/runs/multipart" in received and "usage_metadata" in received  # it is all there
    assert SECRET not in received
    assert "sk-test" not in received  # nor the model provider's key
    assert all(r.headers.get("x-api-key") == SECRET for r in ls.received if r.path != "/info")
    # Nothing judgekit wrote: store, cache, JSON result, terminal output.
    written = [f for f in root.rglob("*") if f.is_file() and ".git" not in f.parts]
    assert any(f.name == "store.db" for f in written)
    for f in written:
        assert SECRET.encode() not in f.read_bytes(), f
    assert SECRET not in ran.output


def test_resync_creates_nothing_new(sent: Scenario) -> None:
    root, ran, ls, oai = sent
    before = {k: set(getattr(ls, k)) for k in ("datasets", "examples", "sessions", "runs",
                                               "feedback")}
    ds_id = _dataset(ls)["id"]
    versions = ls._versions(ds_id)
    again = judgekit("sync", ran.doc["run_id"], cwd=root, srv=oai, env=ls_env(ls))
    assert again.returncode == 0, again.output
    assert "unchanged" in again.stdout
    after = {k: set(getattr(ls, k)) for k in before}
    assert after == before
    assert ls._versions(ds_id) == versions  # no new dataset version either
