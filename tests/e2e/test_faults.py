"""Faults (issue 5): random provider failures lose no result.

A fifth of the chat requests fail — 429, 500, 503, a hang until the timeout, a connection reset,
a malformed body — chosen deterministically from each request's content and how many times that
content has been sent, so the outcome does not depend on the order the requests arrive in. Every
case must end scored or with a recorded error whose message names the cause, and
``--retry-errors`` (faults still on, retries allowed) completes every case without sending any
call that had already been answered: the response cache serves those.
"""

from __future__ import annotations

import collections
import hashlib
import json
import re
import threading
from pathlib import Path
from typing import Any

from e2e_support import JUDGE_SYSTEM, judgekit, query, write
from openai_server import OpenAIServer, Reply

N = 40

SUITE = f"""\
from judgekit import dataset, suite
from judgekit_evaluators import cot_qa

DATA = dataset([{{"id": f"w{{i:02d}}", "inputs": {{"word": f"word{{i}}"}},
                 "reference": f"WORD{{i}}"}} for i in range({N})])


@suite(data=DATA, evaluators=[cot_qa(model="gpt-4o-mini")])
async def test_shout(word, llm):
    return (await llm.chat(f"Shout {{word}}", model="gpt-4o-mini")).text
"""

#: Seconds an attempt may take: a hang ends there. Generous, so that a slow answer on a loaded
#: machine is never mistaken for a hang.
TIMEOUT = 2

KINDS = ("429", "500", "503", "hang", "reset", "malformed")

#: What an error message names, per fault.
CAUSES = {
    "429": re.compile(r"\b429 Too Many Requests\b"),
    "500": re.compile(r"\b500 Internal Server Error\b"),
    "503": re.compile(r"\b503 Service Unavailable\b"),
    "hang": re.compile(rf"timed out after {TIMEOUT}s"),
    "reset": re.compile(r"connection error"),
    "malformed": re.compile(r"malformed response"),
}


def cause_of(message: str) -> str | None:
    """The fault a message names; for "... (after N attempts)" the last attempt's."""
    hits = [(m.start(), kind) for kind, rx in CAUSES.items() for m in rx.finditer(message)]
    return max(hits)[1] if hits else None


def content_hash(body: dict[str, Any]) -> str:
    text = json.dumps([body.get("model"), body.get("messages")], sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


class SeededFaults:
    """A reply function: the ``k``-th sending of a request fails when a hash of (seed, content,
    ``k``) says so, with a kind that hash picks; good replies answer the target or the judge."""

    def __init__(self, rate: float, seed: int = 0) -> None:
        self.rate = rate
        self.seed = seed
        self.sent: collections.Counter[str] = collections.Counter()
        self.answered: collections.Counter[str] = collections.Counter()
        self.faults: collections.Counter[str] = collections.Counter()
        self.lock = threading.Lock()

    def __call__(self, body: dict[str, Any]) -> Reply:
        h = content_hash(body)
        with self.lock:
            self.sent[h] += 1
            k = self.sent[h]
        roll = int.from_bytes(hashlib.sha256(f"{self.seed}:{h}:{k}".encode()).digest()[:8],
                              "big")
        if (roll % 10_000) / 10_000 < self.rate:
            kind = KINDS[(roll // 10_000) % len(KINDS)]
            with self.lock:
                self.faults[kind] += 1
            return fault(kind)
        with self.lock:
            self.answered[h] += 1
        text = "\n".join(str(m.get("content", "")) for m in body["messages"])
        if JUDGE_SYSTEM in text:
            return Reply("The answer matches the reference.\nGRADE: CORRECT")
        return Reply(text.rsplit(" ", 1)[-1].upper())


def fault(kind: str) -> Reply:
    """The server's reply for one fault kind (as ``OpenAIServer.fault_rate`` injects them)."""
    if kind == "429":
        return Reply("Rate limit reached (injected).", status=429,
                     headers={"retry-after-ms": "50", "retry-after": "1"})
    if kind in ("500", "503"):
        return Reply(f"injected {kind}", status=int(kind))
    if kind == "malformed":
        return Reply(raw_body=b'{"id": "chatcmpl-broken", "choices": [')
    return Reply(hang=kind == "hang", reset=kind == "reset")


def test_every_case_is_scored_or_names_its_fault_and_retry_errors_completes_them(
        openai_server: OpenAIServer, tmp_path: Path) -> None:
    write(tmp_path / "suites" / "shout.py", SUITE)
    # One attempt: every fault is final, so each kind shows up as a recorded error.
    write(tmp_path / "pyproject.toml", "[tool.judgekit]\nmax_attempts = 1\n")
    faults = SeededFaults(rate=0.2, seed=4)
    openai_server.reply(None, faults)
    args = ("eval", "suites/shout.py", "--timeout", str(TIMEOUT), "--concurrency", "16")

    ran = judgekit(*args, cwd=tmp_path, srv=openai_server)
    assert ran.returncode == 0, ran.output
    exp = ran.experiment()
    assert len(exp["cases"]) == N
    named: collections.Counter[str] = collections.Counter()
    scored = 0
    for case in exp["cases"]:
        if case["error"] is not None:  # the target's call failed: the case's error
            cause = cause_of(case["error"]["message"])
            assert cause is not None, case["error"]
            assert case["scores"][0]["status"] == "error"  # cot_qa: "not evaluated"
            named[cause] += 1
        elif case["scores"][0]["status"] == "error":  # the judge's call failed: its score's
            cause = cause_of(case["scores"][0]["comment"])
            assert cause is not None, case["scores"][0]
            named[cause] += 1
        else:
            assert case["scores"][0]["value"] == "CORRECT", case
            scored += 1
    # Each fault the server sent is one recorded error naming it (one attempt per call).
    assert named == faults.faults, (named, faults.faults)
    assert set(named) == set(KINDS)  # the seed exercises every kind
    assert scored + sum(named.values()) == N
    # The store agrees: every failed call is kept with its error, as the failed attempt.
    failed_calls = query(tmp_path / "store.db",
                         "SELECT error, attempts FROM calls WHERE error IS NOT NULL")
    assert len(failed_calls) == sum(faults.faults.values())
    assert all(cause_of(e) and a == 1 for e, a in failed_calls)

    # Faults stay on; six attempts per call get every case through.
    write(tmp_path / "pyproject.toml", "[tool.judgekit]\nmax_attempts = 6\nmax_retry_s = 20\n")
    answered_before = +faults.answered
    n_before = len(openai_server.requests)
    again = judgekit(*args, "--retry-errors", ran.doc["run_id"], cwd=tmp_path,
                     srv=openai_server)
    assert again.returncode == 0, again.output
    summary = again.experiment()["summary"]
    assert (summary["n_cases"], summary["n_errors"]) == (N, 0)
    assert summary["scores"]["cot_qa"]["n_ok"] == N
    assert all(c["scores"][0]["value"] == "CORRECT" for c in again.experiment()["cases"])
    # No answered call is paid twice: a retried case whose target had answered takes that
    # reply from the cache, and only the failed calls (and the judges after them) are sent.
    resent = [r for r in openai_server.requests[n_before:]
              if answered_before[content_hash(r.body)]]
    assert resent == []
    assert query(tmp_path / "store.db", "SELECT COUNT(*) FROM cases") == [(N,)]
