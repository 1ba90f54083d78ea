"""Rate limit: a server allowing 20 requests per second, answering 429 beyond it.

``python -m bench.ratelimit [--cases 300] [--rps 20] [--model window,bucket]
[--target llm|wrap_openai]``

``judgekit eval`` (cache off) on a suite of ``--cases`` cases, each one target call and one
``cot_qa`` judge call, against a server that rejects requests over ``--rps`` with 429,
``retry-after-ms`` and ``x-ratelimit-*`` headers (admitted replies carry the headers too).
With ``--target wrap_openai`` the target calls its own
``judgekit.wrap_openai(openai.AsyncOpenAI())`` client (the SDK's default retries on, as a new
user leaves them) instead of the ``llm`` fixture.
The server's limit is modelled two ways (``--model``), since providers differ:

* ``window``: a sliding window, at most ``rps`` requests in any one second; the reset header
  is the time until the window is empty. A spent budget comes back all at once.
* ``bucket``: a token bucket refilled continuously at ``rps`` per second (what OpenAI
  documents); the reset header is the time until it is full again.

Ideal wall time: calls ÷ rps (the limit alone; a full bucket's initial burst could beat it by
at most one second's worth). Judged by: wall ≤ 1.25 × ideal, 429s < 5 % of the requests the
server received, no failed case. 429s and requests are counted at the server.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path
from typing import Any

from bench.common import Server, ratio, run_child, save, write_suite

__all__ = ["main"]

# The target of --target wrap_openai: the bench suite's cases, asked through a wrapped client.
WRAP_TARGET = """

import os

import openai

import judgekit

CLIENT = judgekit.wrap_openai(openai.AsyncOpenAI(base_url=os.environ["OPENAI_BASE_URL"]))


@suite(data=DATA, evaluators=JUDGES[:1])
async def test_wrapped(question: str) -> str:
    reply = await CLIENT.chat.completions.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": question}])
    return reply.choices[0].message.content or ""
"""


def run_once(model: str, *, cases: int, rps: float, concurrency: int | None,
             latency: float, target: str = "llm") -> dict[str, Any]:
    """One ``judgekit eval`` against a fresh server with this rate-limit model."""
    with tempfile.TemporaryDirectory(prefix="jk-bench-") as tmp, \
            Server(latency=latency, rps=rps, rate_model=model) as server:
        work = Path(tmp)
        suite = write_suite(work, cases, n_judges=1)
        if target == "wrap_openai":
            text = suite.read_text()
            suite.write_text(text[:text.index("@suite(")] + WRAP_TARGET)
        argv = [sys.executable, "-m", "judgekit.cli.main", "eval", str(suite), "--cache", "off",
                "--store", str(work / "store.db"), "--json", str(work / "out.json")]
        if concurrency:
            argv += ["--concurrency", str(concurrency)]
        child = run_child(argv, server=server, cwd=work).check("judgekit eval")
        summary = json.loads((work / "out.json").read_text())["experiments"][0]["summary"]
    calls = cases * 2
    received = sum(child.requests.values())
    too_many = child.requests.get("429", 0)
    failed = summary["n_errors"] + sum(v.get("n_error", 0) for v in summary["scores"].values())
    ideal = calls / rps
    return {"model": model, "target": target, "wall_s": round(child.wall_s, 3), "ideal_s": ideal,
            "wall/ideal": ratio(child.wall_s, ideal), "requests": child.requests,
            "429s": too_many, "429_fraction": round(too_many / received, 4) if received else 0,
            "ok_calls": child.requests.get("200", 0), "failed_cases": failed,
            "cpu_s": round(child.cpu_s, 3)}


def main(argv: list[str] | None = None) -> dict[str, Any]:
    """Run the scenario for each model, print the figures, write ``results/ratelimit.json``."""
    parser = argparse.ArgumentParser(prog="python -m bench.ratelimit")
    parser.add_argument("--cases", type=int, default=300, help="cases (2 calls each)")
    parser.add_argument("--rps", type=float, default=20)
    parser.add_argument("--model", default="window,bucket",
                        help="server rate-limit model(s): window, bucket")
    parser.add_argument("--concurrency", type=int,
                        help="judgekit --concurrency (default: judgekit's own)")
    parser.add_argument("--latency", type=float, default=0.0, help="server latency, seconds")
    parser.add_argument("--target", default="llm", choices=["llm", "wrap_openai"],
                        help="the target's calls: the llm fixture or a wrap_openai client")
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--name", default="ratelimit", help="results file name")
    args = parser.parse_args(argv)
    runs = []
    for _ in range(args.repeat):
        for model in args.model.split(","):
            run = run_once(model, cases=args.cases, rps=args.rps,
                           concurrency=args.concurrency, latency=args.latency,
                           target=args.target)
            runs.append(run)
            print(f"{model:>6}: wall {run['wall_s']:6.2f} s vs ideal {run['ideal_s']:.1f} s "
                  f"= {run['wall/ideal']}x (target <= 1.25)  429s {run['429s']} "
                  f"= {run['429_fraction']:.1%} of requests (target < 5%)  "
                  f"failed cases {run['failed_cases']}", flush=True)
    result = {"params": vars(args), "runs": runs,
              "targets": {"wall/ideal": 1.25, "429_fraction": 0.05, "failed_cases": 0}}
    print(f"wrote {save(args.name, result)}")
    return result


if __name__ == "__main__":
    main()
