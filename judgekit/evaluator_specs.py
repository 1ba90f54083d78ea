"""``--evaluator NAME[:ARGS]`` specs, and the evaluators they name for :func:`judgekit.rescore`:
one of the suite's own (by score key) or one from the registry."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from judgekit.errors import EvaluatorError, JudgekitError
from judgekit.evaluation import Evaluator, as_evaluator, get_evaluator
from judgekit.store import RunRow
from judgekit.suite import load_suites

__all__ = ["SuiteEvaluators", "parse_evaluator_spec", "resolve_evaluators"]


# -- NAME[:ARGS] ----------------------------------------------------------------------------

_ARGS_HELP = ('write NAME:key=value,key=value (values read as JSON when they parse: 3, true, '
              '"text", ["a","b"]; else as text) or NAME:{"key": value}')


def parse_evaluator_spec(text: str) -> tuple[str, dict[str, Any] | None]:
    """Split ``--evaluator NAME[:ARGS]`` into the name and its keyword arguments.

    ARGS is ``key=value`` pairs separated by commas, each value read as JSON when it parses
    (``3``, ``true``, ``"a,b"``, ``["x", "y"]``, ``{...}``) and as plain text otherwise
    (``model=gpt-4o-mini``), or one JSON object. No ``:`` gives ``None`` for the arguments.

    Raises:
        EvaluatorError: naming the spec and the form ARGS takes.

    Example:
        >>> parse_evaluator_spec('json_match:keys=["product","star_rating"],key=fields')
        ('json_match', {'keys': ['product', 'star_rating'], 'key': 'fields'})
    """
    name, sep, args = text.partition(":")
    name = name.strip()
    if not name:
        raise EvaluatorError(f"--evaluator {text!r}: no evaluator name; {_ARGS_HELP}")
    if not sep:
        return name, None
    args = args.strip()
    if args.startswith("{"):
        try:
            obj = json.loads(args)
        except json.JSONDecodeError as exc:
            raise EvaluatorError(f"--evaluator {text!r}: ARGS is not valid JSON ({exc})"
                                 ) from None
        if not isinstance(obj, dict):
            raise EvaluatorError(f"--evaluator {text!r}: ARGS must be a JSON object; "
                                 f"{_ARGS_HELP}")
        return name, obj
    return name, _parse_pairs(text, args)


def _parse_pairs(text: str, args: str) -> dict[str, Any]:
    decoder = json.JSONDecoder()
    out: dict[str, Any] = {}
    i = 0
    while i < len(args):
        eq = args.find("=", i)
        key = args[i:eq].strip() if eq >= 0 else ""
        if not key.isidentifier():
            raise EvaluatorError(f"--evaluator {text!r}: expected key=value at "
                                 f"{args[i:]!r}; {_ARGS_HELP}")
        if key in out:
            raise EvaluatorError(f"--evaluator {text!r}: {key!r} is given twice")
        j = eq + 1
        while j < len(args) and args[j] == " ":
            j += 1
        if j < len(args) and args[j] in '[{"':
            try:
                value, j = decoder.raw_decode(args, j)
            except json.JSONDecodeError as exc:
                raise EvaluatorError(f"--evaluator {text!r}: the value of {key!r} is not "
                                     f"valid JSON ({exc.msg}); {_ARGS_HELP}") from None
            rest = args[j:].lstrip()
            if rest and not rest.startswith(","):
                raise EvaluatorError(f"--evaluator {text!r}: expected ',' after the value "
                                     f"of {key!r}, got {rest!r}")
            j = len(args) - len(rest) + 1
        else:
            end = args.find(",", j)
            end = len(args) if end < 0 else end
            raw = args[j:end].strip()
            try:
                value = json.loads(raw)
            except json.JSONDecodeError:
                value = raw  # plain text: model=gpt-4o-mini
            j = end + 1
        out[key] = value
        i = j
    return out


class SuiteEvaluators:
    """The evaluators the original run's suite file defines *now*, loaded on first need."""

    def __init__(self, run: RunRow) -> None:
        self.run = run
        self._loaded: dict[str, Evaluator] | None = None
        self.problem: str | None = None

    def get(self, key: str) -> Evaluator | None:
        """The suite's evaluator with score key ``key``, or None (then :attr:`problem` may
        say why the suite could not be read)."""
        if self._loaded is None:
            self._loaded = {}
            path = Path(self.run.path) if self.run.path else None
            if path is None:
                self.problem = "the run has no suite file (judgekit.evaluate)"
            elif not path.is_file():
                self.problem = f"its suite file {path} is not here"
            else:
                try:
                    (s,) = load_suites(f"{path}::{self.run.suite}")
                    self._loaded = {e.key: e for e in s.evaluators}
                except JudgekitError as exc:
                    self.problem = f"its suite file did not load ({exc})"
        return self._loaded.get(key)

    @property
    def keys(self) -> list[str]:
        """The score keys of the suite's evaluators (empty until :meth:`get` loaded them)."""
        return list(self._loaded or {})


def resolve_evaluators(specs: Sequence[Any], suite_evs: SuiteEvaluators,
                       notes: list[str]) -> list[Evaluator]:
    """Evaluators from ``--evaluator`` specs (and, from Python, evaluator objects).

    A NAME without ARGS that is the key of one of the suite's evaluators is that evaluator as
    the suite file now defines it (its schema, prompt, model...): what "changed" means. Any
    other NAME, or one with ARGS, is built from the registry (built-ins and plugins).
    """
    out: list[Evaluator] = []
    for spec in specs:
        if not isinstance(spec, str):
            out.append(as_evaluator(spec))
            continue
        name, kwargs = parse_evaluator_spec(spec)
        if kwargs is None:
            ev = suite_evs.get(name)
            if ev is not None:
                notes.append(f"{name}: the suite's evaluator, as {suite_evs.run.path} "
                             "defines it now")
                out.append(ev)
                continue
        try:
            out.append(get_evaluator(name, **(kwargs or {})))
        except EvaluatorError as exc:
            where = (f"; the suite's evaluators: {', '.join(suite_evs.keys)}"
                     if suite_evs.keys else
                     f"; not one of the suite's either: {suite_evs.problem}"
                     if suite_evs.problem and kwargs is None else "")
            raise EvaluatorError(f"--evaluator {spec!r}: {exc}{where}") from None
        except JudgekitError:
            raise
        except Exception as exc:  # a factory refusing a value: a usage error, not a crash
            raise EvaluatorError(f"--evaluator {spec!r}: {type(exc).__name__}: {exc}"
                                 ) from None
    keys = [e.key for e in out]
    for key in keys:
        if keys.count(key) > 1:
            raise EvaluatorError(f"two evaluators write the score key {key!r}; give one of "
                                 "them key=... (NAME:key=other) to tell them apart")
    return out
