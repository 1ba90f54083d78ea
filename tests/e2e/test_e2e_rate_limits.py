"""Rate limits end to end: a 300-call run against a server that allows RPS requests per second.

Run through ``judgekit eval`` while the server answers 429 (with ``retry-after-ms`` and the
``x-ratelimit-*`` headers) beyond its limit:

* ``target+judge``: 150 cases, each one target call (the ``llm`` fixture) and one ``cot_qa``
  judge call. Target and judge calls have their own ceilings but share one limiter, as they
  share the server's budget.
* ``target``: 300 cases, one target call each: one limiter alone (the control).

Each run must finish with no failed case, and the 429s must stay a small fraction of the
calls. Wall-clock time is measured and reported (``pytest -s``), not asserted.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from e2e_support import JUDGE_SYSTEM, judgekit, write
from openai_server import OpenAIServer, Reply

CALLS = 300
RPS = 40

SUITE = """\
from judgekit import dataset, parametrize, suite
from judgekit.models import LLM
from judgekit_evaluators import cot_qa

DATA = dataset([{{"id": f"c{{i}}", "inputs": {{"question": f"Echo {{i}}"}}, "reference": str(i)}}
                for i in range({n_cases})])


@suite(data=DATA, evaluators=[{evaluators}])
@parametrize("model", ["gpt-4o-mini"])
async def test_echo(question: str, llm: LLM) -> str:
    return (await llm.chat(question)).text
"""


@pytest.mark.parametrize("mix", ["target+judge", "target"])
def test_300_calls_under_a_rate_limit_finish_with_few_429s(openai_server: OpenAIServer,
                                                           tmp_path: Path, mix: str) -> None:
    judged = mix == "target+judge"
    n_cases = CALLS // 2 if judged else CALLS
    srv = openai_server
    srv.reply(None, lambda body: Reply(body["messages"][-1]["content"].split()[-1]))
    srv.reply(JUDGE_SYSTEM, "Same.\nGRADE: CORRECT")
    srv.rate_limit(rps=RPS)
    write(tmp_path / "suites" / "echo.py", SUITE.format(
        n_cases=n_cases, evaluators='cot_qa(model="gpt-4o-mini")' if judged else ""))

    began = time.monotonic()
    ran = judgekit("eval", "suites/echo.py", cwd=tmp_path, srv=srv, timeout=180)
    elapsed = time.monotonic() - began

    assert ran.returncode == 0, ran.output
    summary = ran.experiment()["summary"]
    assert summary["n_cases"] == n_cases and summary["n_errors"] == 0
    if judged:
        assert summary["scores"]["cot_qa"]["n_ok"] == n_cases
        assert summary["scores"]["cot_qa"]["n_error"] == 0
    assert srv.count(path="/v1/chat/completions", status=200) == CALLS
    limited = srv.count(path="/v1/chat/completions", status=429)
    fraction = limited / CALLS
    report = (f"{mix}: {CALLS} calls at {RPS} rps: {limited} x 429 ({fraction:.1%} of calls), "
              f"{elapsed:.1f} s wall clock (the limit alone needs {CALLS / RPS:.1f} s)")
    print(report)
    assert fraction < 0.10, report
