"""A run remembers the process running it, so a killed run (``running`` with no live owner) can
be told from a live one, and ``--resume`` of a run another process is still running is refused
instead of both processes running its missing cases."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import pytest

from judgekit import parametrize, run_suite, suite
from judgekit.errors import ConfigError
from judgekit.runner import is_stale, live_owner
from judgekit.store import Store

ROWS = [{"id": i, "inputs": {"q": i}, "reference": i} for i in "abcd"]


def exact(*, outputs: Any, reference_outputs: Any) -> bool:
    return bool(outputs == reference_outputs)


# Not named test_*: the judgekit pytest plugin would collect it as a suite of its own.
@suite(data=ROWS, evaluators=[exact])
@parametrize("model", ["m1"])
def owned(q: str, model: str) -> str:
    return q


@pytest.fixture
def other_process() -> Iterator[subprocess.Popen[bytes]]:
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    yield proc
    proc.kill()
    proc.wait()


def test_a_run_records_its_owner_and_a_resume_takes_it_over(store: Store) -> None:
    result = run_suite(owned, store=store)
    run = store.get_run(result.run_id)
    assert (run.config["pid"], run.config["host"]) == (os.getpid(), socket.gethostname())
    assert live_owner(run) is None  # complete


def test_resume_is_refused_while_the_owner_lives_and_allowed_once_it_is_gone(
        store: Store, other_process: subprocess.Popen[bytes]) -> None:
    # A run another process started and is still running: its cases are not all stored.
    run_id = store.create_run(owned.name, None, {"pid": other_process.pid,
                                                      "host": socket.gethostname()}, "0")
    store.save_examples(owned.data.version, owned.data.examples)
    store.create_experiment(run_id, 0, {"model": "m1"}, "m1", owned.data.name,
                            owned.data.version, len(ROWS), 1, [], None)
    assert live_owner(store.get_run(run_id)) == other_process.pid
    assert not is_stale(store.get_run(run_id))
    with pytest.raises(ConfigError) as err:
        run_suite(owned, store=store, resume=run_id)
    assert str(err.value) == (
        f"run {run_id} is still running (process {other_process.pid} on this machine); let it "
        f"finish, or stop it (kill {other_process.pid}) and then resume")
    assert store.get_run(run_id).status == "running"

    other_process.kill()
    other_process.wait()
    killed = store.get_run(run_id)
    assert killed.status == "running" and live_owner(killed) is None and is_stale(killed)
    result = run_suite(owned, store=store, resume=run_id)
    assert result.run.status == "complete"
    assert (result.experiments[0].summary or {})["n_cases"] == len(ROWS)
    # The resuming process owns it now.
    assert store.get_run(run_id).config["pid"] == os.getpid()


def test_no_owner_recorded_or_another_host_is_never_live(store: Store) -> None:
    old = store.get_run(store.create_run("s", None, {}, "0"))
    assert live_owner(old) is None and not is_stale(old)  # cannot tell: not called stale
    elsewhere = store.get_run(store.create_run(
        "s", None, {"pid": os.getppid(), "host": socket.gethostname() + ".elsewhere"}, "0"))
    assert live_owner(elsewhere) is None and not is_stale(elsewhere)
