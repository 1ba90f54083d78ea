"""Run every benchmark scenario in turn: ``python -m bench.run_all [--quick]``.

Each scenario writes ``bench/results/<scenario>.json``; ``--quick`` passes small sizes (for a
smoke run, not for the README's numbers). Scenarios that are not there yet (another helper's
``faults`` / ``scale``) are skipped with a note.
"""

from __future__ import annotations

import argparse
import importlib
import inspect
import time

__all__ = ["SCENARIOS", "main"]

#: Scenario module -> its arguments for a quick run.
SCENARIOS: dict[str, list[str]] = {
    "throughput": ["--cases", "200"],
    "overhead": ["--cases", "400", "--repeat", "1"],
    "ratelimit": ["--cases", "100"],
    "cache": ["--cases", "200", "--reruns", "1"],
    "startup": ["--runs", "3"],
    "faults": ["--cases", "100", "--no-save"],
    "scale": ["--cases", "2000,10000", "--no-save"],
    "compare": ["--cases", "2000", "--no-save"],
    "report": ["--cases", "500", "--no-save"],
}


def main(argv: list[str] | None = None) -> None:
    """Run the chosen scenarios (default: all)."""
    parser = argparse.ArgumentParser(prog="python -m bench.run_all")
    parser.add_argument("--quick", action="store_true", help="small sizes (smoke run)")
    parser.add_argument("--only", help="comma-separated scenarios, e.g. throughput,cache")
    args = parser.parse_args(argv)
    chosen = args.only.split(",") if args.only else list(SCENARIOS)
    for name in chosen:
        try:
            module = importlib.import_module(f"bench.{name}")
        except ModuleNotFoundError:
            print(f"== {name}: not available (bench/{name}.py missing), skipped")
            continue
        print(f"== {name}", flush=True)
        began = time.perf_counter()
        scenario_args = SCENARIOS.get(name, []) if args.quick else []
        if inspect.signature(module.main).parameters:
            module.main(scenario_args)
        else:  # a scenario that reads sys.argv itself
            module.main()
        print(f"== {name}: {time.perf_counter() - began:.0f} s\n", flush=True)


if __name__ == "__main__":
    main()
