"""Cost end to end: usage from the server × genai-prices' price, fine-tunes, unknown, overrides.

Three variants ask a model through the ``llm`` fixture (gpt-4o-mini, a fine-tune of it, a model
no price list knows) and a ``cot_qa`` judge on gpt-4o grades each answer. The server reports
fixed usage, cached prompt tokens included. A ``pyproject.toml`` next to the suite overrides
gpt-4o's price in ``[tool.judgekit.prices]``. Expected costs are worked out here from
genai-prices' rates (not through judgekit's pricing code).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from e2e_support import JUDGE_SYSTEM, Ran, genai_price, judgekit, query, write
from openai_server import OpenAIServer, Reply

MINI, FINE_TUNE, UNKNOWN = ("gpt-4o-mini", "ft:gpt-4o-mini-2024-07-18:acme::abc123",
                            "acme-llm-7")
N = 2  # cases per variant

SUITE = f"""\
from judgekit import dataset, parametrize, suite
from judgekit.models import LLM
from judgekit_evaluators import cot_qa

DATA = dataset([{{"id": f"q{{i}}", "inputs": {{"question": f"Question {{i}}?"}},
                 "reference": "yes"}} for i in range({N})])


@suite(data=DATA, evaluators=[cot_qa(model="gpt-4o")])
@parametrize("model", {[MINI, FINE_TUNE, UNKNOWN]!r}, ids=["mini", "fine-tune", "unknown"])
async def test_cost(question: str, llm: LLM) -> str:
    return (await llm.chat(question)).text
"""

PYPROJECT = """\
[tool.judgekit.prices."gpt-4o"]
input = 1.0
output = 2.0
cached_input = 0.5
"""

TARGET_USAGE = {"prompt_tokens": 1000, "completion_tokens": 200, "cached_tokens": 400}
JUDGE_USAGE = {"prompt_tokens": 2000, "completion_tokens": 100, "cached_tokens": 1000}


# The override's arithmetic, by hand: 1000 uncached at $1, 1000 cached at $0.5, 100 out at $2.
JUDGE_COST = (1000 * 1.0 + 1000 * 0.5 + 100 * 2.0) / 1_000_000


def _serve(srv: OpenAIServer) -> None:
    def target(body: dict[str, Any]) -> Reply:
        # As the API does, the reply names the dated snapshot behind an alias.
        model = "gpt-4o-mini-2024-07-18" if body["model"] == MINI else None
        return Reply("yes", model=model, **TARGET_USAGE)

    srv.reply(None, target)
    srv.reply(JUDGE_SYSTEM, Reply("It says yes.\nGRADE: CORRECT", **JUDGE_USAGE))


@pytest.fixture(scope="module")
def priced(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Ran]:
    root = tmp_path_factory.mktemp("cost")
    write(root / "suites" / "cost.py", SUITE)
    write(root / "suites" / "pyproject.toml", PYPROJECT)
    with OpenAIServer() as srv:
        _serve(srv)
        ran = judgekit("eval", "suites/cost.py", cwd=root, srv=srv)
    assert ran.returncode == 0, ran.output
    return root, ran


def test_genai_prices_knows_the_models_and_not_the_unknown_one() -> None:
    from genai_prices import Usage, calc_price

    assert genai_price(MINI, 1_000_000, 0, 0) > 0
    assert genai_price(FINE_TUNE, 1_000_000, 0, 0) > genai_price(MINI, 1_000_000, 0, 0)
    with pytest.raises(LookupError):
        calc_price(Usage(input_tokens=1, output_tokens=1), model_ref=UNKNOWN,
                   provider_id="openai")


@pytest.mark.parametrize("model", [MINI, FINE_TUNE])
def test_cost_per_case_is_usage_times_the_price(priced: tuple[Path, Ran], model: str) -> None:
    root, ran = priced
    exp = ran.experiment(model)
    target = genai_price(model, 1000, 200, 400)
    for case in exp["cases"]:
        assert case["usage"]["cost_usd"] == pytest.approx(target + JUDGE_COST)
    calls = query(root / "store.db", "SELECT role, model, prompt_tokens, completion_tokens,"
                  " cached_tokens, cost_usd FROM calls WHERE experiment_id = ?", exp["id"])
    served = "gpt-4o-mini-2024-07-18" if model == MINI else model
    assert sorted(calls) == sorted(
        [("target", served, 1000, 200, 400, pytest.approx(target))] * N
        + [("judge", "gpt-4o", 2000, 100, 1000, pytest.approx(JUDGE_COST))] * N)
    cost = exp["summary"]["cost_usd"]
    assert cost["target"] == pytest.approx(N * target)
    assert cost["judge"] == pytest.approx(N * JUDGE_COST)  # apart, at the overridden price
    assert cost["per_1k_cases"] == pytest.approx(1000 * (target + JUDGE_COST))
    assert exp["summary"]["tokens"] == {"prompt": N * 3000, "completion": N * 300,
                                        "cached": N * 1400}


def test_the_override_replaces_the_database_price(priced: tuple[Path, Ran]) -> None:
    # Without [tool.judgekit.prices] the judge would cost genai-prices' gpt-4o price.
    assert genai_price("gpt-4o", 2000, 100, 1000) != pytest.approx(JUDGE_COST)
    _, ran = priced
    assert ran.experiment(MINI)["summary"]["cost_usd"]["judge"] == pytest.approx(N * JUDGE_COST)


def test_an_unknown_price_is_unknown_never_zero(priced: tuple[Path, Ran]) -> None:
    root, ran = priced
    exp = ran.experiment(UNKNOWN)
    cost = exp["summary"]["cost_usd"]
    assert cost["target"] is None and cost["total"] is None and cost["per_1k_cases"] is None
    assert cost["judge"] == pytest.approx(N * JUDGE_COST)  # the judge's price is still known
    for case in exp["cases"]:
        assert case["usage"]["cost_usd"] is None
    target_costs = query(root / "store.db", "SELECT cost_usd FROM calls WHERE experiment_id = ?"
                         " AND role = 'target'", exp["id"])
    assert target_costs == [(None,)] * N
    rows = {line.split()[0]: line for line in ran.stdout.splitlines() if line.strip()}
    assert "?" in rows["unknown"] and "$0.00" not in rows["unknown"], ran.stdout
    assert "$0.00" not in rows["mini"] and "$" in rows["mini"], ran.stdout


def test_an_unknown_price_is_explained_under_the_table(priced: tuple[Path, Ran]) -> None:
    _, ran = priced
    notes = [line for line in ran.stdout.splitlines()
             if "price" in line.lower() and not line.startswith(("mini", "fine-tune", "unknown"))]
    assert any(UNKNOWN in line or "tool.judgekit.prices" in line for line in notes), ran.stdout
