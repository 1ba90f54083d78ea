"""Judged at scale: N cases, each a target call and a ``cot_qa`` judge call to a local server.

``judgekit eval`` runs in a subprocess (as a user runs it) over a JSONL dataset of N examples
(streamed from the file) against the benchmark's OpenAI-compatible server (``bench._server``,
its own process, no latency), each run in a fresh directory so that no reply comes from the
response cache. Reported: wall and CPU time, cases per second, the child's peak RSS (``wait4``)
and the store's size. Then the same N as ``--shards`` shard runs (``eval --shard i/n``, one
store each, one after the other on this machine) and ``judgekit merge``: each shard's wall
time, the merge's, and whether the merged summary equals the unsharded one (latencies aside).

Usage::

    python -m bench.judged --shards 0               # 100,000 cases, unsharded only
    python -m bench.judged --cases 20000 --shards 4 # also as 4 shards + merge
    python -m bench.judged --cases 2000 --shards 2 --no-save
    python -m bench.judged --cases 20000 --shards 0 --batch  # through the Batch API

With ``--batch`` the unsharded run is ``eval --batch`` (the server's ``/v1/batches``, which
answers a job at its first poll): what batch mode costs this machine, and how many jobs a
run makes.
"""

from __future__ import annotations

import argparse
import json
import os
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.common import MODEL, Server, env_for, save

__all__ = ["main", "run_eval"]

SUITE = f"""\
import os
from pathlib import Path

from judgekit import dataset, suite
from judgekit.models import LLM
from judgekit_evaluators import cot_qa

DATA = dataset(Path(os.environ["BENCH_DATA"]))


@suite(data=DATA, evaluators=[cot_qa(model="{MODEL}")])
async def test_judged(question: str, llm: LLM) -> str:
    return (await llm.chat(question, model="{MODEL}")).text
"""


def _write(work: Path, n: int) -> tuple[Path, Path]:
    data = work / "data.jsonl"
    with data.open("w", encoding="utf-8") as f:
        for i in range(n):
            f.write(json.dumps({"id": f"c{i}", "inputs": {
                "question": f"Question {i}: what is the capital of France?"},
                "reference": "Paris"}) + "\n")
    suite = work / "judged_suite.py"
    suite.write_text(SUITE, encoding="utf-8")
    return suite, data


def run_eval(argv: list[str], cwd: Path, env: dict[str, str]) -> dict[str, Any]:
    """Run ``judgekit ARGV`` in ``cwd``: wall, CPU, peak RSS (MB) and exit code."""
    started = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-m", "judgekit.cli.main", *argv], cwd=cwd,
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            text=True)
    assert proc.stderr is not None
    err = proc.stderr.read()
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - started
    code = os.waitstatus_to_exitcode(status)
    if code not in (0, 1):
        raise SystemExit(f"judgekit {' '.join(argv)} failed ({code}):\n{err[-3000:]}")
    return {"wall_s": round(wall, 2), "cpu_s": round(usage.ru_utime + usage.ru_stime, 2),
            "peak_rss_mb": round(usage.ru_maxrss / 1024, 1), "returncode": code}


def _summary(doc: dict[str, Any]) -> list[dict[str, Any]]:
    out = []
    for exp in doc["experiments"]:
        s = {k: v for k, v in exp["summary"].items() if k not in ("latency_s", "duration_s")}
        out.append(json.loads(json.dumps(s), parse_float=lambda x: round(float(x), 9)))
    return out


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print (and save) its figures."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--cases", type=int, default=100_000)
    ap.add_argument("--shards", type=int, default=4, help="0: the unsharded run only")
    ap.add_argument("--concurrency", type=int, default=64)
    ap.add_argument("--batch", action="store_true",
                    help="run the unsharded run through the Batch API (eval --batch)")
    ap.add_argument("--no-save", action="store_true", help="do not write bench/results")
    args = ap.parse_args(argv)
    n = args.cases
    result: dict[str, Any] = {"cases": n, "shards": args.shards,
                              "concurrency": args.concurrency, "batch": args.batch}
    name = f"judged-batch-{n}" if args.batch else f"judged-{n}"
    with Server() as server, tempfile.TemporaryDirectory(prefix="judgekit-judged-") as tmp:
        root = Path(tmp)
        suite, data = _write(root, n)
        env = env_for(server, BENCH_DATA=str(data))
        conc = ["--concurrency", str(args.concurrency)]

        whole_dir = root / "whole"
        whole_dir.mkdir()
        batch = ["--batch", "--batch-poll", "0.5"] if args.batch else []
        whole = run_eval(["eval", str(suite), *(batch or conc), "--store",
                          str(whole_dir / "j.db"), "--json", str(whole_dir / "out.json")],
                         whole_dir, env)
        whole["cases_per_s"] = round(n / whole["wall_s"], 1)
        whole["store_mb"] = round((whole_dir / "j.db").stat().st_size / 2**20, 1)
        whole["server_requests"] = server.stats()["chat"]
        if args.batch:
            with sqlite3.connect(whole_dir / "j.db") as db:
                jobs = [len(json.loads(ids)) for (ids,) in db.execute(
                    "SELECT custom_ids FROM batches ORDER BY created_at")]
            whole["batch_jobs"] = jobs
            print(f"batch jobs: {len(jobs)}, requests per job {jobs}", flush=True)
        result["unsharded"] = whole
        print(f"unsharded: {n} cases in {whole['wall_s']} s ({whole['cases_per_s']}/s), "
              f"CPU {whole['cpu_s']} s, peak RSS {whole['peak_rss_mb']} MB, "
              f"store {whole['store_mb']} MB", flush=True)

        if not args.shards:
            if not args.no_save:
                print(f"saved {save(name, result)}")
            return 0
        stores, shard_runs = [], []
        for i in range(1, args.shards + 1):
            d = root / f"shard{i}"
            d.mkdir()
            ran = run_eval(["eval", str(suite), *conc, "--shard", f"{i}/{args.shards}",
                            "--store", str(d / "j.db")], d, env)
            ran["store_mb"] = round((d / "j.db").stat().st_size / 2**20, 1)
            shard_runs.append(ran)
            stores.append(str(d / "j.db"))
            print(f"shard {i}/{args.shards}: {ran['wall_s']} s, peak RSS "
                  f"{ran['peak_rss_mb']} MB", flush=True)
        merged = run_eval(["merge", *stores, "--into", str(root / "merged.db"), "--json",
                           str(root / "merged.json")], root, env)
        merged["store_mb"] = round((root / "merged.db").stat().st_size / 2**20, 1)
        same = _summary(json.loads((root / "merged.json").read_text())) == \
            _summary(json.loads((whole_dir / "out.json").read_text()))
        merged["summary_equals_unsharded"] = same
        result["shard_runs"] = shard_runs
        result["merge"] = merged
        print(f"merge: {merged['wall_s']} s, peak RSS {merged['peak_rss_mb']} MB, store "
              f"{merged['store_mb']} MB; summary equals the unsharded run's: {same}",
              flush=True)
    if not args.no_save:
        print(f"saved {save(f'judged-{n}', result)}")
    return 0 if result["merge"]["summary_equals_unsharded"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
