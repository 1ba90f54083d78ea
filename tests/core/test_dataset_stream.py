"""Streamed file datasets (issue 16 item 4): same ids, version and cases as the eager load."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from judgekit import dataset
from judgekit.dataset import content_hash
from judgekit.dataset_rows import SeenIds
from judgekit.errors import DatasetError


def _write(path: Path, records: list[object]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    return path


@pytest.mark.parametrize("spill", [3, 20_000])
def test_stream_equals_eager(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                             spill: int) -> None:
    # Duplicates without ids get numbered the same way; spill=3 puts the ids in SQLite.
    monkeypatch.setattr(SeenIds, "SPILL", spill)
    recs: list[object] = [{"inputs": {"q": i % 4}, "reference": i % 2} for i in range(12)]
    recs.append({"id": "given", "inputs": {"q": "x"}, "metadata": {"m": 1}})
    path = _write(tmp_path / "d.jsonl", recs)
    eager = dataset(path).examples
    streamed = dataset(path)
    assert len(streamed) == len(eager) == 13
    assert list(streamed.stream()) == list(eager)
    expected = content_hash([[e.id, e.inputs, e.reference, e.metadata] for e in eager])
    assert streamed.version == dataset(path).version == expected


def test_stream_bad_row_names_line_before_yielding(tmp_path: Path) -> None:
    path = tmp_path / "d.jsonl"
    path.write_text('{"inputs": {"q": 1}}\n{"inputs": {"q": 2}}\n{not json\n', encoding="utf-8")
    got = dataset(path).stream()
    with pytest.raises(DatasetError, match=r"d\.jsonl line 3: not valid JSON"):
        next(got)
