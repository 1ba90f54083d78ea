"""Suites: pytest-style ``test_*`` functions carrying ``@suite``, and loading them by path.

::

    @suite(data=dataset("data/qa.jsonl"), evaluators=[exact_match()], goals=Goals(...))
    @parametrize("model", ["rules", "gpt-4o-mini"])
    async def test_answer(inputs, model): ...

The decorated function is the *target*. It receives, by parameter name: ``inputs``,
``reference``, ``example``, every parametrized name, any field of the example's inputs, and
``llm``, the recording model client (:class:`judgekit.models.LLM`) for the variant's ``model``.
Several ``@parametrize`` decorators make a matrix.
"""

from __future__ import annotations

import importlib.util
import inspect
import itertools
import sys
import traceback
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from judgekit.dataset import Dataset, dataset
from judgekit.errors import JudgekitError, SuiteError
from judgekit.evaluation import Evaluator, iter_evaluators
from judgekit.goals import Goals
from judgekit.types import Example

__all__ = ["Suite", "load_suites", "parametrize", "suite", "variant_label"]

#: Fixture names every target may ask for.
BUILTIN_FIXTURES = ("inputs", "reference", "example", "variant", "repetition")
#: Extra fixtures by name: ``factory(example, variant) -> value`` (the model layer adds ``llm``).
FIXTURES: dict[str, Callable[[Example, Mapping[str, Any]], Any]] = {}


def _llm_fixture(example: Example, variant: Mapping[str, Any]) -> Any:
    """``llm``: the recording model client, defaulting to the variant's ``model``."""
    from judgekit.models.llm import LLM  # the model layer loads only for targets that use it

    return LLM(variant.get("model"))


FIXTURES["llm"] = _llm_fixture
_PARAMS_ATTR = "__judgekit_parametrize__"


@dataclass(frozen=True)
class _Param:
    names: tuple[str, ...]
    values: tuple[tuple[Any, ...], ...]
    ids: tuple[str, ...] | None


def parametrize(
    argnames: str | Sequence[str],
    argvalues: Iterable[Any],
    *,
    ids: Sequence[str] | None = None,
) -> Callable[[Any], Any]:
    """Run the suite once per value: each value is a *variant*, compared side by side.

    Args:
        argnames: One name, or several as ``"model,shots"`` / a list (then each value is a tuple).
        argvalues: The values.
        ids: Labels for the values in tables and test ids (default: the values themselves).

    Example:
        >>> @parametrize("model", ["rules", "gpt-4o-mini"])
        ... def test_x(inputs, model): ...
    """
    names = tuple(n.strip() for n in (argnames.split(",") if isinstance(argnames, str)
                                      else argnames) if n.strip())
    if not names:
        raise SuiteError("parametrize(): give at least one argument name")
    values: list[tuple[Any, ...]] = []
    for v in argvalues:
        tup = tuple(v) if len(names) > 1 else (v,)
        if len(tup) != len(names):
            raise SuiteError(f"parametrize({', '.join(names)}): value {v!r} has {len(tup)} "
                             f"items, expected {len(names)}")
        values.append(tup)
    if not values:
        raise SuiteError(f"parametrize({', '.join(names)}): no values given")
    if ids is not None and len(ids) != len(values):
        raise SuiteError(f"parametrize({', '.join(names)}): {len(ids)} ids for "
                         f"{len(values)} values")
    param = _Param(names, tuple(values), tuple(ids) if ids is not None else None)

    def mark(obj: Any) -> Any:
        if isinstance(obj, Suite):
            obj.params.insert(0, param)
            obj.refresh_variants()
            return obj
        if not hasattr(obj, _PARAMS_ATTR):
            setattr(obj, _PARAMS_ATTR, [])
        getattr(obj, _PARAMS_ATTR).insert(0, param)
        return obj

    return mark


def _label(value: Any) -> str:
    if isinstance(value, (str, int, float, bool)) or value is None:
        return str(value)
    return getattr(value, "__name__", None) or repr(value)


def variant_label(variant: Mapping[str, Any], labels: Mapping[str, str] | None = None) -> str:
    """A short label for a variant: its values joined by ``-`` (``"gpt-4o-3"``)."""
    if not variant:
        return "default"
    if labels:
        return "-".join(labels[k] for k in variant)
    return "-".join(_label(v) for v in variant.values())


@dataclass
class Suite:
    """A loaded suite: target, data, evaluators, goals and the variants to compare.

    Calling the suite calls the target function unchanged.
    """

    name: str
    target: Callable[..., Any]
    data: Dataset
    evaluators: list[Evaluator]
    goals: Goals | None = None
    params: list[_Param] = field(default_factory=list)
    path: Path | None = None
    description: str | None = None
    variants: list[dict[str, Any]] = field(default_factory=list)
    variant_labels: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.refresh_variants()
        self._check_goal_keys()

    def _check_goal_keys(self) -> None:
        """A goal on a score no evaluator writes could never be met: say so when loading."""
        if self.goals is None or any(e.summary for e in self.evaluators):
            return  # summary evaluators name their metrics only when they run
        keys = [e.key for e in self.evaluators]
        for goal_key in self.goals.score_keys:
            if goal_key == "assertion" or any(
                goal_key == k or goal_key.startswith(k + ".") for k in keys
            ):
                continue
            raise SuiteError(
                f"{self.qualname}: a goal names the score {goal_key!r}, which no evaluator "
                f"writes (evaluator keys: {', '.join(keys) or 'none'})"
            )

    def refresh_variants(self) -> None:
        """Recompute the variant matrix from the parametrize marks."""
        variants: list[dict[str, Any]] = [{}]
        labels: list[list[str]] = [[]]
        for p in self.params:
            new_v, new_l = [], []
            for (v, lab), (i, vals) in itertools.product(zip(variants, labels, strict=True),
                                                         enumerate(p.values)):
                new_v.append({**v, **dict(zip(p.names, vals, strict=True))})
                new_l.append([*lab, p.ids[i] if p.ids else "-".join(_label(x) for x in vals)])
            variants, labels = new_v, new_l
        self.variants = variants
        self.variant_labels = ["-".join(lab) or "default" for lab in labels]
        if len(set(self.variant_labels)) != len(self.variant_labels):
            raise SuiteError(f"{self.qualname}: two variants have the same label; give "
                             "parametrize(..., ids=[...]) distinct ids")

    @property
    def qualname(self) -> str:
        """``path::name`` as the CLI and pytest name it."""
        return f"{self.path}::{self.name}" if self.path else self.name

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.target(*args, **kwargs)

    def fixture_names(self) -> list[str]:
        """The parameter names of the target, in order."""
        return list(inspect.signature(self.target).parameters)

    def check_fixtures(self, example: Example) -> None:
        """Fail early, naming the parameter, when the target asks for something unknown."""
        known = set(BUILTIN_FIXTURES) | {n for p in self.params for n in p.names} | set(FIXTURES)
        for name, param in inspect.signature(self.target).parameters.items():
            if param.kind in (param.VAR_KEYWORD, param.VAR_POSITIONAL):
                continue
            if name in known or name in example.inputs or param.default is not param.empty:
                continue
            raise SuiteError(
                f"{self.qualname}: the target takes {name!r}, which is no fixture, parametrized "
                f"name or input field (inputs have: {', '.join(example.inputs) or 'nothing'}; "
                f"fixtures: {', '.join([*BUILTIN_FIXTURES, *FIXTURES])})"
            )


def suite(
    *,
    data: Dataset | str | Sequence[Mapping[str, Any]],
    evaluators: Sequence[Any] = (),
    goals: Goals | None = None,
    name: str | None = None,
    description: str | None = None,
) -> Callable[[Callable[..., Any]], Suite]:
    """Declare a ``test_*`` function as an evaluation suite.

    Args:
        data: A :func:`~judgekit.dataset` (or a path / list of records, read the same way).
        evaluators: Evaluators, registered evaluator names, or plain functions.
        goals: Targets each variant is checked against.
        name: Suite name (default: the function's name).
        description: Shown in reports (default: the function's docstring).

    Example:
        >>> from judgekit import dataset
        >>> @suite(data=dataset([{"inputs": {"x": 1}, "reference": 2}]),
        ...        evaluators=["exact_match"])
        ... def test_double(x):
        ...     return x * 2
        >>> test_double(4)
        8
    """
    if isinstance(data, (str, Path)):
        caller = sys._getframe(1).f_globals.get("__file__")
        data = dataset(data, base_dir=Path(caller).resolve().parent if caller else None)
    elif not isinstance(data, Dataset):
        data = dataset(data)
    if goals is not None and not isinstance(goals, Goals):
        raise SuiteError(f"suite(goals=...) takes a Goals(...), got {type(goals).__name__}")
    resolved = iter_evaluators(evaluators)
    ds = data

    def wrap(fn: Callable[..., Any]) -> Suite:
        if isinstance(fn, Suite):
            raise SuiteError(f"{fn.name}: @suite applied twice")
        params = list(getattr(fn, _PARAMS_ATTR, []))
        file = inspect.getsourcefile(fn)
        return Suite(name=name or fn.__name__, target=fn, data=ds, evaluators=resolved,
                     goals=goals, params=params, path=Path(file) if file else None,
                     description=description or inspect.getdoc(fn))

    return wrap


def _suite_line(exc: BaseException, path: Path) -> int | None:
    """The last line of the suite file on the exception's traceback."""
    frames = [f for f in traceback.extract_tb(exc.__traceback__) if Path(f.filename) == path]
    return frames[-1].lineno if frames else None


def _import_file(path: Path, shown: Path) -> Any:
    """Import a suite file; errors name it as ``shown`` (the path the user typed)."""
    module_name = "judgekit_suite_" + str(abs(hash(str(path))))
    spec = importlib.util.spec_from_file_location(module_name, path)
    if spec is None or spec.loader is None:
        raise SuiteError(f"{shown}: cannot import (not a Python file?)")
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    # Like pytest's rootdir insertion: a suite may import helpers that sit beside it.
    sys.path.insert(0, str(path.parent))
    try:
        spec.loader.exec_module(module)
    except JudgekitError as exc:
        # e.g. json_schema({...}) with an invalid schema: say which suite line built it.
        line = _suite_line(exc, path)
        if line is None or str(exc).startswith(str(shown)):
            raise
        raise type(exc)(f"{shown} line {line}: {exc}") from None
    except SyntaxError as exc:
        raise SuiteError(f"{shown} line {exc.lineno}: syntax error: "
                         f"{exc.msg}") from None
    except ImportError as exc:
        raise SuiteError(f"{shown}: {exc} (is the package installed in this environment?)"
                         ) from None
    except Exception as exc:
        line = _suite_line(exc, path)
        where = f"{shown} line {line}" if line else str(shown)
        raise SuiteError(f"{where}: {type(exc).__name__} while loading the suite: "
                         f"{exc}") from None
    finally:
        if sys.path and sys.path[0] == str(path.parent):
            sys.path.pop(0)
    return module


def load_suites(spec: str | Path) -> list[Suite]:
    """Load the suites of a file: ``PATH`` (every ``test_*`` suite) or ``PATH::name``.

    Raises:
        SuiteError: for a missing file, a syntax error, an import failure, or no suite.
    """
    text = str(spec)
    path_text, _, wanted = text.partition("::")
    path = Path(path_text)
    if not path.exists():
        raise SuiteError(f"{path}: no such file")
    if path.is_dir():
        raise SuiteError(f"{path}: is a directory; name a suite file, e.g. {path}/reviews.py")
    if path.suffix != ".py":
        raise SuiteError(f"{path}: a suite is a Python file (.py)")
    module = _import_file(path.resolve(), path)
    suites = [obj for n, obj in vars(module).items()
              if isinstance(obj, Suite) and (n.startswith("test") or obj.name == wanted)]
    for s in suites:
        s.path = path
    if wanted:
        chosen = [s for s in suites if s.name == wanted]
        if not chosen:
            names = ", ".join(s.name for s in suites) or "none"
            raise SuiteError(f"{path}: no suite named {wanted!r} (suites in the file: {names})")
        return chosen
    if not suites:
        raise SuiteError(f"{path}: no suite found; decorate a test_* function with @suite(...)")
    return suites
