"""Shards sync to one LangSmith experiment per variant (issue 18 item 2): each
``eval --shard i/n --langsmith`` adds its cases to the experiment its group names, and sends no
summary of its own part (the merged run's is the evaluation's)."""

from __future__ import annotations

from pathlib import Path

import pytest
from e2e_support import judgekit
from langsmith_server import LangSmithServer
from openai_server import OpenAIServer
from sync_support import SECRET, ls_env, roots, serve, write_suite

from judgekit.shard import shard_of

pytest.importorskip("langsmith")

ROWS = [{"id": f"q{i}", "inputs": {"question": f"What is {i}+{i}?"}, "reference": str(2 * i)}
        for i in range(8)]


def test_two_shards_fill_one_experiment_per_variant(tmp_path: Path) -> None:
    assert {shard_of(r["id"], 2) for r in ROWS} == {1, 2}  # both shards have cases
    write_suite(tmp_path, ROWS)
    with OpenAIServer() as oai, LangSmithServer(api_key=SECRET) as ls:
        serve(oai)
        for i in (1, 2):
            ran = judgekit("eval", "suites/qa.py", "--shard", f"{i}/2", "--shard-group",
                           "nightly", "--store", str(tmp_path / f"s{i}.db"), "--langsmith",
                           cwd=tmp_path, srv=oai, env=ls_env(ls))
            assert ran.returncode in (0, 1), ran.output
        exps = ls.experiments()
        assert sorted(e["name"] for e in exps) == ["test_qa:gpt-4o-mini:shards-nightly",
                                                  "test_qa:gpt-4o:shards-nightly"]
        (ds,) = ls.datasets.values()
        for exp in exps:
            assert exp["reference_dataset_id"] == ds["id"]
            meta = exp["extra"]["metadata"]
            assert (meta["shard_group"], meta["shard_count"]) == ("nightly", 2)
            # Every example once: the cases of both shards, in the one experiment.
            examples = sorted(r["reference_example_id"] for r in roots(ls, exp["id"]))
            assert len(examples) == len(set(examples)) == len(ROWS)
            assert not [f for f in ls.feedback.values()
                        if f.get("run_id") is None and f.get("session_id") == exp["id"]]
