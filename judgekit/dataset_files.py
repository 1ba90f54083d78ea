"""Dataset files read row by row: JSONL, a JSON array and CSV, each row named by its line."""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from judgekit.dataset_rows import FieldMap, to_example
from judgekit.errors import DatasetError
from judgekit.types import Example

__all__: list[str] = []


def read_jsonl(path: Path, fields: FieldMap | None) -> Iterator[tuple[str, Example]]:
    """Each line's (where, example) of a JSONL file, streamed; a bad line names its number."""
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
                yield where, to_example(rec, fields, where)
        except UnicodeDecodeError as exc:
            raise DatasetError(f"{path}: not UTF-8 text ({exc.reason})") from None


def read_json_array(path: Path, fields: FieldMap | None) -> Iterator[tuple[str, Example]]:
    """Each element's (where, example) of a JSON file holding one array of rows."""
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
        yield where, to_example(rec, fields, where)


def _maybe_json(text: str) -> Any:
    stripped = text.strip()
    if stripped[:1] in ("{", "[") or stripped in ("null", "true", "false"):
        try:
            return json.loads(stripped)
        except json.JSONDecodeError:
            return text
    return text


def read_csv(path: Path, fields: FieldMap | None) -> Iterator[tuple[str, Example]]:
    """Each row's (where, example) of a CSV file with a header line, streamed."""
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
                yield where, to_example(row, fields, where)
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
            yield where, to_example(rec, None, where)


# --- LangSmith ---------------------------------------------------------------------------------

