"""The core value types: what their hand-written parts must keep in step with."""

from __future__ import annotations

import dataclasses
import inspect

import pytest

from judgekit.types import CallRecord


def test_call_record_init_takes_every_field_with_its_default() -> None:
    params = list(inspect.signature(CallRecord.__init__).parameters.values())[1:]
    fields = dataclasses.fields(CallRecord)
    assert [p.name for p in params] == [f.name for f in fields]
    assert [p.default for p in params] == [
        inspect.Parameter.empty if f.default is dataclasses.MISSING else f.default
        for f in fields]
    values = {f.name: f"v{i}" for i, f in enumerate(fields)}
    record = CallRecord(**values)  # type: ignore[arg-type]
    assert dataclasses.asdict(record) == values
    assert dataclasses.replace(record, model="other").model == "other"
    assert record == CallRecord(**values) and hash(record) == hash(CallRecord(**values))  # type: ignore[arg-type]
    with pytest.raises(dataclasses.FrozenInstanceError):
        record.model = "x"  # type: ignore[misc]
