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
