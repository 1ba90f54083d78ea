"""judgekit.compare over runs written through the Store API: pairing, exclusions, labels,
costs at list price, regressions and the per-case changes."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from decide_support import Spec, specs, store_run
from scipy import stats
from statsmodels.stats.contingency_tables import mcnemar

import judgekit
from judgekit.errors import ConfigError, StoreError
from judgekit.store import Store
from judgekit.types import CallRecord, CaseResult, Score

GOALS = {"accuracy": ["judge", 0.8], "scores": {}, "cost_per_1k": 5.0, "mean_latency_s": None,
         "p50_latency_s": None, "p99_latency_s": None}


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    with Store(tmp_path / "j.db") as s:
        yield s


def test_pass_fail_metric_is_tested_with_mcnemar_on_the_pairs(store: Store) -> None:
    base = [True] * 18 + [False] * 2
    worse = [True] * 10 + [False] * 10
    run = store_run(store, {"big": specs(base), "small": specs(worse)})
    result = judgekit.compare(run, store=store, resamples=500)
    m = result.metric("judge")
    assert m.kind == "pass_fail"
    row = m.rows[1]
    assert row.test is not None
    assert (row.test.n_pairs, row.test.worse, row.test.better) == (20, 8, 0)
    assert row.test.p_value == pytest.approx(mcnemar([[10, 8], [0, 2]], exact=True).pvalue)
    assert row.test.delta == pytest.approx(-0.4)
    assert row.regression and not row.improvement
    assert [(k, r.label) for k, r in result.regressions()] == [("judge", "small")]
    assert result.headline == "judge"
    assert (m.rows[0].value, row.value) == (pytest.approx(0.9), pytest.approx(0.5))


def test_unscored_errored_and_missing_cases_are_left_out_pairwise_and_counted(
        store: Store) -> None:
    base = specs([True] * 8)
    other = [Spec("e0", passed=False), Spec("e1", status="unscored", passed=None),
             Spec("e2", error=True), Spec("e3", status="skipped", passed=None),
             Spec("e4"), Spec("e5"), Spec("e6"), Spec("extra")]  # e7 missing, extra new
    run = store_run(store, {"a": base, "b": other})
    row = judgekit.compare(run, store=store, resamples=200).metric("judge").rows[1]
    assert row.test is not None and row.test.n_pairs == 4
    assert row.excluded == {"missing": 2, "error": 1, "unscored": 1, "skipped": 1, "absent": 0}
    # The variant's own value is over its ok verdicts: e0 failed, e4-e6 and extra passed.
    assert row.value == pytest.approx(4 / 5)


def test_numeric_scores_use_the_paired_t_test_and_a_bootstrap_ci(store: Store) -> None:
    rng = np.random.default_rng(0)
    a = rng.uniform(0.2, 0.9, 30)
    b = a + rng.normal(0.08, 0.05, 30)
    run = store_run(store, {
        "a": [Spec(f"e{i}", passed=None, extra={"rouge": float(x)}) for i, x in enumerate(a)],
        "b": [Spec(f"e{i}", passed=None, extra={"rouge": float(x)}) for i, x in enumerate(b)]})
    result = judgekit.compare(run, store=store, resamples=2000, seed=4)
    m = result.metric("rouge")
    assert m.kind == "numeric"
    t = m.rows[1].test
    assert t is not None and t.test == "paired_t"
    assert t.delta == pytest.approx(float(np.mean(b - a)))
    assert t.ci is not None and t.ci[0] < t.delta < t.ci[1] and t.ci[0] > 0
    assert t.p_value == pytest.approx(stats.ttest_rel(b, a).pvalue)
    assert m.rows[1].improvement and t.p_value < 0.01


def test_runs_pair_by_example_and_labels_get_the_run_when_repeated(store: Store) -> None:
    first = store_run(store, {"gpt-4o": specs([True, True, False])})
    second = store_run(store, {"gpt-4o": specs([True, False, False])})
    result = judgekit.compare(first, second, store=store, resamples=100)
    assert result.labels == [f"gpt-4o@{first}", f"gpt-4o@{second}"]
    assert result.shared == 3
    one = judgekit.compare(f"{first}-1", f"{second}-1", store=store, resamples=100)
    assert [v.experiment_id for v in one.variants] == [f"{first}-1", f"{second}-1"]


def test_different_dataset_versions_warn_and_compare_the_intersection(store: Store) -> None:
    first = store_run(store, {"a": specs([True] * 4)}, version="v1")
    second = store_run(store, {"b": [*specs([False] * 3), Spec("new")]}, version="v2")
    result = judgekit.compare(first, second, store=store, resamples=100)
    assert any("comparing the examples they share" in w for w in result.warnings)
    assert result.shared == 3


def test_bad_references_are_one_clear_error(store: Store, tmp_path: Path) -> None:
    run = store_run(store, {"a": specs([True])})
    other = store_run(store, {"b": [Spec("zzz")]})
    with pytest.raises(StoreError, match="no run 'nope'"):
        judgekit.compare(run, "nope", store=store)
    with pytest.raises(ConfigError, match="two experiments or more"):
        judgekit.compare(run, store=store)
    with pytest.raises(ConfigError, match="shares no example"):
        judgekit.compare(run, other, store=store)
    with pytest.raises(ConfigError, match="--metric nope"):
        judgekit.compare(run, store_run(store, {"c": specs([False])}), store=store,
                         metric="nope")
    with pytest.raises(StoreError, match="no store"):
        judgekit.compare("x", "y", store=tmp_path / "missing.db")


def test_costs_are_list_prices_including_cache_hits_and_latency_is_numpy(store: Store) -> None:
    run_id = store.create_run("t", None, {}, "0.1.0")
    exp = store.create_experiment(run_id, 0, {}, "cached", "qa", "v1", 3, 1, [], None)
    exp2 = store.create_experiment(run_id, 1, {}, "fresh", "qa", "v1", 3, 1, [], None)
    latencies = [0.2, 0.5, 1.7]
    for e, hit in ((exp, True), (exp2, False)):
        store.write_cases([(e, CaseResult(
            example_id=f"e{i}", variant={}, repetition=0, outputs="x", error=None, latency_s=lat,
            scores=(Score("judge", score=1.0),),
            calls=(CallRecord(role="target", provider="openai", model="m", request={},
                              response_text="x", cost_usd=0.002, cache_hit=hit),
                   CallRecord(role="judge", provider="openai", model="j", request={},
                              response_text="y", cost_usd=0.001, cache_hit=hit,
                              score_key="judge"))))
            for i, lat in enumerate(latencies)])
    result = judgekit.compare(run_id, store=store, resamples=100)
    for v in result.variants:
        assert v.target_per_1k == pytest.approx(2.0)
        assert v.judge_per_1k == pytest.approx(1.0)
        assert (v.p50_latency_s, v.p99_latency_s) == pytest.approx(
            tuple(np.percentile(latencies, [50, 99])))


def test_an_unpriced_call_makes_the_cost_unknown(store: Store) -> None:
    run = store_run(store, {"a": specs([True, True]),
                            "b": [Spec("e0"), Spec("e1", target_cost=None)]})
    a, b = judgekit.compare(run, store=store, resamples=100).variants
    assert a.target_per_1k == pytest.approx(1.0)
    assert b.target_per_1k is None


def test_changes_list_regressions_improvements_and_differences(store: Store) -> None:
    base = [Spec("e0"), Spec("e1"), Spec("e2", passed=False), Spec("e3")]
    other = [Spec("e0", passed=False, comment="missed the date", outputs={"a": "<b>x</b>"}),
             Spec("e1"), Spec("e2"), Spec("e3", outputs={"a": "changed"})]
    run = store_run(store, {"a": base, "b": other})
    result = judgekit.compare(run, store=store, resamples=100)
    shown, total = result.changes("b", "regression")
    assert total == 1 and shown[0].baseline.example_id == "e0"
    assert shown[0].variant.comment == "missed the date"
    assert shown[0].variant.outputs == {"a": "<b>x</b>"}
    assert shown[0].baseline.passed is True and shown[0].variant.passed is False
    assert shown[0].variant.inputs == {"q": "question e0"}
    assert [c.baseline.example_id for c in result.changes("b", "improvement")[0]] == ["e2"]
    different, n = result.changes("b", "different", limit=2)
    assert n == 3 and len(different) == 2  # e0, e2 (verdicts), e3 (outputs)


def test_goals_are_checked_again_at_list_price(store: Store) -> None:
    run = store_run(store, {"big": specs([True] * 9 + [False], target_cost=0.004),
                            "pricey": specs([True] * 10, target_cost=0.01),
                            "mini": specs([True] * 8 + [False] * 2, target_cost=0.0001)},
                    goals=GOALS)
    result = judgekit.compare(run, store=store, resamples=100)
    met = {v.label: v.meets_goals for v in result.variants}
    assert met == {"big": True, "pricey": False, "mini": True}  # pricey: $10 per 1k > $5
    cost_goal = next(g for g in result.variants[1].goals or [] if g.name == "cost")
    assert cost_goal.actual == pytest.approx(10.0)


def test_to_dict_has_the_documented_keys(store: Store) -> None:
    run = store_run(store, {"a": specs([True, False]), "b": specs([False, False])})
    doc = judgekit.compare(run, store=store, resamples=100).to_dict()
    assert {"judgekit_version", "baseline", "alpha", "resamples", "seed", "headline_metric",
            "shared_examples", "warnings", "variants", "metrics", "regressions"} <= set(doc)
    assert {"label", "experiment_id", "run_id", "dataset", "n_cases", "n_errors", "cost_usd",
            "latency_s", "accuracy", "goals", "meets_goals"} <= set(doc["variants"][0])
    row = doc["metrics"][0]["variants"][1]
    assert {"label", "value", "n_ok", "n_pairs", "delta", "ci", "p_value", "test", "worse",
            "better", "excluded", "regression", "improvement"} <= set(row)
