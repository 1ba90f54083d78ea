"""What every verdict parser shares: the :class:`Verdict`, text clean-up (invisible
characters, emphasis, labels) and the masking of code, which is quoted material."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

__all__ = ["REASONING_FIELDS", "VERDICT_FIELDS", "Verdict", "VerdictKind"]

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
