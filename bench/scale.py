"""Scale: many cases with code evaluators only — cases per second and peak memory.

``judgekit eval`` runs in a subprocess (a fresh interpreter, as a user runs it) on a suite whose
target is a pure function and whose evaluators are ``exact_match`` and ``json_valid``, over a
JSONL dataset of N examples. For each N the bench reports wall time, CPU time (user + sys of the
child), cases per second, the child's peak RSS (``ru_maxrss`` from ``wait4``), and an RSS curve
sampled from ``/proc/PID/status`` against the number of cases stored so far. Memory must not grow
with N: the judged figure is peak RSS at the largest N (target < 300 MB) and the ratio of the
largest N's peak to the smallest's.

A JSONL dataset is streamed from its file (checked and hashed in one pass, then read again case
by case), so nothing in the run is O(N); the baseline measures a process that only checks the
suite's dataset (``len()`` and ``version``), to tell that pass from the runner's own memory.

Usage::

    python -m bench.scale                       # 10k, 50k, 100k cases
    python -m bench.scale --cases 5000,200000,1000000   # the streaming figure
    python -m bench.scale --cases 20000 --json-out   # also write --json (streamed from the store)
"""

from __future__ import annotations

import argparse
import json
import os
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

__all__ = ["ScaleResult", "main", "run_scale"]

SUITE = """\
import json
import os
from pathlib import Path

from judgekit import dataset, suite
from judgekit_evaluators import exact_match, json_valid

DATA = dataset(Path(os.environ["BENCH_DATA"]))


@suite(data=DATA, evaluators=[exact_match(field="label"), json_valid()])
def test_scale(text: str) -> str:
    # A pure function: the label is the text's length parity, as a JSON document.
    return json.dumps({"label": "even" if len(text) % 2 == 0 else "odd", "n": len(text)})
"""

LOAD_ONLY = """\
import os, resource, sys
sys.path.insert(0, os.path.dirname(sys.argv[1]))
from judgekit.suite import load_suites
(s,) = load_suites(sys.argv[1])
n = len(s.data)
v = s.data.version
print(n, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
"""

SAMPLE_AT = (0.1, 0.25, 0.5, 0.75, 1.0)  # fractions of N at which the RSS curve is reported


@dataclass
class ScaleResult:
    """One ``judgekit eval`` run of N cases."""

    n: int
    returncode: int
    wall_s: float
    cpu_s: float
    peak_rss_mb: float
    curve: list[tuple[int, float]] = field(default_factory=list)  # (cases stored, RSS MB)
    baseline_rss_mb: float | None = None

    @property
    def cases_per_s(self) -> float:
        """Cases per wall-clock second."""
        return self.n / self.wall_s if self.wall_s else 0.0

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready figures."""
        return {"n": self.n, "returncode": self.returncode, "wall_s": round(self.wall_s, 2),
                "cpu_s": round(self.cpu_s, 2), "cases_per_s": round(self.cases_per_s),
                "cpu_ms_per_case": round(1000 * self.cpu_s / self.n, 3),
                "peak_rss_mb": round(self.peak_rss_mb, 1),
                "baseline_rss_mb": self.baseline_rss_mb,
                "curve": [[n, round(mb, 1)] for n, mb in self.curve]}


def write_data(path: Path, n: int) -> None:
    """N JSONL examples: a short text and the label its length implies."""
    with path.open("w", encoding="utf-8") as f:
        for i in range(n):
            text = f"example number {i} " + "x" * (i % 7)
            label = "even" if len(text) % 2 == 0 else "odd"
            f.write(json.dumps({"id": f"ex{i:06d}", "inputs": {"text": text},
                                "reference": {"label": label}}) + "\n")


def _rss_mb(pid: int) -> float | None:
    try:
        with open(f"/proc/{pid}/status", encoding="ascii") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def _stored(db: Path) -> int:
    if not db.exists():
        return 0
    try:
        with closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=1)) as ro:
            return int(ro.execute("SELECT COUNT(*) FROM cases").fetchone()[0])
    except sqlite3.Error:
        return 0


def _env(work: Path, data: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("OPENAI_", "JUDGEKIT_", "LANGSMITH_", "LANGCHAIN_"))}
    env.update(BENCH_DATA=str(data), JUDGEKIT_STORE=str(work / "store.db"))
    return env


def run_scale(n: int, *, json_out: bool = False, concurrency: int = 8,
              baseline: bool = True) -> ScaleResult:
    """Run the scale suite on ``n`` cases in a fresh store and measure it."""
    with tempfile.TemporaryDirectory(prefix="judgekit-scale-") as tmp:
        work = Path(tmp)
        data = work / "data.jsonl"
        write_data(data, n)
        suite = work / "scale_suite.py"
        suite.write_text(SUITE, encoding="utf-8")
        db = work / "store.db"
        env = _env(work, data)
        argv = [sys.executable, "-m", "judgekit.cli.main", "eval", str(suite),
                "--store", str(db), "--concurrency", str(concurrency)]
        if json_out:
            argv += ["--json", str(work / "out.json")]
        samples: list[tuple[float, int, float]] = []  # (time, cases stored, RSS MB)
        started = time.perf_counter()
        proc = subprocess.Popen(argv, cwd=work, env=env, stdout=subprocess.DEVNULL,
                                stderr=subprocess.PIPE)
        stop = threading.Event()

        def sample() -> None:
            while not stop.wait(0.25):
                rss = _rss_mb(proc.pid)
                if rss is not None:
                    samples.append((time.perf_counter() - started, _stored(db), rss))

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        # wait4 gives this child's own rusage (peak RSS in KiB on Linux, CPU times).
        assert proc.stderr is not None
        err = proc.stderr.read()
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - started
        proc.returncode = os.waitstatus_to_exitcode(status)
        stop.set()
        sampler.join()
        if proc.returncode != 0:
            sys.stderr.write(err.decode(errors="replace")[-2000:])
        curve = []
        for frac in SAMPLE_AT:
            want = int(n * frac)
            # Highest RSS seen while fewer than `want` cases were stored, then at `want`.
            seen = [rss for _, k, rss in samples if k <= want]
            if seen:
                curve.append((want, max(seen)))
        base = None
        if baseline:
            out = subprocess.run([sys.executable, "-c", LOAD_ONLY, str(suite)], cwd=work,
                                 env=env, capture_output=True, text=True, check=True)
            base = round(int(out.stdout.split()[1]) / 1024, 1)
        return ScaleResult(n=n, returncode=proc.returncode, wall_s=wall,
                           cpu_s=usage.ru_utime + usage.ru_stime,
                           peak_rss_mb=usage.ru_maxrss / 1024, curve=curve,
                           baseline_rss_mb=base)


def main(argv: list[str] | None = None) -> int:
    """Run the scenario for each N and print the figures and the judged ratios."""
    ap = argparse.ArgumentParser(prog="python -m bench.scale", description=__doc__.split("\n")[0])
    ap.add_argument("--cases", default="10000,50000,100000",
                    help="comma-separated case counts (default 10000,50000,100000)")
    ap.add_argument("--concurrency", type=int, default=8)
    ap.add_argument("--json-out", action="store_true",
                    help="also pass --json (the report lists every case)")
    ap.add_argument("--no-baseline", action="store_true",
                    help="skip the load-the-dataset-only measurement")
    ap.add_argument("--no-save", action="store_true",
                    help="do not write bench/results/scale.json")
    args = ap.parse_args(argv)
    sizes = [int(s) for s in args.cases.split(",") if s.strip()]
    results = []
    print(f"{'cases':>8} {'wall s':>8} {'cpu s':>7} {'cases/s':>8} {'cpu ms/case':>11} "
          f"{'peak MB':>8} {'data-only MB':>12}  RSS curve (cases: MB)")
    for n in sizes:
        r = run_scale(n, json_out=args.json_out, concurrency=args.concurrency,
                      baseline=not args.no_baseline)
        results.append(r)
        curve = "  ".join(f"{k // 1000}k:{mb:.0f}" for k, mb in r.curve)
        print(f"{r.n:>8} {r.wall_s:>8.1f} {r.cpu_s:>7.1f} {r.cases_per_s:>8.0f} "
              f"{1000 * r.cpu_s / r.n:>11.3f} {r.peak_rss_mb:>8.0f} "
              f"{r.baseline_rss_mb if r.baseline_rss_mb is not None else float('nan'):>12.0f}"
              f"  {curve}" + ("" if r.returncode == 0 else f"  EXIT {r.returncode}"), flush=True)
    big, small = max(results, key=lambda r: r.n), min(results, key=lambda r: r.n)
    verdict = "OK" if big.peak_rss_mb < 300 else "OVER"
    print(f"\npeak RSS at {big.n} cases: {big.peak_rss_mb:.0f} MB (target < 300 MB: {verdict})")
    if big.n != small.n:
        growth = (big.peak_rss_mb - small.peak_rss_mb) / (big.n - small.n) * 1000
        print(f"peak RSS {small.n} -> {big.n} cases: x{big.peak_rss_mb / small.peak_rss_mb:.2f}"
              f" ({growth:.2f} MB per 1k extra cases)")
        if big.baseline_rss_mb is not None and small.baseline_rss_mb is not None:
            data_growth = ((big.baseline_rss_mb - small.baseline_rss_mb)
                           / (big.n - small.n) * 1000)
            print(f"of which the dataset held in memory: {data_growth:.2f} MB per 1k cases "
                  f"(load-only peak {small.baseline_rss_mb:.0f} -> {big.baseline_rss_mb:.0f} MB)")
    if not args.no_save:
        from bench.common import save

        name = "scale_json" if args.json_out else "scale"
        path = save(name, {"json_out": args.json_out, "concurrency": args.concurrency,
                           "results": [r.to_dict() for r in results]})
        print(f"saved {path}")
    return 0 if all(r.returncode == 0 for r in results) and big.peak_rss_mb < 300 else 1


if __name__ == "__main__":
    raise SystemExit(main())
