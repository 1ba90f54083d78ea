"""A target that uses its own openai client, wrapped: cached and rate-limited in ``judgekit eval``.

The suite's targets call ``judgekit.wrap_openai(openai.AsyncOpenAI(...))`` (and a sync
``openai.OpenAI``) as a new user would, the SDK's default retries left on. Requests are counted
at the local server: a second identical run must send none, and against a server allowing 20
requests per second a run at ``--concurrency 32`` must end with no failed case.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from e2e_support import judgekit, query, write
from openai_server import OpenAIServer, Reply

N = 6
CHAT = "/v1/chat/completions"

SUITE = """\
import os

import openai

import judgekit
from judgekit import dataset, parametrize, suite

DATA = dataset([{{"id": f"q{{i}}", "inputs": {{"question": f"Echo {{i}}"}},
                 "reference": str(i)}} for i in range({n})])
ASYNC = judgekit.wrap_openai(openai.AsyncOpenAI(base_url=os.environ["OPENAI_BASE_URL"]),
                             cache={cache})
SYNC = judgekit.wrap_openai(openai.OpenAI(base_url=os.environ["OPENAI_BASE_URL"]),
                            cache={cache})


def exact(*, outputs, reference_outputs):
    return outputs == reference_outputs


def ask_sync(question):
    stream = SYNC.chat.completions.create(
        model="gpt-4o-mini", messages=[{{"role": "user", "content": question}}], stream=True)
    with stream:
        return "".join(c.choices[0].delta.content or "" for c in stream if c.choices)


async def ask_async(question):
    reply = await ASYNC.chat.completions.create(
        model="gpt-4o-mini", messages=[{{"role": "user", "content": question}}], temperature=0)
    assert isinstance(reply, openai.types.chat.ChatCompletion)
    return reply.choices[0].message.content


@suite(data=DATA, evaluators=[exact])
@parametrize("client", {clients})
async def test_echo(question, client):
    if client == "sync":
        import asyncio

        return await asyncio.to_thread(ask_sync, question)
    return await ask_async(question)
"""


def echo(srv: OpenAIServer) -> None:
    srv.reply(None, lambda body: Reply(body["messages"][-1]["content"].split()[-1]))


def hits(root: Path, experiment_id: str) -> list[int]:
    return [row[0] for row in query(root / "store.db", "SELECT cache_hit FROM calls WHERE "
                                    "experiment_id = ? ORDER BY case_id", experiment_id)]


@pytest.mark.parametrize("cache", [True, False])
def test_a_second_identical_run_sends_no_request_unless_cache_is_off(
        openai_server: OpenAIServer, tmp_path: Path, cache: bool) -> None:
    echo(openai_server)
    write(tmp_path / "suites" / "echo.py",
          SUITE.format(n=N, cache=cache, clients=["async", "sync"]))
    counts, runs = [], []
    for _ in range(2):
        ran = judgekit("eval", "suites/echo.py", cwd=tmp_path, srv=openai_server)
        assert ran.returncode == 0, ran.output
        counts.append(openai_server.count(path=CHAT))
        runs.append(ran)
    assert counts == ([2 * N, 2 * N] if cache else [2 * N, 4 * N])
    for client in ("async", "sync"):
        first, second = (r.doc["experiments"] for r in runs)
        (a,) = [e for e in first if e["variant"] == {"client": client}]
        (b,) = [e for e in second if e["variant"] == {"client": client}]
        assert a["summary"]["scores"]["exact"]["mean"] == 1.0
        assert b["summary"]["scores"]["exact"]["mean"] == 1.0
        assert hits(tmp_path, a["id"]) == [0] * N
        assert hits(tmp_path, b["id"]) == [int(cache)] * N


@pytest.mark.slow
def test_a_rate_limited_endpoint_at_concurrency_32_fails_no_case(openai_server: OpenAIServer,
                                                                  tmp_path: Path) -> None:
    cases = 100
    echo(openai_server)
    openai_server.rate_limit(rps=20)
    write(tmp_path / "suites" / "echo.py", SUITE.format(n=cases, cache=True, clients=["async"]))
    ran = judgekit("eval", "suites/echo.py", "--concurrency", "32", "--cache", "off",
                   cwd=tmp_path, srv=openai_server, timeout=120)
    assert ran.returncode == 0, ran.output
    summary = ran.experiment()["summary"]
    assert summary["n_cases"] == cases and summary["n_errors"] == 0
    assert summary["scores"]["exact"]["mean"] == 1.0
    limited = openai_server.count(path=CHAT, status=429)
    print(f"{cases} wrapped calls at 20 rps, concurrency 32: {limited} x 429")
    assert openai_server.count(path=CHAT, status=200) == cases
    # The first burst (32 at once, 20 admitted) meets the limit before any header has told
    # the limiter of it; after that the limiter paces the calls. Unlimited, the SDK's own
    # retries alone gave over a hundred 429s here and failed cases (bench/README.md). How many
    # more than the first 12 depends on timing (30 on a busy CI box), so the bound is loose.
    assert limited < cases // 2
