"""Dataset rows: a record read as an :class:`~judgekit.types.Example` (the three native
shapes, or a ``fields=`` mapping), the id checks and the version hash."""

from __future__ import annotations

import hashlib
import json
import sqlite3
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any

from judgekit.errors import DatasetError
from judgekit.types import Example

__all__ = ["FieldMap", "canonical_json", "content_hash"]

FieldMap = Mapping[str, "str | Sequence[str]"]


def canonical_json(value: Any) -> str:
    """Serialise ``value`` deterministically (sorted keys, no spaces) for hashing."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False,
                      default=str)


def content_hash(value: Any, length: int = 12) -> str:
    """Return a short SHA-256 hex digest of the canonical JSON of ``value``."""
    return hashlib.sha256(canonical_json(value).encode()).hexdigest()[:length]



def _pick(rec: Mapping[str, Any], spec: str | Sequence[str], where: str) -> Any:
    if isinstance(spec, str):
        if spec not in rec:
            raise DatasetError(f"{where}: field {spec!r} is missing "
                               f"(the row has {', '.join(map(repr, rec)) or 'no fields'})")
        return rec[spec]
    return {k: _pick(rec, k, where) for k in spec}


def to_example(rec: Mapping[str, Any], fields: FieldMap | None, where: str) -> Example:
    """Read one record in any supported shape into an :class:`Example`."""
    if fields:
        unknown = set(fields) - {"inputs", "reference", "id", "metadata"}
        if unknown:
            raise DatasetError(f"{where}: fields= names {sorted(unknown)}; it maps only "
                               "inputs, reference, id and metadata")
        inputs_spec = fields.get("inputs")
        if inputs_spec is None:
            taken = {v for k, v in fields.items() if isinstance(v, str)}
            taken |= {x for v in fields.values() if not isinstance(v, str) for x in v}
            inputs: Any = {k: v for k, v in rec.items() if k not in taken}
        else:
            inputs = _pick(rec, inputs_spec, where)
            if not isinstance(inputs, Mapping):
                inputs = {inputs_spec: inputs} if isinstance(inputs_spec, str) else inputs
        ref_spec = fields.get("reference")
        reference = _pick(rec, ref_spec, where) if ref_spec is not None else None
        id_spec = fields.get("id")
        ex_id = _pick(rec, id_spec, where) if isinstance(id_spec, str) else None
        meta_spec = fields.get("metadata")
        metadata = _pick(rec, meta_spec, where) if meta_spec is not None else {}
        if not isinstance(metadata, Mapping):
            metadata = {str(meta_spec): metadata}
    elif "inputs" in rec:
        inputs = rec["inputs"]
        if "reference" in rec and "outputs" in rec:
            raise DatasetError(f'{where}: has both "reference" and "outputs"; keep one')
        reference = rec.get("reference", rec.get("outputs"))
        ex_id = rec.get("id")
        metadata = rec.get("metadata") or {}
        extra = set(rec) - {"id", "inputs", "reference", "outputs", "metadata"}
        if extra:
            raise DatasetError(
                f"{where}: unexpected field(s) {', '.join(sorted(map(repr, extra)))}; a row has "
                '"inputs", "reference" (or "outputs"), "id" and "metadata" — move other fields '
                'into "metadata" or pass fields= to map them'
            )
    elif "input" in rec:
        inputs = {"input": rec["input"]}
        reference = rec.get("ideal")
        ex_id = rec.get("id")
        metadata = {k: v for k, v in rec.items() if k not in ("input", "ideal", "id")}
    else:
        raise DatasetError(
            f'{where}: no "inputs" field (nor OpenAI Evals "input"); a row looks like '
            '{"inputs": {...}, "reference": ...}, or pass fields= to map your field names'
        )
    if not isinstance(inputs, Mapping):
        raise DatasetError(f'{where}: "inputs" must be an object (a dict of the target\'s '
                           f"inputs), got {type(inputs).__name__}")
    if not isinstance(metadata, Mapping):
        raise DatasetError(f'{where}: "metadata" must be an object, got '
                           f"{type(metadata).__name__}")
    if ex_id is not None and not isinstance(ex_id, (str, int)):
        raise DatasetError(f'{where}: "id" must be a string or integer, got '
                           f"{type(ex_id).__name__}")
    if ex_id is None or ex_id == "":
        ex_id = content_hash({"inputs": inputs, "reference": reference})
    return Example(id=str(ex_id), inputs=dict(inputs), reference=reference,
                   metadata=dict(metadata))


class VersionHash:
    """:func:`content_hash` of ``[[id, inputs, reference, metadata], ...]`` over the examples,
    fed one example at a time (the canonical JSON of a list is its items' joined by commas)."""

    def __init__(self) -> None:
        self._sha = hashlib.sha256(b"[")
        self.n = 0

    def add(self, e: Example) -> None:
        if self.n:
            self._sha.update(b",")
        self._sha.update(canonical_json([e.id, e.inputs, e.reference, e.metadata]).encode())
        self.n += 1

    def hexdigest(self, length: int = 12) -> str:
        sha = self._sha.copy()
        sha.update(b"]")
        return sha.hexdigest()[:length]


class SeenIds:
    """The ids read so far and where each was read: in a dict up to ``SPILL`` ids, then in a
    private temporary SQLite file, so checking 1,000,000 ids holds no dict of them (~200 MB)."""

    SPILL = 20_000

    def __init__(self) -> None:
        self._mem: dict[str, str] = {}
        self._db: Any = None  # a sqlite3.Connection once spilled

    def first_at(self, ex_id: str) -> str | None:
        """Where ``ex_id`` was first read, or None."""
        if self._db is None:
            return self._mem.get(ex_id)
        row = self._db.execute("SELECT loc FROM seen WHERE id=?", (ex_id,)).fetchone()
        return None if row is None else str(row[0])

    def add(self, ex_id: str, where: str) -> str | None:
        """Note ``ex_id`` read at ``where``; return where it was read before instead, if it
        was (then nothing is noted)."""
        if self._db is None:
            first = self._mem.setdefault(ex_id, where)
            if first is not where:
                return first
            if len(self._mem) >= self.SPILL:
                self._spill()
            return None
        cur = self._db.execute("INSERT OR IGNORE INTO seen VALUES (?, ?)", (ex_id, where))
        return self.first_at(ex_id) if cur.rowcount == 0 else None

    def _spill(self) -> None:

        # "": a temporary database file of this connection's own, deleted when it closes.
        self._db = sqlite3.connect("")
        self._db.execute("CREATE TABLE seen (id TEXT PRIMARY KEY, loc TEXT) WITHOUT ROWID")
        self._db.executemany("INSERT INTO seen VALUES (?, ?)", self._mem.items())
        self._mem = {}

    def close(self) -> None:
        if self._db is not None:
            self._db.close()
            self._db = None
        self._mem = {}


def unique_ids(rows: Iterable[tuple[str, Example]], seen: SeenIds | None = None,
               renames: dict[int, str] | None = None) -> Iterator[Example]:
    """Yield examples, refusing duplicate given ids and numbering duplicate content hashes.

    ``renames`` (if given) gets the row index and new id of every numbered duplicate.
    """
    seen = seen if seen is not None else SeenIds()
    for i, (where, ex) in enumerate(rows):
        first = seen.add(ex.id, where)
        if first is not None:
            given = ex.id != content_hash({"inputs": ex.inputs, "reference": ex.reference})
            if given:
                raise DatasetError(f"{where}: duplicate id {ex.id!r} (first used at "
                                   f"{first}); ids must be unique")
            # Identical content without an id: keep both, numbered in order, so ids stay stable.
            n = 2
            while seen.first_at(f"{ex.id}-{n}") is not None:
                n += 1
            ex = Example(id=f"{ex.id}-{n}", inputs=ex.inputs, reference=ex.reference,
                         metadata=ex.metadata)
            seen.add(ex.id, where)
            if renames is not None:
                renames[i] = ex.id
        yield ex

