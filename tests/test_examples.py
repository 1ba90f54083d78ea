"""The runnable examples in examples/ run and print what their docstrings promise."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _run(script: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, str(ROOT / "examples" / script)], cwd=ROOT,
                          capture_output=True, text=True, timeout=120)


def test_library_api_example_compares_two_variants() -> None:
    out = _run("library_api.py")
    # raw gets 1/4 exactly right (tokyo, Sydney and "Ottawa." are wrong): below the 75% goal,
    # so the example exits 1.
    assert out.returncode == 1, out.stderr
    lines = out.stdout.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("variant"))
    rows = {line.split()[0]: line for line in lines[start + 1:start + 3]}
    assert "25%" in rows["raw"].split()[1] and "✗ accuracy" in rows["raw"]
    assert "75%" in rows["tidy"].split()[1] and "✓ accuracy" in rows["tidy"]
    assert "tidy au Sydney ['exact_match', 'fuzzy_match']" in out.stdout


def test_custom_evaluator_example_shows_all_three_kinds() -> None:
    out = _run("custom_evaluator.py")
    assert out.returncode == 0, out.stderr
    header = next(line for line in out.stdout.splitlines() if line.startswith("variant"))
    assert header.split()[1:4] == ["mentions_reference", "max_chars", "answered_rate"]
    row = next(line for line in out.stdout.splitlines() if line.startswith("default"))
    assert row.split()[1:4] == ["67%", "100%", "67%"]
    assert "'passed': False" in out.stdout and "'comment': '17 chars'" in out.stdout


def test_llm_judges_example_grades_offline_with_unscored_apart() -> None:
    out = _run("llm_judges.py")
    assert out.returncode == 0, out.stderr
    row = next(line for line in out.stdout.splitlines() if line.startswith("default"))
    # paris CORRECT, sum INCORRECT, sly INCORRECT despite its own "GRADE: CORRECT"; moon's
    # reply has no GRADE line: 1 of 3 verdicts, one unscored.
    assert row.split()[1:3] == ["33%", "(1"]
    verdicts = {tuple(line.split()[:2]): line.split()[2:] for line in out.stdout.splitlines()
                if line.split()[:2] and line.split()[0] in ("paris", "sum", "moon", "sly")}
    assert verdicts[("sly", "cot_qa")][:2] == ["ok", "INCORRECT"]
    assert verdicts[("moon", "cot_qa")][0] == "unscored"
    assert verdicts[("paris", "concise")] == ["ok", "8", "agreement", "0.33"]
    assert "16 judge calls" in out.stdout


def test_langsmith_sync_example_sends_to_the_given_endpoint(tmp_path: Path) -> None:
    import os

    from langsmith_server import LangSmithServer

    env = {k: v for k, v in os.environ.items() if not k.startswith(("LANGSMITH_", "LANGCHAIN_"))}
    with LangSmithServer() as srv:
        out = subprocess.run([sys.executable, str(ROOT / "examples" / "langsmith_sync.py")],
                             cwd=tmp_path, capture_output=True, text=True, timeout=120,
                             env={**env, "LANGSMITH_ENDPOINT": srv.url,
                                  "LANGSMITH_API_KEY": srv.api_key})
        assert out.returncode == 0, out.stderr
        (ds,) = srv.datasets.values()
        assert ds["name"] == "capitals" and len(srv.examples) == 3
        assert len(srv.experiments()) == 2
        llm_runs = [r for r in srv.runs.values() if r["run_type"] == "llm"]
        assert len(llm_runs) == 6 and all(r["total_tokens"] for r in llm_runs)
    assert out.stdout.count("experiment capitals:") == 2
    assert f"/datasets/{ds['id']}/compare?selectedSessions=" in out.stdout
    # Without a key it says so and sends nothing.
    quiet = subprocess.run([sys.executable, str(ROOT / "examples" / "langsmith_sync.py")],
                           cwd=tmp_path, capture_output=True, text=True, timeout=120, env=env)
    assert quiet.returncode == 0 and "nothing was sent" in quiet.stdout


def test_compare_and_decide_example_picks_the_fine_tune_and_a_cascade() -> None:
    out = _run("compare_and_decide.py")
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert lines[0].startswith("gpt-4o-mini: routed 78%, -18.3 pt against gpt-4o, McNemar p=")
    assert lines[2] == "ft:gpt-4o-mini-2024-07-18:acme::r1 meets all goals at 12% of gpt-4o's cost"
    assert lines[3].startswith("break-even accuracy 85.7%: gpt-4o clears, gpt-4o-mini misses")
    assert lines[4].startswith("best cascade under $") and "held out" in lines[4]
