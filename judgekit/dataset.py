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

import datetime as dt
import sys
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from judgekit.dataset_base import Dataset
from judgekit.dataset_langsmith import LangSmithDataset
from judgekit.dataset_rows import FieldMap, canonical_json, content_hash
from judgekit.errors import DatasetError

__all__ = ["Dataset", "LangSmithDataset", "canonical_json", "content_hash", "dataset"]


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

