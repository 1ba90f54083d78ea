"""LangChain: LangChainModel in the pipeline and JudgekitCallback on runnables, over HTTP.

ChatOpenAI talks to the local OpenAI-compatible server; nothing is patched.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from langchain_core.output_parsers import StrOutputParser
from langchain_core.prompts import ChatPromptTemplate
from langchain_openai import ChatOpenAI
from openai_server import OpenAIServer, Reply

from judgekit.errors import ModelCallError
from judgekit.models import JudgekitCallback
from judgekit.models.calls import chat_sync
from judgekit.models.langchain import LangChainModel
from judgekit.models.pricing import cost_usd
from judgekit.models.settings import ModelSettings, use_settings
from judgekit.recording import CaseRecorder, scoring

MSGS = [{"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Capital of France?"}]


@pytest.fixture(autouse=True)
def _settings(tmp_path: Path) -> Iterator[None]:
    with use_settings(ModelSettings(cache_path=tmp_path / "cache.db", timeout_s=10)):
        yield


def chat_openai(srv: OpenAIServer, **kwargs: Any) -> ChatOpenAI:
    return ChatOpenAI(model="gpt-4o-mini", base_url=srv.url, api_key="sk-test",  # type: ignore[arg-type]
                      max_retries=0, **kwargs)


def test_a_langchain_model_goes_through_the_pipeline(openai_server: OpenAIServer) -> None:
    openai_server.reply("France", Reply(text="Paris.", prompt_tokens=1200, completion_tokens=3,
                                        cached_tokens=1024, model="gpt-4o-mini-2024-07-18"))
    model = LangChainModel(chat_openai(openai_server))
    assert (model.model, model.endpoint, model.pricing_provider) == \
        ("gpt-4o-mini", openai_server.url, "openai")
    assert model.supports_structured_output
    rec = CaseRecorder()
    with rec.active():
        reply = chat_sync(model, MSGS, temperature=0, seed=42)
        again = chat_sync(model, MSGS, temperature=0, seed=42)
    assert (reply.text, reply.finish_reason, reply.model) == \
        ("Paris.", "stop", "gpt-4o-mini-2024-07-18")
    assert (reply.prompt_tokens, reply.completion_tokens, reply.cached_tokens) == (1200, 3, 1024)
    assert again.cache_hit and openai_server.count(status=200) == 1
    body = openai_server.requests[0].body
    assert body["temperature"] == 0 and body["seed"] == 42
    assert body["messages"] == MSGS
    call = rec.calls[0]
    assert call.provider == "langchain"
    assert call.cost_usd == cost_usd("openai", "gpt-4o-mini", 1200, 3, 1024)


def test_structured_output_params_reach_the_server(openai_server: OpenAIServer) -> None:
    openai_server.reply(None, '{"grade": "CORRECT"}')
    schema = {"type": "json_schema", "json_schema": {"name": "verdict", "schema": {
        "type": "object", "properties": {"grade": {"type": "string"}}}}}
    reply = chat_sync(LangChainModel(chat_openai(openai_server)), MSGS, response_format=schema)
    assert reply.json() == {"grade": "CORRECT"}
    assert openai_server.requests[0].body["response_format"] == schema


def test_rate_limits_are_retried_by_the_pipeline_with_the_servers_wait(
        openai_server: OpenAIServer) -> None:
    openai_server.reply(None, Reply(text="Rate limit reached", status=429,
                                    headers={"retry-after-ms": "100"}), times=1)
    rec = CaseRecorder()
    with rec.active():
        assert chat_sync(LangChainModel(chat_openai(openai_server)), MSGS).text == "OK"
    assert rec.calls[0].attempts == 2 and openai_server.count(status=429) == 1


def test_a_client_error_is_not_retried_and_keeps_the_providers_message(
        openai_server: OpenAIServer) -> None:
    openai_server.reply(None, Reply(text="Unsupported value: temperature", status=400))
    with pytest.raises(ModelCallError, match="Unsupported value: temperature") as info:
        chat_sync(LangChainModel(chat_openai(openai_server)), MSGS)
    assert (info.value.status, info.value.attempts) == (400, 1)


def test_response_headers_feed_the_limiter(openai_server: OpenAIServer) -> None:
    openai_server.rate_limit(rps=1000)
    model = LangChainModel(chat_openai(openai_server, include_response_headers=True))
    reply = asyncio.run(model.complete(MSGS, {}, timeout=5))
    assert reply.headers["x-ratelimit-limit-requests"] == "1000"


# -- JudgekitCallback ---------------------------------------------------------------------


def _chain(srv: OpenAIServer) -> Any:
    prompt = ChatPromptTemplate.from_messages([("system", "Be brief."), ("user", "{question}")])
    return prompt | chat_openai(srv, temperature=0) | StrOutputParser()


def test_the_callback_records_a_runnables_calls(openai_server: OpenAIServer) -> None:
    openai_server.reply("France", Reply(text="Paris.", prompt_tokens=20, completion_tokens=2,
                                        cached_tokens=0))
    rec = CaseRecorder()
    with rec.active():
        out = _chain(openai_server).invoke({"question": "Capital of France?"},
                                           config={"callbacks": [JudgekitCallback()]})
    assert out == "Paris."
    (call,) = rec.calls
    assert (call.role, call.provider, call.model) == ("target", "langchain", "gpt-4o-mini")
    assert call.request["messages"] == MSGS
    assert call.request["params"].get("temperature") == 0
    assert (call.response_text, call.finish_reason) == ("Paris.", "stop")
    assert (call.prompt_tokens, call.completion_tokens) == (20, 2)
    assert call.cost_usd == cost_usd("openai", "gpt-4o-mini", 20, 2)
    assert call.latency_s > 0 and call.error is None


def test_the_callback_works_with_ainvoke_and_under_a_score(openai_server: OpenAIServer) -> None:
    rec = CaseRecorder()

    async def run() -> str:
        with scoring("helpfulness"):
            return await _chain(openai_server).ainvoke(
                {"question": "Hi"}, config={"callbacks": [JudgekitCallback()]})

    with rec.active():
        assert asyncio.run(run()) == "OK"
    assert [(c.role, c.score_key) for c in rec.calls] == [("judge", "helpfulness")]


def test_the_callback_records_failures(openai_server: OpenAIServer) -> None:
    openai_server.reply(None, Reply(text="The server had an error", status=500))
    rec = CaseRecorder()
    with rec.active(), pytest.raises(Exception, match="The server had an error"):
        _chain(openai_server).invoke({"question": "Hi"},
                                     config={"callbacks": [JudgekitCallback()]})
    (call,) = rec.calls
    assert "The server had an error" in (call.error or "") and call.response_text is None


def test_the_callback_uses_the_case_it_was_made_in(openai_server: OpenAIServer) -> None:
    # LangChain may run a handler where the context was not copied: it still lands right.
    rec = CaseRecorder()
    with rec.active():
        callback = JudgekitCallback()
    _chain(openai_server).invoke({"question": "Hi"}, config={"callbacks": [callback]})
    assert len(rec.calls) == 1


