"""Faults: random provider failures lose no result, and a SIGKILLed run resumes exactly once.

Three phases against the local OpenAI-compatible server (``tests/openai_server.py``), each a
``judgekit eval`` subprocess on a suite with one target call and one judge call (``cot_qa``) per
case, a temporary store and its response cache beside it:

1. **Faults.** A fraction ``--rate`` (20%) of chat requests fail at random across 429, 500,
   503, hang-until-timeout, connection reset and malformed body; ``max_attempts`` is small
   (``--attempts``, 2) so some calls fail for good. Every case must end scored or with a
   recorded error whose message names the cause (the status, "timed out", "connection error",
   "malformed response").
2. **Retry.** ``--retry-errors RUN`` with the faults still on but more attempts allowed: every
   case completes (0 errors), and no call that had succeeded in phase 1 is sent again (the
   response cache answers it).
3. **Kill and resume.** A fresh run is SIGKILLed once the server has answered about half the
   calls, then ``--resume RUN`` finishes it: each case is stored exactly once, and no call the
   server had answered *and the client had recorded in its cache* before the kill is sent
   again. Calls in flight at the kill (no reply yet, or a reply not yet recorded) may be sent
   again; they are counted.

Requests are told apart by content (a hash of the JSON body's model and messages); the server's
successful replies carry that hash, so the cache's entries say which requests they answer.

Usage::

    python -m bench.faults --cases 500
"""

from __future__ import annotations

import argparse
import collections
import hashlib
import json
import os
import re
import signal
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from contextlib import closing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from openai_server import FAULT_KINDS, OpenAIServer, Reply

__all__ = ["CAUSES", "FaultServer", "cause_of", "kill_and_resume", "main", "write_project"]

JUDGE_SYSTEM = "careful teacher grading"  # words of the cot_qa system prompt

SUITE = """\
import os

from judgekit import dataset, suite
from judgekit_evaluators import cot_qa

N = int(os.environ["BENCH_CASES"])
DATA = dataset([{{"id": f"w{{i:05d}}", "inputs": {{"word": f"word{{i}}"}},
                 "reference": f"WORD{{i}}"}} for i in range(N)])


@suite(data=DATA, evaluators=[cot_qa(model="gpt-4o-mini")])
async def test_shout(word, llm):
    return (await llm.chat(f"Shout {{word}}", model="gpt-4o-mini")).text
"""

PYPROJECT = """\
[tool.judgekit]
max_attempts = {attempts}
max_retry_s = 30
"""

#: What an error message must name, by the fault that caused it.
CAUSES: dict[str, re.Pattern[str]] = {
    "429": re.compile(r"\b429\b"),
    "500": re.compile(r"\b500\b"),
    "503": re.compile(r"\b503\b"),
    "timeout": re.compile(r"timed out after"),
    "reset": re.compile(r"connection error|connection reset|Connection reset", re.I),
    "malformed": re.compile(r"malformed response"),
}


def cause_of(message: str | None) -> str | None:
    """The fault an error message names (the last one, for "after N attempts"), or None."""
    if not message:
        return None
    hits = [(m.start(), name) for name, rx in CAUSES.items() for m in rx.finditer(message)]
    return max(hits)[1] if hits else None


def request_hash(body: Any) -> str:
    """A request's identity by content: its model and messages."""
    if not isinstance(body, dict):
        return "?"
    key = json.dumps({"model": body.get("model"), "messages": body.get("messages")},
                     sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(key.encode()).hexdigest()[:16]


class FaultServer:
    """The local server, answering targets and judges, with every good reply tagged.

    A reply that is not a fault carries ``[r:HASH]``, the hash of the request it answers, and
    is counted in ``answered`` (the server calls the reply function only when it injects no
    fault).
    """

    def __init__(self, latency: float = 0.0) -> None:
        self.srv = OpenAIServer()
        self.srv.latency = latency
        self.answered: collections.Counter[str] = collections.Counter()
        self._lock = threading.Lock()
        self.srv.reply(None, self._reply)

    def _reply(self, body: dict[str, Any]) -> Reply:
        h = request_hash(body)
        with self._lock:
            self.answered[h] += 1
        text = "\n".join(str(m.get("content", "")) for m in body["messages"])
        if JUDGE_SYSTEM in text:
            return Reply(f"The answer matches the reference. [r:{h}]\nGRADE: CORRECT")
        return Reply(f"{text.rsplit(' ', 1)[-1].upper()} [r:{h}]")

    def __enter__(self) -> FaultServer:
        self.srv.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.srv.stop()

    def snapshot(self) -> tuple[list[tuple[str, int | None]], collections.Counter[str]]:
        """(hash and status of every chat request so far, good replies so far per hash)."""
        reqs = [(request_hash(r.body), r.status) for r in self.srv.requests
                if r.path.endswith("/chat/completions")]
        with self._lock:
            return reqs, collections.Counter(self.answered)


def write_project(work: Path, attempts: int) -> Path:
    """The suite file and a pyproject.toml setting ``max_attempts``; returns the suite."""
    suite = work / "faults_suite.py"
    suite.write_text(SUITE.format(), encoding="utf-8")
    (work / "pyproject.toml").write_text(PYPROJECT.format(attempts=attempts), encoding="utf-8")
    return suite


def eval_argv(suite: Path, work: Path, *extra: str, timeout: float,
              concurrency: int) -> list[str]:
    """``judgekit eval`` on the suite with the work directory's store and a JSON result."""
    return [sys.executable, "-m", "judgekit.cli.main", "eval", str(suite),
            "--store", str(work / "store.db"), "--timeout", f"{timeout:g}",
            "--concurrency", str(concurrency), "--json", str(work / "out.json"), *extra]


def eval_env(srv: OpenAIServer, n: int) -> dict[str, str]:
    """The run's environment: the local server, and nothing a developer set."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("OPENAI_", "JUDGEKIT_", "LANGSMITH_", "LANGCHAIN_"))}
    env.update(OPENAI_BASE_URL=srv.url, OPENAI_API_KEY="sk-test", BENCH_CASES=str(n))
    return env


@dataclass
class Outcome:
    """What a finished run stored, read from its ``--json`` result and its store."""

    n_cases: int
    scored: int
    case_errors: collections.Counter[str]  # by cause
    judge_errors: collections.Counter[str]
    unnamed: list[str]  # error messages naming no known cause
    duplicates: int
    missing: int
    run_id: str
    doc: dict[str, Any] = field(repr=False, default_factory=dict)

    @property
    def n_errors(self) -> int:
        """Cases with an error, target or judge."""
        return sum(self.case_errors.values()) + sum(self.judge_errors.values())


def outcome(work: Path, n: int) -> Outcome:
    """Classify every case of the run in ``out.json``; count duplicates in the store."""
    doc = json.loads((work / "out.json").read_text("utf-8"))
    (exp,) = doc["experiments"]
    case_errors: collections.Counter[str] = collections.Counter()
    judge_errors: collections.Counter[str] = collections.Counter()
    unnamed: list[str] = []
    scored = 0
    for case in exp["cases"]:
        if case["error"] is not None:
            cause = cause_of(case["error"]["message"])
            case_errors[cause or "?"] += 1
            if cause is None:
                unnamed.append(case["error"]["message"])
            continue
        (score,) = case["scores"]
        if score["status"] == "ok" and score["value"] == "CORRECT":
            scored += 1
        else:
            cause = cause_of(score.get("comment"))
            judge_errors[cause or "?"] += 1
            if cause is None:
                unnamed.append(f"{score['status']}: {score.get('comment')}")
    with closing(sqlite3.connect(work / "store.db")) as con:
        rows = con.execute("SELECT example_id, COUNT(*) FROM cases c JOIN experiments x"
                           " ON x.id = c.experiment_id WHERE x.run_id=? GROUP BY example_id",
                           (doc["run_id"],)).fetchall()
    per = dict(rows)
    return Outcome(
        n_cases=len(exp["cases"]), scored=scored, case_errors=case_errors,
        judge_errors=judge_errors, unnamed=unnamed,
        duplicates=sum(c - 1 for c in per.values() if c > 1),
        missing=sum(1 for i in range(n) if f"w{i:05d}" not in per),
        run_id=doc["run_id"], doc=doc)


def cached_hashes(cache: Path) -> set[str]:
    """Hashes of the requests whose replies the response cache holds (read-only)."""
    if not cache.exists():
        return set()
    with closing(sqlite3.connect(f"file:{cache}?mode=ro", uri=True, timeout=5)) as ro:
        texts = [r[0] for r in ro.execute("SELECT response FROM responses")]
    return {m.group(1) for t in texts for m in [re.search(r"\[r:([0-9a-f]+)\]", t)] if m}


def run_eval(argv: list[str], env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    """Run ``judgekit eval`` to the end."""
    return subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True, timeout=3600)


def faults_then_retry(n: int, *, rate: float, attempts: int, retry_attempts: int,
                      timeout: float, concurrency: int, seed: int | None,
                      latency: float) -> dict[str, Any]:
    """Phases 1 and 2: a faulty run, then ``--retry-errors`` on it."""
    with tempfile.TemporaryDirectory(prefix="judgekit-faults-") as tmp, \
            FaultServer(latency) as fs:
        work = Path(tmp)
        suite = write_project(work, attempts)
        fs.srv.fault_rate(rate, FAULT_KINDS, seed=seed)
        env = eval_env(fs.srv, n)
        t0 = time.perf_counter()
        ran = run_eval(eval_argv(suite, work, timeout=timeout, concurrency=concurrency),
                       env, work)
        wall1 = time.perf_counter() - t0
        if ran.returncode != 0:
            raise SystemExit(f"faulty run exited {ran.returncode}:\n{ran.stderr[-3000:]}")
        first = outcome(work, n)
        reqs1, good1 = fs.snapshot()
        statuses = collections.Counter("no reply (hang/reset)" if s is None else str(s)
                                       for _, s in reqs1)
        # A malformed body goes out as a 200: the good replies are the ones the server made.
        statuses["200 malformed"] = statuses.pop("200", 0) - sum(good1.values())
        statuses["200 ok"] = sum(good1.values())
        # Phase 2: the same faults, more attempts.
        write_project(work, retry_attempts)
        t0 = time.perf_counter()
        again = run_eval(eval_argv(suite, work, "--retry-errors", first.run_id,
                                   timeout=timeout, concurrency=concurrency), env, work)
        wall2 = time.perf_counter() - t0
        if again.returncode != 0:
            raise SystemExit(f"retry exited {again.returncode}:\n{again.stderr[-3000:]}")
        second = outcome(work, n)
        reqs2, _ = fs.snapshot()
        resent_good = sum(1 for h, _ in reqs2[len(reqs1):] if good1[h])
        return {"first": first, "second": second, "wall1": wall1, "wall2": wall2,
                "requests1": len(reqs1), "requests2": len(reqs2) - len(reqs1),
                "statuses1": statuses, "resent_good": resent_good,
                "good_calls1": sum(good1.values())}


@dataclass
class KillReport:
    """Counts of the kill-and-resume phase."""

    requests_before: int
    answered_before: int
    cached_at_kill: int
    stored_at_kill: int
    status_at_kill: str
    runs_line: str
    requests_after: int
    resent_finished: int  # answered and cached before the kill, sent again: must be 0
    resent_answered_uncached: int  # answered, not yet recorded by the client at the kill
    resent_in_flight: int  # no reply yet at the kill
    resent_failed: int  # failed (fault) before the kill, sent again: a retry, not a re-payment
    outcome: Outcome
    returncode: int


def _stored(db: Path) -> int:
    if not db.exists():
        return 0
    try:
        with closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=1)) as ro:
            return int(ro.execute("SELECT COUNT(*) FROM cases").fetchone()[0])
    except sqlite3.Error:
        return 0


def kill_and_resume(n: int, *, rate: float, attempts: int, timeout: float, concurrency: int,
                    seed: int | None, latency: float, kill_after: int | None = None,
                    work: Path | None = None) -> KillReport:
    """Phase 3: SIGKILL a run once the server answered ``kill_after`` calls, then resume it.

    ``kill_after`` defaults to ``n`` (about half of the ``2n`` calls).
    """
    kill_after = n if kill_after is None else kill_after
    with tempfile.TemporaryDirectory(prefix="judgekit-kill-") as tmp, FaultServer(latency) as fs:
        work = work or Path(tmp)
        suite = write_project(work, attempts)
        if rate:
            fs.srv.fault_rate(rate, FAULT_KINDS, seed=seed)
        env = eval_env(fs.srv, n)
        argv = eval_argv(suite, work, timeout=timeout, concurrency=concurrency)
        proc = subprocess.Popen(argv, cwd=work, env=env, stdout=subprocess.DEVNULL,
                                stderr=subprocess.PIPE, text=True)
        deadline = time.monotonic() + 600
        while sum(fs.snapshot()[1].values()) < kill_after:
            if proc.poll() is not None:
                raise SystemExit(f"the run ended before the kill ({proc.returncode}):\n"
                                 f"{proc.communicate()[1][-3000:]}")
            if time.monotonic() > deadline:
                proc.kill()
                raise SystemExit("the server never answered enough calls")
            time.sleep(0.005)
        proc.send_signal(signal.SIGKILL)
        proc.communicate(timeout=60)
        reqs1, good1 = fs.snapshot()
        cached = cached_hashes(work / "cache.db")
        db = work / "store.db"
        stored = _stored(db)
        with closing(sqlite3.connect(db)) as con:
            ((run_id, status),) = con.execute("SELECT id, status FROM runs").fetchall()
        runs = subprocess.run([sys.executable, "-m", "judgekit.cli.main", "runs", "--store",
                               str(db)], cwd=work, env=env, capture_output=True, text=True)
        runs_line = next((ln.strip() for ln in runs.stdout.splitlines() if run_id in ln),
                         runs.stdout.strip()[-200:])
        # The resumed run meets the same fault rate.
        ran = run_eval(eval_argv(suite, work, "--resume", run_id, timeout=timeout,
                                 concurrency=concurrency), env, work)
        if ran.returncode != 0:
            raise SystemExit(f"resume exited {ran.returncode}:\n{ran.stderr[-3000:]}")
        reqs2, _ = fs.snapshot()
        after = reqs2[len(reqs1):]
        sent_after = {h for h, _ in after}
        before_status: dict[str, set[int | None]] = collections.defaultdict(set)
        for h, s in reqs1:
            before_status[h].add(s)
        finished = {h for h in good1 if h in cached}
        answered_uncached = {h for h in good1 if h not in cached}
        in_flight = {h for h, ss in before_status.items() if h not in good1 and None in ss}
        failed = {h for h in before_status if h not in good1 and h not in in_flight}
        return KillReport(
            requests_before=len(reqs1), answered_before=sum(good1.values()),
            cached_at_kill=len(cached), stored_at_kill=stored, status_at_kill=status,
            runs_line=runs_line, requests_after=len(after),
            resent_finished=len(finished & sent_after),
            resent_answered_uncached=len(answered_uncached & sent_after),
            resent_in_flight=len(in_flight & sent_after),
            resent_failed=len(failed & sent_after),
            outcome=outcome(work, n), returncode=ran.returncode)


def _fmt(c: collections.Counter[str]) -> str:
    return ", ".join(f"{k} {v}" for k, v in sorted(c.items())) or "none"


def main(argv: list[str] | None = None) -> int:
    """Run the three phases and print the figures; exit 1 when a property fails."""
    ap = argparse.ArgumentParser(prog="python -m bench.faults",
                                 description=(__doc__ or "").split("\n")[0])
    ap.add_argument("--cases", type=int, default=500)
    ap.add_argument("--rate", type=float, default=0.2, help="fraction of calls that fail")
    ap.add_argument("--attempts", type=int, default=2, help="max_attempts of the faulty run")
    ap.add_argument("--retry-attempts", type=int, default=8,
                    help="max_attempts of the --retry-errors run (faults stay on)")
    ap.add_argument("--timeout", type=float, default=1.0, help="--timeout: ends hangs")
    ap.add_argument("--concurrency", type=int, default=16)
    ap.add_argument("--latency", type=float, default=0.02, help="server latency, seconds")
    ap.add_argument("--seed", type=int, default=None, help="fault injection seed")
    ap.add_argument("--kill-rate", type=float, default=None,
                    help="fault rate during the kill phase (default: --rate)")
    ap.add_argument("--no-save", action="store_true",
                    help="do not write bench/results/faults.json")
    args = ap.parse_args(argv)
    n = args.cases
    ok = True

    print(f"faults: {n} cases x (1 target + 1 judge call), {args.rate:.0%} of calls fail at "
          f"random ({', '.join(FAULT_KINDS)}), max_attempts {args.attempts}, "
          f"timeout {args.timeout:g}s", flush=True)
    fr = faults_then_retry(n, rate=args.rate, attempts=args.attempts,
                           retry_attempts=args.retry_attempts, timeout=args.timeout,
                           concurrency=args.concurrency, seed=args.seed, latency=args.latency)
    first, second = fr["first"], fr["second"]
    print(f"  run:   {fr['requests1']} requests ({_fmt(fr['statuses1'])}) in {fr['wall1']:.1f}s")
    print(f"         cases {first.n_cases}/{n}: scored {first.scored}, target errors "
          f"[{_fmt(first.case_errors)}], judge errors [{_fmt(first.judge_errors)}]")
    p1 = (first.n_cases == n and first.scored + first.n_errors == n and not first.unnamed
          and not first.duplicates and not first.missing)
    print(f"         every case scored or erred with its cause named: {'OK' if p1 else 'FAIL'}")
    for msg in first.unnamed[:5]:
        print(f"         unnamed: {msg}")
    print(f"  retry: --retry-errors {first.run_id} (faults on, max_attempts "
          f"{args.retry_attempts}): {fr['requests2']} requests in {fr['wall2']:.1f}s")
    p2 = second.n_errors == 0 and second.scored == n and not second.duplicates
    print(f"         cases {second.n_cases}: scored {second.scored}, errors {second.n_errors}: "
          f"{'OK' if p2 else 'FAIL'}")
    print(f"         calls answered in the first run sent again: {fr['resent_good']} "
          f"(must be 0): {'OK' if fr['resent_good'] == 0 else 'FAIL'}")
    ok = ok and p1 and p2 and fr["resent_good"] == 0

    kill_rate = args.rate if args.kill_rate is None else args.kill_rate
    print(f"\nkill: {n} cases, {kill_rate:.0%} faults, max_attempts 6, SIGKILL after {n} "
          f"answered calls, then --resume", flush=True)
    kr = kill_and_resume(n, rate=kill_rate, attempts=6, timeout=args.timeout,
                         concurrency=args.concurrency, seed=args.seed, latency=args.latency)
    o = kr.outcome
    print(f"  at kill: {kr.requests_before} requests, {kr.answered_before} answered, "
          f"{kr.cached_at_kill} in the cache, {kr.stored_at_kill} cases stored, "
          f"run status {kr.status_at_kill!r}")
    print(f"  judgekit runs: {kr.runs_line}")
    print(f"  resume: {kr.requests_after} requests; cases {o.n_cases}/{n} (duplicates "
          f"{o.duplicates}, missing {o.missing}), scored {o.scored}, errors {o.n_errors}")
    print(f"  re-sent after resume: finished calls {kr.resent_finished} (must be 0); answered "
          f"but not yet recorded at the kill {kr.resent_answered_uncached}; in flight "
          f"{kr.resent_in_flight}; failed before the kill (retries) {kr.resent_failed}")
    p3 = (o.n_cases == n and not o.duplicates and not o.missing and kr.resent_finished == 0
          and kr.status_at_kill == "running")
    print(f"  exactly once, no finished call paid twice: {'OK' if p3 else 'FAIL'}")
    ok = ok and p3
    if not args.no_save:
        from bench.common import save

        figures = {
            "cases": n, "rate": args.rate, "attempts": args.attempts,
            "faults": {"requests": fr["requests1"], "statuses": fr["statuses1"],
                       "scored": first.scored, "target_errors": first.case_errors,
                       "judge_errors": first.judge_errors, "unnamed": first.unnamed,
                       "wall_s": round(fr["wall1"], 2)},
            "retry": {"requests": fr["requests2"], "errors": second.n_errors,
                      "scored": second.scored, "resent_answered": fr["resent_good"],
                      "wall_s": round(fr["wall2"], 2)},
            "kill": {k: v for k, v in vars(kr).items() if k != "outcome"}
            | {"cases": o.n_cases, "duplicates": o.duplicates, "missing": o.missing,
               "errors": o.n_errors},
            "ok": ok}
        # Counters are dicts; a round trip through JSON makes the whole record plain data.
        print(f"saved {save('faults', json.loads(json.dumps(figures, default=dict)))}")
    print(f"\n{'ALL OK' if ok else 'FAILED'}")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
