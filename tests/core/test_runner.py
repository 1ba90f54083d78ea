"""The runner (DESIGN §8) through the library API: results, errors, repetitions, concurrency,
streaming to the store, --retry-errors and --resume."""

from __future__ import annotations

import asyncio
import collections
import importlib.util
import sqlite3
import statistics
import textwrap
import threading
import time
from contextlib import closing
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import judgekit
from judgekit import Goals, Score, parametrize, run_suite, suite
from judgekit.api import RunInterrupted
from judgekit.errors import ConfigError, StoreError
from judgekit.runner import RunPlan
from judgekit.store import Store
from judgekit.types import CaseResult


def exact(*, outputs: Any, reference_outputs: Any) -> bool:
    return bool(outputs == reference_outputs)


def unrewritten(source: str) -> dict[str, Any]:
    """Define functions outside pytest's assertion rewriting, so ``assert`` behaves as in a
    user's suite (pytest would append its own introspection to the message)."""
    namespace: dict[str, Any] = {"time": time, "ANSWERS": ANSWERS, "SLEEP": SLEEP}
    exec(compile(textwrap.dedent(source), "<user code>", "exec"), namespace)
    return namespace


def cases_by_id(result: judgekit.EvalResult) -> dict[str, CaseResult]:
    return {c.example_id: c for _, c in result.cases()}


def case_rows(store: Store, run_id: str) -> collections.Counter[tuple[str, str, int]]:
    """(experiment, example, repetition) → number of stored case rows."""
    return collections.Counter(store.db.execute(
        "SELECT c.experiment_id, c.example_id, c.repetition FROM cases c"
        " JOIN experiments e ON e.id = c.experiment_id WHERE e.run_id=?", (run_id,)).fetchall())


# -- results ---------------------------------------------------------------------------------

QA = [
    {"id": "a", "inputs": {"q": "capital of France"}, "reference": "Paris"},
    {"id": "b", "inputs": {"q": "2+2"}, "reference": "4"},
    {"id": "c", "inputs": {"q": "largest planet"}, "reference": "Jupiter"},
    {"id": "d", "inputs": {"q": "boom"}, "reference": "x"},
    {"id": "e", "inputs": {"q": "assert"}, "reference": "y"},
]
ANSWERS = {"capital of France": "Paris", "2+2": "4", "largest planet": "Saturn"}
SLEEP = {"a": 0.01, "b": 0.02, "c": 0.03, "d": 0.0, "e": 0.04}


def test_evaluate_scores_means_pass_rate_latency_and_goals(store: Store) -> None:
    evaluated: list[str] = []

    target = unrewritten("""
        def target(q, example):
            time.sleep(SLEEP[example.id])
            if q == "boom":
                raise ValueError("no answer for boom")
            assert q != "assert", "refused to answer"
            return ANSWERS[q]
        """)["target"]

    def exact_noted(*, outputs: Any, reference_outputs: Any, example: Any) -> dict[str, Any]:
        evaluated.append(example.id)
        ok = outputs == reference_outputs
        return {"score": ok, "comment": None if ok else f"wanted {reference_outputs!r}"}

    result = judgekit.evaluate(
        target, QA, [exact_noted], store=store, concurrency=2,
        goals=Goals(accuracy=("exact_noted", 0.5), cost_per_1k=1.0, p99_latency_s=30.0),
    )
    (exp,) = result.experiments
    summary = exp.summary
    assert summary is not None
    assert (summary["n_cases"], summary["n_errors"], summary["n_passed"]) == (5, 1, 2)
    assert summary["pass_rate"] == pytest.approx(2 / 5)
    noted = summary["scores"]["exact_noted"]
    # Mean over ok verdicts (a, b right, c wrong); d raised and e's assert fired: errors.
    assert {k: noted[k] for k in ("n_ok", "n_unscored", "n_error", "n_skipped")} == {
        "n_ok": 3, "n_unscored": 0, "n_error": 2, "n_skipped": 0}
    assert noted["mean"] == pytest.approx(2 / 3)
    assert noted["pass_rate"] == pytest.approx(2 / 3)
    assert summary["scores"]["assertion"]["mean"] == 0.0
    assert summary["scores"]["assertion"]["n_ok"] == 1
    assert summary["cost_usd"] == {"target": 0.0, "judge": 0.0, "total": 0.0,
                                   "per_1k_cases": 0.0}
    assert summary["tokens"] == {"prompt": 0, "completion": 0, "cached": 0}
    # Latency is over cases that produced outputs: numpy's linear percentiles of the stored ones.
    cases = cases_by_id(result)
    lat = [cases[i].latency_s for i in "abce"]
    assert summary["latency_s"]["mean"] == pytest.approx(float(np.mean(lat)), rel=1e-9)
    assert summary["latency_s"]["p50"] == pytest.approx(float(np.percentile(lat, 50)), rel=1e-9)
    assert summary["latency_s"]["p99"] == pytest.approx(float(np.percentile(lat, 99)), rel=1e-9)
    for i in "abce":
        assert SLEEP[i] <= cases[i].latency_s < SLEEP[i] + 5.0
    # Goals: errored cases count as 0 toward accuracy (2 of 5), so 0.5 is missed.
    assert [{k: g[k] for k in ("name", "metric", "target", "met")} for g in exp.goal_results
            or []] == [
        {"name": "accuracy", "metric": "exact_noted", "target": 0.5, "met": False},
        {"name": "cost", "metric": "cost_per_1k", "target": 1.0, "met": True},
        {"name": "p99_latency", "metric": "latency_p99", "target": 30.0, "met": True},
    ]
    goals = exp.goal_results or []
    assert goals[0]["actual"] == pytest.approx(2 / 5)
    assert goals[1]["actual"] == 0.0
    assert goals[2]["actual"] == summary["latency_s"]["p99"]
    assert result.goals_met is False
    assert result.exit_code() == 1
    # The target's exception is the case's error; the run went on; evaluators were not called.
    assert sorted(evaluated) == ["a", "b", "c"]
    d = cases["d"]
    assert d.outputs is None and d.error is not None
    assert (d.error.type, d.error.message) == ("ValueError", "no answer for boom")
    assert d.error.traceback is not None
    # The user's frames only (the raise is line 5 of the target's source), no judgekit ones.
    assert d.error.traceback == ('Traceback (most recent call last):\n'
                                 '  File "<user code>", line 5, in target\n'
                                 'ValueError: no answer for boom\n')
    assert [(s.key, s.status, s.comment) for s in d.scores] == [
        ("exact_noted", "error", "not evaluated: the target raised ValueError: no answer for boom")]
    # An assert in the target is a failed `assertion` score with its message, not a crash.
    e = cases["e"]
    assert e.error is None and e.passed is False
    assert [(s.key, s.score, s.passed, s.status, s.comment) for s in e.scores] == [
        ("assertion", 0.0, False, "ok", "refused to answer"),
        ("exact_noted", None, None, "error",
         "not evaluated: the target's assertion failed: refused to answer"),
    ]
    c = cases["c"]
    assert [(s.key, s.score, s.passed, s.comment) for s in c.scores] == [
        ("exact_noted", 0.0, False, "wanted 'Jupiter'")]
    assert cases["a"].outputs == "Paris" and cases["a"].passed


def test_goals_met_exit_zero_and_variants_side_by_side(store: Store) -> None:
    def target(q: str, style: str) -> str:
        return ANSWERS.get(q, "?") if style == "good" else "?"

    result = judgekit.evaluate(target, QA[:2], [exact], store=store,
                               variants={"style": ["good", "bad"]},
                               goals=Goals(accuracy=("exact", 1.0)))
    assert [e.variant_label for e in result.experiments] == ["good", "bad"]
    assert [e.variant for e in result.experiments] == [{"style": "good"}, {"style": "bad"}]
    means = [(e.summary or {})["scores"]["exact"]["mean"] for e in result.experiments]
    assert means == [1.0, 0.0]
    assert [[g["met"] for g in e.goal_results or []] for e in result.experiments] == [[True],
                                                                                      [False]]
    assert result.exit_code() == 1
    only_good = judgekit.evaluate(target, QA[:2], [exact], store=store,
                                  variants={"style": ["good"]},
                                  goals=Goals(accuracy=("exact", 1.0)))
    assert only_good.goals_met and only_good.exit_code() == 0
    assert only_good.exit_code(strict=True) == 0


def test_strict_fails_on_a_failed_check_without_goals(store: Store) -> None:
    result = judgekit.evaluate(lambda q: ANSWERS[q], QA[:3], [exact], store=store)
    assert result.exit_code() == 0
    assert result.exit_code(strict=True) == 1


def test_evaluator_failures_become_scores_and_the_run_goes_on(store: Store) -> None:
    def raises(*, outputs: Any) -> bool:
        raise KeyError("missing field")

    asserts = unrewritten("""
        def asserts(*, outputs):
            assert outputs == "nope", f"got {outputs!r}"
            return True
        """)["asserts"]

    def returns_object(*, outputs: Any) -> object:
        return object()

    def bad_status(*, outputs: Any) -> dict[str, Any]:
        return {"score": 1.0, "status": "maybe"}

    def no_verdict(*, outputs: Any) -> dict[str, Any]:
        return {"comment": "the judge gave no GRADE line"}

    result = judgekit.evaluate(lambda q: q, [{"id": "a", "inputs": {"q": "x"}}],
                               [raises, asserts, returns_object, bad_status, no_verdict, exact],
                               store=store)
    (case,) = [c for _, c in result.cases()]
    got = {s.key: (s.status, s.score, s.passed, s.comment) for s in case.scores}
    assert got["raises"] == ("error", None, None, "KeyError: 'missing field'")
    assert got["asserts"] == ("ok", 0.0, False, "got 'x'")
    assert got["returns_object"][0] == "error"
    assert "returned object" in str(got["returns_object"][3])
    assert got["bad_status"][0] == "error"
    assert got["no_verdict"] == ("unscored", None, None, "the judge gave no GRADE line")
    assert got["exact"] == ("ok", 0.0, False, None)  # reference None != "x"
    assert [s.key for s in case.scores] == ["raises", "asserts", "returns_object", "bad_status",
                                            "no_verdict", "exact"]
    summary = result.experiments[0].summary or {}
    assert summary["scores"]["no_verdict"]["n_unscored"] == 1
    assert summary["scores"]["no_verdict"]["mean"] is None
    assert summary["scores"]["raises"]["n_error"] == 1


def test_evaluate_resolves_a_data_path_against_the_calling_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    (tmp_path / "proj").mkdir()
    (tmp_path / "proj" / "rows.jsonl").write_text('{"id": "r", "inputs": {"q": 1}, '
                                                  '"reference": 2}\n')
    (tmp_path / "proj" / "run_it.py").write_text(
        "import judgekit\n\n"
        "def go(store):\n"
        "    return judgekit.evaluate(lambda q: q + 1, 'rows.jsonl',\n"
        "                            [lambda *, outputs, reference_outputs:\n"
        "                             outputs == reference_outputs], store=store)\n")
    monkeypatch.chdir(tmp_path)
    spec = importlib.util.spec_from_file_location("jk_runner_caller", tmp_path / "proj"
                                                  / "run_it.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    result = module.go(tmp_path / "j.db")
    try:
        assert [(c.example_id, c.outputs) for _, c in result.cases()] == [("r", 2)]
        assert (result.experiments[0].summary or {})["scores"]["<lambda>"]["mean"] == 1.0
    finally:
        result.store.close()


# -- repetitions -----------------------------------------------------------------------------


def test_repeat_runs_every_case_n_times_with_spread(store: Store) -> None:
    # Repetition 0 gets all 4 right, 1 gets 2, 2 gets 3: means 1.0, 0.5, 0.75.
    wrong = {1: {"c", "d"}, 2: {"d"}}
    data = [{"id": i, "inputs": {}, "reference": "ok"} for i in "abcd"]

    def target(example: Any, repetition: int) -> str:
        return "bad" if example.id in wrong.get(repetition, set()) else "ok"

    result = judgekit.evaluate(target, data, [exact], store=store, repeat=3)
    got = sorted((c.example_id, c.repetition, c.outputs) for _, c in result.cases())
    assert got == sorted((i, r, "bad" if i in wrong.get(r, set()) else "ok")
                         for i in "abcd" for r in range(3))
    summary = result.experiments[0].summary or {}
    assert summary["n_cases"] == 12
    entry = summary["scores"]["exact"]
    assert entry["mean"] == pytest.approx(9 / 12)
    assert sorted(entry["per_repetition"]) == pytest.approx([0.5, 0.75, 1.0])
    assert entry["std"] == pytest.approx(statistics.stdev([1.0, 0.5, 0.75]))
    assert entry["std"] == pytest.approx(0.25)


# -- concurrency -----------------------------------------------------------------------------


@pytest.mark.parametrize("concurrency", [1, 4])
def test_async_target_in_flight_is_bounded_and_reaches_the_bound(store: Store,
                                                                 concurrency: int) -> None:
    in_flight = 0
    peak = 0

    async def target(i: int) -> int:
        nonlocal in_flight, peak
        in_flight += 1
        peak = max(peak, in_flight)
        await asyncio.sleep(0.02)
        in_flight -= 1
        return i

    data = [{"inputs": {"i": i}, "reference": i} for i in range(12)]
    result = judgekit.evaluate(target, data, [exact], store=store, concurrency=concurrency)
    assert peak == concurrency
    assert (result.experiments[0].summary or {})["n_cases"] == 12


def test_sync_targets_run_concurrently_in_worker_threads(store: Store) -> None:
    # Each call waits for two others at the barrier: that only completes when three calls are
    # truly running at once (serial execution would break the barrier after the timeout).
    barrier = threading.Barrier(3, timeout=10)
    threads: set[str] = set()

    def target(i: int) -> int:
        threads.add(threading.current_thread().name)
        barrier.wait()
        return i

    data = [{"inputs": {"i": i}, "reference": i} for i in range(6)]
    result = judgekit.evaluate(target, data, [exact], store=store, concurrency=3)
    summary = result.experiments[0].summary or {}
    assert (summary["n_errors"], summary["scores"]["exact"]["mean"]) == (0, 1.0)
    assert len(threads) >= 3
    assert threading.main_thread().name not in threads
    assert all(t.startswith("judgekit-target") for t in threads)


def test_a_cases_evaluators_run_concurrently_and_keep_their_order(store: Store) -> None:
    # Three async evaluators per case, each waiting until all three of that case have
    # started: it completes only when they run at once (in turn, the first would time out).
    started: collections.defaultdict[Any, int] = collections.defaultdict(int)

    def make(name: str) -> Any:
        async def ev(outputs: Any) -> Score:
            started[outputs] += 1
            for _ in range(1000):
                if started[outputs] == 3:
                    return Score(key=name, score=1.0)
                await asyncio.sleep(0.001)
            return Score(key=name, score=0.0, comment="ran alone")
        ev.__name__ = name
        return ev

    data = [{"inputs": {"i": i}, "reference": i} for i in range(4)]
    result = judgekit.evaluate(lambda i: i, data, [make("a"), make("b"), make("c")],
                               store=store, concurrency=2)
    cases = list(store.iter_cases(result.experiments[0].id, with_calls=False))
    assert [[s.key for s in c.scores] for c in cases] == [["a", "b", "c"]] * 4
    assert all(s.score == 1.0 for c in cases for s in c.scores)


def test_when_one_evaluator_stops_the_run_the_others_are_cancelled() -> None:
    from judgekit.runner import _together

    cancelled: list[str] = []

    async def stop() -> None:
        await asyncio.sleep(0)
        raise RuntimeError("stop")

    async def slow(name: str) -> None:
        try:
            await asyncio.sleep(10)
        except asyncio.CancelledError:
            cancelled.append(name)
            raise

    async def main() -> None:
        with pytest.raises(RuntimeError, match="stop"):
            await _together([stop(), slow("b"), slow("c")])
        await asyncio.sleep(0)  # let the cancellations land

    asyncio.run(main())
    assert sorted(cancelled) == ["b", "c"]


def test_bad_concurrency_and_repeat_are_config_errors(store: Store) -> None:
    with pytest.raises(ConfigError, match="--concurrency must be at least 1, got 0"):
        judgekit.evaluate(lambda: 1, [{"inputs": {}}], store=store, concurrency=0)
    with pytest.raises(ConfigError, match="--repeat must be at least 1, got 0"):
        judgekit.evaluate(lambda: 1, [{"inputs": {}}], store=store, repeat=0)


# -- streaming to the store ------------------------------------------------------------------


def test_each_case_is_committed_before_the_next_starts(store: Store) -> None:
    seen: list[int] = []

    def target(i: int) -> int:
        # A second connection sees only committed data: every earlier case must be there.
        with closing(sqlite3.connect(f"file:{store.path}?mode=ro", uri=True)) as other:
            seen.append(other.execute("SELECT COUNT(*) FROM cases").fetchone()[0])
        return i

    data = [{"inputs": {"i": i}, "reference": i} for i in range(6)]
    judgekit.evaluate(target, data, [exact], store=store, concurrency=1)
    assert seen == [0, 1, 2, 3, 4, 5]


def test_scores_are_committed_with_their_case(store: Store) -> None:
    counts: list[tuple[int, int]] = []

    def target(i: int) -> int:
        with closing(sqlite3.connect(f"file:{store.path}?mode=ro", uri=True)) as other:
            counts.append(other.execute(
                "SELECT (SELECT COUNT(*) FROM cases), (SELECT COUNT(*) FROM scores)").fetchone())
        return i

    def second(*, outputs: Any) -> float:
        return 0.5

    data = [{"inputs": {"i": i}, "reference": i} for i in range(4)]
    judgekit.evaluate(target, data, [exact, second], store=store, concurrency=1)
    assert counts == [(n, 2 * n) for n in range(4)]


# -- retry errors and resume -----------------------------------------------------------------


def make_flaky_suite(calls: collections.Counter[str], flaky: set[str]) -> Any:
    failed_once: set[str] = set()

    @suite(data=[{"id": i, "inputs": {"q": i}, "reference": i.upper()} for i in "abcde"],
           evaluators=[exact])
    def test_flaky(q: str) -> str:
        calls[q] += 1
        if q in flaky and q not in failed_once:
            failed_once.add(q)
            raise TimeoutError(f"upstream timeout for {q}")
        return q.upper()

    return test_flaky


def test_retry_errors_redoes_only_the_errored_cases(store: Store) -> None:
    calls: collections.Counter[str] = collections.Counter()
    s = make_flaky_suite(calls, {"b", "d"})
    first = run_suite(s, store=store, concurrency=2)
    summary = first.experiments[0].summary or {}
    assert (summary["n_cases"], summary["n_errors"]) == (5, 2)
    assert sorted(c.example_id for _, c in first.cases() if c.error) == ["b", "d"]
    assert first.exit_code(strict=True) == 1

    retried = run_suite(s, store=store, concurrency=2, retry_errors=first.run_id)
    assert retried.run_id == first.run_id
    assert calls == {"a": 1, "b": 2, "c": 1, "d": 2, "e": 1}
    summary = retried.experiments[0].summary or {}
    assert (summary["n_cases"], summary["n_errors"]) == (5, 0)
    assert summary["scores"]["exact"]["mean"] == 1.0
    assert retried.exit_code(strict=True) == 0
    rows = case_rows(store, first.run_id)
    assert sorted(k[1] for k in rows) == list("abcde")
    assert set(rows.values()) == {1}
    assert store.get_run(first.run_id).status == "complete"


class StopAfter:
    """A progress listener that presses Ctrl-C after ``n`` cases are stored."""

    def __init__(self, n: int) -> None:
        self.n = n
        self.done = 0

    def start(self, plan: RunPlan) -> None: ...

    def case_done(self, experiment: Any, case: CaseResult) -> None:
        self.done += 1
        if self.done == self.n:
            raise KeyboardInterrupt

    def finish(self, plan: RunPlan) -> None: ...


def make_counting_suite(calls: list[tuple[str, str]], rows: list[dict[str, Any]]) -> Any:
    @suite(data=rows, evaluators=[exact])
    @parametrize("model", ["m1", "m2"])
    def test_resumable(q: str, model: str) -> str:
        calls.append((q, model))
        return q

    return test_resumable


ROWS = [{"id": i, "inputs": {"q": i}, "reference": i} for i in "abcd"]


def test_resume_skips_the_cases_already_stored(store: Store) -> None:
    calls: list[tuple[str, str]] = []
    s = make_counting_suite(calls, ROWS)
    with pytest.raises(RunInterrupted) as info:
        run_suite(s, store=store, concurrency=1, progress=StopAfter(3))
    run_id = info.value.run_id
    assert str(info.value) == (f"interrupted: 3/8 cases stored in {store.path}; finish with: "
                               f"judgekit eval {s.qualname} --resume {run_id}")
    assert store.get_run(run_id).status == "interrupted"
    # Variants advance together: a×m1, a×m2, b×m1 are stored.
    assert calls == [("a", "m1"), ("a", "m2"), ("b", "m1")]
    assert sum(case_rows(store, run_id).values()) == 3

    calls.clear()
    result = run_suite(s, store=store, concurrency=1, resume=run_id)
    assert result.run_id == run_id
    assert calls == [("b", "m2"), ("c", "m1"), ("c", "m2"), ("d", "m1"), ("d", "m2")]
    rows = case_rows(store, run_id)
    assert len(rows) == 8 and set(rows.values()) == {1}
    assert [(e.summary or {})["n_cases"] for e in result.experiments] == [4, 4]
    assert store.get_run(run_id).status == "complete"


def test_resuming_with_changed_data_or_variants_is_refused(store: Store) -> None:
    calls: list[tuple[str, str]] = []
    s = make_counting_suite(calls, ROWS)
    with pytest.raises(RunInterrupted) as info:
        run_suite(s, store=store, concurrency=1, progress=StopAfter(2))
    run_id = info.value.run_id
    old_version = s.data.version

    changed = make_counting_suite(calls, [*ROWS[:3], {"id": "d", "inputs": {"q": "D"},
                                                      "reference": "d"}])
    assert changed.data.version != old_version
    calls.clear()
    with pytest.raises(ConfigError) as err:
        run_suite(changed, store=store, resume=run_id)
    assert str(err.value) == (
        f"run {run_id} used dataset version {old_version}, the data is now "
        f"{changed.data.version}: the examples changed, so start a new run instead of resuming")
    assert calls == []

    @suite(data=ROWS, evaluators=[exact])
    @parametrize("model", ["m1", "m3"])
    def test_resumable(q: str, model: str) -> str:
        return q

    with pytest.raises(ConfigError, match=r"compared variants \['m1', 'm2'\], the suite now has "
                                          r"\['m1', 'm3'\]"):
        run_suite(test_resumable, store=store, resume=run_id)

    @suite(data=ROWS, evaluators=[exact])
    def test_other(q: str) -> str:
        return q

    with pytest.raises(ConfigError, match=f"run {run_id} is of suite 'test_resumable', not "
                                          "'test_other'"):
        run_suite(test_other, store=store, resume=run_id)
    with pytest.raises(StoreError, match="no run 'ffffffffff'"):
        run_suite(s, store=store, resume="ffffffffff")
    with pytest.raises(ConfigError, match="either --resume or --retry-errors"):
        run_suite(s, store=store, resume=run_id, retry_errors=run_id)
    assert store.get_run(run_id).status == "interrupted"  # refused resumes change nothing
    assert sum(case_rows(store, run_id).values()) == 2


def test_resume_keeps_the_runs_repeat(store: Store) -> None:
    calls: list[tuple[str, str]] = []
    s = make_counting_suite(calls, ROWS[:2])
    with pytest.raises(RunInterrupted) as info:
        run_suite(s, store=store, concurrency=1, repeat=2, progress=StopAfter(1))
    calls.clear()
    result = run_suite(s, store=store, concurrency=1, resume=info.value.run_id)  # repeat=1 given
    assert len(calls) == 7
    assert sorted((c.example_id, c.repetition) for _, c in result.cases(variant="m1")) == [
        ("a", 0), ("a", 1), ("b", 0), ("b", 1)]


def test_score_objects_from_evaluators_are_stored_as_given(store: Store) -> None:
    def graded(*, outputs: Any) -> Score:
        return Score(key="", score=0.5, value="PARTIAL", passed=True, comment="half right",
                     metadata={"raw": "GRADE: PARTIAL"})

    result = judgekit.evaluate(lambda: "x", [{"id": "a", "inputs": {}}], [graded], store=store)
    (case,) = [c for _, c in result.cases()]
    assert [s.to_dict() for s in case.scores] == [{
        "key": "graded", "score": 0.5, "value": "PARTIAL", "passed": True, "status": "ok",
        "comment": "half right", "metadata": {"raw": "GRADE: PARTIAL"}}]


def test_retry_errors_also_redoes_cases_whose_evaluator_errored(store: Store) -> None:
    """A judge call that failed for good leaves an ``error`` score: retrying must redo it."""
    judge_calls: collections.Counter[str] = collections.Counter()
    target_calls: collections.Counter[str] = collections.Counter()

    def flaky_judge(*, outputs: Any, reference_outputs: Any) -> bool:
        judge_calls[outputs] += 1
        if outputs == "b" and judge_calls[outputs] == 1:
            raise TimeoutError("judge timed out")
        return bool(outputs == reference_outputs)

    @suite(data=ROWS, evaluators=[flaky_judge])
    def test_judged(q: str) -> str:
        target_calls[q] += 1
        return q

    first = run_suite(test_judged, store=store)
    b = cases_by_id(first)["b"]
    assert b.error is None and [s.status for s in b.scores] == ["error"]
    assert "TimeoutError: judge timed out" in (b.scores[0].comment or "")
    retried = run_suite(test_judged, store=store, retry_errors=first.run_id)
    assert target_calls == {"a": 1, "b": 2, "c": 1, "d": 1}
    assert [s.status for s in cases_by_id(retried)["b"].scores] == ["ok"]
    assert (retried.experiments[0].summary or {})["scores"]["flaky_judge"]["n_error"] == 0


def test_an_internal_error_marks_the_run_failed_and_keeps_finished_cases(
        store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    real_write = Store.write_cases
    written: list[str] = []

    def write_then_break(self: Store, cases: list[tuple[str, CaseResult]]) -> None:
        if written:
            raise RuntimeError("bug in the store layer")
        real_write(self, cases)
        written.extend(case.example_id for _, case in cases)

    monkeypatch.setattr(Store, "write_cases", write_then_break)

    @suite(data=ROWS, evaluators=[exact])
    def test_breaks(q: str) -> str:
        return q

    with pytest.raises(RuntimeError, match="bug in the store layer"):
        run_suite(test_breaks, store=store, concurrency=1)
    (run,) = store.list_runs()
    assert run.status == "failed"
    assert [c.example_id for c in store.iter_cases(store.experiments(run.id)[0].id)] == written


def test_cases_are_listed_in_dataset_order_whatever_order_they_finished(store: Store) -> None:
    delays = {"a": 0.06, "b": 0.0, "c": 0.03, "d": 0.0}

    @suite(data=ROWS, evaluators=[exact])
    async def test_ordered(q: str) -> str:
        await asyncio.sleep(delays[q])
        return q

    result = run_suite(test_ordered, store=store, concurrency=4)
    finished = [r[0] for r in store.db.execute("SELECT example_id FROM cases ORDER BY id")]
    assert finished != list("abcd")  # they really finished out of order
    assert [c.example_id for _, c in result.cases()] == list("abcd")


def test_a_goal_on_a_score_no_evaluator_writes_is_refused_when_the_suite_loads() -> None:
    from judgekit.errors import SuiteError

    with pytest.raises(SuiteError, match=r"a goal names the score 'exactt', which no evaluator "
                                         r"writes \(evaluator keys: exact\)"):
        @suite(data=ROWS, evaluators=[exact], goals=Goals(accuracy=("exactt", 0.9)))
        def test_typo(q: str) -> str:
            return q
    # Sub-keys of an evaluator (json_match per_key writes "json_match.<field>") are fine.
    @suite(data=ROWS, evaluators=[exact], goals=Goals(scores={"exact.strict": 0.9}))
    def test_subkey(q: str) -> str:
        return q


def test_run_ids_are_matched_by_prefix_literally(store: Store) -> None:
    @suite(data=ROWS, evaluators=[exact])
    def test_ids(q: str) -> str:
        return q

    run_id = run_suite(test_ids, store=store).run_id
    assert store.get_run(run_id[:4]).id == run_id
    with pytest.raises(StoreError, match="no run"):
        store.get_run("_" * 4)  # '_' is a LIKE wildcard; ids are matched literally


def test_sync_target_latency_is_its_own_run_time_not_thread_scheduling(
        store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    """Latency is timed inside the worker thread: waiting to be scheduled is not the target's."""
    import judgekit.runner

    real = judgekit.runner.to_daemon_thread

    async def slow_to_start(fn: Any, /, *args: Any, **kwargs: Any) -> Any:
        await asyncio.sleep(0.2)  # a thread that takes 200 ms to get going
        return await real(fn, *args, **kwargs)

    monkeypatch.setattr(judgekit.runner, "to_daemon_thread", slow_to_start)

    @suite(data=ROWS, evaluators=[exact])
    def test_quick(q: str) -> str:
        return q

    result = run_suite(test_quick, store=store, concurrency=4)
    latencies = [c.latency_s for _, c in result.cases()]
    assert len(latencies) == 4 and max(latencies) < 0.1  # the function itself is ~µs


def test_an_evaluate_result_closes_the_store_it_opened(tmp_path: Path) -> None:
    with judgekit.evaluate(lambda q: q, data=ROWS, evaluators=[exact],
                           store=tmp_path / "j.db") as result:
        assert result.experiments[0].summary["scores"]["exact"]["mean"] == 1.0  # type: ignore[index]
    with pytest.raises(sqlite3.ProgrammingError, match="closed"):
        result.store.db.execute("SELECT 1")


def test_waiting_for_a_providers_one_time_setup_is_not_the_cases_latency(store: Store) -> None:
    """The openai SDK's import runs in the background while cases start; a call that needs it
    waits in the model's ``prepare``, and that wait is not the target's latency (the call's
    own latency never included it). Concurrent calls of one case share the one wait."""
    from judgekit.models.mock import MockModel

    class SlowSetup(MockModel):
        async def prepare(self) -> None:
            await asyncio.sleep(0.5)

    model = SlowSetup("Paris", model="gpt-4o-mini")

    async def target(q: str, llm: Any) -> str:
        one, _ = await asyncio.gather(llm.chat(q), llm.chat(q))
        await asyncio.sleep(0.05)  # the target's own time, which does count
        return str(one.text)

    result = judgekit.evaluate(target, data=ROWS[:1], evaluators=[],
                               variants={"model": [model]}, store=store)
    ((_, case),) = list(result.cases())
    assert len(case.calls) == 2 and all(c.latency_s < 0.5 for c in case.calls)
    assert 0.05 <= case.latency_s < 0.5
