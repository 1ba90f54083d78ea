"""The HTML report at scale: how long ``judgekit report`` takes and how big the page gets.

A store with three variants x N cases (a judged score with a two-sentence reasoning, a target
call and a judge call each) is written through the Store API, then the page is rendered in
this process (``judgekit.viewer.render_runs``: reading the store, the summaries, every case
with its calls, Jinja2). Peak RSS is the process's ``ru_maxrss``: the page holds every case.

Usage::

    python -m bench.report                 # 1,000 and 10,000 cases per variant
    python -m bench.report --cases 500     # a smoke run
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

__all__ = ["main", "run_report"]

SKILL = {"big": 0.92, "small": 0.7, "ft": 0.86}


def _write(store: Any, n: int) -> str:
    from judgekit.types import CallRecord, CaseResult, Example, Score

    rng = random.Random(0)
    run_id: str = store.create_run("bench_report", None, {}, "bench")
    store.save_examples("v1", [Example(id=f"e{i}", inputs={"question": f"question {i}?"},
                                       reference=f"answer {i}") for i in range(n)])
    for pos, (label, skill) in enumerate(SKILL.items()):
        exp = store.create_experiment(run_id, pos, {"model": label}, label, "bench", "v1", n,
                                      1, [], {"accuracy": ["cot_qa", 0.85], "scores": {},
                                              "cost_per_1k": 2.0})
        batch = []
        for i in range(n):
            right = rng.random() < skill
            reasoning = (f"The answer to question {i} matches the reference in substance. "
                         f"GRADE: {'CORRECT' if right else 'INCORRECT'}")
            msgs = {"messages": [{"role": "user", "content": f"question {i}?"}]}
            batch.append((exp, CaseResult(
                example_id=f"e{i}", variant={}, repetition=0, outputs=f"answer {i}",
                error=None, latency_s=rng.uniform(0.1, 2.0),
                scores=(Score("cot_qa", score=float(right),
                              value="CORRECT" if right else "INCORRECT", comment=reasoning),),
                calls=(CallRecord(role="target", provider="openai", model=label, request=msgs,
                                  response_text=f"answer {i}", prompt_tokens=20,
                                  completion_tokens=5, cost_usd=0.001 * (pos + 1)),
                       CallRecord(role="judge", provider="openai", model="gpt-4o",
                                  request=msgs, response_text=reasoning, score_key="cot_qa",
                                  prompt_tokens=200, completion_tokens=40, cost_usd=0.002)))))
            if len(batch) == 5000:
                store.write_cases(batch)
                batch = []
        store.write_cases(batch)
        from judgekit.summary import summarize

        store.save_summary(exp, summarize(store, exp, 1), [], [])
    return run_id


def run_report(n: int) -> dict[str, Any]:
    """Write the store, render the page; returns the figures."""
    from judgekit.store import Store
    from judgekit.viewer import render_runs

    with tempfile.TemporaryDirectory() as tmp, Store(Path(tmp) / "j.db") as store:
        run_id = _write(store, n)
        t0 = time.perf_counter()
        html = render_runs(store, [store.get_run(run_id)])
        render_s = time.perf_counter() - t0
    return {"cases_per_variant": n, "variants": len(SKILL), "render_s": round(render_s, 2),
            "page_mb": round(len(html.encode()) / 2**20, 1),
            "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)}


def main(argv: list[str] | None = None) -> int:
    """Run each size, print its figures, write ``results/report.json``."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, action="append",
                        help="cases per variant (repeatable; default 1000 and 10000)")
    parser.add_argument("--no-save", action="store_true",
                        help="do not write bench/results/report.json")
    args = parser.parse_args(argv)
    rows = []
    for n in args.cases or [1_000, 10_000]:
        row = run_report(n)
        print(row, flush=True)
        rows.append(row)
    if not args.no_save:
        save("report", {"runs": rows})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
