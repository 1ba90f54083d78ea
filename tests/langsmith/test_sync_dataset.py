"""The LangSmith dataset follows the suite's data: same data reused, changed data a new version
of the same dataset (no duplicates), data loaded from LangSmith linked instead of copied."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from e2e_support import judgekit, write
from langsmith_server import LangSmithServer
from openai_server import OpenAIServer
from sync_support import QA, ls_env, roots, serve, write_suite

langsmith = pytest.importorskip("langsmith")


def _by_jk_id(ls: LangSmithServer) -> dict[str, dict[str, Any]]:
    return {e["metadata"]["judgekit_id"]: e for e in ls.examples.values()}


def test_changed_data_is_a_new_version_of_the_same_dataset(
        tmp_path: Path, openai_server: OpenAIServer, langsmith_server: LangSmithServer) -> None:
    ls, oai = langsmith_server, openai_server
    serve(oai)
    write_suite(tmp_path)
    first = judgekit("eval", "suites/qa.py", "--langsmith", cwd=tmp_path, srv=oai,
                     env=ls_env(ls))
    assert first.returncode == 0, first.output
    (ds,) = ls.datasets.values()
    v1_ids = {k: e["id"] for k, e in _by_jk_id(ls).items()}
    v1_versions = ls._versions(ds["id"])

    # One reference changed, one example removed, one added.
    rows = [dict(QA[0], reference="Paris, France"), QA[1],
            {"id": "sky", "inputs": {"question": "Sky colour?"}, "reference": "blue"}]
    write_suite(tmp_path, rows)
    second = judgekit("eval", "suites/qa.py", "--langsmith", cwd=tmp_path, srv=oai,
                      env=ls_env(ls))
    assert second.returncode == 0, second.output
    assert "new version: 1 added, 1 updated, 1 deleted" in second.stdout
    assert list(ls.datasets) == [ds["id"]]  # the same dataset
    now = _by_jk_id(ls)
    assert sorted(now) == ["paris", "sky", "sum"]  # each once: no duplicates, moon gone
    assert now["paris"]["id"] == v1_ids["paris"]  # updated in place, by judgekit id
    assert now["paris"]["outputs"] == {"output": "Paris, France"}
    versions = ls._versions(ds["id"])
    assert len(versions) > len(v1_versions)
    # Each experiment records the version it ran against; the versions are tagged by hash.
    dsv = {e["extra"]["metadata"]["judgekit_run_id"]: e["extra"]["metadata"]
           for e in ls.experiments()}
    old, new = dsv[first.doc["run_id"]], dsv[second.doc["run_id"]]
    assert old["dataset_version"] != new["dataset_version"]
    tags = ls._tags[ds["id"]]
    assert {f"judgekit-{old['judgekit_dataset_version']}",
            f"judgekit-{new['judgekit_dataset_version']}"} <= set(tags)
    # The second run's roots point at the current examples.
    for exp in ls.experiments():
        if exp["extra"]["metadata"]["judgekit_run_id"] == second.doc["run_id"]:
            assert {r["reference_example_id"] for r in roots(ls, exp["id"])} == \
                {e["id"] for e in now.values()}


def test_a_dataset_not_made_by_judgekit_is_left_alone(
        tmp_path: Path, openai_server: OpenAIServer, langsmith_env: LangSmithServer) -> None:
    ls, oai = langsmith_env, openai_server
    serve(oai)
    client = langsmith.Client(api_url=ls.url, api_key=ls.api_key)
    client.create_dataset("qa", description="someone else's")
    write_suite(tmp_path)
    ran = judgekit("eval", "suites/qa.py", cwd=tmp_path, srv=oai)
    bad = judgekit("sync", ran.doc["run_id"], cwd=tmp_path, srv=oai, env=ls_env(ls))
    assert bad.returncode == 2
    assert "already has a dataset named 'qa' that judgekit did not create" in bad.stderr
    assert "--dataset-name" in bad.stderr and ls.examples == {}
    ok = judgekit("sync", ran.doc["run_id"], "--dataset-name", "qa-judgekit",
                  "--langsmith-project", "nightly", cwd=tmp_path, srv=oai, env=ls_env(ls))
    assert ok.returncode == 0, ok.output
    assert sorted(d["name"] for d in ls.datasets.values()) == ["qa", "qa-judgekit"]
    assert {e["name"].split(":")[0] for e in ls.experiments()} == {"nightly"}


def test_data_loaded_from_langsmith_is_linked_not_copied(
        tmp_path: Path, openai_server: OpenAIServer, langsmith_env: LangSmithServer) -> None:
    ls, oai = langsmith_env, openai_server
    serve(oai)
    client = langsmith.Client(api_url=ls.url, api_key=ls.api_key)
    ds = client.create_dataset("qa-prod")
    client.create_examples(dataset_id=ds.id, examples=[
        {"inputs": r["inputs"], "reference_outputs": {"answer": r["reference"]}} for r in QA])
    suite = (tmp_path / "suites" / "qa.py")
    write_suite(tmp_path)
    suite.write_text(suite.read_text().replace('dataset("data/qa.jsonl")',
                                               'dataset.langsmith("qa-prod")'))
    write(tmp_path / "suites" / "__init__.py", "")
    n_examples = len(ls.examples)
    ran = judgekit("eval", "suites/qa.py", "--langsmith", cwd=tmp_path, srv=oai,
                   env=ls_env(ls))
    assert ran.returncode == 0, ran.output
    assert "linked" in ran.stdout
    assert list(ls.datasets) == [str(ds.id)] and len(ls.examples) == n_examples
    for exp in ls.experiments():
        assert exp["reference_dataset_id"] == str(ds.id)
        assert {r["reference_example_id"] for r in roots(ls, exp["id"])} == set(ls.examples)


def test_a_langsmith_dataset_runs_again_with_langsmith_down(
        tmp_path: Path, openai_server: OpenAIServer) -> None:
    # The first run reads the dataset and caches it by version; the second runs with the
    # server stopped (its port closed): the cached copy is used, with one warning line.
    serve(openai_server)
    write_suite(tmp_path)
    suite = tmp_path / "suites" / "qa.py"
    suite.write_text(suite.read_text().replace('dataset("data/qa.jsonl")',
                                               'dataset.langsmith("qa-prod")'))
    with LangSmithServer() as ls:
        client = langsmith.Client(api_url=ls.url, api_key=ls.api_key, auto_batch_tracing=False)
        ds = client.create_dataset("qa-prod")
        client.create_examples(dataset_id=ds.id, examples=[
            {"inputs": r["inputs"], "reference_outputs": {"answer": r["reference"]}}
            for r in QA])
        client.close()
        env = ls_env(ls)
        online = judgekit("eval", "suites/qa.py", cwd=tmp_path, srv=openai_server, env=env)
        assert online.returncode == 0, online.output
        assert online.stderr.count("warning:") == 0
        assert ls.requests and all(p != "/runs/multipart" for _, p, _ in ls.requests)
    offline = judgekit("eval", "suites/qa.py", cwd=tmp_path, srv=openai_server, env=env)
    assert offline.returncode == 0, offline.output
    (warning,) = [x for x in offline.stderr.splitlines() if x.startswith("warning:")]
    assert f"cannot load it from {env['LANGSMITH_ENDPOINT']}" in warning
    assert "using the cached copy of version" in warning and "Traceback" not in offline.output

    def cases(ran: Any) -> list[tuple[str, Any, Any]]:
        return sorted((c["example_id"], c["outputs"], [s["score"] for s in c["scores"]])
                      for e in ran.doc["experiments"] for c in e["cases"])

    assert cases(offline) == cases(online) and len(cases(online)) == 2 * len(QA)
    assert [e["dataset"] for e in offline.doc["experiments"]] == \
        [e["dataset"] for e in online.doc["experiments"]]
