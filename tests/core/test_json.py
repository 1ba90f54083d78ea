"""judgekit._json: orjson where it writes what the standard library wrote, the standard
library where orjson refuses, and text from either read back."""

from __future__ import annotations

import dataclasses
import datetime
import json

from hypothesis import given, settings
from hypothesis import strategies as st

from judgekit._json import canonical, dumps, loads

_STD_CANONICAL = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False,
                                  default=repr).encode
# Floats below 1e-4 are written without an exponent by orjson (0.00001, not 1e-05): the same
# number, other bytes. Everything else a request holds is written byte for byte as before.
_FLOATS = st.floats(allow_nan=False, allow_infinity=False).filter(
    lambda x: x == 0 or abs(x) >= 1e-4)
_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers(-2**63, 2**64 - 1) | _FLOATS | st.text(),
    lambda inner: st.lists(inner) | st.dictionaries(st.text(), inner), max_leaves=20)


@settings(max_examples=300, deadline=None)
@given(_VALUES)
def test_canonical_is_the_standard_librarys_sorted_compact_json(value: object) -> None:
    assert canonical(value) == _STD_CANONICAL(value).encode()
    assert loads(dumps(value)) == value


def test_what_orjson_refuses_is_written_by_the_standard_library() -> None:
    big = {"n": 2**70, "b": 1}
    assert canonical(big) == _STD_CANONICAL(big).encode()
    assert loads(dumps(big)) == big
    int_keys = {2: "two", 1: "one"}
    assert canonical(int_keys) == b'{"1":"one","2":"two"}'
    assert loads(dumps(int_keys)) == {"1": "one", "2": "two"}


def test_objects_json_cannot_hold_are_written_as_their_repr_as_before() -> None:
    @dataclasses.dataclass
    class Point:
        x: int

    when = datetime.datetime(2026, 1, 2, 3, 4, 5)
    assert loads(dumps({"p": Point(1), "t": when, "s": {1}})) == \
        {"p": "test_objects_json_cannot_hold_are_written_as_their_repr_as_before.<locals>."
              "Point(x=1)", "t": repr(when), "s": "{1}"}
    assert loads(canonical(Point(2), default=lambda o: {"x": o.x})) == {"x": 2}


def test_nan_is_written_as_null_and_standard_library_nan_still_reads() -> None:
    assert dumps({"x": float("nan"), "y": float("inf")}) == '{"x":null,"y":null}'
    value = loads('{"x": NaN, "y": Infinity}')
    assert value["x"] != value["x"] and value["y"] == float("inf")
