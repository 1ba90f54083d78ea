"""Export a stored run: fine-tuning data in OpenAI's chat format, or its results as JSONL / CSV.

``openai-chat`` turns the *target* calls of a run into fine-tuning JSONL, one line per call::

    {"messages": [{"role": "system", ...}, {"role": "user", ...},
                  {"role": "assistant", "content": "<the reply the model gave>"}]}

the messages exactly as they were sent (system prompts the store keeps once are put back) and
the reply as it was received. A strong model's run ("teacher") filtered to its passing cases is
training data for a smaller model (distillation). Calls that errored or brought no text back
are skipped and counted; every line is checked against the fine-tuning format before anything
is written.

``jsonl`` and ``csv`` write the results: one row per case × score (a case without scores, e.g.
one whose target raised, is one row with empty score fields). CSV cells that a spreadsheet would
read as a formula (text starting with ``=``, ``+``, ``-``, ``@``, tab or carriage return) get a
leading ``'`` (OWASP, CSV injection); numbers stay numbers.

Output goes to a file beside the target and is renamed over it when complete: a failed export
leaves no partial file (and an older file of that name as it was).
"""

from __future__ import annotations

import csv
import hashlib
import re
import shutil
import sys
import tempfile
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from judgekit._files import atomic_text
from judgekit._json import canonical, dumps, loads
from judgekit.errors import ConfigError
from judgekit.store import ExperimentRow, Store
from judgekit.types import CaseResult

__all__ = [
    "CHAT_ROLES",
    "EXPORT_FORMATS",
    "RESULT_COLUMNS",
    "ExportError",
    "ExportResult",
    "ScoreFilter",
    "chat_example_problem",
    "export_run",
    "neutralise_cell",
]

#: The formats :func:`export_run` writes.
EXPORT_FORMATS = ("openai-chat", "jsonl", "csv")

#: Roles a fine-tuning example's messages may have.
CHAT_ROLES = ("system", "user", "assistant", "tool")

#: The columns of a ``jsonl`` / ``csv`` results row, in order.
RESULT_COLUMNS = ("experiment_id", "variant", "example_id", "repetition", "inputs", "outputs",
                  "reference", "error", "score_key", "score", "value", "passed", "status",
                  "comment")

# OWASP's list: a spreadsheet takes a cell starting with one of these for a formula (or, for
# tab and carriage return, strips them and looks again).
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")

_SCORE_FILTER = re.compile(r"^\s*(?P<key>[^<>=]+?)\s*(?P<op>>=|<=|==|>|<)\s*(?P<x>[^<>=\s]+)\s*$")
_OPS: dict[str, Callable[[float, float], bool]] = {
    ">=": lambda a, b: a >= b, ">": lambda a, b: a > b, "<=": lambda a, b: a <= b,
    "<": lambda a, b: a < b, "==": lambda a, b: a == b,
}


class ExportError(ConfigError):
    """An export that cannot be written as asked: a bad filter, no examples left after the
    filters, or an example the fine-tuning format rejects. Nothing is written."""


@dataclass(frozen=True)
class ScoreFilter:
    """``--score KEY>=X``: keep a case when its ok ``KEY`` scores all compare true with ``X``.

    Example:
        >>> ScoreFilter.parse("cot_qa>=0.8")
        ScoreFilter(key='cot_qa', op='>=', threshold=0.8)
    """

    key: str
    op: str
    threshold: float

    @classmethod
    def parse(cls, text: str) -> ScoreFilter:
        """Read ``KEY>=X`` (also ``>``, ``<=``, ``<``, ``==``).

        Raises:
            ExportError: the text is not of that shape or X is not a number.
        """
        m = _SCORE_FILTER.match(text)
        if m is None:
            raise ExportError(f"--score {text!r}: expected KEY>=X (or >, <=, <, ==), e.g. "
                              "--score 'cot_qa>=1'")
        try:
            threshold = float(m["x"])
        except ValueError:
            raise ExportError(f"--score {text!r}: {m['x']!r} is not a number") from None
        return cls(m["key"], m["op"], threshold)

    def accepts(self, case: CaseResult) -> bool:
        """True when the case has an ok ``key`` score and every one compares true."""
        values = [s.score for s in case.scores if s.key == self.key and s.status == "ok"]
        return bool(values) and all(v is not None and _OPS[self.op](v, self.threshold)
                                    for v in values)

    def __str__(self) -> str:
        return f"{self.key}{self.op}{self.threshold:g}"


@dataclass
class ExportResult:
    """What :func:`export_run` wrote.

    Attributes:
        format: One of :data:`EXPORT_FORMATS`.
        path: Where it went (``-`` is stdout).
        written: Lines (examples, or results rows) written, header not counted.
        skipped: Target calls left out, by reason (``openai-chat``).
        filtered: Cases left out by ``where_passed`` / ``score`` filters.
    """

    format: str
    path: str
    written: int = 0
    skipped: Counter[str] = field(default_factory=Counter)
    filtered: int = 0

    def summary(self) -> str:
        """One line: ``12 examples written to train.jsonl (3 skipped: 2 errored, ...)``."""
        noun = "example" if self.format == "openai-chat" else "row"
        where = "stdout" if self.path == "-" else self.path
        text = f"{self.written} {noun}{'' if self.written == 1 else 's'} written to {where}"
        notes = []
        if self.skipped:
            reasons = ", ".join(f"{n} {why}" for why, n in self.skipped.most_common())
            notes.append(f"{_count(sum(self.skipped.values()), 'call')} skipped: {reasons}")
        if self.filtered:
            notes.append(f"{_count(self.filtered, 'case')} filtered out")
        return text + (f" ({'; '.join(notes)})" if notes else "")


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}{'' if n == 1 else 's'}"


def neutralise_cell(value: Any) -> Any:
    """A CSV cell for ``value``: numbers as they are, None empty, booleans ``true``/``false``,
    other non-strings as JSON text, and text a spreadsheet would run as a formula behind a
    ``'``.

    Example:
        >>> [neutralise_cell(v) for v in ("=1+1", "-x", -3, None, True, {"a": 1})]
        ["'=1+1", "'-x", -3, '', 'true', '{"a":1}']
    """
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return value
    text = value if isinstance(value, str) else dumps(value)
    return f"'{text}" if text.startswith(_FORMULA_START) else text


def chat_example_problem(example: Any) -> str | None:
    """What makes ``example`` an invalid chat fine-tuning line, or None when it is valid.

    The rules: a ``messages`` list; each message an object with a role among
    :data:`CHAT_ROLES` and string ``content`` (an assistant message with ``tool_calls`` may
    have none); the last message from the assistant, with text.

    Example:
        >>> chat_example_problem({"messages": [{"role": "user", "content": "hi"}]})
        'the last message is from the user, not the assistant'
    """
    messages = example.get("messages") if isinstance(example, Mapping) else None
    if not isinstance(messages, list) or not messages:
        return "no messages"
    for n, m in enumerate(messages, 1):
        if not isinstance(m, Mapping):
            return f"message {n} is not an object"
        role = m.get("role")
        if role not in CHAT_ROLES:
            return (f"message {n} has role {role!r}; fine-tuning takes "
                    f"{', '.join(CHAT_ROLES)}")
        content = m.get("content")
        if role == "assistant" and m.get("tool_calls") and content is None:
            continue
        if not isinstance(content, str):
            what = "no content" if content is None else f"{type(content).__name__} content"
            return f"message {n} ({role}) has {what}; fine-tuning wants text"
    last = messages[-1]
    if last.get("role") != "assistant":
        return f"the last message is from the {last.get('role')}, not the assistant"
    if not isinstance(last.get("content"), str) or not last["content"].strip():
        return "the last (assistant) message is empty"
    return None


def export_run(store: Store, ref: str, fmt: str, path: str | Path, *,
               where_passed: bool = False, scores: Sequence[str | ScoreFilter] = (),
               variants: Sequence[str] = (), dedupe: bool = False) -> ExportResult:
    """Export run (or experiment) ``ref`` of ``store`` to ``path`` in format ``fmt``.

    Args:
        store: The result store.
        ref: A run id (or a prefix of one): all its experiments; an experiment id (``RUN-N``):
            that one only.
        fmt: ``openai-chat`` (fine-tuning JSONL of the target calls), ``jsonl`` or ``csv``
            (one results row per case × score).
        path: The file to write; ``-`` is stdout.
        where_passed: Only cases that passed: no error, no errored score, no ok score failed.
        scores: ``KEY>=X`` filters (or :class:`ScoreFilter`): every one must hold.
        variants: Only the experiments with these variant labels (default: all).
        dedupe: Drop examples whose message list was already written (``openai-chat``).

    Returns:
        What was written and what was left out.

    Raises:
        ExportError: a bad format or filter, no examples left, or an invalid example
            (nothing is written then).
        StoreError: no such run or experiment.

    Example:
        >>> with Store.existing() as store:  # doctest: +SKIP
        ...     print(export_run(store, "7f3a2c", "openai-chat", "train.jsonl",
        ...                      where_passed=True, dedupe=True).summary())
        12 examples written to train.jsonl (1 call skipped: 1 errored)
    """
    if fmt not in EXPORT_FORMATS:
        raise ExportError(f"unknown export format {fmt!r}; choose {', '.join(EXPORT_FORMATS)}")
    if dedupe and fmt != "openai-chat":
        raise ExportError("--dedupe drops repeated fine-tuning examples: it goes with "
                          "--format openai-chat only")
    filters = [s if isinstance(s, ScoreFilter) else ScoreFilter.parse(s) for s in scores]
    experiments = _experiments(store, ref, variants)
    result = ExportResult(fmt, str(path))
    keys_seen: set[str] = set()

    def keep(case: CaseResult) -> bool:
        keys_seen.update(s.key for s in case.scores)
        ok = (not where_passed or _passed(case)) and all(f.accepts(case) for f in filters)
        if not ok:
            result.filtered += 1
        return ok

    def write(f: IO[str]) -> None:
        if fmt == "openai-chat":
            _write_chat(f, store, experiments, keep, dedupe, result)
        else:
            _write_results(f, fmt, store, experiments, keep, result)
        if result.written == 0:
            raise ExportError(_nothing_left(ref, result, where_passed, filters, keys_seen))

    _write_atomic(path, write, newline="" if fmt == "csv" else None)
    return result


# -- selecting -------------------------------------------------------------------------------

def _experiments(store: Store, ref: str, variants: Sequence[str]) -> list[ExperimentRow]:
    rows = store.resolve(ref)
    if variants:
        labels = [r.variant_label for r in rows]
        unknown = [v for v in variants if v not in labels]
        if unknown:
            raise ExportError(f"--variant {unknown[0]!r}: {ref} has no such variant; its "
                              f"variants are {', '.join(labels)}")
        rows = [r for r in rows if r.variant_label in variants]
    return rows


def _passed(case: CaseResult) -> bool:
    """No case error, no errored score, no ok score that failed (unscored/skipped are fine)."""
    return case.error is None and not any(s.failed or s.status == "error"
                                          for s in case.scores)


def _nothing_left(ref: str, result: ExportResult, where_passed: bool,
                  filters: Sequence[ScoreFilter], keys_seen: set[str]) -> str:
    """The one line saying why an export came out empty."""
    why: list[str] = []
    if result.filtered:
        given = (["--where passed"] if where_passed else []) + \
            [f"--score {f}" for f in filters]
        why.append(f"{_count(result.filtered, 'case')} filtered out by {' '.join(given)}")
    unknown = [f.key for f in filters if f.key not in keys_seen]
    if unknown:
        why.append(f"no case has a score {unknown[0]!r} (keys: "
                   f"{', '.join(sorted(keys_seen)) or 'none'})")
    if result.skipped:
        why.append(", ".join(f"{_count(n, 'call')} {reason}"
                             for reason, n in result.skipped.most_common()))
    if result.format != "openai-chat":
        return f"no results to export from {ref}: {'; '.join(why or ['no cases'])}; nothing written"
    if not why:
        why.append("its targets made no model calls judgekit recorded (the llm fixture, "
                   "wrap_openai or the LangChain callback record them)")
    return f"no fine-tuning examples in {ref}: {'; '.join(why)}; nothing written"


# -- openai-chat -----------------------------------------------------------------------------

def _chat_examples(store: Store, experiments: Iterable[ExperimentRow],
                   keep: Callable[[CaseResult], bool], result: ExportResult
                   ) -> Iterator[tuple[str, dict[str, Any]]]:
    """``(where, example)`` per usable target call of the kept cases."""
    for exp in experiments:
        for case in store.iter_cases(exp.id):
            if not keep(case):
                continue
            targets = [c for c in case.calls if c.role == "target"]
            for n, call in enumerate(targets, 1):
                if call.error:
                    result.skipped["errored"] += 1
                    continue
                if not (call.response_text or "").strip():
                    result.skipped["without response text"] += 1
                    continue
                where = f"case {case.example_id!r} of {exp.id}"
                if case.repetition:
                    where += f" repetition {case.repetition}"
                if len(targets) > 1:
                    where += f" call {n}"
                request = call.request if isinstance(call.request, Mapping) else {}
                sent = request.get("messages")
                messages = [dict(m) if isinstance(m, Mapping) else m
                            for m in (sent if isinstance(sent, list) else [])]
                example: dict[str, Any] = {"messages": [
                    *messages, {"role": "assistant", "content": call.response_text}]}
                params = request.get("params")
                if isinstance(params, Mapping) and params.get("tools"):
                    example["tools"] = params["tools"]  # tool-use fine-tuning needs them
                yield where, example


def _write_chat(f: IO[str], store: Store, experiments: Iterable[ExperimentRow],
                keep: Callable[[CaseResult], bool], dedupe: bool,
                result: ExportResult) -> None:
    seen: set[bytes] = set()
    for where, example in _chat_examples(store, experiments, keep, result):
        problem = chat_example_problem(example)
        if problem is not None:
            raise ExportError(f"example {result.written + 1} ({where}): {problem}; "
                              "nothing written")
        if dedupe:
            digest = hashlib.sha256(canonical(example)).digest()
            if digest in seen:
                result.skipped["duplicate"] += 1
                continue
            seen.add(digest)
        f.write(dumps(example) + "\n")
        result.written += 1


# -- results (jsonl, csv) --------------------------------------------------------------------

def _result_rows(store: Store, experiments: Iterable[ExperimentRow],
                 keep: Callable[[CaseResult], bool]) -> Iterator[dict[str, Any]]:
    for exp in experiments:
        for case in store.iter_cases(exp.id, with_calls=False):
            if not keep(case):
                continue
            found = store.db.execute(
                "SELECT inputs, reference FROM examples WHERE dataset_version=? AND id=?",
                (exp.dataset_version, case.example_id)).fetchone()
            inputs, reference = (None, None) if found is None else (
                loads(found[0]), None if found[1] is None else loads(found[1]))
            base = {"experiment_id": exp.id, "variant": exp.variant_label,
                    "example_id": case.example_id, "repetition": case.repetition,
                    "inputs": inputs, "outputs": case.outputs, "reference": reference,
                    "error": None if case.error is None else str(case.error)}
            if not case.scores:
                yield {**base, **dict.fromkeys(RESULT_COLUMNS[8:])}
            for s in case.scores:
                yield {**base, "score_key": s.key, "score": s.score, "value": s.value,
                       "passed": s.passed, "status": s.status, "comment": s.comment}


def _write_results(f: IO[str], fmt: str, store: Store, experiments: Iterable[ExperimentRow],
                   keep: Callable[[CaseResult], bool], result: ExportResult) -> None:
    rows = _result_rows(store, experiments, keep)
    if fmt == "jsonl":
        for row in rows:
            f.write(dumps(row) + "\n")
            result.written += 1
        return
    out = csv.writer(f)
    out.writerow(RESULT_COLUMNS)
    for row in rows:
        out.writerow([neutralise_cell(row[c]) for c in RESULT_COLUMNS])
        result.written += 1


# -- writing ---------------------------------------------------------------------------------

def _write_atomic(path: str | Path, write: Callable[[IO[str]], None], *,
                  newline: str | None) -> None:
    """Run ``write`` on a temporary file, then rename it to ``path`` (or copy it to stdout
    for ``-``): an error raised while writing leaves nothing behind."""
    if str(path) == "-":
        with tempfile.TemporaryFile("w+", encoding="utf-8", newline=newline) as tmp:
            write(tmp)
            tmp.seek(0)
            shutil.copyfileobj(tmp, sys.stdout)
        sys.stdout.flush()
        return
    try:
        with atomic_text(path, newline=newline) as f:
            write(f)
    except OSError as exc:
        raise ExportError(f"{path}: cannot write the export ({exc.strerror or exc})") from None
