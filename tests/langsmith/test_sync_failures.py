"""Failures are loud and safe: nothing sent unless asked, clear messages, exit 2, resumable.

One ``judgekit eval`` (without ``--langsmith``) fills a store; each test then runs
``judgekit sync`` against a fresh local LangSmith server, misconfigured or failing on purpose.
``judgekit sync`` only reads the store, so the tests share it.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from e2e_support import Ran, judgekit, query, write
from langsmith_server import LangSmithServer
from openai_server import OpenAIServer
from sync_support import QA, ls_env, roots, serve, write_suite

from judgekit.langsmith.remote import (
    FEEDBACK_ATTEMPTS,
    FEEDBACK_WORKERS,
    HTTP_TRIES,
    RUN_ATTEMPTS,
)

pytest.importorskip("langsmith")

Stored = tuple[Path, Ran, OpenAIServer]
N_EXPERIMENTS = 2
RUNS_PER_CASE = 4  # root + target llm + judge run + judge llm
N_FEEDBACK = len(QA) * 2  # exact_match and cot_qa per case


@pytest.fixture(scope="module")
def stored(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stored]:
    root = tmp_path_factory.mktemp("ls-fail")
    write_suite(root)
    with OpenAIServer() as oai, LangSmithServer() as ls:
        serve(oai)
        # LangSmith is configured, but nobody asked to send: not one request may reach it.
        ran = judgekit("eval", "suites/qa.py", cwd=root, srv=oai, env=ls_env(ls))
        assert ran.returncode == 0, ran.output
        assert ls.requests == []
        assert "langsmith" not in ran.doc
        yield root, ran, oai


def _cases(root: Path) -> list[tuple[object, ...]]:
    return query(root / "store.db", "SELECT experiment_id, example_id, repetition, outputs,"
                 " passed FROM cases ORDER BY experiment_id, example_id")


def _assert_complete(ls: LangSmithServer) -> None:
    """Everything of the run is there exactly once."""
    exps = ls.experiments()
    assert len(exps) == N_EXPERIMENTS
    assert len(ls.runs) == N_EXPERIMENTS * len(QA) * RUNS_PER_CASE
    for exp in exps:
        rs = roots(ls, exp["id"])
        assert len(rs) == len(QA)
        assert {r["reference_example_id"] for r in rs} == set(ls.examples)
        case_fb = [f for f in ls.feedback.values() if f.get("run_id") in {r["id"] for r in rs}]
        assert len(case_fb) == N_FEEDBACK
    assert len(ls.examples) == len(QA)
    assert ls.api_key not in ls.sent_as_data()  # the key only ever in its header


def _one_error_line(ran: Ran) -> str:
    """The single line a usage or LangSmith error prints (exit 2, nothing else, no traceback)."""
    assert ran.returncode == 2, ran.output
    lines = [x for x in ran.stderr.splitlines() if x.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), ran.stderr
    assert "Traceback" not in ran.output and ran.stdout.strip() == ""
    return lines[0]


def test_no_flag_and_no_env_sends_nothing(stored: Stored) -> None:
    # Checked in the fixture (the eval ran with a LangSmith endpoint and key in its
    # environment); here: JUDGEKIT_LANGSMITH=0 is as good as unset.
    root, _, oai = stored
    with LangSmithServer() as ls:
        ran = judgekit("eval", "suites/qa.py", cwd=root, srv=oai,
                       env=ls_env(ls, JUDGEKIT_LANGSMITH="0"))
        assert ran.returncode == 0, ran.output
        assert ls.requests == []


def test_a_500_on_runs_fails_loudly_and_a_second_sync_completes(stored: Stored) -> None:
    root, ran, oai = stored
    run_id = ran.doc["run_id"]
    before = _cases(root)
    with LangSmithServer() as ls:
        # Every try of the first runs upload fails: the SDK would log it and move on.
        ls.fail("POST", "/runs/multipart", 500, times=RUN_ATTEMPTS * HTTP_TRIES)
        first = judgekit("sync", run_id, cwd=root, srv=oai, env=ls_env(ls))
        assert first.returncode == 2, first.output
        (line,) = [x for x in first.stderr.splitlines() if x.strip()]
        assert line.startswith(f"error: LangSmith at {ls.url} answered 500 to POST "
                               "/runs/multipart")
        assert f"`judgekit sync {run_id}` sends it again" in line
        assert "Traceback" not in first.output
        assert len(ls.datasets) == 1 and len(ls.experiments()) == 1  # it failed mid-sync
        assert ls.runs == {}
        # The local results are untouched.
        assert query(root / "store.db", "PRAGMA integrity_check") == [("ok",)]
        assert _cases(root) == before
        second = judgekit("sync", run_id, cwd=root, srv=oai, env=ls_env(ls))
        assert second.returncode == 0, second.output
        _assert_complete(ls)


def test_a_failure_after_the_first_experiment_resumes_without_duplicates(stored: Stored) -> None:
    root, ran, oai = stored
    run_id = ran.doc["run_id"]
    with LangSmithServer() as ls:
        # The first experiment's runs and feedback go up, then closing it fails.
        ls.fail("PATCH", "/sessions/", 503, times=HTTP_TRIES)
        first = judgekit("sync", run_id, cwd=root, srv=oai, env=ls_env(ls))
        assert first.returncode == 2, first.output
        assert "answered 503 to PATCH /sessions/" in first.stderr
        assert len(ls.runs) == len(QA) * RUNS_PER_CASE
        second = judgekit("sync", run_id, cwd=root, srv=oai, env=ls_env(ls))
        assert second.returncode == 0, second.output
        _assert_complete(ls)


def test_429_and_a_passing_500_are_retried(stored: Stored) -> None:
    root, ran, oai = stored
    with LangSmithServer() as ls:
        ls.fail("POST", "/runs/multipart", 429, times=1, retry_after=0)
        ls.fail("POST", "/feedback", 500, times=FEEDBACK_ATTEMPTS)
        ls.fail("POST", "/datasets", 502, times=1)
        again = judgekit("sync", ran.doc["run_id"], cwd=root, srv=oai, env=ls_env(ls))
        assert again.returncode == 0, again.output
        _assert_complete(ls)
        assert ("POST", "/runs/multipart", 429) in ls.requests


@pytest.mark.parametrize(("where", "retry_after"), [
    ("/", 0),                 # everything, from the first request on
    ("/runs/multipart", 0),   # after the dataset and the first experiment were made
    ("/feedback", None),      # after the runs; no Retry-After (the SDK would sleep 30 s)
])
def test_a_429_storm_fails_in_one_line_and_a_rerun_completes(
        stored: Stored, where: str, retry_after: float | None) -> None:
    root, ran, oai = stored
    run_id = ran.doc["run_id"]
    before = _cases(root)
    with LangSmithServer() as ls:
        ls.fail(None, where, 429, times=10**6, retry_after=retry_after)  # beyond any retries
        started = time.monotonic()
        first = judgekit("sync", run_id, cwd=root, srv=oai, env=ls_env(ls))
        elapsed = time.monotonic() - started
        assert first.returncode == 2, first.output
        (line,) = [x for x in first.stderr.splitlines() if x.strip()]
        assert line.startswith(f"error: LangSmith at {ls.url} kept answering 429 (rate limit) "
                               f"to {'/datasets' if where == '/' else where}")
        assert line.endswith(f"`judgekit sync {run_id}` sends it again")
        assert "Traceback" not in first.output and first.stdout.count("\n") <= 1
        # Bounded: the storm ends the sync in seconds, not after each feedback's own retries.
        assert elapsed < 20, elapsed
        assert ls.count("POST", "/feedback") <= FEEDBACK_WORKERS * FEEDBACK_ATTEMPTS * HTTP_TRIES
        assert query(root / "store.db", "PRAGMA integrity_check") == [("ok",)]
        assert _cases(root) == before
        ls.clear_faults()
        second = judgekit("sync", run_id, cwd=root, srv=oai, env=ls_env(ls))
        assert second.returncode == 0, second.output
        _assert_complete(ls)
        third = judgekit("sync", run_id, cwd=root, srv=oai, env=ls_env(ls))
        assert third.returncode == 0, third.output
        _assert_complete(ls)


def test_a_server_without_multipart_gets_runs_batch_with_failures_as_loud(
        stored: Stored) -> None:
    # A self-hosted LangSmith that predates /runs/multipart and multipart example uploads.
    root, ran, oai = stored
    run_id = ran.doc["run_id"]
    with LangSmithServer(multipart=False, examples_multipart=False, zstd=False) as ls:
        ls.fail("POST", "/runs/batch", 500, times=RUN_ATTEMPTS * HTTP_TRIES)
        first = judgekit("sync", run_id, cwd=root, srv=oai, env=ls_env(ls))
        assert "answered 500 to POST /runs/batch" in _one_error_line(first)
        assert ls.runs == {}
        second = judgekit("sync", run_id, cwd=root, srv=oai, env=ls_env(ls))
        assert second.returncode == 0, second.output
        _assert_complete(ls)
        paths = {p for _, p, _ in ls.requests}
        assert "/runs/batch" in paths and "/examples/bulk" in paths
        assert "/runs/multipart" not in paths


def test_wrong_key_is_a_clear_error(stored: Stored) -> None:
    root, ran, oai = stored
    with LangSmithServer() as ls:
        bad = judgekit("sync", ran.doc["run_id"], cwd=root, srv=oai,
                       env=ls_env(ls, LANGSMITH_API_KEY="lsv2_wrong"))
        line = _one_error_line(bad)
        assert line.startswith(f"error: LangSmith at {ls.url} rejected the API key (401)")
        assert "LANGSMITH_API_KEY" in line and "lsv2" not in line
        assert ls.datasets == {}


def test_no_key_sends_nothing(stored: Stored) -> None:
    root, ran, oai = stored
    with LangSmithServer() as ls:
        env = {"LANGSMITH_ENDPOINT": ls.url}
        bad = judgekit("sync", ran.doc["run_id"], cwd=root, srv=oai, env=env)
        assert _one_error_line(bad).startswith(
            "error: LangSmith needs an API key: set LANGSMITH_API_KEY")
        # eval --langsmith checks before running anything.
        n_runs = len(query(root / "store.db", "SELECT id FROM runs"))
        ev = judgekit("eval", "suites/qa.py", "--langsmith", cwd=root, srv=oai, env=env)
        assert ev.returncode == 2 and "needs an API key" in ev.stderr
        assert len(query(root / "store.db", "SELECT id FROM runs")) == n_runs
        assert ls.requests == []


def test_an_unknown_run_or_store_is_one_line_and_sends_nothing(stored: Stored,
                                                               tmp_path: Path) -> None:
    root, ran, oai = stored
    before = _cases(root)
    with LangSmithServer() as ls:
        bad = judgekit("sync", ran.doc["run_id"], "nope", cwd=root, srv=oai, env=ls_env(ls))
        assert _one_error_line(bad) == (f"error: no run 'nope' in {root / 'store.db'}; "
                                        "`judgekit runs` lists them")
        missing = tmp_path / "elsewhere.db"
        none = judgekit("sync", ran.doc["run_id"], "--store", str(missing), cwd=root, srv=oai,
                        env=ls_env(ls))
        assert _one_error_line(none).startswith(
            f"error: no store at {missing}: run `judgekit eval`")
        assert not missing.exists()  # not created by a command that only reads
        assert ls.requests == []  # every run id is checked before anything is sent
    assert _cases(root) == before


def test_langchain_variables_are_read_too(stored: Stored) -> None:
    root, ran, oai = stored
    with LangSmithServer() as ls:
        env = {"LANGCHAIN_ENDPOINT": ls.url, "LANGCHAIN_API_KEY": ls.api_key}
        ok = judgekit("sync", ran.doc["run_id"], cwd=root, srv=oai, env=env)
        assert ok.returncode == 0, ok.output
        _assert_complete(ls)


def test_unreachable_endpoint_is_a_clear_error(stored: Stored) -> None:
    root, ran, oai = stored
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    url = f"http://127.0.0.1:{port}"
    bad = judgekit("sync", ran.doc["run_id"], cwd=root, srv=oai,
                   env={"LANGSMITH_ENDPOINT": url, "LANGSMITH_API_KEY": "k"})
    line = _one_error_line(bad)
    assert line.startswith(f"error: cannot reach LangSmith at {url}")
    assert "LANGSMITH_ENDPOINT" in line and "API Key" not in line


def test_missing_langsmith_package_says_how_to_install(stored: Stored, tmp_path: Path) -> None:
    root, ran, oai = stored
    # A `langsmith` that cannot be imported shadows the real one.
    write(tmp_path / "shadow" / "langsmith" / "__init__.py", "raise ImportError('absent')\n")
    with LangSmithServer() as ls:
        bad = judgekit("sync", ran.doc["run_id"], cwd=root, srv=oai,
                       env=ls_env(ls, PYTHONPATH=str(tmp_path / "shadow")))
        assert "pip install 'judgekit[langsmith]'" in _one_error_line(bad)
        assert ls.requests == []


def test_a_too_old_langsmith_package_is_named_before_anything_is_sent(
        stored: Stored, tmp_path: Path) -> None:
    root, ran, oai = stored
    # A `langsmith` as old releases were: a Client without the options a sync relies on.
    write(tmp_path / "old" / "langsmith" / "__init__.py", """\
        __version__ = "0.1.0"
        class Client:
            def __init__(self, api_url=None, api_key=None):
                raise AssertionError("must not be built")
        """)
    with LangSmithServer() as ls:
        env = ls_env(ls, PYTHONPATH=str(tmp_path / "old"))
        bad = judgekit("sync", ran.doc["run_id"], cwd=root, srv=oai, env=env)
        assert _one_error_line(bad) == (
            "error: the installed langsmith 0.1.0 is too old to send runs (its Client has no "
            "retry_config): pip install -U 'judgekit[langsmith]'")
        n_runs = len(query(root / "store.db", "SELECT id FROM runs"))
        ev = judgekit("eval", "suites/qa.py", "--langsmith", cwd=root, srv=oai, env=env)
        assert "too old to send runs" in _one_error_line(ev)
        assert len(query(root / "store.db", "SELECT id FROM runs")) == n_runs  # nothing ran
        assert ls.requests == []


def test_eval_keeps_its_exit_code_when_langsmith_fails(stored: Stored) -> None:
    root, _, oai = stored
    with LangSmithServer() as ls:
        ls.fail("POST", "/runs/multipart", 500, times=RUN_ATTEMPTS * HTTP_TRIES)
        ev = judgekit("eval", "suites/qa.py", "--langsmith", cwd=root, srv=oai,
                      env=ls_env(ls))
        assert ev.returncode == 0, ev.output  # the goals decide; the run is stored
        run_id = ev.doc["run_id"]
        assert "error: LangSmith at" in ev.stderr and f"judgekit sync {run_id}" in ev.stderr
        assert ev.doc["langsmith"]["error"].startswith("LangSmith at")
        again = judgekit("sync", run_id, cwd=root, srv=oai, env=ls_env(ls))
        assert again.returncode == 0, again.output
        _assert_complete(ls)


def test_env_variable_asks_eval_to_send(stored: Stored) -> None:
    root, _, oai = stored
    with LangSmithServer() as ls:
        ev = judgekit("eval", "suites/qa.py", cwd=root, srv=oai,
                      env=ls_env(ls, JUDGEKIT_LANGSMITH="1"))
        assert ev.returncode == 0, ev.output
        _assert_complete(ls)
        assert "compare: " in ev.stdout
