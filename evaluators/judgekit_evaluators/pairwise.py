"""Pairwise judging: is output A better than output B, with both orders asked?

A is the case's ``outputs``; B is ``other_outputs`` when the caller passes it (the runner does
for ``pairwise(against="<variant>")``, comparing each variant with that one), else
``reference_outputs``. The judge is asked twice (per
sample): with A shown first, and with B shown first; the second verdict is un-swapped so both
speak of the same A and B. Verdicts are ``[[A]]``, ``[[B]]`` and ``[[C]]`` (a tie), as in
MT-Bench. Prompt: ``prompts/pairwise.v1.txt``.

Scores:

* both orders agree: value ``A`` (score 1.0, passed), ``B`` (0.0, failed) or ``tie`` (0.5);
* the orders disagree (position bias): value ``inconsistent`` with score 0.5 and ``passed``
  None. It counts as a tie in means, which is what MT-Bench does with inconsistent pairs, and
  stays visible as its own value. ``metadata["orders"]`` holds both verdicts (A first, then B
  first, un-swapped) and ``metadata["order_agreement"]`` says whether they agree;
* either order without a verdict: *unscored* with both replies in ``metadata["raw"]``.

With ``samples=n`` each order is asked n times and reduced by majority first; ``samples`` in
the metadata lists every un-swapped sample verdict, A-first ones then B-first ones, and
``agreement`` is the fraction of them equal to the final verdict (``C`` for a tie or an
inconsistent pair).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from typing import Any

from judgekit.evaluation import evaluator
from judgekit.types import Score
from judgekit_evaluators._common import pick, unscored
from judgekit_evaluators._judge import (
    DEFAULT_SEED,
    JudgeSpec,
    Vote,
    ask,
    check_options,
    data_block,
    load_prompt,
    prompt_version,
    question_of,
    verdict_schema,
)

__all__ = ["pairwise"]

_SCHEMA = verdict_schema({"type": "string", "enum": ["A", "B", "C"]})
_SWAP = {"A": "B", "B": "A", "C": "C"}
_RESULT = {"A": ("A", 1.0), "B": ("B", 0.0), "C": ("tie", 0.5)}


def _unswap(value: Any) -> Any:
    return _SWAP.get(value, value) if isinstance(value, str) else value


@evaluator(version=prompt_version("pairwise"), judge=True)
def pairwise(
    *,
    criteria: str | None = None,
    against: str | None = None,
    model: Any = None,
    samples: int = 1,
    temperature: float | None = None,
    seed: int = DEFAULT_SEED,
    structured: bool | None = False,
    key: str = "pairwise",
) -> Callable[..., Coroutine[Any, Any, Score]]:
    """Compare the output (A) with another output or the reference (B), in both orders.

    Args:
        criteria: What "better" means (text). Default: helpfulness, relevance, accuracy,
            depth and level of detail in following the user's input.
        against: In a suite with several variants, the label of the variant every other
            variant is compared with: the runner scores this evaluator after all cases have
            run and passes that variant's outputs as B (``other_outputs``).
        model: The judge model (a string or a ``ChatModel``); default the judge model setting.
        samples: Ask each order this many times and take the majority (a tie is unscored).
        temperature: Default 0 for one sample, 0.7 for several.
        seed: Sent with each call (sample ``i`` uses ``seed + i``).
        structured: Ask for a JSON verdict instead of ``[[A]]``; None uses it when the model
            supports structured output. Default: text.
        key: The score key.

    Returns:
        An evaluator scoring 1.0 when A wins, 0.0 when B wins, 0.5 for a tie or when the two
        orders disagree (value ``inconsistent``); see the module docs.

    Example:
        >>> from judgekit.models.mock import MockModel
        >>> judge = MockModel(["A is right. [[A]]", "The second one is right. [[B]]"])
        >>> pairwise(model=judge)(inputs="2+2?", outputs="4",
        ...                       reference_outputs="5")["value"]
        'A'
    """
    check_options(samples, temperature, seed)
    spec = JudgeSpec(key=key, prompt=load_prompt("pairwise"), kind="choice", model=model,
                     samples=samples, temperature=temperature, seed=seed,
                     structured=structured, schema=_SCHEMA)
    text = (criteria or "").strip()

    async def compare(*, inputs: Any = None, outputs: Any = None,
                      reference_outputs: Any = None, other_outputs: Any = None) -> Score:
        other = other_outputs if other_outputs is not None else reference_outputs
        if other is None:
            return unscored("nothing to compare with: no other_outputs and no reference "
                            "output (reference_outputs is None)")
        a, b = pick(outputs, None, "output")[0], pick(other, None, "other output")[0]
        question = question_of(inputs)
        block = "" if question is None else data_block("INPUT", question)

        def fields(first: Any, second: Any) -> dict[str, str]:
            return {"criteria": text, "input": block,
                    "answer_a": data_block("RESPONSE A", first),
                    "answer_b": data_block("RESPONSE B", second)}

        ab, ba = await asyncio.gather(ask(spec, **fields(a, b)), ask(spec, **fields(b, a)))
        if isinstance(ab, Score):
            return ab
        if isinstance(ba, Score):
            return ba
        return _combine(ab, ba)

    return compare


def _combine(ab: Vote, ba: Vote) -> Score:
    first, second = ab.value, _unswap(ba.value)
    values = ab.values + [_unswap(v) for v in ba.values]
    meta = {**ab.meta, "orders": [first, second], "order_agreement": first == second,
            "samples": values}
    if first is None or second is None:
        why = "; ".join(f"{name}: {v.reason}" for name, v in (("A first", ab), ("B first", ba))
                        if v.value is None)
        return Score(key="", status="unscored", comment=why,
                     metadata={**meta, "agreement": None, "raw": ab.raw + ba.raw})
    final = first if first == second else "C"
    meta["agreement"] = sum(v == final for v in values) / len(values)
    if first != second:
        comment = (f"the two orders disagree (A first: {first}, B first: {second}), counted "
                   f"as a tie.\nA first: {ab.reasoning}\nB first (A and B swapped): {ba.reasoning}")
        return Score(key="", score=0.5, value="inconsistent", comment=comment, metadata=meta)
    value, score = _RESULT[str(final)]
    return Score(key="", score=score, value=value, comment=ab.reasoning, metadata=meta)
