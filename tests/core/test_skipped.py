"""Skipped is its own outcome (DESIGN §3, §7): a variant or judge that needs a model nobody
configured is skipped, not failed; its goals are neither met nor missed; --strict fails it."""

from __future__ import annotations

from typing import Any

from rich.console import Console

from judgekit import Goals, Score, parametrize, run_suite, suite
from judgekit.errors import ModelNotConfigured
from judgekit.report.console import render_table
from judgekit.store import Store

HOW = "no model configured: set OPENAI_API_KEY (or OPENAI_BASE_URL for a compatible server)"
DATA = [{"id": str(i), "inputs": {"x": i}, "reference": i * 2} for i in range(4)]


def doubled(*, outputs: Any, reference_outputs: Any) -> bool:
    return bool(outputs == reference_outputs)


def judge(*, outputs: Any) -> Score:
    raise ModelNotConfigured(HOW)


def make_suite(goals: Goals | None = None) -> Any:
    @suite(data=DATA, evaluators=[doubled, judge], goals=goals)
    @parametrize("model", ["code", "llm"])
    def test_double(x: int, model: str) -> int:
        if model == "llm":
            raise ModelNotConfigured(HOW)
        return x * 2

    return test_double


def test_llm_variant_is_skipped_and_code_variant_runs(store: Store) -> None:
    result = run_suite(make_suite(), store=store)
    code, llm = result.experiments
    assert code.summary is not None and llm.summary is not None
    assert code.summary["n_passed"] == 4 and "skipped" not in code.summary
    assert code.summary["scores"]["judge"]["n_skipped"] == 4
    assert llm.summary["skipped"] == HOW
    assert llm.summary["n_skipped"] == 4 and llm.summary["n_errors"] == 0
    assert llm.summary["pass_rate"] is None
    assert llm.summary["latency_s"]["p50"] is None
    cases = [c for e, c in result.cases() if e.variant_label == "llm"]
    assert all(c.error is not None and c.error.skipped for c in cases)
    assert all(c.scores == () for c in cases)  # the summary says "skipped" once
    assert result.exit_code() == 0
    assert result.exit_code(strict=True) == 1


def test_goals_on_skipped_figures_are_neither_met_nor_missed(store: Store) -> None:
    goals = Goals(accuracy=("doubled", 0.9), scores={"judge": 0.9}, p99_latency_s=5.0)
    result = run_suite(make_suite(goals), store=store)
    code, llm = result.experiments
    by_name = {g["metric"]: g for g in code.goal_results or []}
    assert by_name["doubled"]["met"] is True
    assert by_name["judge"]["met"] is None and by_name["judge"]["skipped"] is True
    assert all(g["met"] is None and g["skipped"] for g in llm.goal_results or [])
    assert result.goals_met and result.exit_code() == 0


def test_a_missed_goal_still_fails_beside_skipped_ones(store: Store) -> None:
    goals = Goals(accuracy=("doubled", 0.9), scores={"judge": 0.9})

    @suite(data=DATA, evaluators=[doubled, judge], goals=goals)
    def test_wrong(x: int) -> int:
        return x

    result = run_suite(test_wrong, store=store)
    assert result.exit_code() == 1


def test_table_says_why_once_for_variants_and_judges(store: Store) -> None:
    result = run_suite(make_suite(Goals(accuracy=("judge", 0.9))), store=store)
    console = Console(width=200, record=True, color_system=None)
    render_table(store, result.run_id, "s", result.experiments, console)
    text = console.export_text()
    assert text.count(HOW) == 1, text
    assert "skipped judge and variant llm — " + HOW in text
    assert "– accuracy skipped" in text


def test_retry_errors_runs_skipped_cases_once_a_model_is_there(store: Store) -> None:
    state = {"configured": False}

    @suite(data=DATA, evaluators=[doubled])
    def test_later(x: int) -> int:
        if not state["configured"]:
            raise ModelNotConfigured(HOW)
        return x * 2

    first = run_suite(test_later, store=store)
    assert first.experiments[0].summary["skipped"] == HOW  # type: ignore[index]
    state["configured"] = True
    again = run_suite(test_later, store=store, retry_errors=first.run_id)
    summary = again.experiments[0].summary or {}
    assert "skipped" not in summary and summary["n_passed"] == 4
