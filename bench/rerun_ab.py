"""A/B of the cached re-run across judgekit checkouts, interleaved so drift hits all alike.

``python -m bench.rerun_ab NAME=ROOT [NAME=ROOT ...] [--cases 2000] [--rounds 10]
[--instructions]``

The cache scenario's suite is run once (with the first checkout) to fill a response cache;
then each round re-runs it once per checkout, in turn, with that cache file and a fresh store
(``judgekit eval --cache read-write --json``, as ``bench.cache``'s re-runs), in a shuffled
order per round: on a shared machine a run is only comparable with its neighbours in time,
and a fixed order favours some positions. Give one checkout twice (``base=R base2=R``) to
see the noise floor.
Prints and saves the median wall and CPU time of each checkout, and each one's change
against the first. ``--instructions`` runs each checkout once under ``valgrind
--tool=callgrind`` instead and compares instruction counts: they repeat to 0.2% on a busy
machine, where wall time does not, but miss what the kernel does (file locks, I/O).
"""

from __future__ import annotations

import argparse
import os
import random
import re
import statistics
import sys
import tempfile
from pathlib import Path
from typing import Any

from bench.common import Server, env_for, run_child, save, write_suite

__all__ = ["main"]


def _eval(root: str, suite: Path, work: Path, store: Path, server: Server,
          prefix: tuple[str, ...] = ()) -> Any:
    os.environ["BENCH_JUDGEKIT_ROOT"] = root
    return run_child([*prefix, sys.executable, "-m", "judgekit.cli.main", "eval", str(suite),
                      "--concurrency", "64", "--cache", "read-write",
                      "--cache-file", str(work / "cache.db"), "--store", str(store),
                      "--json", str(work / "out.json")],
                     server=server, cwd=work, env=env_for(server)).check("judgekit eval")


def _instructions(roots: dict[str, str], suite: Path, work: Path,
                  server: Server) -> dict[str, Any]:
    counts: dict[str, int] = {}
    for name, root in roots.items():
        out = work / f"callgrind.{name}"
        child = _eval(root, suite, work, work / f"{name}.db", server,
                      ("valgrind", "--tool=callgrind", f"--callgrind-out-file={out}"))
        found = re.search(r"Collected : (\d+)", child.stderr)
        if found is None:
            raise SystemExit(f"{name}: no instruction count from valgrind")
        counts[name] = int(found.group(1))
        first = counts[next(iter(roots))]
        print(f"{name:>16}: {counts[name]:,} instructions ({counts[name] / first - 1:+.2%})",
              flush=True)
    first = counts[next(iter(roots))]
    return {name: {"instructions": n, "change": round(n / first - 1, 4)}
            for name, n in counts.items()}


def main(argv: list[str] | None = None) -> dict[str, Any]:
    """Run the rounds, print the medians, write ``results/<name>.json``."""
    parser = argparse.ArgumentParser(prog="python -m bench.rerun_ab")
    parser.add_argument("checkouts", nargs="+", help="NAME=ROOT (a judgekit checkout)")
    parser.add_argument("--cases", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--name", default="rerun_ab", help="results file name")
    parser.add_argument("--instructions", action="store_true",
                        help="count instructions under callgrind, once per checkout")
    args = parser.parse_args(argv)
    roots = dict(c.split("=", 1) for c in args.checkouts)
    runs: dict[str, list[tuple[float, float]]] = {name: [] for name in roots}
    with tempfile.TemporaryDirectory(prefix="jk-bench-") as tmp, Server(latency=0.0) as server:
        work = Path(tmp)
        suite = write_suite(work, args.cases)
        _eval(next(iter(roots.values())), suite, work, work / "fill.db", server)
        if args.instructions:
            result: dict[str, Any] = {"params": vars(args),
                                      "checkouts": _instructions(roots, suite, work, server)}
            print(f"wrote {save(args.name, result)}")
            return result
        order = list(roots.items())
        shuffle = random.Random(19).shuffle
        for i in range(args.rounds):
            shuffle(order)
            for name, root in order:
                store = work / f"{name}-{i}.db"
                child = _eval(root, suite, work, store, server)
                if sum(child.requests.values()):
                    raise SystemExit(f"{name}: the re-run sent requests")
                runs[name].append((child.wall_s, child.cpu_s))
                store.unlink()
            print(f"round {i + 1}/{args.rounds} done", flush=True)
    first = next(iter(roots))
    base_wall = statistics.median(w for w, _ in runs[first])
    base_cpu = statistics.median(c for _, c in runs[first])
    result = {"params": vars(args), "checkouts": {}}
    for name, samples in runs.items():
        wall = statistics.median(w for w, _ in samples)
        cpu = statistics.median(c for _, c in samples)
        result["checkouts"][name] = {
            "wall_s": round(wall, 3), "cpu_s": round(cpu, 3),
            "wall_change": round(wall / base_wall - 1, 4),
            "cpu_change": round(cpu / base_cpu - 1, 4),
            "samples": [[round(w, 3), round(c, 3)] for w, c in samples]}
        print(f"{name:>16}: median wall {wall:5.3f} s ({wall / base_wall - 1:+6.1%})  "
              f"cpu {cpu:5.3f} s ({cpu / base_cpu - 1:+6.1%})")
    print(f"wrote {save(args.name, result)}")
    return result


if __name__ == "__main__":
    main()
