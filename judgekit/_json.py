"""JSON for the store, the response cache and the result file: orjson, with the standard
library as the fallback for what orjson refuses.

A cached re-run encodes every request twice (its cache key, its stored row) and decodes every
reply: with the standard library that was a sixth of the run. orjson writes the same JSON for
everything a run holds (strings, numbers, lists, string-keyed dicts) 3-10x faster. Where the
two differ:

- NaN and infinities become ``null`` (the standard library writes ``NaN``, which is not JSON);
- floats below 1e-4 are written ``0.00001`` rather than ``1e-05`` (the same number);
- integers beyond 64 bits and dicts with non-string keys are refused by orjson: those values
  go through the standard library, so they are written as it writes them.

Objects neither can encode (dataclasses and datetimes included) are written as
their ``repr``. Text written by the standard library (``NaN`` included) still reads back.
"""

from __future__ import annotations

import json
from typing import Any

import orjson

__all__ = ["canonical", "dumps", "loads"]

# Dataclasses and datetimes go to ``default`` as they did with the standard library (repr),
# so what a row holds does not depend on which encoder wrote it.
_PASS = orjson.OPT_PASSTHROUGH_DATACLASS | orjson.OPT_PASSTHROUGH_DATETIME
_SORTED = _PASS | orjson.OPT_SORT_KEYS


_std = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False, default=repr).encode


def dumps(obj: Any) -> str:
    """``obj`` as compact JSON text (unencodable objects as their ``repr``)."""
    try:
        return orjson.dumps(obj, default=repr, option=_PASS).decode()
    except TypeError:  # a >64-bit int, a non-string key: as the standard library writes it
        return _std(obj)


def canonical(obj: Any, default: Any = repr) -> bytes:
    """``obj`` as JSON with sorted keys and no spaces: equal values, equal bytes."""
    try:
        return orjson.dumps(obj, default=default, option=_SORTED)
    except TypeError:
        return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False,
                          default=default).encode()


def loads(text: str | bytes) -> Any:
    """Parse JSON text (``NaN`` and ``Infinity`` included, as the standard library wrote them)."""
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        return json.loads(text)
