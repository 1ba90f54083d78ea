"""The ``[[bracket]]`` protocols: ``[[8]]`` ratings, ``[[PASS]]``/``[[FAIL]]`` and ``[[A]]``."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from judgekit_evaluators._grade_verdict import _match_menu, _menu, _menu_names
from judgekit_evaluators._verdict_base import Verdict, _mask_code, _own_line, _Text

__all__ = ["parse_choice", "parse_pass", "parse_rating"]

# --------------------------------------------------------------------------- [[bracket]] protocols

_NUMBER = r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)"
# [[x]]: not an index (``x[[0]]``), content on one line; emphasis inside is tolerated.
_DOUBLE = re.compile(r"(?<![\w\])])\[\[(?P<body>[^\[\]\n]{1,40})\]\]")
# FastChat's backup [x]: never an index (``x[0]``), a link (``[1](url)``) or inside [[...]].
_SINGLE = re.compile(r"(?<![\w\])\[])\[[^\S\n]*(?P<body>" + _NUMBER + r")[^\S\n]*\](?![\[(\]])")
_EMPHASIS = re.compile(r"[*_~`\s]+")
# Code that holds nothing but a bracket verdict ("`[[8]]`") is read as that verdict.
_LONE_BRACKET = re.compile(r"\[\[[^\[\]\n]{1,40}\]\]|\[[^\S\n]*" + _NUMBER + r"[^\S\n]*\]")
_RATING_SHAPE = re.compile(_NUMBER)
_TOKEN_SHAPE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,19}")


@dataclass(frozen=True)
class _Hit:
    body: str  # the bracket's content, emphasis removed
    start: int  # span in _Text.clean
    end: int
    own_line: bool  # alone on its line but for a label ("Rating: [[8]]")


def _bracket_hits(t: _Text, pattern: re.Pattern[str], shape: re.Pattern[str]) -> list[_Hit]:
    """Every bracket verdict outside code whose content (emphasis removed) has ``shape``."""
    masked = _mask_code(t.clean, _LONE_BRACKET)
    hits = []
    for m in pattern.finditer(masked):
        body = _EMPHASIS.sub("", m.group("body"))
        if shape.fullmatch(body):
            before, after = t.line_around(masked, m.start(), m.end())
            hits.append(_Hit(body, m.start(), m.end(), _own_line(before, after)))
    return hits


def _choose(hits: list[_Hit], key: Any, what: str) -> tuple[_Hit | None, str | None]:
    """The deciding hit, by the bracket rule: verdict lines first, then unanimous prose.

    The last verdict that stands on a line of its own wins, whatever the prose around it says
    ("Rating: [[8]]" then "... improved, it would earn [[10]]" is an 8). Without such a line,
    ratings mentioned in sentences must agree: "earning a rating of [[9]]" followed by "the
    revised response earns [[10]]" is ambiguous and unscored rather than a guess.
    """
    lines = [h for h in hits if h.own_line]
    if lines:
        return lines[-1], None
    values = {key(h.body) for h in hits}
    if len(values) > 1:
        shown = ", ".join(dict.fromkeys(f"[[{h.body}]]" for h in hits))
        return None, f"conflicting {what} {shown}"
    return (hits[-1], None) if hits else (None, None)


def _number(body: str) -> float:
    return float(body)  # _RATING_SHAPE admits only what float() reads


def _fmt(x: float) -> str:
    return str(int(x)) if x == int(x) else str(x)


def _check_scale(lo: float, hi: float) -> None:
    if not lo < hi:
        raise ValueError(f"scale must be (low, high) with low < high, got ({lo}, {hi})")


def _rating(value: float, scale: tuple[float, float]) -> str | None:
    lo, hi = scale
    if lo <= value <= hi:
        return None
    return f"rating {_fmt(value)} outside {_fmt(lo)}..{_fmt(hi)}"


def parse_rating(text: str, scale: tuple[float, float] = (1, 10)) -> Verdict:
    """Read the ``[[n]]`` rating in a judge's reply (FastChat's single-answer protocol).

    The last ``[[n]]`` standing on a line of its own (bar a label: ``Rating: [[8]]``) wins;
    ratings that only occur inside sentences count when they all agree, and make the reply
    unscored when they do not. Decimals are accepted (``[[7.5]]``). Without any ``[[n]]``, a
    single-bracket ``[n]`` alone on a line counts (FastChat's backup pattern), but never one
    that indexes something (``array[0]``), and nothing inside code counts. A rating outside
    ``scale`` is unscored.

    Args:
        text: The judge's reply.
        scale: Inclusive (low, high) bounds.

    Returns:
        The Verdict; ``value`` is a float or None.

    Example:
        >>> parse_rating("Helpful and accurate.\\nRating: [[8]]").value
        8.0
        >>> parse_rating("Rating: [[11]]").error
        'rating 11 outside 1..10'
    """
    _check_scale(*scale)
    t = _Text(text)
    if not t.clean.strip():
        return Verdict(None, "", "empty reply")
    hit, error = _choose(_bracket_hits(t, _DOUBLE, _RATING_SHAPE), _number, "ratings")
    if hit is None and error is None:
        singles = [h for h in _bracket_hits(t, _SINGLE, _RATING_SHAPE) if h.own_line]
        hit = singles[-1] if singles else None
    if hit is None:
        return Verdict(None, t.raw.strip(), error or "no [[rating]]")
    value = _number(hit.body)
    reasoning = t.without(hit.start, hit.end, hit.own_line)
    error = _rating(value, scale)
    return Verdict(None, reasoning, error) if error else Verdict(value, reasoning)


def _bracket_choice(text: str, choices: Sequence[str], aliases: Mapping[str, str],
                    missing: str) -> Verdict:
    t = _Text(text)
    if not t.clean.strip():
        return Verdict(None, "", "empty reply")
    menu = _menu(choices, aliases)

    def canonical(body: str) -> str | None:
        value, size = _match_menu(body, menu)
        return value if size == len(body) else None

    # In sentences only on-menu words count: "[[Main Page]]"-style links and template
    # placeholders are not verdicts. On a line of its own an off-menu word is the (bad) verdict.
    hits = [h for h in _bracket_hits(t, _DOUBLE, _TOKEN_SHAPE)
            if h.own_line or canonical(h.body) is not None]
    hit, error = _choose(hits, canonical, "verdicts")
    if hit is None:
        return Verdict(None, t.raw.strip(), error or missing)
    value = canonical(hit.body)
    reasoning = t.without(hit.start, hit.end, hit.own_line)
    if value is None:
        return Verdict(None, reasoning, f"[[{hit.body}]] is not one of {_menu_names(choices)}")
    return Verdict(value, reasoning)


def parse_pass(text: str) -> Verdict:
    """Read the ``[[PASS]]`` / ``[[FAIL]]`` verdict in a judge's reply.

    Same rule as :func:`parse_choice`: the last ``[[...]]`` on a line of its own wins (an
    off-menu word there, such as ``[[MAYBE]]``, is unscored); mentions inside sentences count
    only when they agree.

    Example:
        >>> parse_pass("Meets the rubric.\\n[[pass]]").value
        'PASS'
    """
    return _bracket_choice(text, ("PASS", "FAIL"), {}, "no [[PASS]] or [[FAIL]]")


def parse_choice(
    text: str, choices: Sequence[str] = ("A", "B", "C"), aliases: Mapping[str, str] | None = None
) -> Verdict:
    """Read the ``[[A]]`` / ``[[B]]`` / ``[[C]]`` (C = tie) verdict of a pairwise judge.

    The last ``[[X]]`` on a line of its own (bar a label: ``Final verdict: [[A]]``) wins, and
    one not in ``choices`` (or ``aliases``) is unscored; verdicts inside sentences count only
    when they all agree.

    Args:
        text: The judge's reply.
        choices: The verdicts on offer, spelled as they should be returned.
        aliases: Other spellings, e.g. ``{"TIE": "C"}``.

    Example:
        >>> parse_choice("B misses the second part.\\n[[A]]").value
        'A'
    """
    names = "/".join(f"[[{c}]]" for c in choices)
    return _bracket_choice(text, tuple(choices), aliases or {}, f"no {names} verdict")
