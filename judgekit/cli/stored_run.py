"""Set-up shared by the commands that re-ask a stored run's judges (``rescore``, ``probe``)."""

from __future__ import annotations

import argparse
from pathlib import Path

from judgekit.errors import ConfigError
from judgekit.models.settings import ModelSettings, settings_for_run
from judgekit.store import Store

__all__ = ["check_json_target", "stored_run_settings"]


def check_json_target(target: str | None) -> None:
    """Refuse a ``--json FILE`` whose directory is missing, before any judge call is paid for.

    Raises:
        ConfigError: the directory of ``target`` does not exist.
    """
    if target and target != "-" and not Path(target).parent.exists():
        raise ConfigError(f"cannot write {target}: directory {Path(target).parent} "
                          "does not exist")


def stored_run_settings(args: argparse.Namespace, store: Store,
                        judge_concurrency: int) -> ModelSettings:
    """The model settings for re-asking the judges of run ``args.run``.

    The original suite's project config (judge model, prices, cache path) applies when its
    file is still there; else the current directory's.
    """
    original = store.get_run(args.run)
    suite_file = Path(original.path) if original.path else None
    project = suite_file.resolve().parent if suite_file and suite_file.is_file() \
        else Path.cwd()
    return settings_for_run(
        project, store.path, cache_file=args.cache_file, cache=args.cache,
        concurrency=args.concurrency, judge_concurrency=judge_concurrency,
        judge_model=args.judge_model, timeout_s=args.timeout)
