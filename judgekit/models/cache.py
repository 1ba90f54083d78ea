"""The response cache: one SQLite file mapping a request's key to the provider's reply.

A re-run of the same suite costs nothing and makes no requests; a committed cache file lets CI
replay a run offline (``--cache replay``). The key covers what decides the reply (provider,
endpoint, model, messages, generation parameters, sample index) and nothing that does not (API
keys, timeouts, retry settings), so changing a key or a timeout keeps the cache valid.
"""

from __future__ import annotations

import hashlib
import os
import sqlite3
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from judgekit._json import canonical, dumps, loads
from judgekit.errors import ConfigError
from judgekit.models.base import ChatResponse, Message

__all__ = ["CacheStats", "CachedResponse", "ResponseCache", "cache_key", "default_cache_path"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS responses (
    key        TEXT PRIMARY KEY,
    provider   TEXT NOT NULL,
    model      TEXT NOT NULL,
    response   TEXT NOT NULL,
    created_at REAL NOT NULL
)
"""
_VERSION = 1


def default_cache_path(store: str | Path | None = None) -> Path:
    """``$JUDGEKIT_CACHE``, else ``cache.db`` beside the result store.

    The store is ``store`` if given, else ``$JUDGEKIT_STORE``, else ``.judgekit/judgekit.db``.
    """
    env = os.environ.get("JUDGEKIT_CACHE")
    if env:
        return Path(env)
    if store is None:
        store = os.environ.get("JUDGEKIT_STORE") or Path(".judgekit") / "judgekit.db"
    return Path(store).parent / "cache.db"


def _jsonable(value: Any) -> Any:
    """A stable JSON stand-in for values ``json`` cannot encode (e.g. a pydantic schema class)."""
    schema = getattr(value, "model_json_schema", None)
    if callable(schema):
        try:
            return {"$schema_of": getattr(value, "__name__", type(value).__name__),
                    "schema": schema()}
        except TypeError:  # an instance, not the class: fall through to its data
            pass
    dump = getattr(value, "model_dump", None)
    if callable(dump):
        return dump()
    if isinstance(value, (set, frozenset)):
        return sorted(map(repr, value))
    return repr(value)


def cache_key(provider: str, endpoint: str, model: str, messages: Sequence[Message],
              params: Mapping[str, Any], sample: int = 0) -> str:
    """The sha256 of the canonical JSON of everything that decides a reply."""
    payload = {
        "provider": provider,
        "endpoint": endpoint.rstrip("/"),
        "model": model,
        "messages": [dict(m) for m in messages],
        "params": dict(params),
        "sample": sample,
    }
    return hashlib.sha256(canonical(payload, default=_jsonable)).hexdigest()


@dataclass(frozen=True)
class CachedResponse(ChatResponse):
    """A reply read from the cache, with what the call cost when it was made.

    Attributes:
        cost_usd: The call's cost when it was paid (None: the price was unknown then).
        priced: False for entries written before costs were kept: price them now.
        raw: The provider's whole reply as JSON, when the call that wrote the entry kept it
            (a ``wrap_openai`` client keeps its ``ChatCompletion``: tool calls, every choice,
            logprobs); None for entries that hold only the fields above.
    """

    cost_usd: float | None = None
    priced: bool = False
    raw: Mapping[str, Any] | None = field(default=None, compare=False)  # a dict: unhashable


@dataclass(frozen=True)
class CacheStats:
    """What ``judgekit cache stats`` shows.

    Attributes:
        path: The cache file.
        entries: Stored replies.
        size_bytes: File size on disk (WAL included).
        hits: Lookups answered from the cache by this handle (this process).
        misses: Lookups the cache could not answer.
        per_model: Stored replies per model name.
        oldest: Creation time of the oldest entry (epoch seconds), if any.
        newest: Creation time of the newest entry, if any.
    """

    path: Path
    entries: int
    size_bytes: int
    hits: int = 0
    misses: int = 0
    per_model: Mapping[str, int] = field(default_factory=dict)
    oldest: float | None = None
    newest: float | None = None


class ResponseCache:
    """A thread-safe handle on one cache file (SQLite in WAL mode, one table).

    Several processes may share the file: SQLite serialises the writers, and a 30-second busy
    timeout rides out another process's write.

    Args:
        path: The cache file.
        create: Create the file if it does not exist (else a ConfigError).
        snapshot_s: Seconds lookups may share one read transaction (0: one per lookup). A run
            sets it (see :meth:`get`); a handle that may sit idle keeps the default, as an
            open read transaction stops other processes' checkpoints from emptying the WAL.
    """

    def __init__(self, path: str | Path, *, create: bool = True,
                 snapshot_s: float = 0.0) -> None:
        self.path = Path(path)
        self.snapshot_s = snapshot_s
        self.hits = 0
        self.misses = 0
        self._lock = threading.Lock()
        #: When :meth:`get`'s open read transaction ends (0: none is open).
        self._snapshot_until = 0.0
        if not create and not self.path.exists():
            raise ConfigError(f"{self.path}: no response cache there")
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            # isolation_level=None: every statement commits by itself; a put is one row.
            self._db = sqlite3.connect(self.path, isolation_level=None, timeout=30.0,
                                       check_same_thread=False)
        except (OSError, sqlite3.Error) as exc:
            raise self._error(exc) from None
        try:
            self._guard(self._setup)
        except ConfigError:
            self._db.close()
            raise

    def _error(self, exc: object) -> ConfigError:
        return ConfigError(f"{self.path}: cannot use the response cache ({exc}); delete the "
                           "file or point --cache-file / JUDGEKIT_CACHE at another one")

    def _guard(self, fn: Any, *args: Any) -> Any:
        """Run ``fn`` under the lock, turning SQLite's errors into one that names the file.

        Outside :meth:`get`'s read snapshot: a write made on a snapshot that another process
        has since moved past would fail, and ``VACUUM`` cannot run inside a transaction.
        """
        with self._lock:
            try:
                self._end_snapshot()
                return fn(*args)
            except sqlite3.Error as exc:
                raise self._error(exc) from None

    def _end_snapshot(self) -> None:
        if self._snapshot_until:
            self._snapshot_until = 0.0
            self._db.execute("COMMIT")

    def _setup(self) -> None:
        version = self._db.execute("PRAGMA user_version").fetchone()[0]
        if version > _VERSION:
            raise ConfigError(f"{self.path}: written by a newer judgekit (cache schema "
                              f"{version}); upgrade judgekit or use another --cache-file")
        if version == 0:
            tables = {name for (name,) in self._db.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table'")}
            if tables - {"responses"}:  # e.g. the result store given as --cache-file
                raise ConfigError(f"{self.path}: not a judgekit response cache (it holds "
                                  f"tables {', '.join(sorted(tables))}); use another "
                                  "--cache-file")
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute(_SCHEMA)
        self._db.execute("CREATE INDEX IF NOT EXISTS responses_by_model ON responses(model)")
        self._db.execute(f"PRAGMA user_version={_VERSION}")

    def get(self, key: str) -> CachedResponse | None:
        """The stored reply for ``key`` (with ``cache_hit=True``), or None."""
        with self._lock:  # _guard's work, inline: this runs once per model call
            try:
                # Lookups share a read transaction for up to snapshot_s: each transaction
                # takes two file locks and a stat. Any write ends it first, and so does the
                # clock: another process's new entries are seen within snapshot_s, as a
                # call's reply takes longer than that.
                if self.snapshot_s:
                    now = time.monotonic()
                    if now >= self._snapshot_until:
                        self._end_snapshot()
                        self._db.execute("BEGIN")
                        self._snapshot_until = now + self.snapshot_s
                row = self._db.execute(
                    "SELECT response FROM responses WHERE key = ?", (key,)).fetchone()
            except sqlite3.Error as exc:
                raise self._error(exc) from None
        if row is None:
            self.misses += 1
            return None
        try:
            data = loads(row[0])
            reply = CachedResponse(
                text=data["text"], finish_reason=data.get("finish_reason"),
                prompt_tokens=int(data.get("prompt_tokens", 0)),
                completion_tokens=int(data.get("completion_tokens", 0)),
                cached_tokens=int(data.get("cached_tokens", 0)), model=data.get("model"),
                cache_hit=True, cost_usd=data.get("cost_usd"), priced="cost_usd" in data,
                raw=data.get("raw"))
        except (ValueError, TypeError, KeyError) as exc:
            raise self._error(f"entry {key[:12]} is damaged: {exc!r}") from None
        self.hits += 1
        return reply

    def put(self, key: str, provider: str, model: str, reply: ChatResponse,
            cost_usd: float | None = None) -> None:
        """Store ``reply`` under ``key``, replacing an older entry (headers are not kept), with
        what the call cost: a hit is then recorded with that cost without pricing it again
        (the price table, ~70 ms to load, is never needed by a run the cache answers).

        A reply with a ``raw`` mapping (the provider's whole reply as JSON) keeps it too, so
        that a hit can hand back the provider's own object (see :mod:`judgekit.models.wrap`);
        entries without one still answer every caller, from the fields alone."""
        data: dict[str, Any] = {"text": reply.text, "finish_reason": reply.finish_reason,
                                "prompt_tokens": reply.prompt_tokens,
                                "completion_tokens": reply.completion_tokens,
                                "cached_tokens": reply.cached_tokens, "model": reply.model,
                                "cost_usd": cost_usd}
        raw = getattr(reply, "raw", None)
        if isinstance(raw, Mapping):
            data["raw"] = raw
        self._guard(lambda: self._db.execute(
            "INSERT OR REPLACE INTO responses (key, provider, model, response, created_at) "
            "VALUES (?, ?, ?, ?, ?)",
            (key, provider, model, dumps(data), time.time())))

    def stats(self) -> CacheStats:
        """Entries, size, per-model counts, and this handle's hits and misses."""
        def query() -> tuple[Any, ...]:
            total = self._db.execute(
                "SELECT COUNT(*), MIN(created_at), MAX(created_at) FROM responses").fetchone()
            per_model = self._db.execute(
                "SELECT model, COUNT(*) FROM responses GROUP BY model ORDER BY 2 DESC, 1"
            ).fetchall()
            return total, per_model

        (entries, oldest, newest), per_model = self._guard(query)
        size = sum(p.stat().st_size for p in (self.path, Path(f"{self.path}-wal"))
                   if p.exists())
        return CacheStats(path=self.path, entries=entries, size_bytes=size, hits=self.hits,
                          misses=self.misses, per_model=dict(per_model), oldest=oldest,
                          newest=newest)

    def clear(self, *, older_than_s: float | None = None, model: str | None = None) -> int:
        """Delete entries (all, or older than ``older_than_s`` seconds, or of one model).

        Returns:
            How many entries were deleted.
        """
        where: list[str] = []
        args: list[Any] = []
        if older_than_s is not None:
            where.append("created_at < ?")
            args.append(time.time() - older_than_s)
        if model is not None:
            where.append("model = ?")
            args.append(model)
        sql = "DELETE FROM responses" + (" WHERE " + " AND ".join(where) if where else "")

        def run() -> int:
            count = self._db.execute(sql, args).rowcount
            self._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            if not where:
                self._db.execute("VACUUM")  # give the disk space back after a full clear
            return int(count)

        return int(self._guard(run))

    def close(self) -> None:
        """Close the connection."""
        with self._lock:
            self._db.close()

    def __enter__(self) -> ResponseCache:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
