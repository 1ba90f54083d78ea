"""The :class:`Dataset`: examples from inline records or a file, read on first use."""

from __future__ import annotations

import contextlib
from collections.abc import Generator, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from judgekit.dataset_files import read_csv, read_json_array, read_jsonl
from judgekit.dataset_rows import FieldMap, SeenIds, VersionHash, to_example, unique_ids
from judgekit.errors import DatasetError
from judgekit.types import Example

__all__ = ["Dataset"]


class Dataset:
    """An ordered, immutable list of examples with a name and a content-hash version.

    Files are read on first use, so defining a dataset in a suite costs nothing until it runs.
    A file dataset is also *streamed*: ``len()`` and :attr:`version` read the file once
    without keeping its examples, and :meth:`stream` reads them again one at a time, so a run
    over 1,000,000 rows holds only the cases in flight. ``examples``, iteration and indexing
    load the whole file into memory.

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
            self._examples = tuple(unique_ids(self._load()))
        return self._examples

    @property
    def version(self) -> str:
        """Content hash of every example (id, inputs, reference, metadata)."""
        if self._version is None:
            if self._streams():
                self._scan()
            else:
                hasher = VersionHash()
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
        hasher = VersionHash()
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
        hasher = VersionHash()
        renames: dict[int, str] = {}
        with contextlib.closing(SeenIds()) as seen:
            for ex in unique_ids(self._load(), seen, renames):
                hasher.add(ex)
        self._renames = renames
        self._n, self._version = hasher.n, hasher.hexdigest()

    def _load(self) -> Iterator[tuple[str, Example]]:
        if self._records is not None:
            for i, rec in enumerate(self._records, start=1):
                where = f"{self.name} record {i}"  # the duplicate-id message names it too
                yield where, to_example(rec, self.fields, where)
            return
        assert self.path is not None
        suffix = self.path.suffix.lower()
        if not self.path.is_file():
            raise DatasetError(f"{self.path}: dataset file not found")
        if suffix in (".jsonl", ".ndjson"):
            yield from read_jsonl(self.path, self.fields)
        elif suffix == ".csv":
            yield from read_csv(self.path, self.fields)
        elif suffix == ".json":
            yield from read_json_array(self.path, self.fields)
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
