"""``judgekit eval`` end to end: the DESIGN §9 JSON, JUnit XML, exit codes 0/1, plain output."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from cli_support import Cli, QaRun, write_qa_suite

import judgekit
from judgekit import dataset

ANSI = "\x1b["


def load(run: QaRun) -> dict[str, Any]:
    assert run.ran.returncode == 1, run.ran.output  # variant "bad" misses the accuracy goal
    return json.loads(run.json_path.read_text(encoding="utf-8"))


def by_id(cases: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {c["example_id"]: c for c in cases}


def score(key: str, score: float | None, value: str | None, passed: bool | None, status: str,
          comment: str | None) -> dict[str, Any]:
    return {"key": key, "score": score, "value": value, "passed": passed, "status": status,
            "comment": comment}


def contract_scores(case: dict[str, Any]) -> list[dict[str, Any]]:
    keys = ("key", "score", "value", "passed", "status", "comment")
    return [{k: s[k] for k in keys} for s in case["scores"]]


def test_json_has_every_contract_key_with_exact_values(qa_run: QaRun) -> None:
    doc = load(qa_run)
    assert doc["judgekit_version"] == judgekit.__version__
    assert doc["suite"] == "suites/qa.py::test_qa"  # as the user typed it
    run_id = qa_run.run_id
    assert len(run_id) >= 6
    version = dataset(qa_run.root / "suites" / "data" / "qa.jsonl").version
    good, bad = doc["experiments"]
    assert [(e["id"], e["variant"], e["dataset"]) for e in doc["experiments"]] == [
        (f"{run_id}-1", {"model": "good"}, {"name": "qa", "version": version}),
        (f"{run_id}-2", {"model": "bad"}, {"name": "qa", "version": version}),
    ]

    for exp, exact, verdict, n_passed in (
        (good, {"mean": 2 / 3, "n_ok": 3, "n_unscored": 0, "n_error": 1, "n_skipped": 0},
         {"mean": 1.0, "n_ok": 2, "n_unscored": 1, "n_error": 1, "n_skipped": 0}, 2),
        (bad, {"mean": 0.0, "n_ok": 3, "n_unscored": 0, "n_error": 1, "n_skipped": 0},
         {"mean": 1.0, "n_ok": 3, "n_unscored": 0, "n_error": 1, "n_skipped": 0}, 0),
    ):
        summary = exp["summary"]
        assert (summary["n_cases"], summary["n_errors"], summary["n_passed"]) == (4, 1, n_passed)
        assert list(summary["scores"]) == ["exact", "verdict"]
        for key, want in (("exact", exact), ("verdict", verdict)):
            got = {k: summary["scores"][key][k] for k in want}
            assert got == pytest.approx(want), key
        assert {k: summary["cost_usd"][k] for k in ("target", "judge", "per_1k_cases")} == {
            "target": 0.0, "judge": 0.0, "per_1k_cases": 0.0}
        latency = summary["latency_s"]
        assert set(latency) >= {"mean", "p50", "p99"}
        assert all(isinstance(latency[k], float) and 0 < latency[k] < 30 for k in latency)
        assert latency["p50"] <= latency["p99"]
        assert {k: summary["tokens"][k] for k in ("prompt", "completion")} == {
            "prompt": 0, "completion": 0}

    keys = ("name", "metric", "target", "actual", "met")
    assert [{k: g[k] for k in keys} for g in good["goals"]] == [
        {"name": "accuracy", "metric": "exact", "target": 0.5, "actual": 0.5, "met": True}]
    assert [{k: g[k] for k in keys} for g in bad["goals"]] == [
        {"name": "accuracy", "metric": "exact", "target": 0.5, "actual": 0.0, "met": False}]

    cases = by_id(good["cases"])
    assert sorted(cases) == ["a", "b", "c", "d"]
    assert all(c["repetition"] == 0 for c in cases.values())
    assert [(cases[i]["outputs"], cases[i]["error"]) for i in "abcd"] == [
        ("Paris", None), ("4", None), ("Saturn", None),
        (None, {"type": "RuntimeError", "message": "upstream 500"})]
    assert contract_scores(cases["a"]) == [
        score("exact", 1.0, None, True, "ok", None),
        score("verdict", 1.0, "CORRECT", True, "ok", "looks right")]
    assert contract_scores(cases["b"]) == [
        score("exact", 1.0, None, True, "ok", None),
        score("verdict", None, None, None, "unscored", "judge reply had no GRADE line")]
    assert contract_scores(cases["c"]) == [
        score("exact", 0.0, None, False, "ok", "expected 'Jupiter', got 'Saturn'"),
        score("verdict", 1.0, "CORRECT", True, "ok", "looks right")]
    note = "not evaluated: the target raised RuntimeError: upstream 500"
    assert contract_scores(cases["d"]) == [score("exact", None, None, None, "error", note),
                                           score("verdict", None, None, None, "error", note)]
    assert by_id(bad["cases"])["a"]["outputs"] == "?"


def test_junit_has_one_testcase_per_case_and_variant(qa_run: QaRun) -> None:
    load(qa_run)
    root = ET.parse(qa_run.junit_path).getroot()
    assert root.tag == "testsuites"
    suites = root.findall("testsuite")
    assert [(s.get("name"), s.get("tests"), s.get("failures"), s.get("errors")) for s in suites] \
        == [("test_qa[good]", "4", "1", "1"), ("test_qa[bad]", "4", "3", "1")]
    testcases = root.iter("testcase")
    assert sorted((t.get("classname"), t.get("name")) for t in testcases) == sorted(
        (f"test_qa.{v}", i) for v in ("good", "bad") for i in "abcd")
    good = {t.get("name"): t for t in suites[0].findall("testcase")}
    failure = good["c"].find("failure")
    assert failure is not None
    assert failure.get("message") == "exact"
    assert failure.text == "exact failed: expected 'Jupiter', got 'Saturn'"
    error = good["d"].find("error")
    assert error is not None
    assert (error.get("type"), error.get("message")) == ("RuntimeError", "upstream 500")
    assert error.text is not None and error.text.endswith("RuntimeError: upstream 500\n")
    assert good["a"].find("failure") is None and good["a"].find("error") is None
    out = good["b"].find("system-out")
    assert out is not None and out.text == "verdict unscored: judge reply had no GRADE line"
    bad = {t.get("name"): t for t in suites[1].findall("testcase")}
    assert [(bad[i].find("failure").text if bad[i].find("failure") is not None else None)
            for i in "abc"] == ["exact failed: expected 'Paris', got '?'",
                                "exact failed: expected '4', got '?'",
                                "exact failed: expected 'Jupiter', got '?'"]


def test_console_table_is_plain_text_when_piped(qa_run: QaRun) -> None:
    ran = qa_run.ran
    assert ANSI not in ran.stdout and ANSI not in ran.stderr
    assert "Traceback" not in ran.output
    # One row per variant with its headline score and goal mark (UX.md); the exact layout is
    # the console module's business.
    lines = ran.stdout.splitlines()
    good = next(line for line in lines if line.startswith("good "))
    bad = next(line for line in lines if line.startswith("bad "))
    assert good.split()[1] == "67%" and "✓" in good and "✗" not in good
    assert bad.split()[1] == "0%" and "✗" in bad
    assert f"judgekit show {qa_run.run_id}" in ran.stdout
    # Non-TTY progress: a header and one plain line per finished variant, on stderr.
    header, *done = ran.stderr.splitlines()
    assert header == (f"judgekit {judgekit.__version__} · suites/qa.py::test_qa · 4 examples × "
                      f"2 variants · run {qa_run.run_id}")
    assert sorted(done) == [" bad: 4/4 done, pass 0%", " good: 4/4 done, pass 50%"]


@pytest.mark.parametrize(("goal", "variants", "strict", "code"), [
    (0.5, ("good",), False, 0),          # goal met
    (0.5, ("good", "bad"), False, 1),    # one variant misses it
    (0.6, ("good",), False, 1),          # errors count as 0: 2/4 < 0.6 though the mean is 2/3
    (0.5, ("good",), True, 1),           # goals met, but a check failed and a case errored
    (None, ("good",), False, 0),         # no goals: failures alone do not fail the run
    (None, ("good",), True, 1),          # ... unless --strict
])
def test_exit_codes_follow_goals_and_strict(cli: Cli, tmp_path: Path, goal: float | None,
                                            variants: tuple[str, ...], strict: bool,
                                            code: int) -> None:
    write_qa_suite(tmp_path, goal=goal, variants=variants)
    ran = cli("eval", "suites/qa.py", *(["--strict"] if strict else []))
    assert ran.returncode == code, ran.output
    assert "Traceback" not in ran.output


def test_strict_passes_a_clean_run(cli: Cli, make_file: Callable[[str, str], Path]) -> None:
    make_file("clean.py", """\
        from judgekit import Goals, suite

        def exact(*, outputs, reference_outputs):
            return outputs == reference_outputs

        @suite(data=[{"inputs": {"x": 1}, "reference": 2}, {"inputs": {"x": 2}, "reference": 4}],
               evaluators=[exact], goals=Goals(accuracy=("exact", 1.0)))
        def test_double(x):
            return 2 * x
        """)
    ran = cli("eval", "clean.py", "--strict", "--json", "-")
    assert ran.returncode == 0, ran.output
    doc = json.loads(ran.stdout)  # `--json -`: stdout is the JSON and nothing else
    (exp,) = doc["experiments"]
    assert exp["summary"]["scores"]["exact"]["mean"] == 1.0
    assert [g["met"] for g in exp["goals"]] == [True]


def test_repeat_gives_repetitions_and_spread(cli: Cli, tmp_path: Path,
                                             make_file: Callable[[str, str], Path]) -> None:
    make_file("rep.py", """\
        from judgekit import suite

        def exact(*, outputs, reference_outputs):
            return outputs == reference_outputs

        @suite(data=[{"id": i, "inputs": {}, "reference": "ok"} for i in "ab"],
               evaluators=[exact])
        def test_rep(example, repetition):
            # Repetition 0: both right; 1: a right; 2: both wrong -> means 1, .5, 0.
            return "ok" if repetition == 0 or (repetition == 1 and example.id == "a") else "no"
        """)
    ran = cli("eval", "rep.py", "--repeat", "3", "--json", "out.json")
    assert ran.returncode == 0, ran.output
    (exp,) = json.loads((tmp_path / "out.json").read_text())["experiments"]
    assert sorted((c["example_id"], c["repetition"]) for c in exp["cases"]) == [
        ("a", 0), ("a", 1), ("a", 2), ("b", 0), ("b", 1), ("b", 2)]
    entry = exp["summary"]["scores"]["exact"]
    assert exp["summary"]["n_cases"] == 6
    assert entry["mean"] == pytest.approx(0.5)
    assert entry["std"] == pytest.approx(0.5)  # stdev of the repetition means 1, .5, 0


def test_retry_errors_from_the_command_line(cli: Cli, tmp_path: Path,
                                            make_file: Callable[[str, str], Path]) -> None:
    make_file("flaky.py", """\
        from pathlib import Path

        from judgekit import suite

        HERE = Path(__file__).parent

        def exact(*, outputs, reference_outputs):
            return outputs == reference_outputs

        @suite(data=[{"id": i, "inputs": {"q": i}, "reference": i} for i in "abc"],
               evaluators=[exact])
        def test_flaky(q):
            with open(HERE / "calls.log", "a") as log:
                log.write(q + "\\n")
            marker = HERE / f"{q}.seen"
            if q == "b" and not marker.exists():
                marker.touch()
                raise ConnectionError("reset by peer")
            return q
        """)
    first = cli("eval", "flaky.py", "--json", "first.json", "--strict")
    assert first.returncode == 1, first.output
    run_id = json.loads((tmp_path / "first.json").read_text())["run_id"]
    assert f"--retry-errors {run_id}" in first.stdout
    again = cli("eval", "flaky.py", "--retry-errors", run_id, "--json", "again.json",
                "--strict")
    assert again.returncode == 0, again.output
    doc = json.loads((tmp_path / "again.json").read_text())
    assert doc["run_id"] == run_id
    (exp,) = doc["experiments"]
    assert (exp["summary"]["n_cases"], exp["summary"]["n_errors"]) == (3, 0)
    assert sorted(c["example_id"] for c in exp["cases"]) == ["a", "b", "c"]
    assert sorted((tmp_path / "calls.log").read_text().split()) == ["a", "b", "b", "c"]


def test_help(cli: Cli) -> None:
    ran = cli("--help")
    assert ran.returncode == 0, ran.output
    for command in ("eval", "runs", "show"):
        assert command in ran.stdout
    assert "exit codes" in ran.stdout
    ran = cli("eval", "--help")
    assert ran.returncode == 0
    for option in ("--json", "--junit", "--concurrency", "--repeat", "--resume",
                   "--retry-errors", "--store", "--strict"):
        assert option in ran.stdout
    assert ANSI not in ran.stdout
    bare = cli()
    assert bare.returncode == 2 and "eval" in bare.stdout


def test_version_is_read_from_the_installed_package(cli: Cli) -> None:
    from importlib.metadata import version

    ran = cli("--version")
    assert (ran.returncode, ran.stdout.strip()) == (0, f"judgekit {version('judgekit')}")
