"""``judgekit rescore`` end to end: a fresh interpreter, the QA suite's stored run, a judge on
the local OpenAI server. After the eval the suite's target is rewritten to raise, so a rescore
that called it would show it; the suite's ``exact`` evaluator is rewritten too (case-blind),
which ``--evaluator exact`` must pick up as the file defines it now."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from cli_support import Cli, judgekit, write_qa_suite
from openai_server import OpenAIServer, Reply

JUDGE_SYSTEM = "careful teacher grading"


@pytest.fixture
def stored(tmp_path: Path, cli: Cli) -> str:
    suite = write_qa_suite(tmp_path, variants=("good",))
    ran = cli("eval", "suites/qa.py", "--json", "first.json")
    assert ran.returncode == 0, ran.output
    text = suite.read_text()
    raising = "def test_qa(q, model):\n    raise SystemExit('rescore called the target')\n"
    text = text.replace("def test_qa(q, model):\n", raising)
    text = text.replace("ok = outputs == reference_outputs",
                        "ok = str(outputs).lower() == str(reference_outputs).lower()")
    suite.write_text(text)
    return str(json.loads((tmp_path / "first.json").read_text())["run_id"])


def test_rescore_with_a_judge_then_again_from_the_cache(tmp_path: Path, stored: str) -> None:
    with OpenAIServer() as srv:
        srv.reply(JUDGE_SYSTEM, Reply("The answer matches.\nGRADE: CORRECT"))
        env = {"OPENAI_BASE_URL": srv.url, "OPENAI_API_KEY": "sk-test"}

        def rescore(*extra: str) -> dict[str, object]:
            ran = judgekit("rescore", stored, "--evaluator", "cot_qa:model=gpt-4o-mini",
                           "--evaluator", "exact", "--json", "out.json", *extra,
                           cwd=tmp_path, store=tmp_path / "store.db", env=env)
            assert ran.returncode == 0, ran.output
            assert "Traceback" not in ran.output
            assert f"rescore of {stored}" in ran.stdout
            assert "rescored 3 cases" in ran.stdout and "1 with no outputs" in ran.stdout
            return dict(json.loads((tmp_path / "out.json").read_text()))

        doc = rescore()
        assert srv.count(path="/v1/chat/completions") == 3  # one judge call per answer
        doc2 = rescore()
        assert srv.count(path="/v1/chat/completions") == 3  # the second: all from the cache
    for d in (doc, doc2):
        assert d["rescore_of"] == stored
        (exp,) = d["experiments"]  # type: ignore[misc]
        scores = exp["summary"]["scores"]
        assert scores["cot_qa"]["n_ok"] == 3 and scores["cot_qa"]["n_error"] == 1
        assert scores["exact"]["mean"] == pytest.approx(2 / 3)  # the file's exact, as now
        boom = next(c for c in exp["cases"] if c["example_id"] == "d")
        assert boom["error"]["type"] == "RuntimeError"
    assert doc["run_id"] != doc2["run_id"]


def test_runs_and_show_name_the_link_and_goals_set_the_exit_code(
    tmp_path: Path, cli: Cli, stored: str,
) -> None:
    # includes is no goal's score: the accuracy goal on exact is dropped, and said so.
    ran = cli("rescore", stored, "--evaluator", "includes")
    assert ran.returncode == 0, ran.output
    assert "note: goal on exact not checked" in ran.stdout
    new = next(line.split()[-1] for line in ran.stdout.splitlines()
               if line.startswith(" Stored in")).strip("`")
    runs = cli("runs")
    row = next(line for line in runs.stdout.splitlines() if line.startswith(new))
    assert f"qa (rescore of {stored})" in row
    show = cli("show", new)
    assert f"rescore of {stored}" in show.stdout.splitlines()[0]
    # An ordinary experiment for compare: paired with the original on the same examples.
    compared = cli("compare", stored, new)
    assert compared.returncode == 0, compared.output
    assert "4 shared examples" in compared.stdout
    # --keep keeps the original exact (2/4 toward the goal of 0.5: met), so its goal too.
    kept = cli("rescore", stored, "--evaluator", "includes", "--keep")
    assert kept.returncode == 0, kept.output
    assert " note: " not in kept.stdout and "✓ accuracy" in kept.stdout
    # The errored case is redone in the original run, which ran the target.
    assert "--retry-errors " + stored in kept.stdout


@pytest.mark.parametrize(("args", "says"), [
    (("nope", "--evaluator", "exact_match"), "no run 'nope'"),
    (("{run}", "--evaluator", "exact_mach"), "did you mean 'exact_match'"),
    (("{run}", "--evaluator", "exact_match:bogus=1"), "unexpected keyword argument 'bogus'"),
    (("{run}", "--evaluator", "exact_match:case_sensitive"), "expected key=value"),
    (("{run}", "--evaluator", "exact_match", "--variant", "bad"), "no variant 'bad'"),
])
def test_bad_input_is_one_line_and_exit_2(cli: Cli, stored: str, args: tuple[str, ...],
                                          says: str) -> None:
    ran = cli("rescore", *(a.format(run=stored) for a in args))
    assert ran.returncode == 2, ran.output
    assert ran.stdout == "" and "Traceback" not in ran.stderr
    (line,) = ran.stderr.strip().splitlines()
    assert line.startswith("error: ") and says in line


def test_a_missed_goal_exits_1(tmp_path: Path, cli: Cli) -> None:
    write_qa_suite(tmp_path, goal=0.9, variants=("good",))
    first = cli("eval", "suites/qa.py", "--json", "first.json")
    assert first.returncode == 1, first.output
    run_id = json.loads((tmp_path / "first.json").read_text())["run_id"]
    ran = cli("rescore", run_id, "--evaluator", "exact")
    assert ran.returncode == 1, ran.output
    assert "✗" in ran.stdout
