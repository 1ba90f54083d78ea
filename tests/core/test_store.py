"""The SQLite result store (DESIGN §8): schema version, WAL, foreign files, atomic cases."""

from __future__ import annotations

import sqlite3
from contextlib import closing
from dataclasses import replace
from pathlib import Path

import pytest

from judgekit.errors import StoreError
from judgekit.store import DEFAULT_STORE, MIGRATIONS, SCHEMA_VERSION, Store
from judgekit.types import CallRecord, CaseResult, Example, Score


def pragma(path: Path, name: str) -> object:
    with closing(sqlite3.connect(path)) as db:
        return db.execute(f"PRAGMA {name}").fetchone()[0]


def test_new_store_has_the_schema_version_and_wal(tmp_path: Path) -> None:
    path = tmp_path / "deep" / "er" / "j.db"  # missing folders are created
    with Store(path) as store:
        assert store.db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        tables = {r[0] for r in store.db.execute(
            "SELECT name FROM sqlite_master WHERE type='table'")}
    assert {"runs", "experiments", "examples", "cases", "scores", "calls"} <= tables
    assert max(MIGRATIONS) == SCHEMA_VERSION
    assert pragma(path, "user_version") == SCHEMA_VERSION
    assert pragma(path, "journal_mode") == "wal"  # persistent: any reader sees WAL


def test_reopening_keeps_data_and_does_not_migrate_again(tmp_path: Path) -> None:
    path = tmp_path / "j.db"
    with Store(path) as store:
        run_id = store.create_run("test_x", "suite.py", {"repeat": 1}, "0.1.0")
    with Store(path) as store:
        (run,) = store.list_runs()
        assert (run.id, run.suite, run.path, run.status, dict(run.config)) == (
            run_id, "test_x", "suite.py", "running", {"repeat": 1})
    assert pragma(path, "user_version") == SCHEMA_VERSION


def test_a_version_1_store_is_migrated_in_place_and_keeps_its_calls(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    with closing(sqlite3.connect(path)) as db:  # a store as judgekit 0.1 left it
        db.executescript(MIGRATIONS[1] + "; PRAGMA user_version=1;")
        db.execute("INSERT INTO runs(id, suite, status, created_at) VALUES ('r1','s','complete',1)")
        db.execute("INSERT INTO experiments(id, run_id, position, variant, variant_label,"
                   " dataset_name, dataset_version, n_examples, repeat, evaluators, created_at)"
                   " VALUES ('r1-1','r1',0,'{}','base','d','v',1,1,'[]',1)")
        db.execute("INSERT INTO cases(id, experiment_id, example_id, repetition, outputs,"
                   " latency_s, passed) VALUES (1,'r1-1','e1',0,'1',0.5,1)")
        db.execute("INSERT INTO calls(case_id, experiment_id, role, provider, model, request,"
                   " response_text, prompt_tokens, completion_tokens, cached_tokens,"
                   " latency_s, attempts, cache_hit) VALUES"
                   " (1,'r1-1','target','openai','gpt-4o','{}','hi',3,1,0,0.2,1,0)")
        db.commit()
    with Store(path) as store:
        (case,) = store.iter_cases("r1-1")
    (call,) = case.calls
    assert (call.model, call.response_text, call.started_at) == ("gpt-4o", "hi", 0.0)
    assert pragma(path, "user_version") == SCHEMA_VERSION


def test_store_from_a_newer_judgekit_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "future.db"
    with closing(sqlite3.connect(path)) as db:
        db.execute(f"PRAGMA user_version={SCHEMA_VERSION + 1}")
    with pytest.raises(StoreError) as info:
        Store(path)
    assert str(info.value) == (
        f"{path}: written by a newer judgekit (schema {SCHEMA_VERSION + 1}, this one reads up to "
        f"{SCHEMA_VERSION}); upgrade judgekit or use another --store")
    assert pragma(path, "user_version") == SCHEMA_VERSION + 1  # left alone


@pytest.mark.parametrize("content", [b"name,score\nalice,1\n" * 10, bytes(range(256)) * 20])
def test_a_file_that_is_not_sqlite_is_refused_and_left_untouched(tmp_path: Path,
                                                                 content: bytes) -> None:
    path = tmp_path / "results.db"
    path.write_bytes(content)
    with pytest.raises(StoreError) as info:
        Store(path)
    assert str(info.value) == (
        f"{path}: cannot open the result store (file is not a database); point --store or "
        "JUDGEKIT_STORE at another file, or move this one aside")
    assert path.read_bytes() == content
    assert not Path(f"{path}-wal").exists()


def test_a_directory_is_refused(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match=r"cannot open the result store \(unable to open"):
        Store(tmp_path)


def test_default_path_and_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("JUDGEKIT_STORE")
    with Store() as store:
        assert store.path == DEFAULT_STORE == Path(".judgekit") / "judgekit.db"
    assert (tmp_path / ".judgekit" / "judgekit.db").is_file()
    monkeypatch.setenv("JUDGEKIT_STORE", str(tmp_path / "env.db"))
    with Store() as store:
        assert store.path == tmp_path / "env.db"


def test_run_ids_by_prefix_and_experiment_id(store: Store) -> None:
    run_id = store.create_run("test_x", None, {}, "0.1.0")
    exp_id = store.create_experiment(run_id, 0, {"model": "m"}, "m", "qa", "v1", 2, 1,
                                     [{"name": "exact"}], None)
    assert exp_id == f"{run_id}-1"
    assert store.get_run(run_id[:4]).id == run_id
    assert store.get_run(exp_id).id == run_id
    assert [e.id for e in store.experiments(run_id)] == [exp_id]
    with pytest.raises(StoreError, match=f"^no run 'zzzz' in {store.path}; `judgekit runs` "):
        store.get_run("zzzz")


def test_a_case_is_written_whole_or_not_at_all(store: Store) -> None:
    run_id = store.create_run("test_x", None, {}, "0.1.0")
    exp_id = store.create_experiment(run_id, 0, {}, "default", "qa", "v1", 2, 1, [], None)
    good = CaseResult(example_id="a", variant={}, repetition=0, outputs={"x": 1}, error=None,
                      latency_s=0.5, scores=(Score(key="k", score=1.0, comment="fine"),))
    store.write_case(exp_id, good)
    # The call row violates NOT NULL after the case and score rows went in: all roll back.
    broken = CaseResult(
        example_id="b", variant={}, repetition=0, outputs="y", error=None, latency_s=0.1,
        scores=(Score(key="k", score=0.0),),
        calls=(CallRecord(role="target", provider="p", model="m", request={},
                          response_text="y", prompt_tokens=None),),  # type: ignore[arg-type]
    )
    with pytest.raises(sqlite3.IntegrityError):
        store.write_case(exp_id, broken)
    assert store.finished_cases(exp_id) == {("a", 0)}
    assert store.db.execute("SELECT COUNT(*) FROM scores").fetchone()[0] == 1
    (case,) = store.iter_cases(exp_id)
    assert (case.example_id, case.outputs, case.latency_s) == ("a", {"x": 1}, 0.5)
    assert [(s.key, s.score, s.passed, s.comment) for s in case.scores] == [
        ("k", 1.0, True, "fine")]
    # A second write of the same case is refused rather than duplicated.
    with pytest.raises(sqlite3.IntegrityError):
        store.write_case(exp_id, good)
    assert store.db.execute("SELECT COUNT(*) FROM cases").fetchone()[0] == 1
    # Several cases written together (the runner's batches): all of them or none.
    c = CaseResult(example_id="c", variant={}, repetition=0, outputs="z", error=None,
                   latency_s=0.2, scores=(Score(key="k", score=1.0),))
    with pytest.raises(sqlite3.IntegrityError):
        store.write_cases([(exp_id, c), (exp_id, broken)])
    assert store.finished_cases(exp_id) == {("a", 0)}
    store.write_cases([(exp_id, c), (exp_id, replace(good, example_id="d"))])
    assert store.finished_cases(exp_id) == {("a", 0), ("c", 0), ("d", 0)}


def test_examples_are_stored_once_per_dataset_version(store: Store) -> None:
    examples = [Example(id="a", inputs={"q": 1}, reference=2, metadata={"m": 1}),
                Example(id="b", inputs={"q": 3})]
    store.save_examples("v1", examples)
    store.save_examples("v1", examples)
    assert store.examples("v1") == examples
    assert store.db.execute("SELECT COUNT(*) FROM examples").fetchone()[0] == 2


def _judge_call(system: object, user: str, **extra: object) -> CallRecord:
    return CallRecord(role="judge", provider="openai", model="gpt-4o-mini", score_key="cot_qa",
                      request={"messages": [{"role": "system", "content": system, **extra},
                                            {"role": "user", "content": user}],
                               "params": {"temperature": 0.0}, "sample": 0},
                      response_text="GRADE: CORRECT", prompt_tokens=10, completion_tokens=2)


def _case(example_id: str, *calls: CallRecord) -> CaseResult:
    return CaseResult(example_id=example_id, variant={}, repetition=0, outputs="x", error=None,
                      latency_s=0.1, calls=calls)


def test_a_system_prompt_is_stored_once_and_read_back_whole(store: Store) -> None:
    run_id = store.create_run("test_x", None, {}, "0.1.0")
    exp_id = store.create_experiment(run_id, 0, {}, "default", "qa", "v1", 3, 1, [], None)
    grader, rubric = "You grade answers.\n" * 50, "You check a rubric.\n" * 40
    parts = [{"type": "text", "text": "multimodal system content stays inline"}]
    cases = [
        _case("a", _judge_call(grader, "Q: a"), _judge_call(rubric, "Q: a")),
        _case("b", _judge_call(grader, "Q: b"), _judge_call(rubric, "Q: b", name="strict")),
        _case("c", _judge_call(parts, "Q: c")),
    ]
    store.write_cases([(exp_id, c) for c in cases])
    store.write_case(exp_id, _case("d", _judge_call(grader, "Q: d")))  # a later transaction
    texts = store.db.execute("SELECT text FROM texts ORDER BY id").fetchall()
    assert texts == [(grader,), (rubric,)]
    raw = [r[0] for r in store.db.execute("SELECT request FROM calls ORDER BY id")]
    assert all(grader not in r and rubric not in r for r in raw)
    assert "multimodal system content stays inline" in raw[4]
    read = {c.example_id: c for c in store.iter_cases(exp_id)}
    for case in [*cases, _case("d", _judge_call(grader, "Q: d"))]:
        assert [c.request for c in read[case.example_id].calls] == [
            c.request for c in case.calls]
    # Another handle on the same file (another process) reuses the stored texts.
    with Store(store.path) as other:
        other.write_case(exp_id, _case("e", _judge_call(rubric, "Q: e")))
    assert store.db.execute("SELECT COUNT(*) FROM texts").fetchone()[0] == 2
    (e,) = [c for c in store.iter_cases(exp_id) if c.example_id == "e"]
    assert e.calls[0].request["messages"][0]["content"] == rubric


def test_a_rolled_back_write_leaves_no_text_behind_nor_a_stale_id(store: Store) -> None:
    run_id = store.create_run("test_x", None, {}, "0.1.0")
    exp_id = store.create_experiment(run_id, 0, {}, "default", "qa", "v1", 2, 1, [], None)
    broken = replace(_judge_call("A new system prompt.", "Q"),
                     prompt_tokens=None)  # type: ignore[arg-type]
    with pytest.raises(sqlite3.IntegrityError):
        store.write_case(exp_id, _case("a", broken))
    assert store.db.execute("SELECT COUNT(*) FROM texts").fetchone()[0] == 0
    # The handle forgets the id it was given inside the rolled-back transaction (SQLite
    # hands that id to the next new text).
    store.write_case(exp_id, _case("b", _judge_call("Another prompt.", "Q")))
    store.write_case(exp_id, _case("c", _judge_call("A new system prompt.", "Q")))
    read = {c.example_id: c.calls[0].request["messages"][0]["content"]
            for c in store.iter_cases(exp_id)}
    assert read == {"b": "Another prompt.", "c": "A new system prompt."}


def test_a_version_2_store_keeps_its_inline_system_prompts(tmp_path: Path) -> None:
    path = tmp_path / "v2.db"
    request = ('{"messages": [{"role": "system", "content": "Old inline prompt."},'
               ' {"role": "user", "content": "Q"}], "params": {}, "sample": 0}')
    with closing(sqlite3.connect(path)) as db:
        db.executescript(MIGRATIONS[1] + ";" + MIGRATIONS[2] + "; PRAGMA user_version=2;")
        db.execute("INSERT INTO runs(id, suite, status, created_at) VALUES ('r1','s','complete',1)")
        db.execute("INSERT INTO experiments(id, run_id, position, variant, variant_label,"
                   " dataset_name, dataset_version, n_examples, repeat, evaluators, created_at)"
                   " VALUES ('r1-1','r1',0,'{}','base','d','v',2,1,'[]',1)")
        db.execute("INSERT INTO cases(id, experiment_id, example_id, repetition, outputs,"
                   " latency_s, passed) VALUES (1,'r1-1','e1',0,'1',0.5,1)")
        db.execute("INSERT INTO calls(case_id, experiment_id, role, provider, model, request,"
                   " response_text, prompt_tokens, completion_tokens, cached_tokens,"
                   " latency_s, attempts, cache_hit) VALUES"
                   " (1,'r1-1','judge','openai','gpt-4o',?,'hi',3,1,0,0.2,1,0)", (request,))
        db.commit()
    with Store(path) as store:
        store.write_case("r1-1", _case("e2", _judge_call("Old inline prompt.", "Q2")))
        cases = {c.example_id: c for c in store.iter_cases("r1-1")}
        assert store.db.execute("SELECT COUNT(*) FROM texts").fetchone()[0] == 1
    assert pragma(path, "user_version") == SCHEMA_VERSION
    for example_id in ("e1", "e2"):
        (call,) = cases[example_id].calls
        assert call.request["messages"][0] == {"role": "system", "content": "Old inline prompt."}


def test_a_migration_that_fails_is_rolled_back_and_named(tmp_path: Path) -> None:
    path = tmp_path / "clash.db"
    with closing(sqlite3.connect(path)) as db:  # a v2 store that already has a "texts" table
        db.executescript(MIGRATIONS[1] + ";" + MIGRATIONS[2] +
                         "; CREATE TABLE texts (x); PRAGMA user_version=2;")
    with pytest.raises(StoreError, match=r"clash\.db: cannot open the result store"):
        Store(path)
    assert pragma(path, "user_version") == 2  # left as it was
