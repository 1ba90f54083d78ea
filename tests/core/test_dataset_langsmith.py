"""``dataset.langsmith(...)``: a LangSmith dataset read through the SDK, cached by version.

Against the local LangSmith server (tests/langsmith_server.py) over real HTTP: the mapping to
judgekit examples, laziness, the per-version cache (counted at the server), offline use of the
cache, and the errors a user can cause.
"""

from __future__ import annotations

import datetime as dt
import importlib
import json
import socket
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from langsmith_server import LangSmithServer

from judgekit import dataset, evaluate
from judgekit.errors import DatasetError

# The module itself, whose offline warnings are shown once (``_warned``).
dataset_module = importlib.import_module("judgekit.dataset_langsmith")

langsmith = pytest.importorskip("langsmith")



def example_reads(srv: LangSmithServer) -> int:
    """Requests to ``GET /examples``, the route that lists examples (a cache hit never does)."""
    return sum(1 for method, path, _ in srv.requests if (method, path) == ("GET", "/examples"))


@pytest.fixture(autouse=True)
def _fresh_warnings(monkeypatch: pytest.MonkeyPatch) -> None:
    # Offline warnings are shown once per process: each test starts with none shown yet.
    monkeypatch.setattr(dataset_module, "_warned", set())


@pytest.fixture
def client(langsmith_env: LangSmithServer) -> Iterator[Any]:
    """A client that seeds the server (reads only; no background tracing thread)."""
    c = langsmith.Client(api_url=langsmith_env.url, api_key=langsmith_env.api_key,
                         auto_batch_tracing=False)
    yield c
    c.close()


@pytest.fixture
def qa(client: Any) -> Any:
    """A LangSmith dataset "qa" with three examples, as a user (or judgekit sync) made them."""
    ds = client.create_dataset("qa")
    client.create_examples(dataset_id=ds.id, examples=[
        {"id": uuid.UUID(int=1), "inputs": {"question": "2+2?"},
         "reference_outputs": {"answer": "4"}, "metadata": {"source": "manual"},
         "split": "test"},
        # How judgekit sync uploads a non-dict reference "6":
        {"id": uuid.UUID(int=2), "inputs": {"question": "3+3?"},
         "reference_outputs": {"output": "6"},
         "metadata": {"judgekit_id": "q2", "judgekit_reference_key": "output"}},
        {"id": uuid.UUID(int=3), "inputs": {"question": "hello?"}},
    ])
    return ds


def closed_url() -> str:
    """An endpoint on 127.0.0.1 where nothing listens (connection refused at once)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"


def test_examples_keep_langsmith_ids_inputs_reference_and_metadata(
        qa: Any, langsmith_env: LangSmithServer) -> None:
    ds = dataset.langsmith("qa")
    assert (ds.name, ds.source) == ("qa", "langsmith:qa")
    examples = list(ds)
    assert [e.id for e in examples] == [str(uuid.UUID(int=i)) for i in (1, 2, 3)]
    assert [dict(e.inputs) for e in examples] == [
        {"question": "2+2?"}, {"question": "3+3?"}, {"question": "hello?"}]
    # A dict stays a dict (like "outputs" in a JSONL row); judgekit's own wrapping is undone;
    # no outputs is no reference.
    assert [e.reference for e in examples] == [{"answer": "4"}, "6", None]
    first = examples[0].metadata
    assert first["source"] == "manual" and first["dataset_split"] == ["test"]
    assert first["langsmith_example_id"] == str(uuid.UUID(int=1))
    assert first["langsmith_dataset_id"] == str(qa.id) == ds.langsmith_id
    assert first["langsmith_dataset_version"] == ds.langsmith_as_of
    assert examples[1].metadata["judgekit_id"] == "q2"
    assert len(ds.version) == 12  # judgekit's content hash, as for every dataset


def test_loading_is_lazy(qa: Any, langsmith_env: LangSmithServer) -> None:
    before = langsmith_env.count()
    ds = dataset.langsmith("qa")
    assert langsmith_env.count() == before
    assert repr(ds) == "Dataset('qa', langsmith:qa, not loaded)"
    assert len(ds) == 3
    assert example_reads(langsmith_env) == 1


def test_importing_judgekit_or_its_cli_does_not_import_langsmith() -> None:
    code = ("import sys, contextlib, io\n"
            "import judgekit\n"
            "from judgekit import dataset\n"
            "dataset.langsmith('qa')\n"
            "from judgekit.cli.main import main\n"
            "with contextlib.suppress(SystemExit), contextlib.redirect_stdout(io.StringIO()):\n"
            "    main(['--help'])\n"
            "print('langsmith' in sys.modules)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    assert out.stdout.strip() == "False"


def test_a_second_load_reads_no_examples_when_unchanged(
        qa: Any, langsmith_env: LangSmithServer, tmp_path: Path) -> None:
    first = dataset.langsmith("qa")
    assert len(first) == 3
    assert example_reads(langsmith_env) == 1
    again = dataset.langsmith("qa")
    assert list(again) == list(first) and again.version == first.version
    assert example_reads(langsmith_env) == 1  # served from the cache
    # The cache sits next to the store ($JUDGEKIT_STORE is tmp_path/env-store.db here).
    cached = sorted(p.name for p in (tmp_path / "langsmith" / str(qa.id)).iterdir())
    assert len(cached) == 2 and "dataset.json" in cached


def test_a_changed_dataset_is_a_new_version(qa: Any, client: Any,
                                            langsmith_env: LangSmithServer) -> None:
    old = dataset.langsmith("qa")
    assert len(old) == 3
    client.create_example(inputs={"question": "new?"}, dataset_id=qa.id,
                          reference_outputs={"answer": "yes"})
    new = dataset.langsmith("qa")
    assert len(new) == 4
    assert new.version != old.version and new.langsmith_as_of != old.langsmith_as_of
    assert example_reads(langsmith_env) == 2
    client.update_example(uuid.UUID(int=1), outputs={"answer": "four"})
    edited = dataset.langsmith("qa")
    assert edited[0].reference == {"answer": "four"} and edited.version != new.version


def test_a_version_tag_or_datetime_reads_that_version(qa: Any, client: Any) -> None:
    v1 = client.read_dataset(dataset_id=qa.id).modified_at
    client.update_dataset_tag(dataset_id=qa.id, as_of=v1, tag="prod")
    client.update_example(uuid.UUID(int=1), outputs={"answer": "four"})
    client.create_example(inputs={"question": "new?"}, dataset_id=qa.id)

    prod = dataset.langsmith("qa", version="prod")
    assert len(prod) == 3 and prod[0].reference == {"answer": "4"}
    at_v1 = dataset.langsmith("qa", version=v1 + dt.timedelta(microseconds=1))
    assert [e.reference for e in at_v1] == [e.reference for e in prod]
    latest = dataset.langsmith("qa")
    assert len(latest) == 4 and latest[0].reference == {"answer": "four"}
    with pytest.raises(DatasetError, match="no version 'staging'"):
        _ = dataset.langsmith("qa", version="staging").examples


def test_splits_select_examples(qa: Any) -> None:
    test = dataset.langsmith("qa", splits=["test"])
    assert [e.id for e in test] == [str(uuid.UUID(int=1))]
    assert len(dataset.langsmith("qa", splits="base")) == 2


def test_unreachable_endpoint_uses_the_cached_copy_and_says_so_once(
        qa: Any, capsys: pytest.CaptureFixture[str]) -> None:
    online = dataset.langsmith("qa")
    assert len(online) == 3
    url = closed_url()
    offline = dataset.langsmith("qa", api_url=url)
    assert list(offline) == list(online)
    assert offline.langsmith_as_of == online.langsmith_as_of
    err = capsys.readouterr().err
    assert err.count("warning:") == 1
    assert url in err and "using the cached copy of version" in err
    assert len(dataset.langsmith("qa", api_url=url)) == 3
    assert capsys.readouterr().err == ""  # once per process


def test_offline_with_a_tag_uses_the_copy_cached_for_that_tag(qa: Any, client: Any) -> None:
    v1 = client.read_dataset(dataset_id=qa.id).modified_at
    client.update_dataset_tag(dataset_id=qa.id, as_of=v1, tag="prod")
    assert len(dataset.langsmith("qa", version="prod")) == 3
    client.create_example(inputs={"question": "new?"}, dataset_id=qa.id)
    assert len(dataset.langsmith("qa")) == 4
    url = closed_url()
    assert len(dataset.langsmith("qa", version="prod", api_url=url)) == 3
    assert len(dataset.langsmith("qa", api_url=url)) == 4  # newest cached copy
    with pytest.raises(DatasetError, match="no cached copy"):
        _ = dataset.langsmith("qa", version="staging", api_url=url).examples


def test_unreachable_endpoint_without_a_cache_is_a_clear_error(
        langsmith_env: LangSmithServer, tmp_path: Path) -> None:
    url = closed_url()
    with pytest.raises(DatasetError) as info:
        _ = dataset.langsmith("qa", api_url=url).examples
    message = str(info.value)
    assert message.startswith("LangSmith dataset 'qa': cannot load it from " + url)
    assert "no cached copy under" in message and "LANGSMITH_ENDPOINT" in message
    assert "\n" not in message


def test_a_wrong_key_is_a_clear_error(qa: Any, langsmith_env: LangSmithServer) -> None:
    with pytest.raises(DatasetError) as info:
        _ = dataset.langsmith("qa", api_key="wrong").examples
    assert str(info.value) == (
        f"LangSmith dataset 'qa': {langsmith_env.url} rejected the API key (401); set "
        "LANGSMITH_API_KEY to a valid key for this workspace")


def test_an_unknown_dataset_is_a_clear_error(langsmith_env: LangSmithServer) -> None:
    with pytest.raises(DatasetError, match=r"LangSmith dataset 'nope' not found at http://"):
        _ = dataset.langsmith("nope").examples


def test_a_transient_server_error_is_retried(qa: Any, langsmith_env: LangSmithServer) -> None:
    langsmith_env.fail("GET", "/examples", 500, times=1)
    assert len(dataset.langsmith("qa")) == 3
    assert example_reads(langsmith_env) == 2


def test_without_the_langsmith_package_the_error_says_what_to_install(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "langsmith", None)  # as if it were not installed
    with pytest.raises(DatasetError, match=r"pip install 'judgekit\[langsmith\]'"):
        _ = dataset.langsmith("qa").examples


def test_an_unreadable_cache_file_names_itself(qa: Any, tmp_path: Path) -> None:
    assert len(dataset.langsmith("qa")) == 3
    folder = tmp_path / "langsmith" / str(qa.id)
    cached = next(p for p in folder.iterdir() if p.name != "dataset.json")
    cached.write_text("{not json\n", encoding="utf-8")
    with pytest.raises(DatasetError, match="delete the file and run again"):
        _ = dataset.langsmith("qa").examples
    index = json.loads((folder / "dataset.json").read_text(encoding="utf-8"))
    assert index["name"] == "qa"


def test_an_evaluation_runs_on_a_langsmith_dataset(qa: Any, tmp_path: Path) -> None:
    def target(question: str) -> str:
        return "4" if "2+2" in question else "?"

    result = evaluate(target, dataset.langsmith("qa"), store=tmp_path / "eval.db")
    stored = result.store.examples(result.experiments[0].dataset_version)
    assert [e.id for e in stored] == [str(uuid.UUID(int=i)) for i in (1, 2, 3)]
    assert stored[0].metadata["langsmith_example_id"] == str(uuid.UUID(int=1))
