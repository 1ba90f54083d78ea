"""The call pipeline: configured check, recording, roles, retries, limits, timeouts, sync."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest

from judgekit.aio import to_daemon_thread
from judgekit.errors import ModelCallError, ModelNotConfigured
from judgekit.models.base import ChatResponse, Message
from judgekit.models.calls import bind_loop, chat, chat_sync
from judgekit.models.mock import MockModel
from judgekit.models.pricing import cost_usd
from judgekit.models.settings import ModelSettings, use_settings
from judgekit.recording import CaseRecorder, scoring

MSGS = [{"role": "user", "content": "Is the sky blue?"}]


@pytest.fixture(autouse=True)
def settings(tmp_path: Path) -> Iterator[ModelSettings]:
    with use_settings(ModelSettings(cache_path=tmp_path / "cache.db", timeout_s=5)) as s:
        yield s


def too_many(retry_after: float | None = 0.01) -> ModelCallError:
    return ModelCallError("429 Too Many Requests: slow down", status=429, retryable=True,
                          retry_after=retry_after)


class Unconfigured(MockModel):
    def configured(self) -> str | None:
        return "set OPENAI_API_KEY (or OPENAI_BASE_URL for a compatible server)"


class Counting(MockModel):
    """Counts attempts in progress, to see the limiter's bound from the provider's side."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.active = self.peak = 0

    async def complete(self, messages: Sequence[Message], params: Mapping[str, Any], *,
                       timeout: float) -> ChatResponse:
        self.active += 1
        self.peak = max(self.peak, self.active)
        try:
            return await super().complete(messages, params, timeout=timeout)
        finally:
            self.active -= 1


def test_not_configured_raises_with_the_hint_and_records_nothing() -> None:
    model = Unconfigured("unused")
    rec = CaseRecorder()
    with rec.active(), pytest.raises(ModelNotConfigured, match="set OPENAI_API_KEY"):
        chat_sync(model, MSGS)
    assert model.calls == [] and rec.calls == []


def test_a_successful_call_is_recorded_with_tokens_and_cost() -> None:
    model = MockModel("Yes.", model="gpt-4o-mini", prompt_tokens=120, completion_tokens=8,
                      cached_tokens=100)
    rec = CaseRecorder()
    before = time.time()
    with rec.active():
        reply = chat_sync(model, MSGS, temperature=0, seed=7)
    assert (reply.text, reply.cache_hit) == ("Yes.", False)
    assert before <= rec.calls[0].started_at <= time.time()
    (call,) = rec.calls
    assert (call.role, call.provider, call.model, call.score_key) == \
        ("target", "mock", "gpt-4o-mini", None)
    assert call.request == {"messages": MSGS, "params": {"temperature": 0, "seed": 7},
                            "sample": 0}
    assert (call.response_text, call.finish_reason) == ("Yes.", "stop")
    assert (call.prompt_tokens, call.completion_tokens, call.cached_tokens) == (120, 8, 100)
    assert call.cost_usd == cost_usd("openai", "gpt-4o-mini", 120, 8, 100)
    assert call.cost_usd is not None and call.cost_usd > 0
    assert (call.attempts, call.cache_hit, call.error) == (1, False, None)
    assert call.latency_s >= 0
    assert model.calls[0].params == {"temperature": 0, "seed": 7}
    assert model.calls[0].timeout == 5


def test_the_reported_model_is_priced_and_unknown_is_none() -> None:
    dated = MockModel([ChatResponse("x", prompt_tokens=10, completion_tokens=1,
                                    model="gpt-4o-2024-08-06")], model="my-alias")
    local = MockModel("x", model="llama-3-local")
    rec = CaseRecorder()
    with rec.active():
        chat_sync(dated, MSGS)
        chat_sync(local, MSGS)
    assert rec.calls[0].model == "gpt-4o-2024-08-06"
    assert rec.calls[0].cost_usd == cost_usd("openai", "gpt-4o", 10, 1)
    assert rec.calls[1].cost_usd is None


def test_calls_inside_an_evaluator_are_judge_calls_under_its_score() -> None:
    rec = CaseRecorder()
    with rec.active():
        chat_sync(MockModel("answer"), MSGS)
        with scoring("cot_qa"):
            chat_sync(MockModel("GRADE: CORRECT"), MSGS)
    assert [(c.role, c.score_key) for c in rec.calls] == [("target", None), ("judge", "cot_qa")]


def test_transient_failures_are_retried_and_attempts_counted() -> None:
    model = MockModel([too_many(), ModelCallError("503 Service Unavailable", status=503,
                                                  retryable=True), "fine"])
    rec = CaseRecorder()
    with rec.active():
        assert chat_sync(model, MSGS).text == "fine"
    assert rec.calls[0].attempts == 3 and len(model.calls) == 3


def test_a_final_failure_is_recorded_and_raised_with_the_providers_message() -> None:
    model = MockModel([too_many()], cycle=True)
    rec = CaseRecorder()
    with use_settings(ModelSettings(cache="off", max_attempts=3)), rec.active(), \
            pytest.raises(ModelCallError) as info:
        chat_sync(model, MSGS)
    err = info.value
    assert str(err) == "429 Too Many Requests: slow down (after 3 attempts)"
    assert (err.status, err.attempts, err.retryable) == (429, 3, True)
    (call,) = rec.calls
    assert call.error == str(err) and call.attempts == 3 and call.response_text is None
    assert call.cost_usd is None


def test_a_non_retryable_failure_is_not_retried() -> None:
    model = MockModel([ModelCallError("400 Bad Request: bad schema", status=400), "unused"])
    rec = CaseRecorder()
    with rec.active(), pytest.raises(ModelCallError, match=r"^400 Bad Request: bad schema$"):
        chat_sync(model, MSGS)
    assert len(model.calls) == 1 and rec.calls[0].attempts == 1


def test_the_timeout_applies_to_every_attempt() -> None:
    with use_settings(ModelSettings(cache="off", timeout_s=0.05, max_attempts=2)), \
            pytest.raises(ModelCallError, match=r"timed out after 0.05s \(after 2 attempts\)"):
        chat_sync(MockModel("slow", delay=10), MSGS)


def test_the_total_retry_time_is_bounded() -> None:
    model = MockModel([too_many(retry_after=1.0)], cycle=True)
    with use_settings(ModelSettings(cache="off", max_retry_s=0.5)), \
            pytest.raises(ModelCallError) as info:
        chat_sync(model, MSGS)
    assert info.value.attempts == 1  # waiting 1s would overrun the 0.5s budget


def test_target_and_judge_calls_have_separate_limits() -> None:
    target = Counting("t", delay=0.02)
    judge = Counting("j", delay=0.02)

    async def judged() -> None:
        with scoring("criteria"):
            await chat(judge, MSGS)

    async def run() -> None:
        await asyncio.gather(*(chat(target, MSGS) for _ in range(12)),
                             *(judged() for _ in range(6)))

    with use_settings(ModelSettings(cache="off", concurrency=3, judge_concurrency=1)):
        asyncio.run(run())
    assert (target.peak, judge.peak) == (3, 1)


def test_a_429_pauses_the_whole_bucket() -> None:
    # One call's 429 asks for 0.2s: the other calls on the endpoint wait too.
    model = MockModel([too_many(retry_after=0.2)] + ["ok"] * 5)
    starts: list[float] = []

    async def run() -> None:
        loop = asyncio.get_running_loop()
        t0 = loop.time()

        async def one(delay: float) -> None:
            await asyncio.sleep(delay)
            await chat(model, MSGS)
            starts.append(loop.time() - t0)

        await asyncio.gather(one(0), *(one(0.05) for _ in range(4)))

    with use_settings(ModelSettings(cache="off")):
        asyncio.run(run())
    assert len(starts) == 5 and min(starts) >= 0.19


def test_chat_sync_inside_a_running_loop_does_not_deadlock() -> None:
    async def run() -> str:
        return chat_sync(MockModel("from sync code"), MSGS).text

    assert asyncio.run(run()) == "from sync code"


def test_chat_sync_from_a_worker_thread_runs_on_the_bound_loop_and_records_there() -> None:
    threads: list[str] = []

    def reply(messages: list[dict[str, Any]], params: dict[str, Any]) -> str:
        threads.append(threading.current_thread().name)
        return "ok"

    model = MockModel(reply)
    rec = CaseRecorder()

    def sync_target() -> str:  # what a sync suite target does with the llm fixture
        return chat_sync(model, MSGS).text

    async def run() -> str:
        bind_loop()
        with rec.active():
            return await to_daemon_thread(sync_target)

    assert asyncio.run(run()) == "ok"
    assert threads == [threading.current_thread().name]  # ran on the loop, not in the worker
    assert len(rec.calls) == 1


def test_a_provider_exception_becomes_a_call_error() -> None:
    def broken(messages: list[dict[str, Any]], params: dict[str, Any]) -> str:
        raise ValueError("unexpected payload")

    rec = CaseRecorder()
    with rec.active(), pytest.raises(ModelCallError, match="ValueError: unexpected payload"):
        chat_sync(MockModel(broken), MSGS)
    assert rec.calls[0].error == "ValueError: unexpected payload"
