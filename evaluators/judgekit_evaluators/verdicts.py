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
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Literal

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

VerdictKind = Literal["grade", "rating", "pass", "choice"]

#: Fields of a JSON reply that hold the verdict, in the order they are looked up (the first one
#: present is used, compared case-insensitively). Judges asking for structured output should use
#: ``{"reasoning": "...", "verdict": ...}``.
VERDICT_FIELDS = ("verdict", "grade", "score", "rating", "choice", "winner")
#: Fields of a JSON reply that hold the reasoning, first one present wins.
REASONING_FIELDS = ("reasoning", "rationale", "explanation")

_DEFAULT_GRADE_CHOICES = ("CORRECT", "INCORRECT")
_DEFAULT_GRADE_ALIASES: Mapping[str, str] = {"C": "CORRECT", "I": "INCORRECT"}


@dataclass(frozen=True)
class Verdict:
    """A judge's parsed verdict.

    Attributes:
        value: The verdict: a choice such as ``"CORRECT"``, ``"PASS"`` or ``"A"`` (spelled as in
            the offered choices), or a float rating such as ``7.0``. ``None`` means unscored.
        reasoning: The judge's reasoning: the reply without its verdict line, or the JSON
            ``reasoning`` field.
        error: Why the reply is unscored, in one short phrase (``None`` when scored).

    Example:
        >>> Verdict("CORRECT", "It matches.").scored
        True
    """

    value: str | float | None
    reasoning: str
    error: str | None = None

    @property
    def scored(self) -> bool:
        """True when the reply held a usable verdict."""
        return self.value is not None


# --------------------------------------------------------------------------- text clean-up


def _invisible(ch: str) -> bool:
    # Category Cf covers ZWSP/ZWJ/ZWNJ, LRM/RLM and the bidi embeddings/isolates, U+2060..2064
    # (word joiner, invisible separator...), BOM and soft hyphen. U+034F (combining grapheme
    # joiner) and the Hangul fillers render as nothing too but are not Cf.
    return unicodedata.category(ch) == "Cf" or ch in "\u034f\u115f\u1160\u3164\uffa0"


class _Text:
    """The reply with invisible characters removed, remembering where each character came from.

    Matching runs on ``clean`` (or on a copy of it with code blanked out, of the same length);
    ``without`` cuts the verdict line out of the *original* reply, so that the reasoning keeps
    the judge's text exactly as written.
    """

    def __init__(self, raw: str) -> None:
        self.raw = raw
        self.index: Sequence[int]
        if raw.isascii():  # the common case: ASCII holds no format characters
            self.index, self.clean = range(len(raw)), raw
        else:
            self.index = [i for i, ch in enumerate(raw) if not _invisible(ch)]
            self.clean = "".join(raw[i] for i in self.index)

    def line_around(self, text: str, start: int, end: int) -> tuple[str, str]:
        """What stands before ``text[start:end]`` and after it on the same line."""
        line_start = text.rfind("\n", 0, start) + 1
        line_end = text.find("\n", end)
        return text[line_start:start], text[end : len(text) if line_end < 0 else line_end]

    def without(self, start: int, end: int, own_line: bool) -> str:
        """The reply minus the verdict line holding ``clean[start:end]`` if ``own_line``.

        A verdict inside a sentence is left where it is: cutting it out would leave a sentence
        ("earning a rating of .") that reads worse than the original.
        """
        if not own_line or start >= len(self.index):
            return self.raw.strip()
        a, b = self.index[start], self.index[max(start, end - 1)] + 1
        line_start = self.raw.rfind("\n", 0, a) + 1
        line_end = self.raw.find("\n", b)
        if line_end < 0:
            return self.raw[:line_start].strip()
        return (self.raw[:line_start] + self.raw[line_end + 1 :]).strip()


def _strip_invisible(text: str) -> str:
    return text if text.isascii() else "".join(ch for ch in text if not _invisible(ch))


_EMPHASIS_CHARS = re.compile(r"[*_~`]+")
# A line that holds a verdict and nothing else but a short label and decoration: "[[8]]",
# "Rating: [[8]]", "**Final verdict:** [[A]]", "- Score = [[7]]/10", "[[5]]." The label needs a
# colon, "=", a dash or "is" so that prose ("earning a rating of [[9]]") is not taken for one.
# Words are separated by required spaces so that the pattern cannot backtrack over a long word in
# many ways (it runs on whole lines of untrusted text).
_WORD = r"[A-Za-z][A-Za-z'’]*"
_LABEL = re.compile(
    rf"[\W]*(?:{_WORD}(?:[^\S\n]+{_WORD}){{0,3}}(?:[^\S\n]*[:=–—-]|(?<=\bis))[\W]*)?"
)
_TRAILER = re.compile(r"[\W]*(?:(?:/|out of)[^\S\n]*\d+(?:\.\d+)?[\W]*)?")
# Before "GRADE:" a few words without a colon are fine ("Final GRADE: C"): GRADE brings its own.
_GRADE_LABEL = re.compile(rf"[\W]*(?:{_WORD}(?:[^\S\n]+{_WORD}){{0,2}}[\W]*)?")


def _own_line(before: str, after: str, label: re.Pattern[str] = _LABEL) -> bool:
    """True when a verdict with ``before``/``after`` on its line is alone there (bar a label)."""
    before = _EMPHASIS_CHARS.sub("", before)
    after = _EMPHASIS_CHARS.sub("", after)
    return bool(label.fullmatch(before) and _TRAILER.fullmatch(after))


# --------------------------------------------------------------------------- code masking

# A fenced code block: ``` or ~~~ (3+), up to three spaces of indent, closed by a line holding
# at least as many of the same character. An unclosed fence runs to the end (CommonMark).
_FENCE = re.compile(
    r"^[ ]{0,3}(?P<fence>`{3,}|~{3,})[^\n]*\n?(?P<body>.*?)"
    r"(?:^[ ]{0,3}(?P=fence)[`~]*[^\S\n]*$|\Z)",
    re.MULTILINE | re.DOTALL,
)
# An inline code span: a run of backticks closed by a run of the same length, within a paragraph.
_INLINE_CODE = re.compile(
    r"(?<!`)(?P<ticks>`+)(?!`)(?P<body>(?:(?!\n[^\S\n]*\n).)+?)(?<!`)(?P=ticks)(?!`)", re.DOTALL
)
_MASK = "\x00"


def _mask_code(text: str, keep_body: re.Pattern[str]) -> str:
    """Blank out code (keeping newlines and length) so that verdict patterns skip it.

    Code whose whole body matches ``keep_body`` (a lone verdict) stays visible when it is a
    fenced block or an inline span alone on its line ("Rating: `[[8]]`"): judges do format
    their verdict as code. The same span inside a sentence ("it tried to inject `[[10]]`")
    is quoted material and is blanked.
    """

    if "`" not in text and "~" not in text:  # no fence, no code span: most replies
        return text

    def blank(m: re.Match[str], inline: bool) -> str:
        body = m.group("body") or ""
        keep = keep_body.fullmatch(body.strip()) is not None
        if keep and inline:
            line_start = m.string.rfind("\n", 0, m.start()) + 1
            line_end = m.string.find("\n", m.end())
            after = m.string[m.end() : len(m.string) if line_end < 0 else line_end]
            keep = _own_line(m.string[line_start : m.start()], after)
        if keep:
            # Blank only the fences/backticks (to spaces, like emphasis) so that the verdict
            # inside is matched like plain text.
            start, end = m.span("body")
            s0 = m.start()
            head = re.sub(r"[^\n]", " ", m.group(0)[: start - s0])
            tail = re.sub(r"[^\n]", " ", m.group(0)[end - s0 :])
            return head + body + tail
        return re.sub(r"[^\n]", _MASK, m.group(0))

    text = _FENCE.sub(lambda m: blank(m, inline=False), text)
    return _INLINE_CODE.sub(lambda m: blank(m, inline=True), text)


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

    What the parsers return for such a reply, at a fifth of the cost: most replies of a
    judge following its prompt look like this. tests/evaluators/test_verdicts.py checks it
    against the full parsers.
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
