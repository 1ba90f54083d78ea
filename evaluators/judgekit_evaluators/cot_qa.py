"""Chain-of-thought QA grading: is the answer correct, given the reference answer?

The judge reasons step by step and ends with ``GRADE: CORRECT`` or ``GRADE: INCORRECT``; the last
GRADE line wins, and a reply whose last GRADE is anything else (or that has none) is *unscored*
with the raw reply kept in ``metadata["raw"]``. Prompt: ``prompts/cot_qa.v1.txt``.

What the judge sees, each as an untrusted-data block (see :mod:`judgekit_evaluators._judge`):

* the question: the ``question`` (else ``query``, ``input``) field of ``inputs``, else the
  inputs themselves (a one-field mapping unwrapped), rendered as JSON when not a string;
* the reference: ``reference_outputs`` (a one-field mapping such as ``{"answer": ...}``
  unwrapped); none gives *unscored* without calling the judge;
* the answer: ``outputs``, unwrapped the same way.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any

from judgekit.evaluation import evaluator
from judgekit.types import Score
from judgekit_evaluators._common import pick, unscored
from judgekit_evaluators._judge import (
    DEFAULT_SEED,
    JudgeSpec,
    ask,
    check_options,
    data_block,
    load_prompt,
    prompt_version,
    question_of,
    unscored_vote,
    verdict_schema,
)

__all__ = ["cot_qa"]

_SCHEMA = verdict_schema({"type": "string", "enum": ["CORRECT", "INCORRECT"]})


@evaluator(version=prompt_version("cot_qa"), judge=True)
def cot_qa(
    *,
    model: Any = None,
    samples: int = 1,
    temperature: float | None = None,
    seed: int = DEFAULT_SEED,
    structured: bool | None = False,
    key: str = "cot_qa",
) -> Callable[..., Coroutine[Any, Any, Score]]:
    """Grade an answer against the reference answer with step-by-step reasoning.

    Args:
        model: The judge: a model string (``"gpt-4o-mini"``, ``"openai:gpt-4o"``), or a
            ``ChatModel``. Default: ``--judge-model`` / ``JUDGEKIT_JUDGE_MODEL`` / gpt-4o.
        samples: Ask this many times and take the majority grade (use an odd number: a tie is
            unscored); every sample's grade and the agreement rate go in the metadata.
        temperature: Default 0 for one sample, 0.7 for several (so they can differ).
        seed: Sent with each call (sample ``i`` uses ``seed + i``).
        structured: Ask for a JSON verdict (``response_format``) instead of the GRADE line;
            ``None`` uses it when the model supports structured output. Default: text.
        key: The score key.

    Returns:
        An evaluator scoring 1.0 with value ``CORRECT`` (passed) or 0.0 with ``INCORRECT``;
        the comment is the judge's reasoning. *Skipped* when no judge model is configured.

    Example:
        >>> from judgekit.models.mock import MockModel
        >>> judge = MockModel("Both name Paris.\\nGRADE: CORRECT")
        >>> cot_qa(model=judge)(inputs={"question": "Capital of France?"},
        ...     outputs="Paris", reference_outputs="Paris")["value"]
        'CORRECT'
    """
    check_options(samples, temperature, seed)
    spec = JudgeSpec(key=key, prompt=load_prompt("cot_qa"), kind="grade", model=model,
                     samples=samples, temperature=temperature, seed=seed,
                     structured=structured, schema=_SCHEMA)

    async def grade(*, inputs: Any = None, outputs: Any = None,
                    reference_outputs: Any = None) -> Score:
        if reference_outputs is None:
            return unscored("no reference answer to grade against (reference_outputs is None)")
        reference, _ = pick(reference_outputs, None, "reference")
        answer, _ = pick(outputs, None, "output")
        vote = await ask(spec, question=data_block("QUESTION", question_of(inputs)),
                         reference=data_block("REFERENCE", reference),
                         answer=data_block("ANSWER", answer))
        if isinstance(vote, Score):
            return vote
        if vote.value is None:
            return unscored_vote(vote)
        correct = vote.value == "CORRECT"
        return Score(key="", score=1.0 if correct else 0.0, value=str(vote.value),
                     passed=correct, comment=vote.reasoning, metadata=vote.metadata())

    return grade
