"""The paired tests against scipy and statsmodels on fixed data."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats
from statsmodels.stats.contingency_tables import mcnemar

from judgekit.decide.stats import bootstrap_ci, mcnemar_exact, paired_t, paired_test

# Paired pass/fail verdicts of a baseline and a variant on 40 examples.
BASE = np.array([1] * 30 + [0] * 10, dtype=float)
OTHER = np.array([1] * 22 + [0] * 8 + [1] * 3 + [0] * 7, dtype=float)


@pytest.mark.parametrize(("worse", "better"), [(8, 3), (0, 0), (1, 0), (12, 12), (25, 4)])
def test_mcnemar_exact_equals_statsmodels(worse: int, better: int) -> None:
    table = [[50, worse], [better, 30]]
    assert mcnemar_exact(worse, better) == pytest.approx(
        mcnemar(table, exact=True).pvalue, rel=1e-12)


def test_paired_test_on_pass_fail_counts_the_discordant_pairs() -> None:
    result = paired_test(BASE, OTHER, "pass_fail", alpha=0.05, resamples=2000, seed=3)
    assert (result.worse, result.better, result.n_pairs) == (8, 3, 40)
    assert result.delta == pytest.approx((OTHER - BASE).mean())
    table = [[22, 8], [3, 7]]  # rows: baseline pass/fail; columns: variant pass/fail
    assert result.p_value == pytest.approx(mcnemar(table, exact=True).pvalue)
    assert result.test == "mcnemar_exact"


DIFFS = np.array([0.12, -0.05, 0.3, 0.08, 0.0, 0.21, -0.11, 0.04, 0.15, 0.09, -0.02, 0.33,
                  0.07, 0.18, -0.04, 0.1, 0.05, 0.26, 0.01, -0.08])


def test_bootstrap_ci_equals_scipy_with_the_same_seed() -> None:
    ours = bootstrap_ci(DIFFS, confidence=0.95, resamples=5000, seed=11)
    ref = stats.bootstrap((DIFFS,), np.mean, n_resamples=5000, confidence_level=0.95,
                          method="percentile", random_state=np.random.default_rng(11))
    assert ours == pytest.approx((ref.confidence_interval.low, ref.confidence_interval.high))
    assert ours is not None and ours[0] < DIFFS.mean() < ours[1]


def test_bootstrap_ci_is_seeded_and_degenerate_data_give_a_point() -> None:
    a = bootstrap_ci(DIFFS, confidence=0.9, resamples=1000, seed=1)
    assert a == bootstrap_ci(DIFFS, confidence=0.9, resamples=1000, seed=1)
    assert a != bootstrap_ci(DIFFS, confidence=0.9, resamples=1000, seed=2)
    assert bootstrap_ci(np.full(7, -1.0), confidence=0.95, resamples=100, seed=0) == (-1, -1)
    assert bootstrap_ci(np.array([0.5]), confidence=0.95, resamples=100, seed=0) is None


def test_large_few_valued_differences_are_resampled_as_counts_with_the_same_distribution(
) -> None:
    # 12,000 pass/fail pairs x 5,000 resamples is past DIRECT_WORK: drawn as multinomial
    # counts; the interval matches scipy's direct bootstrap within Monte Carlo error.
    rng = np.random.default_rng(7)
    diffs = rng.choice([-1.0, 0.0, 1.0], p=[0.12, 0.8, 0.08], size=12_000)
    ours = bootstrap_ci(diffs, confidence=0.95, resamples=5000, seed=0)
    ref = stats.bootstrap((diffs,), np.mean, n_resamples=5000, method="percentile",
                          random_state=np.random.default_rng(0), batch=100)
    assert ours == pytest.approx((ref.confidence_interval.low, ref.confidence_interval.high),
                                 abs=1e-3)
    assert ours == bootstrap_ci(diffs, confidence=0.95, resamples=5000, seed=0)  # seeded


def test_paired_t_equals_scipy_ttest_rel() -> None:
    rng = np.random.default_rng(2)
    base = rng.uniform(0, 1, 20)
    other = base + DIFFS
    assert paired_t(other - base) == pytest.approx(stats.ttest_rel(other, base).pvalue)
    assert paired_t(other - base) < 0.05  # most differences are positive
    result = paired_test(base, other, "numeric", alpha=0.05, resamples=500, seed=0)
    assert result.p_value == pytest.approx(stats.ttest_rel(other, base).pvalue)
    assert result.test == "paired_t"


def test_paired_t_without_spread() -> None:
    assert paired_t(np.full(5, 0.2)) == 0.0  # the same gain on every pair
    assert paired_t(np.zeros(5)) == 1.0
    assert paired_t(np.array([0.3])) == 1.0


def test_no_difference_and_no_pairs() -> None:
    same = paired_test(BASE, BASE, "numeric", alpha=0.05, resamples=100, seed=0)
    assert (same.delta, same.p_value, same.ci) == (0.0, 1.0, (0.0, 0.0))
    empty = paired_test(np.array([]), np.array([]), "pass_fail", alpha=0.05, resamples=100,
                        seed=0)
    assert (empty.n_pairs, empty.delta, empty.p_value) == (0, None, None)
