"""What every scenario shares: the server process, child runs with their CPU time, the suite
file, machine facts and the results files.

Every client (judgekit's CLI, its library API, the plain asyncio loop, ``langsmith.aevaluate``)
runs in its own child process, and the server in another: a child's CPU time
(``getrusage(RUSAGE_CHILDREN)`` around its run) is then its own, never the server's.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import platform
import resource
import subprocess
import sys
import textwrap
import time
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from types import TracebackType
from typing import Any

__all__ = ["RESULTS", "ROOT", "Child", "Server", "machine", "ratio", "run_child", "save",
           "write_suite"]

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
MODEL = "gpt-4o-mini"

# Settings a developer may have exported that would change what a run does.
_SCRUB = ("OPENAI_", "JUDGEKIT_", "LANGSMITH_", "LANGCHAIN_", "FORCE_COLOR", "COLUMNS")


def machine() -> dict[str, Any]:
    """CPU model, cores, load, Python and package versions, and the date."""
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    versions = {}
    for dist in ("judgekit", "openai", "httpx", "langsmith"):
        try:
            versions[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            versions[dist] = None
    return {
        "cpu": cpu, "cores": os.cpu_count(), "load_avg_1m": os.getloadavg()[0],
        "python": platform.python_version(), "platform": platform.platform(),
        "versions": versions,
        "date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "note": os.environ.get("BENCH_NOTE", "measured on a shared machine (noisy wall times)"),
    }


def save(name: str, data: dict[str, Any]) -> Path:
    """Write ``bench/results/<name>.json`` with the machine facts; returns the path."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{name}.json"
    path.write_text(json.dumps({"scenario": name, "machine": machine(), **data}, indent=2) + "\n")
    return path


def ratio(value: float, base: float) -> float:
    """value ÷ base, rounded for reports (inf when base is 0)."""
    return round(value / base, 3) if base else float("inf")


class Server:
    """``python -m bench._server`` as a child process (a context manager).

    Args:
        latency: Seconds per reply.
        rps: Requests per second allowed (None: no limit).
        rate_model: ``"window"`` (sliding window) or ``"bucket"`` (continuous refill).
    """

    def __init__(self, latency: float = 0.0, rps: float | None = None,
                 rate_model: str = "window") -> None:
        argv = [sys.executable, "-m", "bench._server", "--latency", str(latency),
                "--rate-model", rate_model]
        if rps:
            argv += ["--rps", str(rps)]
        self.proc = subprocess.Popen(argv, cwd=ROOT, stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, text=True)
        assert self.proc.stdout is not None
        info = json.loads(self.proc.stdout.readline())
        self.url: str = info["url"]
        self.sink: str = info["sink"]

    def stats(self) -> dict[str, Any]:
        """``{"chat": requests, "by_status": {"200": n, "429": n}, "cpu_s": server CPU}``."""
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write("stats\n")
        self.proc.stdin.flush()
        return dict(json.loads(self.proc.stdout.readline()))

    def close(self) -> None:
        """Stop the server process."""
        if self.proc.poll() is None:
            assert self.proc.stdin is not None
            try:
                self.proc.stdin.write("quit\n")
                self.proc.stdin.close()
                self.proc.wait(timeout=10)
            except (OSError, subprocess.TimeoutExpired):
                self.proc.kill()
                self.proc.wait()

    def __enter__(self) -> Server:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()


@dataclass
class Child:
    """One child run: wall and CPU seconds, the server's requests during it, its output."""

    wall_s: float
    cpu_s: float
    returncode: int
    stdout: str
    stderr: str
    requests: dict[str, int] = field(default_factory=dict)
    server_cpu_s: float = 0.0

    @property
    def report(self) -> dict[str, Any]:
        """The child's own JSON line (the last line of stdout that parses), or {}."""
        for line in reversed(self.stdout.strip().splitlines()):
            try:
                value = json.loads(line)
            except ValueError:
                continue
            if isinstance(value, dict):
                return value
        return {}

    def check(self, what: str) -> Child:
        """Raise with the child's output when it failed."""
        if self.returncode != 0:
            raise SystemExit(f"{what} failed (exit {self.returncode}):\n"
                             f"{self.stdout[-2000:]}\n{self.stderr[-4000:]}")
        return self


_compiled: set[str] = set()


def _compile(root: str) -> None:
    """Write judgekit's bytecode, as ``pip install`` does: every child then loads it.

    This machine sets PYTHONDONTWRITEBYTECODE=1 and judgekit is installed editable, so each
    process would compile judgekit's ~60 modules afresh (~50 ms) where a user's would not.
    The children still do not write bytecode; they read what is written here, before any
    timing, so first and later runs alike start as a user's install does.
    """
    if root in _compiled:
        return
    import compileall

    for folder in (Path(root) / "judgekit", Path(root) / "evaluators" / "judgekit_evaluators"):
        compileall.compile_dir(folder, quiet=1)
    _compiled.add(root)


def env_for(server: Server | None, **extra: str) -> dict[str, str]:
    """The environment of a child: scrubbed, pointing at ``server``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(_SCRUB)}
    # $BENCH_JUDGEKIT_ROOT: another checkout's judgekit (e.g. `git archive REV`), for a
    # before/after comparison; bench/ itself always comes from this checkout.
    other = os.environ.get("BENCH_JUDGEKIT_ROOT")
    _compile(other or str(ROOT))
    paths = [other, str(Path(other) / "evaluators")] if other else []
    env["PYTHONPATH"] = os.pathsep.join([*paths, str(ROOT), str(ROOT / "evaluators"),
                                         env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    if server is not None:
        env.update(OPENAI_BASE_URL=server.url, OPENAI_API_KEY="sk-bench")
    env.update(extra)
    return env


def run_child(argv: list[str], *, server: Server | None, cwd: Path | None = None,
              env: dict[str, str] | None = None, timeout: float = 1800) -> Child:
    """Run ``argv`` to the end; wall time from spawn to exit, CPU time of the child alone."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    stats0 = server.stats() if server is not None else None
    began = time.perf_counter()
    proc = subprocess.run(argv, cwd=cwd or ROOT, env=env or env_for(server),
                          capture_output=True, text=True, timeout=timeout)
    wall = time.perf_counter() - began
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    child = Child(wall, cpu, proc.returncode, proc.stdout, proc.stderr)
    if server is not None and stats0 is not None:
        stats1 = server.stats()
        child.requests = {k: v - stats0["by_status"].get(k, 0)
                          for k, v in stats1["by_status"].items()
                          if v - stats0["by_status"].get(k, 0)}
        child.server_cpu_s = stats1["cpu_s"] - stats0["cpu_s"]
    return child


SUITE = '''\
"""Benchmark suite: {n_cases} cases, a target call and {n_judges} judge call(s) each."""
from judgekit import dataset, parametrize, suite
from judgekit.models import LLM
from judgekit_evaluators import cot_qa, criteria

DATA = dataset([{{"id": f"c{{i}}",
                  "inputs": {{"question": f"Question {{i}}: what is the capital of France?"}},
                  "reference": "Paris"}} for i in range({n_cases})], name="bench")
JUDGES = [cot_qa(model="{model}"),
          criteria("The answer names a city.", model="{model}", structured=False)]


@suite(data=DATA, evaluators=JUDGES[:{n_judges}])
@parametrize("model", ["{model}"])
async def test_bench(question: str, llm: LLM) -> str:
    return (await llm.chat(question)).text
'''


def write_suite(directory: Path, n_cases: int, n_judges: int = 2) -> Path:
    """Write the benchmark suite file into ``directory``; returns its path."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "bench_suite.py"
    path.write_text(textwrap.dedent(SUITE.format(n_cases=n_cases, n_judges=n_judges,
                                                 model=MODEL)))
    return path
