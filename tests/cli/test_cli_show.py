"""``judgekit runs`` and ``judgekit show RUN`` (with ``--unscored``, ``--errors``, ``--json``)."""

from __future__ import annotations

import json
from pathlib import Path

from cli_support import Cli, QaRun, Ran, judgekit

ANSI = "\x1b["


def in_qa(run: QaRun, *args: str) -> Ran:
    ran = judgekit(*args, cwd=run.root, store=run.root / "store.db")
    assert ANSI not in ran.stdout and ANSI not in ran.stderr
    assert "Traceback" not in ran.output
    return ran


def listed(stdout: str, header: str) -> dict[str, list[str]]:
    """``{example_id: [its lines]}`` under one ``variant (id) — what:`` header of ``show``."""
    lines = stdout.splitlines()
    start = lines.index(header) + 1
    out: dict[str, list[str]] = {}
    current = ""
    for line in lines[start:]:
        if not line.strip():
            break
        if line.startswith("   "):
            out[current].append(line.strip())
        else:
            current = line.strip()
            out[current] = []
    return out


def test_runs_lists_every_experiment(qa_run: QaRun) -> None:
    ran = in_qa(qa_run, "runs")
    assert ran.returncode == 0, ran.output
    rows = [line.split() for line in ran.stdout.splitlines()]
    assert rows[0] == ["id", "suite", "variant", "when", "n", "scores", "cost/1k", "status"]
    run = qa_run.run_id
    body = {r[0]: r for r in rows[1:]}
    assert set(body) == {f"{run}-1", f"{run}-2"}
    good, bad = body[f"{run}-1"], body[f"{run}-2"]
    # id, suite, variant, date, time, n, "exact", mean, cost, status
    assert good[1:3] + good[5:] == ["test_qa", "good", "4", "exact", "67%", "$0.00", "complete"]
    assert bad[1:3] + bad[5:] == ["test_qa", "bad", "4", "exact", "0%", "$0.00", "complete"]


def test_runs_on_an_empty_store(cli: Cli, tmp_path: Path) -> None:
    ran = cli("runs")
    assert ran.returncode == 0
    assert ran.stdout.startswith(f"no runs in {tmp_path / 'store.db'} yet")


def test_show_prints_failing_cases_with_their_comments(qa_run: QaRun) -> None:
    run = qa_run.run_id
    ran = in_qa(qa_run, "show", run)
    assert ran.returncode == 0, ran.output
    assert ran.stdout.splitlines()[0].startswith(
        f"run {run} · suites/qa.py::test_qa · complete · ")
    assert f"suites/qa.py::test_qa (run {run})" in ran.stdout  # the comparison table
    assert listed(ran.stdout, f"good ({run}-1) — failed:") == {
        "c": ["exact failed: expected 'Jupiter', got 'Saturn'"],
        "d": ["error RuntimeError: upstream 500"],
    }
    assert listed(ran.stdout, f"bad ({run}-2) — failed:") == {
        "a": ["exact failed: expected 'Paris', got '?'"],
        "b": ["exact failed: expected '4', got '?'"],
        "c": ["exact failed: expected 'Jupiter', got '?'"],
        "d": ["error RuntimeError: upstream 500"],
    }
    # A prefix of the run id, or an experiment id, names the run too.
    assert in_qa(qa_run, "show", run[:5]).stdout == ran.stdout
    assert in_qa(qa_run, "show", f"{run}-2").stdout == ran.stdout


def test_show_unscored_and_errors(qa_run: QaRun) -> None:
    run = qa_run.run_id
    unscored = in_qa(qa_run, "show", run, "--unscored")
    assert unscored.returncode == 0
    assert listed(unscored.stdout, f"good ({run}-1) — unscored:") == {
        "b": ["verdict unscored: judge reply had no GRADE line"]}
    assert f"bad ({run}-2) — unscored:" not in unscored.stdout
    errors = in_qa(qa_run, "show", run, "--errors")
    assert errors.returncode == 0
    for label, n in (("good", 1), ("bad", 2)):
        assert listed(errors.stdout, f"{label} ({run}-{n}) — errors:") == {
            "d": ["RuntimeError: upstream 500"]}


def test_show_json_matches_eval_json(qa_run: QaRun) -> None:
    ran = in_qa(qa_run, "show", qa_run.run_id, "--json", "-")
    assert ran.returncode == 0
    shown = json.loads(ran.stdout)  # only JSON on stdout; the table went to stderr
    assert "(run " in ran.stderr
    from_eval = json.loads(qa_run.json_path.read_text())
    assert shown == from_eval


def test_show_an_interrupted_run_says_how_to_finish_it(cli: Cli, tmp_path: Path) -> None:
    from judgekit.store import Store

    with Store(tmp_path / "store.db") as store:
        run_id = store.create_run("test_x", "suites/x.py", {}, "0.1.0")
        store.finish_run(run_id, "interrupted")
    ran = cli("show", run_id)
    assert ran.returncode == 0, ran.output
    first, second = ran.stdout.splitlines()[:2]
    assert first.startswith(f"run {run_id} · suites/x.py::test_x · interrupted · ")
    assert second == (
        f" incomplete: finish it with `judgekit eval suites/x.py::test_x --resume {run_id}`")


def test_runs_and_show_on_a_missing_store_create_nothing(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere" / "store.db"
    listed_runs = judgekit("runs", cwd=tmp_path, store=missing)
    assert listed_runs.returncode == 0, listed_runs.output
    assert f"no runs in {missing} yet" in listed_runs.stdout
    shown = judgekit("show", "abc123", cwd=tmp_path, store=missing)
    assert shown.returncode == 2, shown.output
    assert shown.stderr.strip() == (f"error: no store at {missing}: run `judgekit eval` first, "
                                    "or give --store PATH (or $JUDGEKIT_STORE)")
    assert not (tmp_path / "nowhere").exists()  # a read never leaves an empty store behind
