"""The ``GRADE:`` protocol (inspect_ai's model-graded QA): the last ``GRADE:`` decides."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache

from judgekit_evaluators._verdict_base import (
    _DEFAULT_GRADE_ALIASES,
    _DEFAULT_GRADE_CHOICES,
    _GRADE_LABEL,
    _MASK,
    Verdict,
    _mask_code,
    _own_line,
    _Text,
)

__all__ = ["parse_grade"]

# --------------------------------------------------------------------------- GRADE protocol

# "GRADE:" not preceded by a letter or digit ("downgrade:" is prose), emphasis allowed around the
# keyword and the colon; the grade itself may sit on the next line ("**GRADE:**\nCORRECT").
_GRADE = re.compile(
    r"(?<![A-Za-z0-9])GRADE(?:[^\S\n]|[*_~`])*:(?:[^\S\n]|[*_~`\"'“”‘’(\[])*\n?"
    r"(?:[^\S\n]|[*_~`\"'“”‘’(\[])*",
    re.IGNORECASE,
)
# Code holding only a GRADE line or a bare word ("GRADE: `CORRECT`") is read as plain text.
_GRADE_IN_CODE = re.compile(r"GRADE\b.*|[A-Za-z][A-Za-z _-]{0,40}", re.IGNORECASE | re.DOTALL)
_WORD_END = r"(?![A-Za-z0-9])"  # "_" may close emphasis: "_I_"


@dataclass(frozen=True)
class _Menu:
    """The spellings a verdict may take: (spelling, canonical choice) pairs, longest spelling
    first so that "INCORRECT" beats "I", and one pattern trying them in that order."""

    pairs: tuple[tuple[str, str], ...]
    pattern: re.Pattern[str]


def _menu(choices: Sequence[str], aliases: Mapping[str, str]) -> _Menu:
    """The menu of ``choices`` and their ``aliases`` (built once per menu: judges reuse one)."""
    return _menu_of(tuple(choices), tuple(aliases.items()))


@lru_cache(maxsize=64)
def _menu_of(choices: tuple[str, ...], aliases: tuple[tuple[str, str], ...]) -> _Menu:
    pairs = [(c, c) for c in choices]
    # An alias pointing outside the offered choices is ignored: parse_grade(choices=("PASS",
    # "FAIL")) must not start accepting "C" through the default aliases.
    pairs += [(a, t) for a, t in aliases if t in choices]
    pairs.sort(key=lambda p: -len(p[0]))
    # One group per spelling, tried in order, each a whole word: the group that matched
    # (lastindex) names the spelling.
    groups = "|".join(f"({re.escape(spelling)})" for spelling, _ in pairs)
    return _Menu(tuple(pairs), re.compile(f"(?:{groups}){_WORD_END}", re.IGNORECASE))


def _match_menu(rest: str, menu: _Menu) -> tuple[str | None, int]:
    """The choice ``rest`` starts with (case-insensitively, as a whole word) and its length."""
    m = menu.pattern.match(rest) if menu.pairs else None
    if m is None or m.lastindex is None:
        return None, 0
    spelling, target = menu.pairs[m.lastindex - 1]
    return target, len(spelling)


def _first_word(rest: str) -> str:
    m = re.match(r"[^\s*_~`\"'“”‘’)\].,;:!?]+", rest)
    return m.group(0) if m else ""


def _menu_names(choices: Sequence[str]) -> str:
    return ", ".join(choices)


def parse_grade(
    text: str,
    choices: Sequence[str] = _DEFAULT_GRADE_CHOICES,
    aliases: Mapping[str, str] = _DEFAULT_GRADE_ALIASES,
) -> Verdict:
    """Read the last ``GRADE: X`` in a judge's reply.

    ``X`` must be one of ``choices`` or an alias of one (case-insensitive, whole word); the
    canonical choice is returned. When the last ``GRADE:`` holds anything else the reply is
    unscored: an earlier ``GRADE:`` the judge only discussed is never used instead.

    Args:
        text: The judge's reply.
        choices: The grades on offer, spelled as they should be returned.
        aliases: Other spellings, e.g. ``{"C": "CORRECT"}``. Aliases of grades not in
            ``choices`` are ignored.

    Returns:
        The Verdict; ``value`` is one of ``choices`` or None.

    Example:
        >>> parse_grade("The answer names Paris.\\nGRADE: C").value
        'CORRECT'
        >>> parse_grade("A correct answer would get GRADE: C.\\nGRADE: maybe").error
        "GRADE 'maybe' is not one of CORRECT, INCORRECT"
    """
    t = _Text(text)
    if not t.clean.strip():
        return Verdict(None, "", "empty reply")
    masked = _mask_code(t.clean, _GRADE_IN_CODE)
    last = None
    for last in _GRADE.finditer(masked):  # noqa: B007 - only the last one counts
        pass
    if last is None:
        return Verdict(None, t.raw.strip(), "no GRADE line")
    start = last.end()
    line_end = masked.find("\n", start)
    rest = masked[start : len(masked) if line_end < 0 else line_end]
    value, size = _match_menu(rest, _menu(choices, aliases))
    if value is None:
        word = _first_word(rest.replace(_MASK, ""))
        error = (f"GRADE {word!r} is not one of {_menu_names(choices)}" if word
                 else "empty GRADE line")
        return Verdict(None, t.raw.strip(), error)
    end = start + size
    before, _ = t.line_around(masked, last.start(), last.start())
    _, after = t.line_around(masked, end, end)
    return Verdict(value, t.without(last.start(), end, _own_line(before, after, _GRADE_LABEL)))
