"""Datasets: inline records, JSONL and CSV files, each with a content-hash version (DESIGN §3).

Records are read in three shapes without configuration:

* native: ``{"id"?: str, "inputs": {...}, "reference"?: any, "metadata"?: {...}}``
* LangSmith: ``{"inputs": {...}, "outputs": any}`` (``outputs`` is the reference)
* OpenAI Evals: ``{"input": any, "ideal": any}`` (inputs become ``{"input": ...}``)

Any other shape (and every CSV) can be mapped with ``fields=``: ``{"inputs": ["question",
"context"], "reference": "answer", "id": "qid", "metadata": ["source"]}``. Without a mapping a CSV
takes ``id`` and ``reference`` columns by those names, ``metadata.*`` columns as metadata, and
every other column as an input. A malformed row raises :class:`~judgekit.errors.DatasetError`
naming the file, the line and the problem; nothing is silently dropped.

``dataset.langsmith("name")`` reads a LangSmith dataset through the ``langsmith`` SDK (see
:class:`LangSmithDataset`), cached on disk by LangSmith version so a second run needs no network.
"""

from __future__ import annotations

import contextlib
import csv
import datetime as dt
import hashlib
import json
import os
import sys
from collections.abc import Generator, Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from judgekit.errors import DatasetError
from judgekit.types import Example

if TYPE_CHECKING:
    from langsmith import Client as LangSmithClient

__all__ = ["Dataset", "LangSmithDataset", "canonical_json", "content_hash", "dataset"]

FieldMap = Mapping[str, "str | Sequence[str]"]


def canonical_json(value: Any) -> str:
    """Serialise ``value`` deterministically (sorted keys, no spaces) for hashing."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False,
                      default=str)


def content_hash(value: Any, length: int = 12) -> str:
    """Return a short SHA-256 hex digest of the canonical JSON of ``value``."""
    return hashlib.sha256(canonical_json(value).encode()).hexdigest()[:length]


class Dataset:
    """An ordered, immutable list of examples with a name and a content-hash version.

    Files are read on first use, so defining a dataset in a suite costs nothing until it runs.
    A file dataset is also *streamed*: ``len()`` and :attr:`version` read the file once
    without keeping its examples, and :meth:`stream` reads them again one at a time, so a run
    over 1,000,000 rows holds only the cases in flight. ``examples``, iteration and indexing
    load the whole file into memory, as before.

    Attributes:
        name: The file's stem, or the name given.
        source: Where the rows come from (a path, ``"inline"``, or a LangSmith dataset name).
    """

    def __init__(
        self,
        name: str,
        *,
        records: Sequence[Mapping[str, Any]] | None = None,
        path: Path | None = None,
        fields: FieldMap | None = None,
        examples: Sequence[Example] | None = None,
    ) -> None:
        self.name = name
        self.path = path
        self.fields = fields
        self.source = str(path) if path is not None else "inline"
        self._records = records
        self._examples: tuple[Example, ...] | None = tuple(examples) if examples else None
        self._version: str | None = None
        self._n: int | None = None  # rows counted by _scan, without loading them
        self._renames: dict[int, str] = {}  # row index -> numbered id of a duplicate row

    @property
    def examples(self) -> tuple[Example, ...]:
        """The examples, loading the file on first access."""
        if self._examples is None:
            self._examples = tuple(_unique_ids(self._load()))
        return self._examples

    @property
    def version(self) -> str:
        """Content hash of every example (id, inputs, reference, metadata)."""
        if self._version is None:
            if self._streams():
                self._scan()
            else:
                hasher = _VersionHash()
                for e in self.examples:
                    hasher.add(e)
                self._version = hasher.hexdigest()
        assert self._version is not None
        return self._version

    def stream(self) -> Generator[Example, None, None]:
        """Yield the examples one at a time, in order, as :attr:`examples` would hold them.

        A file dataset is read from disk again on each call and nothing is kept; the first
        call checks the whole file first (ids, malformed rows, the version), so a bad row
        raises before the first example is yielded. Should the file change between that
        check and the end of a later read, :class:`~judgekit.errors.DatasetError` says so.
        """
        if not self._streams():
            yield from self.examples
            return
        self._scan()
        hasher = _VersionHash()
        for i, (_, ex) in enumerate(self._load()):
            renamed = self._renames.get(i)
            if renamed is not None:
                ex = Example(id=renamed, inputs=ex.inputs, reference=ex.reference,
                             metadata=ex.metadata)
            hasher.add(ex)
            yield ex
        if hasher.n != self._n or hasher.hexdigest() != self._version:
            raise DatasetError(f"{self.path}: the file changed while the run was reading it "
                               f"(version {self._version} when the run started); run again")

    def _streams(self) -> bool:
        """Whether examples are read from the file on demand instead of kept in memory."""
        return self._examples is None and self.path is not None

    def _scan(self) -> None:
        """Read the file once: validate every row and id, count them, hash the version."""
        if self._n is not None:
            return
        hasher = _VersionHash()
        renames: dict[int, str] = {}
        with contextlib.closing(_SeenIds()) as seen:
            for ex in _unique_ids(self._load(), seen, renames):
                hasher.add(ex)
        self._renames = renames
        self._n, self._version = hasher.n, hasher.hexdigest()

    def _load(self) -> Iterator[tuple[str, Example]]:
        if self._records is not None:
            for i, rec in enumerate(self._records, start=1):
                where = f"{self.name} record {i}"  # the duplicate-id message names it too
                yield where, _to_example(rec, self.fields, where)
            return
        assert self.path is not None
        suffix = self.path.suffix.lower()
        if not self.path.is_file():
            raise DatasetError(f"{self.path}: dataset file not found")
        if suffix in (".jsonl", ".ndjson"):
            yield from _read_jsonl(self.path, self.fields)
        elif suffix == ".csv":
            yield from _read_csv(self.path, self.fields)
        elif suffix == ".json":
            yield from _read_json_array(self.path, self.fields)
        else:
            raise DatasetError(
                f"{self.path}: unsupported dataset format {suffix!r}; use .jsonl, .csv or .json"
            )

    def __len__(self) -> int:
        if self._streams():
            self._scan()
            assert self._n is not None
            return self._n
        return len(self.examples)

    def __iter__(self) -> Iterator[Example]:
        return iter(self.examples)

    def __getitem__(self, index: int) -> Example:
        return self.examples[index]

    def __repr__(self) -> str:
        loaded = (f"{len(self.examples)} examples" if self._examples is not None
                  else f"{self._n} examples, streamed" if self._n is not None else "not loaded")
        return f"Dataset({self.name!r}, {self.source}, {loaded})"


class _DatasetFactory:
    """``dataset(...)`` for files and inline records; ``dataset.langsmith(...)`` for LangSmith."""

    def __call__(
        self,
        source: str | Path | Iterable[Mapping[str, Any]] | Dataset,
        *,
        name: str | None = None,
        fields: FieldMap | None = None,
        base_dir: str | Path | None = None,
    ) -> Dataset:
        """Define a dataset from a file path or from inline records.

        Args:
            source: A ``.jsonl``/``.csv``/``.json`` path (relative paths resolve against the file
                that calls ``dataset``, i.e. the suite file), or a list of records.
            name: Dataset name (default: the file's stem, or ``"inline"``).
            fields: Maps ``inputs``/``reference``/``id``/``metadata`` to the record's own field
                names, for shapes judgekit does not read natively and for CSV columns.
            base_dir: Resolve relative paths against this directory instead of the caller's.

        Example:
            >>> qa = dataset([{"inputs": {"q": "2+2"}, "reference": "4"}])
            >>> qa[0].reference
            '4'
        """
        if isinstance(source, Dataset):
            return source
        if isinstance(source, (str, Path)):
            path = Path(source)
            if not path.is_absolute():
                if base_dir is None:
                    caller = sys._getframe(1).f_globals.get("__file__")
                    base = Path(caller).resolve().parent if caller else Path.cwd()
                else:
                    base = Path(base_dir)
                path = base / path
            return Dataset(name or path.stem, path=path, fields=fields)
        records = list(source)
        for i, rec in enumerate(records, start=1):
            if not isinstance(rec, Mapping):
                raise DatasetError(f"inline dataset record {i}: expected a dict, got "
                                   f"{type(rec).__name__}")
        return Dataset(name or "inline", records=records, fields=fields)

    def langsmith(
        self,
        name: str,
        *,
        version: str | dt.datetime | None = None,
        splits: Sequence[str] | None = None,
        api_url: str | None = None,
        api_key: str | None = None,
        cache_dir: str | Path | None = None,
    ) -> LangSmithDataset:
        """Define a dataset read from LangSmith (needs ``pip install 'judgekit[langsmith]'``).

        Nothing is fetched until the examples are first used. Each example keeps its LangSmith
        id as its judgekit id; ``inputs`` are the example's inputs, the reference is its
        ``outputs`` object as it is (like the ``outputs`` field of a JSONL row), except that
        outputs judgekit itself uploaded as ``{"output": value}`` for a non-dict reference
        (metadata ``judgekit_reference_key``) are unwrapped back to ``value``; an empty or
        missing ``outputs`` is no reference. Metadata is the example's, plus
        ``langsmith_example_id``, ``langsmith_dataset_id`` and ``langsmith_dataset_version``
        (so ``judgekit sync`` links runs to these examples instead of uploading a copy).

        The examples are cached under ``<store folder>/langsmith/<dataset id>/`` (the store
        folder is that of ``$JUDGEKIT_STORE``, default ``.judgekit``) per LangSmith version.
        A later load asks LangSmith only which version is current (no examples are read when
        it is cached); when LangSmith cannot be reached the newest cached copy is used, with a
        warning.

        Args:
            name: The LangSmith dataset name.
            version: A version tag (``"prod"``), a datetime (the dataset as of then), or None
                for the latest version.
            splits: Only examples in these splits (e.g. ``["test"]``).
            api_url: The endpoint (default: ``LANGSMITH_ENDPOINT`` and the SDK's fallbacks).
            api_key: The API key (default: ``LANGSMITH_API_KEY`` and the SDK's fallbacks).
            cache_dir: Cache under this folder instead of the store's.

        Example:
            >>> qa = dataset.langsmith("qa-regression", version="prod")  # nothing fetched yet
            >>> qa.source
            'langsmith:qa-regression'
        """
        return LangSmithDataset(name, version=version, splits=splits, api_url=api_url,
                                api_key=api_key, cache_dir=cache_dir)


#: Define a dataset: ``dataset(path or records, ...)`` or ``dataset.langsmith(name, ...)``.
dataset = _DatasetFactory()


# --------------------------------------------------------------------------------------------


def _pick(rec: Mapping[str, Any], spec: str | Sequence[str], where: str) -> Any:
    if isinstance(spec, str):
        if spec not in rec:
            raise DatasetError(f"{where}: field {spec!r} is missing "
                               f"(the row has {', '.join(map(repr, rec)) or 'no fields'})")
        return rec[spec]
    return {k: _pick(rec, k, where) for k in spec}


def _to_example(rec: Mapping[str, Any], fields: FieldMap | None, where: str) -> Example:
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


class _VersionHash:
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


class _SeenIds:
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
        import sqlite3  # only for big datasets

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


def _unique_ids(rows: Iterable[tuple[str, Example]], seen: _SeenIds | None = None,
                renames: dict[int, str] | None = None) -> Iterator[Example]:
    """Yield examples, refusing duplicate given ids and numbering duplicate content hashes.

    ``renames`` (if given) gets the row index and new id of every numbered duplicate.
    """
    seen = seen if seen is not None else _SeenIds()
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


def _read_jsonl(path: Path, fields: FieldMap | None) -> Iterator[tuple[str, Example]]:
    try:
        handle = path.open(encoding="utf-8")
    except OSError as exc:
        raise DatasetError(f"{path}: cannot read ({exc.strerror})") from None
    with handle:
        try:
            for lineno, line in enumerate(handle, start=1):
                if not line.strip():
                    continue
                where = f"{path} line {lineno}"
                try:
                    # rstrip: an error at the end of a cut-off row would otherwise be reported
                    # past the newline, as "column 1" (of a line 2 that does not exist).
                    rec = json.loads(line.rstrip())
                except json.JSONDecodeError as exc:
                    raise DatasetError(
                        f"{where}: not valid JSON ({exc.msg}: column {exc.colno})"
                    ) from None
                if not isinstance(rec, dict):
                    raise DatasetError(f"{where}: expected a JSON object, got "
                                       f"{type(rec).__name__}")
                yield where, _to_example(rec, fields, where)
        except UnicodeDecodeError as exc:
            raise DatasetError(f"{path}: not UTF-8 text ({exc.reason})") from None


def _read_json_array(path: Path, fields: FieldMap | None) -> Iterator[tuple[str, Example]]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError as exc:
        raise DatasetError(f"{path}: not UTF-8 text ({exc.reason})") from None
    except json.JSONDecodeError as exc:
        raise DatasetError(f"{path} line {exc.lineno}: not valid JSON ({exc.msg}: column "
                           f"{exc.colno})") from None
    if not isinstance(data, list):
        raise DatasetError(f"{path}: a .json dataset must be a list of records")
    for i, rec in enumerate(data, start=1):
        where = f"{path} record {i}"
        if not isinstance(rec, dict):
            raise DatasetError(f"{where}: expected an object, got {type(rec).__name__}")
        yield where, _to_example(rec, fields, where)


def _maybe_json(text: str) -> Any:
    stripped = text.strip()
    if stripped[:1] in ("{", "[") or stripped in ("null", "true", "false"):
        try:
            return json.loads(stripped)
        except json.JSONDecodeError:
            return text
    return text


def _read_csv(path: Path, fields: FieldMap | None) -> Iterator[tuple[str, Example]]:
    try:
        yield from _read_csv_text(path, fields)
    except UnicodeDecodeError as exc:  # e.g. a cp1252 export: say so, like the JSONL reader
        raise DatasetError(f"{path}: not UTF-8 text ({exc.reason})") from None


def _read_csv_text(path: Path, fields: FieldMap | None) -> Iterator[tuple[str, Example]]:
    try:
        # utf-8-sig: spreadsheet exports start with a BOM that would otherwise glue itself to
        # the first column name ("\ufeffid"), silently turning the id column into an input.
        handle = path.open(encoding="utf-8-sig", newline="")
    except OSError as exc:
        raise DatasetError(f"{path}: cannot read ({exc.strerror})") from None
    with handle:
        reader = csv.DictReader(handle)
        if not reader.fieldnames:
            raise DatasetError(f"{path}: empty CSV (no header row)")
        header = list(reader.fieldnames)
        if len(set(header)) != len(header):
            raise DatasetError(f"{path} line 1: duplicate column names in the header")
        for row in reader:
            lineno = reader.line_num
            where = f"{path} line {lineno}"
            if None in row:
                raise DatasetError(f"{where}: more values than header columns ({len(header)})")
            if any(v is None for v in row.values()):
                raise DatasetError(f"{where}: fewer values than header columns ({len(header)})")
            if fields:
                yield where, _to_example(row, fields, where)
                continue
            inputs = {k: v for k, v in row.items()
                      if k not in ("id", "reference") and not k.startswith("metadata.")}
            rec: dict[str, Any] = {
                "inputs": inputs,
                "metadata": {k[len("metadata."):]: v for k, v in row.items()
                             if k.startswith("metadata.")},
            }
            if "reference" in row:
                rec["reference"] = _maybe_json(row["reference"])
            if row.get("id"):
                rec["id"] = row["id"]
            yield where, _to_example(rec, None, where)


# --- LangSmith ---------------------------------------------------------------------------------

#: Metadata judgekit adds to examples read from LangSmith (``judgekit sync`` links runs by them).
LANGSMITH_META = ("langsmith_example_id", "langsmith_dataset_id", "langsmith_dataset_version")
_INSTALL_HINT = "pip install 'judgekit[langsmith]'"
_warned: set[tuple[str, str]] = set()  # (dataset, reason): each offline warning is shown once


class _Offline(Exception):
    """LangSmith could not be asked (unreachable, server errors, no key): try the cache."""


class LangSmithDataset(Dataset):
    """A LangSmith dataset, read on first use and cached per LangSmith version.

    Made by :meth:`dataset.langsmith <_DatasetFactory.langsmith>`, which documents the mapping
    and the cache.

    Attributes:
        name: The LangSmith dataset name.
        source: ``"langsmith:<name>"``.
        langsmith_version: The version tag or datetime asked for (None: latest).
        splits: The splits asked for (None: all).
        langsmith_id: The LangSmith dataset id, once loaded.
        langsmith_as_of: The LangSmith version (an ISO timestamp) loaded, once loaded.
    """

    def __init__(
        self,
        name: str,
        *,
        version: str | dt.datetime | None = None,
        splits: Sequence[str] | None = None,
        api_url: str | None = None,
        api_key: str | None = None,
        cache_dir: str | Path | None = None,
    ) -> None:
        super().__init__(name)
        if not isinstance(name, str) or not name:
            raise DatasetError("dataset.langsmith(): give the LangSmith dataset's name")
        if version is not None and not isinstance(version, (str, dt.datetime)):
            raise DatasetError(f"dataset.langsmith({name!r}): version= must be a tag name or a "
                               f"datetime, got {type(version).__name__}")
        if isinstance(splits, str):
            splits = [splits]
        self.source = f"langsmith:{name}"
        self.langsmith_version = version
        self.splits = sorted(splits) if splits else None
        self.langsmith_id: str | None = None
        self.langsmith_as_of: str | None = None
        self._api_url = api_url
        self._api_key = api_key
        self._cache_dir = Path(cache_dir) if cache_dir is not None else None

    # --- loading -------------------------------------------------------------------------------

    def _load(self) -> Iterator[tuple[str, Example]]:
        dataset_id, as_of, rows = self._fetch()
        self.langsmith_id, self.langsmith_as_of = dataset_id, as_of
        for row in rows:
            where = f"LangSmith dataset {self.name!r} example {row.get('id')}"
            yield where, _from_langsmith(row, dataset_id, as_of, where)

    def _fetch(self) -> tuple[str, str, list[dict[str, Any]]]:
        """(dataset id, version, example rows): from the cache when it holds this version."""
        try:
            import langsmith
            from langsmith import utils as ls_utils
        except ImportError:
            raise DatasetError(f"dataset.langsmith({self.name!r}) needs the langsmith package: "
                               f"{_INSTALL_HINT}") from None
        from urllib3.util import Retry  # a dependency of requests, which langsmith uses

        # Status errors are retried as the SDK does; an unreachable endpoint only once, since
        # the cache may answer instead.
        retry = Retry(total=3, connect=1, read=1, backoff_factor=0.5, allowed_methods=None,
                      status_forcelist=[429, 500, 502, 503, 504, 408, 425],
                      raise_on_status=False, respect_retry_after_header=True)
        try:
            client = langsmith.Client(api_url=self._api_url, api_key=self._api_key,
                                      auto_batch_tracing=False, retry_config=retry,
                                      timeout_ms=(5_000, 60_000))
        except ls_utils.LangSmithUserError as exc:  # e.g. an empty or malformed endpoint
            raise DatasetError(f"dataset.langsmith({self.name!r}): {exc}") from None
        try:
            return self._fetch_with(client, ls_utils)
        finally:
            client.close(timeout=0)

    def _fetch_with(self, client: LangSmithClient, ls_utils: Any
                    ) -> tuple[str, str, list[dict[str, Any]]]:
        endpoint = client.api_url
        label = f"LangSmith dataset {self.name!r}"
        try:
            if not client.api_key:
                raise _Offline("LANGSMITH_API_KEY is not set")
            try:
                ds = client.read_dataset(dataset_name=self.name)
                dataset_id = str(ds.id)
                as_of = self._current_version(client, dataset_id)
                cached = self._cache_file(dataset_id, as_of)
                if cached.is_file():
                    self._write_cache(dataset_id, as_of, [])  # only notes a new tag, if any
                    return dataset_id, as_of, _read_cache(cached)
                rows = [_example_row(e) for e in client.list_examples(
                    dataset_id=dataset_id, as_of=as_of, splits=self.splits)]
            except ls_utils.LangSmithAuthError:
                raise DatasetError(f"{label}: {endpoint} rejected the API key (401); set "
                                   "LANGSMITH_API_KEY to a valid key for this "
                                   "workspace") from None
            except ls_utils.LangSmithNotFoundError:
                raise DatasetError(f"{label} not found at {endpoint}; check the name (it is "
                                   "case-sensitive) and that LANGSMITH_API_KEY belongs to the "
                                   "workspace that has it") from None
            except (ls_utils.LangSmithConnectionError, ls_utils.LangSmithRequestTimeout,
                    ls_utils.LangSmithAPIError, ls_utils.LangSmithRateLimitError) as exc:
                raise _Offline(_short_reason(exc)) from None
            except ls_utils.LangSmithError as exc:  # other statuses, e.g. 502/503 after retries
                raise _Offline(_short_reason(exc)) from None
        except _Offline as offline:
            return self._from_cache(endpoint, str(offline))
        if not rows:
            raise DatasetError(f"{label} has no examples"
                               + (f" in splits {self.splits}" if self.splits else "")
                               + f" at version {as_of}")
        self._write_cache(dataset_id, as_of, rows)
        return dataset_id, as_of, rows

    def _current_version(self, client: LangSmithClient, dataset_id: str) -> str:
        """The LangSmith version (``as_of`` timestamp) to read: one cheap request."""
        from langsmith import utils as ls_utils

        label = f"LangSmith dataset {self.name!r}"
        try:
            if isinstance(self.langsmith_version, dt.datetime):
                found = client.read_dataset_version(dataset_id=dataset_id,
                                                    as_of=self.langsmith_version)
            else:
                found = client.read_dataset_version(dataset_id=dataset_id,
                                                    tag=self.langsmith_version or "latest")
        except ls_utils.LangSmithNotFoundError:
            if self.langsmith_version is None:
                raise DatasetError(f"{label} has no examples") from None
            raise DatasetError(f"{label} has no version {self.langsmith_version!r}; give a tag "
                               "that exists (see the dataset's Versions tab), a datetime, or "
                               "no version for the latest") from None
        return _iso_utc(found.as_of)

    # --- the cache -----------------------------------------------------------------------------

    def _cache_root(self) -> Path:
        if self._cache_dir is not None:
            return self._cache_dir
        from judgekit.store import default_store_path  # the store module is heavier: lazily

        return default_store_path().parent / "langsmith"

    def _cache_file(self, dataset_id: str, as_of: str) -> Path:
        stamp = as_of.replace(":", "").replace("-", "").replace("+0000", "Z")
        suffix = f"-splits-{content_hash(self.splits, 8)}" if self.splits else ""
        return self._cache_root() / dataset_id / f"{stamp}{suffix}.jsonl"

    def _write_cache(self, dataset_id: str, as_of: str, rows: list[dict[str, Any]]) -> None:
        """Keep the rows of this version, and note in the folder's ``dataset.json`` index
        which name, splits and tag they answer (what an offline load looks up)."""
        path = self._cache_file(dataset_id, as_of)
        index_path = path.parent / "dataset.json"
        try:
            if rows or not path.is_file():
                _write_atomic(path, "".join(canonical_json(r) + "\n" for r in rows))
            try:
                index = json.loads(index_path.read_text(encoding="utf-8"))
            except (OSError, ValueError):
                index = {}
            versions = dict(index.get("versions") or {})  # a copy: compared with index below
            entry = dict(versions.get(path.name) or {"as_of": as_of, "splits": self.splits,
                                                     "tags": []})
            tag = self.langsmith_version
            if isinstance(tag, str) and tag not in entry["tags"]:
                entry["tags"] = sorted([*entry["tags"], tag])
            versions[path.name] = entry
            new_index = {"id": dataset_id, "name": self.name, "versions": versions}
            if new_index != index:
                _write_atomic(index_path, json.dumps(new_index, indent=1, sort_keys=True))
        except OSError as exc:  # a read-only checkout still runs, only without a cache
            _warn_once(self.name, "cache", f"warning: cannot cache LangSmith dataset "
                       f"{self.name!r} under {path.parent} ({exc.strerror}); it will be "
                       "downloaded again next time")

    def _from_cache(self, endpoint: str, reason: str) -> tuple[str, str, list[dict[str, Any]]]:
        """The newest cached copy that fits this version and these splits, with a warning."""
        root = self._cache_root()
        best: tuple[str, str, Path] | None = None
        for index_path in sorted(root.glob("*/dataset.json")):
            try:
                index = json.loads(index_path.read_text(encoding="utf-8"))
            except (OSError, ValueError):
                continue
            if index.get("name") != self.name:
                continue
            for file_name, info in (index.get("versions") or {}).items():
                path = index_path.parent / file_name
                if info.get("splits") != self.splits or not path.is_file():
                    continue
                if not self._fits(info):
                    continue
                if best is None or info["as_of"] > best[1]:
                    best = (str(index["id"]), str(info["as_of"]), path)
        if best is None:
            raise DatasetError(
                f"LangSmith dataset {self.name!r}: cannot load it from {endpoint} ({reason}) "
                f"and there is no cached copy under {root}; check LANGSMITH_ENDPOINT, "
                "LANGSMITH_API_KEY and the network, then run again")
        dataset_id, as_of, path = best
        _warn_once(self.name, "offline", f"warning: LangSmith dataset {self.name!r}: cannot "
                   f"load it from {endpoint} ({reason}); using the cached copy of version "
                   f"{as_of}")
        return dataset_id, as_of, _read_cache(path)

    def _fits(self, info: Mapping[str, Any]) -> bool:
        """Whether a cached version answers this dataset's ``version=``."""
        wanted = self.langsmith_version
        if wanted is None:
            return True
        if isinstance(wanted, str):
            return wanted in (info.get("tags") or [])
        return str(info.get("as_of", "")) <= _iso_utc(wanted)


def _iso_utc(when: dt.datetime | str) -> str:
    """A LangSmith timestamp as a sortable UTC ISO string (naive means UTC)."""
    if isinstance(when, str):
        when = dt.datetime.fromisoformat(when.replace("Z", "+00:00"))
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.timezone.utc)
    return when.astimezone(dt.timezone.utc).isoformat(timespec="microseconds")


def _short_reason(exc: BaseException) -> str:
    """The first line of an SDK error, without its long ``requests`` repr tail."""
    text = str(exc).split("\n", 1)[0]
    for cut in (" in LangSmith API.", " HTTPError("):
        if cut in text:
            text = text.split(cut, 1)[0] + (" in LangSmith API" if "API" in cut else "")
    return text[:200]


def _warn_once(dataset_name: str, reason: str, message: str) -> None:
    if (dataset_name, reason) not in _warned:
        _warned.add((dataset_name, reason))
        print(message, file=sys.stderr)


def _example_row(example: Any) -> dict[str, Any]:
    """A ``langsmith.schemas.Example`` as the plain dict the cache keeps."""
    return {"id": str(example.id), "inputs": example.inputs or {},
            "outputs": example.outputs, "metadata": example.metadata or {}}


def _from_langsmith(row: Mapping[str, Any], dataset_id: str, as_of: str, where: str) -> Example:
    """One LangSmith example as a judgekit :class:`Example` (mapping: ``dataset.langsmith``)."""
    inputs, outputs, metadata = row.get("inputs"), row.get("outputs"), row.get("metadata")
    if not isinstance(inputs, Mapping):
        raise DatasetError(f"{where}: inputs must be an object, got {type(inputs).__name__}")
    metadata = dict(metadata) if isinstance(metadata, Mapping) else {}
    key = metadata.get("judgekit_reference_key")
    if isinstance(outputs, Mapping) and key is not None and list(outputs) == [key]:
        reference: Any = outputs[key]  # judgekit wrapped a non-dict reference: unwrap it
    else:
        reference = outputs or None  # {} and null both mean "no reference"
    metadata.update(langsmith_example_id=str(row["id"]), langsmith_dataset_id=dataset_id,
                    langsmith_dataset_version=as_of)
    return Example(id=str(row["id"]), inputs=dict(inputs), reference=reference,
                   metadata=metadata)


def _read_cache(path: Path) -> list[dict[str, Any]]:
    try:
        return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()
                if line.strip()]
    except (OSError, ValueError) as exc:
        raise DatasetError(f"{path}: the cached LangSmith dataset is unreadable ({exc}); "
                           "delete the file and run again") from None


def _write_atomic(path: Path, text: str) -> None:
    """Write via a temporary file and a rename, so a reader never sees half a file."""
    import tempfile  # ~3 ms, for the rare LangSmith download only

    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
