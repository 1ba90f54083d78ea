"""OpenAIModel over real HTTP (the local server) with the real openai SDK: replies and errors."""

from __future__ import annotations

import asyncio
import email.utils
import time
from typing import Any

import openai
import pytest
from openai_server import CHAT_PATH, OpenAIServer, Reply, estimate_tokens

import judgekit.models.openai
from judgekit.errors import ModelCallError, ModelNotConfigured
from judgekit.models.base import ChatModel, ChatResponse
from judgekit.models.openai import (
    DEFAULT_BASE_URL,
    NOT_CONFIGURED,
    OpenAIModel,
    retry_after_seconds,
)

MESSAGES = [{"role": "system", "content": "Be brief."},
            {"role": "user", "content": "What is the capital of France?"}]


def complete(model: OpenAIModel, params: dict[str, Any] | None = None, *,
             timeout: float = 5.0) -> ChatResponse:
    return asyncio.run(model.complete(MESSAGES, params or {}, timeout=timeout))


def failure(model: OpenAIModel, *, timeout: float = 5.0) -> ModelCallError:
    with pytest.raises(ModelCallError) as info:
        complete(model, timeout=timeout)
    return info.value


# --- configuration ------------------------------------------------------------------------------


def test_configured_from_environment(openai_env: OpenAIServer) -> None:
    model = OpenAIModel("gpt-4o-mini")
    assert isinstance(model, ChatModel)
    assert model.configured() is None
    assert model.endpoint == openai_env.url
    assert (model.provider, model.model, model.supports_structured_output) == (
        "openai", "gpt-4o-mini", True)
    assert "sk-test" not in repr(model)


def test_not_configured_without_key_or_base_url(no_openai_env: None) -> None:
    model = OpenAIModel("gpt-4o")
    assert model.configured() == NOT_CONFIGURED
    assert model.endpoint == DEFAULT_BASE_URL
    with pytest.raises(ModelNotConfigured, match="OPENAI_API_KEY"):
        complete(model)
    assert OpenAIModel("gpt-4o", api_key="sk-x").configured() is None


def test_base_url_alone_is_enough(no_openai_env: None, openai_server: OpenAIServer) -> None:
    model = OpenAIModel("local-llama", base_url=openai_server.url + "/")
    assert model.configured() is None
    assert model.endpoint == openai_server.url  # trailing slash dropped: one cache bucket
    assert complete(model).text == "OK"
    # The SDK insists on a key; a placeholder goes to servers that need none.
    assert openai_server.requests[0].headers["authorization"].startswith("Bearer sk-")


def test_arguments_win_over_environment(openai_env: OpenAIServer) -> None:
    with OpenAIServer() as other:
        model = OpenAIModel("m", base_url=other.url, api_key="sk-other")
        assert complete(model).text == "OK"
        assert other.requests[0].headers["authorization"] == "Bearer sk-other"
    assert openai_env.requests == []


# --- replies ------------------------------------------------------------------------------------


def test_plain_reply_usage_cached_tokens_and_headers(openai_env: OpenAIServer) -> None:
    openai_env.reply("capital", Reply("Paris", prompt_tokens=120, completion_tokens=2,
                                      cached_tokens=64, model="gpt-4o-mini-2024-07-18"))
    openai_env.rate_limit(rps=100)
    resp = complete(OpenAIModel("gpt-4o-mini"), {"temperature": 0, "seed": 42, "max_tokens": 5})
    assert resp == ChatResponse(text="Paris", finish_reason="stop", prompt_tokens=120,
                                completion_tokens=2, cached_tokens=64,
                                model="gpt-4o-mini-2024-07-18")
    assert resp.headers["x-ratelimit-remaining-requests"] == "99"
    [req] = openai_env.requests
    assert req.body == {"model": "gpt-4o-mini", "messages": MESSAGES, "temperature": 0,
                        "seed": 42, "max_tokens": 5}


def test_streaming_assembles_text_and_usage(openai_env: OpenAIServer) -> None:
    openai_env.reply("capital", Reply("The capital is Paris.", cached_tokens=3,
                                      finish_reason="length"))
    resp = complete(OpenAIModel("gpt-4o", streaming=True), {"temperature": 0})
    assert resp.text == "The capital is Paris."
    assert resp.finish_reason == "length"
    assert resp.prompt_tokens == estimate_tokens("Be brief.\nWhat is the capital of France?")
    assert resp.completion_tokens == estimate_tokens("The capital is Paris.")
    assert resp.cached_tokens == 3
    assert resp.model == "gpt-4o"
    body = openai_env.requests[0].body
    assert body["stream"] is True and body["stream_options"] == {"include_usage": True}


def test_stream_params_do_not_leak_into_a_plain_call(openai_env: OpenAIServer) -> None:
    complete(OpenAIModel("m"), {"stream": True, "stream_options": {"include_usage": True}})
    assert "stream" not in openai_env.requests[0].body


def test_structured_output_params_pass_through(openai_env: OpenAIServer) -> None:
    schema = {"type": "json_schema", "json_schema": {"name": "verdict", "schema": {
        "type": "object", "properties": {"verdict": {"type": "string"}}}}}
    openai_env.reply("", '{"verdict": "PASS"}')
    resp = complete(OpenAIModel("gpt-4o"), {"response_format": schema})
    assert resp.json() == {"verdict": "PASS"}
    assert openai_env.requests[0].body["response_format"] == schema


def test_missing_usage_is_zero(openai_env: OpenAIServer) -> None:
    openai_env.reply("", Reply(raw_body=b'{"id": "x", "object": "chat.completion", "model": "m",'
                                        b' "choices": [{"index": 0, "finish_reason": "stop",'
                                        b' "message": {"role": "assistant", "content": "hi"}}]}'))
    resp = complete(OpenAIModel("m"))
    assert (resp.text, resp.prompt_tokens, resp.completion_tokens) == ("hi", 0, 0)


# --- clients ------------------------------------------------------------------------------------


def test_clients_are_shared_within_a_loop_and_never_across_loops(
        openai_env: OpenAIServer) -> None:
    a, b = OpenAIModel("m1"), OpenAIModel("m2")

    async def both() -> tuple[Any, Any]:
        await asyncio.gather(a.complete(MESSAGES, {}, timeout=5),
                             b.complete(MESSAGES, {}, timeout=5))
        return await a.sdk_client(), await b.sdk_client()

    first = asyncio.run(both())
    assert first[0] is first[1]  # same endpoint and key: one connection pool
    # asyncio.run() closed the client (and its connections) before closing the loop.
    assert first[0].is_closed()
    assert not judgekit.models.openai._clients
    second = asyncio.run(both())
    assert second[0] is not first[0]
    assert openai_env.count(status=200) == 4


def test_calls_in_flight_spread_over_pools_of_at_most_16(openai_env: OpenAIServer) -> None:
    # One SDK pool per 16 requests in flight: its per-request scan of every connection is what
    # made 64+ concurrent calls CPU-bound (see _PER_CLIENT). Few calls stay on one pool.
    openai_env.latency = 0.3
    model = OpenAIModel("m")

    async def run() -> tuple[int, int, list[int]]:
        await model.complete(MESSAGES, {}, timeout=10)
        await model.complete(MESSAGES, {}, timeout=10)
        (pools,) = judgekit.models.openai._clients[asyncio.get_running_loop()].clients.values()
        sequential = len(pools)
        seen: list[int] = []

        async def one() -> None:
            await model.complete(MESSAGES, {}, timeout=10)

        async def watch() -> None:
            busy = judgekit.models.openai._clients[asyncio.get_running_loop()].busy
            for _ in range(10):
                await asyncio.sleep(0.02)
                seen.extend(n for counts in busy.values() for n in counts)

        await asyncio.gather(watch(), *(one() for _ in range(40)))
        (counts,) = judgekit.models.openai._clients[asyncio.get_running_loop()].busy.values()
        return sequential, len(pools), [*seen, *counts]

    sequential, concurrent, busy = asyncio.run(run())
    assert sequential == 1
    assert concurrent == 3  # 40 in flight: 16 + 16 + 8
    assert max(busy) <= 16 and busy[-3:] == [0, 0, 0]  # every lease was given back
    # The two sequential calls shared one keep-alive connection.
    peers = [r.peer for r in openai_env.requests]
    assert peers[0] == peers[1]
    assert openai_env.count(status=200) == 42


def test_a_different_key_gets_its_own_client(openai_env: OpenAIServer) -> None:
    async def clients() -> tuple[Any, Any]:
        return (await OpenAIModel("m").sdk_client(),
                await OpenAIModel("m", api_key="sk-2").sdk_client())

    one, two = asyncio.run(clients())
    assert one is not two and two.api_key == "sk-2" and one.max_retries == 0


def test_an_explicit_client_is_used_as_is(openai_server: OpenAIServer, no_openai_env: None) -> None:
    async def run() -> ChatResponse:
        async with openai.AsyncOpenAI(base_url=openai_server.url, api_key="sk-mine",
                                      max_retries=0) as client:
            model = OpenAIModel("m", client=client)
            assert model.configured() is None and model.endpoint == openai_server.url
            return await model.complete(MESSAGES, {}, timeout=5)

    assert asyncio.run(run()).text == "OK"
    assert openai_server.requests[0].headers["authorization"] == "Bearer sk-mine"


# --- errors -------------------------------------------------------------------------------------


def test_429_with_retry_after_ms(openai_env: OpenAIServer) -> None:
    openai_env.reply("", Reply("Rate limit reached for gpt-4o-mini", status=429,
                               headers={"retry-after-ms": "1500", "retry-after": "2"}))
    err = failure(OpenAIModel("gpt-4o-mini"))
    assert (err.status, err.retryable, err.retry_after) == (429, True, 1.5)
    assert str(err) == "429 Too Many Requests: Rate limit reached for gpt-4o-mini"
    assert isinstance(err.__cause__, openai.RateLimitError)


def test_429_from_the_rate_limiter_carries_a_usable_wait(openai_env: OpenAIServer) -> None:
    openai_env.rate_limit(rps=1)
    model = OpenAIModel("m")
    complete(model)
    err = failure(model)
    assert err.status == 429 and err.retryable
    assert err.retry_after is not None and 0 < err.retry_after <= 1


def test_503_with_retry_after_seconds_and_date(openai_env: OpenAIServer) -> None:
    openai_env.reply("", Reply("overloaded", status=503, headers={"retry-after": "3"}))
    err = failure(OpenAIModel("m"))
    assert (err.status, err.retryable, err.retry_after) == (503, True, 3.0)
    assert str(err) == "503 Service Unavailable: overloaded"
    date = email.utils.formatdate(time.time() + 30, usegmt=True)
    openai_env.reply("", Reply("overloaded", status=503, headers={"retry-after": date}))
    err = failure(OpenAIModel("m"))
    assert err.retry_after is not None and 25 < err.retry_after <= 30


@pytest.mark.parametrize("status, retryable", [(500, True), (502, True), (503, True),
                                               (408, True), (409, True), (400, False),
                                               (401, False), (403, False), (404, False),
                                               (422, False)])
def test_status_errors(openai_env: OpenAIServer, status: int, retryable: bool) -> None:
    openai_env.reply("", Reply(f"failure {status}", status=status))
    err = failure(OpenAIModel("m"))
    assert (err.status, err.retryable, err.retry_after) == (status, retryable, None)
    assert str(err).startswith(f"{status} ") and str(err).endswith(f": failure {status}")


@pytest.mark.parametrize("body", [b'{"choices": [oops', b"<html>Bad gateway</html>",
                                  b'{"id": "x", "object": "chat.completion"}'],
                         ids=["truncated-json", "html", "no-choices"])
def test_malformed_body_is_retryable(openai_env: OpenAIServer, body: bytes) -> None:
    openai_env.reply("", Reply(raw_body=body))
    err = failure(OpenAIModel("m"))
    assert err.retryable and err.status is None
    assert str(err).startswith("malformed response: ")


def test_malformed_stream_is_retryable(openai_env: OpenAIServer) -> None:
    openai_env.reply("", Reply(raw_body=b"data: {broken\n\n"))
    err = failure(OpenAIModel("m", streaming=True))
    assert err.retryable and str(err).startswith("malformed response: ")


def test_empty_stream_is_malformed(openai_env: OpenAIServer) -> None:
    openai_env.reply("", Reply(raw_body=b"data: [DONE]\n\n"))
    err = failure(OpenAIModel("m", streaming=True))
    assert err.retryable and "without any choice" in str(err)


@pytest.mark.parametrize("streaming", [False, True])
def test_hang_times_out_retryably(openai_env: OpenAIServer, streaming: bool) -> None:
    openai_env.reply("", Reply(hang=True))
    started = time.monotonic()
    err = failure(OpenAIModel("m", streaming=streaming), timeout=0.3)
    assert time.monotonic() - started < 2
    assert err.retryable and err.status is None
    assert str(err) == "request timed out after 0.3s"


def test_connection_reset_is_retryable(openai_env: OpenAIServer) -> None:
    openai_env.reply("", Reply(reset=True))
    err = failure(OpenAIModel("m"))
    assert err.retryable and err.status is None
    assert str(err).startswith("connection error: ")


def test_nothing_listening_is_a_retryable_connection_error(openai_server: OpenAIServer) -> None:
    url = openai_server.url
    openai_server.stop()
    err = failure(OpenAIModel("m", base_url=url, api_key="sk-test"))
    assert err.retryable and str(err).startswith("connection error: ")


# --- retry_after_seconds ------------------------------------------------------------------------


@pytest.mark.parametrize("headers, expected", [
    ({"retry-after-ms": "250"}, 0.25),
    ({"Retry-After-Ms": "250", "Retry-After": "9"}, 0.25),
    ({"retry-after": "7"}, 7.0),
    ({"retry-after": "1.5"}, 1.5),
    ({"retry-after-ms": "soon", "retry-after": "2"}, 2.0),
    ({"retry-after": "Wed, 21 Oct 2015 07:28:00 GMT"}, 0.0),  # in the past: no wait
    ({"retry-after": "whenever"}, None),
    ({"retry-after": "-1"}, None),
    ({"retry-after-ms": "nan"}, None),
    ({}, None),
])
def test_retry_after_seconds(headers: dict[str, str], expected: float | None) -> None:
    assert retry_after_seconds(headers) == expected


def test_chat_path_is_what_the_sdk_calls(openai_env: OpenAIServer) -> None:
    complete(OpenAIModel("m"))
    assert openai_env.count(path=CHAT_PATH) == 1
