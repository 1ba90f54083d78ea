"""The local LangSmith server, driven by the real ``langsmith.Client`` over HTTP.

These tests pin down what other LangSmith tests rely on: the SDK's own calls succeed against
the server, and what the server records (``srv.runs``, ``srv.feedback``, ...) has the shape
and linkage LangSmith would show.
"""

from __future__ import annotations

import datetime as dt
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from langsmith_server import LangSmithServer

langsmith = pytest.importorskip("langsmith")
ls_utils = pytest.importorskip("langsmith.utils")
from urllib3.util import Retry  # noqa: E402  (after the importorskip of langsmith)

#: The SDK's background threads: one drains the tracing queue, one the zstd buffer.
_SDK_THREADS = ("tracing_control_thread_func", "tracing_control_thread_func_compress_parallel")


def _sdk_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if any(n in t.name for n in _SDK_THREADS)]


#: Retries as the SDK's default (every status it retries), without the backoff sleeps.
FAST_RETRY = Retry(total=3, status_forcelist=[429, 500, 502, 503, 504, 408, 425],
                   backoff_factor=0, allowed_methods=None, raise_on_status=False,
                   respect_retry_after_header=True)

ClientFactory = Callable[..., Any]


@pytest.fixture
def make_client(langsmith_env: LangSmithServer) -> Iterator[ClientFactory]:
    """Build ``langsmith.Client``s for the server; flushed and cleaned up after the test, and
    their background threads must be gone by then (no leak into the next test)."""
    before = set(_sdk_threads())
    clients: list[Any] = []

    def make(**kwargs: Any) -> Any:
        kwargs.setdefault("api_url", langsmith_env.url)
        kwargs.setdefault("api_key", langsmith_env.api_key)
        kwargs.setdefault("retry_config", FAST_RETRY)
        client = langsmith.Client(**kwargs)
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.close()  # flushes, stops the background threads, closes the session
    clients.clear()
    deadline = time.monotonic() + 5
    while set(_sdk_threads()) - before and time.monotonic() < deadline:
        time.sleep(0.01)
    leaked = set(_sdk_threads()) - before
    assert not leaked, f"langsmith background threads still running: {leaked}"


def _stamp(when: dt.datetime) -> str:
    return when.strftime("%Y%m%dT%H%M%S%fZ")


def _trace(client: Any, project: str, *, example_id: Any = None, via: str = "create_run"
           ) -> tuple[uuid.UUID, uuid.UUID]:
    """A root chain run with one child llm run carrying token usage; returns their ids."""
    root, child = uuid.uuid4(), uuid.uuid4()
    start = dt.datetime(2024, 5, 1, 12, 0, 0, tzinfo=dt.timezone.utc)
    end = start + dt.timedelta(seconds=2)
    root_order = f"{_stamp(start)}{root}"
    child_order = f"{root_order}.{_stamp(start + dt.timedelta(milliseconds=5))}{child}"
    usage = {"input_tokens": 12, "output_tokens": 5, "total_tokens": 17,
             "input_token_details": {"cache_read": 2}}
    llm_extra = {"metadata": {"ls_provider": "openai", "ls_model_name": "gpt-4o-mini",
                              "ls_model_type": "chat"}}
    root_post = {"id": root, "name": "target", "run_type": "chain", "inputs": {"q": "2+2"},
                 "trace_id": root, "dotted_order": root_order, "start_time": start,
                 "session_name": project, "reference_example_id": example_id}
    child_post = {"id": child, "name": "ChatOpenAI", "run_type": "llm",
                  "inputs": {"messages": [{"role": "user", "content": "2+2"}]},
                  "trace_id": root, "dotted_order": child_order, "parent_run_id": root,
                  "start_time": start, "session_name": project, "extra": llm_extra}
    child_patch = {"id": child, "trace_id": root, "dotted_order": child_order,
                   "parent_run_id": root, "end_time": end,
                   "outputs": {"content": "4", "usage_metadata": usage}}
    root_patch = {"id": root, "trace_id": root, "dotted_order": root_order, "end_time": end,
                  "outputs": {"answer": "4"}}
    if via == "create_run":
        for post in (root_post, child_post):
            fields = {k: v for k, v in post.items() if k not in ("name", "inputs", "run_type")}
            client.create_run(post["name"], post["inputs"], post["run_type"], **fields)
        for patch in (child_patch, root_patch):
            fields = {k: v for k, v in patch.items() if k != "id"}
            client.update_run(patch["id"], **fields)
    else:
        # Finished runs go in one piece: batch_ingest_runs gives an update its own ``extra``
        # (runtime info), and the SDK's merge of a post with its update then *replaces* the
        # post's extra, dropping ls_model_name and the rest of its metadata.
        complete = [{**root_post, **root_patch}, {**child_post, **child_patch}]
        getattr(client, via)(create=complete)
    client.flush()
    return root, child


# --- /info, auth, errors ----------------------------------------------------------------------


def test_info_needs_no_key_and_advertises_ingest(make_client: ClientFactory) -> None:
    info = make_client(api_key="not-the-key").info
    assert info.batch_ingest_config["use_multipart_endpoint"] is True
    assert info.instance_flags["zstd_compression_enabled"] is True
    assert info.instance_flags["dataset_examples_multipart_enabled"] is True


def test_wrong_key_is_an_auth_error(make_client: ClientFactory,
                                    langsmith_env: LangSmithServer) -> None:
    client = make_client(api_key="wrong")
    with pytest.raises(ls_utils.LangSmithAuthError, match="Invalid token"):
        client.create_dataset("qa")
    assert langsmith_env.datasets == {}
    assert ("POST", "/datasets", 401) in langsmith_env.requests



def test_every_request_is_recorded_in_full_but_the_key_header(
        make_client: ClientFactory, langsmith_env: LangSmithServer) -> None:
    client = make_client()
    langsmith_env.fail("POST", "/datasets", 500, times=1)
    ds = client.create_dataset("qa", description="marker-in-body")
    client.create_examples(dataset_id=ds.id, examples=[{"inputs": {"q": "multipart-marker"}}])
    _trace(client, "exp", via="multipart_ingest")  # runs as multipart parts
    list(client.list_examples(dataset_id=ds.id, metadata={"q": "query-marker"}))
    posts = [r for r in langsmith_env.received if (r.method, r.path) == ("POST", "/datasets")]
    assert len(posts) == 2  # the failed try too
    sent = langsmith_env.sent_as_data()
    for marker in ("marker-in-body", "multipart-marker", "query-marker", "ChatOpenAI",
                   "gpt-4o-mini"):
        assert marker in sent, marker
    assert posts[0].headers["x-api-key"] == langsmith_env.api_key
    assert langsmith_env.api_key not in sent

def test_unknown_ids_are_404(make_client: ClientFactory) -> None:
    client = make_client()
    with pytest.raises(ls_utils.LangSmithNotFoundError):
        client.read_dataset(dataset_id=uuid.uuid4())
    with pytest.raises(ls_utils.LangSmithNotFoundError):
        client.read_dataset(dataset_name="nope")
    with pytest.raises(ls_utils.LangSmithNotFoundError):
        client.read_project(project_name="nope")


@pytest.mark.parametrize("status", [500, 503, 429])
def test_a_transient_fault_is_retried_by_the_sdk(status: int, make_client: ClientFactory,
                                                 langsmith_env: LangSmithServer) -> None:
    client = make_client()
    langsmith_env.fail("POST", "/datasets", status, times=1, retry_after=0)
    ds = client.create_dataset("qa")
    assert str(ds.id) in langsmith_env.datasets
    assert [s for m, p, s in langsmith_env.requests if (m, p) == ("POST", "/datasets")] == [
        status, 200]


@pytest.mark.parametrize(("status", "error"), [(500, "LangSmithAPIError"),
                                               (429, "LangSmithRateLimitError"),
                                               (503, "LangSmithError")])
def test_a_lasting_fault_surfaces_as_the_sdk_error(status: int, error: str,
                                                   make_client: ClientFactory,
                                                   langsmith_env: LangSmithServer) -> None:
    client = make_client()
    langsmith_env.fail("POST", "/datasets", status, times=100, retry_after=0)
    with pytest.raises(getattr(ls_utils, error)):
        client.create_dataset("qa")
    assert langsmith_env.datasets == {}
    assert langsmith_env.count("POST", "/datasets") == 4  # urllib3: 1 try + 3 retries


def test_a_failed_background_send_reaches_the_error_callback(
        make_client: ClientFactory, langsmith_env: LangSmithServer) -> None:
    errors: list[Exception] = []
    client = make_client(tracing_error_callback=errors.append)
    langsmith_env.fail("POST", "/runs/multipart", 500, times=100)
    _trace(client, "exp", via="multipart_ingest")
    assert langsmith_env.runs == {}
    assert errors and isinstance(errors[0], ls_utils.LangSmithAPIError)


# --- datasets and examples --------------------------------------------------------------------


@pytest.mark.parametrize("examples_multipart", [True, False], ids=["multipart", "bulk"])
def test_datasets_and_examples_round_trip(examples_multipart: bool, make_client: ClientFactory,
                                          langsmith_env: LangSmithServer) -> None:
    langsmith_env.examples_multipart = examples_multipart
    client = make_client()
    ds = client.create_dataset("qa", description="two questions", metadata={"suite": "s"})
    ids = [uuid.uuid4(), uuid.uuid4()]
    client.create_examples(dataset_id=ds.id, examples=[
        {"id": ids[0], "inputs": {"q": "2+2"}, "reference_outputs": {"answer": "4"},
         "metadata": {"judgekit_id": "a"}, "split": "test"},
        {"id": ids[1], "inputs": {"q": "3+3"}, "reference_outputs": {"answer": "6"}},
    ])
    single = client.create_example(inputs={"q": "1+1"}, dataset_id=ds.id,
                                   reference_outputs={"answer": "2"}, example_id=uuid.uuid4())

    examples = list(client.list_examples(dataset_name="qa"))
    assert [e.id for e in examples] == [*ids, single.id]  # client ids kept, in upload order
    assert examples[0].inputs == {"q": "2+2"}
    assert examples[0].outputs == {"answer": "4"}
    assert examples[0].metadata == {"judgekit_id": "a", "dataset_split": ["test"]}
    assert [e.id for e in client.list_examples(dataset_id=ds.id, splits=["test"])] == [ids[0]]
    assert [e.id for e in client.list_examples(dataset_id=ds.id, limit=1, offset=1)] == [ids[1]]
    assert client.read_example(ids[1]).outputs == {"answer": "6"}

    stored = langsmith_env.datasets[str(ds.id)]
    assert stored["name"] == "qa" and stored["metadata"]["suite"] == "s"
    assert client.read_dataset(dataset_name="qa").example_count == 3
    assert {str(e) for e in ids} <= set(langsmith_env.examples)
    with pytest.raises(ls_utils.LangSmithConflictError):
        client.create_dataset("qa")
    assert [d.name for d in client.list_datasets(dataset_name_contains="q")] == ["qa"]


def test_dataset_versions_as_of_and_deletes(make_client: ClientFactory,
                                            langsmith_env: LangSmithServer) -> None:
    client = make_client()
    ds = client.create_dataset("qa")
    ex = client.create_example(inputs={"q": "2+2"}, dataset_id=ds.id,
                               reference_outputs={"answer": "four"})
    v1 = client.read_dataset(dataset_id=ds.id).modified_at
    client.update_dataset_tag(dataset_id=ds.id, as_of=v1, tag="prod")
    client.update_example(ex.id, outputs={"answer": "4"})
    client.create_example(inputs={"q": "3+3"}, dataset_id=ds.id)
    v3 = client.read_dataset(dataset_id=ds.id).modified_at
    assert v3 > v1

    versions = list(client.list_dataset_versions(dataset_id=ds.id))
    assert (versions[0].as_of, versions[-1].as_of) == (v3, v1)  # newest first
    assert versions[-1].tags == ["prod"]
    assert client.read_dataset_version(dataset_id=ds.id, tag="prod").as_of == v1
    old = list(client.list_examples(dataset_id=ds.id, as_of="prod"))
    assert [(e.id, e.outputs) for e in old] == [(ex.id, {"answer": "four"})]
    assert len(list(client.list_examples(dataset_id=ds.id, as_of=v1))) == 1
    assert len(list(client.list_examples(dataset_id=ds.id))) == 2
    assert client.read_example(ex.id).outputs == {"answer": "4"}

    client.delete_examples([ex.id])
    assert [e.inputs for e in client.list_examples(dataset_id=ds.id)] == [{"q": "3+3"}]
    assert len(list(client.list_examples(dataset_id=ds.id, as_of="prod"))) == 1  # history kept
    with pytest.raises(ls_utils.LangSmithNotFoundError):
        client.delete_examples([ex.id])
    other = client.create_example(inputs={"q": "x"}, dataset_id=ds.id)
    client.delete_examples([other.id], hard_delete=True)
    assert str(other.id) not in langsmith_env.examples


# --- projects, runs, feedback -----------------------------------------------------------------


def test_project_linked_to_dataset(make_client: ClientFactory,
                                   langsmith_env: LangSmithServer) -> None:
    client = make_client()
    ds = client.create_dataset("qa")
    project = client.create_project("qa-exp-1", reference_dataset_id=ds.id,
                                    metadata={"suite": "s", "variant": "a"})
    client.create_project("unrelated")
    linked = list(client.list_projects(reference_dataset_id=ds.id))
    assert [p.id for p in linked] == [project.id]
    assert linked[0].extra == {"metadata": {"suite": "s", "variant": "a"}}
    assert client.read_project(project_name="qa-exp-1").reference_dataset_id == ds.id
    end = dt.datetime(2024, 5, 1, tzinfo=dt.timezone.utc)
    client.update_project(project.id, end_time=end)
    assert langsmith_env.sessions[str(project.id)]["end_time"].startswith("2024-05-01")
    assert langsmith_env.experiments(str(ds.id)) == [langsmith_env.sessions[str(project.id)]]
    with pytest.raises(ls_utils.LangSmithConflictError):
        client.create_project("qa-exp-1")
    assert client.create_project("qa-exp-1", upsert=True).id == project.id


_MODES = {
    "multipart+zstd": {},
    "multipart": {"zstd": False},
    "batch": {"multipart": False, "zstd": False},
}


@pytest.mark.filterwarnings("ignore:(read_run|list_runs)\\(\\) is deprecated")
@pytest.mark.parametrize("mode", list(_MODES))
@pytest.mark.parametrize("via", ["create_run", "batch_ingest_runs", "multipart_ingest"])
def test_runs_keep_their_linkage_and_usage(mode: str, via: str, make_client: ClientFactory,
                                           langsmith_env: LangSmithServer) -> None:
    for name, value in _MODES[mode].items():
        setattr(langsmith_env, name, value)
    client = make_client()
    ds = client.create_dataset("qa")
    ex = client.create_example(inputs={"q": "2+2"}, dataset_id=ds.id)
    project = client.create_project("qa-exp", reference_dataset_id=ds.id)
    root, child = _trace(client, "qa-exp", example_id=ex.id, via=via)

    runs = langsmith_env.runs
    assert set(runs) == {str(root), str(child)}
    r, c = runs[str(root)], runs[str(child)]
    assert r["parent_run_id"] is None and c["parent_run_id"] == str(root)
    assert r["trace_id"] == c["trace_id"] == str(root)
    assert r["reference_example_id"] == str(ex.id)
    assert r["session_id"] == c["session_id"] == str(project.id)
    assert r["inputs"] == {"q": "2+2"} and r["outputs"] == {"answer": "4"}
    assert r["status"] == c["status"] == "success"
    assert r["start_time"].startswith("2024-05-01T12:00:00")
    assert r["end_time"].startswith("2024-05-01T12:00:02")
    assert c["outputs"]["usage_metadata"]["total_tokens"] == 17
    assert (c["prompt_tokens"], c["completion_tokens"], c["total_tokens"]) == (12, 5, 17)
    assert c["extra"]["metadata"]["ls_model_name"] == "gpt-4o-mini"
    assert langsmith_env.children(str(root)) == [c]
    if mode == "multipart+zstd" and via == "create_run":
        assert ("/runs/multipart", "zstd") in langsmith_env.compressed

    read = client.read_run(child)
    assert read.parent_run_id == root and read.total_tokens == 17
    listed = list(client.list_runs(project_id=project.id, is_root=True))
    assert [run.id for run in listed] == [root]


def test_a_run_sent_twice_stays_one_run(make_client: ClientFactory,
                                        langsmith_env: LangSmithServer) -> None:
    client = make_client()
    root, _ = _trace(client, "exp", via="multipart_ingest")
    first = {k: dict(v) for k, v in langsmith_env.runs.items()}
    again = {"id": root, "trace_id": root, "name": "target", "run_type": "chain",
                    "dotted_order": langsmith_env.runs[str(root)]["dotted_order"],
                    "inputs": {"q": "2+2"}, "session_name": "exp"}
    client.multipart_ingest(create=[again])
    client.batch_ingest_runs(create=[again])
    client.flush()
    assert set(langsmith_env.runs) == set(first)
    assert langsmith_env.runs[str(root)]["outputs"] == {"answer": "4"}  # merged, not reset


def test_feedback_create_list_and_duplicates(make_client: ClientFactory,
                                             langsmith_env: LangSmithServer) -> None:
    client = make_client()
    project = client.create_project("exp")
    root, child = _trace(client, "exp", via="multipart_ingest")
    fid = uuid.uuid4()
    client.create_feedback(run_id=root, session_id=project.id, key="correctness", score=1.0,
                           value="right", comment="matches the reference",
                           source_run_id=child, feedback_id=fid,
                           feedback_source_type="model", extend_trace_retention=False)
    # With trace_id the SDK batches feedback into /runs/multipart instead of POST /feedback.
    client.create_feedback(run_id=root, trace_id=root, session_id=project.id, key="concise",
                           comment="not scored: the judge failed")
    client.create_feedback(project_id=project.id, key="mean_correctness", score=0.5)
    client.flush()

    stored = langsmith_env.feedback[str(fid)]
    assert stored["run_id"] == str(root) and stored["source_run_id"] == str(child)
    assert (stored["key"], stored["score"], stored["value"]) == ("correctness", 1.0, "right")
    assert stored["feedback_source"]["type"] == "model"
    assert {f["key"] for f in langsmith_env.feedback.values()} == {
        "correctness", "concise", "mean_correctness"}
    unscored = next(f for f in langsmith_env.feedback.values() if f["key"] == "concise")
    assert unscored.get("score") is None and unscored["comment"].startswith("not scored")
    summary = next(f for f in langsmith_env.feedback.values() if f["run_id"] is None)
    assert summary["session_id"] == str(project.id)

    listed = list(client.list_feedback(run_ids=[root]))
    assert sorted(f.key for f in listed) == ["concise", "correctness"]
    assert [f.key for f in client.list_feedback(run_ids=[root], feedback_key=["concise"])] == [
        "concise"]
    assert client.read_feedback(fid).comment == "matches the reference"
    with pytest.raises(ls_utils.LangSmithConflictError):
        client.create_feedback(run_id=root, session_id=project.id, key="correctness",
                               score=1.0, feedback_id=fid, extend_trace_retention=False)
