"""Batch mode (issue 18 item 1): ``judgekit eval --batch`` sends target calls, then judge
calls, through the Batch API of the local server (``/v1/files`` + ``/v1/batches``, official
SDK, real HTTP) and stores the same run a live one does, at batch prices.
"""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from e2e_support import JUDGE_SYSTEM, judgekit, query, server_env, write
from openai_server import CHAT_PATH, OpenAIServer, Reply

N = 12

SUITE = """\
from judgekit import Goals, dataset, parametrize, suite
from judgekit.models import LLM
from judgekit_evaluators import cot_qa, exact_match

DATA = dataset("rows.jsonl")


@suite(data=DATA, evaluators=[exact_match(), cot_qa()],
       goals=Goals(accuracy=("exact_match", 0.9), scores={"cot_qa": 0.5}))
@parametrize("model", ["gpt-4o-mini", "gpt-4o"])
async def test_parity(n: int, model: str, llm: LLM) -> str:
    return (await llm.chat(f"Is {n} even or odd?", model=model, temperature=0)).text
"""


def _target(body: dict[str, Any]) -> Reply:
    found = re.search(r"Is (\d+) even", body["messages"][-1]["content"])
    assert found is not None
    n = int(found.group(1))
    wrong = body["model"] == "gpt-4o-mini" and n % 5 == 0  # the small model misses its goal
    even = (n % 2 == 0) != wrong
    return Reply("even" if even else "odd", prompt_tokens=12 + n % 5, completion_tokens=1)


def _serve(srv: OpenAIServer) -> None:
    srv.reply(None, _target)
    srv.reply(JUDGE_SYSTEM, Reply("Looks right.\nGRADE: CORRECT", prompt_tokens=300,
                                  completion_tokens=8))


def _setup(root: Path, n: int = N) -> None:
    write(root / "suite.py", SUITE)
    rows = [{"id": f"r{i:02d}", "inputs": {"n": i}, "reference": "even" if i % 2 == 0 else "odd"}
            for i in range(n)]
    (root / "rows.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))


def _stable(exp: dict[str, Any]) -> dict[str, Any]:
    """What a live and a batch run of one suite share: everything but times and costs."""
    summary = {k: v for k, v in exp["summary"].items()
               if k not in ("latency_s", "duration_s", "cost_usd", "cost_per_1k_usd")}
    goals = [g for g in exp["goals"] if not g["metric"].startswith(("latency", "cost"))]
    return {"variant": exp["variant"], "summary": summary, "goals": goals}


BATCH = ("--batch", "--batch-poll", "0.05", "--cache", "off")


def test_a_batch_run_stores_what_a_live_run_does_at_batch_prices(
        openai_server: OpenAIServer, tmp_path: Path) -> None:
    _serve(openai_server)
    _setup(tmp_path)
    live = judgekit("eval", "suite.py", "--cache", "off", "--store", "live.db", cwd=tmp_path,
                    srv=openai_server)
    assert live.returncode == 1, live.output  # gpt-4o-mini misses its accuracy goal
    live_calls = openai_server.count(path=CHAT_PATH)
    assert live_calls == 4 * N  # a target and a judge call per case and variant

    batch = judgekit("eval", "suite.py", *BATCH, "--store", "batch.db", cwd=tmp_path,
                     srv=openai_server)
    assert batch.returncode == live.returncode, batch.output
    assert openai_server.count(path=CHAT_PATH) == live_calls  # not one live call
    assert [_stable(e) for e in batch.doc["experiments"]] == \
        [_stable(e) for e in live.doc["experiments"]]

    jobs = list(openai_server.batches.jobs.values())
    models = [{line["body"]["model"] for line in job.lines} for job in jobs]
    assert all(len(m) == 1 for m in models)  # one model per input file, as the API requires
    # Target jobs (one per variant's model) come first, then the judge job.
    assert sorted(m.pop() for m in models[:2]) == ["gpt-4o", "gpt-4o-mini"]
    # Equal requests go once: where both models answered alike, the judge's request is the
    # same for both variants (12 examples, 3 answered differently).
    assert [len(job.lines) for job in jobs] == [N, N, N + 3]
    assert all(not any(line["body"].get("stream") for line in job.lines) for job in jobs)

    # Same tokens, half the price: genai-prices' batch rates for both models.
    live_cost = query(tmp_path / "live.db", "SELECT SUM(cost_usd) FROM calls")[0][0]
    batch_cost = query(tmp_path / "batch.db", "SELECT SUM(cost_usd) FROM calls")[0][0]
    assert batch_cost == pytest.approx(live_cost / 2)
    assert query(tmp_path / "batch.db", "SELECT SUM(prompt_tokens), COUNT(*) FROM calls") == \
        query(tmp_path / "live.db", "SELECT SUM(prompt_tokens), COUNT(*) FROM calls")
    # The store keeps each job with its request ids, for --resume.
    rows = query(tmp_path / "batch.db", "SELECT id, status, custom_ids FROM batches")
    assert sorted(r[0] for r in rows) == sorted(job.id for job in jobs)
    assert {r[1] for r in rows} == {"completed"}
    assert sum(len(json.loads(r[2])) for r in rows) == 3 * N + 3
    # Progress says where each job is (stderr is no terminal here: one line per change).
    assert re.search(r"batch batch_\d+ \(gpt-4o\): completed 15/15", batch.stderr), \
        batch.stderr


def test_failed_lines_fail_their_cases_and_retryable_ones_go_again(
        openai_server: OpenAIServer, tmp_path: Path) -> None:
    _serve(openai_server)
    openai_server.reply("Is 3 even", Reply("model refused", status=400))
    openai_server.reply("Is 4 even", Reply("overloaded", status=500), times=2)
    _setup(tmp_path)
    ran = judgekit("eval", "suite.py", *BATCH, cwd=tmp_path, srv=openai_server)
    assert ran.returncode == 1, ran.output
    errors = dict(query(tmp_path / "store.db",
                        "SELECT example_id, error_message FROM cases WHERE error_type IS NOT NULL"))
    assert set(errors) == {"r03"}
    assert "400: model refused" in errors["r03"]
    # r04's 500 lines (both variants) went once more, in a job of their own, and passed.
    jobs = list(openai_server.batches.jobs.values())
    resent = [line["custom_id"] for job in jobs for line in job.lines
              if "Is 4 even" in line["body"]["messages"][-1]["content"]]
    assert len(resent) == 4 and len(set(resent)) == 2
    assert query(tmp_path / "store.db",
                 "SELECT COUNT(*) FROM cases WHERE example_id='r04' AND error_type IS NULL") \
        == [(2,)]


def test_an_expired_job_sends_what_it_did_not_answer_once_more(
        openai_server: OpenAIServer, tmp_path: Path) -> None:
    _serve(openai_server)
    openai_server.batches.expire_next(1, answered=0.5)
    _setup(tmp_path)
    ran = judgekit("eval", "suite.py", *BATCH, cwd=tmp_path, srv=openai_server)
    assert ran.returncode == 1, ran.output  # the goals decide, as in a live run
    assert query(tmp_path / "store.db", "SELECT COUNT(*) FROM cases WHERE error_type IS NULL") \
        == [(2 * N,)]
    jobs = list(openai_server.batches.jobs.values())
    first = jobs[0]
    assert first.status == "expired"
    unanswered = {line["custom_id"] for line in first.lines[len(first.lines) // 2:]}
    later = {line["custom_id"] for job in jobs[1:] for line in job.lines}
    assert unanswered <= later
    statuses = dict(query(tmp_path / "store.db", "SELECT id, status FROM batches"))
    assert statuses[first.id] == "expired"


def test_a_job_that_expires_twice_is_the_calls_error(openai_server: OpenAIServer,
                                                     tmp_path: Path) -> None:
    _serve(openai_server)
    openai_server.batches.expire_next(10, answered=0.0)
    _setup(tmp_path, n=3)
    ran = judgekit("eval", "suite.py", *BATCH, cwd=tmp_path, srv=openai_server)
    assert ran.returncode == 1, ran.output
    messages = {m for (m,) in query(tmp_path / "store.db",
                                    "SELECT error_message FROM cases")}
    assert messages and all("batch_expired" in m for m in messages), messages
    lines = openai_server.batches.lines()
    assert len(lines) == 2 * 2 * 3  # each target request sent twice, never a third time


def test_a_killed_batch_run_resumes_on_its_submitted_jobs(openai_server: OpenAIServer,
                                                          tmp_path: Path) -> None:
    if sys.platform == "win32":
        pytest.skip("POSIX signals")
    _serve(openai_server)
    _setup(tmp_path)
    openai_server.batches.delay = 3600  # the jobs stay in progress until the test says so
    env = server_env(openai_server)
    env["JUDGEKIT_STORE"] = str(tmp_path / "store.db")
    proc = subprocess.Popen([sys.executable, "-m", "judgekit.cli.main", "eval", "suite.py",
                             *BATCH], cwd=tmp_path, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 60
        while len(openai_server.batches.jobs) < 2 or not _stored_batches(tmp_path):
            assert proc.poll() is None, proc.stdout.read() if proc.stdout else ""
            assert time.monotonic() < deadline, "no batch job was submitted"
            time.sleep(0.05)
        while len(_stored_batches(tmp_path)) < 2:
            time.sleep(0.05)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    (run_id,) = [r for (r,) in query(tmp_path / "store.db", "SELECT id FROM runs")]
    target_jobs = set(openai_server.batches.jobs)
    assert len(target_jobs) == 2

    openai_server.batches.delay = 0
    resumed = judgekit("eval", "suite.py", *BATCH, "--resume", run_id, cwd=tmp_path,
                       srv=openai_server)
    assert resumed.returncode == 1, resumed.output
    # The target requests went out once, in the jobs the killed process submitted.
    jobs = list(openai_server.batches.jobs.values())
    new = [job for job in jobs if job.id not in target_jobs]
    assert all(JUDGE_SYSTEM in json.dumps(line["body"]) for job in new for line in job.lines)
    assert len(openai_server.batches.lines()) == 3 * N + 3  # judge requests deduplicated
    assert query(tmp_path / "store.db", "SELECT COUNT(*) FROM cases WHERE error_type IS NULL") \
        == [(2 * N,)]


def _stored_batches(root: Path) -> list[tuple[Any, ...]]:
    db = root / "store.db"
    if not db.exists():
        return []
    try:
        return query(db, "SELECT id FROM batches")
    except Exception:  # the table is not there yet
        return []
