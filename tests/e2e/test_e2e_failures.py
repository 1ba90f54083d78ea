"""Calls that finally fail: the case (or the judge's score) errors with the provider's message,
the run goes on, and ``--retry-errors`` completes it once the server behaves."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from e2e_support import JUDGE_SYSTEM, judgekit, query, write
from openai_server import OpenAIServer, Reply

SUITE = """\
from judgekit import dataset, suite
from judgekit_evaluators import cot_qa

DATA = dataset([{"id": w, "inputs": {"word": w}, "reference": w.upper()}
                for w in ("ok", "refused", "flaky", "judge-down")])


@suite(data=DATA, evaluators=[cot_qa(model="gpt-4o-mini")])
async def test_shout(word, llm):
    return (await llm.chat(f"Shout {word}", model="gpt-4o-mini")).text
"""

# Two attempts, quickly: the test is about what a final failure looks like, not about waiting.
PYPROJECT = """\
[tool.judgekit]
max_attempts = 2
max_retry_s = 5
"""


def test_a_final_failure_is_that_cases_error_and_the_run_goes_on(
        openai_server: OpenAIServer, tmp_path: Path) -> None:
    write(tmp_path / "suites" / "shout.py", SUITE)
    write(tmp_path / "pyproject.toml", PYPROJECT)
    healthy = {"on": False}

    def reply(body: dict[str, Any]) -> Reply:
        text = "\n".join(str(m["content"]) for m in body["messages"])
        if JUDGE_SYSTEM in text:
            if "JUDGE-DOWN" in text and not healthy["on"]:
                return Reply(status=503, text="judge pool is overloaded")
            return Reply("Matches the reference.\nGRADE: CORRECT")
        word = text.rsplit(" ", 1)[-1]
        if word == "refused":
            return Reply(status=400, text="model 'gpt-4o-mini' does not support this request")
        if word == "flaky" and not healthy["on"]:
            return Reply(status=500, text="upstream exploded")
        return Reply(word.upper())

    openai_server.reply(None, reply)
    ran = judgekit("eval", "suites/shout.py", cwd=tmp_path, srv=openai_server)
    assert ran.returncode == 0, ran.output
    cases = {c["example_id"]: c for c in ran.experiment()["cases"]}
    assert cases["ok"]["error"] is None and cases["ok"]["scores"][0]["value"] == "CORRECT"
    refused = cases["refused"]["error"]
    assert refused["type"] == "ModelCallError"
    assert "400" in refused["message"] and "does not support this request" in refused["message"]
    flaky = cases["flaky"]["error"]
    assert "upstream exploded" in flaky["message"] and "after 2 attempts" in flaky["message"]
    judge_score = cases["judge-down"]["scores"][0]
    assert judge_score["status"] == "error" and cases["judge-down"]["error"] is None
    assert "judge pool is overloaded" in judge_score["comment"]
    summary = ran.experiment()["summary"]
    # Two cases errored (their cot_qa says "not evaluated"), and one judge call failed.
    assert summary["n_errors"] == 2 and summary["scores"]["cot_qa"]["n_error"] == 3
    # A 400 is not retried; a 500 and a 503 are, up to max_attempts.
    posted = [r for r in openai_server.requests if r.path.endswith("/chat/completions")]
    assert sum("Shout refused" in str(r.body) for r in posted) == 1
    assert sum("Shout flaky" in str(r.body) for r in posted) == 2

    healthy["on"] = True
    again = judgekit("eval", "suites/shout.py", "--retry-errors", ran.doc["run_id"],
                     cwd=tmp_path, srv=openai_server)
    summary = again.experiment()["summary"]
    assert summary["n_errors"] == 1  # "refused" is refused again: a 400 is the request's fault
    assert summary["scores"]["cot_qa"]["n_error"] == 1  # the refused case, not evaluated
    assert summary["scores"]["cot_qa"]["n_ok"] == 3


def test_an_endpoint_that_never_answers_stops_the_run_at_once(tmp_path: Path) -> None:
    """A wrong OPENAI_BASE_URL (nothing listens there) is a configuration error: the run stops
    after the first call's retries with one line naming the endpoint and the fix, instead of
    every case waiting out the same retries; the run stays resumable."""
    import socket

    write(tmp_path / "suites" / "shout.py", SUITE)
    write(tmp_path / "pyproject.toml", PYPROJECT)
    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    url = f"http://127.0.0.1:{port}/v1"
    ran = judgekit("eval", "suites/shout.py", cwd=tmp_path, srv=None,
                   env={"OPENAI_BASE_URL": url, "OPENAI_API_KEY": "sk-test"})
    assert ran.returncode == 2, ran.output
    assert "Traceback" not in ran.output
    errors = [line for line in ran.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, ran.output
    assert f"cannot connect to {url}" in errors[0] and "OPENAI_BASE_URL" in errors[0]
    assert "(after 2 attempts)" in errors[0]
    ((run_id, status),) = query(tmp_path / "store.db", "SELECT id, status FROM runs")
    assert status == "interrupted"
    assert f"--resume {run_id}" in errors[0]
    assert query(tmp_path / "store.db", "PRAGMA integrity_check") == [("ok",)]
    assert query(tmp_path / "store.db", "SELECT COUNT(*) FROM cases") == [(0,)]
