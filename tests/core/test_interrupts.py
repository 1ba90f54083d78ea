"""Killed and interrupted runs (issue #2's acceptance check): nothing that finished is lost, and
``--resume`` completes the run without calling the target again for stored cases."""

from __future__ import annotations

import collections
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from contextlib import closing
from pathlib import Path

import pytest

from judgekit.store import Store

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals"),
]

N_EXAMPLES = 40

SUITE = """\
import asyncio
import os
import time

from judgekit import dataset, suite


def exact(*, outputs, reference_outputs):
    return outputs == reference_outputs


def log_call(example_id):
    # One short O_APPEND write per call: lines from concurrent calls never interleave.
    with open(os.environ["CALL_LOG"], "a") as log:
        log.write(example_id + "\\n")


@suite(data={data}, evaluators=[exact])
{kind}def test_slow(i, example):
    log_call(example.id)
    {sleep}
    return i
"""


ROWS = [{"id": f"ex{i:02d}", "inputs": {"i": i}, "reference": i} for i in range(N_EXAMPLES)]


def write_suite(tmp_path: Path, *, is_async: bool, jsonl: bool = False) -> Path:
    """The slow suite, its examples in the suite file or (``jsonl``) streamed from a file."""
    path = tmp_path / "slow_suite.py"
    data = repr(ROWS)
    if jsonl:
        (tmp_path / "rows.jsonl").write_text("".join(json.dumps(r) + "\n" for r in ROWS))
        data = 'dataset("rows.jsonl")'
    path.write_text(SUITE.format(data=data, kind="async " if is_async else "",
                                 sleep="await asyncio.sleep(0.1)" if is_async
                                 else "time.sleep(0.1)"))
    return path


def judgekit_eval(suite: Path, db: Path, log: Path, *extra: str) -> subprocess.Popen[str]:
    env = {**os.environ, "CALL_LOG": str(log), "JUDGEKIT_STORE": str(db)}
    env.pop("JUDGEKIT_CONCURRENCY", None)
    return subprocess.Popen(
        [sys.executable, "-m", "judgekit.cli.main", "eval", str(suite), "--store", str(db),
         *extra],
        cwd=suite.parent, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def stored_cases(db: Path) -> int:
    """Cases committed so far, read through a read-only connection (0 before the table)."""
    if not db.exists():
        return 0
    try:
        with closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5)) as ro:
            return int(ro.execute("SELECT COUNT(*) FROM cases").fetchone()[0])
    except sqlite3.OperationalError:  # not created yet, or briefly busy
        return 0


def wait_for_cases(proc: subprocess.Popen[str], db: Path, n: int, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while stored_cases(db) < n:
        if proc.poll() is not None:
            out, err = proc.communicate()
            pytest.fail(f"judgekit exited early ({proc.returncode}):\n{out}\n{err}")
        if time.monotonic() > deadline:
            proc.kill()
            pytest.fail(f"fewer than {n} cases stored after {timeout}s")
        time.sleep(0.02)


def calls(log: Path) -> collections.Counter[str]:
    return collections.Counter(log.read_text().split()) if log.exists() else collections.Counter()


def only_run(db: Path) -> tuple[str, str]:
    with closing(sqlite3.connect(db)) as con:
        ((run_id, status),) = con.execute("SELECT id, status FROM runs").fetchall()
    return run_id, status


def case_counts(db: Path) -> collections.Counter[str]:
    with closing(sqlite3.connect(db)) as con:
        return collections.Counter(r[0] for r in con.execute("SELECT example_id FROM cases"))


ALL_IDS = {f"ex{i:02d}" for i in range(N_EXAMPLES)}


def resume_and_check(suite: Path, db: Path, run_id: str, stored_before: set[str],
                     first_calls: collections.Counter[str], log2: Path) -> None:
    proc = judgekit_eval(suite, db, log2, "--resume", run_id, "--concurrency", "8")
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, out + err
    assert "(resumed)" in err
    assert only_run(db) == (run_id, "complete")
    # Every example has exactly one case row.
    assert case_counts(db) == {i: 1 for i in ALL_IDS}
    second_calls = calls(log2)
    # The union of target calls covers every example ...
    assert set(first_calls) | set(second_calls) == ALL_IDS
    for example_id in ALL_IDS:
        if example_id in stored_before:
            # ... a case stored before the interruption was not run again ...
            assert (first_calls[example_id], second_calls[example_id]) == (1, 0), example_id
        else:
            # ... and one that was not stored (never started, or in flight) ran once more.
            assert second_calls[example_id] == 1, example_id
            assert first_calls[example_id] <= 1, example_id
    with Store(db) as store:
        (exp,) = store.experiments(run_id)
        assert exp.summary is not None
        assert (exp.summary["n_cases"], exp.summary["n_errors"]) == (N_EXAMPLES, 0)
        assert exp.summary["scores"]["exact"]["mean"] == 1.0


def test_sigkill_mid_run_loses_nothing_stored_and_resume_completes(tmp_path: Path) -> None:
    suite = write_suite(tmp_path, is_async=False)
    db, log1, log2 = tmp_path / "j.db", tmp_path / "calls1.log", tmp_path / "calls2.log"
    proc = judgekit_eval(suite, db, log1, "--concurrency", "2")
    wait_for_cases(proc, db, N_EXAMPLES // 2)
    proc.send_signal(signal.SIGKILL)
    proc.communicate(timeout=30)
    assert proc.returncode == -signal.SIGKILL

    # The store opens and is consistent: no torn case, every score belongs to a case.
    with closing(sqlite3.connect(db)) as con:
        assert con.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        assert con.execute("PRAGMA foreign_key_check").fetchall() == []
        assert con.execute(
            "SELECT COUNT(*) FROM cases c WHERE (SELECT COUNT(*) FROM scores s"
            " WHERE s.case_id = c.id) != 1").fetchone()[0] == 0
        assert con.execute("SELECT COUNT(*) FROM scores WHERE case_id NOT IN"
                           " (SELECT id FROM cases)").fetchone()[0] == 0
    with Store(db) as store:
        assert len(store.list_runs()) == 1
    run_id, status = only_run(db)
    assert status == "running"  # killed: nobody could mark it
    stored_before = set(case_counts(db))
    assert N_EXAMPLES // 2 <= len(stored_before) < N_EXAMPLES
    assert case_counts(db) == {i: 1 for i in stored_before}
    first_calls = calls(log1)
    assert stored_before <= set(first_calls)

    resume_and_check(suite, db, run_id, stored_before, first_calls, log2)


@pytest.mark.parametrize(("is_async", "jsonl"), [(True, False), (False, False), (True, True)],
                         ids=["async", "sync", "async-jsonl"])
def test_ctrl_c_exits_130_names_the_resume_command_and_resume_completes(
    tmp_path: Path, is_async: bool, jsonl: bool,
) -> None:
    # jsonl: the examples are streamed from the file, never held as a list, on both runs.
    suite = write_suite(tmp_path, is_async=is_async, jsonl=jsonl)
    db, log1, log2 = tmp_path / "j.db", tmp_path / "calls1.log", tmp_path / "calls2.log"
    proc = judgekit_eval(suite, db, log1, "--concurrency", "2")
    wait_for_cases(proc, db, 8)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 130, out + err
    run_id, status = only_run(db)
    assert status == "interrupted"
    n_stored = sum(case_counts(db).values())
    assert 8 <= n_stored < N_EXAMPLES
    assert "Traceback" not in out + err
    assert err.splitlines()[-1] == (
        f"interrupted: {n_stored}/{N_EXAMPLES} cases stored in {db}; finish with: "
        f"judgekit eval {suite}::test_slow --resume {run_id}")
    stored_before = set(case_counts(db))
    resume_and_check(suite, db, run_id, stored_before, calls(log1), log2)


STUCK = """\
import os
import time

from judgekit import suite


def log_call(what):
    with open(os.environ["CALL_LOG"], "a") as log:
        log.write(what + "\\n")


def slow_judge(*, outputs):
    log_call("judge")
    time.sleep(60)  # a sync judge call that hangs
    return True


@suite(data=[{{"id": f"ex{{i}}", "inputs": {{"i": i}}}} for i in range(6)],
       evaluators=[slow_judge])
def test_stuck(i):
    if i % 2:
        log_call("target")
        time.sleep(60)  # a sync model call that hangs
    return i
"""


def test_ctrl_c_does_not_wait_for_hung_sync_targets_or_judges(tmp_path: Path) -> None:
    suite = tmp_path / "stuck.py"
    suite.write_text(STUCK.format())
    db, log = tmp_path / "j.db", tmp_path / "calls.log"
    proc = judgekit_eval(suite, db, log, "--concurrency", "4")
    deadline = time.monotonic() + 30
    # Wait until both a target and a judge are blocked in their calls.
    while set(calls(log)) != {"target", "judge"}:
        assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()
        time.sleep(0.02)
    started = time.monotonic()
    proc.send_signal(signal.SIGINT)
    try:
        out, err = proc.communicate(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        pytest.fail("Ctrl-C waited for the hung calls to return")
    assert time.monotonic() - started < 10
    assert proc.returncode == 130, out + err
    assert "Traceback" not in out + err
    run_id, status = only_run(db)
    assert status == "interrupted"
    assert err.splitlines()[-1].endswith(f"--resume {run_id}")
