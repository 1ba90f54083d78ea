"""System prompts stored once: a call's stored request holds ``{"role": "system", "$text": ID}``
in place of the text, which lives once in the ``texts`` table (a judge's instructions were
most of every stored request).
"""

from __future__ import annotations

import hashlib
import sqlite3
from collections.abc import Mapping
from typing import Any

__all__ = ["SharedTexts"]


class SharedTexts:
    """Swaps system prompts for ids in ``texts`` on the way in, and back on the way out.

    Args:
        db: the store's connection; :meth:`share` writes inside the caller's transaction.
    """

    def __init__(self, db: sqlite3.Connection) -> None:
        self.db = db
        # Texts this handle knows the ids of; forgotten when a transaction rolls back.
        self._ids: dict[str, int] = {}

    def forget(self) -> None:
        """Drop the known ids: the transaction that added them was rolled back."""
        self._ids.clear()

    def share(self, request: Mapping[str, Any]) -> dict[str, Any]:
        """``request`` with each system message's text replaced by its id in ``texts``."""
        out = dict(request)
        messages = out.get("messages")
        if isinstance(messages, list):
            out["messages"] = [
                {k: v for k, v in m.items() if k != "content"} | {"$text": self._id(text)}
                if isinstance(m, Mapping) and m.get("role") == "system"
                and isinstance(text := m.get("content"), str) and "$text" not in m
                else m for m in messages]
        return out

    def _id(self, text: str) -> int:
        """The id of ``text`` in ``texts``, added if new (inside the caller's transaction)."""
        known = self._ids.get(text)
        if known is not None:
            return known
        sha = hashlib.sha256(text.encode("utf-8")).hexdigest()
        self.db.execute("INSERT OR IGNORE INTO texts(sha256, text) VALUES (?, ?)", (sha, text))
        (text_id,) = self.db.execute("SELECT id FROM texts WHERE sha256=?", (sha,)).fetchone()
        if len(self._ids) >= 256:  # a system prompt that varies per case: bound memory
            self._ids.clear()
        self._ids[text] = text_id
        return int(text_id)

    def restore(self, request: Any, seen: dict[int, str | None]) -> Any:
        """A stored request with its shared texts put back (see :meth:`share`);
        ``seen`` keeps the texts already read by this query."""
        messages = request.get("messages") if isinstance(request, dict) else None
        if not isinstance(messages, list):
            return request
        for i, m in enumerate(messages):
            if isinstance(m, dict) and "$text" in m:
                text_id = m["$text"]
                if text_id not in seen:
                    row = self.db.execute("SELECT text FROM texts WHERE id=?",
                                          (text_id,)).fetchone()
                    seen[text_id] = None if row is None else row[0]
                rest = {k: v for k, v in m.items() if k != "$text"}
                messages[i] = {**rest, "content": seen[text_id]}
        return request

