"""Built-in judgekit evaluators, one module per family (DESIGN §5).

Every factory here is an ``@evaluator``: call it (with options) to get an evaluator for a suite,
``judgekit.evaluate`` or ``langsmith.evaluate``; ``BUILTINS`` maps the registry names that
``judgekit.get_evaluator`` and suite files use to these factories. Importing this package is
cheap: jsonschema, rapidfuzz and scikit-learn are imported only when an evaluator that needs
them is built or run, and the model layer (openai, langchain) only when a judge calls a model.

LLM judges: ``cot_qa``, ``criteria``, ``pairwise``, ``groundedness``, ``answer_relevance``,
``retrieval_relevance`` (their prompts are the versioned files in ``prompts/``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from importlib import import_module
from typing import TYPE_CHECKING, Any

# The judges are imported now: their modules share their names (judgekit_evaluators.cot_qa is
# also the module), and importing a module sets the package attribute to the module.
from judgekit_evaluators.cot_qa import cot_qa
from judgekit_evaluators.criteria import criteria
from judgekit_evaluators.pairwise import pairwise

if TYPE_CHECKING:
    from judgekit_evaluators.classification import classification_report
    from judgekit_evaluators.edit import edit_distance
    from judgekit_evaluators.exact import exact_match
    from judgekit_evaluators.fuzzy import fuzzy_match
    from judgekit_evaluators.json_checks import json_schema, json_valid
    from judgekit_evaluators.json_fields import json_match
    from judgekit_evaluators.labels import label
    from judgekit_evaluators.rag import answer_relevance, groundedness, retrieval_relevance
    from judgekit_evaluators.regex import regex_match
    from judgekit_evaluators.substring import includes

# The others load on first use (PEP 562): a suite using two judges does not pay for the code
# checks' modules at start-up.
_LAZY = {
    "answer_relevance": "rag",
    "classification_report": "classification",
    "edit_distance": "edit",
    "exact_match": "exact",
    "fuzzy_match": "fuzzy",
    "groundedness": "rag",
    "includes": "substring",
    "json_match": "json_fields",
    "json_schema": "json_checks",
    "json_valid": "json_checks",
    "label": "labels",
    "regex_match": "regex",
    "retrieval_relevance": "rag",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'judgekit_evaluators' has no attribute {name!r}")
    value = getattr(import_module(f"judgekit_evaluators.{module}"), name)
    globals()[name] = value
    return value


class _Builtins(Mapping[str, Callable[..., Any]]):
    """Registry name -> factory, each module loaded when its factory is first looked up."""

    def __getitem__(self, name: str) -> Callable[..., Any]:
        if name not in _NAMES:
            raise KeyError(name)
        return globals()[name] if name in globals() else __getattr__(name)

    def __iter__(self) -> Iterator[str]:
        return iter(_NAMES)

    def __len__(self) -> int:
        return len(_NAMES)


_NAMES = sorted([*_LAZY, "cot_qa", "criteria", "pairwise"])
BUILTINS: Mapping[str, Callable[..., Any]] = _Builtins()

__all__ = [
    "BUILTINS",
    "answer_relevance",
    "classification_report",
    "cot_qa",
    "criteria",
    "edit_distance",
    "exact_match",
    "fuzzy_match",
    "groundedness",
    "includes",
    "json_match",
    "json_schema",
    "json_valid",
    "label",
    "pairwise",
    "regex_match",
    "retrieval_relevance",
]
