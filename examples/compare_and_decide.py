"""Decide with judgekit: the cheapest variant that meets the goals, and a cascade.

A support-ticket router is run with three models: gpt-4o (strong, dear), gpt-4o-mini (cheap,
weaker) and a fine-tuned gpt-4o-mini. Each answers ``{"label": ..., "confidence": ...}``.
Then, from the store alone (no model calls):

* ``compare`` with paired McNemar tests against gpt-4o,
* ``pick``: the cheapest variant meeting every goal, as a share of gpt-4o's cost,
* break-even accuracy for "50 saved per routed ticket, 300 lost per misrouted one",
* a cascade search: ask the cheap model first, accept its answer when it is confident.

Runs offline: ``MockModel`` stands in for the three models (priced as the real ones by
genai-prices) and goes through the same pipeline as a real provider. It is a suite file too::

    python examples/compare_and_decide.py
    judgekit eval examples/compare_and_decide.py && judgekit compare RUN --pick --mpi
"""

from __future__ import annotations

import hashlib
import json
import tempfile
from typing import Any

import judgekit
from judgekit import Goals, dataset, parametrize, suite
from judgekit.models import MockModel, ModelSettings, use_settings

LABELS = ("billing", "bug", "feature", "account")
TICKETS = [{"id": f"t{i:02}", "inputs": {"ticket": f"ticket #{i} about {LABELS[i % 4]}"},
            "reference": LABELS[i % 4]} for i in range(60)]

#: Share of tickets each model routes right; a wrong answer usually comes with low confidence.
SKILL = {"gpt-4o": 0.95, "gpt-4o-mini": 0.72, "ft:gpt-4o-mini-2024-07-18:acme::r1": 0.88}


def _draw(model: str, text: str) -> float:
    """A fixed pseudo-random number in [0, 1) per model and ticket."""
    return int(hashlib.sha256(f"{model}|{text}".encode()).hexdigest()[:8], 16) / 2**32


def _router(model: str) -> MockModel:
    def reply(messages: list[dict[str, Any]], params: dict[str, Any]) -> str:
        ticket = str(messages[-1]["content"])
        truth = ticket.rsplit(" ", 1)[-1]
        right = _draw(model, ticket) < SKILL[model]
        label = truth if right else LABELS[(LABELS.index(truth) + 1) % 4]
        confident = right if _draw(model + "c", ticket) < 0.9 else not right
        return json.dumps({"label": label, "confidence": 0.95 if confident else 0.55})

    return MockModel(reply, model=model)


MODELS = {name: _router(name) for name in SKILL}


def routed(*, outputs: Any, reference_outputs: Any) -> bool:
    """The ticket went to the right queue."""
    return bool(outputs["label"] == reference_outputs)


def confidence(*, outputs: Any) -> dict[str, Any]:
    """The model's own confidence: a cascade's acceptance signal (no pass/fail)."""
    return {"score": outputs["confidence"], "passed": None}


@suite(data=dataset(TICKETS), evaluators=[routed, confidence],
       goals=Goals(accuracy=("routed", 0.85), cost_per_1k=2.0))
@parametrize("model", list(SKILL))
async def test_route(ticket: str, model: str, llm: Any) -> dict[str, Any]:
    reply = await llm.chat(f"Route this ticket to one of {', '.join(LABELS)}: {ticket}",
                           model=MODELS[model])
    return dict(json.loads(reply.text))


def main() -> int:
    with use_settings(ModelSettings(cache="off")), \
            judgekit.Store(tempfile.mkdtemp() + "/judgekit.db") as store:
        run = judgekit.run_suite(test_route, store=store)
        result = judgekit.compare(run.run_id, store=store, seed=0)
        for row in result.metric("routed").rows[1:]:
            assert row.test is not None
            print(f"{row.label}: routed {row.value:.0%}, {row.test.delta * 100:+.1f} pt against "
                  f"gpt-4o, McNemar p={row.test.p_value:.3f}")
        print(result.pick().sentence)
        be = result.break_even(value_per_item=50, cost_per_error=300)
        print(f"break-even accuracy {be.accuracy_needed:.1%}: "
              + ", ".join(f"{r.label} {'clears' if r.clears else 'misses'}" for r in be.rows))
        # Half of gpt-4o's cost per 1,000 tickets: can a cascade match it for less?
        budget = (result.variants[0].target_per_1k or 0.0) / 2
        found = result.search_cascade("confidence", budget=budget, holdout=0.3)
        if found.best is not None and found.best_holdout is not None:
            print(f"best cascade under ${budget:.4f} per 1k: {found.best.describe()} "
                  f"(fitted {found.best.accuracy:.0%}, held out {found.best_holdout.accuracy:.0%}"
                  f", ${found.best_holdout.cost_per_1k:.4f} per 1k)")
        return 0


if __name__ == "__main__":
    raise SystemExit(main())
