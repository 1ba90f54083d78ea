"""The response cache end to end: re-runs are free, replay fails clearly, off and clear work.

One suite whose target asks a model (the ``llm`` fixture) and whose ``cot_qa`` judge asks
another, run again and again through ``judgekit eval`` against the local server while the
test counts the HTTP requests the server receives.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from e2e_support import JUDGE_SYSTEM, Ran, judgekit, query, write
from openai_server import OpenAIServer, Reply

N = 4  # cases; each makes one target call and one judge call

SUITE = f"""\
from judgekit import dataset, parametrize, suite
from judgekit.models import LLM
from judgekit_evaluators import cot_qa

DATA = dataset([{{"id": f"q{{i}}", "inputs": {{"question": f"What is {{i}} + {{i}}?"}},
                 "reference": str(2 * i)}} for i in range({N})])


@suite(data=DATA, evaluators=[cot_qa()])
@parametrize("model", ["gpt-4o-mini"])
async def test_sum(question: str, llm: LLM) -> str:
    return (await llm.chat(question, temperature=0)).text
"""


def _serve(srv: OpenAIServer) -> None:
    def target(body: dict[str, Any]) -> Reply:
        found = re.search(r"What is (\d+)", body["messages"][-1]["content"])
        assert found is not None
        i = int(found.group(1))
        return Reply(str(2 * i), prompt_tokens=20, completion_tokens=2)

    srv.reply(None, target)
    srv.reply(JUDGE_SYSTEM, Reply("Same number.\nGRADE: CORRECT", prompt_tokens=400,
                                  completion_tokens=10))


def _chat_requests(srv: OpenAIServer) -> int:
    return srv.count(path="/v1/chat/completions")


def _calls(root: Path, ran: Ran) -> list[tuple[Any, ...]]:
    return query(root / "store.db", "SELECT role, cache_hit, cost_usd FROM calls"
                 " WHERE experiment_id = ? ORDER BY id", ran.experiment()["id"])


def test_cache_rerun_replay_off_stats_and_clear(openai_server: OpenAIServer,
                                                tmp_path: Path) -> None:
    srv = openai_server
    _serve(srv)
    write(tmp_path / "suites" / "sums.py", SUITE)

    def run(*flags: str, env: dict[str, str] | None = None) -> Ran:
        return judgekit("eval", "suites/sums.py", *flags, cwd=tmp_path, srv=srv, env=env)

    # Python lists every module it imports on stderr: did the run load the openai SDK?
    importtime = {"PYTHONPROFILEIMPORTTIME": "1"}

    def imported_openai(ran: Ran) -> bool:
        return bool(re.search(r"(?m)\|\s*openai(\.\w+)*$", ran.stderr))

    # 1. First run: every call goes to the server and costs money.
    first = run(env=importtime)
    assert imported_openai(first)
    assert first.returncode == 0, first.output
    assert _chat_requests(srv) == 2 * N
    cost = first.experiment()["summary"]["cost_usd"]
    assert cost["target"] > 0 and cost["judge"] > 0
    assert all(hit == 0 for _, hit, _ in _calls(tmp_path, first))

    # 2. The same run again: zero requests, nothing new spent, the same verdicts, and not
    # even the SDK's import (most of a second) paid.
    second = run(env=importtime)
    assert second.returncode == 0, second.output
    assert _chat_requests(srv) == 2 * N, "a cached run must not reach the server"
    assert not imported_openai(second)
    exp = second.experiment()
    assert exp["summary"]["cost_usd"]["target"] == 0.0
    assert exp["summary"]["cost_usd"]["judge"] == 0.0
    assert exp["summary"]["scores"]["cot_qa"]["mean"] == 1.0
    calls = _calls(tmp_path, second)
    assert len(calls) == 2 * N and all(hit == 1 for _, hit, _ in calls)
    assert sorted(role for role, _, _ in calls) == ["judge"] * N + ["target"] * N

    # 3. Replay against an empty cache file: exit 2, one line naming the fix, no traceback.
    empty = tmp_path / "empty-cache.db"
    empty.touch()
    replay = run("--cache", "replay", "--cache-file", str(empty))
    assert replay.returncode == 2, replay.output
    assert "Traceback" not in replay.output
    errors = [line for line in replay.output.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, replay.output
    assert "--cache read-write" in errors[0] and "gpt-4o-mini" in errors[0]
    assert str(empty) in errors[0]
    assert _chat_requests(srv) == 2 * N, "replay never calls the provider"
    # ... and the store is intact, the stopped run resumable.
    assert query(tmp_path / "store.db", "PRAGMA integrity_check") == [("ok",)]
    ((run_id, status),) = query(tmp_path / "store.db", "SELECT id, status FROM runs"
                                " ORDER BY created_at DESC LIMIT 1")
    assert status != "completed"
    resumed = run("--resume", run_id)
    assert resumed.returncode == 0, resumed.output
    assert resumed.doc["run_id"] == run_id
    assert resumed.experiment()["summary"]["n_cases"] == N
    assert _chat_requests(srv) == 2 * N, "the resumed run is answered from the cache"

    # 4. --cache off: every call goes to the server again.
    off = run("--cache", "off")
    assert off.returncode == 0, off.output
    assert _chat_requests(srv) == 4 * N
    assert all(hit == 0 for _, hit, _ in _calls(tmp_path, off))

    # 5. judgekit cache stats / clear on the cache beside the store.
    stats = judgekit("cache", "stats", cwd=tmp_path, srv=srv)
    assert stats.returncode == 0, stats.output
    assert f"{2 * N} responses" in stats.stdout
    assert re.search(rf"(?m)^\s+gpt-4o-mini\s+{N}$", stats.stdout), stats.stdout
    assert re.search(rf"(?m)^\s+gpt-4o\s+{N}$", stats.stdout), stats.stdout
    # Not on a terminal, clear asks for --yes instead of deleting (and deletes nothing).
    refused = judgekit("cache", "clear", cwd=tmp_path, srv=srv)
    assert refused.returncode == 2 and "--yes" in refused.stderr, refused.output
    assert "Traceback" not in refused.output
    one_model = judgekit("cache", "clear", "--model", "gpt-4o", "--yes", cwd=tmp_path, srv=srv)
    assert one_model.returncode == 0, one_model.output
    assert f"deleted {N} responses" in one_model.stdout and f"({N} left)" in one_model.stdout
    cleared = judgekit("cache", "clear", "--yes", cwd=tmp_path, srv=srv)
    assert cleared.returncode == 0, cleared.output
    assert f"deleted {N} responses" in cleared.stdout and "(0 left)" in cleared.stdout
    after = judgekit("cache", "stats", cwd=tmp_path, srv=srv)
    assert "0 responses" in after.stdout, after.output
    # A cleared cache really is empty: the next run calls the server again.
    fresh = run()
    assert fresh.returncode == 0, fresh.output
    assert _chat_requests(srv) == 6 * N
