"""judgekit.export: the fine-tuning format checks, CSV cells, score filters and export_run on
a store written through the Store API."""

from __future__ import annotations

import csv
import json
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from judgekit.errors import ConfigError, JudgekitError
from judgekit.export import (
    RESULT_COLUMNS,
    ExportError,
    ExportResult,
    ScoreFilter,
    chat_example_problem,
    export_run,
    neutralise_cell,
)
from judgekit.store import Store
from judgekit.types import CallRecord, CaseError, CaseResult, Example, Score

SYSTEM = "You are a helpful assistant.\n" * 20


def target(user: str, reply: str | None, *, error: str | None = None,
           extra: list[dict[str, Any]] | None = None, **params: Any) -> CallRecord:
    return CallRecord(role="target", provider="openai", model="gpt-4o",
                      request={"messages": [{"role": "system", "content": SYSTEM},
                                            *(extra or []), {"role": "user", "content": user}],
                               "params": params, "sample": 0},
                      response_text=reply, error=error)


def judge() -> CallRecord:
    return CallRecord(role="judge", provider="openai", model="gpt-4o", score_key="cot_qa",
                      request={"messages": [{"role": "user", "content": "grade it"}]},
                      response_text="GRADE: CORRECT")


def case(example_id: str, *calls: CallRecord, scores: tuple[Score, ...] = (),
         error: CaseError | None = None, outputs: Any = "out") -> CaseResult:
    return CaseResult(example_id=example_id, variant={}, repetition=0,
                      outputs=None if error else outputs, error=error, latency_s=0.1,
                      scores=scores, calls=calls)


def run_with(store: Store, *experiments: tuple[str, list[CaseResult]]) -> str:
    run_id = store.create_run("test_x", "suite.py", {}, "0.1.0")
    examples: dict[str, Example] = {}
    for pos, (label, cases) in enumerate(experiments):
        for c in cases:
            examples.setdefault(c.example_id, Example(id=c.example_id,
                                                      inputs={"q": c.example_id},
                                                      reference=f"ref-{c.example_id}"))
        exp_id = store.create_experiment(run_id, pos, {"model": label}, label, "qa", "v1",
                                         len(cases), 1, [], None)
        for c in cases:
            store.write_case(exp_id, c)
    store.save_examples("v1", list(examples.values()))
    return run_id


def ok(key: str, score: float, passed: bool | None = None) -> Score:
    return Score(key=key, score=score, passed=passed)


# -- chat_example_problem ---------------------------------------------------------------------

def msg(role: str, content: Any = "text", **extra: Any) -> dict[str, Any]:
    return {"role": role, "content": content, **extra}


@pytest.mark.parametrize(("example", "problem"), [
    ({"messages": [msg("user"), msg("assistant")]}, None),
    ({"messages": [msg("system"), msg("user"), msg("assistant", None, tool_calls=[{"id": "1"}]),
                   msg("tool", "42", tool_call_id="1"), msg("assistant", "It is 42.")]}, None),
    ({}, "no messages"),
    ({"messages": []}, "no messages"),
    ([msg("user")], "no messages"),
    ({"messages": ["hi", msg("assistant")]}, "message 1 is not an object"),
    ({"messages": [msg("developer"), msg("assistant")]},
     "message 1 has role 'developer'; fine-tuning takes system, user, assistant, tool"),
    ({"messages": [{"content": "x"}, msg("assistant")]}, "message 1 has role None"),
    ({"messages": [msg("user", None), msg("assistant")]}, "message 1 (user) has no content"),
    ({"messages": [msg("user", [{"type": "text", "text": "x"}]), msg("assistant")]},
     "message 1 (user) has list content; fine-tuning wants text"),
    ({"messages": [msg("user"), msg("assistant", None)]}, "message 2 (assistant) has no content"),
    ({"messages": [msg("user")]}, "the last message is from the user, not the assistant"),
    ({"messages": [msg("user"), msg("assistant", " \n")]},
     "the last (assistant) message is empty"),
    ({"messages": [msg("user"), msg("assistant", None, tool_calls=[{"id": "1"}])]},
     "the last (assistant) message is empty"),
])
def test_chat_example_rules(example: Any, problem: str | None) -> None:
    found = chat_example_problem(example)
    if problem is None:
        assert found is None
    else:
        assert found is not None and found.startswith(problem)


# -- CSV cells ---------------------------------------------------------------------------------

@pytest.mark.parametrize(("value", "cell"), [
    ("=1+1", "'=1+1"), ("+1", "'+1"), ("-1", "'-1"), ("@SUM(A1)", "'@SUM(A1)"),
    ("\t=1", "'\t=1"), ("\r=1", "'\r=1"), ("plain", "plain"), ("", ""), (" =1", " =1"),
    (-3, -3), (-0.5, -0.5), (0, 0), (None, ""), (True, "true"), (False, "false"),
    ({"a": "=x"}, '{"a":"=x"}'), (["-1"], '["-1"]'), (["="], '["="]'),
])
def test_neutralise_cell(value: Any, cell: Any) -> None:
    assert neutralise_cell(value) == cell


@given(st.text())
def test_no_text_cell_starts_like_a_formula(text: str) -> None:
    cell = neutralise_cell(text)
    assert not cell.startswith(("=", "+", "-", "@", "\t", "\r"))
    assert cell in (text, f"'{text}")


# -- score filters -----------------------------------------------------------------------------

def test_score_filter_parse_and_accept() -> None:
    assert ScoreFilter.parse(" cot_qa >= 0.8 ") == ScoreFilter("cot_qa", ">=", 0.8)
    assert ScoreFilter.parse("f1<-1e-3") == ScoreFilter("f1", "<", -0.001)
    assert str(ScoreFilter.parse("x==1")) == "x==1"
    for bad in ("cot_qa", "cot_qa=1", "cot_qa=>1", ">=1", "a>=b", "a>=1>=2"):
        with pytest.raises(ExportError, match="--score"):
            ScoreFilter.parse(bad)
    f = ScoreFilter.parse("q>=0.5")
    assert f.accepts(case("a", scores=(ok("q", 0.5),)))
    assert not f.accepts(case("a", scores=(ok("q", 0.4),)))
    assert not f.accepts(case("a", scores=(ok("other", 1.0),)))  # no such score
    assert not f.accepts(case("a", scores=(Score("q", status="unscored"),)))
    # every ok score of the key must hold (several samples, say); unscored ones are ignored
    assert not f.accepts(case("a", scores=(ok("q", 1.0), ok("q", 0.0))))
    assert f.accepts(case("a", scores=(ok("q", 1.0), Score("q", status="error"))))
    assert not ScoreFilter("q", ">=", 0).accepts(case("a", scores=(Score("q", value="x"),)))


def test_export_error_is_a_config_error_exit_2() -> None:
    assert issubclass(ExportError, ConfigError) and issubclass(ExportError, JudgekitError)


def test_summary_line() -> None:
    assert ExportResult("openai-chat", "t.jsonl", 1).summary() == "1 example written to t.jsonl"
    r = ExportResult("openai-chat", "-", 3, Counter({"errored": 1, "duplicate": 2}), 1)
    assert r.summary() == ("3 examples written to stdout "
                           "(3 calls skipped: 2 duplicate, 1 errored; 1 case filtered out)")
    assert ExportResult("csv", "r.csv", 2, filtered=4).summary() == \
        "2 rows written to r.csv (4 cases filtered out)"


# -- export_run --------------------------------------------------------------------------------

def read_jsonl(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def test_chat_export_of_target_calls_only_with_system_prompts_put_back(
        store: Store, tmp_path: Path) -> None:
    tool = {"type": "function", "function": {"name": "lookup", "parameters": {}}}
    run_id = run_with(store, ("gpt-4o", [
        case("a", target("hello", "Hi there!"), judge(), scores=(ok("cot_qa", 1.0),)),
        case("b", target("step 1", "first"), target("step 2", "second", tools=[tool])),
        case("c", target("boom", None, error="500 from upstream"),
             error=CaseError("ModelCallError", "500")),
        case("d", target("quiet", None)),
        case("e", target("blank", "  ")),
    ]))
    out = tmp_path / "train.jsonl"
    result = export_run(store, run_id, "openai-chat", out)
    assert (result.written, result.filtered) == (3, 0)
    assert result.skipped == Counter({"errored": 1, "without response text": 2})
    examples = read_jsonl(out)
    assert examples[0] == {"messages": [{"role": "system", "content": SYSTEM},
                                        {"role": "user", "content": "hello"},
                                        {"role": "assistant", "content": "Hi there!"}]}
    assert [e["messages"][-1]["content"] for e in examples] == ["Hi there!", "first", "second"]
    assert "tools" not in examples[1] and examples[2]["tools"] == [tool]
    assert all(chat_example_problem(e) is None for e in examples)
    # The store keeps the system prompt once; the export puts it back in full.
    assert store.db.execute("SELECT COUNT(*) FROM texts").fetchone()[0] == 1


def test_where_passed_and_dedupe(store: Store, tmp_path: Path) -> None:
    run_id = run_with(store, ("gpt-4o", [
        case("a", target("q1", "A1"), scores=(ok("exact", 1.0), Score("j", status="unscored"))),
        case("a2", target("q1", "A1"), scores=(ok("exact", 1.0),)),
        case("b", target("q2", "B"), scores=(ok("exact", 0.0),)),
        case("c", target("q3", "C"), scores=(Score("exact", status="error"),)),
        case("d", target("q4", "D"), error=CaseError("ValueError", "bad output")),
        case("e", target("q5", "E"), scores=(ok("exact", 1.0), Score("j", status="skipped"))),
        case("f", target("q6", "F"), scores=(ok("rating", 0.3),)),  # a number, no pass flag
    ]))
    out = tmp_path / "t.jsonl"
    r = export_run(store, run_id, "openai-chat", out, where_passed=True)
    assert [e["messages"][-1]["content"] for e in read_jsonl(out)] == ["A1", "A1", "E", "F"]
    assert r.filtered == 3
    r = export_run(store, run_id, "openai-chat", out, where_passed=True, dedupe=True)
    assert [e["messages"][-1]["content"] for e in read_jsonl(out)] == ["A1", "E", "F"]
    assert r.skipped == Counter({"duplicate": 1})


def test_variants_and_experiment_ids(store: Store, tmp_path: Path) -> None:
    run_id = run_with(store, ("big", [case("a", target("q", "big answer"))]),
                      ("small", [case("a", target("q", "small answer"))]))
    out = tmp_path / "t.jsonl"

    def answers(ref: str, **kw: Any) -> list[str]:
        export_run(store, ref, "openai-chat", out, **kw)
        return [e["messages"][-1]["content"] for e in read_jsonl(out)]

    assert answers(run_id) == ["big answer", "small answer"]
    assert answers(run_id[:4]) == ["big answer", "small answer"]
    assert answers(run_id, variants=["small"]) == ["small answer"]
    assert answers(f"{run_id}-1") == ["big answer"]
    assert answers(f"{run_id[:5]}-2") == ["small answer"]
    with pytest.raises(ExportError, match="its variants are big, small"):
        export_run(store, run_id, "openai-chat", out, variants=["medium"])
    with pytest.raises(JudgekitError, match="no experiment"):
        export_run(store, f"{run_id}-3", "openai-chat", out)


def test_a_failed_export_leaves_the_old_file_and_no_temporary(store: Store,
                                                              tmp_path: Path) -> None:
    run_id = run_with(store, ("m", [
        case("a", target("fine", "ok")),
        case("b", target("odd", "ok", extra=[{"role": "function", "content": "x"}])),
    ]))
    out = tmp_path / "t.jsonl"
    out.write_text("previous\n")
    with pytest.raises(ExportError) as err:
        export_run(store, run_id, "openai-chat", out)
    assert str(err.value) == (f"example 2 (case 'b' of {run_id}-1): message 2 has role "
                              "'function'; fine-tuning takes system, user, assistant, tool; "
                              "nothing written")
    assert out.read_text() == "previous\n"
    assert [p.name for p in tmp_path.iterdir() if not p.name.startswith("judgekit.db")
            ] == ["t.jsonl"]
    with pytest.raises(ExportError, match="cannot write the export"):
        export_run(store, f"{run_id}-1", "csv", tmp_path / "missing" / "t.csv")


def test_no_examples_names_the_filters(store: Store, tmp_path: Path) -> None:
    run_id = run_with(store, ("m", [case("a", target("q", "A"), scores=(ok("exact", 0.0),))]))
    out = tmp_path / "t.jsonl"
    with pytest.raises(ExportError) as err:
        export_run(store, run_id, "openai-chat", out, where_passed=True, scores=["exact>=1"])
    assert str(err.value) == (f"no fine-tuning examples in {run_id}: 1 case filtered out by "
                              "--where passed --score exact>=1; nothing written")
    no_calls = run_with(store, ("m", [case("a")]))
    with pytest.raises(ExportError, match="made no model calls judgekit recorded"):
        export_run(store, no_calls, "openai-chat", out)
    with pytest.raises(ExportError, match="unknown export format 'parquet'"):
        export_run(store, run_id, "parquet", out)
    with pytest.raises(ExportError, match="--dedupe"):
        export_run(store, run_id, "jsonl", out, dedupe=True)
    assert not out.exists()


def test_results_rows(store: Store, tmp_path: Path) -> None:
    run_id = run_with(store, ("m", [
        case("a", target("q", "A"), outputs={"answer": "=1+1"},
             scores=(ok("exact", 1.0), Score("judge", value="CORRECT", score=1.0,
                                              comment="-fine"))),
        case("b", error=CaseError("RuntimeError", "boom")),  # no scores: one row
    ]))
    out = tmp_path / "r.jsonl"
    r = export_run(store, run_id, "jsonl", out)
    rows = read_jsonl(out)
    assert r.written == len(rows) == 3
    assert all(list(row) == list(RESULT_COLUMNS) for row in rows)
    assert rows[0]["inputs"] == {"q": "a"} and rows[0]["reference"] == "ref-a"
    assert rows[0]["outputs"] == {"answer": "=1+1"}  # JSONL is data: kept as it is
    assert rows[1]["comment"] == "-fine"
    assert rows[2] == {"experiment_id": f"{run_id}-1", "variant": "m", "example_id": "b",
                       "repetition": 0, "inputs": {"q": "b"}, "outputs": None,
                       "reference": "ref-b", "error": "RuntimeError: boom", "score_key": None,
                       "score": None, "value": None, "passed": None, "status": None,
                       "comment": None}
    out_csv = tmp_path / "r.csv"
    export_run(store, run_id, "csv", out_csv)
    raw = out_csv.read_bytes()
    assert raw.count(b"\r\n") == 4  # header + 3 rows, csv module line ends
    with out_csv.open(newline="", encoding="utf-8") as f:
        table = list(csv.DictReader(f))
    assert table[0]["outputs"] == '{"answer":"=1+1"}'
    assert table[1]["comment"] == "'-fine"
    assert table[2]["score_key"] == "" and table[2]["error"] == "RuntimeError: boom"
    assert (table[0]["score"], table[0]["passed"]) == ("1.0", "true")


def test_export_to_stdout(store: Store, capsys: pytest.CaptureFixture[str]) -> None:
    run_id = run_with(store, ("m", [case("a", target("q", "A"))]))
    result = export_run(store, run_id, "openai-chat", "-")
    assert result.summary() == "1 example written to stdout"
    (line,) = capsys.readouterr().out.splitlines()
    assert json.loads(line)["messages"][-1] == {"role": "assistant", "content": "A"}
