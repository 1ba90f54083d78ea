"""judgekit: evaluate LLM applications with LLM-as-judge and code checks.

Write a suite (a dataset, the function under test, evaluators, goals), run it with
``judgekit eval suite.py`` or ``pytest suite.py``, and compare variants on accuracy, cost and
latency; every result is kept in a local SQLite store.
"""

from __future__ import annotations

from typing import Any

from judgekit.api import EvalResult, evaluate, run_suite
from judgekit.dataset import Dataset, dataset
from judgekit.errors import JudgekitError
from judgekit.evaluation import Evaluator, available_evaluators, evaluator, get_evaluator
from judgekit.goals import Goals
from judgekit.store import Store
from judgekit.suite import Suite, load_suites, parametrize, suite
from judgekit.types import CallRecord, CaseError, CaseResult, Example, Score, Usage

__version__ = "0.1.0"


def wrap_openai(client: Any) -> Any:
    """Record every ``chat.completions.create`` call of an ``openai`` client on the current case.

    For code under test that already uses the openai SDK: the client keeps working as before
    (same objects back, streams included), and each call is stored with its messages, reply,
    tokens, cost and latency as a target call (a judge call inside an evaluator).

    Example:
        >>> import openai, judgekit  # doctest: +SKIP
        >>> client = judgekit.wrap_openai(openai.AsyncOpenAI())  # doctest: +SKIP
    """
    from judgekit.models.wrap import wrap_openai as wrap

    return wrap(client)

__all__ = [
    "CallRecord",
    "CaseError",
    "CaseResult",
    "Dataset",
    "EvalResult",
    "Evaluator",
    "Example",
    "Goals",
    "JudgekitError",
    "Score",
    "Store",
    "Suite",
    "Usage",
    "__version__",
    "available_evaluators",
    "dataset",
    "evaluate",
    "evaluator",
    "get_evaluator",
    "load_suites",
    "parametrize",
    "run_suite",
    "suite",
    "wrap_openai",
]
