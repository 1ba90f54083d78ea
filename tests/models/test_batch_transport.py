"""The Batch API transport (judgekit.models.batch) against the local server's /v1/files and
/v1/batches, over real HTTP with the official SDK; and batch prices from genai-prices."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from genai_prices import Usage, calc_price
from openai_server import OpenAIServer

from judgekit import Goals, dataset, suite
from judgekit.api import run_suite
from judgekit.errors import ConfigError, ModelCallError
from judgekit.models import LLM, ModelSettings
from judgekit.models.batch import BatchRequest, BatchSession, BatchState, chunk_requests
from judgekit.models.openai import OpenAIModel
from judgekit.models.pricing import cost_usd
from judgekit.models.settings import settings_from_config
from judgekit.store import Store


def _request(i: int, size: int = 10) -> BatchRequest:
    return BatchRequest(f"k{i}", {"model": "m", "messages": [{"role": "user",
                                                              "content": "x" * size}]})


def test_chunks_keep_within_the_request_and_byte_limits_in_order() -> None:
    requests = [_request(i) for i in range(7)]
    by_count = chunk_requests(requests, max_requests=3)
    assert [[r.custom_id for r in c] for c in by_count] == [
        ["k0", "k1", "k2"], ["k3", "k4", "k5"], ["k6"]]
    line = len(requests[0].line())
    by_bytes = chunk_requests(requests, max_bytes=2 * line + 1)
    assert [len(c) for c in by_bytes] == [2, 2, 2, 1]
    assert all(sum(len(r.line()) for r in c) <= 2 * line + 1 for c in by_bytes)
    with pytest.raises(ValueError, match=r"k0 is \d+ bytes, more than a batch file may hold"):
        chunk_requests([_request(0, size=500)], max_bytes=100)


def test_a_request_line_is_what_the_batch_api_reads() -> None:
    import json

    line = json.loads(_request(3).line())
    assert line == {"custom_id": "k3", "method": "POST", "url": "/v1/chat/completions",
                    "body": {"model": "m", "messages": [{"role": "user", "content": "x" * 10}]}}


def _session_calls(srv: OpenAIServer, tmp_path: Path, n: int, **kwargs: Any
                   ) -> tuple[list[Any], list[BatchState], Store, str]:
    store = Store(tmp_path / "j.db")
    run_id = store.create_run("s", None, {}, "0")
    states: list[BatchState] = []

    async def go() -> list[Any]:
        session = BatchSession(store, run_id, poll_s=0.01, on_state=states.append, **kwargs)
        model = OpenAIModel("gpt-4o-mini", base_url=srv.url, api_key="sk-test")

        async def one(i: int) -> Any:
            body = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": f"q{i}"}]}
            try:
                return (await session.call(model, f"key{i}", body)).text
            except ModelCallError as exc:
                return exc
        try:
            return list(await asyncio.gather(*(one(i) for i in range(n))))
        finally:
            await session.close()

    return asyncio.run(go()), states, store, run_id


def test_a_full_queue_goes_as_several_jobs(openai_server: OpenAIServer, tmp_path: Path) -> None:
    openai_server.reply(None, lambda body: "A:" + body["messages"][0]["content"])
    replies, states, store, run_id = _session_calls(openai_server, tmp_path, 7, max_requests=3)
    assert replies == [f"A:q{i}" for i in range(7)]
    jobs = list(openai_server.batches.jobs.values())
    # Each job is submitted in a task of its own (the first one loads the SDK), so they may
    # reach the server in any order.
    assert sorted(len(j.lines) for j in jobs) == [1, 3, 3]
    assert sorted(b["custom_ids"] for b in store.batches(run_id)) == [
        ["key0", "key1", "key2"], ["key3", "key4", "key5"], ["key6"]]
    assert {s.status for s in states} >= {"completed"}


def test_a_job_that_fails_validation_is_sent_once_more(openai_server: OpenAIServer,
                                                       tmp_path: Path) -> None:
    openai_server.batches.fail_next(1, "Invalid JSONL on line 1.")
    replies, states, _, _ = _session_calls(openai_server, tmp_path, 2)
    assert replies == ["OK", "OK"]
    assert [j.status for j in openai_server.batches.jobs.values()] == ["failed", "completed"]
    assert "failed" in {s.status for s in states}

    openai_server.batches.fail_next(2, "Invalid JSONL on line 1.")
    replies, _, _, _ = _session_calls(openai_server, tmp_path / "again", 1)
    (error,) = replies
    assert isinstance(error, ModelCallError)
    assert "failed without answering the request (Invalid JSONL on line 1.)" in str(error)


def test_an_unreachable_api_fails_the_calls_and_keeps_nothing(tmp_path: Path) -> None:
    srv = OpenAIServer().start()
    url = srv.url
    srv.stop()  # nothing listens there now
    store = Store(tmp_path / "j.db")
    run_id = store.create_run("s", None, {}, "0")

    async def go() -> Any:
        session = BatchSession(store, run_id, poll_s=0.01)
        try:
            return await session.call(OpenAIModel("m", base_url=url), "k",
                                      {"model": "m", "messages": []})
        finally:
            await session.close()

    with pytest.raises(ModelCallError, match="could not submit a batch: connection error"):
        asyncio.run(go())
    assert store.batches(run_id) == []


@pytest.mark.parametrize("model", ["gpt-4o-mini", "gpt-4o", "gpt-4.1-mini"])
def test_batch_calls_cost_genai_prices_batch_rate(model: str) -> None:
    usage: Any = Usage(input_tokens=1200, output_tokens=300, cache_read_tokens=200)
    expect = calc_price(usage, model_ref=model, provider_id="openai",
                        price_context={"processing": "batch"}).total_price
    standard = calc_price(usage, model_ref=model, provider_id="openai").total_price
    assert cost_usd("openai", model, 1200, 300, 200, batch=True) == pytest.approx(float(expect))
    assert float(expect) < float(standard)  # OpenAI's batch discount is in the data
    assert cost_usd("openai", model, 1200, 300, 200) == pytest.approx(float(standard))


def test_batch_settings_are_checked() -> None:
    assert settings_from_config({"batch": True, "batch-poll-s": 5}).batch_poll_s == 5.0
    with pytest.raises(ConfigError, match=r"\[tool.judgekit\] batch: expected true or false"):
        settings_from_config({"batch": "yes"})
    with pytest.raises(ConfigError, match="batch_poll_s"):
        settings_from_config({"batch_poll_s": 0})


def test_a_sync_target_batches_through_the_api(openai_env: OpenAIServer,
                                               tmp_path: Path) -> None:
    openai_env.reply(None, lambda body: body["messages"][-1]["content"].upper())

    @suite(data=dataset([{"id": f"e{i}", "inputs": {"w": f"w{i}"}, "reference": f"W{i}"}
                         for i in range(5)]),
           evaluators=["exact_match"], goals=Goals(accuracy=("exact_match", 1.0)))
    def shout(w: str, llm: LLM) -> str:  # sync: its calls come from worker threads
        return llm.chat_sync(w, model="gpt-4o-mini").text

    with Store(tmp_path / "j.db") as store:
        result = run_suite(shout, store=store, batch=True,
                           models=ModelSettings(cache="off", batch_poll_s=0.01))
        assert result.exit_code() == 0
        (job,) = openai_env.batches.jobs.values()
        assert len(job.lines) == 5
        assert openai_env.count(path="/v1/chat/completions") == 0
        assert [b["status"] for b in store.batches(result.run_id)] == ["completed"]


def test_a_job_lost_from_sight_fails_its_calls_and_is_not_sent_again(tmp_path: Path) -> None:
    srv = OpenAIServer().start()
    srv.batches.delay = 3600  # in progress until the server goes away
    store = Store(tmp_path / "j.db")
    run_id = store.create_run("s", None, {}, "0")

    async def go() -> Any:
        session = BatchSession(store, run_id, poll_s=0.01)
        call = asyncio.ensure_future(session.call(
            OpenAIModel("m", base_url=srv.url, api_key="sk-test"), "k",
            {"model": "m", "messages": [{"role": "user", "content": "hi"}]}))
        while not store.batches(run_id):
            await asyncio.sleep(0.01)
        srv.stop()  # every later poll is refused
        try:
            return await call
        finally:
            await session.close()

    with pytest.raises(ModelCallError, match=r"polling: connection error.*--retry-errors"):
        asyncio.run(go())
    assert len(srv.batches.jobs) == 1  # never sent twice
    assert [b["status"] for b in store.batches(run_id)] == ["submitted"]  # kept for a resume
