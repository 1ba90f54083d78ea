"""Errors judgekit raises for user mistakes.

The CLI prints any :class:`JudgekitError` as one ``error: ...`` line and exits 2, without a
traceback (``--debug`` shows it). Anything else escaping is a bug: exit 3.

::

    JudgekitError                  a user mistake; the message names where, what and the fix
    ├── ConfigError                bad option, environment variable or config value
    ├── DatasetError               a dataset file or row is malformed (file:line)
    ├── SuiteError                 a suite file cannot be loaded or is not a valid suite
    ├── EvaluatorError             unknown evaluator name or bad evaluator arguments
    │   └── SchemaError            a JSON schema given to json_schema is itself invalid
    ├── StoreError                 the result store cannot be opened or a run id is unknown
    ├── ModelNotConfigured         no key / endpoint for a model: LLM steps are skipped, not failed
    ├── ModelCallError             a model call failed (after retries): a case or evaluator error
    └── RunStopped                 no case can get past this: the run stops, resumable
        ├── CacheMissError         ``--cache replay`` met a call not in the cache
        └── EndpointUnreachable    a model endpoint never answered: nothing listens there

ConfigError subclasses and :class:`RunStopped` stop a run; :class:`ModelCallError` only fails
the case (or the score) it happened in, and :class:`ModelNotConfigured` turns it into *skipped*.
"""

from __future__ import annotations

__all__ = [
    "CacheMissError",
    "ConfigError",
    "DatasetError",
    "EndpointUnreachable",
    "EvaluatorError",
    "JudgekitError",
    "ModelCallError",
    "ModelNotConfigured",
    "RunStopped",
    "SchemaError",
    "StoreError",
    "SuiteError",
]


class JudgekitError(Exception):
    """Base class for errors caused by user input; the message says where, what and the fix."""


class ConfigError(JudgekitError):
    """A bad option, environment variable or configuration value."""


class DatasetError(JudgekitError):
    """A dataset file or row is malformed; the message names the file and line."""


class SuiteError(JudgekitError):
    """A suite file cannot be loaded or does not define a valid suite."""


class EvaluatorError(JudgekitError):
    """An unknown evaluator name or invalid evaluator arguments."""


class SchemaError(EvaluatorError):
    """A JSON schema handed to ``json_schema`` is not a valid schema."""


class StoreError(JudgekitError):
    """The result store cannot be opened, or a run id is unknown."""


class ModelNotConfigured(JudgekitError):
    """A model has no key or endpoint; the steps that need it are *skipped*, and say how."""


class ModelCallError(JudgekitError):
    """A model call failed; after the last retry it becomes the case's (or score's) error.

    Attributes:
        status: The HTTP status, when there was one (429, 500, ...).
        retryable: Whether trying again may help (rate limits, 5xx, timeouts, resets).
        retry_after: Seconds the provider asked us to wait (``Retry-After``/``retry-after-ms``).
        attempts: How many attempts were made before giving up (set by the retry loop).
        connect_failed: No connection could be made (refused, no such host): nothing was
            sent, as opposed to a connection that broke or a reply that never came.
    """

    def __init__(self, message: str, *, status: int | None = None, retryable: bool = False,
                 retry_after: float | None = None, attempts: int = 1,
                 connect_failed: bool = False) -> None:
        super().__init__(message)
        self.status = status
        self.retryable = retryable
        self.retry_after = retry_after
        self.attempts = attempts
        self.connect_failed = connect_failed


class RunStopped(JudgekitError):
    """No case can get past this: the run stops (exit 2), stays resumable, and the message
    says what to fix before ``--resume``."""


class CacheMissError(RunStopped):
    """``--cache replay`` needed a response the cache does not have: the run stops here."""


class EndpointUnreachable(RunStopped):
    """A model endpoint refused every connection and has never answered in this run: every
    case would fail the same way after its retries, so the run stops at the first."""
