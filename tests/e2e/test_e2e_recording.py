"""Calls a target makes on its own are recorded: ``judgekit.wrap_openai`` and LangChain.

The target does not use judgekit's ``llm`` fixture: one variant calls the real
``openai.AsyncOpenAI`` client wrapped with ``judgekit.wrap_openai``, the other a LangChain
runnable (prompt | ``ChatOpenAI``) with ``judgekit.models.JudgekitCallback``. Both reach the
local server over HTTP; their calls must land in the store's ``calls`` table as the case's
target calls, with tokens (cached ones included) and cost, and in the summary.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from e2e_support import Ran, genai_price, judgekit, query, write
from openai_server import OpenAIServer, Reply

N = 3

SUITE = f"""\
import os

import openai

import judgekit
from judgekit import dataset, parametrize, suite
from judgekit.models import JudgekitCallback

DATA = dataset([{{"id": f"q{{i}}", "inputs": {{"question": f"Capital {{i}}?"}},
                 "reference": "Paris"}} for i in range({N})])


def exact(*, outputs, reference_outputs):
    return outputs == reference_outputs


async def ask_openai(question):
    client = judgekit.wrap_openai(openai.AsyncOpenAI(base_url=os.environ["OPENAI_BASE_URL"],
                                                     api_key="sk-test", max_retries=0))
    reply = await client.chat.completions.create(
        model="gpt-4o-mini", messages=[{{"role": "user", "content": question}}], temperature=0)
    return reply.choices[0].message.content


async def ask_langchain(question):
    from langchain_core.prompts import ChatPromptTemplate
    from langchain_openai import ChatOpenAI

    chain = ChatPromptTemplate.from_messages([("system", "Answer in one word."),
                                              ("user", "{{question}}")]) | ChatOpenAI(
        model="gpt-4o-mini", base_url=os.environ["OPENAI_BASE_URL"], api_key="sk-test",
        max_retries=0, temperature=0)
    reply = await chain.ainvoke({{"question": question}},
                                config={{"callbacks": [JudgekitCallback()]}})
    return reply.content


@suite(data=DATA, evaluators=[exact])
@parametrize("client", ["openai", "langchain"])
async def test_capital(question, client):
    return await (ask_openai if client == "openai" else ask_langchain)(question)
"""


@pytest.fixture(scope="module")
def recorded(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Ran, int]:
    root = tmp_path_factory.mktemp("recording")
    write(root / "suites" / "capitals.py", SUITE)
    with OpenAIServer() as srv:
        srv.reply(None, Reply("Paris", prompt_tokens=120, completion_tokens=8, cached_tokens=64))
        ran = judgekit("eval", "suites/capitals.py", cwd=root, srv=srv)
        requests = srv.count(path="/v1/chat/completions", status=200)
    assert ran.returncode == 0, ran.output
    return root, ran, requests


@pytest.mark.parametrize(("client", "provider"), [("openai", "openai"),
                                                  ("langchain", "langchain")])
def test_calls_inside_the_target_are_recorded_with_tokens_and_cost(
    recorded: tuple[Path, Ran, int], client: str, provider: str,
) -> None:
    root, ran, requests = recorded
    assert requests == 2 * N  # every call really went over HTTP
    (exp,) = [e for e in ran.doc["experiments"] if e["variant"] == {"client": client}]
    assert exp["summary"]["scores"]["exact"]["mean"] == 1.0
    cost = genai_price("gpt-4o-mini", 120, 8, 64)
    rows = query(root / "store.db",
                 "SELECT role, score_key, provider, model, prompt_tokens, completion_tokens,"
                 " cached_tokens, cost_usd, response_text, error FROM calls"
                 " WHERE experiment_id = ?", exp["id"])
    assert rows == [("target", None, provider, "gpt-4o-mini", 120, 8, 64,
                     pytest.approx(cost), "Paris", None)] * N
    # Each call belongs to its own case, and the request (messages) is kept.
    per_case = query(root / "store.db",
                     "SELECT COUNT(*), MIN(c.request LIKE '%Capital %') FROM calls c"
                     " WHERE c.experiment_id = ? GROUP BY c.case_id", exp["id"])
    assert per_case == [(1, 1)] * N
    summary = exp["summary"]
    assert summary["cost_usd"]["target"] == pytest.approx(N * cost)
    assert summary["cost_usd"]["judge"] == 0.0
    assert summary["tokens"] == {"prompt": N * 120, "completion": N * 8, "cached": N * 64}
    for case in exp["cases"]:
        assert case["usage"]["cost_usd"] == pytest.approx(cost)
        assert case["usage"]["calls"] == 1
