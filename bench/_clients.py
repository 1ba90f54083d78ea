"""The clients a scenario compares, each run as its own process by the scenario:

* ``api``: judgekit's library entry point, :func:`judgekit.api.run_suite`, on the suite file;
* ``plain``: a plain asyncio + ``openai`` SDK loop making the same calls per case (a target
  call, then the two judge calls together), at most ``--concurrency`` cases at once, one
  ``AsyncOpenAI`` client as the SDK's docs show;
* ``plain-pooled``: the same loop with judgekit's client layout (a client per 16 requests in
  flight, see ``judgekit/models/openai.py``): the baseline for judgekit's own overhead;
* ``langsmith``: ``langsmith.aevaluate`` with ``upload_results=False``, the same target and
  judges written as plain async functions calling the server through the ``openai`` SDK.

Each prints one JSON line: ``{"loop_s": seconds from the first case to the last, "cases",
"errors", "import_s"}``. ``judgekit eval`` (the CLI) needs no wrapper here.
"""

from __future__ import annotations

import time

_T0 = time.perf_counter()

import argparse  # noqa: E402
import asyncio  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import re  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

MODEL = "gpt-4o-mini"
PROMPTS = Path(__file__).resolve().parent.parent / "evaluators" / "judgekit_evaluators" / "prompts"
GRADE = re.compile(r"GRADE:\s*(CORRECT|INCORRECT)")
VERDICT = re.compile(r"\[\[(PASS|FAIL)\]\]")


def _question(i: int) -> str:
    return f"Question {i}: what is the capital of France?"


def _judge_messages(prompt: str, question: str, answer: str) -> list[dict[str, str]]:
    # The prompt file's text as the system message: the same size as judgekit's rendered
    # prompt, and the words the server matches its scripted verdict on.
    return [{"role": "system", "content": (PROMPTS / prompt).read_text()},
            {"role": "user", "content": f"QUESTION: {question}\nANSWER: {answer}\n"
                                        "REFERENCE: Paris"}]


def _api(args: argparse.Namespace) -> dict[str, Any]:
    from judgekit.api import run_suite
    from judgekit.models.settings import ModelSettings
    from judgekit.store import Store
    from judgekit.suite import load_suites

    (suite,) = load_suites(args.suite)
    models = ModelSettings(cache=args.cache, cache_path=Path(args.cache_file)
                           if args.cache_file else None,
                           concurrency=args.concurrency,
                           judge_concurrency=args.judge_concurrency or args.concurrency)
    began = time.perf_counter()
    with Store(args.store) as store:
        result = run_suite(suite, store=store, concurrency=args.concurrency, models=models)
        summary = result.experiments[0].summary or {}
    loop_s = time.perf_counter() - began
    errors = summary.get("n_errors", 0) + sum(
        v.get("n_error", 0) for v in summary.get("scores", {}).values())
    return {"loop_s": loop_s, "cases": summary.get("n_cases"), "errors": errors}


async def _plain(args: argparse.Namespace) -> dict[str, Any]:
    import openai

    pooled = args.client == "plain-pooled"
    clients: list[openai.AsyncOpenAI] = []
    busy: list[int] = []
    sem = asyncio.Semaphore(args.concurrency)
    errors = 0

    def lease() -> int:
        # Fill-first: the first client with < 16 in flight (one client when not pooled).
        for i, n in enumerate(busy):
            if n < 16 or not pooled:
                busy[i] += 1
                return i
        clients.append(openai.AsyncOpenAI(base_url=os.environ["OPENAI_BASE_URL"],
                                          api_key="sk-bench", max_retries=0))
        busy.append(1)
        return len(clients) - 1

    async def chat(messages: list[dict[str, str]]) -> str:
        i = lease()
        try:
            reply = await clients[i].chat.completions.create(
                model=MODEL, messages=messages, temperature=0)  # type: ignore[arg-type]
        finally:
            busy[i] -= 1
        return reply.choices[0].message.content or ""

    async def judge(prompt: str, pattern: re.Pattern[str], question: str, answer: str) -> bool:
        match = pattern.search(await chat(_judge_messages(prompt, question, answer)))
        return match is not None and match.group(1) in ("CORRECT", "PASS")

    async def case(i: int) -> None:
        nonlocal errors
        async with sem:
            try:
                question = _question(i)
                answer = await chat([{"role": "user", "content": question}])
                await asyncio.gather(judge("cot_qa.v1.txt", GRADE, question, answer),
                                     judge("criteria.v1.txt", VERDICT, question, answer))
            except openai.OpenAIError:
                errors += 1

    began = time.perf_counter()
    await asyncio.gather(*(case(i) for i in range(args.cases)))
    loop_s = time.perf_counter() - began
    for client in clients:
        await client.close()
    return {"loop_s": loop_s, "cases": args.cases, "errors": errors, "clients": len(clients)}


async def _langsmith(args: argparse.Namespace) -> dict[str, Any]:
    import uuid

    import openai
    from langsmith import aevaluate
    from langsmith.schemas import Example

    client = openai.AsyncOpenAI(base_url=os.environ["OPENAI_BASE_URL"], api_key="sk-bench",
                                max_retries=0)

    async def chat(messages: list[dict[str, str]]) -> str:
        reply = await client.chat.completions.create(model=MODEL, messages=messages,  # type: ignore[arg-type]
                                                     temperature=0)
        return reply.choices[0].message.content or ""

    async def target(inputs: dict[str, Any]) -> dict[str, Any]:
        return {"answer": await chat([{"role": "user", "content": inputs["question"]}])}

    async def cot_qa(inputs: dict[str, Any], outputs: dict[str, Any]) -> dict[str, Any]:
        text = await chat(_judge_messages("cot_qa.v1.txt", inputs["question"],
                                          outputs["answer"]))
        match = GRADE.search(text)
        return {"key": "cot_qa", "score": bool(match and match.group(1) == "CORRECT")}

    async def criteria(inputs: dict[str, Any], outputs: dict[str, Any]) -> dict[str, Any]:
        text = await chat(_judge_messages("criteria.v1.txt", inputs["question"],
                                          outputs["answer"]))
        match = VERDICT.search(text)
        return {"key": "criteria", "score": bool(match and match.group(1) == "PASS")}

    dataset_id = uuid.uuid4()
    examples = [Example(id=uuid.uuid4(), dataset_id=dataset_id,
                        inputs={"question": _question(i)}, outputs={"answer": "Paris"})
                for i in range(args.cases)]
    began = time.perf_counter()
    results = await aevaluate(target, data=examples, evaluators=[cot_qa, criteria],
                              upload_results=False, max_concurrency=args.concurrency)
    rows = errors = 0
    async for row in results:
        rows += 1
        scored = row["evaluation_results"]["results"]
        errors += row["run"].error is not None or len(scored) != 2
    loop_s = time.perf_counter() - began
    await client.close()
    return {"loop_s": loop_s, "cases": rows, "errors": errors}


def main(argv: list[str] | None = None) -> None:
    """Run one client and print its JSON line."""
    parser = argparse.ArgumentParser(prog="python -m bench._clients")
    parser.add_argument("client", choices=("api", "plain", "plain-pooled", "langsmith"))
    parser.add_argument("--cases", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--judge-concurrency", type=int)
    parser.add_argument("--suite", help="suite file (api)")
    parser.add_argument("--store", help="store file (api)")
    parser.add_argument("--cache", default="off")
    parser.add_argument("--cache-file")
    args = parser.parse_args(argv)
    import_s = time.perf_counter() - _T0
    if args.client == "api":
        out = _api(args)
    elif args.client in ("plain", "plain-pooled"):
        out = asyncio.run(_plain(args))
    else:
        out = asyncio.run(_langsmith(args))
    out["import_s"] = import_s
    print(json.dumps(out), flush=True)


if __name__ == "__main__":
    main()
