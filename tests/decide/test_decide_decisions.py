"""--pick, break-even, projections, the MPI matrix and cascades on hand-checkable data."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from pathlib import Path

import pytest
from decide_support import Spec, specs, store_run

import judgekit
from judgekit.decide.cascade import frontier
from judgekit.errors import ConfigError
from judgekit.store import Store

GOALS = {"accuracy": ["judge", 0.8], "scores": {}, "cost_per_1k": None}


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    with Store(tmp_path / "j.db") as s:
        yield s


def three(store: Store, goals: dict | None = GOALS) -> str:
    return store_run(store, {
        "gpt-4o": specs([True] * 19 + [False], target_cost=0.01),
        "mini": specs([True] * 12 + [False] * 8, target_cost=0.0002),
        "ft": specs([True] * 17 + [False] * 3, target_cost=0.0002 + 0.00001),
    }, goals=goals)


def test_pick_names_the_cheapest_variant_meeting_every_goal(store: Store) -> None:
    pick = judgekit.compare(three(store), store=store, resamples=100).pick()
    assert pick.chosen is not None and pick.chosen.label == "ft"
    assert pick.strongest is not None and pick.strongest.label == "gpt-4o"
    assert pick.share_of_strongest == pytest.approx(0.21 / 10)
    assert pick.sentence == "ft meets all goals at 2.1% of gpt-4o's cost"
    assert pick.meeting == ["ft", "gpt-4o"]


def test_pick_without_goals_or_with_none_met(store: Store) -> None:
    with pytest.raises(ConfigError, match="--pick needs goals"):
        judgekit.compare(three(store, goals=None), store=store, resamples=100).pick()
    strict = {"accuracy": ["judge", 0.99], "scores": {}}
    pick = judgekit.compare(three(store, goals=strict), store=store, resamples=100).pick()
    assert pick.chosen is None and pick.sentence == "no variant meets every goal"


def test_break_even_accuracy_and_net_value(store: Store) -> None:
    be = judgekit.compare(three(store), store=store, resamples=100).break_even(50, 300)
    assert be.accuracy_needed == pytest.approx(300 / 350)  # 85.7%
    rows = {r.label: r for r in be.rows}
    # 95%, 60% and 85% against 85.7%: ft falls just short.
    assert (rows["gpt-4o"].clears, rows["mini"].clears, rows["ft"].clears) == (True, False, False)
    # 1,000 items at 95%: 950 x 50 - 50 x 300, less $10 of calls.
    assert rows["gpt-4o"].net_per_1k == pytest.approx(950 * 50 - 50 * 300 - 10.0)
    with pytest.raises(ConfigError):
        judgekit.compare(three(store), store=store, resamples=100).break_even(0, 0)


def test_projection_adds_the_training_cost(store: Store) -> None:
    proj = judgekit.compare(three(store), store=store, resamples=100).projection(
        1_000_000, {"ft": 25.0})
    rows = {r.label: r for r in proj.rows}
    assert rows["gpt-4o"].total == pytest.approx(10_000.0)
    assert rows["ft"].run_cost == pytest.approx(210.0)
    assert rows["ft"].total == pytest.approx(235.0)
    with pytest.raises(ConfigError, match="no such variant"):
        judgekit.compare(three(store), store=store, resamples=100).projection(10, {"x": 1.0})


def test_mpi_matrix(store: Store) -> None:
    run = store_run(store, {
        "a": specs([True, True, False, False, True]),
        "b": specs([True, False, True, False, False]),
        "c": [Spec("e0"), Spec("e1", status="unscored", passed=None), Spec("e2"),
              Spec("e3"), Spec("e4", passed=False)],
    })
    m = judgekit.compare(run, store=store, resamples=100).mpi()
    assert m.labels == ["a", "b", "c"]
    assert m.share[0][1] == pytest.approx(1 / 5)   # a wrong, b right: e2
    assert m.share[1][0] == pytest.approx(2 / 5)   # b wrong, a right: e1, e4
    assert m.share[0][2] == pytest.approx(2 / 4)   # e1 unscored in c: e2, e3 of 4
    assert m.n_pairs[0][2] == 4
    assert m.share[2][1] == pytest.approx(0.0)
    assert m.share[0][0] is None


def cascade_run(store: Store) -> str:
    # small is cheap and right when confident; big is expensive and mostly right.
    small = [Spec(f"e{i}", passed=i % 4 != 0, confidence=0.9 if i % 4 else 0.4,
                  target_cost=0.001, judge_cost=0.0005) for i in range(20)]
    small[1] = Spec("e1", passed=False, confidence=0.95, target_cost=0.001, judge_cost=0.0005)
    big = [Spec(f"e{i}", passed=i != 7, confidence=0.99, target_cost=0.02) for i in range(20)]
    return store_run(store, {"small": small, "big": big})


def test_cascade_simulation_by_hand(store: Store) -> None:
    result = judgekit.compare(cascade_run(store), store=store, resamples=100).cascade(
        ["small", "big"], "judge:confidence", [0.8])
    # Accepted from small: confidence >= 0.8 on the 15 with i % 4 != 0; e1 among them is wrong.
    # big answers e0, e4, e8, e12, e16 (all right: big is wrong only on e7).
    assert result.answered_by == [pytest.approx(0.75), pytest.approx(0.25)]
    assert result.accuracy == pytest.approx(19 / 20)
    # Every case pays small's call and its signal ($0.0015); a quarter also pay big's.
    assert result.cost_per_1k == pytest.approx(1000 * (0.0015 + 0.25 * 0.02))
    assert result.describe() == "small (≥0.8) → big"


def test_signal_from_a_score_value_and_bad_signals(store: Store) -> None:
    run = cascade_run(store)
    comparison = judgekit.compare(run, store=store, resamples=100)
    by_score = comparison.cascade(["small", "big"], "judge", [1.0])
    # The judge's own verdict is an oracle: it accepts exactly small's right answers, and big
    # is right on every one small gets wrong.
    assert by_score.accuracy == pytest.approx(1.0)
    with pytest.raises(ConfigError, match=r"no case of small .* has score 'nope'"):
        comparison.cascade(["small", "big"], "nope", [0.5])
    with pytest.raises(ConfigError, match="'agreement' in the metadata"):
        comparison.cascade(["small", "big"], "judge:agreement", [0.5])
    with pytest.raises(ConfigError, match="needs 1 threshold"):
        comparison.cascade(["small", "big"], "judge:confidence", [0.5, 0.6])
    with pytest.raises(ConfigError, match="no variant 'huge'"):
        comparison.cascade(["small", "huge"], "judge:confidence", [0.5])


def test_search_finds_the_best_cascade_under_the_budget_and_the_frontier(store: Store) -> None:
    comparison = judgekit.compare(cascade_run(store), store=store, resamples=100)
    found = comparison.search_cascade("judge:confidence", budget=10.0)
    assert found.best is not None
    assert found.best.order == ["small", "big"] and found.best.accuracy == pytest.approx(0.95)
    assert found.best.cost_per_1k is not None and found.best.cost_per_1k <= 10.0
    # Brute force over the same grid: nothing affordable is more accurate.
    tried = [comparison.cascade(["small", "big"], "judge:confidence", [t])
             for t in (0.4, 0.9, 0.95)]
    tried += [comparison.cascade([label], "judge:confidence", []) for label in ("small", "big")]
    tried += [comparison.cascade(["big", "small"], "judge:confidence", [0.99])]
    assert found.evaluated == len(tried)
    assert max(r.accuracy for r in tried if r.cost_per_1k <= 10.0) == found.best.accuracy
    # The frontier is exactly the undominated configurations.
    for a, b in itertools.permutations(found.frontier, 2):
        assert not (a.accuracy >= b.accuracy and a.cost_per_1k <= b.cost_per_1k)
    assert [(r.accuracy, r.cost_per_1k) for r in found.frontier] == \
        [(r.accuracy, r.cost_per_1k) for r in frontier(tried)]
    assert found.frontier[0].order == ["small"]
    unbounded = comparison.search_cascade("judge:confidence")
    assert unbounded.best is not None and unbounded.best.accuracy == pytest.approx(0.95)


def test_search_with_a_holdout_reports_the_chosen_cascade_on_unseen_cases(store: Store) -> None:
    comparison = judgekit.compare(cascade_run(store), store=store, resamples=100, seed=3)
    found = comparison.search_cascade("judge:confidence", budget=10.0, holdout=0.25)
    assert (found.n_fit, found.n_holdout) == (15, 5)
    assert found.best is not None and found.best_holdout is not None
    assert found.best_holdout.n_cases == 5
    assert found.best_holdout.order == found.best.order
    with pytest.raises(ConfigError, match="--holdout"):
        comparison.search_cascade("judge:confidence", holdout=1.5)


def test_cascades_need_a_pass_fail_metric(store: Store) -> None:
    run = store_run(store, {"a": [Spec("e0", passed=None, extra={"rouge": 0.4})],
                            "b": [Spec("e0", passed=None, extra={"rouge": 0.6})]})
    comparison = judgekit.compare(run, store=store, resamples=100, metric="rouge")
    with pytest.raises(ConfigError, match="pass/fail"):
        comparison.mpi()
