"""A two-variant suite that calls a model and a judge, and helpers to read what LangSmith got."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from e2e_support import JUDGE_SYSTEM, write
from langsmith_server import LangSmithServer
from openai_server import OpenAIServer, Reply

__all__ = ["QA", "SECRET", "SUITE", "TARGET_USAGE", "feedback_of", "ls_env", "roots", "serve",
           "target_reply", "write_suite"]

#: The LangSmith key of these tests: it must never show up in anything sent or stored.
SECRET = "lsv2_sk_judgekit_test_secret_4f1c"

QA = [
    {"id": "paris", "inputs": {"question": "Capital of France?"}, "reference": "Paris"},
    {"id": "sum", "inputs": {"question": "What is 2+2?"}, "reference": "4"},
    {"id": "moon", "inputs": {"question": "Is the moon made of cheese?"}, "reference": "no"},
]
ANSWERS = {"Capital of France?": "Paris", "What is 2+2?": "5", "Is the moon made of cheese?": "no"}
TARGET_USAGE = {"prompt_tokens": 12, "completion_tokens": 3, "cached_tokens": 4}

SUITE = """\
from judgekit import Goals, dataset, parametrize, suite
from judgekit.models import LLM
from judgekit_evaluators import cot_qa, exact_match

QA = dataset("data/qa.jsonl")


@suite(data=QA, evaluators=[exact_match(), cot_qa(model="gpt-4o")],
       goals=Goals(accuracy=("cot_qa", 0.5)))
@parametrize("model", ["gpt-4o-mini", "gpt-4o"])
async def test_qa(question: str, llm: LLM) -> str:
    return (await llm.chat(question, temperature=0)).text
"""


def write_suite(root: Path, rows: list[dict[str, Any]] = QA) -> Path:
    """The suite and its data under ``root/suites``; returns the suite path."""
    write(root / "suites" / "data" / "qa.jsonl", "".join(json.dumps(r) + "\n" for r in rows))
    return write(root / "suites" / "qa.py", SUITE)


def target_reply(text: str) -> Reply:
    """A target model's reply carrying :data:`TARGET_USAGE`."""
    return Reply(text, prompt_tokens=TARGET_USAGE["prompt_tokens"],
                 completion_tokens=TARGET_USAGE["completion_tokens"],
                 cached_tokens=TARGET_USAGE["cached_tokens"])


def serve(srv: OpenAIServer) -> None:
    """Targets answer by question (with usage); the judge says CORRECT, except for the moon,
    where its reply has no GRADE line (an unscored verdict)."""
    def target(body: dict[str, Any]) -> Reply:
        question = body["messages"][-1]["content"]
        return target_reply(ANSWERS.get(question, "?"))

    srv.reply(None, target)
    srv.reply(JUDGE_SYSTEM, Reply("The answer matches the reference.\nGRADE: CORRECT"))
    srv.reply(lambda b: JUDGE_SYSTEM in json.dumps(b) and "cheese" in json.dumps(b),
              Reply("I cannot decide from this."))


def ls_env(srv: LangSmithServer | None, **extra: str) -> dict[str, str]:
    """Environment pointing judgekit at ``srv`` (with its key)."""
    env = {"LANGSMITH_ENDPOINT": srv.url, "LANGSMITH_API_KEY": srv.api_key} if srv else {}
    env.update(extra)
    return env


def roots(srv: LangSmithServer, session_id: str) -> list[dict[str, Any]]:
    """The root runs of an experiment."""
    return [r for r in srv.runs.values()
            if r.get("session_id") == session_id and r.get("parent_run_id") is None]


def feedback_of(srv: LangSmithServer, run_id: str) -> dict[str, dict[str, Any]]:
    """A run's feedback by key (asserting each key appears once)."""
    items = [f for f in srv.feedback.values() if f.get("run_id") == run_id]
    keys = [f["key"] for f in items]
    assert len(keys) == len(set(keys)), f"duplicate feedback keys on run {run_id}: {keys}"
    return {f["key"]: f for f in items}
