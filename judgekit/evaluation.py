"""The evaluator protocol, the ``@evaluator`` decorator and the evaluator registry (DESIGN §5).

An evaluator is anything called keyword-only with the names LangSmith and openevals use::

    fn(*, inputs, outputs, reference_outputs, example, **kw) -> Score | bool | float | dict | list

and a plain function that takes some of those names is an evaluator as it is. ``@evaluator``
turns a *factory* (``exact_match(case_sensitive=False)``) into one that remembers its name and
arguments, so every stored score says exactly what produced it. Calling an :class:`Evaluator`
returns a LangSmith ``EvaluationResult``-shaped dict, which is why judgekit evaluators can be
handed to ``langsmith.evaluate`` unchanged.
"""

from __future__ import annotations

import difflib
import functools
import inspect
import json
import traceback
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, TypeVar, overload

from judgekit.aio import run_sync, to_daemon_thread
from judgekit.errors import EvaluatorError, ModelCallError, ModelNotConfigured, RunStopped
from judgekit.types import Example, Score, evolve

__all__ = [
    "CALL_NAMES",
    "Evaluator",
    "as_evaluator",
    "available_evaluators",
    "evaluator",
    "get_evaluator",
    "iter_evaluators",
    "to_scores",
]

#: The keyword names an evaluator may take, as LangSmith and openevals name them.
CALL_NAMES = ("inputs", "outputs", "reference_outputs", "example")
#: What a summary evaluator is called with: one list entry per case, in dataset order.
SUMMARY_CALL_NAMES = ("inputs", "outputs", "reference_outputs", "examples", "scores")

F = TypeVar("F", bound=Callable[..., Any])


def _json_safe(value: Any) -> Any:
    """Return ``value`` as something ``json.dumps`` accepts, for recording evaluator arguments."""
    try:
        json.dumps(value)
        return value
    except (TypeError, ValueError):
        if isinstance(value, Mapping):
            return {str(k): _json_safe(v) for k, v in value.items()}
        if isinstance(value, (list, tuple, set, frozenset)):
            return [_json_safe(v) for v in value]
        if callable(value):
            return getattr(value, "__qualname__", repr(value))
        return repr(value)


@dataclass(frozen=True, eq=False)
class Evaluator:
    """A configured evaluator: what it is called, how it was built, and the function that scores.

    Attributes:
        name: Registry name of the family (``"exact_match"``), or the function's name.
        key: The score key it writes (defaults to ``name``; every evaluator accepts ``key=``).
        fn: The scoring function, sync or async, taking some of :data:`CALL_NAMES`.
        args: The explicit factory arguments, JSON-safe, stored with every score.
        summary: True for evaluators that see the whole experiment at once.
        version: Bumped when the evaluator's semantics change, so old scores stay explainable.
        inline: Run on the event loop (fast pure code) rather than in a worker thread.
        judge: An LLM judge: it calls a model (the judge model unless given ``model=``), so
            reports name the judge model and a run without one skips it.
    """

    name: str
    key: str
    fn: Callable[..., Any]
    args: Mapping[str, Any] = field(default_factory=dict)
    summary: bool = False
    version: str = "1"
    inline: bool = False
    judge: bool = False

    def __post_init__(self) -> None:
        # LangSmith names a run evaluator after __name__; give it the score key.
        object.__setattr__(self, "__name__", self.key)
        # LangSmith picks the call shape from the signature: a summary evaluator must not
        # declare `example`, or it is called positionally as (runs, examples).
        names = ("inputs", "outputs", "reference_outputs") if self.summary else CALL_NAMES
        object.__setattr__(self, "__signature__", inspect.Signature([
            inspect.Parameter(n, inspect.Parameter.KEYWORD_ONLY, default=None) for n in names]))

    @property
    def spec(self) -> dict[str, Any]:
        """What produced a score: name, key, arguments and version (stored with the run)."""
        return {"name": self.name, "key": self.key, "args": dict(self.args),
                "version": self.version}

    @property
    def judge_model(self) -> str | None:
        """For an LLM judge: the model it will call (its ``model=``, else the judge model)."""
        if not self.judge:
            return None
        model = self.args.get("model")
        if model is not None:
            return str(getattr(model, "model", model))
        from judgekit.models.settings import judge_model_name

        return judge_model_name()

    @property
    def against(self) -> str | None:
        """For a comparative evaluator (``pairwise(against="gpt-4o")``): the variant label it
        compares every other variant with; the runner scores it once all cases are in."""
        value = self.args.get("against")
        return str(value) if value is not None else None

    @functools.cached_property
    def is_async(self) -> bool:
        """True when the scoring function is a coroutine function (asked on every score)."""
        return inspect.iscoroutinefunction(self.fn)

    def __call__(
        self,
        *,
        inputs: Any = None,
        outputs: Any = None,
        reference_outputs: Any = None,
        example: Any = None,
    ) -> dict[str, Any]:
        """Score one case and return a LangSmith ``EvaluationResult``-shaped dict.

        A single score comes back as ``{"key", "score", "value", "comment", "metadata"}``;
        several as ``{"results": [...]}``. Use :meth:`score` to get :class:`Score` objects.
        A summary evaluator takes lists (one entry per case) for each argument.

        Example:
            >>> from judgekit_evaluators import exact_match
            >>> exact_match()(outputs="Paris", reference_outputs="Paris")["score"]
            1.0
        """
        scores = run_sync(
            self.score(
                inputs=inputs, outputs=outputs, reference_outputs=reference_outputs,
                example=example,
            )
        )
        if len(scores) == 1:
            return scores[0].to_langsmith()
        return {"results": [s.to_langsmith() for s in scores]}

    async def score(
        self,
        *,
        inputs: Any = None,
        outputs: Any = None,
        reference_outputs: Any = None,
        example: Any = None,
        examples: Sequence[Example] | None = None,
        scores: Sequence[Sequence[Score]] | None = None,
        other_outputs: Any = None,
    ) -> list[Score]:
        """Score one case (or, for a summary evaluator, the lists of all cases).

        ``other_outputs`` (another variant's outputs for the same case) reaches comparative
        evaluators such as ``pairwise(against=...)`` that declare it.

        Never raises for a failure inside the evaluator: an ``AssertionError`` becomes a failed
        score carrying its message, any other exception an ``error`` score naming it.
        """
        if self.summary:
            available = {
                "inputs": inputs, "outputs": outputs, "reference_outputs": reference_outputs,
                "examples": examples, "scores": scores,
            }
        else:
            available = {
                "inputs": inputs, "outputs": outputs, "reference_outputs": reference_outputs,
                "example": example,
            }
            if other_outputs is not None:
                available["other_outputs"] = other_outputs
        kwargs = _select_kwargs(self.fn, available)
        try:
            if self.inline or self.is_async:
                result = self.fn(**kwargs)
            else:
                result = await to_daemon_thread(self.fn, name="judgekit-evaluator", **kwargs)
            if inspect.isawaitable(result):
                result = await result
            # Inside the try: an unusable return value (e.g. an object, or a bad status) is an
            # error score on this case, not a crash of the whole run.
            return to_scores(result, self.key)
        except AssertionError as exc:
            return [Score(key=self.key, score=0.0, passed=False,
                          comment=str(exc) or "assertion failed")]
        except RunStopped:
            raise  # e.g. --cache replay was promised every response: stop, do not score around
        except ModelNotConfigured as exc:
            return [Score(key=self.key, status="skipped", comment=str(exc))]
        except ModelCallError as exc:
            # The provider's message is the whole story; a traceback would only add noise.
            return [Score(key=self.key, status="error", comment=f"model call failed: {exc}",
                          metadata={"attempts": exc.attempts, "status_code": exc.status})]
        except Exception as exc:  # an evaluator bug must not stop the run
            return [Score(
                key=self.key, status="error", comment=f"{type(exc).__name__}: {exc}",
                metadata={"traceback": traceback.format_exc(limit=6)},
            )]


@functools.lru_cache(maxsize=512)
def _accepted(fn: Callable[..., Any]) -> tuple[frozenset[str], bool]:
    try:
        params = inspect.signature(fn).parameters
    except (TypeError, ValueError):
        return frozenset(), True
    names = frozenset(
        n for n, p in params.items() if p.kind not in (p.VAR_KEYWORD, p.VAR_POSITIONAL)
    )
    return names, any(p.kind == p.VAR_KEYWORD for p in params.values())


def _select_kwargs(fn: Callable[..., Any], available: Mapping[str, Any]) -> dict[str, Any]:
    """Pass only the call names ``fn`` declares; a bare ``**kwargs`` gets the LangSmith three."""
    try:
        names, var_kw = _accepted(fn)
    except TypeError:  # unhashable callable
        names, var_kw = frozenset(inspect.signature(fn).parameters), False
    chosen = {k: v for k, v in available.items() if k in names}
    if var_kw and not chosen:
        chosen = {k: v for k, v in available.items() if k in CALL_NAMES[:3]
                  or k in SUMMARY_CALL_NAMES[:3]}
    return chosen


_SCORE_FIELDS = ("score", "value", "passed", "comment", "status")


def to_scores(result: Any, key: str) -> list[Score]:
    """Normalise whatever an evaluator returned into a list of :class:`Score`.

    Accepts a :class:`Score` (an empty key takes ``key``), ``bool`` (pass/fail), a number, a
    string (a categorical value), ``None`` (unscored), a LangSmith/openevals result dict (with
    ``passed``/``status`` read from the top level or from ``metadata``), ``{"results": [...]}``,
    a plain ``{metric: number}`` dict, an ``EvaluationResult`` object, or a list of any of these.
    """
    if isinstance(result, Score):
        return [result if result.key else evolve(result, key=key)]
    if isinstance(result, bool):
        return [Score(key=key, score=1.0 if result else 0.0, passed=result)]
    if isinstance(result, (int, float)):
        return [Score(key=key, score=float(result))]
    if result is None:
        return [Score(key=key, status="unscored", comment="the evaluator returned None")]
    if isinstance(result, str):
        return [Score(key=key, value=result)]
    if isinstance(result, (list, tuple)):
        return [s for item in result for s in to_scores(item, key)]
    if not isinstance(result, Mapping) and hasattr(result, "model_dump") and hasattr(result, "key"):
        result = result.model_dump()  # langsmith EvaluationResult
    if isinstance(result, Mapping):
        if "results" in result and isinstance(result["results"], (list, tuple)):
            return to_scores(list(result["results"]), key)
        if not any(f in result for f in _SCORE_FIELDS) and result and all(
            isinstance(v, (int, float)) for v in result.values()
        ):
            return [Score(key=str(k), score=float(v), passed=v if isinstance(v, bool) else None)
                    for k, v in result.items()]
        return [_score_from_mapping(result, key)]
    raise TypeError(
        f"evaluator {key!r} returned {type(result).__name__}; return a Score, bool, number, "
        "string, dict or a list of those"
    )


def _score_from_mapping(d: Mapping[str, Any], key: str) -> Score:
    meta = dict(d.get("metadata") or {})
    status = d.get("status", meta.pop("status", None))
    passed = d.get("passed", meta.pop("passed", None))
    score = d.get("score")
    if isinstance(score, bool):
        passed = score if passed is None else passed
        score = 1.0 if score else 0.0
    elif score is not None:
        score = float(score)
    value = d.get("value")
    if status is None:
        verdict = score is not None or value is not None or passed is not None
        status = "ok" if verdict else "unscored"
    return Score(
        key=str(d.get("key") or key), score=score,
        value=None if value is None else str(value), passed=passed,
        comment=d.get("comment"), status=status, metadata=meta,
    )


# --------------------------------------------------------------------------------------------
# @evaluator
# --------------------------------------------------------------------------------------------


@overload
def evaluator(fn: F, /) -> Any: ...
@overload
def evaluator(
    fn: None = None, /, *, name: str | None = None, summary: bool = False, version: str = "1",
    inline: bool = False, judge: bool = False,
) -> Callable[[F], Any]: ...


def evaluator(
    fn: Callable[..., Any] | None = None,
    /,
    *,
    name: str | None = None,
    summary: bool = False,
    version: str = "1",
    inline: bool = False,
    judge: bool = False,
) -> Any:
    """Make an evaluator that remembers its name and arguments.

    Decorating a *scoring function* (one that takes ``outputs``, ``reference_outputs``, ...)
    gives an :class:`Evaluator` directly. Decorating a *factory* (any other signature) gives a
    factory whose call returns an :class:`Evaluator`; every such factory accepts ``key=`` to
    rename the score, and its explicit arguments are stored with each score.

    Example:
        >>> from judgekit import Score, evaluator
        >>> @evaluator
        ... def shorter_than(max_chars: int = 280):
        ...     def check(*, outputs):
        ...         return Score(key="", passed=len(outputs) <= max_chars,
        ...                      score=float(len(outputs) <= max_chars))
        ...     return check
        >>> shorter_than(10)(outputs="hi")["score"]
        1.0
    """

    def wrap(target: Callable[..., Any]) -> Any:
        ev_name = name or target.__name__
        params = inspect.signature(target).parameters
        call_names = set(CALL_NAMES) | set(SUMMARY_CALL_NAMES)
        if any(p in call_names for p in params):
            ev = Evaluator(name=ev_name, key=ev_name, fn=target, summary=summary,
                           version=version, inline=inline, judge=judge)
            # Frozen dataclass: set the wrapper attributes directly, as update_wrapper would.
            object.__setattr__(ev, "__doc__", target.__doc__)
            object.__setattr__(ev, "__wrapped__", target)
            return ev
        takes_key = "key" in params
        sig = inspect.signature(target)

        @functools.wraps(target)
        def make(*args: Any, **kwargs: Any) -> Evaluator:
            key = kwargs.get("key") if takes_key else kwargs.pop("key", None)
            try:
                bound = sig.bind(*args, **kwargs)
            except TypeError as exc:
                raise EvaluatorError(f"{ev_name}(): {exc}") from None
            explicit = {k: _json_safe(v) for k, v in bound.arguments.items() if k != "key"}
            if takes_key and key is None:
                bound.apply_defaults()
                key = bound.arguments.get("key")
            fn = target(*args, **kwargs)
            if isinstance(fn, Evaluator):
                fn = fn.fn
            return Evaluator(name=ev_name, key=str(key or ev_name), fn=fn, args=explicit,
                             summary=summary, version=version, inline=inline, judge=judge)

        make.evaluator_name = ev_name  # type: ignore[attr-defined]
        make.is_evaluator_factory = True  # type: ignore[attr-defined]
        return make

    return wrap(fn) if fn is not None else wrap


def as_evaluator(obj: Any) -> Evaluator:
    """Turn an evaluator given in a suite into an :class:`Evaluator`.

    Accepts an :class:`Evaluator`, a registered name (``"exact_match"``), a factory made with
    ``@evaluator`` (called with no arguments), or any callable taking the evaluator call names,
    such as a plain function or an openevals evaluator.
    """
    if isinstance(obj, Evaluator):
        return obj
    if isinstance(obj, str):
        return get_evaluator(obj)
    if getattr(obj, "is_evaluator_factory", False):
        ev = obj()
        assert isinstance(ev, Evaluator)
        return ev
    if callable(obj):
        fn_name = getattr(obj, "__name__", None) or type(obj).__name__
        try:
            params = inspect.signature(obj).parameters
        except (TypeError, ValueError):
            params = {}  # type: ignore[assignment]
        names = set(params)
        if not names & (set(CALL_NAMES) | set(SUMMARY_CALL_NAMES)) and not any(
            p.kind == p.VAR_KEYWORD for p in params.values()
        ):
            raise EvaluatorError(
                f"{fn_name} is not an evaluator: it must take keyword arguments named "
                f"{', '.join(CALL_NAMES)} (any of them)"
            )
        return Evaluator(name=fn_name, key=fn_name, fn=obj)
    raise EvaluatorError(
        f"{obj!r} is not an evaluator: give a function, an evaluator from judgekit_evaluators, "
        "or a registered evaluator name"
    )


# --------------------------------------------------------------------------------------------
# Registry: built-ins (registered explicitly) and third-party plugins (entry points).
# --------------------------------------------------------------------------------------------

ENTRY_POINT_GROUP = "judgekit.evaluators"


@functools.lru_cache(maxsize=1)
def evaluator_registry() -> dict[str, Callable[..., Any]]:
    """Every evaluator factory by name: the built-ins, then those plugins register."""
    from importlib.metadata import entry_points

    from judgekit_evaluators import BUILTINS

    found: dict[str, Callable[..., Any]] = dict(BUILTINS)
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        if ep.name in found:
            continue  # a plugin never shadows a built-in
        found[ep.name] = functools.partial(_load_entry_point, ep)
    return found


def _load_entry_point(ep: Any, *args: Any, **kwargs: Any) -> Evaluator:
    try:
        loaded = ep.load()
    except Exception as exc:
        raise EvaluatorError(
            f"evaluator plugin {ep.name!r} ({ep.value}) failed to load: {exc}"
        ) from None
    if isinstance(loaded, Evaluator):
        return replace(loaded, key=kwargs.get("key", loaded.key)) if kwargs else loaded
    if getattr(loaded, "is_evaluator_factory", False):
        ev = loaded(*args, **kwargs)
        assert isinstance(ev, Evaluator)
        return ev
    return as_evaluator(loaded)


def available_evaluators() -> list[str]:
    """Names of every registered evaluator: built-ins and installed plugins, sorted."""
    return sorted(evaluator_registry())


def get_evaluator(name: str, /, *args: Any, **kwargs: Any) -> Evaluator:
    """Build a registered evaluator by name.

    Raises:
        EvaluatorError: when no evaluator has that name (the message suggests close names).

    Example:
        >>> get_evaluator("exact_match", case_sensitive=False).key
        'exact_match'
    """
    registry = evaluator_registry()
    if name not in registry:
        close = difflib.get_close_matches(name, list(registry), n=3)
        hint = f"; did you mean {' or '.join(repr(c) for c in close)}?" if close else ""
        raise EvaluatorError(
            f"unknown evaluator {name!r}{hint} (available: {', '.join(sorted(registry))})"
        )
    ev = registry[name](*args, **kwargs)
    if not isinstance(ev, Evaluator):
        raise EvaluatorError(f"evaluator {name!r} did not build an Evaluator")
    return ev


def iter_evaluators(objs: Iterable[Any]) -> list[Evaluator]:
    """Resolve a suite's evaluator list, refusing two evaluators that write the same key."""
    resolved = [as_evaluator(o) for o in objs]
    seen: dict[str, Evaluator] = {}
    for ev in resolved:
        if ev.key in seen:
            raise EvaluatorError(
                f"two evaluators write the score key {ev.key!r}; give one of them key=... "
                "to tell them apart"
            )
        seen[ev.key] = ev
    return resolved
