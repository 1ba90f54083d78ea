"""Throughput: judgekit against the latency-bound ideal, a plain asyncio loop and LangSmith.

``python -m bench.throughput [--cases 2000] [--latency 0.1] [--concurrency 64]``

Every case is one target call and two judge calls (``cot_qa`` and ``criteria``, real judgekit
judges whose scripted verdicts parse). Four clients run one after the other against one server
process, each in its own process, each timed from spawn to exit (start-to-finish) and from its
first case to its last (``loop``):

* ``judgekit eval`` (the CLI) on a generated suite file, cache off, a temp store;
* ``judgekit.api.run_suite`` (the library) on the same file;
* a plain asyncio + ``openai`` loop: semaphore of ``concurrency`` cases, each a target call then
  the two judge calls together (``asyncio.gather``), as judgekit schedules a case;
* ``langsmith.aevaluate(upload_results=False, max_concurrency=concurrency)``, the same target
  and judges as plain async functions; it runs a case's evaluators one after the other.

Ideal (latency-bound) wall time for C cases in flight, L seconds per call, N cases:
``ceil(N / C) × depth × L``, where depth is the case's critical path in calls: 2 for judgekit
and the plain loop (target, then both judges at once), 3 for aevaluate (target, judge, judge).

Judged by: judgekit loop ÷ plain loop ≤ 1.15, judgekit ÷ aevaluate ≤ 1.0.
"""

from __future__ import annotations

import argparse
import json
import math
import sqlite3
import sys
import tempfile
from pathlib import Path
from typing import Any

from bench.common import Child, Server, env_for, ratio, run_child, save, write_suite

__all__ = ["ideal_s", "main", "run_client"]

CLIENTS = ("cli", "api", "plain", "langsmith")


def ideal_s(cases: int, concurrency: int, depth: int, latency: float) -> float:
    """The latency-bound schedule: full waves of ``concurrency`` cases, ``depth`` calls deep."""
    return math.ceil(cases / concurrency) * depth * latency


def _store_loop_s(store: Path) -> float | None:
    """A judgekit run's own span (run created → finished), from the store."""
    con = sqlite3.connect(f"file:{store}?mode=ro", uri=True)
    try:
        row = con.execute("SELECT created_at, finished_at FROM runs "
                          "ORDER BY created_at DESC LIMIT 1").fetchone()
    finally:
        con.close()
    return (row[1] - row[0]) if row and row[1] else None


def run_client(client: str, server: Server, work: Path, *, cases: int, concurrency: int,
               judge_concurrency: int | None = None, cache: str = "off",
               tag: str = "") -> dict[str, Any]:
    """Run one client once against ``server``; its wall, CPU, requests and errors."""
    suite = write_suite(work, cases)
    store = work / f"store{tag}-{client}.db"
    cache_file = work / "cache.db"
    jc = ["--judge-concurrency", str(judge_concurrency)] if judge_concurrency else []
    if client == "cli":
        argv = [sys.executable, "-m", "judgekit.cli.main", "eval", str(suite),
                "--concurrency", str(concurrency), *jc, "--cache", cache,
                "--cache-file", str(cache_file), "--store", str(store),
                "--json", str(work / "out.json")]
    elif client == "api":
        argv = [sys.executable, "-m", "bench._clients", "api", "--suite", str(suite),
                "--store", str(store), "--concurrency", str(concurrency), *jc,
                "--cache", cache, "--cache-file", str(cache_file)]
    else:
        argv = [sys.executable, "-m", "bench._clients", client, "--cases", str(cases),
                "--concurrency", str(concurrency)]
    env = env_for(server, LANGSMITH_ENDPOINT=server.sink, LANGSMITH_API_KEY="ls-bench",
                  LANGSMITH_TRACING="false")
    child: Child = run_child(argv, server=server, env=env, cwd=work)
    child.check(client)
    rep = child.report
    if client == "cli":
        doc = json.loads((work / "out.json").read_text())
        summary = doc["experiments"][0]["summary"]
        rep = {"loop_s": _store_loop_s(store), "cases": summary["n_cases"],
               "errors": summary["n_errors"] + sum(v.get("n_error", 0)
                                                   for v in summary["scores"].values())}
    return {"client": client, "wall_s": round(child.wall_s, 3),
            "loop_s": round(rep["loop_s"], 3) if rep.get("loop_s") else None,
            "cpu_s": round(child.cpu_s, 3), "cases": rep.get("cases"),
            "errors": rep.get("errors"), "requests": child.requests,
            "server_cpu_s": round(child.server_cpu_s, 3)}


def main(argv: list[str] | None = None) -> dict[str, Any]:
    """Run the scenario, print the table and ratios, write ``results/throughput.json``."""
    parser = argparse.ArgumentParser(prog="python -m bench.throughput")
    parser.add_argument("--cases", type=int, default=2000)
    parser.add_argument("--latency", type=float, default=0.1)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--judge-concurrency", type=int,
                        help="judgekit's --judge-concurrency (default: judgekit's own)")
    parser.add_argument("--clients", default=",".join(CLIENTS),
                        help=f"comma-separated subset of {','.join(CLIENTS)}")
    parser.add_argument("--repeat", type=int, default=1, help="runs per client (ranges)")
    parser.add_argument("--name", default="throughput", help="results file name")
    args = parser.parse_args(argv)
    clients = [c for c in args.clients.split(",") if c]
    runs: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="jk-bench-") as tmp, \
            Server(latency=args.latency) as server:
        for rep in range(args.repeat):
            for client in clients:
                run = run_client(client, server, Path(tmp), cases=args.cases,
                                 concurrency=args.concurrency,
                                 judge_concurrency=args.judge_concurrency, tag=str(rep))
                runs.append(run)
                print(f"{client:>9}: wall {run['wall_s']:7.2f} s  loop {run['loop_s']!s:>7} s  "
                      f"cpu {run['cpu_s']:6.2f} s  requests {run['requests']}  "
                      f"errors {run['errors']}", flush=True)
    depth = {"cli": 2, "api": 2, "plain": 2, "langsmith": 3}
    ideal = {c: ideal_s(args.cases, args.concurrency, depth[c], args.latency) for c in clients}

    def best(client: str, key: str) -> float | None:
        values = [r[key] for r in runs if r["client"] == client and r[key] is not None]
        return min(values) if values else None

    def span(client: str, key: str) -> list[float]:
        values = [r[key] for r in runs if r["client"] == client and r[key] is not None]
        return [min(values), max(values)] if values else []

    ratios: dict[str, Any] = {}
    for jk in ("cli", "api"):
        if jk not in clients:
            continue
        for key in ("loop_s", "wall_s"):
            mine = best(jk, key)
            if mine is None:
                continue
            ratios[f"{jk}_{key}/ideal"] = ratio(mine, ideal[jk])
            for other in ("plain", "langsmith"):
                theirs = best(other, key)
                if theirs:
                    ratios[f"{jk}_{key}/{other}"] = ratio(mine, theirs)
    targets = {"judgekit/plain": 1.15, "judgekit/langsmith": 1.0}
    print(f"ideal (ceil(N/C) x depth x L): judgekit/plain {ideal.get('plain', ideal.get('cli'))}"
          f" s (depth 2), aevaluate {ideal.get('langsmith')} s (depth 3)")
    for name, value in ratios.items():
        print(f"  {name:<28} {value}")
    print("targets: judgekit loop / plain loop <= 1.15; judgekit / aevaluate <= 1.0")
    result = {"params": vars(args), "ideal_s": ideal, "depth": depth, "runs": runs,
              "best": {c: {"wall_s": best(c, "wall_s"), "loop_s": best(c, "loop_s")}
                       for c in clients},
              "ranges": {c: {"wall_s": span(c, "wall_s"), "loop_s": span(c, "loop_s")}
                         for c in clients},
              "ratios": ratios, "targets": targets}
    print(f"wrote {save(args.name, result)}")
    return result


if __name__ == "__main__":
    main()
