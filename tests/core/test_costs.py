"""What a case and an experiment paid: cache hits and failed calls cost nothing, and only a
priced-unknown call that returned usage makes a total unknown."""

from __future__ import annotations

from typing import Any

from judgekit import run_suite, suite
from judgekit.recording import record_call
from judgekit.store import Store
from judgekit.types import CallRecord


def call(**kw: Any) -> CallRecord:
    base: dict[str, Any] = {"role": "target", "provider": "openai", "model": "gpt-4o-mini",
                            "request": {}, "response_text": "x", "prompt_tokens": 10,
                            "completion_tokens": 5, "cost_usd": 0.5}
    return CallRecord(**{**base, **kw})


def test_usage_is_what_was_paid() -> None:
    assert call().usage().cost_usd == 0.5
    assert call(cache_hit=True).usage().cost_usd == 0.0
    assert call(cache_hit=True).usage().prompt_tokens == 10  # tokens are still counted
    assert call(error="429 Too Many Requests", cost_usd=None, prompt_tokens=0,
                response_text=None).usage().cost_usd == 0.0
    assert call(cost_usd=None).usage().cost_usd is None  # replied, price unknown


def run_with(store: Store, calls: list[CallRecord]) -> dict[str, Any]:
    @suite(data=[{"id": "a", "inputs": {"x": 1}}])
    def test_paid(x: int) -> int:
        for c in calls:
            record_call(c)
        return x

    result = run_suite(test_paid, store=store)
    return dict(result.experiments[0].summary or {})


def test_a_failed_call_does_not_make_the_cost_unknown(store: Store) -> None:
    summary = run_with(store, [call(), call(error="500 boom", cost_usd=None, response_text=None)])
    assert summary["cost_usd"]["target"] == 0.5


def test_an_unpriced_reply_does(store: Store) -> None:
    summary = run_with(store, [call(), call(model="my-local-model", cost_usd=None)])
    assert summary["cost_usd"]["target"] is None and summary["cost_usd"]["per_1k_cases"] is None


def test_cache_hits_are_free(store: Store) -> None:
    summary = run_with(store, [call(cache_hit=True), call(cache_hit=True, cost_usd=None)])
    assert summary["cost_usd"]["target"] == 0.0


def test_a_score_gets_the_usage_of_its_own_judge_calls_in_a_copy() -> None:
    from judgekit.recording import with_usage
    from judgekit.types import Score

    def call(key: str | None, tokens: int) -> CallRecord:
        return CallRecord(role="judge" if key else "target", provider="openai", model="m",
                          request={}, response_text="x", prompt_tokens=tokens,
                          cost_usd=0.001 * tokens, score_key=key)

    calls = [call(None, 100), call("judge", 10), call("judge", 5), call("fields", 7)]
    score = Score(key="judge", score=0.0, comment="no", metadata={"m": 1})
    scored = with_usage(score, calls)
    assert scored.usage is not None
    assert (scored.usage.prompt_tokens, scored.usage.calls) == (15, 2)
    assert scored == Score(key="judge", score=0.0, passed=False, comment="no",
                           metadata={"m": 1}, usage=scored.usage)
    assert score.usage is None  # the original is left as it was
    nested = with_usage(Score(key="fields.price", score=1.0), calls)
    assert nested.usage is not None and nested.usage.prompt_tokens == 7
    assert with_usage(Score(key="other"), calls).usage is None
