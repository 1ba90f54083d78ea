"""Send an evaluation to LangSmith: a dataset, two experiments to compare, traces and feedback.

The two variants answer through a scripted model (``MockModel``: no API key, no network for the
model), so each case has a child ``llm`` run with its messages and tokens, and ``exact_match``
gives one feedback per case. Where it goes is the usual LangSmith environment::

    export LANGSMITH_API_KEY=lsv2_...           # your key
    export LANGSMITH_ENDPOINT=https://api.smith.langchain.com   # or a self-hosted LangSmith
    python examples/langsmith_sync.py

It prints the dataset, each experiment and the comparison URL. The same run could be sent
later from the store with ``judgekit sync RUN``; sending it twice creates nothing new. Without
``LANGSMITH_API_KEY`` it says so and sends nothing.
"""

from __future__ import annotations

import os
import sys
import tempfile

import judgekit
from judgekit.langsmith import LangSmithError, sync_run
from judgekit.models import LLM, MockModel
from judgekit_evaluators import exact_match

CAPITALS = [
    {"id": "fr", "inputs": {"country": "France"}, "reference": "Paris"},
    {"id": "jp", "inputs": {"country": "Japan"}, "reference": "Tokyo"},
    {"id": "au", "inputs": {"country": "Australia"}, "reference": "Canberra"},
]
# Two scripted "models" answering the three questions in order (MockModel replies in turn).
SCRIPTS = {"terse": ["Paris", "Tokyo", "Sydney"], "careful": ["Paris", "Tokyo", "Canberra"]}
MODELS = {name: MockModel(replies=replies, model=f"mock-{name}")
          for name, replies in SCRIPTS.items()}


async def capital(country: str, style: str, llm: LLM) -> str:
    """The application under test: ask the variant's model for the capital."""
    reply = await llm.chat(f"What is the capital of {country}? One word.", model=MODELS[style])
    return reply.text.strip()


def main() -> int:
    if not os.environ.get("LANGSMITH_API_KEY") and not os.environ.get("LANGCHAIN_API_KEY"):
        print("set LANGSMITH_API_KEY (and LANGSMITH_ENDPOINT for a self-hosted LangSmith) "
              "to send this evaluation; nothing was sent")
        return 0
    store = tempfile.mkdtemp() + "/judgekit.db"
    result = judgekit.evaluate(capital, data=CAPITALS, evaluators=[exact_match()],
                               variants={"style": list(MODELS)}, name="capitals",
                               concurrency=1, store=store)
    print(result.summary())
    try:
        sent = sync_run(result.store, result.run_id)
    except LangSmithError as exc:
        print(f"error: {exc}; the run is in {store}", file=sys.stderr)
        return 2
    ds = sent.dataset
    assert ds is not None
    print(f"dataset {ds.name}: {ds.url}")
    for exp in sent.experiments:
        print(f"experiment {exp.name}: {exp.runs} runs, {exp.feedback} feedback, {exp.url}")
    print(f"compare: {sent.compare_url}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
