"""``judgekit compare`` and ``judgekit eval --baseline`` end to end, on runs of a suite whose
target calls the ``llm`` fixture against the local OpenAI-compatible server (real HTTP, the
official SDK): a baseline run, then a run where gpt-4o-mini got worse."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from cli_support import Ran, judgekit, write
from openai_server import OpenAIServer, Reply

SUITE = """\
from judgekit import Goals, dataset, parametrize, suite

DATA = dataset([{"id": f"q{i}", "inputs": {"a": i, "b": 2}, "reference": str(i + 2)}
                for i in range(12)])


def exact(*, outputs, reference_outputs):
    ok = outputs == reference_outputs
    return {"score": ok, "comment": "matches" if ok else f"expected {reference_outputs}"}


@suite(data=DATA, evaluators=[exact], goals=Goals(accuracy=("exact", 0.75)))
@parametrize("model", ["gpt-4o", "gpt-4o-mini"])
async def test_sums(a, b, model, llm):
    return (await llm.chat(f"What is {a}+{b}? Answer with the number.", temperature=0)).text
"""

#: Questions (by a) each model gets wrong; the mini's wrong answer holds rich markup.
WRONG: dict[str, set[int]] = {"gpt-4o": {11}, "gpt-4o-mini": {3, 7}}


def _answer(body: dict[str, Any]) -> Reply:
    question = str(body["messages"][-1]["content"])
    a = int(question.split("What is ")[1].split("+")[0])
    if a in WRONG[body["model"]]:
        return Reply("[red]wrong[/red]")
    return Reply(str(a + 2))


@dataclass(frozen=True)
class Runs:
    root: Path
    before: str
    after: str
    after_json: dict[str, Any]
    after_ran: Ran

    def cli(self, *args: str) -> Ran:
        ran = judgekit(*args, cwd=self.root, store=self.root / "store.db")
        assert "Traceback" not in ran.output
        return ran


@pytest.fixture(scope="module")
def runs() -> Iterator[Runs]:
    import tempfile

    with tempfile.TemporaryDirectory() as tmp, OpenAIServer() as srv, \
            pytest.MonkeyPatch.context() as mp:
        root = Path(tmp)
        for name in ("OPENAI_ORG_ID", "OPENAI_PROJECT_ID", "JUDGEKIT_CACHE",
                     "JUDGEKIT_CACHE_MODE"):
            mp.delenv(name, raising=False)
        mp.setenv("OPENAI_BASE_URL", srv.url)
        mp.setenv("OPENAI_API_KEY", "sk-test")
        srv.reply(None, _answer)
        write(root / "suites" / "sums.py", SUITE)

        def run(*extra: str) -> tuple[Ran, dict[str, Any]]:
            ran = judgekit("eval", "suites/sums.py", "--cache", "off", "--json", "r.json",
                           *extra, cwd=root, store=root / "store.db")
            return ran, json.loads((root / "r.json").read_text())

        ran, before = run()
        assert ran.returncode == 0, ran.output
        WRONG["gpt-4o-mini"] = {0, 1, 2, 3, 4, 5, 6, 7, 8}  # 7 more wrong: p = 2 / 2^7
        try:
            after_ran, after = run("--baseline", before["run_id"])
        finally:
            WRONG["gpt-4o-mini"] = {3, 7}
        yield Runs(root, before["run_id"], after["run_id"], after, after_ran)


def test_eval_baseline_gates_a_significant_regression(runs: Runs) -> None:
    ran = runs.after_ran
    assert ran.returncode == 1, ran.output
    assert "gpt-4o-mini against baseline" in ran.output
    assert "regression (p < 0.05): exact on gpt-4o-mini" in ran.output
    gate = runs.after_json["baseline"]
    assert gate["run_id"] == runs.before and gate["unmatched"] == []
    assert len(gate["comparisons"]) == 2  # one per variant label
    mini = next(c for c in gate["comparisons"]
                if c["variants"][0]["label"].startswith("gpt-4o-mini"))
    row = mini["metrics"][0]["variants"][1]
    assert (row["worse"], row["better"], row["n_pairs"]) == (7, 0, 12)
    assert row["p_value"] == pytest.approx(2 / 2 ** 7)
    assert row["regression"] is True
    assert mini["regressions"][0]["metric"] == "exact"


def test_compare_fail_on_regression_and_json(runs: Runs) -> None:
    ran = runs.cli("compare", f"{runs.before}-2", f"{runs.after}-2", "--fail-on-regression",
                   "--json", "cmp.json", "--limit", "2")
    assert ran.returncode == 1, ran.output
    assert "exact (McNemar)" in ran.output and "-58.3 pt ▼" in ran.output
    # Model text is printed as written: rich markup in a reply is not interpreted.
    assert "[red]wrong[/red]" in ran.output
    assert "… and 5 more" in ran.output
    assert "judge: expected 2" in ran.output  # the evaluator's reasoning beside the change
    doc = json.loads((runs.root / "cmp.json").read_text())
    assert doc["headline_metric"] == "exact" and doc["shared_examples"] == 12
    assert [r["metric"] for r in doc["regressions"]] == ["exact"]
    assert len(doc["changes"]) == 2 and doc["changes"][0]["kind"] == "regression"
    assert doc["changes"][0]["variant"]["outputs"] == "[red]wrong[/red]"
    # Without the flag a regression is reported but does not fail.
    assert runs.cli("compare", f"{runs.before}-2", f"{runs.after}-2").returncode == 0


def test_compare_pick_break_even_projection_and_mpi(runs: Runs) -> None:
    ran = runs.cli("compare", runs.before, "--pick", "--value-per-item", "50",
                   "--cost-per-error", "300", "--items", "1000000", "--training-cost",
                   "gpt-4o-mini=25", "--mpi", "--json", "-")
    assert ran.returncode == 0, ran.stderr
    doc = json.loads(ran.stdout)
    assert doc["pick"]["chosen"] == "gpt-4o-mini" and doc["pick"]["strongest"] == "gpt-4o"
    share = doc["pick"]["share_of_strongest"]
    assert 0 < share < 0.2  # gpt-4o-mini's list price is a fraction of gpt-4o's
    assert doc["pick"]["sentence"].startswith("gpt-4o-mini meets all goals at ")
    assert "break-even accuracy 85.7%" in ran.stderr
    assert doc["break_even"]["accuracy_needed"] == pytest.approx(300 / 350)
    mini = next(r for r in doc["projection"]["variants"] if r["label"] == "gpt-4o-mini")
    assert mini["training_cost"] == 25 and mini["total"] > 25
    assert doc["mpi"]["share"][0][1] == pytest.approx(1 / 12)  # gpt-4o wrong on q11 only


def test_compare_cascade_search_with_a_code_signal(runs: Runs) -> None:
    ran = runs.cli("compare", runs.before, "--signal", "exact", "--budget", "100")
    assert ran.returncode == 0, ran.output
    assert "accuracy-vs-cost frontier" in ran.output
    assert "optimistic" in ran.output


@pytest.mark.parametrize(("args", "message"), [
    (("compare", "nope", "nope2"), "error: no run 'nope'"),
    (("compare", "{before}-1"), "compare needs two experiments or more"),
    (("compare", "{before}", "--signal", "nope"), "--signal nope: no case of"),
    (("compare", "{before}", "--cascade", "gpt-4o,gpt-4o-mini"), "needs --signal"),
    (("compare", "{before}", "--metric", "nope"), "--metric nope"),
    (("compare", "{before}", "--training-cost", "x"), "give LABEL=USD"),
    (("compare", "{before}", "--alpha", "2"), "must be less than 1"),
    (("eval", "suites/sums.py", "--baseline", "nope"), "no run 'nope'"),
])
def test_bad_input_is_one_line_and_exit_2(runs: Runs, args: tuple[str, ...],
                                          message: str) -> None:
    ran = runs.cli(*(a.format(before=runs.before) for a in args))
    assert ran.returncode == 2, ran.output
    assert message in ran.stderr
    if args[0] == "compare" and "--alpha" not in args:
        assert len(ran.stderr.strip().splitlines()) == 1


JUDGED_SUITE = """\
from judgekit import dataset, parametrize, suite
from judgekit_evaluators import cot_qa

DATA = dataset([{"id": f"q{i}", "inputs": {"a": i, "b": 2}, "reference": str(i + 2)}
                for i in range(12)])


@suite(data=DATA, evaluators=[cot_qa(samples=3, model="gpt-4o-mini")])
@parametrize("model", ["gpt-4o-mini", "gpt-4o"])
async def test_sums(a, b, model, llm):
    return (await llm.chat(f"What is {a}+{b}? Answer with the number.", temperature=0)).text
"""

#: Questions on which one of the judge's three samples disagrees with the other two.
DOUBTED = {3, 5, 7}


def _block(prompt: str, name: str) -> str:
    return prompt.split(f"<<<BEGIN {name} ")[1].split(">>>\n", 1)[1].split("\n<<<END")[0]


def _judged_answer(body: dict[str, Any]) -> Reply:
    prompt = "\n".join(str(m["content"]) for m in body["messages"])
    if "<<<BEGIN ANSWER" not in prompt:
        return _answer(body)
    answer, reference = _block(prompt, "ANSWER"), _block(prompt, "REFERENCE")
    right = answer.strip() == reference.strip()
    a = int(reference) - 2
    if a in DOUBTED and body.get("seed", 0) % 3 == 2:
        right = not right
    return Reply(f"Comparing.\nGRADE: {'CORRECT' if right else 'INCORRECT'}")


def test_cascade_on_judge_self_consistency_agreement(tmp_path: Path,
                                                      openai_env: OpenAIServer) -> None:
    openai_env.reply(None, _judged_answer)
    write(tmp_path / "suites" / "judged.py", JUDGED_SUITE)
    store = tmp_path / "store.db"
    ran = judgekit("eval", "suites/judged.py", "--cache", "off", "--json", "r.json",
                   cwd=tmp_path, store=store)
    assert ran.returncode == 0, ran.output
    run_id = json.loads((tmp_path / "r.json").read_text())["run_id"]
    ran = judgekit("compare", run_id, "--signal", "cot_qa:agreement", "--cascade",
                   "gpt-4o-mini,gpt-4o", "--thresholds", "1", "--json", "-", cwd=tmp_path,
                   store=store)
    assert ran.returncode == 0, ran.stderr
    doc = json.loads(ran.stdout)
    cascade = doc["cascade"]
    # The mini answers the 9 questions its judge agreed on unanimously (all right); q3, q5
    # and q7 go on to gpt-4o, which gets them right: every answer is right.
    assert cascade["answered_by"] == [0.75, 0.25]
    assert cascade["accuracy"] == 1.0
    # Every case paid the mini and its three judge calls; q3, q5, q7 also gpt-4o and its judge.
    import sqlite3

    with sqlite3.connect(store) as db:
        mini_cost, big_cost = (db.execute(
            "SELECT SUM(k.cost_usd) FROM calls k JOIN cases c ON c.id = k.case_id"
            f" WHERE k.experiment_id = ? {where}", (f"{run_id}-{n}",)).fetchone()[0]
            for n, where in ((1, ""), (2, "AND c.example_id IN ('q3', 'q5', 'q7')")))
    assert cascade["cost_per_1k"] == pytest.approx((mini_cost + big_cost) / 12 * 1000)
    assert doc["variants"][0]["cost_usd"]["judge_per_1k"] > 0
