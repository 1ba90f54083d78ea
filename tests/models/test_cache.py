"""The SQLite response cache: keys, modes, stats, clear, damaged files."""

from __future__ import annotations

import asyncio
import hashlib
import json
import sqlite3
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from judgekit.errors import CacheMissError, ConfigError
from judgekit.models.base import ChatResponse
from judgekit.models.cache import ResponseCache, cache_key, default_cache_path
from judgekit.models.calls import chat, chat_sync, runtime_cache
from judgekit.models.mock import MockModel
from judgekit.models.pricing import cost_usd
from judgekit.models.settings import ModelSettings, use_settings
from judgekit.recording import CaseRecorder

MSGS = [{"role": "user", "content": "What is 2+2?"}]


@pytest.fixture
def cache_file(tmp_path: Path) -> Path:
    return tmp_path / "cache.db"


@pytest.fixture
def rw(cache_file: Path) -> Iterator[ModelSettings]:
    with use_settings(ModelSettings(cache_path=cache_file)) as s:
        yield s


def _model(reply: str = "4", **kw: object) -> MockModel:
    return MockModel(reply, model="gpt-4o-mini", cache=True, **kw)  # type: ignore[arg-type]


# -- keys ---------------------------------------------------------------------------------


def test_key_covers_what_decides_the_reply() -> None:
    base = cache_key("openai", "http://h/v1", "gpt-4o", MSGS, {"temperature": 0}, 0)
    assert base == cache_key("openai", "http://h/v1/", "gpt-4o", [dict(m) for m in MSGS],
                             {"temperature": 0}, 0)  # trailing slash and copies: same key
    others = {
        cache_key("langchain", "http://h/v1", "gpt-4o", MSGS, {"temperature": 0}, 0),
        cache_key("openai", "http://other/v1", "gpt-4o", MSGS, {"temperature": 0}, 0),
        cache_key("openai", "http://h/v1", "gpt-4o-mini", MSGS, {"temperature": 0}, 0),
        cache_key("openai", "http://h/v1", "gpt-4o", [{"role": "user", "content": "2+3?"}],
                  {"temperature": 0}, 0),
        cache_key("openai", "http://h/v1", "gpt-4o", MSGS, {"temperature": 1}, 0),
        cache_key("openai", "http://h/v1", "gpt-4o", MSGS, {"temperature": 0}, 1),
    }
    assert base not in others and len(others) == 6


def test_key_is_the_sha256_of_the_sorted_compact_json_caches_have_always_used() -> None:
    # Keys written before judgekit encoded them with orjson must still be found: a committed
    # replay cache would otherwise miss every call.
    messages = [{"role": "system", "content": "Grade «this».\n\tQuoted: \"x\" \\ \x01"},
                {"role": "user", "content": "Ünïcode ✓ and 2+2?"}]
    params = {"temperature": 0.7, "seed": 42, "max_tokens": 10**12, "stop": ["\n"],
              "response_format": {"type": "json_schema", "json_schema": {"strict": True}}}
    payload = {"provider": "openai", "endpoint": "http://h/v1", "model": "gpt-4o",
               "messages": messages, "params": params, "sample": 3}
    text = json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    assert cache_key("openai", "http://h/v1/", "gpt-4o", messages, params, 3) == \
        hashlib.sha256(text.encode()).hexdigest()


def test_a_cached_reply_takes_every_field_of_a_reply_and_its_cost() -> None:
    import dataclasses

    from judgekit.models.cache import CachedResponse

    hit = CachedResponse(text="4", prompt_tokens=3, model="m", cache_hit=True, cost_usd=0.5,
                         priced=True)
    assert hit == CachedResponse("4", None, 3, 0, 0, "m", {"x": "y"}, True, 0.5, True)
    assert (hit.headers, hit.finish_reason, hit.completion_tokens) == ({}, None, 0)
    assert dataclasses.replace(hit, text="5").text == "5"
    assert dataclasses.asdict(ChatResponse(text="4")).keys() < dataclasses.asdict(hit).keys()


def test_key_ignores_param_order_and_handles_schema_classes() -> None:
    a = cache_key("p", "e", "m", MSGS, {"temperature": 0, "seed": 1})
    assert a == cache_key("p", "e", "m", MSGS, {"seed": 1, "temperature": 0})
    pydantic = pytest.importorskip("pydantic")

    class Verdict(pydantic.BaseModel):
        grade: str

    k1 = cache_key("p", "e", "m", MSGS, {"response_format": Verdict})
    assert k1 == cache_key("p", "e", "m", MSGS, {"response_format": Verdict})


def test_timeouts_retries_and_keys_are_not_in_the_key(cache_file: Path) -> None:
    model = _model()
    with use_settings(ModelSettings(cache_path=cache_file, timeout_s=5, max_attempts=2)):
        chat_sync(model, MSGS)
    with use_settings(ModelSettings(cache_path=cache_file, timeout_s=50, max_attempts=9,
                                    max_retry_s=3)):
        assert chat_sync(model, MSGS).cache_hit
    assert len(model.calls) == 1


def test_default_path(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("JUDGEKIT_CACHE", raising=False)
    monkeypatch.delenv("JUDGEKIT_STORE", raising=False)
    assert default_cache_path() == Path(".judgekit") / "cache.db"
    assert default_cache_path(tmp_path / "runs.db") == tmp_path / "cache.db"
    monkeypatch.setenv("JUDGEKIT_STORE", str(tmp_path / "s" / "j.db"))
    assert default_cache_path() == tmp_path / "s" / "cache.db"
    monkeypatch.setenv("JUDGEKIT_CACHE", str(tmp_path / "c.db"))
    assert default_cache_path(tmp_path / "runs.db") == tmp_path / "c.db"


# -- modes --------------------------------------------------------------------------------


def test_read_write_second_call_is_a_hit_and_recorded_as_such(rw: ModelSettings) -> None:
    model = _model()
    rec = CaseRecorder()
    with rec.active():
        first = chat_sync(model, MSGS, temperature=0)
        second = chat_sync(model, MSGS, temperature=0)
    assert not first.cache_hit and second.cache_hit
    assert (second.text, second.prompt_tokens, second.model) == \
        (first.text, first.prompt_tokens, "gpt-4o-mini")
    assert len(model.calls) == 1
    assert [c.cache_hit for c in rec.calls] == [False, True]
    # A hit carries the tokens as stored and the cost as computed from them.
    assert rec.calls[1].cost_usd == rec.calls[0].cost_usd and rec.calls[1].cost_usd
    assert rec.calls[1].attempts == 0
    assert runtime_cache().hits == 1


def test_a_hit_keeps_the_cost_paid_and_an_older_entry_is_priced(rw: ModelSettings,
                                                                 cache_file: Path) -> None:
    """The cost is stored with the reply, so a run the cache answers never loads the price
    table; entries written before that are priced from their tokens as before."""
    priced = MockModel("4", model="llama-local", cache=True)  # no price: None, kept as such
    paid = _model()
    rec = CaseRecorder()
    with rec.active():
        for model in (priced, paid, priced, paid):
            chat_sync(model, MSGS)
    assert [c.cache_hit for c in rec.calls] == [False, False, True, True]
    assert rec.calls[2].cost_usd is None and rec.calls[0].cost_usd is None
    assert rec.calls[3].cost_usd == rec.calls[1].cost_usd and rec.calls[1].cost_usd
    # The hit's cost is the one stored with the reply, not priced again.
    key = cache_key("mock", paid.endpoint, "gpt-4o-mini", MSGS, {"seed": 1})
    runtime_cache().put(key, "mock", "gpt-4o-mini", ChatResponse("4", prompt_tokens=1000,
                                                                 model="gpt-4o-mini"), 0.125)
    with rec.active():
        chat_sync(paid, MSGS, seed=1)
    assert rec.calls[-1].cache_hit and rec.calls[-1].cost_usd == 0.125
    # An entry stored as a judgekit without costs wrote it: priced from its tokens on a hit.
    key = cache_key("mock", paid.endpoint, "gpt-4o-mini", MSGS, {"temperature": 0})
    runtime_cache().put(key, "mock", "gpt-4o-mini", ChatResponse("4", prompt_tokens=1000,
                                                                 model="gpt-4o-mini"))
    with sqlite3.connect(cache_file) as db:
        db.execute("UPDATE responses SET response = json_remove(response, '$.cost_usd')"
                   " WHERE key = ?", (key,))
    with rec.active():
        chat_sync(paid, MSGS, temperature=0)
    assert rec.calls[-1].cache_hit and rec.calls[-1].cost_usd == cost_usd(
        "openai", "gpt-4o-mini", 1000, 0)


def test_samples_are_cached_apart(rw: ModelSettings) -> None:
    model = _model()
    for sample in (0, 1, 2, 0, 1, 2):
        chat_sync(model, MSGS, sample=sample)
    assert len(model.calls) == 3


def test_refresh_calls_again_and_overwrites(cache_file: Path) -> None:
    with use_settings(ModelSettings(cache_path=cache_file)):
        chat_sync(_model("old"), MSGS)
    with use_settings(ModelSettings(cache_path=cache_file, cache="refresh")):
        model = _model("new")
        assert chat_sync(model, MSGS).text == "new"
        assert chat_sync(model, MSGS).text == "new" and len(model.calls) == 2
    with use_settings(ModelSettings(cache_path=cache_file)):
        hit = chat_sync(_model("unused"), MSGS)
    assert (hit.text, hit.cache_hit) == ("new", True)


def test_off_neither_reads_nor_writes(cache_file: Path) -> None:
    with use_settings(ModelSettings(cache_path=cache_file, cache="off")):
        model = _model()
        chat_sync(model, MSGS)
        chat_sync(model, MSGS)
    assert len(model.calls) == 2 and not cache_file.exists()


def test_replay_hit_and_miss(cache_file: Path) -> None:
    with use_settings(ModelSettings(cache_path=cache_file)):
        chat_sync(_model(), MSGS)
    with use_settings(ModelSettings(cache_path=cache_file, cache="replay")):
        model = _model()
        assert chat_sync(model, MSGS).cache_hit
        with pytest.raises(CacheMissError) as info:
            chat_sync(model, [{"role": "user", "content": "new question"}])
    assert model.calls == []
    message = str(info.value)
    assert "gpt-4o-mini" in message and str(cache_file) in message
    assert "--cache read-write" in message


def test_replay_without_a_cache_file_fails_and_creates_none(cache_file: Path) -> None:
    with use_settings(ModelSettings(cache_path=cache_file, cache="replay")), \
            pytest.raises(CacheMissError, match=rf"no cache file at .*{cache_file.name}; run once "
                                                r"with --cache read-write"):
        chat_sync(_model(), MSGS)
    assert not cache_file.exists()


def test_mock_is_not_cached_unless_asked(rw: ModelSettings, cache_file: Path) -> None:
    model = MockModel("x")
    chat_sync(model, MSGS)
    chat_sync(model, MSGS)
    assert len(model.calls) == 2
    assert not cache_file.exists()  # nothing cacheable was called: the file is not even made


def test_failures_are_not_cached(rw: ModelSettings) -> None:
    from judgekit.errors import ModelCallError

    model = MockModel([ModelCallError("400 bad request", status=400), "fine"], cache=True)
    with pytest.raises(ModelCallError):
        chat_sync(model, MSGS)
    assert chat_sync(model, MSGS).text == "fine"


def test_concurrent_calls_from_threads_and_tasks(rw: ModelSettings) -> None:
    model = _model()

    async def many() -> None:
        await asyncio.gather(*(chat(model, [{"role": "user", "content": f"q{i}"}])
                               for i in range(40)))

    threads = [threading.Thread(target=lambda: asyncio.run(many())) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    stats = runtime_cache().stats()
    assert stats.entries == 40
    assert stats.hits + stats.misses == 120


def test_lookups_share_a_snapshot_that_never_hides_an_entry_for_long(cache_file: Path) -> None:
    # Two handles, as two processes sharing one cache file.
    with ResponseCache(cache_file, snapshot_s=3600.0) as a, ResponseCache(cache_file) as b:
        assert a.get("k") is None  # a's snapshot is open from here
        b.put("k", "openai", "gpt-4o", ChatResponse(text="from b"))
        # a writes on a snapshot b has moved past: the write ends the snapshot first (inside
        # it SQLite refuses the write), and a then sees b's entry.
        a.put("own", "openai", "gpt-4o", ChatResponse(text="from a"))
        got = a.get("k")
        assert got is not None and got.text == "from b"
        b.put("k2", "openai", "gpt-4o", ChatResponse(text="later"))
        assert a.clear(model="nothing") == 0  # VACUUM-free clear, outside the snapshot too
        a.snapshot_s = 0.01
        assert a.get("k3") is None  # a fresh snapshot, kept for 10 ms
        b.put("k3", "openai", "gpt-4o", ChatResponse(text="new"))
        time.sleep(0.02)
        got = a.get("k3")
        assert got is not None and got.text == "new"
        assert a.clear() == 4  # a full clear VACUUMs, which no transaction may be open for
        # A handle that may sit idle (the default) holds no snapshot: it sees at once.
        with ResponseCache(cache_file) as idle:
            assert idle.get("k4") is None
            b.put("k4", "openai", "gpt-4o", ChatResponse(text="seen"))
            assert idle.get("k4") is not None
    assert ResponseCache(cache_file).stats().entries == 1


def test_only_a_runs_cache_handle_shares_snapshots(cache_file: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    from judgekit.models.calls import reset_runtime

    with use_settings(ModelSettings(cache_path=cache_file)):
        assert runtime_cache().snapshot_s > 0  # closed when the block (the run) ends
    monkeypatch.setenv("JUDGEKIT_CACHE", str(cache_file))
    reset_runtime()
    try:
        assert runtime_cache().snapshot_s == 0  # outside a run a handle may sit idle
    finally:
        reset_runtime()


# -- stats and clear ----------------------------------------------------------------------


def _fill(cache: ResponseCache) -> None:
    for i in range(3):
        cache.put(f"a{i}", "openai", "gpt-4o", ChatResponse(text=f"a{i}"))
    cache.put("b0", "openai", "gpt-4o-mini", ChatResponse(text="b0"))


def test_stats(cache_file: Path) -> None:
    with ResponseCache(cache_file) as cache:
        _fill(cache)
        assert cache.get("a0") is not None and cache.get("zz") is None
        stats = cache.stats()
    assert (stats.entries, stats.hits, stats.misses) == (4, 1, 1)
    assert dict(stats.per_model) == {"gpt-4o": 3, "gpt-4o-mini": 1}
    assert stats.size_bytes > 0 and stats.oldest is not None and stats.newest is not None


def test_clear_all_by_model_and_by_age(cache_file: Path) -> None:
    with ResponseCache(cache_file) as cache:
        _fill(cache)
        assert cache.clear(model="gpt-4o-mini") == 1
        assert cache.clear(older_than_s=3600) == 0  # all are younger than an hour
        cache._db.execute("UPDATE responses SET created_at = created_at - 7200 WHERE key='a0'")
        assert cache.clear(older_than_s=3600) == 1
        assert cache.clear() == 2
        assert cache.stats().entries == 0


def test_a_damaged_file_is_a_config_error_naming_it(cache_file: Path) -> None:
    cache_file.write_bytes(b"this is not a database at all" * 100)
    with pytest.raises(ConfigError, match=rf"{cache_file.name}: cannot use the response cache"):
        ResponseCache(cache_file)
    with use_settings(ModelSettings(cache_path=cache_file)), \
            pytest.raises(ConfigError, match="--cache-file"):
        chat_sync(_model(), MSGS)


def test_a_damaged_entry_is_a_config_error(cache_file: Path) -> None:
    with ResponseCache(cache_file) as cache:
        cache._db.execute("INSERT INTO responses VALUES ('k', 'p', 'm', '{nope', 0)")
        with pytest.raises(ConfigError, match="entry k is damaged"):
            cache.get("k")


def test_another_database_is_refused(tmp_path: Path) -> None:
    other = tmp_path / "judgekit.db"
    with sqlite3.connect(other) as db:
        db.execute("CREATE TABLE runs (id TEXT)")
    with pytest.raises(ConfigError, match="not a judgekit response cache"):
        ResponseCache(other)
    with sqlite3.connect(other) as db:  # and it was left as it was
        assert [r[0] for r in db.execute("SELECT name FROM sqlite_master")] == ["runs"]


# -- judgekit cache stats | clear ---------------------------------------------------------


def _cli(*argv: str) -> int:
    from judgekit.cli.main import main

    return main(list(argv))


def test_cli_stats(cache_file: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert _cli("cache", "stats", "--cache-file", str(cache_file)) == 0
    assert "no response cache at" in capsys.readouterr().out
    assert not cache_file.exists()  # looking does not create it
    with ResponseCache(cache_file) as cache:
        _fill(cache)
    assert _cli("cache", "stats", "--cache-file", str(cache_file)) == 0
    out = capsys.readouterr().out
    assert f"{cache_file}: 4 responses" in out
    assert [line.split() for line in out.splitlines()[1:]] == [["gpt-4o", "3"],
                                                               ["gpt-4o-mini", "1"]]


def test_cli_stats_finds_the_cache_beside_the_store(tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.delenv("JUDGEKIT_CACHE", raising=False)
    with ResponseCache(tmp_path / "runs" / "cache.db") as cache:
        _fill(cache)
    assert _cli("cache", "stats", "--store", str(tmp_path / "runs" / "judgekit.db")) == 0
    assert "4 responses" in capsys.readouterr().out


def test_cli_clear(cache_file: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with ResponseCache(cache_file) as cache:
        _fill(cache)
        cache._db.execute("UPDATE responses SET created_at = created_at - 3 * 86400 "
                          "WHERE key = 'a0'")
    base = ("cache", "clear", "--yes", "--cache-file", str(cache_file))
    assert _cli(*base, "--model", "gpt-4o-mini") == 0
    assert "deleted 1 response from" in capsys.readouterr().out
    assert _cli(*base, "--older-than", "2") == 0
    assert "deleted 1 response" in capsys.readouterr().out
    assert _cli(*base) == 0
    out = capsys.readouterr().out
    assert "deleted 2 responses" in out and "(0 left)" in out
    with ResponseCache(cache_file) as cache:
        assert cache.stats().entries == 0


def test_cli_on_a_damaged_cache_is_a_usage_error(cache_file: Path,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    cache_file.write_text("not sqlite" * 100)
    assert _cli("cache", "stats", "--cache-file", str(cache_file)) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: {cache_file}: cannot use the response cache")
    assert len(err.strip().splitlines()) == 1


def test_clear_asks_when_yes_is_not_given(cache_file: Path, monkeypatch: pytest.MonkeyPatch,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    import argparse
    import io

    from judgekit.cli.cache_cmd import clear

    with ResponseCache(cache_file) as cache:
        _fill(cache)
    args = argparse.Namespace(store=None, cache_file=str(cache_file), model=None,
                              older_than=None, yes=False)
    monkeypatch.setattr("sys.stdin", io.StringIO("n\n"))
    with pytest.raises(ConfigError, match="needs --yes when not run from a terminal"):
        clear(args)

    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    monkeypatch.setattr("sys.stdin", Terminal("n\n"))
    assert clear(args) == 0 and "nothing deleted" in capsys.readouterr().out
    monkeypatch.setattr("sys.stdin", Terminal("y\n"))
    assert clear(args) == 0 and "deleted 4 responses" in capsys.readouterr().out


def test_cli_clear_asks_before_deleting_when_not_on_a_terminal(tmp_path: Path) -> None:
    cache_file = tmp_path / "cache.db"
    with ResponseCache(cache_file) as cache:
        _fill(cache)
    assert _cli("cache", "clear", "--cache-file", str(cache_file)) == 2
    with ResponseCache(cache_file) as cache:
        assert cache.stats().entries == 4  # nothing deleted without --yes
