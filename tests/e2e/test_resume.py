"""Kill and resume (issue 5): a run SIGKILLed mid-way and resumed evaluates each case exactly once
and pays for no finished model call twice, counted at the server.

The kill point is made deterministic: once the server has answered ``K`` calls it holds every
further request (a gate), the test waits until the client has recorded all ``K`` replies in its
response cache — which proves the cache write is durable per call, not batched — and only then
sends SIGKILL. The held requests are the calls in flight at the kill: those, and only those, may
be sent again by ``--resume``.
"""

from __future__ import annotations

import collections
import hashlib
import json
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest
from e2e_support import JUDGE_SYSTEM, judgekit, server_env, write
from openai_server import OpenAIServer, Reply

from judgekit.runner import is_stale
from judgekit.store import Store

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")

N = 40
K = 30  # calls answered before the kill: target and judge calls of about 15 cases

SUITE = f"""\
from judgekit import dataset, suite
from judgekit_evaluators import cot_qa

DATA = dataset([{{"id": f"w{{i:02d}}", "inputs": {{"word": f"word{{i}}"}},
                 "reference": f"WORD{{i}}"}} for i in range({N})])


@suite(data=DATA, evaluators=[cot_qa(model="gpt-4o-mini")])
async def test_shout(word, llm):
    return (await llm.chat(f"Shout {{word}}", model="gpt-4o-mini")).text
"""


def content_hash(body: Any) -> str:
    text = json.dumps([body.get("model"), body.get("messages")] if isinstance(body, dict)
                      else None, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


class GatedServer:
    """Answers targets and judges, tagging each reply with its request's hash, until ``K``
    replies have gone out; later requests wait at the gate (in flight) until it opens."""

    def __init__(self, srv: OpenAIServer) -> None:
        self.srv = srv
        self.lock = threading.Lock()
        self.answered: list[str] = []
        self.held: set[str] = set()
        self.gate = threading.Event()
        srv.reply(None, self.reply)

    def reply(self, body: dict[str, Any]) -> Reply:
        h = content_hash(body)
        with self.lock:
            hold = not self.gate.is_set() and len(self.answered) >= K
            if hold:
                self.held.add(h)
            else:
                self.answered.append(h)
        if hold:
            self.gate.wait(30)
            return Reply(reset=True)  # the client is gone by now
        text = "\n".join(str(m.get("content", "")) for m in body["messages"])
        if JUDGE_SYSTEM in text:
            return Reply(f"Matches. [r:{h}]\nGRADE: CORRECT")
        return Reply(f"{text.rsplit(' ', 1)[-1].upper()} [r:{h}]")


def cached(cache: Path) -> set[str]:
    """Hashes of the requests whose replies the response cache holds."""
    if not cache.exists():
        return set()
    try:
        with closing(sqlite3.connect(f"file:{cache}?mode=ro", uri=True, timeout=5)) as ro:
            texts = [r[0] for r in ro.execute("SELECT response FROM responses")]
    except sqlite3.OperationalError:  # the table is not there yet
        return set()
    return {json.loads(t)["text"].split("[r:")[1][:16] for t in texts}


def test_sigkill_then_resume_runs_each_case_once_and_resends_no_finished_call(
        openai_server: OpenAIServer, tmp_path: Path) -> None:
    write(tmp_path / "suites" / "shout.py", SUITE)
    gated = GatedServer(openai_server)
    env = {**server_env(openai_server), "JUDGEKIT_STORE": str(tmp_path / "store.db")}
    proc = subprocess.Popen(
        [sys.executable, "-m", "judgekit.cli.main", "eval", "suites/shout.py",
         "--concurrency", "8"], cwd=tmp_path, env=env, stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 60
        # Every answered call recorded in the cache (each write is its own commit), and the
        # calls after them held at the gate.
        while len(cached(tmp_path / "cache.db")) < K or not gated.held:
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() < deadline, (
                f"{len(cached(tmp_path / 'cache.db'))} of {K} answered calls in the cache")
            time.sleep(0.02)
        proc.send_signal(signal.SIGKILL)
        proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
        gated.gate.set()
    assert proc.returncode == -signal.SIGKILL
    finished = set(gated.answered)
    in_flight = set(gated.held)
    assert len(finished) == K and cached(tmp_path / "cache.db") == finished
    n_before = len(openai_server.requests)

    # The killed run is listed as still running, with what it stored.
    runs = judgekit("runs", cwd=tmp_path, srv=openai_server)
    with closing(sqlite3.connect(tmp_path / "store.db")) as con:
        ((run_id, status, stored_at_kill),) = con.execute(
            "SELECT r.id, r.status, (SELECT COUNT(*) FROM cases) FROM runs r").fetchall()
    assert status == "running"
    with Store(tmp_path / "store.db") as store:
        assert is_stale(store.get_run(run_id))  # running, and its process is gone
    (line,) = [ln for ln in runs.stdout.splitlines() if run_id in ln]
    assert "running" in line and f"{stored_at_kill}/{N}" in line, runs.stdout
    assert 0 < stored_at_kill < N

    ran = judgekit("eval", "suites/shout.py", "--resume", run_id, "--concurrency", "8",
                   cwd=tmp_path, srv=openai_server)
    assert ran.returncode == 0, ran.output
    assert ran.doc["status"] == "complete"
    summary = ran.experiment()["summary"]
    assert (summary["n_cases"], summary["n_errors"]) == (N, 0)
    assert summary["scores"]["cot_qa"]["n_ok"] == N
    # Exactly once: one stored case per example.
    with closing(sqlite3.connect(tmp_path / "store.db")) as con:
        per_example = collections.Counter(r[0] for r in con.execute("SELECT example_id FROM cases"))
    assert per_example == {f"w{i:02d}": 1 for i in range(N)}
    # No finished call is sent again; the calls in flight at the kill are (once each).
    after = collections.Counter(content_hash(r.body)
                                for r in openai_server.requests[n_before:])
    assert not finished & set(after)
    assert in_flight <= set(after)
    assert all(n == 1 for n in after.values())
    # Each call was answered exactly once over the two processes: N targets + N judges.
    assert len(gated.answered) == 2 * N and len(set(gated.answered)) == 2 * N
