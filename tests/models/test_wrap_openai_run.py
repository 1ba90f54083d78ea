"""wrap_openai inside a run, over real HTTP: the response cache, retries and the rate limiter.

A "run" here is what the runner sets up for each case: model settings (cache file, retry
policy), the run's loop bound with ``bind_loop`` and a case recorder. Requests are counted at
the local server, so "no request" means no HTTP request reached it.
"""

from __future__ import annotations

import asyncio
import functools
import json
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

import openai
import pytest
from openai.types.chat import ChatCompletion
from openai_server import OpenAIServer, Reply

from judgekit.errors import CacheMissError
from judgekit.models.calls import bind_loop, chat
from judgekit.models.openai import OpenAIModel
from judgekit.models.settings import ModelSettings, use_settings
from judgekit.models.wrap import wrap_openai
from judgekit.recording import CaseRecorder
from judgekit.types import CallRecord

T = TypeVar("T")
MESSAGES: Any = [{"role": "user", "content": "What is the capital of France?"}]
CHAT = "/v1/chat/completions"


@pytest.fixture
def srv(openai_server: OpenAIServer) -> OpenAIServer:
    openai_server.reply("capital", Reply("Paris", prompt_tokens=1000, completion_tokens=200,
                                         cached_tokens=400, model="gpt-4o-mini-2024-07-18"))
    return openai_server


@contextmanager
def run_settings(tmp_path: Path, **kwargs: Any) -> Iterator[None]:
    """One run's model settings (each block starts with fresh limiters and cache handle)."""
    with use_settings(ModelSettings(cache_path=tmp_path / "cache.db", timeout_s=5,
                                    max_retry_s=10, **kwargs)):
        yield


async def in_case(fn: Callable[[], Awaitable[T]]) -> tuple[T, list[CallRecord]]:
    """Run ``fn`` as a case of a run: the loop bound, a recorder active."""
    bind_loop()
    rec = CaseRecorder()
    with rec.active():
        result = await fn()
    return result, rec.calls


def async_client(srv: OpenAIServer, **kwargs: Any) -> openai.AsyncOpenAI:
    return wrap_openai(openai.AsyncOpenAI(base_url=srv.url, api_key="sk-test", max_retries=0),
                       **kwargs)


def sync_client(srv: OpenAIServer, **kwargs: Any) -> openai.OpenAI:
    return wrap_openai(openai.OpenAI(base_url=srv.url, api_key="sk-test", max_retries=0),
                       **kwargs)


def test_a_second_identical_run_sends_no_request(srv: OpenAIServer, tmp_path: Path) -> None:
    async def main() -> list[tuple[Any, list[CallRecord]]]:
        client = async_client(srv)
        runs = []
        for _ in range(2):
            with run_settings(tmp_path):
                runs.append(await in_case(lambda: client.chat.completions.create(
                    model="gpt-4o-mini", messages=MESSAGES, temperature=0)))
        await client.close()
        return runs

    (live, [first]), (hit, [second]) = asyncio.run(main())
    assert srv.count(path=CHAT) == 1
    assert isinstance(live, ChatCompletion) and isinstance(hit, ChatCompletion)
    assert hit.to_dict() == live.to_dict() and hit.choices[0].message.content == "Paris"
    assert (first.cache_hit, first.attempts, second.cache_hit, second.attempts) == (
        False, 1, True, 0)
    assert first.request == second.request == {
        "messages": MESSAGES, "params": {"temperature": 0}, "sample": 0}
    for call in (first, second):
        assert (call.role, call.model, call.response_text) == (
            "target", "gpt-4o-mini-2024-07-18", "Paris")
        assert (call.prompt_tokens, call.completion_tokens, call.cached_tokens) == (1000, 200,
                                                                                    400)
    assert first.cost_usd is not None and second.cost_usd == first.cost_usd


TOOL_REPLY = {
    "id": "chatcmpl-tools", "object": "chat.completion", "created": 1700000000,
    "model": "gpt-4o-mini", "system_fingerprint": "fp_1",
    "choices": [
        {"index": 0, "finish_reason": "tool_calls", "logprobs": None,
         "message": {"role": "assistant", "content": None, "refusal": None, "tool_calls": [
             {"id": "call_1", "type": "function",
              "function": {"name": "weather", "arguments": "{\"city\": \"Paris\"}"}}]}},
        {"index": 1, "finish_reason": "stop", "logprobs": None,
         "message": {"role": "assistant", "content": "Sunny.", "refusal": None}},
    ],
    "usage": {"prompt_tokens": 50, "completion_tokens": 20, "total_tokens": 70},
}
TOOLS: Any = [{"type": "function", "function": {
    "name": "weather", "parameters": {"type": "object",
                                      "properties": {"city": {"type": "string"}}}}}]


def test_tool_calls_and_every_choice_come_back_from_the_cache(openai_server: OpenAIServer,
                                                               tmp_path: Path) -> None:
    openai_server.reply(None, Reply(raw_body=json.dumps(TOOL_REPLY)))

    async def main() -> list[Any]:
        client = async_client(openai_server)
        replies = []
        for _ in range(2):
            with run_settings(tmp_path):
                reply, _ = await in_case(lambda: client.chat.completions.create(
                    model="gpt-4o-mini", messages=MESSAGES, tools=TOOLS, n=2))
                replies.append(reply)
        await client.close()
        return replies

    live, hit = asyncio.run(main())
    assert openai_server.count(path=CHAT) == 1
    assert hit.to_dict() == live.to_dict() == TOOL_REPLY
    [tool_call] = hit.choices[0].message.tool_calls
    assert type(tool_call) is type(live.choices[0].message.tool_calls[0])
    assert (tool_call.function.name, json.loads(tool_call.function.arguments)) == (
        "weather", {"city": "Paris"})
    assert [c.message.content for c in hit.choices] == [None, "Sunny."]


def test_every_generation_argument_is_part_of_the_key(srv: OpenAIServer,
                                                      tmp_path: Path) -> None:
    base: dict[str, Any] = {"model": "gpt-4o-mini", "messages": MESSAGES}
    changes: list[dict[str, Any]] = [
        {"model": "gpt-4o"}, {"messages": [{"role": "user", "content": "The capital?"}]},
        {"temperature": 0.5}, {"seed": 3}, {"n": 2}, {"max_tokens": 5}, {"top_p": 0.9},
        {"tools": TOOLS}, {"tools": TOOLS, "tool_choice": "required"},
        {"response_format": {"type": "json_object"}}, {"logprobs": True},
        {"extra_body": {"guided_choice": ["Paris"]}}, {"stream": True},
    ]
    # Transport settings and SDK sentinels do not change the reply: the cache answers.
    same: list[dict[str, Any]] = [{"timeout": 3}, {"extra_headers": {"x-trace": "2"}},
                                  {"temperature": openai.NOT_GIVEN}]

    async def main() -> None:
        client = async_client(srv)
        with run_settings(tmp_path):
            for extra in [{}, *changes, {}, *same]:
                reply, _ = await in_case(functools.partial(client.chat.completions.create,
                                                           **{**base, **extra}))
                if extra.get("stream"):
                    [_ async for _ in reply]
        await client.close()

    asyncio.run(main())
    assert srv.count(path=CHAT) == 1 + len(changes)


def test_cache_false_sends_every_call_and_still_retries(srv: OpenAIServer,
                                                        tmp_path: Path) -> None:
    srv.reply(None, Reply(status=429, headers={"retry-after-ms": "20"}), times=1)

    async def main() -> list[list[CallRecord]]:
        # max_retries=0 on the client: the retry after the 429 is the run's.
        client = async_client(srv, cache=False)
        runs = []
        for _ in range(2):
            with run_settings(tmp_path):
                reply, calls = await in_case(lambda: client.chat.completions.create(
                    model="gpt-4o-mini", messages=MESSAGES))
                assert isinstance(reply, ChatCompletion)
                runs.append(calls)
        await client.close()
        return runs

    [first], [second] = asyncio.run(main())
    assert srv.count(path=CHAT, status=429) == 1 and srv.count(path=CHAT, status=200) == 2
    assert (first.attempts, first.cache_hit, second.attempts, second.cache_hit) == (
        2, False, 1, False)
    assert not (tmp_path / "cache.db").exists() or _entries(tmp_path) == 0


def _entries(tmp_path: Path) -> int:
    import sqlite3

    with sqlite3.connect(tmp_path / "cache.db") as db:
        return int(db.execute("SELECT COUNT(*) FROM responses").fetchone()[0])


def test_async_stream_live_and_replayed_from_the_cache(srv: OpenAIServer,
                                                       tmp_path: Path) -> None:
    async def main() -> list[tuple[Any, list[Any], list[CallRecord]]]:
        client = async_client(srv)
        runs = []
        for _ in range(2):
            with run_settings(tmp_path):
                async def consume() -> tuple[Any, list[Any]]:
                    stream = await client.chat.completions.create(
                        model="gpt-4o-mini", messages=MESSAGES, stream=True,
                        stream_options={"include_usage": True})
                    async with stream:
                        return stream, [chunk async for chunk in stream]

                (stream, chunks), calls = await in_case(consume)
                runs.append((stream, chunks, calls))
        await client.close()
        return runs

    (live, live_chunks, [first]), (hit, hit_chunks, [second]) = asyncio.run(main())
    assert srv.count(path=CHAT) == 1
    assert isinstance(live, openai.AsyncStream) and isinstance(hit, openai.AsyncStream)
    assert [c.to_dict() for c in hit_chunks] == [c.to_dict() for c in live_chunks]
    assert "".join(c.choices[0].delta.content or "" for c in hit_chunks if c.choices) == "Paris"
    assert hit_chunks[-1].usage is not None and hit_chunks[-1].usage.prompt_tokens == 1000
    assert (first.response_text, second.response_text) == ("Paris", "Paris")
    assert (first.completion_tokens, second.cache_hit) == (200, True)


def test_sync_client_from_a_worker_thread_streamed_and_not(srv: OpenAIServer,
                                                           tmp_path: Path) -> None:
    client = sync_client(srv)

    def target() -> tuple[str, str, type, type]:
        reply = client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
        stream = client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES,
                                                stream=True)
        with stream:
            text = "".join(c.choices[0].delta.content or "" for c in stream if c.choices)
        return reply.choices[0].message.content or "", text, type(reply), type(stream)

    async def main() -> list[tuple[tuple[str, str, type, type], list[CallRecord]]]:
        runs = []
        for _ in range(2):
            with run_settings(tmp_path):
                # A sync target runs in a worker thread that carries the case's context.
                runs.append(await in_case(lambda: asyncio.to_thread(target)))
        return runs

    (live, live_calls), (hit, hit_calls) = asyncio.run(main())
    assert live == hit == ("Paris", "Paris", ChatCompletion, openai.Stream)
    assert srv.count(path=CHAT) == 2
    assert [c.cache_hit for c in live_calls + hit_calls] == [False, False, True, True]


def test_a_sync_client_called_on_the_runs_loop_still_works(srv: OpenAIServer,
                                                           tmp_path: Path) -> None:
    # Blocking the loop is the caller's choice; the call runs in a helper thread, recorded.
    client = sync_client(srv)

    async def call() -> Any:
        return client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)

    with run_settings(tmp_path):
        reply, [record] = asyncio.run(in_case(call))
    assert reply.choices[0].message.content == "Paris" and record.response_text == "Paris"


def test_outside_a_run_nothing_is_cached(srv: OpenAIServer, tmp_path: Path) -> None:
    client = sync_client(srv)
    with run_settings(tmp_path):
        for _ in range(2):  # a recorder opened by hand, no run: recorded, not cached
            with CaseRecorder().active() as rec:
                client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
            assert [c.cache_hit for c in rec.calls] == [False]
        client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
    assert srv.count(path=CHAT) == 3
    assert not (tmp_path / "cache.db").exists()


def test_a_failure_raises_the_sdk_exception_after_the_retries(openai_server: OpenAIServer,
                                                              tmp_path: Path) -> None:
    openai_server.reply(None, Reply("Invalid 'messages'.", status=400))
    client = async_client(openai_server)

    async def call() -> Any:
        return await client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)

    with run_settings(tmp_path), pytest.raises(openai.BadRequestError, match="Invalid"):
        asyncio.run(in_case(call))
    assert openai_server.count(path=CHAT) == 1  # a 400 is not retried


def test_an_entry_the_llm_fixture_wrote_answers_a_wrapped_call(srv: OpenAIServer,
                                                               tmp_path: Path) -> None:
    async def main() -> tuple[Any, list[Any]]:
        model = OpenAIModel("gpt-4o-mini", base_url=srv.url, api_key="sk-test")
        client = async_client(srv)
        with run_settings(tmp_path):
            await in_case(lambda: chat(model, MESSAGES))
            await in_case(lambda: chat(model, MESSAGES, stream=True))
            reply, _ = await in_case(lambda: client.chat.completions.create(
                model="gpt-4o-mini", messages=MESSAGES))
            stream, _ = await in_case(lambda: client.chat.completions.create(
                model="gpt-4o-mini", messages=MESSAGES, stream=True))
            chunks = [chunk async for chunk in stream]
        await client.close()
        return reply, chunks

    reply, chunks = asyncio.run(main())
    assert srv.count(path=CHAT) == 2  # the llm fixture's two; the wrapped ones were hits
    assert isinstance(reply, ChatCompletion) and reply.choices[0].message.content == "Paris"
    assert reply.usage is not None and reply.usage.prompt_tokens == 1000
    assert "".join(c.choices[0].delta.content or "" for c in chunks) == "Paris"
    assert chunks[-1].choices[0].finish_reason == "stop"


def test_replay_without_the_entry_stops_the_run(srv: OpenAIServer, tmp_path: Path) -> None:
    (tmp_path / "cache.db").touch()
    client = async_client(srv)

    async def call() -> Any:
        return await client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)

    with run_settings(tmp_path, cache="replay"), pytest.raises(CacheMissError):
        asyncio.run(in_case(call))
    assert srv.count(path=CHAT) == 0
