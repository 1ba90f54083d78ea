"""Comparative evaluators (``against=`` another variant) score each case against the other
variant's output for the same example, once both are stored, exactly once per case."""

from __future__ import annotations

from typing import Any

import pytest

from judgekit import Score, evaluator, parametrize, run_suite, suite
from judgekit.errors import SuiteError
from judgekit.store import Store

DATA = [{"id": w, "inputs": {"word": w}} for w in ("ab", "abcd", "boom", "abcdef")]
SEEN: list[tuple[Any, Any]] = []


@evaluator
def longer(against: str) -> Any:
    def check(*, outputs: Any, other_outputs: Any) -> Score:
        SEEN.append((outputs, other_outputs))
        return Score(key="", score=float(len(outputs) > len(other_outputs)))

    return check


def make_suite(against: str = "short") -> Any:
    @suite(data=DATA, evaluators=[longer(against=against)])
    @parametrize("style", ["short", "long"])
    def test_words(word: str, style: str) -> str:
        if word == "boom" and style == "short":
            raise RuntimeError("baseline failed here")
        return word[:2] if style == "short" else word

    return test_words


def test_each_case_is_compared_with_the_other_variants_output(store: Store) -> None:
    SEEN.clear()
    result = run_suite(make_suite(), store=store)
    short, long = result.experiments
    scores = {c.example_id: c.scores for e, c in result.cases() if e.variant_label == "long"}
    assert sorted(SEEN) == [("ab", "ab"), ("abcd", "ab"), ("abcdef", "ab")]
    assert scores["abcd"][0].score == 1.0 and scores["ab"][0].score == 0.0
    boom = scores["boom"][0]
    assert boom.status == "error" and "short has no output (RuntimeError)" in (boom.comment or "")
    assert long.summary is not None and long.summary["scores"]["longer"]["mean"] == pytest.approx(
        2 / 3)
    # The baseline is not compared with itself.
    assert short.summary is not None and "longer" not in short.summary["scores"]


def test_resuming_finalisation_does_not_compare_twice(store: Store) -> None:
    SEEN.clear()
    result = run_suite(make_suite(), store=store)
    n = len(SEEN)
    run_suite(make_suite(), store=store, resume=result.run_id)
    assert len(SEEN) == n
    rows = store.db.execute("SELECT COUNT(*) FROM scores WHERE key='longer'").fetchone()[0]
    assert rows == 4


def test_retrying_the_baseline_redoes_the_comparisons_it_blocked(store: Store) -> None:
    result = run_suite(make_suite(), store=store)
    SEEN.clear()
    run_suite(make_suite(), store=store, retry_errors=result.run_id)
    # "boom" is re-run for the baseline (it raises again), so its comparison is redone and
    # still says why; nothing else is compared again, and no verdict is stored twice.
    assert SEEN == []
    rows = store.db.execute("SELECT COUNT(*) FROM scores WHERE key='longer'").fetchone()[0]
    assert rows == 4


def test_against_must_name_a_variant(store: Store) -> None:
    with pytest.raises(SuiteError, match=r"against='medium'.*short, long"):
        run_suite(make_suite("medium"), store=store)


def test_pairwise_against_a_variant_stores_both_orders_as_judge_calls(store: Store) -> None:
    from judgekit.models import MockModel, ModelSettings, use_settings
    from judgekit_evaluators import pairwise

    def longer_wins(messages: list[dict[str, Any]], params: dict[str, Any]) -> str:
        # A judge that prefers the longer answer, whichever position it is shown in.
        text = messages[-1]["content"]
        a = text.split("<<<BEGIN RESPONSE A")[1].split("<<<END")[0]
        b = text.split("<<<BEGIN RESPONSE B")[1].split("<<<END")[0]
        return f"The longer one is better.\n[[{'A' if len(a) > len(b) else 'B'}]]"

    judge = MockModel(longer_wins, model="gpt-4o-mini")

    @suite(data=DATA[:2], evaluators=[pairwise(against="short", model=judge)])
    @parametrize("style", ["short", "long"])
    def test_words(word: str, style: str) -> str:
        return word[:2] if style == "short" else word * 3

    with use_settings(ModelSettings(cache="off")):
        result = run_suite(test_words, store=store)
    long_cases = [c for e, c in result.cases() if e.variant_label == "long"]
    assert [s.value for c in long_cases for s in c.scores] == ["A", "A"]
    for case in long_cases:
        judged = [c for c in case.calls if c.role == "judge"]
        assert len(judged) == 2 and {c.score_key for c in judged} == {"pairwise"}
        assert case.scores[0].metadata["order_agreement"] is True
        usage = case.scores[0].usage
        assert usage is not None and usage.prompt_tokens == sum(c.prompt_tokens for c in judged)
    summary = result.experiments[1].summary or {}
    assert summary["scores"]["pairwise"]["mean"] == 1.0
    assert summary["cost_usd"]["judge"] and summary["cost_usd"]["judge"] > 0
