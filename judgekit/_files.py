"""A text file that appears whole or not at all."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path
from typing import IO

__all__ = ["atomic_text"]


@contextlib.contextmanager
def atomic_text(path: str | Path, *, newline: str | None = None) -> Iterator[IO[str]]:
    """A UTF-8 text file to write in a ``with`` block; it replaces ``path`` when the block
    ends without error, so a reader never sees half a file and a failed write leaves none.

    The temporary file sits beside ``path`` (a rename within one folder is atomic) under a
    random name, so two writers of one path never share it.

    Raises:
        OSError: the temporary file cannot be created (e.g. the folder does not exist).
    """
    target = Path(path)
    tmp = target.with_name(f".{target.name}.{os.getpid()}.{os.urandom(4).hex()}.tmp")
    try:
        with tmp.open("x", encoding="utf-8", newline=newline) as f:
            yield f
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)
