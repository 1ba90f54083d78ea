"""Judges for retrieval-augmented generation: groundedness, answer and retrieval relevance.

All three are pass/fail with reasoning first (``[[PASS]]`` / ``[[FAIL]]``, or a JSON verdict with
structured output when the model supports it) and score 1.0 (``PASS``, passed) or 0.0
(``FAIL``). Prompts: ``prompts/<name>.v1.txt``.

Where the judges look (first present wins):

* question: ``inputs["question"]``, ``["query"]``, ``["input"]``, else the inputs themselves (a
  string, or the other fields when the mapping holds more than the context);
* retrieved context: ``inputs["context"]``, ``["contexts"]``, ``["documents"]``, then the same
  fields of ``outputs`` (a RAG app often returns what it retrieved). A list is one document per
  item, each shown to the judge as its own block; a document may be a string, a mapping with
  ``page_content``, ``content`` or ``text``, or a LangChain ``Document``;
* answer: ``outputs`` when it is a string; from a mapping, ``answer``, ``output`` or
  ``response``, else the fields other than the context.

A judge that needs a field the case does not have raises
:class:`~judgekit.errors.EvaluatorError` naming it (the score becomes an *error*: the dataset or
the app's output does not fit the judge).
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine, Mapping, Sequence
from typing import Any

from judgekit.errors import EvaluatorError
from judgekit.evaluation import evaluator
from judgekit.types import Score
from judgekit_evaluators._judge import (
    CONTEXT_KEYS,
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

__all__ = ["ANSWER_KEYS", "answer_relevance", "find_context", "groundedness",
           "retrieval_relevance"]

#: Output fields read as the answer, first present wins.
ANSWER_KEYS = ("answer", "output", "response")
_DOC_TEXT_KEYS = ("page_content", "content", "text")
_SCHEMA = verdict_schema({"type": "string", "enum": ["PASS", "FAIL"]})


def _fields(value: Any) -> str:
    if isinstance(value, Mapping):
        return ", ".join(repr(str(k)) for k in list(value)[:8]) or "none"
    return f"none (it is a {type(value).__name__})"


def find_context(name: str, inputs: Any, outputs: Any) -> list[Any]:
    """The retrieved documents of a case, as a list (see the module docs for where).

    Raises:
        EvaluatorError: neither inputs nor outputs has a context field.
    """
    for side in (inputs, outputs):
        if isinstance(side, Mapping):
            for k in CONTEXT_KEYS:
                if k in side:
                    found = side[k]
                    return list(found) if isinstance(found, (list, tuple)) else [found]
    raise EvaluatorError(
        f"{name} needs the retrieved context: put it in inputs['context'] (or 'contexts', "
        f"'documents'), or return it in outputs['context']; inputs has fields: "
        f"{_fields(inputs)}; outputs has fields: {_fields(outputs)}")


def _doc_text(doc: Any) -> Any:
    if isinstance(doc, Mapping):
        for k in _DOC_TEXT_KEYS:
            if k in doc:
                return doc[k]
        return doc
    content = getattr(doc, "page_content", None)  # a LangChain Document
    return content if isinstance(content, str) else doc


def _context_blocks(docs: Sequence[Any]) -> str:
    if len(docs) == 1:
        return data_block("CONTEXT", _doc_text(docs[0]))
    return "\n\n".join(data_block(f"CONTEXT {i}", _doc_text(d))
                       for i, d in enumerate(docs, 1)) or data_block("CONTEXT", "")


def _answer(outputs: Any) -> Any:
    if not isinstance(outputs, Mapping):
        return outputs
    for k in ANSWER_KEYS:
        if k in outputs:
            return outputs[k]
    rest = {k: v for k, v in outputs.items() if k not in CONTEXT_KEYS}
    return next(iter(rest.values())) if len(rest) == 1 else rest


def _question(name: str, inputs: Any, required: bool) -> str:
    question = question_of(inputs)
    if question is None or question == "":
        if not required:
            return ""
        raise EvaluatorError(
            f"{name} needs the question: put it in inputs['question'] (or 'query', 'input'); "
            f"inputs has fields: {_fields(inputs)}")
    return data_block("QUESTION", question)


def _build(name: str, key: str, model: Any, samples: int, temperature: float | None,
           seed: int, structured: bool | None,
           fields: Callable[[Any, Any], dict[str, str]]
           ) -> Callable[..., Coroutine[Any, Any, Score]]:
    check_options(samples, temperature, seed)
    spec = JudgeSpec(key=key, prompt=load_prompt(name), kind="pass", model=model,
                     samples=samples, temperature=temperature, seed=seed,
                     structured=structured, schema=_SCHEMA)

    async def judge(*, inputs: Any = None, outputs: Any = None) -> Score:
        vote = await ask(spec, **fields(inputs, outputs))
        if isinstance(vote, Score):
            return vote
        if vote.value is None:
            return unscored_vote(vote)
        ok = vote.value == "PASS"
        return Score(key="", score=1.0 if ok else 0.0, value=str(vote.value), passed=ok,
                     comment=vote.reasoning, metadata=vote.metadata())

    return judge


@evaluator(version=prompt_version("groundedness"), judge=True)
def groundedness(*, model: Any = None, samples: int = 1, temperature: float | None = None,
                 seed: int = DEFAULT_SEED, structured: bool | None = None,
                 key: str = "groundedness") -> Callable[..., Coroutine[Any, Any, Score]]:
    """Pass when every claim in the answer is supported by the retrieved context.

    Needs the context (``inputs``/``outputs`` ``context``); the question is shown when found.

    Args:
        model: The judge model (a string or a ``ChatModel``); default the judge model setting.
        samples: Ask this many times and take the majority (a tie is unscored).
        temperature: Default 0 for one sample, 0.7 for several.
        seed: Sent with each call (sample ``i`` uses ``seed + i``).
        structured: JSON-schema output; None (default) uses it when the model supports it.
        key: The score key.

    Returns:
        An evaluator scoring 1.0 (``PASS``) or 0.0 (``FAIL``), the comment being the reasoning.

    Example:
        >>> from judgekit.models.mock import MockModel
        >>> ev = groundedness(model=MockModel("The context says 1889.\\n[[PASS]]"))
        >>> ev(inputs={"question": "When was the tower built?",
        ...            "context": ["The Eiffel Tower was completed in 1889."]},
        ...    outputs="In 1889.")["value"]
        'PASS'
    """
    def fields(inputs: Any, outputs: Any) -> dict[str, str]:
        return {"context": _context_blocks(find_context("groundedness", inputs, outputs)),
                "input": _question("groundedness", inputs, required=False),
                "answer": data_block("ANSWER", _answer(outputs))}

    return _build("groundedness", key, model, samples, temperature, seed, structured, fields)


@evaluator(version=prompt_version("answer_relevance"), judge=True)
def answer_relevance(*, model: Any = None, samples: int = 1, temperature: float | None = None,
                     seed: int = DEFAULT_SEED, structured: bool | None = None,
                     key: str = "answer_relevance") -> Callable[..., Coroutine[Any, Any, Score]]:
    """Pass when the answer addresses the question (whether it is correct is not judged).

    Needs the question (``inputs["question"]``, ``["query"]`` or ``["input"]``).

    Args:
        model: The judge model (a string or a ``ChatModel``); default the judge model setting.
        samples: Ask this many times and take the majority (a tie is unscored).
        temperature: Default 0 for one sample, 0.7 for several.
        seed: Sent with each call (sample ``i`` uses ``seed + i``).
        structured: JSON-schema output; None (default) uses it when the model supports it.
        key: The score key.

    Returns:
        An evaluator scoring 1.0 (``PASS``) or 0.0 (``FAIL``), the comment being the reasoning.

    Example:
        >>> from judgekit.models.mock import MockModel
        >>> ev = answer_relevance(model=MockModel("It answers the question.\\n[[PASS]]"))
        >>> ev(inputs={"question": "When was the tower built?"}, outputs="In 1889.")["score"]
        1.0
    """
    def fields(inputs: Any, outputs: Any) -> dict[str, str]:
        return {"input": _question("answer_relevance", inputs, required=True),
                "answer": data_block("ANSWER", _answer(outputs))}

    return _build("answer_relevance", key, model, samples, temperature, seed, structured,
                  fields)


@evaluator(version=prompt_version("retrieval_relevance"), judge=True)
def retrieval_relevance(*, model: Any = None, samples: int = 1,
                        temperature: float | None = None, seed: int = DEFAULT_SEED,
                        structured: bool | None = None, key: str = "retrieval_relevance",
                        ) -> Callable[..., Coroutine[Any, Any, Score]]:
    """Pass when the retrieved context holds information relevant to the question.

    Needs the question and the context; all documents are judged together in one call.

    Args:
        model: The judge model (a string or a ``ChatModel``); default the judge model setting.
        samples: Ask this many times and take the majority (a tie is unscored).
        temperature: Default 0 for one sample, 0.7 for several.
        seed: Sent with each call (sample ``i`` uses ``seed + i``).
        structured: JSON-schema output; None (default) uses it when the model supports it.
        key: The score key.

    Returns:
        An evaluator scoring 1.0 (``PASS``) or 0.0 (``FAIL``), the comment being the reasoning.

    Example:
        >>> from judgekit.models.mock import MockModel
        >>> ev = retrieval_relevance(model=MockModel("Document 1 gives the year.\\n[[PASS]]"))
        >>> ev(inputs={"question": "When was the tower built?",
        ...            "documents": ["The Eiffel Tower was completed in 1889."]})["value"]
        'PASS'
    """
    def fields(inputs: Any, outputs: Any) -> dict[str, str]:
        return {"input": _question("retrieval_relevance", inputs, required=True),
                "context": _context_blocks(find_context("retrieval_relevance", inputs,
                                                        outputs))}

    return _build("retrieval_relevance", key, model, samples, temperature, seed, structured,
                  fields)
