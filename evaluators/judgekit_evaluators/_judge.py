"""Machinery shared by the LLM judges: prompt files, untrusted-data blocks, sampling and votes.

Private to judgekit_evaluators. The model layer (``judgekit.models``) and the verdict parsers are
imported inside functions so that ``import judgekit_evaluators`` stays cheap.

**Prompt files.** ``prompts/<name>.v<N>.txt``: ``#`` comment lines, then sections opened by a
line ``---<section>---``: ``system``, ``format:text`` (the verdict protocol in text),
``format:json`` (the same for structured output), ``user``, and optional ``default:<field>``
values for fields a judge may leave empty. ``{{field}}`` placeholders are filled in one pass, so
data that contains ``{{...}}`` is never expanded. The sha256 of the file (line endings
normalised) is stored with every score and folded into the evaluator's ``version``.

**Untrusted data.** Every input, output, reference and context goes into a block::

    <<<BEGIN ANSWER 1f0c5e2a9b7d4c63>>>
    ...the text...
    <<<END ANSWER 1f0c5e2a9b7d4c63>>>

The id is a hash of the block's own (neutralised) text, so it is deterministic (stable cache
keys) yet text cannot carry its own end marker: that would need the hash of a text containing
that hash. Inside a block, text that looks like a marker or a verdict is neutralised first (see
:func:`neutralise`), so a judge never sees a ready-made verdict line it could copy (or echo
into its reply), and the system prompt tells the judge that instructions inside blocks are
data, not instructions.

**Sampling.** One call per sample ``i`` with ``sample=i`` (a distinct cache key) and
``seed=seed+i`` (the same seed would make every sample the same draw). Temperature is 0 for a
single sample and :data:`SAMPLING_TEMPERATURE` for several, unless given. Labels are reduced by
majority, numbers by mean; unscored samples do not vote, and a tie between labels is unscored
(no majority: use an odd ``samples``). ``agreement`` is the fraction of *all* samples that gave
the reduced label (for numbers, the most common rating), so unparseable samples lower it.
"""

from __future__ import annotations

import asyncio
import hashlib
import re
import unicodedata
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache, lru_cache
from importlib import resources
from typing import TYPE_CHECKING, Any, Literal

from judgekit.errors import EvaluatorError, ModelNotConfigured
from judgekit.types import Score
from judgekit_evaluators._common import as_text

if TYPE_CHECKING:
    from judgekit.models.base import ChatModel

__all__ = [
    "CONTEXT_KEYS",
    "DEFAULT_SEED",
    "QUESTION_KEYS",
    "SAMPLING_TEMPERATURE",
    "JudgeSpec",
    "Prompt",
    "Vote",
    "ask",
    "check_options",
    "data_block",
    "load_prompt",
    "neutralise",
    "prompt_version",
    "question_of",
    "reduce_votes",
    "skipped",
    "unscored_vote",
    "verdict_schema",
]

VerdictKind = Literal["grade", "rating", "pass", "choice"]

#: Seed sent with every judge call unless the judge is given another.
DEFAULT_SEED = 42
#: Temperature when ``samples > 1`` and none is given: at 0 the samples would all agree.
SAMPLING_TEMPERATURE = 0.7

_SECTION = re.compile(r"^---([a-z][a-z_:]*)---[ \t]*$", re.MULTILINE)
_PLACEHOLDER = re.compile(r"\{\{(\w+)\}\}")
_REQUIRED = ("system", "format:text", "user")


@dataclass(frozen=True)
class Prompt:
    """A versioned prompt template loaded from ``prompts/<name>.v<version>.txt``."""

    name: str
    version: int
    sections: Mapping[str, str]
    sha256: str

    def messages(self, *, structured: bool, **fields: str) -> list[dict[str, str]]:
        """The system and user messages with ``fields`` filled in.

        The system message is the ``system`` section followed by the verdict protocol:
        ``format:json`` when ``structured`` else ``format:text``.
        """
        fmt = "format:json" if structured else "format:text"
        if fmt not in self.sections:
            raise EvaluatorError(f"prompt {self.name}.v{self.version} has no {fmt} section")
        defaults, template, names = _parts(self, fmt)
        values = dict(defaults)
        # A field given as "" falls back to its default, else its line is left out.
        values.update({k: v for k, v in fields.items() if v or k not in values})
        # The system message holds the judge's own fields only (rubric, scale), never the
        # case's data: filled once per judge, and the same text object every call (the store
        # and the cache key then hash it once).
        system = _filled(template, names, tuple(values.get(n) for n in names))
        return [{"role": "system", "content": system},
                {"role": "user", "content": _fill(self.sections["user"], values)}]


_PARTS: dict[tuple[int, str], tuple[Mapping[str, str], dict[str, str], str, tuple[str, ...]]] = {}


def _parts(prompt: Prompt, fmt: str) -> tuple[dict[str, str], str, tuple[str, ...]]:
    """A prompt's ``default:<field>`` values, its system section joined with the ``fmt``
    protocol, and the fields that names: worked out once per prompt (a Prompt, its sections
    a dict, is not hashable: its sections are the key, held so their id stays theirs)."""
    found = _PARTS.get((id(prompt.sections), fmt))
    if found is None or found[0] is not prompt.sections:
        defaults = {k[len("default:"):]: v for k, v in prompt.sections.items()
                    if k.startswith("default:")}
        template = prompt.sections["system"] + "\n\n" + prompt.sections[fmt]
        names = tuple(dict.fromkeys(_PLACEHOLDER.findall(template)))
        if len(_PARTS) >= 256:
            _PARTS.clear()
        found = _PARTS[(id(prompt.sections), fmt)] = (prompt.sections, defaults, template, names)
    return found[1:]


@lru_cache(maxsize=256)
def _filled(template: str, names: tuple[str, ...], given: tuple[str | None, ...]) -> str:
    # None: no value (``_fill`` names the field); errors are raised again, never cached.
    return _fill(template, {n: v for n, v in zip(names, given, strict=True) if v is not None})


def _fill(template: str, values: Mapping[str, str]) -> str:
    def sub(m: re.Match[str]) -> str:
        if m.group(1) not in values:
            raise KeyError(f"prompt field {m.group(1)!r} has no value")
        return values[m.group(1)]

    empty = frozenset(k for k, v in values.items() if v == "")
    # One pass: text substituted in is never scanned again, so data can't inject {{fields}}.
    return _PLACEHOLDER.sub(sub, _kept_lines(template, empty))


@lru_cache(maxsize=256)
def _kept_lines(template: str, empty: frozenset[str]) -> str:
    """``template`` without the lines that hold only a placeholder in ``empty`` (an optional
    block not given), nor the blank line that separated such a line. It depends on the
    template and on which fields are empty only: worked out once per prompt and shape,
    not once per case (template lines only: data is never touched)."""
    lines: list[str] = []
    for line in template.split("\n"):
        m = _PLACEHOLDER.fullmatch(line.strip())
        if (m and m.group(1) in empty) or (not line.strip() and lines and not lines[-1].strip()):
            continue
        lines.append(line)
    return "\n".join(lines).strip("\n")


@cache
def load_prompt(name: str, version: int = 1) -> Prompt:
    """Load ``prompts/<name>.v<version>.txt`` from the package (cached)."""
    fname = f"{name}.v{version}.txt"
    res = resources.files("judgekit_evaluators").joinpath("prompts").joinpath(fname)
    # Normalise line endings so the hash is the same on every checkout.
    text = res.read_bytes().decode("utf-8").replace("\r\n", "\n")
    sha = hashlib.sha256(text.encode("utf-8")).hexdigest()
    parts = _SECTION.split(text)
    sections = {parts[i]: parts[i + 1].strip("\n") for i in range(1, len(parts) - 1, 2)}
    missing = [s for s in _REQUIRED if s not in sections]
    if missing:
        raise EvaluatorError(f"prompt file {fname} lacks the section(s) {', '.join(missing)}")
    return Prompt(name, version, sections, sha)


def prompt_version(*names: str) -> str:
    """The evaluator ``version`` for judges using these prompts: ``1+<hash of their hashes>``.

    A stored score's spec then changes whenever a prompt file does.
    """
    joined = "".join(load_prompt(n).sha256 for n in names)
    return "1+" + hashlib.sha256(joined.encode()).hexdigest()[:12]


# --------------------------------------------------------------------------------------------
# Untrusted data
# --------------------------------------------------------------------------------------------

# What the verdict parsers (judgekit_evaluators.verdicts) would read as a verdict, made
# unreadable. The patterns are deliberately wider than the parsers' (a superset), and
# tests/evaluators/test_judge_common.py checks that no parser finds a verdict in neutralised text.
#
# Invisible characters the parsers drop before matching: format characters (category Cf) and
# a few fillers that render as nothing.
_INVISIBLE_EXTRA = frozenset("\u034f\u115f\u1160\u3164\uffa0")
# "[[": every bracket followed by another gets a space, so "[[[A]]]" becomes "[ [ [A] ] ]".
_DOUBLE_OPEN = re.compile(r"[\[［](?=\s*[\[［])")
_DOUBLE_CLOSE = re.compile(r"[\]］](?=\s*[\]］])")
# "GRADE:" (emphasis or spaces before the colon allowed) gets "(quoted)" after GRADE.
_GRADE = re.compile(r"(?i)(?<![A-Za-z])(grade)(?=[^\w\n]*?[:：=])")
# A line that is nothing but a bracketed number, maybe after a label ("Rating: [8]"): the
# rating parser's fallback reads it, so it gets "(quoted)" after it.
_SINGLE = re.compile(
    r"(?m)^([^\S\n]*(?:[^\W\d][\w'’ ]{0,40}[:=–—-])?[^\w\n]*"
    r"\[[^\S\n]*[+-]?(?:\d+(?:\.\d*)?|\.\d+)[^\S\n]*\][^\w\n]*)$")
_MARKER = re.compile(r"(?i)(<\s*<\s*<)(?=\s*(?:begin|end)\b)")
# What every pattern above needs somewhere in the text: most answers have none of it, and one
# scan for it is a fifth of the five substitutions' cost.
_MAYBE = re.compile(r"(?i)[\[\]［］<]|grade")


def neutralise(text: str) -> str:
    """Make untrusted text unable to pose as a verdict or as the end of its data block.

    Invisible characters (zero-width, bidi controls: the parsers ignore them, so they could
    hide a verdict) are removed; ``[[`` and ``]]`` get a space between the brackets
    (``[ [A] ]``, and code like ``a[[0]]`` keeps its meaning); ``GRADE:`` becomes
    ``GRADE (quoted):``; a line holding only a bracketed number (``Rating: [8]``) gets
    `` (quoted)`` appended; ``<<<`` before BEGIN/END becomes ``<< <``. Everything else,
    code fences included, is left as it is, so the judge sees the text it is judging.
    """
    if not text.isascii():  # no format character is ASCII: skip the scan for most text
        text = "".join(c for c in text
                       if c not in _INVISIBLE_EXTRA and unicodedata.category(c) != "Cf")
    if _MAYBE.search(text) is None:
        return text
    text = _DOUBLE_OPEN.sub(lambda m: m.group(0) + " ", text)
    text = _DOUBLE_CLOSE.sub(lambda m: m.group(0) + " ", text)
    text = _GRADE.sub(r"\1 (quoted)", text)
    text = _SINGLE.sub(r"\1 (quoted)", text)
    return _MARKER.sub("<< <", text)


def data_block(name: str, value: Any) -> str:
    """``value`` as an untrusted-data block named ``name`` (e.g. ``"ANSWER"``).

    Non-strings are rendered as JSON with sorted keys, so the prompt (and its cache key) is
    the same for equal values.
    """
    body = neutralise(as_text(value))
    nonce = hashlib.sha256(f"judgekit-data\0{name}\0{body}".encode()).hexdigest()[:16]
    return f"<<<BEGIN {name} {nonce}>>>\n{body}\n<<<END {name} {nonce}>>>"


# --------------------------------------------------------------------------------------------
# Calling the judge
# --------------------------------------------------------------------------------------------


def verdict_schema(verdict: Mapping[str, Any]) -> dict[str, Any]:
    """The structured-output schema every judge asks for: reasoning first, then the verdict.

    Example:
        >>> verdict_schema({"type": "string", "enum": ["PASS", "FAIL"]})["required"]
        ['reasoning', 'verdict']
    """
    return {"type": "object",
            "properties": {"reasoning": {"type": "string"}, "verdict": dict(verdict)},
            "required": ["reasoning", "verdict"], "additionalProperties": False}


def check_options(samples: int, temperature: float | None, seed: int) -> None:
    """Reject bad sampling options when the evaluator is built, not on every case."""
    if isinstance(samples, bool) or not isinstance(samples, int) or samples < 1:
        raise EvaluatorError(f"samples must be a whole number >= 1, not {samples!r}")
    if temperature is not None and not (isinstance(temperature, (int, float))
                                        and 0 <= temperature <= 2):
        raise EvaluatorError(f"temperature must be between 0 and 2, not {temperature!r}")
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise EvaluatorError(f"seed must be an integer, not {seed!r}")


@dataclass(frozen=True)
class JudgeSpec:
    """How one judge calls its model and reads the replies."""

    key: str
    prompt: Prompt
    kind: VerdictKind
    model: Any = None
    samples: int = 1
    temperature: float | None = None
    seed: int = DEFAULT_SEED
    structured: bool | None = False
    schema: Mapping[str, Any] | None = None
    parse_opts: Mapping[str, Any] = field(default_factory=dict)


@dataclass
class Vote:
    """The reduced verdict of a judge's samples.

    Attributes:
        value: The majority label or mean rating; None when unscored.
        reasoning: The reasoning of the first sample that gave ``value``.
        values: Each sample's verdict (None for an unparseable reply).
        agreement: Fraction of all samples that gave the reduced verdict.
        reason: Why there is no verdict (when ``value`` is None).
        raw: Each sample's reply text.
        meta: Prompt, model and generation details for the score's metadata.
    """

    value: str | float | None
    reasoning: str
    values: list[str | float | None]
    agreement: float | None
    reason: str | None
    raw: list[str]
    meta: dict[str, Any]

    def metadata(self) -> dict[str, Any]:
        """Score metadata: prompt and model details, every sample and the agreement."""
        meta = {**self.meta, "samples": list(self.values), "agreement": self.agreement}
        if self.value is None:
            meta["raw"] = self.raw[0] if len(self.raw) == 1 else list(self.raw)
        return meta


def _resolve(model: Any) -> ChatModel:
    from judgekit.models.calls import model_for

    return model_for(model)


def skipped(key: str, problem: str) -> Score:
    """The score of a judge with no model configured: skipped, with one line on the fix."""
    # metadata["configure"] is the bare fix: reports group every step it would unblock under it.
    return Score(key="", status="skipped",
                 comment=f"{key} needs a judge model: {problem}, or pass --judge-model",
                 metadata={"configure": problem})


async def ask(spec: JudgeSpec, **fields: str) -> Vote | Score:
    """Ask the judge ``spec.samples`` times and reduce the verdicts.

    Returns a skipped :class:`Score` when the model is not configured. A failed call raises
    :class:`~judgekit.errors.ModelCallError` (the runner records it as the score's error).
    """
    from judgekit.models.calls import chat
    from judgekit_evaluators.verdicts import read_verdict

    model = _resolve(spec.model)
    problem = model.configured()
    if problem is not None:
        return skipped(spec.key, problem.rstrip("."))
    structured = spec.structured
    if structured is None:
        structured = bool(getattr(model, "supports_structured_output", False))
    structured = structured and spec.schema is not None
    messages = spec.prompt.messages(structured=structured, **fields)
    temperature = spec.temperature
    if temperature is None:
        temperature = 0.0 if spec.samples == 1 else SAMPLING_TEMPERATURE
    params: dict[str, Any] = {"temperature": temperature}
    if structured:
        params["response_format"] = {"type": "json_schema", "json_schema": {
            "name": f"{spec.prompt.name}_verdict", "strict": True, "schema": spec.schema}}
    results: list[Any]
    if spec.samples == 1:  # most judges: no task to schedule around the one call
        try:
            results = [await chat(model, messages, sample=0, seed=spec.seed, **params)]
        except Exception as exc:  # as gather(return_exceptions=True) would hand it back
            results = [exc]
    else:
        calls = [chat(model, messages, sample=i, seed=spec.seed + i, **params)
                 for i in range(spec.samples)]
        # Wait for every sample before raising, so no call is left running unobserved.
        results = await asyncio.gather(*calls, return_exceptions=True)
    for r in results:
        if isinstance(r, ModelNotConfigured):
            return skipped(spec.key, str(r).rstrip("."))
        if isinstance(r, BaseException):
            raise r
    raw = [r.text for r in results]
    verdicts = [read_verdict(text, spec.kind, **spec.parse_opts) for text in raw]
    values = [v.value for v in verdicts]
    value, agreement, reason = reduce_votes(values, numeric=spec.kind == "rating")
    if value is None and reason is None:
        errors = [f"sample {i}: {v.error}" if len(verdicts) > 1 else str(v.error)
                  for i, v in enumerate(verdicts)]
        reason = "the judge's reply has no verdict: " + "; ".join(errors)
    reasoning = next((v.reasoning for v in verdicts if _same(v.value, value)), "")
    meta = {
        "prompt": spec.prompt.name, "prompt_version": spec.prompt.version,
        "prompt_sha256": spec.prompt.sha256, "judge_model": model.model,
        "judge_provider": model.provider, "temperature": temperature, "seed": spec.seed,
        "structured": structured,
    }
    return Vote(value, reasoning.strip(), values, agreement, reason, raw, meta)


def _same(a: str | float | None, b: str | float | None) -> bool:
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return True  # a mean matches no single rating: any scored sample explains it
    return a is not None and a == b


def reduce_votes(
    values: Sequence[str | float | None], *, numeric: bool
) -> tuple[str | float | None, float | None, str | None]:
    """(reduced verdict, agreement, why unscored) for the samples' verdicts.

    Labels: the majority (a tie is unscored). Numbers: the mean, with agreement measured
    against the most common rating. ``(None, None, None)`` when no sample gave a verdict.
    """
    if len(values) == 1:  # one sample (most judges): its verdict, in full agreement
        only = values[0]
        if only is None:
            return None, None, None
        return (float(only) if numeric else only), 1.0, None
    scored = [v for v in values if v is not None]
    if not scored:
        return None, None, None
    counts = Counter(scored).most_common()
    agreement = counts[0][1] / len(values)
    if numeric:
        return sum(float(v) for v in scored) / len(scored), agreement, None
    if len(counts) > 1 and counts[0][1] == counts[1][1]:
        split = ", ".join(f"{label} {n}" for label, n in counts)
        return None, agreement, f"the samples are split with no majority ({split})"
    return counts[0][0], agreement, None


def unscored_vote(vote: Vote, **extra: Any) -> Score:
    """The unscored score for a vote without a verdict; the raw replies go in metadata."""
    return Score(key="", status="unscored", comment=vote.reason,
                 metadata={**vote.metadata(), **extra})


# --------------------------------------------------------------------------------------------
# Reading the case
# --------------------------------------------------------------------------------------------

#: Input fields read as the question, first present wins.
QUESTION_KEYS = ("question", "query", "input")
#: Fields holding retrieved context (RAG judges), in inputs first, then outputs.
CONTEXT_KEYS = ("context", "contexts", "documents")


def question_of(inputs: Any) -> Any:
    """The question in a case's inputs: a ``question``/``query``/``input`` field, else the
    inputs themselves (a one-field mapping unwrapped; context fields left out). None if none.
    """
    if not isinstance(inputs, Mapping):
        return inputs
    for k in QUESTION_KEYS:
        if k in inputs:
            return inputs[k]
    rest = {k: v for k, v in inputs.items() if k not in CONTEXT_KEYS}
    if len(rest) == 1:
        return next(iter(rest.values()))
    return rest or None
