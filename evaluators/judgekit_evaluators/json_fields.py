"""JSON field match: compare the output's JSON object with the reference's, key by key.

The output's JSON is read as in :mod:`judgekit_evaluators.json_checks` (dict, JSON string or
fenced block; no one-key unwrapping; ``field=`` to look inside a wrapper such as LangSmith's
``{"output": ...}``). The keys compared are ``keys=`` if given, else the reference's keys. Each
key is compared with its comparator (``comparators={"price": "number"}``; default
``"exact"``), recursively through nested objects and lists:

* ``"exact"``: equal JSON values; ``1 == 1.0``, but ``true`` is not ``1``; ``null == null``.
* ``"ci"``: strings equal after stripping and case-folding.
* ``"normalized"``: strings equal after OpenAI Evals ``normalize`` (case, punctuation, articles).
* ``"fuzzy"``: strings fuzzy-match (OpenAI Evals: one normalised string contains the other).
* ``"number"``: numbers (or numeric strings) within ``number_tolerance`` of each other.
* ``"set"``: lists hold the same items, ignoring order and duplicates.
* a callable ``(output_value, reference_value) -> bool | float``: a float in [0, 1] is partial
  credit, and the key only counts as matching at 1.0.

Lists inside a value compare by ``list_mode``: ``"ordered"`` (same length, item by item),
``"unordered"`` (same items as a multiset, any order), ``"subset"`` (every output item is in
the reference: nothing invented), ``"superset"`` (every reference item is in the output: nothing
missed). Items are paired one-to-one (a maximum bipartite matching), so duplicates count.

A key absent from the output does not match (even if the reference has ``null`` there); a key
absent from both sides matches. A top-level Python list of references is a list of acceptable
answers (OpenAI Evals ``ideal``); the best-matching one is used.

Result: by default one score, the fraction of keys that match, ``passed`` only when all do,
with the mismatches in the comment. ``per_key=True`` gives one score per key instead, keyed
``f"{key}.{name}"`` (for example ``json_match.star_rating``); with ``extra_keys="fail"`` and
no ``keys=``, a ``f"{key}._extra_keys"`` score also says whether the output had keys the
reference lacks.

Differences from OpenAI Evals ``json_match`` (``evals.elsuite.basic.json_match``), each asserted
in ``tests/evaluators/test_openai_evals_vectors.py``:

* ``null`` equals ``null`` here; in Evals a missing or null value never matches anything.
* Keys only in the output are ignored by default; Evals fails them. ``extra_keys="fail"``
  gives the Evals behaviour (nested objects follow the same rule).
* The score is partial credit (fraction of keys); Evals' all-or-nothing ``accuracy`` is our
  ``passed``.
* ``true`` is not ``1`` (Evals compares with Python ``==``, where ``True == 1``).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from judgekit.errors import EvaluatorError
from judgekit.evaluation import evaluator
from judgekit.types import Score
from judgekit_evaluators._common import parse_json, pick, short, unscored
from judgekit_evaluators.fuzzy import fuzzy_equal, normalize

__all__ = ["COMPARATORS", "LIST_MODES", "json_match"]

LIST_MODES = ("ordered", "unordered", "subset", "superset")
COMPARATORS = ("exact", "ci", "normalized", "fuzzy", "number", "set")
_ABSENT = object()

Leaf = Callable[[Any, Any], bool]


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _exact(a: Any, b: Any) -> bool:
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool) and a == b
    if _is_number(a) and _is_number(b):
        return bool(a == b)
    return type(a) is type(b) and bool(a == b)


def _strings(fn: Callable[[str, str], bool]) -> Leaf:
    def leaf(a: Any, b: Any) -> bool:
        if isinstance(a, str) and isinstance(b, str):
            return fn(a, b)
        return _exact(a, b)

    return leaf


def _as_number(v: Any) -> float | None:
    if _is_number(v):
        return float(v)
    if isinstance(v, str):
        try:
            return float(v.strip().replace(",", ""))
        except ValueError:
            return None
    return None


def _match_count(a: Sequence[Any], b: Sequence[Any], eq: Callable[[Any, Any], bool]) -> int:
    """Size of a maximum one-to-one pairing of items of ``a`` with equal items of ``b``."""
    adj = [[j for j in range(len(b)) if eq(x, b[j])] for x in a]
    owner: dict[int, int] = {}

    def augment(i: int, seen: set[int]) -> bool:  # Kuhn's augmenting path
        for j in adj[i]:
            if j not in seen:
                seen.add(j)
                if j not in owner or augment(owner[j], seen):
                    owner[j] = i
                    return True
        return False

    return sum(augment(i, set()) for i in range(len(a)))


class _Comparer:
    """Deep comparison of JSON values with a leaf rule, a list mode and an extra-keys rule."""

    def __init__(self, list_mode: str, extra_keys: str) -> None:
        self.list_mode, self.extra_keys = list_mode, extra_keys

    def deep(self, a: Any, b: Any, leaf: Leaf) -> bool:
        if isinstance(b, Mapping):
            if not isinstance(a, Mapping):
                return False
            names = set(b) | set(a) if self.extra_keys == "fail" else set(b)
            return all(k in a and k in b and self.deep(a[k], b[k], leaf) for k in names)
        if isinstance(b, (list, tuple)):
            if not isinstance(a, (list, tuple)):
                return False
            return self.lists(a, b, lambda x, y: self.deep(x, y, leaf))
        if isinstance(a, (Mapping, list, tuple)):
            return False
        return leaf(a, b)

    def lists(self, a: Sequence[Any], b: Sequence[Any], eq: Callable[[Any, Any], bool]) -> bool:
        mode = self.list_mode
        if mode == "ordered":
            return len(a) == len(b) and all(eq(x, y) for x, y in zip(a, b, strict=True))
        if mode == "unordered":
            return len(a) == len(b) and _match_count(a, b, eq) == len(a)
        if mode == "subset":
            return _match_count(a, b, eq) == len(a)
        return _match_count(a, b, eq) == len(b)  # superset


def _build_comparator(spec: Any, name: str, comparer: _Comparer,
                      tolerance: float) -> Callable[[Any, Any], float]:
    if callable(spec):
        def custom(a: Any, b: Any) -> float:
            result = spec(a, b)
            if isinstance(result, bool):
                return 1.0 if result else 0.0
            return min(1.0, max(0.0, float(result)))  # partial credit, kept within [0, 1]

        return custom
    leaves: dict[str, Leaf] = {
        "exact": _exact,
        "ci": _strings(lambda x, y: x.strip().casefold() == y.strip().casefold()),
        "normalized": _strings(lambda x, y: normalize(x) == normalize(y)),
        "fuzzy": _strings(fuzzy_equal),
    }

    def number(a: Any, b: Any) -> bool:
        x, y = _as_number(a), _as_number(b)
        if x is None or y is None:
            return _exact(a, b)
        return math.isclose(x, y, rel_tol=0.0, abs_tol=tolerance)

    leaves["number"] = number
    if spec == "set":
        def as_set(a: Any, b: Any) -> float:
            if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
                def eq(x: Any, y: Any) -> bool:
                    return comparer.deep(x, y, _exact)

                ok = all(any(eq(x, y) for y in b) for x in a) and all(
                    any(eq(x, y) for x in a) for y in b)
                return 1.0 if ok else 0.0
            return 1.0 if comparer.deep(a, b, _exact) else 0.0

        return as_set
    if spec not in leaves:
        raise EvaluatorError(
            f"json_match: unknown comparator {spec!r} for {name!r}; use one of "
            f"{', '.join(COMPARATORS)} or a function (output_value, reference_value) -> bool")
    leaf = leaves[spec]
    return lambda a, b: 1.0 if comparer.deep(a, b, leaf) else 0.0


@evaluator(inline=True)
def json_match(
    *,
    keys: Sequence[str] | None = None,
    comparators: Mapping[str, str | Callable[[Any, Any], Any]] | None = None,
    list_mode: str = "ordered",
    per_key: bool = False,
    extra_keys: str = "ignore",
    default_comparator: str | Callable[[Any, Any], Any] = "exact",
    number_tolerance: float = 1e-9,
    field: str | None = None,
    reference_field: str | None = None,
    key: str = "json_match",
) -> Callable[..., list[Score]]:
    """Compare the output's JSON with the reference's, key by key.

    Args:
        keys: The top-level keys to compare (default: every key of the reference).
        comparators: Per-key comparator: a name (exact, ci, normalized, fuzzy, number, set)
            or a function ``(output_value, reference_value) -> bool | float``.
        list_mode: How lists compare: ordered, unordered, subset or superset.
        per_key: One score per key (``f"{key}.{name}"``) instead of one aggregate score.
        extra_keys: ``"ignore"`` keys only the output has, or ``"fail"`` them (OpenAI Evals).
        default_comparator: The comparator for keys not in ``comparators``.
        number_tolerance: Absolute tolerance of the ``"number"`` comparator.
        field: Read the output JSON from this field of a dict output.
        reference_field: Read the reference JSON from this field of a dict reference.
        key: Score key (and prefix of the per-key score keys).

    Returns:
        An evaluator returning a list of scores (one, or one per key).

    Raises:
        EvaluatorError: An unknown list mode, extra-keys rule or comparator name.

    Example:
        >>> from judgekit_evaluators import json_match
        >>> check = json_match(comparators={"product": "ci"})
        >>> r = check(outputs={"product": "ACME kettle", "star_rating": 5},
        ...           reference_outputs={"product": "Acme Kettle", "star_rating": 4})
        >>> r["score"], r["comment"]
        (0.5, '1/2 keys match; star_rating: expected 4, got 5')
    """
    if list_mode not in LIST_MODES:
        raise EvaluatorError(f"json_match: list_mode={list_mode!r} is not one of "
                             f"{', '.join(LIST_MODES)}")
    if extra_keys not in ("ignore", "fail"):
        raise EvaluatorError(f"json_match: extra_keys={extra_keys!r}; use 'ignore' or 'fail'")
    if isinstance(keys, str):
        raise EvaluatorError(f"json_match: keys must be a list of key names, e.g. [{keys!r}]")
    wanted = list(dict.fromkeys(keys)) if keys is not None else None
    if wanted is not None and not wanted:
        raise EvaluatorError("json_match: keys=[] compares nothing; leave keys unset to "
                             "compare every key of the reference")
    if wanted is not None and comparators:
        stray = [k for k in comparators if k not in wanted]
        if stray:
            raise EvaluatorError(f"json_match: comparators name {stray} but keys={wanted} does "
                                 "not include them; add them to keys or drop the comparators")
    comparer = _Comparer(list_mode, extra_keys)
    default = _build_comparator(default_comparator, "every key", comparer, number_tolerance)
    per = {k: _build_comparator(v, k, comparer, number_tolerance)
           for k, v in (comparators or {}).items()}

    rules = _Rules(key, wanted, per, default, extra_keys, per_key)

    def check(*, outputs: Any, reference_outputs: Any) -> list[Score]:
        if reference_outputs is None:
            return _no_verdict(rules, "no reference to compare with", fail=False)
        raw_ref, problem = pick(reference_outputs, reference_field, "reference", unwrap=False)
        if problem:
            return _no_verdict(rules, problem, fail=False)
        alternatives = list(raw_ref) if isinstance(raw_ref, (list, tuple)) else [raw_ref]
        refs = []
        for alt in alternatives:
            parsed = parse_json(alt)
            if not parsed.ok:
                return _no_verdict(rules, f"the reference is not JSON: {parsed.error}", fail=False)
            refs.append(parsed.value)
        if not refs:
            return _no_verdict(rules, "the reference is an empty list of acceptable answers", False)
        out_raw, problem = pick(outputs, field, "output", unwrap=False)
        if problem:
            return _no_verdict(rules, problem, fail=True, ref=refs[0])
        parsed_out = parse_json(out_raw)
        if not parsed_out.ok:
            return _no_verdict(rules, f"the output is not JSON: {parsed_out.error}", True, refs[0])
        out = parsed_out.value
        best: tuple[tuple[bool, float], int, list[tuple[str, float, str]], list[str]] | None = None
        for i, ref in enumerate(refs):
            results, extra = _compare(rules, out, ref)
            total = [s for _, s, _ in results] + [0.0] * len(extra)
            rank = (all(s >= 1.0 for s in total), sum(total) / len(total) if total else 1.0)
            if best is None or rank > best[0]:
                best = (rank, i, results, extra)
        assert best is not None
        meta = {"alternative": best[1]} if len(refs) > 1 else {}
        return _scores(rules, best[2], best[3], meta)

    return check


@dataclass(frozen=True)
class _Rules:
    """What one json_match compares, and how it scores."""

    key: str
    wanted: list[str] | None  # None: every key of the reference
    per: Mapping[str, Callable[[Any, Any], float]]
    default: Callable[[Any, Any], float]
    extra_keys: str
    per_key: bool


def _compare(rules: _Rules, out: Any, ref: Any,
             ) -> tuple[list[tuple[str, float, str]], list[str]]:
    """Per key (name, score, detail), and the output's extra keys."""
    if not isinstance(ref, Mapping):
        fn = rules.per.get("$", rules.default)
        s = fn(out, ref)
        return [("$", s, "" if s >= 1.0 else f"expected {short(ref)}, got {short(out)}")], []
    names = rules.wanted if rules.wanted is not None else [str(k) for k in ref]
    if not isinstance(out, Mapping):
        kind = type(out).__name__
        return [(n, 0.0, f"{n}: the output is a JSON {kind}, not an object")
                for n in names], []
    results = []
    for name in names:
        o, r = out.get(name, _ABSENT), ref.get(name, _ABSENT)
        if o is _ABSENT and r is _ABSENT:
            results.append((name, 1.0, ""))
        elif o is _ABSENT:
            results.append((name, 0.0, f"{name}: missing in output"))
        elif r is _ABSENT:
            results.append((name, 0.0, f"{name}: not in the reference, got {short(o)}"))
        else:
            try:
                s = rules.per.get(name, rules.default)(o, r)
                detail = "" if s >= 1.0 else f"{name}: expected {short(r)}, got {short(o)}"
            except Exception as exc:  # a user comparator's bug is this key's mismatch
                s, detail = 0.0, f"{name}: comparator raised {type(exc).__name__}: {exc}"
            results.append((name, s, detail))
    extra = []
    if rules.extra_keys == "fail" and rules.wanted is None:
        extra = [str(k) for k in out if k not in ref]
    return results, extra


def _scores(rules: _Rules, results: list[tuple[str, float, str]], extra: list[str],
            meta: dict[str, Any]) -> list[Score]:
    """The scores of the closest reference's comparison: one, or one per key."""
    if rules.per_key:
        out = [Score(key=f"{rules.key}.{n}", score=s, passed=s >= 1.0, comment=d or "match")
               for n, s, d in results]
        if rules.extra_keys == "fail" and rules.wanted is None:
            out.append(Score(key=f"{rules.key}._extra_keys", score=0.0 if extra else 1.0,
                             passed=not extra, comment=(
                                 f"keys not in the reference: {extra}" if extra
                                 else "no extra keys")))
        return out
    total = [s for _, s, _ in results] + [0.0] * len(extra)
    mean = sum(total) / len(total) if total else 1.0
    ok = all(s >= 1.0 for s in total)
    misses = [d for _, s, d in results if s < 1.0] + [f"{k}: not in the reference"
                                                      for k in extra]
    n_ok = sum(1 for s in total if s >= 1.0)
    comment = f"{n_ok}/{len(total)} keys match" if total else "no keys to compare"
    if misses:
        comment += "; " + "; ".join(misses[:10]) + ("; ..." if len(misses) > 10 else "")
    meta = {**meta, "mismatched": [n for n, s, _ in results if s < 1.0] + extra}
    return [Score(key=rules.key, score=mean, passed=ok, comment=comment, metadata=meta)]


def _no_verdict(rules: _Rules, reason: str, fail: bool, ref: Any = None) -> list[Score]:
    """No comparison possible: a failure (the output's fault) or unscored (the reference's)."""
    names = rules.wanted or ([str(k) for k in ref] if isinstance(ref, Mapping) else None)
    if rules.per_key and names:
        return [Score(key=f"{rules.key}.{n}", score=0.0, passed=False, comment=reason) if fail
                else Score(key=f"{rules.key}.{n}", status="unscored", comment=reason)
                for n in names]
    if fail:
        return [Score(key=rules.key, score=0.0, passed=False, comment=reason)]
    return [replace(unscored(reason), key=rules.key)]
