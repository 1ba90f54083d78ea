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


# -- the owner's identity: pid, host, boot id and process start time ---------------------------

HOLDER = """
import sys, time
from judgekit.run_owner import owner_fields
from judgekit.store import Store
with Store(sys.argv[1]) as store:
    run_id = store.create_run("test_owned", sys.argv[2], owner_fields(), "0")
print(run_id, flush=True)
time.sleep(60)
"""

SUITE = """
from judgekit import parametrize, suite
ROWS = [{"id": i, "inputs": {"q": i}, "reference": i} for i in "abcd"]
def exact(*, outputs, reference_outputs):
    return outputs == reference_outputs
@suite(data=ROWS, evaluators=[exact])
@parametrize("model", ["m1"])
def test_owned(q, model):
    return q
"""


def _planned(store: Store, config: dict[str, Any]) -> str:
    run_id = store.create_run(owned.name, None, config, "0")
    store.save_examples(owned.data.version, owned.data.examples)
    store.create_experiment(run_id, 0, {"model": "m1"}, "m1", owned.data.name,
                            owned.data.version, len(ROWS), 1, [], None)
    return run_id


needs_proc = pytest.mark.skipif(not os.path.exists("/proc/self/stat"), reason="needs /proc")


@needs_proc
def test_the_owner_record_holds_boot_id_and_start_time_of_this_process(store: Store) -> None:
    run = store.get_run(run_suite(owned, store=store).run_id)
    with open("/proc/sys/kernel/random/boot_id") as f:
        assert run.config["boot_id"] == f.read().strip()
    # Field 22 of /proc/self/stat, counted after the command name's last ')'.
    with open(f"/proc/{os.getpid()}/stat", "rb") as f:
        stat = f.read()
    assert run.config["started"] == int(stat[stat.rfind(b")") + 1:].split()[19])


@needs_proc
def test_our_pid_with_another_start_time_is_a_recycled_pid_stale_and_resumable(
        store: Store) -> None:
    from judgekit.run_owner import owner_fields

    me = owner_fields()
    run_id = _planned(store, {**me, "started": me["started"] - 1})
    run = store.get_run(run_id)
    # Same pid, host and boot: only the start time tells it is another process.
    assert live_owner(run) is None and is_stale(run)
    result = run_suite(owned, store=store, resume=run_id)
    assert result.run.status == "complete"
    assert store.get_run(run_id).config["started"] == me["started"]


@needs_proc
def test_a_pid_from_an_earlier_boot_is_stale(store: Store,
                                              other_process: subprocess.Popen[bytes]) -> None:
    from judgekit.run_owner import _start_ticks

    run = store.get_run(_planned(store, {
        "pid": other_process.pid, "host": socket.gethostname(),
        "boot_id": "00000000-0000-0000-0000-000000000000",
        "started": _start_ticks(other_process.pid)}))
    assert live_owner(run) is None and is_stale(run)


@needs_proc
def test_a_dead_owner_with_full_identity_is_resumable(
        store: Store, other_process: subprocess.Popen[bytes]) -> None:
    from judgekit.run_owner import _boot_id, _start_ticks

    ident = {"pid": other_process.pid, "host": socket.gethostname(), "boot_id": _boot_id(),
             "started": _start_ticks(other_process.pid)}
    run_id = _planned(store, ident)
    assert live_owner(store.get_run(run_id)) == other_process.pid
    other_process.kill()
    other_process.wait()
    assert is_stale(store.get_run(run_id))
    assert run_suite(owned, store=store, resume=run_id).run.status == "complete"


@needs_proc
def test_a_live_child_holding_the_run_is_refused_by_the_cli_in_one_line(tmp_path: Any) -> None:
    db, suite_file = tmp_path / "store.db", tmp_path / "owned.py"
    suite_file.write_text(SUITE, encoding="utf-8")
    holder = subprocess.Popen([sys.executable, "-c", HOLDER, str(db), str(suite_file)],
                              stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None
        run_id = holder.stdout.readline().strip()
        env = {**os.environ, "JUDGEKIT_STORE": str(db)}
        ran = subprocess.run([sys.executable, "-m", "judgekit.cli.main", "eval", str(suite_file),
                              "--resume", run_id], env=env, capture_output=True, text=True,
                             timeout=60, cwd=tmp_path)
        assert ran.returncode == 2
        assert ran.stderr.strip() == (
            f"error: run {run_id} is still running (process {holder.pid} on this machine); "
            f"let it finish, or stop it (kill {holder.pid}) and then resume")
        assert "Traceback" not in ran.stdout + ran.stderr
    finally:
        holder.kill()
        holder.wait()
    with Store(db) as store:
        assert is_stale(store.get_run(run_id))  # killed: now resumable
