"""Who runs a run: the owner record kept in a run's config, and whether that process lives.

A pid alone is not an identity (pids are recycled), so the record holds the host, the boot id
and the process start time too; records without them fall back to the pid and its cmdline.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Mapping
from typing import Any

from judgekit.store_schema import RunRow

__all__ = ["is_stale", "live_owner"]


def _boot_id() -> str | None:
    """This machine's boot id (Linux), or None: a pid from an earlier boot is another process."""
    try:
        with open("/proc/sys/kernel/random/boot_id", encoding="ascii") as f:
            return f.read().strip() or None
    except OSError:
        return None


def _start_ticks(pid: int) -> int | None:
    """When process ``pid`` started (clock ticks since boot, /proc/PID/stat field 22), or None
    when it does not exist or there is no /proc (then the pid alone is all we know)."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            stat = f.read()
    except OSError:
        return None
    # The command name (field 2) may hold spaces and ')': the fields after it follow the last ')'.
    fields = stat[stat.rfind(b")") + 2:].split()
    try:
        return int(fields[19])  # field 22 is the 20th after the name and the state (fields 2-3)
    except (IndexError, ValueError):
        return None


def owner_fields() -> dict[str, Any]:
    """Who runs a run: kept in its config so that a killed run can be told from a live one.

    A pid alone is not an identity (pids are recycled), so the boot id and the process start
    time are kept too: the owner is live only if all of them match.
    """
    # None when unknown (no /proc): a resume then overwrites a previous owner's values too.
    return {"pid": os.getpid(), "host": socket.gethostname(), "boot_id": _boot_id(),
            "started": _start_ticks(os.getpid())}


def _owner_state(run: RunRow) -> tuple[str, int | None]:
    """("live", pid), ("gone", pid) or ("unknown", None) for the process running ``run``."""
    if run.status != "running" or not isinstance(run.config, Mapping):
        return "unknown", None
    pid, host = run.config.get("pid"), run.config.get("host")
    if not isinstance(pid, int) or host != socket.gethostname():
        return "unknown", None  # an older judgekit, or another machine: cannot tell
    boot, started = run.config.get("boot_id"), run.config.get("started")
    if isinstance(boot, str) and isinstance(started, int):
        now_boot = _boot_id()
        if now_boot is not None:
            # Full identity: same boot, and a process with that pid that started when ours did.
            if now_boot != boot:
                return "gone", pid  # the machine rebooted since
            ticks = _start_ticks(pid)
            return ("live" if ticks == started else "gone"), pid
        # No /proc here now (a record from Linux read elsewhere?): the pid rule below.
    if pid == os.getpid():
        return "live", pid
    try:
        os.kill(pid, 0)  # signal 0: only asks whether the process exists
    except ProcessLookupError:
        return "gone", pid
    except OSError:
        pass  # exists, owned by someone else
    try:
        # A record of an older judgekit (no start time): a recycled pid that is some other
        # program is not the owner, which was a Python process.
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            cmdline = f.read().lower()
        # (Empty while a process is just starting: then trust the pid.)
        if cmdline and b"python" not in cmdline and b"judgekit" not in cmdline:
            return "gone", pid
    except OSError:
        pass  # no /proc (macOS): trust the pid
    return "live", pid


def live_owner(run: RunRow) -> int | None:
    """The id of another process on this machine still running ``run``, or None.

    None when the run is not ``running``, was started elsewhere or by an older judgekit (no
    owner recorded), or its process is gone (see :func:`is_stale`).
    """
    state, pid = _owner_state(run)
    return pid if state == "live" and pid != os.getpid() else None


def is_stale(run: RunRow) -> bool:
    """True for a ``running`` run whose process, on this machine, is gone: it was killed
    (SIGKILL, a crash, a reboot) and ``--resume`` finishes it. ``judgekit runs`` can say so."""
    return _owner_state(run)[0] == "gone"
