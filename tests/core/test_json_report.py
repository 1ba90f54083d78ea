"""The one JSON writer: the DESIGN §9 object indented, each case compact on its own line,
read from the store as it is written."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

import judgekit
from judgekit.report.json_report import combine, run_json, write_json


def _result(tmp_path: Path, n: int = 7) -> judgekit.api.EvalResult:
    def target(inputs: dict[str, Any], model: str) -> Any:
        i = inputs["i"]
        if i == 3:
            raise ValueError("boom")
        # Text that looks like the writer's own stand-in, non-ASCII, a nested value and one
        # json cannot encode (written with repr, as json.dumps(default=repr) would).
        return {"text": f"\0judgekit-cases-{i}:0 é ✓", "nested": [{"i": i}], "odd": {1, 2}} \
            if i == 5 else f"answer {i} é"

    data = [{"id": f"e{i}", "inputs": {"i": i}, "reference": f"answer {i} é"} for i in range(n)]
    return judgekit.evaluate(target, data, ["exact_match"], variants={"model": ["a", "b"]},
                             store=tmp_path / "j.db")


def test_lazy_doc_written_equals_the_full_object(tmp_path: Path) -> None:
    with _result(tmp_path) as result:
        full = json.loads(json.dumps(result.to_json(), default=repr))
        out = tmp_path / "out.json"
        result.write_json(out)
        text = out.read_text(encoding="utf-8")
    assert json.loads(text) == full
    assert text.endswith("}\n")
    assert "é" in text  # not escaped: ensure_ascii=False
    lines = text.splitlines()
    # Every case on one line of its own, indented under its "cases" key.
    case_lines = [ln for ln in lines if ln.lstrip().startswith('{"example_id"')]
    assert len(case_lines) == 2 * 7
    for ln in case_lines:
        assert ln.startswith(" " * 8)
        json.loads(ln.strip().rstrip(","))
    assert lines[0] == "{" and lines[1].startswith('  "judgekit_version": ')


def test_stored_cases_read_as_the_case_objects_would_give_them(tmp_path: Path) -> None:
    # The lazy cases are built from the store's rows without a CaseResult per case: they must
    # say what case_json says, "passed" included once a verdict is added to a stored case.
    from judgekit.types import Score

    with _result(tmp_path) as result:
        exp_id = result.experiments[0].id
        case_id = result.store.db.execute(
            "SELECT id FROM cases WHERE experiment_id=? AND example_id='e1'", (exp_id,)
        ).fetchone()[0]
        result.store.add_case_scores(exp_id, case_id, [
            Score(key="pairwise", score=0.0, passed=False, comment="worse",
                  metadata={"nan": float("nan"), "nested": {"k": [1]}}),
            Score(key="judge", status="unscored", comment="no verdict")])
        full = result.to_json()
        lazy = result.to_json(lazy=True)
        out = tmp_path / "out.json"
        result.write_json(out)
        for want, got in zip(full["experiments"], lazy["experiments"], strict=True):
            assert list(got["cases"]) == json.loads(json.dumps(want["cases"], default=repr))
        written = json.loads(out.read_text(encoding="utf-8"))
    case = next(c for c in written["experiments"][0]["cases"] if c["example_id"] == "e1")
    assert case["passed"] is False
    assert [s["key"] for s in case["scores"]] == ["exact_match", "pairwise", "judge"]
    assert case["scores"][1]["metadata"] == {"nan": None, "nested": {"k": [1]}}
    assert written["experiments"][0]["cases"] == json.loads(
        json.dumps(full["experiments"][0]["cases"], default=repr))


def test_empty_cases_and_stdout(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with _result(tmp_path, n=2) as result:
        doc = result.to_json(lazy=True)
        doc["experiments"][1]["cases"] = []
        write_json(doc, "-")
    printed = capsys.readouterr().out
    parsed = json.loads(printed)
    assert parsed["experiments"][1]["cases"] == []
    assert [c["example_id"] for c in parsed["experiments"][0]["cases"]] == ["e0", "e1"]


def test_combined_runs_name_their_suites(tmp_path: Path) -> None:
    with _result(tmp_path, n=2) as one, _result(tmp_path, n=3) as two:
        docs = [run_json(r.store, r.run, r.experiments, lazy=True) for r in (one, two)]
        out = tmp_path / "both.json"
        write_json(combine(docs, "suites/x.py"), out)
    doc = json.loads(out.read_text(encoding="utf-8"))
    assert doc["suite"] == "suites/x.py"
    assert doc["runs"] == [one.run_id, two.run_id]
    assert [len(e["cases"]) for e in doc["experiments"]] == [2, 2, 3, 3]
    assert {e["suite"] for e in doc["experiments"]} == {"target"}


def test_a_failed_write_leaves_the_old_file(tmp_path: Path) -> None:
    class Cases(list[Any]):  # a store that fails half way through the cases
        def __iter__(self) -> Any:
            yield {"x": 1}
            raise OSError("disk I/O error")

    out = tmp_path / "out.json"
    out.write_text("old\n")
    with pytest.raises(OSError, match="disk I/O"):
        write_json({"experiments": [{"cases": Cases()}]}, out)
    assert out.read_text() == "old\n"
    assert [p.name for p in tmp_path.iterdir()] == ["out.json"]  # no temporary file left
