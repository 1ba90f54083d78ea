"""wrap_openai over real HTTP (the local server): every create() call lands on the case."""

from __future__ import annotations

import asyncio
from typing import Any

import openai
import pytest
from openai.types.chat import ChatCompletion
from openai_server import OpenAIServer, Reply

from judgekit.models.pricing import cost_usd
from judgekit.models.wrap import wrap_openai
from judgekit.recording import CaseRecorder, scoring
from judgekit.types import CallRecord

MESSAGES: Any = [{"role": "user", "content": "What is the capital of France?"}]


@pytest.fixture
def srv(openai_server: OpenAIServer) -> OpenAIServer:
    openai_server.reply("capital", Reply("Paris", prompt_tokens=1000, completion_tokens=200,
                                         cached_tokens=400, model="gpt-4o-mini-2024-07-18"))
    return openai_server


def sync_client(srv: OpenAIServer) -> openai.OpenAI:
    return wrap_openai(openai.OpenAI(base_url=srv.url, api_key="sk-test", max_retries=0))


def async_client(srv: OpenAIServer) -> openai.AsyncOpenAI:
    return wrap_openai(openai.AsyncOpenAI(base_url=srv.url, api_key="sk-test", max_retries=0))


def check_paris(call: CallRecord) -> None:
    assert (call.role, call.provider, call.model) == ("target", "openai",
                                                      "gpt-4o-mini-2024-07-18")
    assert call.response_text == "Paris" and call.finish_reason == "stop"
    assert (call.prompt_tokens, call.completion_tokens, call.cached_tokens) == (1000, 200, 400)
    expected = cost_usd("openai", "gpt-4o-mini-2024-07-18", 1000, 200, 400)
    assert expected is not None and call.cost_usd == pytest.approx(expected)
    assert call.latency_s > 0 and call.error is None and call.attempts == 1


def test_sync_call_is_recorded_and_returned_unchanged(srv: OpenAIServer) -> None:
    client = sync_client(srv)
    with CaseRecorder().active() as rec:
        resp = client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES,
                                              temperature=0, seed=7, timeout=10,
                                              extra_headers={"x-trace": "1"},
                                              max_tokens=openai.NOT_GIVEN)
    assert isinstance(resp, ChatCompletion) and resp.choices[0].message.content == "Paris"
    [call] = rec.calls
    check_paris(call)
    # Transport arguments and SDK sentinels are not part of the request.
    assert call.request == {"messages": MESSAGES, "params": {"temperature": 0, "seed": 7}}
    assert srv.requests[0].headers["x-trace"] == "1"


def test_async_call_is_recorded(srv: OpenAIServer) -> None:
    async def main() -> list[CallRecord]:
        async with async_client(srv) as client:
            with CaseRecorder().active() as rec:
                resp = await client.chat.completions.create(model="gpt-4o-mini",
                                                            messages=MESSAGES)
                assert isinstance(resp, ChatCompletion)
        return rec.calls

    [call] = asyncio.run(main())
    check_paris(call)


def test_sync_stream_is_recorded_when_consumed(srv: OpenAIServer) -> None:
    client = sync_client(srv)
    with CaseRecorder().active() as rec:
        stream = client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES,
                                                stream=True,
                                                stream_options={"include_usage": True})
        assert isinstance(stream, openai.Stream)
        assert rec.calls == []  # not over yet
        text = "".join(ch.choices[0].delta.content or "" for ch in stream if ch.choices)
    assert text == "Paris"
    [call] = rec.calls
    check_paris(call)
    assert call.request["params"] == {"stream": True, "stream_options": {"include_usage": True}}


def test_async_stream_is_recorded(srv: OpenAIServer) -> None:
    async def main() -> tuple[str, list[CallRecord]]:
        async with async_client(srv) as client:
            with CaseRecorder().active() as rec:
                stream = await client.chat.completions.create(
                    model="gpt-4o-mini", messages=MESSAGES, stream=True,
                    stream_options={"include_usage": True})
                assert isinstance(stream, openai.AsyncStream)
                parts = [ch.choices[0].delta.content or "" async for ch in stream if ch.choices]
        return "".join(parts), rec.calls

    text, [call] = asyncio.run(main())
    assert text == "Paris"
    check_paris(call)


def test_stream_without_usage_has_unknown_cost(srv: OpenAIServer) -> None:
    client = sync_client(srv)
    with CaseRecorder().active() as rec:
        for _ in client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES,
                                                stream=True):
            pass
    [call] = rec.calls
    assert call.response_text == "Paris"
    assert (call.prompt_tokens, call.completion_tokens, call.cost_usd) == (0, 0, None)


def test_stream_closed_early_records_what_came(openai_server: OpenAIServer) -> None:
    openai_server.reply("", "one two three four")
    client = sync_client(openai_server)
    with CaseRecorder().active() as rec:
        with client.chat.completions.create(model="m", messages=MESSAGES,
                                            stream=True) as stream:
            for chunk in stream:
                if chunk.choices and chunk.choices[0].delta.content:
                    break
            assert rec.calls == []
        [call] = rec.calls  # recorded when the with block closed the stream
    assert call.response_text == "one " and call.error is None


def test_async_stream_closed_early_is_recorded(openai_server: OpenAIServer) -> None:
    openai_server.reply("", "one two three four")

    async def main() -> list[CallRecord]:
        async with async_client(openai_server) as client:
            with CaseRecorder().active() as rec:
                stream = await client.chat.completions.create(model="m", messages=MESSAGES,
                                                              stream=True)
                async with stream:
                    async for chunk in stream:
                        if chunk.choices and chunk.choices[0].delta.content:
                            break
        return rec.calls

    [call] = asyncio.run(main())
    assert call.response_text == "one " and call.error is None


def test_failed_call_is_recorded_and_the_sdk_error_raised(openai_server: OpenAIServer) -> None:
    openai_server.reply("", Reply("The server had an error", status=500))
    client = sync_client(openai_server)
    with CaseRecorder().active() as rec, pytest.raises(openai.InternalServerError):
        client.chat.completions.create(model="gpt-4o", messages=MESSAGES)
    [call] = rec.calls
    assert call.error == "500 Internal Server Error: The server had an error"
    assert call.response_text is None and call.cost_usd is None
    assert call.model == "gpt-4o" and call.request["messages"] == MESSAGES


def test_error_in_the_middle_of_an_async_stream(openai_server: OpenAIServer) -> None:
    openai_server.reply("", Reply(raw_body=b'data: {"id": "x", "object": "chat.completion.chunk"'
                                           b', "created": 0, "model": "m", "choices": [{"index":'
                                           b' 0, "delta": {"content": "par"}}]}\n\n'
                                           b"data: {broken\n\n"))

    async def main() -> list[CallRecord]:
        async with async_client(openai_server) as client:
            with CaseRecorder().active() as rec:
                stream = await client.chat.completions.create(model="m", messages=MESSAGES,
                                                              stream=True)
                with pytest.raises(ValueError):
                    async for _ in stream:
                        pass
        return rec.calls

    [call] = asyncio.run(main())
    assert call.error is not None and call.error.startswith("malformed response: ")
    assert call.response_text is None


def test_judge_calls_are_recorded_under_the_score(srv: OpenAIServer) -> None:
    client = sync_client(srv)
    with CaseRecorder().active() as rec, scoring("correctness"):
        client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
    [call] = rec.calls
    assert (call.role, call.score_key) == ("judge", "correctness")


def test_outside_a_case_nothing_is_recorded(srv: OpenAIServer) -> None:
    resp = sync_client(srv).chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
    assert resp.choices[0].message.content == "Paris"


def test_wrapping_twice_records_once_and_raw_responses_bypass(srv: OpenAIServer) -> None:
    client = wrap_openai(sync_client(srv))
    with CaseRecorder().active() as rec:
        client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
        raw = client.chat.completions.with_raw_response.create(model="gpt-4o-mini",
                                                               messages=MESSAGES)
        assert raw.parse().choices[0].message.content == "Paris"
    assert len(rec.calls) == 1
    assert srv.count(status=200) == 2


def test_unknown_model_costs_none(openai_server: OpenAIServer) -> None:
    client = sync_client(openai_server)
    with CaseRecorder().active() as rec:
        client.chat.completions.create(model="my-local-llama", messages=MESSAGES)
    [call] = rec.calls
    assert call.model == "my-local-llama" and call.prompt_tokens > 0
    assert call.cost_usd is None


def test_not_a_client_is_a_type_error() -> None:
    with pytest.raises(TypeError, match="expects an openai"):
        wrap_openai(object())  # type: ignore[type-var]
