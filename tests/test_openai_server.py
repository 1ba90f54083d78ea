"""The local OpenAI-compatible server, exercised with the real ``openai`` SDK over HTTP."""

from __future__ import annotations

import asyncio
import contextlib
import json
import threading
import time
from typing import Any

import openai
import pytest
from openai_server import CHAT_PATH, MODELS_PATH, OpenAIServer, Reply, estimate_tokens

USER = [{"role": "user", "content": "What is the capital of France?"}]


def client(srv: OpenAIServer, **kwargs: Any) -> openai.OpenAI:
    return openai.OpenAI(base_url=srv.url, api_key="sk-test", max_retries=0, **kwargs)


def aclient(srv: OpenAIServer) -> openai.AsyncOpenAI:
    return openai.AsyncOpenAI(base_url=srv.url, api_key="sk-test", max_retries=0)


def ask(srv: OpenAIServer, content: str = "hi", **kwargs: Any) -> Any:
    with client(srv) as c:
        return c.chat.completions.create(model="gpt-4o-mini",
                                         messages=[{"role": "user", "content": content}],
                                         **kwargs)


# --- plain, streaming, models ------------------------------------------------------------------


def test_plain_completion_default_reply_and_usage(openai_server: OpenAIServer) -> None:
    with client(openai_server) as c:
        resp = c.chat.completions.create(model="gpt-4o-mini", messages=USER, temperature=0)
    assert resp.choices[0].message.content == "OK"
    assert resp.choices[0].finish_reason == "stop"
    assert resp.model == "gpt-4o-mini"
    assert resp.usage is not None
    assert resp.usage.prompt_tokens == estimate_tokens(USER[0]["content"])
    assert resp.usage.completion_tokens == 1
    assert resp.usage.total_tokens == resp.usage.prompt_tokens + 1
    [req] = openai_server.requests
    assert (req.method, req.path, req.status) == ("POST", CHAT_PATH, 200)
    assert req.body == {"model": "gpt-4o-mini", "messages": USER, "temperature": 0}
    assert req.messages == USER
    assert req.headers["authorization"] == "Bearer sk-test"


def test_async_client_concurrent_requests_on_keep_alive_connections(
        openai_server: OpenAIServer) -> None:
    openai_server.reply("", lambda body: body["messages"][-1]["content"].upper())
    openai_server.latency = 0.05

    async def main() -> list[str]:
        async with aclient(openai_server) as c:
            async def one(i: int) -> str:
                resp = await c.chat.completions.create(
                    model="m", messages=[{"role": "user", "content": f"q{i}"}])
                return resp.choices[0].message.content or ""
            first = await asyncio.gather(*(one(i) for i in range(20)))
            second = await asyncio.gather(*(one(i) for i in range(20)))
            return first + second

    started = time.monotonic()
    texts = asyncio.run(main())
    assert texts == [f"Q{i}" for i in range(20)] * 2
    assert time.monotonic() - started < 2  # concurrent: 40 x 50 ms in sequence would be 2 s
    assert openai_server.count(path=CHAT_PATH, status=200) == 40
    # The second wave reused the connections the first one opened.
    assert len({r.peer for r in openai_server.requests}) <= 20


def test_sequential_requests_share_one_connection(openai_server: OpenAIServer) -> None:
    with client(openai_server) as c:
        for _ in range(5):
            c.chat.completions.create(model="m", messages=USER)
    assert len({r.peer for r in openai_server.requests}) == 1


def test_streaming_with_usage_chunk(openai_server: OpenAIServer) -> None:
    openai_server.reply("story", Reply("once upon a time", cached_tokens=2, prompt_tokens=10))

    async def main() -> list[Any]:
        async with aclient(openai_server) as c:
            stream = await c.chat.completions.create(
                model="gpt-4o", messages=[{"role": "user", "content": "a story"}], stream=True,
                stream_options={"include_usage": True})
            return [chunk async for chunk in stream]

    chunks = asyncio.run(main())
    text = "".join(ch.choices[0].delta.content or "" for ch in chunks if ch.choices)
    assert text == "once upon a time"
    assert len([ch for ch in chunks if ch.choices and ch.choices[0].delta.content]) == 4
    assert [ch.choices[0].finish_reason for ch in chunks if ch.choices][-1] == "stop"
    *body, last = chunks
    assert all(ch.usage is None for ch in body)
    assert last.choices == [] and last.usage is not None
    assert (last.usage.prompt_tokens, last.usage.completion_tokens) == (10, 4)
    assert last.usage.prompt_tokens_details is not None
    assert last.usage.prompt_tokens_details.cached_tokens == 2
    assert chunks[0].model == "gpt-4o"


def test_streaming_without_include_usage_has_no_usage_chunk(
        openai_server: OpenAIServer) -> None:
    with client(openai_server) as c:
        chunks = list(c.chat.completions.create(model="m", messages=USER, stream=True))
    assert all(ch.usage is None and ch.choices for ch in chunks)
    assert "".join(ch.choices[0].delta.content or "" for ch in chunks) == "OK"


def test_models_list(openai_server: OpenAIServer) -> None:
    openai_server.models = ["gpt-4o-mini", "my-fine-tune"]
    with client(openai_server) as c:
        assert [m.id for m in c.models.list()] == ["gpt-4o-mini", "my-fine-tune"]
    assert openai_server.count(path=MODELS_PATH, status=200) == 1


# --- rules --------------------------------------------------------------------------------------


def test_rules_newest_first_substring_callable_and_times(openai_server: OpenAIServer) -> None:
    srv = openai_server
    srv.reply("capital", "Paris")
    srv.reply(lambda body: body.get("temperature") == 1, Reply("hot"))
    srv.reply("capital of Spain", lambda body: Reply("Madrid", finish_reason="length"))
    srv.reply("flaky", Reply("boom", status=500), times=2)

    def text(content: str, **kw: Any) -> str:
        return ask(srv, content, **kw).choices[0].message.content

    assert text("capital of France?") == "Paris"
    assert text("capital of France?", temperature=1) == "hot"  # newer rule wins
    resp = ask(srv, "capital of Spain?")
    assert (resp.choices[0].message.content, resp.choices[0].finish_reason) == ("Madrid",
                                                                                  "length")
    assert text("unmatched") == "OK"
    for _ in range(2):
        with pytest.raises(openai.InternalServerError):
            ask(srv, "flaky")
    assert text("flaky") == "OK"  # the rule answered its two requests and stepped aside


def test_rule_matches_any_message_and_reply_sets_model_and_tokens(
        openai_server: OpenAIServer) -> None:
    openai_server.reply("You are a judge", Reply("GRADE: CORRECT", prompt_tokens=100,
                                                 completion_tokens=7, model="gpt-4o-2024-08-06"))
    with client(openai_server) as c:
        resp = c.chat.completions.create(model="gpt-4o", messages=[
            {"role": "system", "content": "You are a judge."},
            {"role": "user", "content": [{"type": "text", "text": "grade this"}]}])
    assert resp.choices[0].message.content == "GRADE: CORRECT"
    assert resp.model == "gpt-4o-2024-08-06"
    assert resp.usage is not None
    assert (resp.usage.prompt_tokens, resp.usage.completion_tokens) == (100, 7)


def test_n_choices(openai_server: OpenAIServer) -> None:
    assert [c.message.content for c in ask(openai_server, n=3).choices] == ["OK"] * 3


# --- errors -------------------------------------------------------------------------------------


def test_429_reply_carries_its_headers_and_openai_error_body(openai_server: OpenAIServer) -> None:
    openai_server.reply("", Reply("Slow down", status=429,
                                  headers={"retry-after-ms": "1500", "retry-after": "2"}))
    with pytest.raises(openai.RateLimitError) as info:
        ask(openai_server)
    err = info.value
    assert err.status_code == 429
    assert err.response.headers["retry-after-ms"] == "1500"
    assert err.response.headers["retry-after"] == "2"
    assert err.body == {"message": "Slow down", "type": "requests", "param": None,
                        "code": "rate_limit_exceeded"}
    assert openai_server.count(status=429) == 1


@pytest.mark.parametrize("status, exc", [(500, openai.InternalServerError),
                                         (503, openai.InternalServerError),
                                         (400, openai.BadRequestError),
                                         (401, openai.AuthenticationError)])
def test_error_statuses(openai_server: OpenAIServer, status: int,
                        exc: type[openai.APIStatusError]) -> None:
    openai_server.reply("", Reply(status=status))
    with pytest.raises(exc) as info:
        ask(openai_server)
    assert info.value.status_code == status
    assert isinstance(info.value.body, dict) and info.value.body["message"]
    assert openai_server.count(status=status) == 1


def test_malformed_body_reaches_the_sdk_as_a_json_error(openai_server: OpenAIServer) -> None:
    openai_server.reply("", Reply(raw_body=b'{"choices": [oops'))
    # The SDK does not wrap a body that fails to parse: json.JSONDecodeError escapes.
    with pytest.raises(json.JSONDecodeError):
        ask(openai_server)
    assert openai_server.count(status=200) == 1


def test_malformed_stream_event(openai_server: OpenAIServer) -> None:
    openai_server.reply("", Reply(raw_body=b"data: {broken\n\n"))
    with client(openai_server) as c, pytest.raises(json.JSONDecodeError):
        list(c.chat.completions.create(model="m", messages=USER, stream=True))


def test_reset_is_a_connection_error(openai_server: OpenAIServer) -> None:
    openai_server.reply("", Reply(reset=True))
    with pytest.raises(openai.APIConnectionError):
        ask(openai_server)
    [req] = openai_server.requests
    assert req.status is None
    # The server keeps serving new connections afterwards.
    openai_server.reply("", "back")
    assert ask(openai_server).choices[0].message.content == "back"


def test_hang_times_out_on_the_client_and_is_released(openai_server: OpenAIServer) -> None:
    openai_server.reply("", Reply(hang=True))
    started = time.monotonic()
    with pytest.raises(openai.APITimeoutError):
        ask(openai_server, timeout=0.3)
    assert time.monotonic() - started < 2
    # The handler noticed the client hung up and let the connection go.
    deadline = time.monotonic() + 2
    while openai_server._connections and time.monotonic() < deadline:
        time.sleep(0.02)
    assert not openai_server._connections


def test_stop_releases_hung_requests() -> None:
    srv = OpenAIServer().start()
    srv.reply("", Reply(hang=True))
    errors: list[BaseException] = []

    def call() -> None:
        try:
            ask(srv)  # no client timeout: only the server stopping ends this
        except BaseException as exc:
            errors.append(exc)

    caller = threading.Thread(target=call)
    caller.start()
    while not srv.requests:
        time.sleep(0.01)
    started = time.monotonic()
    srv.stop()
    caller.join(timeout=5)
    assert not caller.is_alive()
    assert time.monotonic() - started < 3
    assert len(errors) == 1 and isinstance(errors[0], openai.APIConnectionError)


def test_delay_and_latency(openai_server: OpenAIServer) -> None:
    openai_server.latency = 0.1
    openai_server.reply("slow", Reply("done", delay=0.2))
    started = time.monotonic()
    ask(openai_server)
    fast = time.monotonic() - started
    started = time.monotonic()
    ask(openai_server, "slow")
    slow = time.monotonic() - started
    assert 0.1 <= fast < 1
    assert 0.3 <= slow < 1.2


def test_unknown_path_and_bad_json_body(openai_server: OpenAIServer) -> None:
    with client(openai_server) as c:
        with pytest.raises(openai.NotFoundError):
            c.embeddings.create(model="m", input="x")
        with pytest.raises(openai.BadRequestError):
            c.post("/chat/completions", cast_to=object, body={"model": "m"})
    assert openai_server.count(status=404) == openai_server.count(status=400) == 1


# --- rate limits and faults ---------------------------------------------------------------------


def test_rate_limit_requests_headers_and_retry_after(openai_server: OpenAIServer) -> None:
    openai_server.rate_limit(rps=3)
    with client(openai_server) as c:
        oks = [c.chat.completions.with_raw_response.create(model="m", messages=USER)
               for _ in range(3)]
        with pytest.raises(openai.RateLimitError) as info:
            c.chat.completions.create(model="m", messages=USER)
        headers = info.value.response.headers
        wait_ms = int(headers["retry-after-ms"])
        assert 0 < wait_ms <= 1000
        assert headers["retry-after"] == "1"
        assert headers["x-ratelimit-limit-requests"] == "3"
        assert headers["x-ratelimit-remaining-requests"] == "0"
        assert headers["x-ratelimit-reset-requests"].endswith("ms")
        assert [r.headers["x-ratelimit-remaining-requests"] for r in oks] == ["2", "1", "0"]
        time.sleep(wait_ms / 1000)
        c.chat.completions.create(model="m", messages=USER)  # the window has room again
    assert openai_server.count(status=429) == 1
    assert openai_server.count(status=200) == 4


def test_rate_limit_is_a_sliding_window_under_concurrency(openai_server: OpenAIServer) -> None:
    rps = 10
    openai_server.rate_limit(rps=rps)

    async def main() -> None:
        async with aclient(openai_server) as c:
            async def one() -> None:
                while True:
                    try:
                        await c.chat.completions.create(model="m", messages=USER)
                        return
                    except openai.RateLimitError as exc:
                        await asyncio.sleep(int(exc.response.headers["retry-after-ms"]) / 1000)
            await asyncio.gather(*(one() for _ in range(20)))

    asyncio.run(main())
    admitted = sorted(r.time for r in openai_server.requests if r.status == 200)
    assert len(admitted) == 20
    # No one-second window ever held more than rps admitted requests (slack for the gap
    # between a request's arrival, recorded, and its admission).
    for i, t in enumerate(admitted):
        in_window = [u for u in admitted[i:] if u < t + 0.9]
        assert len(in_window) <= rps
    # And the limit is not wasted: 20 requests at 10/s fit in a little over one second.
    assert admitted[-1] - admitted[0] < 2


def test_rate_limit_bucket_refills_continuously(openai_server: OpenAIServer) -> None:
    # OpenAI's model: a full bucket allows a burst of the limit, then one request back every
    # 1/rps seconds (not the whole budget at once when a window slides past).
    openai_server.rate_limit(rps=4, model="bucket")
    with client(openai_server) as c:
        oks = [c.chat.completions.with_raw_response.create(model="m", messages=USER)
               for _ in range(4)]
        with pytest.raises(openai.RateLimitError) as info:
            c.chat.completions.create(model="m", messages=USER)
        headers = info.value.response.headers
        wait_ms = int(headers["retry-after-ms"])
        assert 0 < wait_ms <= 250  # one request refills in 1/4 s
        assert headers["x-ratelimit-remaining-requests"] == "0"
        # reset: until the bucket is full again, about a second after the burst
        assert headers["x-ratelimit-reset-requests"].endswith(("ms", "s"))
        assert [r.headers["x-ratelimit-remaining-requests"] for r in oks] == ["3", "2", "1", "0"]
        time.sleep(wait_ms / 1000)
        c.chat.completions.create(model="m", messages=USER)  # one request refilled
        with pytest.raises(openai.RateLimitError):
            c.chat.completions.create(model="m", messages=USER)  # but only one
    assert openai_server.count(status=429) == 2


def test_rate_limit_model_is_checked(openai_server: OpenAIServer) -> None:
    with pytest.raises(ValueError, match="bucket"):
        openai_server.rate_limit(rps=1, model="leaky")


def test_rate_limit_tokens_per_minute(openai_server: OpenAIServer) -> None:
    long = "x" * 400  # 100 prompt tokens; the reply "OK" adds 1
    openai_server.rate_limit(tpm=250)
    with client(openai_server) as c:
        first = c.chat.completions.with_raw_response.create(
            model="m", messages=[{"role": "user", "content": long}])
        assert first.headers["x-ratelimit-limit-tokens"] == "250"
        assert first.headers["x-ratelimit-remaining-tokens"] == "150"
        c.chat.completions.create(model="m", messages=[{"role": "user", "content": long}])
        with pytest.raises(openai.RateLimitError) as info:
            c.chat.completions.create(model="m", messages=[{"role": "user", "content": long}])
    headers = info.value.response.headers
    assert headers["x-ratelimit-remaining-tokens"] == "48"  # 250 - 2 x (100 + 1)
    assert 55_000 < int(headers["retry-after-ms"]) <= 60_000
    assert "x-ratelimit-limit-requests" not in headers


def test_fault_rate_is_seeded_and_validated(openai_server: OpenAIServer) -> None:
    openai_server.fault_rate(1.0, kinds=("503",))
    with pytest.raises(openai.InternalServerError):
        ask(openai_server)

    def run(seed: int) -> list[int | None]:
        openai_server.fault_rate(0.5, kinds=("500", "429", "reset", "malformed"), seed=seed)
        before = len(openai_server.requests)
        with client(openai_server) as c:
            for _ in range(20):
                with contextlib.suppress(openai.APIError, json.JSONDecodeError):
                    c.chat.completions.create(model="m", messages=USER)
        return [r.status for r in openai_server.requests[before:]]

    first, again = run(7), run(7)
    assert first == again
    assert 0 < first.count(200) < 20 and set(first) - {200}
    openai_server.fault_rate(0)
    assert ask(openai_server).choices[0].message.content == "OK"
    with pytest.raises(ValueError, match="unknown fault kinds"):
        openai_server.fault_rate(0.1, kinds=("502",))


def test_url_requires_start_and_server_is_a_context_manager() -> None:
    srv = OpenAIServer()
    with pytest.raises(RuntimeError, match="start"):
        _ = srv.url
    with srv:
        assert srv.url.startswith("http://127.0.0.1:") and srv.url.endswith("/v1")
        assert ask(srv).choices[0].message.content == "OK"
    with pytest.raises(RuntimeError):
        _ = srv.url
