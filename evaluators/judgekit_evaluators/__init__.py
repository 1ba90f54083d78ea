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

from collections.abc import Callable
from typing import Any

from judgekit_evaluators.classification import classification_report
from judgekit_evaluators.cot_qa import cot_qa
from judgekit_evaluators.criteria import criteria
from judgekit_evaluators.edit import edit_distance
from judgekit_evaluators.exact import exact_match
from judgekit_evaluators.fuzzy import fuzzy_match
from judgekit_evaluators.json_checks import json_schema, json_valid
from judgekit_evaluators.json_fields import json_match
from judgekit_evaluators.labels import label
from judgekit_evaluators.pairwise import pairwise
from judgekit_evaluators.rag import answer_relevance, groundedness, retrieval_relevance
from judgekit_evaluators.regex import regex_match
from judgekit_evaluators.substring import includes

BUILTINS: dict[str, Callable[..., Any]] = {
    "answer_relevance": answer_relevance,
    "classification_report": classification_report,
    "cot_qa": cot_qa,
    "criteria": criteria,
    "edit_distance": edit_distance,
    "exact_match": exact_match,
    "fuzzy_match": fuzzy_match,
    "groundedness": groundedness,
    "includes": includes,
    "json_match": json_match,
    "json_schema": json_schema,
    "json_valid": json_valid,
    "label": label,
    "pairwise": pairwise,
    "regex_match": regex_match,
    "retrieval_relevance": retrieval_relevance,
}

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
