"""Sharded runs (issue 18 item 2): ``eval --shard i/n`` on three "machines" (three stores),
``judgekit merge`` into a fourth, and the merged run equals one unsharded run of the same suite:
every summary figure, summary evaluator and goal, over real HTTP to the local model server.
"""

from __future__ import annotations

import json
import re
import statistics
from pathlib import Path
from typing import Any

import pytest
from e2e_support import JUDGE_SYSTEM, Ran, judgekit, query, write
from openai_server import OpenAIServer, Reply

N = 30

SUITE = """\
from judgekit import Goals, dataset, parametrize, suite
from judgekit.models import LLM
from judgekit_evaluators import classification_report, cot_qa, exact_match

DATA = dataset("rows.jsonl")


@suite(data=DATA, evaluators=[exact_match(), cot_qa(), classification_report()],
       goals=Goals(accuracy=("exact_match", 0.9), scores={"cot_qa": 0.5}))
@parametrize("model", ["gpt-4o-mini", "gpt-4o"])
async def test_parity(n: int, model: str, llm: LLM) -> str:
    return (await llm.chat(f"Is {n} even or odd?", model=model, temperature=0)).text
"""


def _serve(srv: OpenAIServer) -> None:
    def target(body: dict[str, Any]) -> Reply:
        found = re.search(r"Is (\d+) even", body["messages"][-1]["content"])
        assert found is not None
        n = int(found.group(1))
        # The small model gets every seventh one wrong: its accuracy misses the goal.
        wrong = body["model"] == "gpt-4o-mini" and n % 7 == 0
        even = (n % 2 == 0) != wrong
        return Reply("even" if even else "odd", prompt_tokens=12 + n % 5, completion_tokens=1)

    srv.reply(None, target)
    srv.reply(JUDGE_SYSTEM, Reply("Looks right.\nGRADE: CORRECT", prompt_tokens=300,
                                  completion_tokens=8))


def _setup(root: Path) -> Path:
    suite = write(root / "suite.py", SUITE)
    rows = [{"id": f"r{i:02d}", "inputs": {"n": i}, "reference": "even" if i % 2 == 0 else "odd"}
            for i in range(N)]
    (root / "rows.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    return suite


def _stable(exp: dict[str, Any]) -> dict[str, Any]:
    """An experiment's summary and goals without what differs between two runs of it: ids,
    times and measured latencies (checked apart)."""
    summary = {k: v for k, v in exp["summary"].items() if k not in ("latency_s", "duration_s")}
    goals = [{k: v for k, v in g.items()
              if not (g["metric"].startswith("latency") and k in ("actual", "met"))}
             for g in exp["goals"]]
    return {"variant": exp["variant"], "n_examples": exp.get("n_examples"),
            "summary": summary, "goals": goals}


def _rounded(x: Any) -> Any:
    """``x`` with every float to 12 significant digits."""
    if isinstance(x, float):
        return float(f"{x:.12g}")
    if isinstance(x, dict):
        return {k: _rounded(v) for k, v in x.items()}
    if isinstance(x, list):
        return [_rounded(v) for v in x]
    return x


def test_three_shards_merged_equal_one_unsharded_run(openai_server: OpenAIServer,
                                                     tmp_path: Path) -> None:
    _serve(openai_server)
    _setup(tmp_path)
    whole = judgekit("eval", "suite.py", "--cache", "off", cwd=tmp_path, srv=openai_server)
    assert whole.returncode == 1, whole.output  # the small model misses its goal

    shard_stores = []
    for i in (1, 2, 3):
        store = tmp_path / f"shard{i}.db"
        ran = judgekit("eval", "suite.py", "--cache", "off", "--shard", f"{i}/3",
                       "--store", str(store), cwd=tmp_path, srv=openai_server)
        assert ran.returncode in (0, 1), ran.output
        ((config,),) = query(store, "SELECT config FROM runs")
        assert json.loads(config)["shard"]["index"] == i
        shard_stores.append(store)
    n_by_shard = [query(s, "SELECT COUNT(*) FROM cases")[0][0] // 2 for s in shard_stores]
    assert sum(n_by_shard) == N and all(n_by_shard)

    out = tmp_path / "merged.json"
    merged = judgekit("merge", *map(str, shard_stores), "--into", str(tmp_path / "merged.db"),
                      "--json", str(out), cwd=tmp_path, srv=openai_server)
    assert merged.returncode == whole.returncode == 1, merged.output
    doc = json.loads(out.read_text())
    # Equal to the last bit but for sums of costs, which SQLite adds in another order.
    assert _rounded([_stable(e) for e in doc["experiments"]]) == \
        _rounded([_stable(e) for e in whole.doc["experiments"]])
    assert doc["experiments"][0]["summary"]["scores"]["exact_match"]["mean"] < 1.0
    assert "f1_macro" in json.dumps(doc["experiments"][0]["summary"]["scores"])

    # Latencies are measured, so they differ between runs: the merged figures are those of
    # every shard case together, not an average of the shards' own.
    for position, exp in enumerate(doc["experiments"]):
        lat = [r[0] for s in shard_stores for r in query(
            s, "SELECT c.latency_s FROM cases c JOIN experiments e ON e.id = c.experiment_id"
               " WHERE e.position = ? AND c.error_type IS NULL", position)]
        assert exp["summary"]["latency_s"]["mean"] == pytest.approx(statistics.fmean(lat))
        assert exp["summary"]["latency_s"]["p50"] == pytest.approx(statistics.median(lat))
    # Every case, case score and call was copied (summary scores are the merged run's own).
    for table in ("cases", "scores WHERE case_id IS NOT NULL", "calls"):
        n_shards = sum(query(s, f"SELECT COUNT(*) FROM {table}")[0][0] for s in shard_stores)
        assert query(tmp_path / "merged.db", f"SELECT COUNT(*) FROM {table}")[0][0] == n_shards

    db = str(tmp_path / "merged.db")
    runs = judgekit("runs", "--store", db, cwd=tmp_path, srv=None)
    assert runs.returncode == 0 and doc["run_id"] in runs.stdout
    compared = judgekit("compare", doc["run_id"], "--store", db, cwd=tmp_path, srv=None)
    assert compared.returncode == 0 and "gpt-4o-mini" in compared.stdout, compared.output
    report = judgekit("report", doc["run_id"], "--html", str(tmp_path / "r.html"), "--store", db,
                      cwd=tmp_path, srv=None)
    assert report.returncode == 0 and "gpt-4o-mini" in (tmp_path / "r.html").read_text()


def _merge(root: Path, *stores: Path, into: str = "m.db") -> Ran:
    return judgekit("merge", *map(str, stores), "--into", str(root / into), cwd=root, srv=None)


def _one_error(ran: Ran) -> str:
    assert ran.returncode == 2, ran.output
    assert "Traceback" not in ran.output
    errors = [line for line in ran.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, ran.output
    return errors[0]


@pytest.fixture()
def shards(openai_server: OpenAIServer, tmp_path: Path) -> list[Path]:
    _serve(openai_server)
    _setup(tmp_path)
    stores = []
    for i, count in ((1, 2), (2, 2), (1, 3)):
        store = tmp_path / f"s{i}of{count}.db"
        ran = judgekit("eval", "suite.py", "--shard", f"{i}/{count}", "--store", str(store),
                       cwd=tmp_path, srv=openai_server)
        assert ran.returncode in (0, 1), ran.output
        stores.append(store)
    return stores


def test_merge_refuses_shards_that_do_not_make_one_evaluation(shards: list[Path],
                                                              tmp_path: Path) -> None:
    one_of_two, two_of_two, one_of_three = shards
    assert "shard 2 of 2 missing" in _one_error(_merge(tmp_path, one_of_two))
    assert "given twice" in _one_error(_merge(tmp_path, one_of_two, one_of_two))
    assert "shard count is 3, not 2" in _one_error(_merge(tmp_path, one_of_two, one_of_three))
    assert "is the store of shard" in _one_error(
        _merge(tmp_path, one_of_two, two_of_two, into=one_of_two.name))
    assert "no such store" in _one_error(_merge(tmp_path, tmp_path / "nope.db"))
    assert not (tmp_path / "m.db").exists() or query(tmp_path / "m.db",
                                                     "SELECT COUNT(*) FROM runs") == [(0,)]
    ok = _merge(tmp_path, two_of_two, one_of_two)
    assert ok.returncode in (0, 1), ok.output
    assert query(tmp_path / "m.db", "SELECT COUNT(*) FROM cases")[0][0] == 2 * N


def test_shard_option_errors_are_one_line(tmp_path: Path) -> None:
    _setup(tmp_path)
    for bad in ("0/3", "4/3", "x"):
        assert "--shard" in _one_error(judgekit("eval", "suite.py", "--shard", bad,
                                                cwd=tmp_path, srv=None, json_out=False))
    assert "--shard-group" in _one_error(judgekit("eval", "suite.py", "--shard-group", "g",
                                                  cwd=tmp_path, srv=None, json_out=False))
