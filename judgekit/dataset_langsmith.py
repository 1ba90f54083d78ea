"""Datasets read from LangSmith through its SDK, cached on disk per LangSmith version."""

from __future__ import annotations

import datetime as dt
import json
import sys
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from judgekit._files import atomic_text
from judgekit.dataset_base import Dataset
from judgekit.dataset_rows import canonical_json, content_hash
from judgekit.errors import DatasetError
from judgekit.types import Example

if TYPE_CHECKING:
    from langsmith import Client as LangSmithClient
__all__ = ["LangSmithDataset"]

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
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_text(path) as handle:
        handle.write(text)
