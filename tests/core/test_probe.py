"""``judgekit.probe`` over real HTTP: scripted biased judges on the local OpenAI server."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from openai_server import OpenAIServer, Reply

import judgekit
from judgekit import Store
from judgekit.models import ModelSettings
from judgekit_evaluators import criteria

DATA = [{"id": str(i), "inputs": {"question": f"q{i}"}} for i in range(6)]
SYSTEM = "criteria"  # the system prompt of criteria names the rubric


def _text(body: dict[str, Any]) -> str:
    return "\n".join(str(m.get("content", "")) for m in body["messages"])


def unbiased(body: dict[str, Any]) -> Reply:
    return Reply("Fine.\n[[PASS]]")


def likes_length(body: dict[str, Any]) -> Reply:
    return Reply("Long.\n[[PASS]]" if "To summarise the above" in _text(body) else
                 "Short.\n[[FAIL]]")


def moody(body: dict[str, Any]) -> Reply:
    # Samples differ by seed (seed + i): the verdict flips with it.
    return Reply("Hm.\n[[PASS]]" if int(body.get("seed", 0)) % 2 == 0 else "Hm.\n[[FAIL]]")


def _run(srv: OpenAIServer, tmp_path: Path, judge: Any) -> tuple[Store, str, ModelSettings]:
    srv.reply("", judge)
    models = ModelSettings(cache_path=tmp_path / "cache.db", timeout_s=10)
    store = Store(tmp_path / "j.db")
    result = judgekit.evaluate(lambda question: f"answer to {question}", DATA,
                               [criteria("The answer is correct.")], name="qa",
                               store=store, models=models)
    return store, result.run_id, models


@pytest.mark.parametrize(("judge", "shift", "stable"), [
    (unbiased, 0.0, 1.0), (likes_length, 1.0, 1.0), (moody, 0.0, 0.0)])
def test_probe_measures_the_scripted_bias(openai_env: OpenAIServer, tmp_path: Path,
                                          judge: Any, shift: float, stable: float) -> None:
    store, run_id, models = _run(openai_env, tmp_path, judge)
    got = judgekit.probe(run_id, "criteria", store=store, samples=3, models=models)
    assert got.n_cases == 6
    assert got.verbosity.n == 6 and got.verbosity.mean_shift == shift
    assert got.verbosity.pass_rate_change == shift
    assert got.stability.n == 6 and got.stability.stable_rate == stable
    ci = got.stability.stable_rate_ci
    assert ci.low is not None and ci.high is not None and ci.low <= stable <= ci.high
    stored = store.get_run(got.run_id).config
    assert stored["probe_of"] == run_id and stored["probe"]["judge"] == "criteria"
    # A second probe: every judge reply comes from the cache.
    before = openai_env.count()
    again = judgekit.probe(run_id, "criteria", store=store, samples=3, models=models)
    assert openai_env.count() == before
    assert again.verbosity == got.verbosity and again.stability == got.stability


def test_cli_bad_judge_and_unknown_run_exit_2(openai_env: OpenAIServer,
                                               tmp_path: Path) -> None:
    store, run_id, _ = _run(openai_env, tmp_path, unbiased)
    store.close()
    for args in (["probe", run_id, "--judge", "nope"], ["probe", "zzzz", "--judge", "c"]):
        proc = subprocess.run([sys.executable, "-m", "judgekit.cli.main", *args, "--store",
                               str(tmp_path / "j.db")], capture_output=True, text=True,
                              timeout=60)
        assert proc.returncode == 2, proc.stderr
        assert len(proc.stderr.strip().splitlines()) == 1 and "Traceback" not in proc.stderr
