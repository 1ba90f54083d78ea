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


def _pair_judge(prefers_first: bool) -> Any:
    """Grades PASS; compares two answers by which model wrote them, or by position only."""
    def reply(body: dict[str, Any]) -> Reply:
        text = _text(body)
        if "RESPONSE A" not in text:
            return Reply("Fine.\n[[PASS]]")
        if prefers_first:
            return Reply("The first one.\n[[A]]")
        a_block = text.split("RESPONSE A", 1)[1].split("RESPONSE B", 1)[0]
        return Reply("x is right.\n[[A]]" if "x says" in a_block else "x is right.\n[[B]]")
    return reply


@pytest.mark.parametrize(("prefers_first", "consistent", "first"), [(False, 1.0, 0.0),
                                                                     (True, 0.0, 1.0)])
def test_position_probe_compares_two_variants_in_both_orders(
        openai_env: OpenAIServer, tmp_path: Path, prefers_first: bool, consistent: float,
        first: float) -> None:
    openai_env.reply("", _pair_judge(prefers_first))
    models = ModelSettings(cache_path=tmp_path / "cache.db", timeout_s=10)
    store = Store(tmp_path / "j.db")
    result = judgekit.evaluate(lambda question, model: f"{model} says: answer to {question}",
                               DATA, [criteria("The answer is correct.")], name="qa",
                               variants={"model": ["x", "y"]}, store=store, models=models)
    got = judgekit.probe(result.run_id, "criteria", store=store, samples=2, limit=4,
                         models=models)
    p = got.position
    assert p.skipped is None and p.variants == ("x", "y")
    assert (p.n, p.n_unscored, p.n_error) == (4, 0, 0)
    assert (p.consistent_rate, p.first_position_rate) == (consistent, first)
    ci = p.consistent_rate_ci
    assert ci.low is not None and ci.high is not None and ci.low <= consistent <= ci.high
    before = openai_env.count()
    again = judgekit.probe(result.run_id, "criteria", store=store, samples=2, limit=4,
                           models=models)
    assert openai_env.count() == before and again.position == p


def test_position_probe_is_skipped_with_one_variant(openai_env: OpenAIServer,
                                                    tmp_path: Path) -> None:
    store, run_id, models = _run(openai_env, tmp_path, unbiased)
    got = judgekit.probe(run_id, "criteria", store=store, samples=2, models=models)
    assert got.position.skipped is not None and "one variant" in got.position.skipped
    assert got.position.n == 0


def test_cli_probe_prints_the_table_and_writes_json(openai_env: OpenAIServer,
                                                    tmp_path: Path) -> None:
    import json

    store, run_id, _ = _run(openai_env, tmp_path, likes_length)
    store.close()
    out = tmp_path / "probe.json"
    proc = subprocess.run([sys.executable, "-m", "judgekit.cli.main", "probe", run_id,
                           "--judge", "criteria", "--limit", "4", "--samples", "2", "--json",
                           str(out), "--store", str(tmp_path / "j.db"), "--cache-file",
                           str(tmp_path / "cache.db")], capture_output=True, text=True,
                          timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert "mean score shift" in proc.stdout and "+1.000" in proc.stdout
    doc = json.loads(out.read_text())
    assert doc["n_cases"] == 4 and doc["verbosity"]["mean_shift"] == 1.0
    assert doc["stability"]["samples"] == 2 and "one variant" in doc["position"]["skipped"]
