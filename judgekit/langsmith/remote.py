"""The ``langsmith`` SDK, held so that every failure is loud and named.

The SDK's run ingestion never raises: a batch that finally fails is logged and handed to a
``tracing_error_callback``. :class:`Remote` registers that callback and checks it after every
upload, so a lost batch stops the sync with a clear message instead of vanishing. The SDK's
log lines go nowhere while a sync runs (they can quote a masked key); our own message says what
failed. Its background thread is off (``auto_batch_tracing=False``): every upload is a call
that has finished, successfully or not, when it returns.

Retries: the SDK's HTTP adapter retries 408/425/429/5xx and connection errors
(:data:`HTTP_TRIES` tries, exponential backoff, ``Retry-After`` honoured up to
:data:`RETRY_AFTER_MAX_S`), and the SDK repeats a run upload up to three times; each feedback
is tried :data:`FEEDBACK_ATTEMPTS` times by us, never by the SDK (whose own retry of a 429
without ``Retry-After`` sleeps 30 s), and the first feedback that keeps failing stops the
others, so a 429 storm ends the sync in seconds with one message.
"""

from __future__ import annotations

import contextlib
import inspect
import logging
import re
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait
from typing import Any, TypeVar

from judgekit.errors import ConfigError, JudgekitError
from judgekit.langsmith.config import LangSmithConfig

__all__ = ["FEEDBACK_ATTEMPTS", "HTTP_TRIES", "RETRY_AFTER_MAX_S", "RUN_ATTEMPTS",
           "LangSmithError", "Remote", "describe_failure", "import_langsmith"]

#: Tries of one HTTP request (the first and its retries) inside the SDK's adapter.
HTTP_TRIES = 3
#: How many times the SDK posts one batch of runs before giving up.
RUN_ATTEMPTS = 3
#: How many times one feedback is posted (each with :data:`HTTP_TRIES` tries).
FEEDBACK_ATTEMPTS = 2
#: Pause before a feedback's next attempt (seconds, times the attempt number).
FEEDBACK_PAUSE_S = 1.0
#: Feedback calls in flight at once.
FEEDBACK_WORKERS = 8
#: The longest ``Retry-After`` honoured (seconds): a server asking for more is asked sooner.
RETRY_AFTER_MAX_S = 30

T = TypeVar("T")


class LangSmithError(JudgekitError):
    """LangSmith refused or failed a request; the local run is intact and can be sent again."""


def import_langsmith() -> Any:
    """The ``langsmith`` package, or a one-line error saying how to install it.

    Raises:
        ConfigError: when the package is missing.
    """
    try:
        import langsmith
    except ImportError:
        raise ConfigError("sending runs to LangSmith needs the langsmith package: "
                          "pip install 'judgekit[langsmith]'") from None
    # An older SDK would fail mid-sync on an unknown keyword: say so before anything is sent.
    client = getattr(langsmith, "Client", None)
    try:
        params = set(inspect.signature(client).parameters) if client is not None else set()
    except (TypeError, ValueError):
        params = set()
    missing = [p for p in _CLIENT_OPTIONS if p not in params]
    missing += [m for m in _CLIENT_METHODS if not hasattr(client, m)]
    if missing:
        version = getattr(langsmith, "__version__", "unknown")
        raise ConfigError(f"the installed langsmith {version} is too old to send runs (its "
                          f"Client has no {missing[0]}): pip install -U 'judgekit[langsmith]'")
    return langsmith


# What Remote and the sync use of the SDK's Client (all in langsmith 0.15).
_CLIENT_OPTIONS = ("retry_config", "tracing_error_callback", "omit_traced_runtime_info",
                   "auto_batch_tracing", "timeout_ms", "workspace_id")
_CLIENT_METHODS = ("multipart_ingest", "batch_ingest_runs", "create_examples",
                   "update_examples", "delete_examples", "list_dataset_versions",
                   "update_dataset_tag", "create_feedback", "update_feedback",
                   "request_with_retries")


_STATUS = re.compile(r"\b([1-5]\d\d)\b")
_WHERE = re.compile(r"\b(GET|POST|PUT|PATCH|DELETE) ?(\S+)")
_PATH = re.compile(r"\bfor (/\S*|https?://\S+)")  # "Rate limit exceeded for /runs/multipart."


def describe_failure(exc: BaseException, endpoint: str) -> str:
    """One line on what LangSmith answered, built from the status and route only.

    The SDK's own messages can carry a masked API key and whole response bodies; this never
    repeats them.
    """
    from langsmith import utils as ls_utils

    text = str(exc)
    where = ""
    m = _WHERE.search(text)
    if m:
        path = m.group(2).rstrip(".,;:").replace(endpoint, "") or "/"
        where = f" to {m.group(1)} {path.split('?')[0]}"
    elif (p := _PATH.search(text)) is not None:  # the SDK's 429/401/404/409: a path, no method
        path = p.group(1).rstrip(".,;:").replace(endpoint, "") or "/"
        where = f" to {path.split('?')[0]}"
    if isinstance(exc, ls_utils.LangSmithAuthError):
        return (f"LangSmith at {endpoint} rejected the API key (401){where}: check "
                "LANGSMITH_API_KEY (and LANGSMITH_WORKSPACE_ID for an org-scoped key)")
    if isinstance(exc, ls_utils.LangSmithConnectionError):
        return (f"cannot reach LangSmith at {endpoint}{where.replace(' to ', ' for ')}: "
                "check LANGSMITH_ENDPOINT and the network")
    if isinstance(exc, ls_utils.LangSmithRequestTimeout):
        return f"LangSmith at {endpoint} timed out{where}"
    status = _STATUS.search(text.split("LangSmith API.")[-1]) or _STATUS.search(text)
    if isinstance(exc, ls_utils.LangSmithRateLimitError):
        return f"LangSmith at {endpoint} kept answering 429 (rate limit){where} after retries"
    if isinstance(exc, ls_utils.LangSmithNotFoundError):
        return f"LangSmith at {endpoint} answered 404{where}"
    if status:
        return f"LangSmith at {endpoint} answered {status.group(1)}{where}"
    return f"LangSmith at {endpoint} failed{where} ({type(exc).__name__})"


class _Muffle(logging.Handler):
    """Keeps the SDK's warnings off the terminal (and off Python's last-resort handler)."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@contextlib.contextmanager
def _muffled() -> Iterator[None]:
    logger = logging.getLogger("langsmith")
    handler = _Muffle()
    old = logger.propagate
    logger.addHandler(handler)
    logger.propagate = False
    try:
        yield
    finally:
        logger.removeHandler(handler)
        logger.propagate = old


class Remote:
    """One LangSmith client for one sync, with failures turned into :class:`LangSmithError`.

    Use as a context manager: the SDK's logging is muffled inside and the client closed after.
    """

    def __init__(self, config: LangSmithConfig) -> None:
        langsmith = import_langsmith()
        from urllib3.util.retry import Retry

        self.config = config
        self.endpoint = config.endpoint
        self._errors: list[BaseException] = []
        self._lock = threading.Lock()
        options: dict[str, Any] = {}
        if "retry_after_max" in inspect.signature(Retry).parameters:  # urllib3 >= 2.5
            options["retry_after_max"] = RETRY_AFTER_MAX_S
        retry = Retry(total=HTTP_TRIES - 1, backoff_factor=0.3,
                      status_forcelist=[408, 425, 429, 500, 502, 503, 504],
                      allowed_methods=None, raise_on_redirect=False, raise_on_status=False,
                      respect_retry_after_header=True, **options)
        self._stack = contextlib.ExitStack()
        self._stack.enter_context(_muffled())
        # Everything explicit: the key and endpoint given, not re-read by the SDK from the
        # environment or a CLI profile; no sampling (every run is sent); no runtime
        # environment in run metadata (no env dumps); no background thread.
        self.client = langsmith.Client(
            api_url=config.endpoint, api_key=config.api_key, web_url=config.web_url,
            workspace_id=config.workspace_id, auto_batch_tracing=False,
            omit_traced_runtime_info=True, tracing_sampling_rate=1.0, retry_config=retry,
            tracing_error_callback=self._record_error, timeout_ms=(10_000, 60_000))

    def __enter__(self) -> Remote:
        return self

    def __exit__(self, *exc: object) -> None:
        with contextlib.suppress(Exception):
            self.client.close()
        self._stack.close()

    def _record_error(self, exc: Exception) -> None:
        with self._lock:
            self._errors.append(exc)

    def fail(self, exc: BaseException) -> LangSmithError:
        """A :class:`LangSmithError` describing ``exc``."""
        return LangSmithError(describe_failure(exc, self.endpoint))

    def call(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """``fn(*args, **kwargs)``; an SDK failure becomes a :class:`LangSmithError`."""
        from langsmith import utils as ls_utils

        try:
            return fn(*args, **kwargs)
        except ls_utils.LangSmithError as exc:
            raise self.fail(exc) from None
        except OSError as exc:  # requests' own connection errors, should the SDK let one out
            raise self.fail(exc) from None

    def check(self) -> None:
        """Raise the first upload failure the SDK reported through its callback."""
        with self._lock:
            errors, self._errors = self._errors, []
        if errors:
            raise self.fail(errors[0])

    # -- runs and feedback ---------------------------------------------------------------------

    def use_multipart(self) -> bool:
        """Whether the server advertises ``/runs/multipart`` (LangSmith's default)."""
        info = self.call(lambda: self.client.info)
        return bool((info.batch_ingest_config or {}).get("use_multipart_endpoint", True))

    def ingest(self, runs: Sequence[dict[str, Any]], *, multipart: bool) -> None:
        """Upload ``runs`` (complete runs: start and end) in one request, synchronously."""
        if not runs:
            return
        send = self.client.multipart_ingest if multipart else self.client.batch_ingest_runs
        self.call(send, create=list(runs))
        self.check()

    def feedback(self, items: Sequence[dict[str, Any]]) -> None:
        """Create each feedback (``create_feedback`` kwargs); an existing id is updated to the
        stored verdict instead, so a re-sync converges and never duplicates.

        Raises:
            LangSmithError: for the first feedback that kept failing; the feedback not yet
                started is not sent (a re-sync sends it).
        """
        if not items:
            return
        pool = ThreadPoolExecutor(max_workers=min(FEEDBACK_WORKERS, len(items)))
        try:
            futures = [pool.submit(self.create_or_update_feedback, item) for item in items]
            done, _ = wait(futures, return_when=FIRST_EXCEPTION)
            failed = [f for f in futures if f in done and f.exception() is not None]
            if failed:
                # Cancel the rest before raising: a storm of 429s ends now, not after every
                # queued feedback has had its own retries.
                pool.shutdown(wait=True, cancel_futures=True)
                failed[0].result()
        finally:
            pool.shutdown(wait=True, cancel_futures=True)

    def create_or_update_feedback(self, item: dict[str, Any]) -> None:
        """Create a feedback; on 409 (already there) set its score, value and comment.

        Rate limits, 5xx, timeouts and connection errors are tried again
        (:data:`FEEDBACK_ATTEMPTS` in all, each with the HTTP adapter's own retries).
        """
        from langsmith import utils as ls_utils

        for attempt in range(1, FEEDBACK_ATTEMPTS + 1):
            try:
                self.client.create_feedback(**item, stop_after_attempt=1)
                return
            except ls_utils.LangSmithConflictError:
                self.call(self.client.update_feedback, item["feedback_id"], score=item["score"],
                          value=item["value"], comment=item["comment"])
                return
            except ls_utils.LangSmithError as exc:
                if attempt == FEEDBACK_ATTEMPTS or not _transient(exc):
                    raise self.fail(exc) from None
            time.sleep(FEEDBACK_PAUSE_S * attempt)


def _transient(exc: BaseException) -> bool:
    """Whether an SDK error may pass if tried again: 429, 5xx, a timeout or no connection."""
    from langsmith import utils as ls_utils

    if isinstance(exc, (ls_utils.LangSmithRateLimitError, ls_utils.LangSmithAPIError,
                        ls_utils.LangSmithConnectionError, ls_utils.LangSmithRequestTimeout)):
        return True
    status = _STATUS.search(str(exc).split("LangSmith API.")[-1])
    return status is not None and status.group(1).startswith("5")
