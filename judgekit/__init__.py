"""judgekit: evaluate LLM applications with LLM-as-judge and code checks.

Write a suite (a dataset, the function under test, evaluators, goals), run it with
``judgekit eval suite.py`` or ``pytest suite.py``, and compare variants on accuracy, cost and
latency; every result is kept in a local SQLite store.
"""

from __future__ import annotations

from typing import Any

from judgekit._version import __version__
from judgekit.agreement import Agreement, LabelledCase, compute_agreement
from judgekit.api import EvalResult, evaluate, run_suite
from judgekit.dataset import Dataset, dataset
from judgekit.errors import JudgekitError
from judgekit.evaluation import Evaluator, available_evaluators, evaluator, get_evaluator
from judgekit.goals import Goals
from judgekit.human_labels import AgreementReport, agreement
from judgekit.probe import ProbeResult, probe
from judgekit.rescoring import RescoreResult, rescore
from judgekit.store import Store
from judgekit.suite import Suite, load_suites, parametrize, suite
from judgekit.types import CallRecord, CaseError, CaseResult, Example, Score, Usage


def wrap_openai(client: Any, *, cache: bool = True) -> Any:
    """Record every ``chat.completions.create`` call of an ``openai`` client on the current case.

    For code under test that already uses the openai SDK: the client keeps returning the
    SDK's own objects (``ChatCompletion``, streams), and each call is stored with its
    messages, reply, tokens, cost and latency as a target call (a judge call inside an
    evaluator). Inside a run the calls go through the run's response cache, retries and
    per-endpoint rate limiter, as the ``llm`` fixture's do; outside one the client is only
    recorded. See :mod:`judgekit.models.wrap`.

    Args:
        client: An ``openai.OpenAI`` or ``openai.AsyncOpenAI`` client.
        cache: False keeps the calls out of the response cache (still limited and retried).

    Example:
        >>> import openai, judgekit  # doctest: +SKIP
        >>> client = judgekit.wrap_openai(openai.AsyncOpenAI())  # doctest: +SKIP
    """
    from judgekit.models.wrap import wrap_openai as wrap

    return wrap(client, cache=cache)

def compare(*refs: str, store: Store | str | None = None, alpha: float = 0.05,
            resamples: int = 10_000, seed: int = 0, metric: str | None = None) -> Any:
    """Compare stored runs or experiments against the first (the baseline), paired on the
    examples they share: exact McNemar for pass/fail scores, a paired t-test and a seeded
    bootstrap CI for numeric means, cost and latency, and the decisions built on them.

    Returns a :class:`judgekit.decide.Comparison` (see :func:`judgekit.decide.compare`).

    Example:
        >>> result = judgekit.compare("a1b2c3", "d4e5f6")  # doctest: +SKIP
        >>> result.pick().sentence  # doctest: +SKIP
        "ft-mini meets all goals at 2.1% of gpt-4o's cost"
    """
    from judgekit.decide import compare as run_compare

    return run_compare(*refs, store=store, alpha=alpha, resamples=resamples, seed=seed,
                       metric=metric)


__all__ = [
    "Agreement",
    "AgreementReport",
    "CallRecord",
    "CaseError",
    "CaseResult",
    "Dataset",
    "EvalResult",
    "Evaluator",
    "Example",
    "Goals",
    "JudgekitError",
    "LabelledCase",
    "ProbeResult",
    "RescoreResult",
    "Score",
    "Store",
    "Suite",
    "Usage",
    "__version__",
    "agreement",
    "available_evaluators",
    "compare",
    "compute_agreement",
    "dataset",
    "evaluate",
    "evaluator",
    "get_evaluator",
    "load_suites",
    "parametrize",
    "probe",
    "rescore",
    "run_suite",
    "suite",
    "wrap_openai",
]
