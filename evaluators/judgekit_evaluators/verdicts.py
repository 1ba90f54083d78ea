"""Strict verdict parsers for LLM judges: ``GRADE:`` lines, ``[[n]]``, ``[[PASS]]``, ``[[A]]``.

Every judge asks for its reasoning first and its verdict last, and every reply goes through
:func:`read_verdict`, which accepts either a structured (JSON) reply or the judge's text protocol
and returns a :class:`Verdict`. A reply that does not end in a verdict the judge offered is
*unscored* (``Verdict.value is None``) with a one-phrase ``error``; it never silently falls back to
an earlier verdict the judge only discussed.

Rules shared by all protocols:

* Invisible characters (Unicode category Cf: zero-width spaces and joiners, bidi marks, the
  invisible separator, BOM, soft hyphen) are removed before matching, so ``GRADE:\u200bC``
  reads as ``GRADE:C``. Matching is case-insensitive, and markdown emphasis around a verdict
  (``**GRADE: CORRECT**``, ``GRADE: *C*``, ``**[[8]]**``) is tolerated.
* Verdict last. ``GRADE:`` follows inspect_ai: the last ``GRADE:`` in the reply decides, even
  in mid-sentence. Bracket verdicts (``[[8]]``, ``[[PASS]]``, ``[[A]]``) are decided by the last
  one that stands on a line of its own (bar a short label: ``Rating: [[8]]``); mentions inside
  sentences ("a better answer would earn [[10]]") never override such a line, and without one
  they count only when they all agree. An off-menu deciding verdict (``GRADE: Z``, ``[[11]]``
  on a 1..10 scale, ``[[MAYBE]]`` on its own line) is unscored, even when an earlier line held
  a valid one.
* Verdicts inside code (fenced blocks; for brackets also inline code spans) are quoted
  material: ``array[[0]]`` or ``x[0]`` in a code sample never counts. Code that holds nothing
  but a verdict (an inline ``[[8]]`` in backticks) is read as that verdict. An unclosed fence runs
  to the end of the reply, as in CommonMark.

``Verdict.reasoning`` is the reply without its verdict line when that line holds only the verdict
(plus emphasis or a short label such as ``Rating:``); a verdict inside a sentence stays where it
is, and an unscored reply is kept whole. For a JSON reply it is the ``reasoning`` field (or the
prose before the JSON object).

Differences from FastChat's MT-bench parser (``\\[\\[(\\d+\\.?\\d*)\\]\\]``, first match, then the
backup ``\\[(\\d+\\.?\\d*)\\]`` anywhere; -1 when none): judgekit ignores code, prefers a rating on
a line of its own to the first one, leaves conflicting ratings in prose unscored, accepts the
single-bracket ``[n]`` only alone on a line and never as an index (``x[0]``), and treats a
rating outside the scale as unscored. For pairwise verdicts FastChat checks ``[[A]]``, then
``[[B]]``, then ``[[C]]`` anywhere in the reply; judgekit applies the bracket rule above.
tests/evaluators/test_verdict_corpora.py lists every MT-bench row where the two differ.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping, Sequence
from typing import Any

__all__ = [
    "REASONING_FIELDS",
    "VERDICT_FIELDS",
    "Verdict",
    "VerdictKind",
    "parse_choice",
    "parse_grade",
    "parse_pass",
    "parse_rating",
    "read_verdict",
]

from judgekit_evaluators._bracket_verdict import (
    _check_scale,
    _fmt,
    _rating,
    parse_choice,
    parse_pass,
    parse_rating,
)
from judgekit_evaluators._grade_verdict import _GRADE, parse_grade
from judgekit_evaluators._verdict_base import (
    REASONING_FIELDS,
    VERDICT_FIELDS,
    Verdict,
    VerdictKind,
    _strip_invisible,
)

# --------------------------------------------------------------------------- JSON replies

_FENCE_LINE = re.compile(r"^[^\S\n]*```[^\n]*$", re.MULTILINE)


def _json_reply(clean: str) -> tuple[dict[str, Any], str] | None:
    """The JSON object that is the reply, with the prose before it; None if there is none.

    The object is the whole reply, or the body of a final ```json (or bare ```) fence, so that
    "reasoning, then the verdict as JSON" works. A bare object after prose is not taken: a
    judge that ends by quoting the answer it judged must not have that quote read as its
    verdict. Text that only looks like JSON (does not parse) is left to the text protocol.
    """
    body, prose = clean.strip(), ""
    if body.endswith("```"):
        fences = list(_FENCE_LINE.finditer(body))
        if len(fences) < 2 or fences[-1].group(0).strip() != "```":
            return None
        opening = fences[-2]
        if opening.group(0).strip()[3:].strip().lower() not in ("", "json", "jsonc", "json5"):
            return None
        prose, body = body[: opening.start()], body[opening.end() : fences[-1].start()].strip()
    if not (body.startswith("{") and body.endswith("}")):
        return None
    try:
        obj = json.loads(body)
    except ValueError:
        return None
    return (obj, prose.strip()) if isinstance(obj, dict) else None


def _field(obj: Mapping[str, Any], names: Sequence[str]) -> tuple[str, Any] | None:
    lowered = {str(k).lower(): k for k in obj}
    for name in names:
        if name in lowered:
            return name, obj[lowered[name]]
    return None


def _json_verdict(obj: Mapping[str, Any], prose: str, kind: VerdictKind,
                  opts: Mapping[str, Any]) -> Verdict | None:
    """The verdict of a JSON reply; None when it has no verdict field (read it as text then)."""
    found = _field(obj, REASONING_FIELDS)
    reasoning = str(found[1]).strip() if found and found[1] is not None else prose
    verdict = _field(obj, VERDICT_FIELDS)
    if verdict is None:
        return None
    name, value = verdict
    if isinstance(value, bool):
        if kind == "pass":
            return Verdict("PASS" if value else "FAIL", reasoning)
        return Verdict(None, reasoning, f"JSON {name} is a boolean")
    if isinstance(value, (int, float)):
        try:
            number = float(value)
        except OverflowError:  # a JSON integer beyond float range
            number = math.inf
        if not math.isfinite(number):
            return Verdict(None, reasoning, f"JSON {name} is not a finite number")
        if kind != "rating":
            value = _fmt(number)  # 1 -> "1": choices may be digits ("[[1]]"/"[[2]]")
        else:
            scale = opts.get("scale", (1, 10))
            _check_scale(*scale)
            error = _rating(number, scale)
            return Verdict(None, reasoning, error) if error else Verdict(number, reasoning)
    if not isinstance(value, str):
        return Verdict(None, reasoning, f"JSON {name} is not a string or number")
    # A string verdict goes through the text protocol: "7", "[[7]]", "C", "GRADE: C", "[[A]]".
    text = value.strip()
    if kind == "grade":
        if not _GRADE.match(_strip_invisible(text)):
            text = "GRADE: " + text
    elif not re.fullmatch(r"\W*\[.*\]\W*", text, re.DOTALL):
        text = f"[[{text}]]"
    parsed = _PARSERS[kind](text, **opts)
    return Verdict(parsed.value, reasoning, parsed.error and f"JSON {name}: {parsed.error}")


_PARSERS: dict[str, Any] = {
    "grade": parse_grade,
    "rating": parse_rating,
    "pass": lambda text, **opts: parse_pass(text, **opts),  # no options: a TypeError names it
    "choice": parse_choice,
}


# The last line of a reply in exactly the form the prompt asks for, per kind.
_PLAIN_LAST = {"grade": {"GRADE: CORRECT": "CORRECT", "GRADE: INCORRECT": "INCORRECT"},
               "pass": {"[[PASS]]": "PASS", "[[FAIL]]": "FAIL"}}
# What, anywhere else in the reply, could make the full parser read it otherwise.
_PLAIN_MARK = {"grade": "grade", "pass": "["}


def _plain_verdict(text: str, kind: str) -> Verdict | None:
    """The verdict of a reply that ends with its verdict line exactly as asked ("GRADE:
    CORRECT", "[[PASS]]") and holds nothing else the parsers look at (no other GRADE or
    bracket, no code, no JSON, no character outside ASCII); None for any other reply.

    What the parsers return for such a reply, far cheaper: most replies of a judge following
    its prompt look like this (bench/README: issue 19). tests/evaluators/test_verdicts.py
    checks it against the full parsers.
    """
    last_lines = _PLAIN_LAST.get(kind)
    if last_lines is None:
        return None
    body = text.rstrip()
    cut = body.rfind("\n")
    value = last_lines.get(body[cut + 1:])
    if value is None or not text.isascii() or "`" in text or "~" in text \
            or body.lower().count(_PLAIN_MARK[kind]) != (1 if kind == "grade" else 2) \
            or body.lstrip().startswith("{"):
        return None
    return Verdict(value, body[:cut + 1].strip())


def read_verdict(text: str, kind: VerdictKind, **opts: Any) -> Verdict:
    """Parse a judge's reply, structured or text, into a Verdict: the one code path for judges.

    If the reply is a JSON object (the whole reply, or in a final ```json fence, optionally
    after some prose), its verdict field (the first of :data:`VERDICT_FIELDS` present) is
    normalised by the same rules as the text protocol: ``"CORRECT"`` / ``"C"`` / ``"GRADE: C"``
    for grades, ``7`` / ``"7"`` / ``"[[7]]"`` for ratings, ``"PASS"`` / ``true`` for pass,
    ``"A"`` / ``"[[A]]"`` for choices. Its reasoning is the first of :data:`REASONING_FIELDS`
    present, else the prose before the fence. Anything else, including JSON that does not
    parse and a JSON object without a verdict field, is read with the text protocol of
    ``kind``.

    Args:
        text: The judge's reply.
        kind: Which protocol: ``"grade"``, ``"rating"``, ``"pass"`` or ``"choice"``.
        **opts: Passed to the parser: ``choices``/``aliases`` (grade, choice), ``scale`` (rating).

    Returns:
        The Verdict.

    Example:
        >>> read_verdict('{"reasoning": "Clear and correct.", "verdict": 9}', "rating").value
        9.0
        >>> read_verdict("Clear and correct.\\nGRADE: C", "grade").value
        'CORRECT'
    """
    if kind not in _PARSERS:
        raise ValueError(f"unknown verdict kind {kind!r} (grade, rating, pass or choice)")
    if not opts:
        plain = _plain_verdict(text, kind)
        if plain is not None:
            return plain
    # The raw reply first, so that a JSON reasoning keeps its text as written; then without
    # invisible characters, which would otherwise break a reply like "\ufeff{...}".
    found = _json_reply(text)
    if found is None and not text.isascii():
        found = _json_reply(_strip_invisible(text))
    if found is not None:
        structured = _json_verdict(found[0], found[1], kind, opts)
        if structured is not None:
            return structured
    parsed: Verdict = _PARSERS[kind](text, **opts)
    return parsed
