"""Overhead: judgekit's own CPU time per case, with a server that answers at once.

``python -m bench.overhead [--cases 2000] [--repeat 2]``

The throughput suite (a target call and two judge calls per case) against a zero-latency server,
for judgekit (CLI and library API) and the plain asyncio + ``openai`` loop. CPU time is the
child process's user + system time (``getrusage(RUSAGE_CHILDREN)``); the server runs in another
process, so its CPU is not counted. Each client runs at two sizes, ``--cases`` and a quarter
of it, and the per-case cost is the slope, ``(cpu(N) - cpu(N/4)) / (N - N/4)``: interpreter
start-up and imports cancel out. The plain loop's slope is what the ``openai`` SDK costs per
case (three calls); judgekit's overhead is its slope minus that.

Judged by: judgekit's per-case CPU - the plain loop's < 1 ms.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
from pathlib import Path
from typing import Any

from bench.common import Server, save
from bench.throughput import run_client

__all__ = ["main"]

TARGET_MS = 1.0


def main(argv: list[str] | None = None) -> dict[str, Any]:
    """Run the scenario, print per-case CPU and the overhead, write ``results/overhead.json``."""
    parser = argparse.ArgumentParser(prog="python -m bench.overhead")
    parser.add_argument("--cases", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--repeat", type=int, default=2, help="runs per client and size")
    parser.add_argument("--clients", default="cli,api,plain,plain-pooled")
    parser.add_argument("--name", default="overhead", help="results file name")
    args = parser.parse_args(argv)
    clients = [c for c in args.clients.split(",") if c]
    small = max(1, args.cases // 4)
    runs: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="jk-bench-") as tmp, Server(latency=0.0) as server:
        for rep in range(args.repeat):
            for client in clients:
                for n in (small, args.cases):
                    work = Path(tmp) / f"{client}-{n}-{rep}"
                    run = run_client(client, server, work, cases=n,
                                     concurrency=args.concurrency, tag=str(rep))
                    runs.append(run)
                    print(f"{client:>12} {n:>6} cases: cpu {run['cpu_s']:6.2f} s  "
                          f"wall {run['wall_s']:6.2f} s  server cpu {run['server_cpu_s']:6.2f} s"
                          f"  requests {run['requests']}", flush=True)
    per_case: dict[str, list[float]] = {}
    for client in clients:
        for rep in range(args.repeat):
            cpu = {r["cases"]: r["cpu_s"] for r in runs[rep * len(clients) * 2:]
                   [: len(clients) * 2] if r["client"] == client}
            slope = (cpu[args.cases] - cpu[small]) / (args.cases - small)
            per_case.setdefault(client, []).append(round(slope * 1000, 3))
    overhead: dict[str, dict[str, float]] = {}
    for client, values in per_case.items():
        print(f"{client:>12}: {values} ms CPU per case (3 calls)")
    for base in ("plain", "plain-pooled"):
        if base not in per_case:
            continue
        base_ms = statistics.median(per_case[base])
        for client in ("cli", "api"):
            if client in per_case:
                ms = round(statistics.median(per_case[client]) - base_ms, 3)
                overhead.setdefault(client, {})[base] = ms
                print(f"judgekit {client} overhead over {base}: {ms} ms CPU per case "
                      f"(target < {TARGET_MS} ms)")
    result = {"params": vars(args), "runs": runs, "per_case_cpu_ms": per_case,
              "overhead_ms_per_case": overhead, "target_ms": TARGET_MS}
    print(f"wrote {save(args.name, result)}")
    return result


if __name__ == "__main__":
    main()
