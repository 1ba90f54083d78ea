"""Rubric judging: does the output meet the criteria (pass/fail), or how well (a numeric scale)?

The judge reasons first and gives its verdict last: ``[[PASS]]`` / ``[[FAIL]]``, or ``[[n]]`` on
the scale. With structured output (``response_format`` with a JSON schema of ``reasoning`` and
``verdict``), used when the model supports it, the reply is JSON instead; both are read by
:func:`judgekit_evaluators.verdicts.read_verdict`. Prompts: ``prompts/criteria.v1.txt`` and
``prompts/criteria_scale.v1.txt``.

Scores:

* pass/fail: 1.0 with value ``PASS`` (passed) or 0.0 with ``FAIL``.
* scale ``(lo, hi)``: ``score`` is the rating normalised to 0..1, ``(rating - lo) / (hi - lo)``,
  so means across judges with different scales compare; ``value`` is the rating as the judge gave
  it (``"7"``; the mean of the samples with ``samples > 1``, e.g. ``"7.33"``) and
  ``metadata["rating"]`` the number. ``passed`` is set only with ``threshold=`` (on the judge's
  scale: ``threshold=7`` passes ratings of 7 and more); without it a rating is neither, except
  that :class:`~judgekit.types.Score` reads a bare 0.0 or 1.0 as fail/pass, so the two ends of
  the scale show as failed/passed. Give ``threshold=`` whenever pass/fail matters.

The judge sees the input (``inputs``: the ``question``/``query``/``input`` field or the whole
inputs), the output and, with ``reference=True``, ``reference_outputs``, as untrusted-data blocks.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine, Mapping
from typing import Any

from judgekit.errors import EvaluatorError
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

__all__ = ["criteria"]


def _rubric_text(rubric: Any) -> str:
    if isinstance(rubric, Mapping):
        text = "\n".join(f"- {name}: {desc}" for name, desc in rubric.items())
    elif isinstance(rubric, str):
        text = rubric.strip()
    else:
        text = ""
    if not text.strip():
        raise EvaluatorError("criteria(rubric=...): give the criteria as text, or as a dict "
                             "{name: description}, e.g. criteria('The answer is polite.')")
    return text


def _check_scale(scale: Any, threshold: Any) -> tuple[float, float] | None:
    if scale is None:
        if threshold is not None:
            raise EvaluatorError("criteria(threshold=...) needs scale=(lo, hi): a pass/fail "
                                 "rubric passes on [[PASS]] already")
        return None
    ok = (isinstance(scale, (tuple, list)) and len(scale) == 2
          and all(isinstance(x, (int, float)) and not isinstance(x, bool) for x in scale)
          and scale[0] < scale[1])
    if not ok:
        raise EvaluatorError(f"criteria(scale={scale!r}): give (lo, hi) with lo < hi, "
                             "e.g. scale=(1, 10)")
    lo, hi = float(scale[0]), float(scale[1])
    if threshold is not None and not (isinstance(threshold, (int, float))
                                      and lo <= threshold <= hi):
        raise EvaluatorError(f"criteria(threshold={threshold!r}) must be a number on the "
                             f"scale {scale[0]}..{scale[1]}")
    return lo, hi


def _num(x: float) -> str:
    return f"{x:g}" if x == int(x) else f"{x:.2f}".rstrip("0")


@evaluator(version=prompt_version("criteria", "criteria_scale"), judge=True)
def criteria(
    rubric: str | Mapping[str, str],
    *,
    scale: tuple[float, float] | None = None,
    reference: bool = False,
    threshold: float | None = None,
    model: Any = None,
    samples: int = 1,
    temperature: float | None = None,
    seed: int = DEFAULT_SEED,
    structured: bool | None = None,
    key: str = "criteria",
) -> Callable[..., Coroutine[Any, Any, Score]]:
    """Judge the output against a rubric: pass/fail, or a rating on ``scale``.

    Args:
        rubric: The criteria, as text or as ``{name: description}``.
        scale: ``(lo, hi)`` for a numeric rating (e.g. ``(1, 10)``); None for pass/fail.
        reference: Show the judge ``reference_outputs`` as an example of a good output (a case
            without one is unscored).
        threshold: With ``scale``, the rating at or above which the case passes.
        model: The judge model (a string or a ``ChatModel``); default the judge model setting.
        samples: Ask this many times: majority of PASS/FAIL (a tie is unscored), mean rating.
        temperature: Default 0 for one sample, 0.7 for several.
        seed: Sent with each call (sample ``i`` uses ``seed + i``).
        structured: JSON-schema output; None (default) uses it when the model supports it.
        key: The score key.

    Returns:
        An evaluator; see the module docs for the score. The comment is the judge's reasoning.

    Example:
        >>> from judgekit.models.mock import MockModel
        >>> judge = MockModel("Polite and clear.\\n[[8]]")
        >>> ev = criteria("The reply is polite.", scale=(1, 10), threshold=7, model=judge)
        >>> r = ev(inputs="Say hi", outputs="Hello there!")
        >>> r["score"], r["value"]
        (0.7777777777777778, '8')
    """
    text = _rubric_text(rubric)
    bounds = _check_scale(scale, threshold)
    check_options(samples, temperature, seed)
    if bounds is None:
        spec = JudgeSpec(key=key, prompt=load_prompt("criteria"), kind="pass", model=model,
                         samples=samples, temperature=temperature, seed=seed,
                         structured=structured,
                         schema=verdict_schema({"type": "string", "enum": ["PASS", "FAIL"]}))
        fields = {"rubric": text}
    else:
        spec = JudgeSpec(key=key, prompt=load_prompt("criteria_scale"), kind="rating",
                         model=model, samples=samples, temperature=temperature, seed=seed,
                         structured=structured, schema=verdict_schema({"type": "number"}),
                         parse_opts={"scale": bounds})
        fields = {"rubric": text, "lo": _num(bounds[0]), "hi": _num(bounds[1])}

    async def judge(*, inputs: Any = None, outputs: Any = None,
                    reference_outputs: Any = None) -> Score:
        ref = ""
        if reference:
            if reference_outputs is None:
                return unscored("criteria(reference=True) needs a reference output "
                                "(reference_outputs is None)")
            ref = data_block("REFERENCE", pick(reference_outputs, None, "reference")[0])
        question = question_of(inputs)
        vote = await ask(spec, **fields,
                         input="" if question is None else data_block("INPUT", question),
                         output=data_block("OUTPUT", pick(outputs, None, "output")[0]),
                         reference=ref)
        if isinstance(vote, Score):
            return vote
        if vote.value is None:
            return unscored_vote(vote)
        meta = vote.metadata()
        if bounds is None:
            ok = vote.value == "PASS"
            return Score(key="", score=1.0 if ok else 0.0, value=str(vote.value), passed=ok,
                         comment=vote.reasoning, metadata=meta)
        lo, hi = bounds
        rating = float(vote.value)
        meta.update(rating=rating, scale=[lo, hi])
        return Score(key="", score=(rating - lo) / (hi - lo), value=_num(rating),
                     passed=None if threshold is None else rating >= threshold,
                     comment=vote.reasoning, metadata=meta)

    return judge
