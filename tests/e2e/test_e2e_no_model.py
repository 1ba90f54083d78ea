"""No model configured (no key, no base URL): LLM steps are skipped, said once, and --strict fails.

The suite's code checks all pass, so the only thing ``--strict`` can object to is the skipped
LLM variant and judge. (The README's own command on ``suites/reviews.py`` is checked in
``tests/test_shipped_suites.py``.)
"""

from __future__ import annotations

from pathlib import Path

import pytest
from e2e_support import Ran, judgekit, write

SUITE = """\
from judgekit import Goals, dataset, parametrize, suite
from judgekit.models import LLM
from judgekit_evaluators import cot_qa

DATA = dataset([{"id": "fr", "inputs": {"country": "France"}, "reference": "Paris"},
                {"id": "jp", "inputs": {"country": "Japan"}, "reference": "Tokyo"}])
CAPITALS = {"France": "Paris", "Japan": "Tokyo"}


def exact(*, outputs, reference_outputs):
    return outputs == reference_outputs


@suite(data=DATA, evaluators=[exact, cot_qa()], goals=Goals(accuracy=("exact", 1.0)))
@parametrize("model", ["lookup", "gpt-4o-mini"])
async def test_capital(country: str, model: str, llm: LLM) -> str:
    if model == "lookup":
        return CAPITALS[country]
    return (await llm.chat(f"Capital of {country}? One word.")).text
"""

HOW = "set OPENAI_API_KEY (or OPENAI_BASE_URL for a compatible server)"


@pytest.fixture(scope="module")
def suite_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("no_model")
    write(root / "suites" / "capitals.py", SUITE)
    return root


def _run(root: Path, *flags: str) -> Ran:
    (root / "store.db").unlink(missing_ok=True)
    return judgekit("eval", "suites/capitals.py", *flags, cwd=root, srv=None)


def test_llm_steps_are_skipped_with_one_line_on_how_to_configure(suite_dir: Path) -> None:
    ran = _run(suite_dir)
    assert ran.returncode == 0, ran.output
    assert "Traceback" not in ran.output
    lookup, llm = ran.experiment("lookup"), ran.experiment("gpt-4o-mini")
    # Code checks still run and pass; the judge on them is skipped, not failed.
    assert lookup["summary"]["scores"]["exact"]["mean"] == 1.0
    assert lookup["summary"]["scores"]["cot_qa"]["n_skipped"] == 2
    assert [g["met"] for g in lookup["goals"]] == [True]
    # The LLM variant is skipped as a whole, its goal not checked.
    assert llm["summary"]["skipped"] == HOW and llm["summary"]["n_skipped"] == 2
    assert [g["met"] for g in llm["goals"]] == [None]
    # Said once, under the table: one line with the fix.
    lines = [line for line in ran.stdout.splitlines() if "OPENAI_API_KEY" in line]
    assert len(lines) == 1 and HOW in lines[0], ran.stdout


def test_strict_turns_the_skips_into_a_failure(suite_dir: Path) -> None:
    ran = _run(suite_dir, "--strict")
    assert ran.returncode == 1, ran.output
    assert "Traceback" not in ran.output
