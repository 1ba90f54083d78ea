"""Compare at scale: how long ``judgekit.compare`` and the decisions take on big stored runs.

A store with three variants x N cases (one pass/fail score with a confidence in its metadata,
a numeric score, a target call each) is written through the Store API, then timed in this
process: ``compare`` (reading the columns, McNemar, permutation test and bootstrap CI with the
default 10,000 resamples), the first 10 regressions, the MPI matrix, and a cascade search
over orders of up to 3 variants with a holdout. Peak RSS is the process's ``ru_maxrss``.

Usage::

    python -m bench.compare                 # 10k and 100k cases per variant
    python -m bench.compare --cases 2000    # a smoke run
"""

from __future__ import annotations

import argparse
import random
import resource
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.common import save

__all__ = ["main", "run_compare"]

SKILL = {"big": 0.92, "small": 0.7, "ft": 0.86}


def _write(store: Any, n: int) -> str:
    from judgekit.types import CallRecord, CaseResult, Example, Score

    rng = random.Random(0)
    run_id: str = store.create_run("bench_compare", None, {}, "bench")
    store.save_examples("v1", [Example(id=f"e{i}", inputs={"q": i}) for i in range(n)])
    for pos, (label, skill) in enumerate(SKILL.items()):
        exp = store.create_experiment(run_id, pos, {"model": label}, label, "bench", "v1", n,
                                      1, [], {"accuracy": ["judge", 0.85], "scores": {}})
        batch = []
        for i in range(n):
            right = rng.random() < skill
            batch.append((exp, CaseResult(
                example_id=f"e{i}", variant={}, repetition=0, outputs={"a": i}, error=None,
                latency_s=rng.uniform(0.1, 2.0),
                scores=(Score("judge", score=float(right), passed=right,
                              metadata={"confidence": rng.choice((0.5, 0.7, 0.9, 0.99))}),
                        Score("quality", score=rng.random())),
                calls=(CallRecord(role="target", provider="openai", model=label, request={},
                                  response_text="x", cost_usd=0.001 * (pos + 1)),))))
            if len(batch) == 5000:
                store.write_cases(batch)
                batch = []
        store.write_cases(batch)
    return run_id


def run_compare(n: int) -> dict[str, Any]:
    """Write the store, time each step; returns the figures."""
    import judgekit
    from judgekit.store import Store

    with tempfile.TemporaryDirectory() as tmp, Store(Path(tmp) / "j.db") as store:
        t0 = time.perf_counter()
        run_id = _write(store, n)
        written = time.perf_counter() - t0
        timings: dict[str, float] = {}

        def timed(name: str, fn: Any) -> Any:
            start = time.perf_counter()
            out = fn()
            timings[name] = round(time.perf_counter() - start, 3)
            return out

        result = timed("compare_s", lambda: judgekit.compare(run_id, store=store))
        timed("changes_s", lambda: result.changes("small", limit=10))
        timed("mpi_s", lambda: result.mpi())
        found = timed("cascade_search_s",
                      lambda: result.search_cascade("judge:confidence", holdout=0.3))
    return {"cases_per_variant": n, "variants": len(SKILL), "write_s": round(written, 1),
            **timings, "cascades_tried": found.evaluated,
            "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)}


def main(argv: list[str] | None = None) -> int:
    """Run each size, print its figures, write ``results/compare.json``."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, action="append",
                        help="cases per variant (repeatable; default 10000 and 100000)")
    parser.add_argument("--no-save", action="store_true",
                        help="do not write bench/results/compare.json")
    args = parser.parse_args(argv)
    rows = []
    for n in args.cases or [10_000, 100_000]:
        row = run_compare(n)
        print(row, flush=True)
        rows.append(row)
    if not args.no_save:
        save("compare", {"runs": rows})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
