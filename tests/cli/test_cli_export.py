"""``judgekit export RUN --format openai-chat|jsonl|csv FILE`` end to end.

The fine-tuning export is run on a real run: a suite whose target calls the ``llm`` fixture
(with a system prompt, which the store keeps once in its ``texts`` table) against the local
OpenAI-compatible server, over real HTTP through the official SDK.
"""

from __future__ import annotations

import csv
import json
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from cli_support import Cli, QaRun, Ran, judgekit, write
from openai_server import OpenAIServer, Reply

SYSTEM = "You are a terse geography tutor. Answer with the city only."

CAPITALS_SUITE = """\
from judgekit import dataset, parametrize, suite

SYSTEM = "You are a terse geography tutor. Answer with the city only."

DATA = dataset([
    {"id": "fr", "inputs": {"country": "France"}, "reference": "Paris"},
    {"id": "fr-again", "inputs": {"country": "France"}, "reference": "Paris"},
    {"id": "de", "inputs": {"country": "Germany"}, "reference": "Berlin"},
    {"id": "pe", "inputs": {"country": "Peru"}, "reference": "Lima"},
    {"id": "td", "inputs": {"country": "Chad"}, "reference": "N'Djamena"},
    {"id": "ml", "inputs": {"country": "Mali"}, "reference": "Bamako"},
])


def exact(*, outputs, reference_outputs):
    return outputs == reference_outputs


def brevity(*, outputs):
    return {"score": 1.0 if len(outputs) <= 5 else 0.5, "passed": True}


@suite(data=DATA, evaluators=[exact, brevity])
@parametrize("model", ["gpt-4o", "gpt-4o-mini"])
async def test_capital(country, model, llm):
    return (await llm.chat(f"Capital of {country}?", system=SYSTEM, temperature=0)).text
"""

#: What the server answers, per model: the teacher (gpt-4o) gets Peru wrong, the student
#: (gpt-4o-mini) writes paris in lower case; Chad is refused (400: the call errors, the case
#: too) and Mali answered with no text at all.
ANSWERS = {
    "gpt-4o": {"France": "Paris", "Germany": "Berlin", "Peru": "Cusco", "Mali": ""},
    "gpt-4o-mini": {"France": "paris", "Germany": "Berlin", "Peru": "Lima", "Mali": ""},
}


def _answer(body: dict[str, Any]) -> Reply:
    question = str(body["messages"][-1]["content"])
    if "Chad" in question:
        return Reply("Invalid request: unsupported country.", status=400)
    for country, city in ANSWERS[body["model"]].items():
        if country in question:
            return Reply(city)
    return Reply("?")


@dataclass(frozen=True)
class Capitals:
    root: Path
    run_id: str
    server: OpenAIServer

    def export(self, *args: str) -> Ran:
        ran = judgekit("export", *args, cwd=self.root, store=self.root / "store.db")
        assert "Traceback" not in ran.output
        return ran


@pytest.fixture(scope="module")
def capitals() -> Iterator[Capitals]:
    """One run of the capitals suite (two variants) against the local server."""
    import tempfile

    with tempfile.TemporaryDirectory() as tmp, OpenAIServer() as srv, \
            pytest.MonkeyPatch.context() as mp:
        root = Path(tmp)
        for name in ("OPENAI_ORG_ID", "OPENAI_PROJECT_ID", "JUDGEKIT_JUDGE_MODEL",
                     "JUDGEKIT_CACHE", "JUDGEKIT_CACHE_MODE"):
            mp.delenv(name, raising=False)
        mp.setenv("OPENAI_BASE_URL", srv.url)
        mp.setenv("OPENAI_API_KEY", "sk-test")
        srv.reply(None, _answer)
        write(root / "suites" / "capitals.py", CAPITALS_SUITE)
        ran = judgekit("eval", "suites/capitals.py", "--json", "result.json", cwd=root,
                       store=root / "store.db")
        assert ran.returncode in (0, 1), ran.output
        run_id = json.loads((root / "result.json").read_text())["run_id"]
        yield Capitals(root, run_id, srv)


def lines(path: Path) -> list[dict[str, Any]]:
    text = path.read_text(encoding="utf-8")
    assert text.endswith("\n")
    return [json.loads(line) for line in text.splitlines()]


def chat(question: str, answer: str) -> list[dict[str, str]]:
    return [{"role": "system", "content": SYSTEM}, {"role": "user", "content": question},
            {"role": "assistant", "content": answer}]


def no_leftovers(root: Path) -> None:
    assert not [p.name for p in root.iterdir() if p.name.endswith(".tmp")]


# -- openai-chat -----------------------------------------------------------------------------

def test_chat_export_holds_the_messages_as_sent_and_the_replies_received(
        capitals: Capitals) -> None:
    ran = capitals.export(capitals.run_id, "--format", "openai-chat", "train.jsonl",
                          "--variant", "gpt-4o")
    assert ran.returncode == 0, ran.output
    assert ran.stdout == ""
    assert ran.stderr.strip() == ("4 examples written to train.jsonl "
                                  "(2 calls skipped: 1 errored, 1 without response text)")
    examples = lines(capitals.root / "train.jsonl")
    assert [e["messages"] for e in examples] == [
        chat("Capital of France?", "Paris"), chat("Capital of France?", "Paris"),
        chat("Capital of Germany?", "Berlin"), chat("Capital of Peru?", "Cusco")]
    # The system prompt was stored once (the request holds its id), and is put back.
    with sqlite3.connect(capitals.root / "store.db") as db:
        requests = [r[0] for r in db.execute("SELECT request FROM calls WHERE role='target'")]
    assert requests and all('"$text"' in r and SYSTEM not in r for r in requests)
    # "As sent": each example's prompt is one the server received from the gpt-4o variant.
    sent = [r.messages for r in capitals.server.requests
            if r.body and r.body.get("model") == "gpt-4o"]
    for e in examples:
        assert e["messages"][:-1] in sent
    no_leftovers(capitals.root)


def test_all_experiments_by_default_and_one_by_its_id(capitals: Capitals) -> None:
    run = capitals.run_id
    assert capitals.export(run, "--format", "openai-chat", "all.jsonl").returncode == 0
    assert len(lines(capitals.root / "all.jsonl")) == 8
    both = capitals.export(run, "--format", "openai-chat", "both.jsonl",
                           "--variant", "gpt-4o", "--variant", "gpt-4o-mini")
    assert both.returncode == 0, both.output
    assert lines(capitals.root / "both.jsonl") == lines(capitals.root / "all.jsonl")
    student = capitals.export(f"{run}-2", "--format", "openai-chat", "student.jsonl")
    assert student.returncode == 0, student.output
    assert [e["messages"][-1]["content"] for e in lines(capitals.root / "student.jsonl")] == [
        "paris", "paris", "Berlin", "Lima"]


def test_where_passed_keeps_the_passing_cases_and_dedupe_drops_repeats(
        capitals: Capitals) -> None:
    run = capitals.run_id
    ran = capitals.export(run, "--format", "openai-chat", "passed.jsonl", "--where", "passed",
                          "--variant", "gpt-4o")
    assert ran.returncode == 0, ran.output
    assert ran.stderr.strip() == "3 examples written to passed.jsonl (3 cases filtered out)"
    assert [e["messages"] for e in lines(capitals.root / "passed.jsonl")] == [
        chat("Capital of France?", "Paris"), chat("Capital of France?", "Paris"),
        chat("Capital of Germany?", "Berlin")]
    ran = capitals.export(run, "--format", "openai-chat", "distilled.jsonl", "--where",
                          "passed", "--dedupe")
    assert ran.returncode == 0, ran.output
    # Teacher: fr, fr-again, de pass; student: de, pe. fr-again repeats fr, and the two
    # variants' Berlin examples are the same messages too.
    assert ran.stderr.strip() == ("3 examples written to distilled.jsonl "
                                  "(2 calls skipped: 2 duplicate; 7 cases filtered out)")
    assert [e["messages"] for e in lines(capitals.root / "distilled.jsonl")] == [
        chat("Capital of France?", "Paris"), chat("Capital of Germany?", "Berlin"),
        chat("Capital of Peru?", "Lima")]


def test_score_filters(capitals: Capitals) -> None:
    run = capitals.run_id

    def answers(*filters: str) -> list[str]:
        out = capitals.root / "scored.jsonl"
        ran = capitals.export(run, "--format", "openai-chat", str(out), "--variant",
                              "gpt-4o", *[a for f in filters for a in ("--score", f)])
        assert ran.returncode == 0, ran.output
        return [e["messages"][-1]["content"] for e in lines(out)]

    assert answers("brevity>=1") == ["Paris", "Paris", "Cusco"]  # Mali: no text, skipped
    assert answers("brevity<1") == ["Berlin"]
    assert answers("brevity>0.5") == ["Paris", "Paris", "Cusco"]
    assert answers("brevity<=0.5") == ["Berlin"]
    assert answers("exact==1") == ["Paris", "Paris", "Berlin"]
    assert answers("brevity>=1", "exact==1") == ["Paris", "Paris"]


def test_chat_export_to_stdout(capitals: Capitals) -> None:
    ran = capitals.export(f"{capitals.run_id}-1", "--format", "openai-chat", "-")
    assert ran.returncode == 0, ran.output
    assert [json.loads(line)["messages"][-1]["content"] for line in ran.stdout.splitlines()
            ] == ["Paris", "Paris", "Berlin", "Cusco"]
    assert ran.stderr.strip().startswith("4 examples written to stdout")


def test_no_examples_left_is_one_line_exit_2_and_no_file(capitals: Capitals) -> None:
    root = capitals.root
    (root / "keep.jsonl").write_text("old\n")
    for filters, says in (
        (["--score", "brevity>2"], "6 cases filtered out by --score brevity>2"),
        (["--score", "kindness>=1"], "no case has a score 'kindness' (keys: brevity, exact)"),
    ):
        for target in ("new.jsonl", "keep.jsonl"):
            ran = capitals.export(f"{capitals.run_id}-1", "--format", "openai-chat", target,
                                  *filters)
            assert ran.returncode == 2, ran.output
            assert ran.stdout == ""
            assert len(ran.stderr.splitlines()) == 1
            assert ran.stderr.startswith(f"error: no fine-tuning examples in {capitals.run_id}")
            assert says in ran.stderr and "nothing written" in ran.stderr
    assert not (root / "new.jsonl").exists()
    assert (root / "keep.jsonl").read_text() == "old\n"  # a failed export leaves it be
    no_leftovers(root)


BAD_ROLE_SUITE = """\
from judgekit import dataset, suite


@suite(data=dataset([{"id": "only", "inputs": {"q": "hi"}}]), evaluators=[])
async def test_dev(q, llm):
    messages = [{"role": "developer", "content": "Be brief."}, {"role": "user", "content": q}]
    return (await llm.chat(messages, model="gpt-4o")).text
"""


def test_an_example_the_format_rejects_is_one_line_exit_2_and_no_file(
        cli: Cli, tmp_path: Path, openai_env: OpenAIServer) -> None:
    openai_env.reply(None, "Hello.")
    write(tmp_path / "dev.py", BAD_ROLE_SUITE)
    ran = cli("eval", "dev.py", "--json", "r.json")
    assert ran.returncode == 0, ran.output
    run_id = json.loads((tmp_path / "r.json").read_text())["run_id"]
    ran = cli("export", run_id, "--format", "openai-chat", "train.jsonl")
    assert ran.returncode == 2, ran.output
    assert ran.stderr.splitlines() == [
        f"error: example 1 (case 'only' of {run_id}-1): message 1 has role 'developer'; "
        "fine-tuning takes system, user, assistant, tool; nothing written"]
    assert not (tmp_path / "train.jsonl").exists()
    no_leftovers(tmp_path)


def test_usage_errors_exit_2(capitals: Capitals, tmp_path: Path) -> None:
    run = capitals.run_id
    cases = [
        (["--format", "csv", "x.csv", "--dedupe"], "--dedupe"),
        (["--format", "openai-chat", "x.jsonl", "--score", "brevity=>1"], "--score"),
        (["--format", "openai-chat", "x.jsonl", "--score", "brevity>=high"], "not a number"),
        (["--format", "openai-chat", "x.jsonl", "--variant", "gpt-5"],
         "variants are gpt-4o, gpt-4o-mini"),
    ]
    for args, says in cases:
        ran = capitals.export(run, *args)
        assert ran.returncode == 2, ran.output
        assert len(ran.stderr.splitlines()) == 1 and says in ran.stderr, ran.stderr
    ran = capitals.export(f"{run}-9", "--format", "jsonl", "x.jsonl")
    assert ran.returncode == 2 and f"no experiment '{run}-9'" in ran.stderr
    ran = capitals.export("nosuchrun", "--format", "jsonl", "x.jsonl")
    assert ran.returncode == 2 and "no run 'nosuchrun'" in ran.stderr
    ran = capitals.export(run, "x.jsonl")  # --format is required
    assert ran.returncode == 2 and "--format" in ran.stderr
    ran = judgekit("export", run, "--format", "jsonl", "x.jsonl", cwd=tmp_path,
                   store=tmp_path / "none.db")
    assert ran.returncode == 2 and "no store at" in ran.stderr
    assert not (tmp_path / "none.db").exists()
    assert not [p for p in capitals.root.iterdir() if p.name.startswith("x.")]


# -- results: jsonl and csv ------------------------------------------------------------------

def test_results_jsonl_is_one_row_per_case_and_score(qa_run: QaRun) -> None:
    ran = judgekit("export", qa_run.run_id, "--format", "jsonl", "rows.jsonl",
                   cwd=qa_run.root, store=qa_run.root / "store.db")
    assert ran.returncode == 0, ran.output
    assert ran.stderr.strip() == "16 rows written to rows.jsonl"
    rows = lines(qa_run.root / "rows.jsonl")
    assert len(rows) == 4 * 2 * 2  # examples × variants × scores
    assert list(rows[0]) == ["experiment_id", "variant", "example_id", "repetition", "inputs",
                             "outputs", "reference", "error", "score_key", "score", "value",
                             "passed", "status", "comment"]
    run = qa_run.run_id
    by = {(r["experiment_id"], r["example_id"], r["score_key"]): r for r in rows}
    assert by[(f"{run}-1", "c", "exact")] == {
        "experiment_id": f"{run}-1", "variant": "good", "example_id": "c", "repetition": 0,
        "inputs": {"q": "largest planet"}, "outputs": "Saturn", "reference": "Jupiter",
        "error": None, "score_key": "exact", "score": 0.0, "value": None, "passed": False,
        "status": "ok", "comment": "expected 'Jupiter', got 'Saturn'"}
    assert by[(f"{run}-1", "d", "exact")]["error"] == "RuntimeError: upstream 500"
    assert by[(f"{run}-1", "b", "verdict")]["status"] == "unscored"
    passed = judgekit("export", qa_run.run_id, "--format", "jsonl", "-", "--where", "passed",
                      "--variant", "good", cwd=qa_run.root, store=qa_run.root / "store.db")
    assert passed.returncode == 0, passed.output
    assert {json.loads(line)["example_id"] for line in passed.stdout.splitlines()} == {"a", "b"}


INJECTION_SUITE = """\
from judgekit import dataset, suite

OUT = {
    "formula": '=HYPERLINK("http://evil.example","click")',
    "plus": "+1+2",
    "minus": "-2+3",
    "at": "@SUM(A1:A9)",
    "tab": "\\t=1+1",
    "cr": "\\r=1+1",
    "negative": -3,
    "float": -0.5,
    "plain": "Paris",
    "dict": {"cmd": "=1+1"},
}


def check(*, outputs):
    return {"score": 0.25, "comment": "=cmd|' /C calc'!A0"}


@suite(data=dataset([{"id": k, "inputs": {"key": k}, "reference": "-1"} for k in OUT]
                    + [{"id": "=id", "inputs": {"key": "plain"}}]),
       evaluators=[check])
def test_inject(key):
    return OUT[key]
"""


def test_csv_cells_that_would_run_as_formulas_are_neutralised(cli: Cli, tmp_path: Path) -> None:
    write(tmp_path / "inject.py", INJECTION_SUITE)
    ran = cli("eval", "inject.py", "--json", "r.json")
    assert ran.returncode == 0, ran.output
    run_id = json.loads((tmp_path / "r.json").read_text())["run_id"]
    ran = cli("export", run_id, "--format", "csv", "rows.csv")
    assert ran.returncode == 0, ran.output
    assert ran.stderr.strip() == "11 rows written to rows.csv"
    with (tmp_path / "rows.csv").open(newline="", encoding="utf-8") as f:
        table = list(csv.reader(f))
    header, body = table[0], table[1:]
    assert header == ["experiment_id", "variant", "example_id", "repetition", "inputs",
                      "outputs", "reference", "error", "score_key", "score", "value",
                      "passed", "status", "comment"]
    rows = {r[2]: dict(zip(header, r, strict=True)) for r in body}
    outputs = {k: r["outputs"] for k, r in rows.items()}
    assert outputs == {
        "formula": '\'=HYPERLINK("http://evil.example","click")', "plus": "'+1+2",
        "minus": "'-2+3", "at": "'@SUM(A1:A9)", "tab": "'\t=1+1", "cr": "'\r=1+1",
        "negative": "-3", "float": "-0.5", "plain": "Paris", "dict": '{"cmd":"=1+1"}',
        "'=id": "Paris"}
    assert rows["formula"]["reference"] == "'-1"  # a string, even one that looks numeric
    assert {r["comment"] for r in rows.values()} == {"'=cmd|' /C calc'!A0"}
    assert {r["score"] for r in rows.values()} == {"0.25"}
    assert rows["plain"]["inputs"] == '{"key":"plain"}'
    # Only numbers may start with a formula character, and they read back as numbers.
    for row in body:
        for cell in row:
            if cell.startswith(("=", "+", "-", "@", "\t", "\r")):
                float(cell)
