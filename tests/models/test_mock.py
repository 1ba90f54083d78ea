"""MockModel: scripted, cyclic and computed replies; what it records; tokens."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from judgekit.errors import ModelCallError
from judgekit.models.base import ChatModel, ChatResponse
from judgekit.models.mock import MockModel

MSGS = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi there!"}]


def complete(model: MockModel, params: dict[str, Any] | None = None) -> ChatResponse:
    return asyncio.run(model.complete(MSGS, params or {}, timeout=3))


def test_is_a_chat_model() -> None:
    model = MockModel("x")
    assert isinstance(model, ChatModel)
    assert (model.provider, model.endpoint, model.configured()) == ("mock", "mock", None)
    assert model.cacheable is False and MockModel("x", cache=True).cacheable is True


def test_one_string_answers_every_call() -> None:
    model = MockModel("same")
    assert [complete(model).text for _ in range(3)] == ["same"] * 3


def test_a_script_answers_in_order_then_says_it_ran_out() -> None:
    model = MockModel(["one", "two"])
    assert [complete(model).text for _ in range(2)] == ["one", "two"]
    with pytest.raises(ModelCallError, match="script exhausted: 2 replies were scripted and "
                                             "this is attempt 3") as info:
        complete(model)
    assert not info.value.retryable


def test_cycle_repeats_the_script() -> None:
    model = MockModel(["a", "b"], cycle=True)
    assert [complete(model).text for _ in range(5)] == ["a", "b", "a", "b", "a"]


def test_exceptions_in_the_script_are_raised() -> None:
    boom = ModelCallError("503", status=503, retryable=True)
    model = MockModel([boom, "after"])
    with pytest.raises(ModelCallError) as info:
        complete(model)
    assert info.value is boom and complete(model).text == "after"


def test_a_function_computes_the_reply_from_the_request() -> None:
    def echo(messages: list[dict[str, Any]], params: dict[str, Any]) -> str:
        return f"{messages[-1]['content']} t={params.get('temperature')}"

    model = MockModel(echo)
    assert complete(model, {"temperature": 0}).text == "Hi there! t=0"


def test_chat_responses_pass_through_with_the_model_filled_in() -> None:
    model = MockModel([ChatResponse("x", finish_reason="length", prompt_tokens=5)],
                      model="gpt-4o")
    reply = complete(model)
    assert (reply.finish_reason, reply.prompt_tokens, reply.model) == ("length", 5, "gpt-4o")


def test_tokens_are_estimated_or_as_given() -> None:
    reply = complete(MockModel("four"))
    # "Be brief.Hi there!" is 18 characters: ~5 tokens; "four" 1.
    assert (reply.prompt_tokens, reply.completion_tokens, reply.cached_tokens) == (5, 1, 0)
    given = complete(MockModel("x", prompt_tokens=100, completion_tokens=7, cached_tokens=40))
    assert (given.prompt_tokens, given.completion_tokens, given.cached_tokens) == (100, 7, 40)


def test_calls_are_recorded() -> None:
    model = MockModel("x")
    complete(model, {"seed": 1})
    (call,) = model.calls
    assert call.messages == MSGS and call.params == {"seed": 1} and call.timeout == 3
