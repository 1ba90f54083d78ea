"""Start-up: ``judgekit --help``, ``import judgekit`` and loading a suite file, with the heavy
imports kept lazy.

``python -m bench.startup [--runs 10]``

Each command runs ``--runs`` times as a fresh process (hyperfine when it is installed, else a
loop of subprocess runs); the figures are min / median / max wall seconds. ``python -X
importtime`` then names the slowest modules each command imports, and whether the heavy ones
(openai, httpx, rich, sklearn, numpy, jsonschema, genai_prices, langsmith, langchain) are among
them.

Judged by: ``judgekit --help`` median < 0.5 s.
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.common import ROOT, env_for, save

__all__ = ["main"]

TARGET_S = 0.5
HEAVY = ("openai", "httpx", "rich", "sklearn", "numpy", "scipy", "jsonschema", "genai_prices",
         "langsmith", "langchain", "pydantic", "rapidfuzz")

LOAD_SUITE = ("from judgekit.suite import load_suites; import sys; "
              "print([s.name for s in load_suites(sys.argv[1])])")


def commands() -> dict[str, list[str]]:
    """The commands timed, by name."""
    py = sys.executable
    return {
        "judgekit --help": [py, "-m", "judgekit.cli.main", "--help"],
        "python -c 'import judgekit'": [py, "-c", "import judgekit"],
        "load suites/reviews.py": [py, "-c", LOAD_SUITE, str(ROOT / "suites" / "reviews.py")],
        "python (bare interpreter)": [py, "-c", "pass"],
    }


def _loop(argv: list[str], runs: int) -> list[float]:
    times = []
    env = env_for(None)
    for _ in range(runs):
        began = time.perf_counter()
        subprocess.run(argv, env=env, cwd=ROOT, capture_output=True, check=True)
        times.append(time.perf_counter() - began)
    return times


def _hyperfine(argv: list[str], runs: int) -> list[float] | None:
    exe = shutil.which("hyperfine")
    if exe is None:
        return None
    with tempfile.NamedTemporaryFile(suffix=".json") as out:
        cmd = " ".join(f"'{a}'" for a in argv)
        subprocess.run([exe, "-N", "--warmup", "2", "--runs", str(runs), "--export-json",
                        out.name, cmd], env=env_for(None), cwd=ROOT, capture_output=True,
                       check=True)
        return list(json.loads(Path(out.name).read_text())["results"][0]["times"])


def importtime(argv: list[str]) -> dict[str, Any]:
    """The slowest top-level imports (cumulative µs) of ``argv`` and the heavy ones present."""
    proc = subprocess.run([argv[0], "-X", "importtime", *argv[1:]], env=env_for(None),
                          cwd=ROOT, capture_output=True, text=True, check=True)
    rows = []
    for line in proc.stderr.splitlines():
        m = re.match(r"import time:\s+(\d+) \|\s+(\d+) \|( *)(\S+)", line)
        if m:
            rows.append((int(m.group(2)), len(m.group(3)) // 2, m.group(4)))
    top = sorted((r for r in rows if r[1] == 0), reverse=True)[:8]
    names = {r[2] for r in rows}
    return {"top_level_ms": {name: round(us / 1000, 1) for us, _, name in top},
            "heavy_imported": sorted(h for h in HEAVY if h in names)}


def main(argv: list[str] | None = None) -> dict[str, Any]:
    """Time every command, print the table, write ``results/startup.json``."""
    parser = argparse.ArgumentParser(prog="python -m bench.startup")
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--name", default="startup", help="results file name")
    args = parser.parse_args(argv)
    results: dict[str, Any] = {}
    tool = "hyperfine" if shutil.which("hyperfine") else "subprocess loop"
    for name, cmd in commands().items():
        times = _hyperfine(cmd, args.runs) or _loop(cmd, args.runs)
        imports = importtime(cmd)
        results[name] = {"min_s": round(min(times), 3),
                         "median_s": round(statistics.median(times), 3),
                         "max_s": round(max(times), 3), **imports}
        print(f"{name:<28} median {results[name]['median_s']:.3f} s "
              f"(min {results[name]['min_s']:.3f}, max {results[name]['max_s']:.3f})  "
              f"heavy imports: {', '.join(imports['heavy_imported']) or 'none'}", flush=True)
        print(f"{'':<28} slowest: {imports['top_level_ms']}")
    help_s = results["judgekit --help"]["median_s"]
    print(f"judgekit --help: {help_s:.3f} s vs target {TARGET_S} s: ratio "
          f"{help_s / TARGET_S:.2f}")
    result = {"params": vars(args), "tool": tool, "commands": results,
              "help_ratio": round(help_s / TARGET_S, 3), "target_s": TARGET_S}
    print(f"wrote {save(args.name, result)}")
    return result


if __name__ == "__main__":
    main()
