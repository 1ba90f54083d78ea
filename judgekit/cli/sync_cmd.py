"""``judgekit sync RUN...`` and the ``--langsmith`` step of ``judgekit eval``.

Exit codes: ``judgekit sync`` exits 2 when LangSmith cannot be reached, rejects the key or keeps
failing (the message names the endpoint and the answer; the run stays in the store and the same
command sends it again, creating nothing twice). ``judgekit eval --langsmith`` checks the key and
the package *before* running (exit 2, nothing run); a LangSmith failure *after* the run is
printed as an error with the ``judgekit sync`` command to retry, and the eval keeps its own exit
code: the goals decide it, and the results are safe in the store.
"""

from __future__ import annotations

import argparse
import subprocess
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.console import Console

from judgekit.report.console import table_console
from judgekit.store import Store

if TYPE_CHECKING:
    from judgekit.langsmith.config import LangSmithConfig
    from judgekit.langsmith.sync import ExperimentSync, SyncResult

__all__ = ["git_commit", "langsmith_config", "print_sync", "send_run", "sync", "wants_langsmith"]


def git_commit(path: str | Path) -> str | None:
    """``git rev-parse HEAD`` of the repository holding ``path``; None outside one (read-only)."""
    folder = Path(path).resolve()
    folder = folder if folder.is_dir() else folder.parent
    try:
        out = subprocess.run(["git", "-C", str(folder), "rev-parse", "HEAD"],
                             capture_output=True, text=True, timeout=5, check=False)
    except (OSError, subprocess.SubprocessError):
        return None
    commit = out.stdout.strip()
    return commit if out.returncode == 0 and len(commit) >= 40 else None


def wants_langsmith(args: argparse.Namespace) -> bool:
    """``--langsmith`` or ``JUDGEKIT_LANGSMITH=1`` (``--no-langsmith`` wins over the variable)."""
    from judgekit.langsmith.config import requested_by_env

    flag = getattr(args, "langsmith", None)
    return bool(flag) if flag is not None else requested_by_env()


def langsmith_config() -> LangSmithConfig:
    """Endpoint and key from the environment, with the SDK importable: checked before a run so
    a missing key or package is a usage error (exit 2) and nothing runs or is sent."""
    from judgekit.langsmith.config import load_config
    from judgekit.langsmith.remote import import_langsmith

    config = load_config()
    import_langsmith()
    return config


def _label(exp: ExperimentSync) -> str:
    return f"{exp.runs} runs · {exp.feedback} feedback"


def print_sync(result: SyncResult, console: Console) -> None:
    """A few short lines: the dataset, each experiment and the comparison, with their URLs."""
    ds = result.dataset
    if ds is not None:
        if ds.linked:
            what = "linked (loaded from LangSmith)"
        elif ds.created:
            what = f"created, {ds.added} examples"
        elif ds.changed:
            what = (f"new version: {ds.added} added, {ds.updated} updated, "
                    f"{ds.deleted} deleted")
        else:
            what = "unchanged"
        console.print(f"LangSmith · run {result.run_id} · dataset {ds.name} ({what})"
                      + (f" {ds.url}" if ds.url else ""), highlight=False, soft_wrap=True)
    width = max((len(e.variant_label) for e in result.experiments), default=0)
    for exp in result.experiments:
        console.print(f" {exp.variant_label:<{width}}  {_label(exp)}  {exp.url or exp.name}",
                      highlight=False, soft_wrap=True)
    if result.compare_url and len(result.experiments) > 1:
        console.print(f" compare: {result.compare_url}", highlight=False, soft_wrap=True)
    if result.incomplete:
        console.print(f" note: run {result.run_id} is not complete; sync again after "
                      "`--resume` to send the rest", style="yellow", highlight=False)


def send_run(store: Store, run_id: str, args: argparse.Namespace, console: Console,
             config: LangSmithConfig) -> SyncResult:
    """Sync one run with the command's naming options and print what was sent."""
    from judgekit.langsmith.sync import sync_run

    result = sync_run(store, run_id, project_prefix=getattr(args, "langsmith_project", None),
                      dataset_name=getattr(args, "dataset_name", None), config=config)
    print_sync(result, console)
    return result


def sync(args: argparse.Namespace) -> int:
    """``judgekit sync RUN [RUN...]``: send stored runs to LangSmith."""
    from judgekit.langsmith.remote import LangSmithError

    config = langsmith_config()
    console = table_console()
    with Store.existing(args.store) as store:
        runs = [store.get_run(ref).id for ref in args.runs]  # every id checked before sending
        results: list[dict[str, Any]] = []
        for run_id in runs:
            try:
                results.append(send_run(store, run_id, args, console, config).to_json())
            except LangSmithError as exc:
                raise LangSmithError(f"{exc}; run {run_id} is stored locally: "
                                     f"`judgekit sync {run_id}` sends it again") from None
        if args.json:
            import json

            text = json.dumps(results[0] if len(results) == 1 else results, indent=2)
            if args.json == "-":
                print(text)
            else:
                Path(args.json).write_text(text + "\n", encoding="utf-8")
    return 0

