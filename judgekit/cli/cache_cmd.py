"""``judgekit cache stats`` and ``judgekit cache clear``."""

from __future__ import annotations

import argparse
import datetime as dt
import sys
from pathlib import Path

from judgekit.errors import ConfigError
from judgekit.models.cache import ResponseCache, default_cache_path

__all__ = ["clear", "stats"]


def _path(args: argparse.Namespace) -> Path:
    explicit = getattr(args, "cache_file", None)
    return Path(explicit) if explicit else default_cache_path(getattr(args, "store", None))


def _size(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} GB"  # not reached


def _when(ts: float | None) -> str:
    return dt.datetime.fromtimestamp(ts).strftime("%Y-%m-%d %H:%M") if ts else "–"


def stats(args: argparse.Namespace) -> int:
    """Print the cache file's entries, size, age range and entries per model."""
    path = _path(args)
    if not path.exists():
        print(f"no response cache at {path} yet: model replies are cached there on the next "
              "run with --cache read-write (the default)")
        return 0
    with ResponseCache(path, create=False) as cache:
        info = cache.stats()
    print(f"{path}: {info.entries:,} responses, {_size(info.size_bytes)}"
          + (f", {_when(info.oldest)} to {_when(info.newest)}" if info.entries else ""))
    width = max((len(m) for m in info.per_model), default=0)
    for model, count in info.per_model.items():
        print(f"  {model:<{width}}  {count:>8,}")
    return 0


def _confirm(question: str) -> bool:
    print(f"{question} [y/N] ", end="", flush=True)
    try:
        answer = sys.stdin.readline()
    except KeyboardInterrupt:
        return False
    return answer.strip().lower() in ("y", "yes")


def clear(args: argparse.Namespace) -> int:
    """Delete cached responses: all, one model's (``--model``), or older ones (``--older-than``).

    With a ``yes`` attribute on ``args`` (``--yes``) false, asks first on a terminal and
    refuses without one; without that attribute it does not ask.
    """
    path = _path(args)
    if not path.exists():
        print(f"no response cache at {path}: nothing to clear")
        return 0
    model = getattr(args, "model", None)
    days = getattr(args, "older_than", None)
    older_than_s = float(days) * 86_400 if days is not None else None
    what = " ".join(filter(None, [
        f"{model}'s" if model else "all", "responses",
        f"older than {days:g} days" if days is not None else None]))
    with ResponseCache(path, create=False) as cache:
        if getattr(args, "yes", True) is False:
            if not sys.stdin.isatty():
                raise ConfigError(f"clearing {what} from {path} needs --yes when not run "
                                  "from a terminal")
            if not _confirm(f"delete {what} from {path}?"):
                print("nothing deleted")
                return 0
        deleted = cache.clear(older_than_s=older_than_s, model=model)
        left = cache.stats().entries
    print(f"deleted {deleted:,} {'response' if deleted == 1 else 'responses'} from {path} "
          f"({left:,} left)")
    return 0
