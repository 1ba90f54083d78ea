"""Exit 2 for user mistakes (one ``error:`` line, no traceback) and 3 for internal errors."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest
from cli_support import Cli, Ran, write_qa_suite

MakeFile = Callable[[str, str], Path]


def one_error_line(ran: Ran) -> str:
    """The run failed with exit 2, printing exactly one line to stderr and no traceback."""
    assert ran.returncode == 2, ran.output
    assert "Traceback" not in ran.output
    assert ran.stdout == ""
    lines = ran.stderr.splitlines()
    assert len(lines) == 1, ran.stderr
    assert lines[0].startswith("error: "), lines[0]
    return lines[0]


def usage_error_line(ran: Ran) -> str:
    """An argparse usage error: the usage, then one ``judgekit ...: error:`` line; exit 2."""
    assert ran.returncode == 2, ran.output
    assert "Traceback" not in ran.output
    errors = [line for line in ran.stderr.splitlines() if "error:" in line]
    assert len(errors) == 1, ran.stderr
    return errors[0]


SIMPLE = """\
    from judgekit import suite

    def exact(*, outputs, reference_outputs):
        return outputs == reference_outputs

    @suite(data={data}, evaluators=[{evaluator}])
    def test_simple({params}):
        return q
    """


def simple(make_file: MakeFile, *, data: str = '[{"inputs": {"q": 1}, "reference": 1}]',
           evaluator: str = "exact", params: str = "q") -> None:
    make_file("simple.py", SIMPLE.format(data=data, evaluator=evaluator, params=params))


def test_suite_syntax_error(cli: Cli, make_file: MakeFile) -> None:
    make_file("broken.py", """\
        from judgekit import suite

        @suite(data=[{"inputs": {"q": 1}}])
        def test_broken(q):
            return q +
        """)
    assert one_error_line(cli("eval", "broken.py")) == (
        "error: broken.py line 5: syntax error: invalid syntax")


def test_missing_suite_file(cli: Cli) -> None:
    assert one_error_line(cli("eval", "nope.py")) == "error: nope.py: no such file"
    assert one_error_line(cli("eval", "nope.py::test_x")) == "error: nope.py: no such file"


def test_unknown_suite_name(cli: Cli, make_file: MakeFile) -> None:
    simple(make_file)
    assert one_error_line(cli("eval", "simple.py::test_other")) == (
        "error: simple.py: no suite named 'test_other' (suites in the file: test_simple)")


def test_missing_dataset_file(cli: Cli, tmp_path: Path, make_file: MakeFile) -> None:
    simple(make_file, data='"data/missing.jsonl"')
    missing = (tmp_path / "data" / "missing.jsonl").resolve()
    assert one_error_line(cli("eval", "simple.py")) == (
        f"error: {missing}: dataset file not found")


def test_bad_json_line_in_the_dataset_names_file_and_line(cli: Cli, tmp_path: Path,
                                                          make_file: MakeFile) -> None:
    make_file("data/qa.jsonl", """\
        {"inputs": {"q": 1}, "reference": 1}
        {"inputs": {"q": 2}, "reference": 2}
        {"inputs": {"q": 3}, "reference": 3
        """)
    simple(make_file, data='"data/qa.jsonl"')
    data = (tmp_path / "data" / "qa.jsonl").resolve()
    assert one_error_line(cli("eval", "simple.py")) == (
        f"error: {data} line 3: not valid JSON (Expecting ',' delimiter: column 36)")
    assert cli("runs").stdout.startswith("no runs in")  # nothing was stored


def test_non_utf8_csv_is_a_usage_error(cli: Cli, tmp_path: Path, make_file: MakeFile) -> None:
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "qa.csv").write_bytes("q,reference\ncafé,1\n".encode("cp1252"))
    simple(make_file, data='"data/qa.csv"')
    line = one_error_line(cli("eval", "simple.py"))
    assert line.startswith(f"error: {(tmp_path / 'data' / 'qa.csv').resolve()}: not UTF-8 text")


def test_unknown_evaluator_name(cli: Cli, make_file: MakeFile) -> None:
    simple(make_file, evaluator='"exact_mach"')
    line = one_error_line(cli("eval", "simple.py"))
    assert line.startswith("error: simple.py line 6: unknown evaluator 'exact_mach'; did you "
                           "mean 'exact_match'")


def test_unknown_target_parameter(cli: Cli, make_file: MakeFile) -> None:
    simple(make_file, params="q, modle")
    line = one_error_line(cli("eval", "simple.py"))
    assert line.startswith("error: simple.py::test_simple: the target takes 'modle', which is "
                           "no fixture, parametrized name or input field (inputs have: q;")


def test_bad_concurrency(cli: Cli, make_file: MakeFile) -> None:
    simple(make_file)
    assert usage_error_line(cli("eval", "simple.py", "--concurrency", "0")) == (
        "judgekit eval: error: argument --concurrency: must be at least 1, got 0")
    assert usage_error_line(cli("eval", "simple.py", "--concurrency", "x")) == (
        "judgekit eval: error: argument --concurrency: expected a whole number, got 'x'")
    # The environment variable is checked the same way (it used to crash with a traceback).
    ran = cli("eval", "simple.py", env={"JUDGEKIT_CONCURRENCY": "lots"})
    assert usage_error_line(ran) == (
        "judgekit eval: error: argument --concurrency: expected a whole number, got 'lots'")
    assert cli("--help", env={"JUDGEKIT_CONCURRENCY": "lots"}).returncode == 0


def test_unknown_resume_and_retry_ids(cli: Cli, tmp_path: Path, make_file: MakeFile) -> None:
    simple(make_file)
    store = tmp_path / "store.db"
    assert one_error_line(cli("eval", "simple.py", "--resume", "deadbeef")) == (
        f"error: no run 'deadbeef' in {store}; `judgekit runs` lists them")
    assert one_error_line(cli("eval", "simple.py", "--retry-errors", "deadbeef")) == (
        f"error: no run 'deadbeef' in {store}; `judgekit runs` lists them")
    assert one_error_line(cli("show", "deadbeef")) == (
        f"error: no run 'deadbeef' in {store}; `judgekit runs` lists them")


def test_json_into_a_missing_directory(cli: Cli, make_file: MakeFile) -> None:
    simple(make_file)
    assert one_error_line(cli("eval", "simple.py", "--json", "no/such/dir/out.json")) == (
        "error: cannot write no/such/dir/out.json: directory no/such/dir does not exist")


def test_store_that_is_not_sqlite(cli: Cli, tmp_path: Path, make_file: MakeFile) -> None:
    simple(make_file)
    notes = tmp_path / "notes.txt"
    notes.write_text("these are my notes, not a database\n" * 20)
    expected = (f"error: {notes.name}: cannot open the result store (file is not a database); "
                "point --store or JUDGEKIT_STORE at another file, or move this one aside")
    assert one_error_line(cli("eval", "simple.py", "--store", notes.name)) == expected
    assert one_error_line(cli("runs", "--store", notes.name)) == expected
    assert notes.read_text() == "these are my notes, not a database\n" * 20


def test_debug_shows_the_traceback(cli: Cli) -> None:
    ran = cli("eval", "nope.py", "--debug")
    assert ran.returncode != 0
    assert "Traceback" in ran.stderr and "SuiteError: nope.py: no such file" in ran.stderr


INTERNAL = """\
    import sys

    import judgekit.store
    from judgekit.cli.main import main

    def broken_write_cases(self, cases):
        raise RuntimeError("disk on fire")

    # A bug inside judgekit (not a user mistake): simulated by breaking the store's writer.
    judgekit.store.Store.write_cases = broken_write_cases
    sys.exit(main(sys.argv[1:]))
    """


def test_internal_error_exits_3_without_a_traceback(tmp_path: Path) -> None:
    write_qa_suite(tmp_path, goal=None, variants=("good",))
    script = tmp_path / "run_broken.py"
    script.write_text(textwrap.dedent(INTERNAL))
    env = {k: v for k, v in os.environ.items() if not k.startswith("JUDGEKIT_")}

    def run(*extra: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, str(script), "eval", "suites/qa.py", "--store",
                               "store.db", *extra], cwd=tmp_path, env=env, capture_output=True,
                              text=True, timeout=60)

    ran = run()
    assert ran.returncode == 3, ran.stdout + ran.stderr
    assert "Traceback" not in ran.stdout + ran.stderr
    assert ran.stderr.splitlines()[-2:] == [
        "internal error: RuntimeError: disk on fire",
        "this is a judgekit bug; run again with --debug for the traceback and report it",
    ]
    debug = run("--debug")
    assert debug.returncode not in (0, 2, 3)
    assert "Traceback" in debug.stderr and "RuntimeError: disk on fire" in debug.stderr


@pytest.mark.parametrize("args", [("eval",), ("show",), ("eval", "a.py", "--bogus")])
def test_argument_mistakes_are_usage_errors(cli: Cli, args: tuple[str, ...]) -> None:
    usage_error_line(cli(*args))
