"""Unit and property tests for the strict verdict parsers in judgekit_evaluators.verdicts."""

from __future__ import annotations

import json
import time
import unicodedata
from typing import Any

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from judgekit_evaluators.verdicts import (
    VERDICT_FIELDS,
    Verdict,
    VerdictKind,
    parse_choice,
    parse_grade,
    parse_pass,
    parse_rating,
    read_verdict,
)

FAST = settings(max_examples=200, deadline=None)
PARTIAL: dict[str, Any] = {"choices": ("CORRECT", "INCORRECT", "PARTIAL"),
           "aliases": {"C": "CORRECT", "I": "INCORRECT", "P": "PARTIAL"}}
INVISIBLE = ["\u200b", "\u200c", "\u200d", "\u200e", "\u200f", "\u2060", "\u2063", "\ufeff",
             "\u00ad", "\u202a", "\u202c", "\u2066", "\u2069", "\u034f"]


# --------------------------------------------------------------------------- GRADE


@pytest.mark.parametrize(("text", "value"), [
    ("GRADE: C", "CORRECT"),
    ("GRADE: I", "INCORRECT"),
    ("GRADE: CORRECT", "CORRECT"),
    ("grade: incorrect", "INCORRECT"),
    ("Grade:correct", "CORRECT"),
    ("The reasoning.\nGRADE: C\n", "CORRECT"),
    ("**GRADE: CORRECT**", "CORRECT"),
    ("**GRADE:** INCORRECT", "INCORRECT"),
    ("GRADE: **C**", "CORRECT"),
    ("__GRADE__: _I_", "INCORRECT"),
    ("GRADE: `CORRECT`", "CORRECT"),
    ('GRADE: "C".', "CORRECT"),
    ("### GRADE: C", "CORRECT"),
    ("GRADE\u00a0:\u00a0C", "CORRECT"),  # no-break spaces count as spaces
    ("**GRADE:**\nCORRECT", "CORRECT"),  # the grade may sit on the next line
    ("GRADE: C (the answer names Paris)", "CORRECT"),
    ("GRADE: INCORRECT - it says Lyon", "INCORRECT"),
])
def test_grade_reads_the_verdict(text: str, value: str) -> None:
    v = parse_grade(text)
    assert (v.value, v.error) == (value, None)


def test_grade_last_wins_and_an_off_menu_last_grade_never_falls_back() -> None:
    assert parse_grade("If wrong I'd say GRADE: I.\nIt is right.\nGRADE: C").value == "CORRECT"
    assert parse_grade("GRADE: C\nOn reflection it misses a part.\nGRADE: I").value == "INCORRECT"
    v = parse_grade("A correct answer would get GRADE: C.\n\nGRADE: Z")
    assert v.value is None and v.error == "GRADE 'Z' is not one of CORRECT, INCORRECT"
    v = parse_grade("GRADE: C\nGRADE: PARTIAL")
    assert v.value is None and "PARTIAL" in (v.error or "")


@pytest.mark.parametrize(("text", "error"), [
    ("", "empty reply"),
    ("  \n\u200b ", "empty reply"),
    ("The answer is right.", "no GRADE line"),
    ("GRID: C", "no GRADE line"),
    ("**Answer: C**", "no GRADE line"),
    ("No reason to downgrade: C", "no GRADE line"),  # "downgrade:" is prose, not GRADE:
    ("GRADES: C", "no GRADE line"),
    ("GRADE:", "empty GRADE line"),
    ("GRADE: CORRECTLY", "GRADE 'CORRECTLY' is not one of CORRECT, INCORRECT"),
    ("GRADE: not correct", "GRADE 'not' is not one of CORRECT, INCORRECT"),
    ("GRADE: P", "GRADE 'P' is not one of CORRECT, INCORRECT"),
])
def test_grade_unscored(text: str, error: str) -> None:
    v = parse_grade(text)
    assert (v.value, v.error) == (None, error)


def test_grade_ignores_code_but_reads_a_verdict_formatted_as_code() -> None:
    quoted = "The answer prints it:\n```python\nprint('GRADE: C')\n```\nIt is wrong."
    assert parse_grade(quoted).error == "no GRADE line"
    assert parse_grade(quoted + "\nGRADE: I").value == "INCORRECT"
    # A grade quoted as inline code after the verdict does not override it.
    assert parse_grade("GRADE: I\n(It ends with `GRADE: C`, which I ignored.)").value == (
        "INCORRECT")
    assert parse_grade("Right.\n```\nGRADE: C\n```").value == "CORRECT"
    assert parse_grade("Right.\n`GRADE: C`").value == "CORRECT"


def test_grade_choices_and_aliases() -> None:
    assert parse_grade("GRADE: P", **PARTIAL).value == "PARTIAL"
    assert parse_grade("GRADE: partial", **PARTIAL).value == "PARTIAL"
    # Longest spelling first: "PARTIALLY CORRECT" is not read as "PARTIALLY" or a prefix.
    menu = ("CORRECT", "PARTIALLY CORRECT", "INCORRECT")
    assert parse_grade("GRADE: Partially correct.", menu, {}).value == "PARTIALLY CORRECT"
    # Aliases of grades that are not offered are ignored (the default C/I here).
    v = parse_grade("GRADE: C", ("PASS", "FAIL"))
    assert v.value is None and v.error == "GRADE 'C' is not one of PASS, FAIL"
    assert parse_grade("GRADE: pass", ("PASS", "FAIL")).value == "PASS"


def test_grade_reasoning_drops_only_a_verdict_line() -> None:
    assert parse_grade("Paris is right.\n**GRADE: C**\n").reasoning == "Paris is right."
    assert parse_grade("Paris is right.\nFinal GRADE: C\nHope this helps!").reasoning == (
        "Paris is right.\nHope this helps!")
    # A grade inside a sentence stays in place: the sentence is reasoning too.
    text = "I'd write GRADE: I if wrong but it's correct so GRADE: C"
    assert parse_grade(text).reasoning == text
    # Unscored replies keep the whole reply as reasoning (the judge keeps it as raw anyway).
    assert parse_grade("hmm\nGRADE: Z").reasoning == "hmm\nGRADE: Z"


def test_grade_strips_invisible_characters_but_reasoning_keeps_the_text() -> None:
    for ch in INVISIBLE:
        assert parse_grade(f"ok\nGR{ch}ADE{ch}:{ch} C{ch}").value == "CORRECT", repr(ch)
    v = parse_grade("caf\u00e9 \U0001f469\u200d\U0001f4bb ok\nGRADE:\u200bC")
    assert v.reasoning == "caf\u00e9 \U0001f469\u200d\U0001f4bb ok"  # ZWJ emoji kept as written


# --------------------------------------------------------------------------- [[n]] ratings


@pytest.mark.parametrize(("text", "value"), [
    ("[[8]]", 8.0),
    ("Good.\nRating: [[8]]", 8.0),
    ("Rating: [[7.5]]", 7.5),
    ("Rating: [[ 7 ]]", 7.0),
    ("**Rating:** **[[10]]**", 10.0),
    ("Rating: [[**6**]]", 6.0),
    ("My rating is [[3]].", 3.0),
    ("Rating: [[8]]/10", 8.0),
    ("Overall, it earns a rating of [[9]].", 9.0),
    ("earns [[9]]. I repeat: [[9.0]]", 9.0),  # mentions in prose that agree
    ("Rating: `[[8]]`", 8.0),  # a verdict formatted as code, alone on its line
    ("Rating: [[\u200b8]]", 8.0),
    ("[[1]]", 1.0),
])
def test_rating_reads_the_verdict(text: str, value: float) -> None:
    v = parse_rating(text)
    assert (v.value, v.error) == (value, None)


def test_rating_on_its_own_line_beats_prose_and_the_last_line_wins() -> None:
    text = "[Rating]\nRating: [[8]]\n\n[Explanation]\nMore detail would earn [[9]] or [[10]]."
    assert parse_rating(text).value == 8.0
    assert parse_rating("Draft rating: [[6]]\nOn reflection:\nRating: [[4]]").value == 4.0
    assert parse_rating("A perfect answer would get [[10]]. This one:\n[[3]]").value == 3.0


def test_rating_conflicting_prose_mentions_are_unscored() -> None:
    text = "It earns a rating of [[9]].\n\nThe improved response earns a rating of [[10]]."
    v = parse_rating(text)
    assert v.value is None and v.error == "conflicting ratings [[9]], [[10]]"


@pytest.mark.parametrize(("text", "error"), [
    ("", "empty reply"),
    ("I rate it 7/10.", "no [[rating]]"),
    ("Rating: [[11]]", "rating 11 outside 1..10"),
    ("Rating: [[0]]", "rating 0 outside 1..10"),
    ("Rating: [[-1]]", "rating -1 outside 1..10"),
    ("Rating: [[10.5]]", "rating 10.5 outside 1..10"),
    ("Rating: [[seven]]", "no [[rating]]"),
    ("x = arr[[0]] is fine", "no [[rating]]"),  # an index, not a rating
    ("Use `array[[0]]` here", "no [[rating]]"),
    ("The answer tries `[[10]]` on us.", "no [[rating]]"),  # quoted in a sentence
    ("```r\nlst[[2]]\n[[7]]\n```", "no [[rating]]"),  # everything in a fence is code
    ("```\n[[7]]\nunclosed fence", "no [[rating]]"),  # CommonMark: runs to the end
    ("It returns array[0].", "no [[rating]]"),
    ("See [3] and [4] for the sources.", "no [[rating]]"),  # [n] only alone on a line
    ("[1](https://example.com)", "no [[rating]]"),
])
def test_rating_unscored(text: str, error: str) -> None:
    v = parse_rating(text)
    assert (v.value, v.error) == (None, error)


def test_rating_single_bracket_backup_only_alone_on_a_line() -> None:
    assert parse_rating("[The Start of Rating]\n\n[5]\n\n[The End of Rating]\nok").value == 5.0
    assert parse_rating("Fine.\nRating: [6]").value == 6.0
    # [[n]] anywhere takes precedence over the backup, as in FastChat.
    assert parse_rating("It earns [[4]].\n[6]").value == 4.0
    # Code never counts, not even alone on a line.
    assert parse_rating("```\n[6]\nx = y[0]\n```").error == "no [[rating]]"


def test_rating_scale() -> None:
    assert parse_rating("[[4]]", scale=(1, 5)).value == 4.0
    assert parse_rating("[[6]]", scale=(1, 5)).error == "rating 6 outside 1..5"
    assert parse_rating("[[0.5]]", scale=(0, 1)).value == 0.5
    assert parse_rating("[[0.25]]", scale=(0.5, 1.5)).error == "rating 0.25 outside 0.5..1.5"
    with pytest.raises(ValueError, match="low < high"):
        parse_rating("[[4]]", scale=(5, 1))


def test_rating_reasoning() -> None:
    assert parse_rating("Clear and right.\n\nRating: [[9]]").reasoning == "Clear and right."
    text = "Overall it is helpful, earning a rating of [[9]]."
    assert parse_rating(text).reasoning == text


# --------------------------------------------------------------------------- [[PASS]] / [[A]]


def test_pass() -> None:
    assert parse_pass("Meets the rubric.\n[[PASS]]") == Verdict("PASS", "Meets the rubric.")
    assert parse_pass("Verdict: [[fail]]").value == "FAIL"
    assert parse_pass("It would [[PASS]] if it cited a source. It does not.\n[[FAIL]]").value == (
        "FAIL")
    v = parse_pass("Hard to say.\n[[MAYBE]]")
    assert v.value is None and v.error == "[[MAYBE]] is not one of PASS, FAIL"
    assert parse_pass("It passes.").error == "no [[PASS]] or [[FAIL]]"
    v = parse_pass("One could [[PASS]] it, or [[FAIL]] it.")
    assert v.value is None and v.error == "conflicting verdicts [[PASS]], [[FAIL]]"


def test_choice() -> None:
    assert parse_choice("A is wrong.\n[[B]]").value == "B"
    assert parse_choice("Final verdict: **[[c]]**").value == "C"
    assert parse_choice("Both fine.\n[[TIE]]", aliases={"TIE": "C"}).value == "C"
    # FastChat checks [[A]] before [[B]] anywhere; judgekit takes the verdict line.
    text = "At first [[B]] looks better, but on the facts A wins.\n\n[[A]]"
    assert parse_choice(text).value == "A"
    # Wiki links and placeholders in prose are not verdicts; off-menu on its own line is.
    assert parse_choice("See [[Main_Page]] for context. A is better: [[A]]").value == "A"
    v = parse_choice("Neither.\n[[D]]")
    assert v.value is None and v.error == "[[D]] is not one of A, B, C"
    assert parse_choice("A is better.").error == "no [[A]]/[[B]]/[[C]] verdict"
    assert parse_choice("[[1]]", choices=("1", "2")).value == "1"


# --------------------------------------------------------------------------- read_verdict


@pytest.mark.parametrize(("text", "kind", "value"), [
    ('{"reasoning": "Right.", "verdict": "CORRECT"}', "grade", "CORRECT"),
    ('{"reasoning": "Right.", "grade": "c"}', "grade", "CORRECT"),
    ('{"verdict": "GRADE: I"}', "grade", "INCORRECT"),
    ('{"verdict": "**CORRECT**"}', "grade", "CORRECT"),
    ('{"score": 7}', "rating", 7.0),
    ('{"Rating": "7"}', "rating", 7.0),
    ('{"verdict": "[[7.5]]"}', "rating", 7.5),
    ('{"verdict": 7.0}', "rating", 7.0),
    ('{"verdict": true}', "pass", "PASS"),
    ('{"verdict": false}', "pass", "FAIL"),
    ('{"verdict": "pass"}', "pass", "PASS"),
    ('{"choice": "A"}', "choice", "A"),
    ('{"winner": "[[b]]"}', "choice", "B"),
    ('```json\n{"reasoning": "r", "verdict": 3}\n```', "rating", 3.0),
    ('Reasoning first.\n```json\n{"verdict": "C"}\n```', "grade", "CORRECT"),
    ('{\n  "reasoning": "A is wrong",\n  "verdict": "B"\n}', "choice", "B"),
    ('{"verdict": "C", "score": 3}', "grade", "CORRECT"),  # "verdict" is looked up first
])
def test_read_verdict_json(text: str, kind: VerdictKind, value: object) -> None:
    v = read_verdict(text, kind)
    assert (v.value, v.error) == (value, None)


@pytest.mark.parametrize(("text", "kind", "error"), [
    ('{"verdict": 11}', "rating", "rating 11 outside 1..10"),
    ('{"verdict": "11"}', "rating", "JSON verdict: rating 11 outside 1..10"),
    ('{"verdict": NaN}', "rating", "JSON verdict is not a finite number"),
    ('{"verdict": true}', "rating", "JSON verdict is a boolean"),
    ('{"verdict": "good"}', "rating", "JSON verdict: no [[rating]]"),
    ('{"verdict": [7]}', "rating", "JSON verdict is not a string or number"),
    ('{"verdict": "Z"}', "grade", "JSON verdict: GRADE 'Z' is not one of CORRECT, INCORRECT"),
    ('{"verdict": "D"}', "choice", "JSON verdict: [[D]] is not one of A, B, C"),
    ('{"verdict": 1}', "choice", "JSON verdict: [[1]] is not one of A, B, C"),
    ('{"verdict": 1e999}', "rating", "JSON verdict is not a finite number"),
    ('{"verdict": 1' + "0" * 400 + '}', "choice", "JSON verdict is not a finite number"),
])
def test_read_verdict_json_unscored(text: str, kind: VerdictKind, error: str) -> None:
    v = read_verdict(text, kind)
    assert (v.value, v.error) == (None, error)


def test_read_verdict_json_with_invisible_characters() -> None:
    v = read_verdict('\ufeff{"reasoning": "ok \u200d", "verdict": "\u200bA"}', "choice")
    assert (v.value, v.reasoning) == ("A", "ok")
    # Without invisible characters around it, the JSON reasoning is kept as written.
    v = read_verdict('{"reasoning": "\U0001f469\u200d\U0001f4bb", "verdict": "A"}', "choice")
    assert v.reasoning == "\U0001f469\u200d\U0001f4bb"


def test_read_verdict_json_reasoning() -> None:
    assert read_verdict('{"reasoning": "Right.", "verdict": "C"}', "grade").reasoning == "Right."
    assert read_verdict('{"explanation": "Ok.", "score": 5}', "rating").reasoning == "Ok."
    assert read_verdict('Thinking.\n```json\n{"score": 5}\n```', "rating").reasoning == (
        "Thinking.")


def test_read_verdict_falls_back_to_text() -> None:
    # Looks like JSON but does not parse: the text protocol decides.
    assert read_verdict('{"verdict": "C",}\nGRADE: I', "grade").value == "INCORRECT"
    assert read_verdict("{verdict: C}", "grade").error == "no GRADE line"
    # A JSON object without a verdict field is not a structured verdict.
    assert read_verdict('Rating: [[6]]\n{"note": "see above"}', "rating").value == 6.0
    # A bare object after prose is not a structured reply (it may quote the judged answer).
    assert read_verdict('The answer was:\n{"verdict": "C"}', "grade").error == "no GRADE line"
    # A JSON object that is not last is part of the reasoning.
    assert read_verdict('{"verdict": "B"}\nOn reflection:\n[[A]]', "choice").value == "A"
    assert read_verdict('```python\nx = {"verdict": 1}\n```', "rating").error == "no [[rating]]"
    assert read_verdict("GRADE: C", "grade", **PARTIAL).value == "CORRECT"
    assert read_verdict("[[4]]", "rating", scale=(1, 5)).value == 4.0
    with pytest.raises(ValueError, match="unknown verdict kind"):
        read_verdict("x", "score")  # type: ignore[arg-type]


@pytest.mark.parametrize(("kind", "text_form", "json_value"), [
    ("grade", "Because.\nGRADE: C", "C"),
    ("grade", "Because.\nGRADE: INCORRECT", "incorrect"),
    ("rating", "Because.\nRating: [[6]]", 6),
    ("rating", "Because.\nRating: [[6.5]]", "6.5"),
    ("pass", "Because.\n[[FAIL]]", "FAIL"),
    ("choice", "Because.\n[[C]]", "[[C]]"),
])
def test_text_and_json_agree(kind: VerdictKind, text_form: str, json_value: object) -> None:
    text = read_verdict(text_form, kind)
    for field in VERDICT_FIELDS:
        js = read_verdict(json.dumps({"reasoning": "Because.", field: json_value}),
                          kind)
        assert js == text, field


def test_long_hostile_replies_stay_fast() -> None:
    # The parsers run on untrusted model output: no pattern may backtrack badly.
    replies = ["x" * 50_000 + " [[5]]", "x " * 50_000 + "[[5]]", "`" * 50_000, "``` " * 20_000,
               "GRADE: " * 20_000, "{\n" * 20_000 + "}", "[[1 " * 30_000, "a:" * 50_000 + "[[5]]"]
    start = time.perf_counter()
    for reply in replies:
        for kind in ("grade", "rating", "pass", "choice"):
            read_verdict(reply, kind)
    assert time.perf_counter() - start < 10


# --------------------------------------------------------------------------- properties

KINDS: tuple[VerdictKind, ...] = ("grade", "rating", "pass", "choice")
# A scored reply per kind with its value; the verdict sits on the final line.
VERDICT_LINES = st.one_of(
    st.sampled_from([("GRADE: C", "CORRECT"), ("**GRADE: INCORRECT**", "INCORRECT"),
                     ("Final GRADE: correct", "CORRECT")]).map(lambda p: ("grade", *p)),
    st.integers(1, 10).map(lambda n: ("rating", f"Rating: [[{n}]]", float(n))),
    st.sampled_from([("[[PASS]]", "PASS"), ("Verdict: **[[FAIL]]**", "FAIL")]).map(
        lambda p: ("pass", *p)),
    st.sampled_from(["A", "B", "C"]).map(lambda c: ("choice", f"Final verdict: [[{c}]]", c)),
)
# Reasoning that holds no verdict of any protocol and cannot open code.
CLEAN_TEXT = st.text(st.characters(codec="utf-8", exclude_characters="[]`~{}"),
                     max_size=200).filter(lambda s: "grade" not in _visible(s).lower())
ANY_TEXT = st.text(st.characters(codec="utf-8"), max_size=300)
PIECES = st.lists(st.sampled_from(
    ["GRADE: C", "GRADE: I", "GRADE: Z", "[[3]]", "[[10]]", "[[A]]", "[[FAIL]]", "[5]", "\n",
     "Rating: [[2]]\n", "`x`", "{", "}", '{"verdict": 4}', " so ", "arr[0]", "**"]), max_size=12)


def _visible(text: str) -> str:
    """The text as the parsers see it: format characters (Cf) and the like removed."""
    return "".join(ch for ch in text if unicodedata.category(ch) != "Cf"
                   and ch not in "\u034f\u115f\u1160\u3164\uffa0")


@FAST
@given(VERDICT_LINES, CLEAN_TEXT, st.sampled_from(["", "Reasoning.\n", "First.\n\nSecond.\n"]))
def test_prepending_verdict_free_reasoning_never_changes_the_verdict(
    line: tuple[VerdictKind, str, object], prefix: str, middle: str
) -> None:
    kind, verdict_line, value = line
    base = read_verdict(middle + verdict_line, kind)
    assert base.value == value
    v = read_verdict(prefix + "\n" + middle + verdict_line, kind)
    assert (v.value, v.error) == (base.value, base.error)


@FAST
@given(VERDICT_LINES, CLEAN_TEXT)
def test_appending_verdict_free_text_after_the_verdict_never_changes_it(
    line: tuple[VerdictKind, str, object], suffix: str
) -> None:
    kind, verdict_line, value = line
    v = read_verdict("Reasoning.\n" + verdict_line + "\n" + suffix, kind)
    assert v.value == value


@FAST
@given(VERDICT_LINES, st.one_of(ANY_TEXT, PIECES.map("".join)))
def test_a_final_verdict_line_decides_whatever_came_before(
    line: tuple[VerdictKind, str, object], before: str
) -> None:
    # Earlier fake GRADE lines, [[n]] and [[A]] mentions, half-open JSON, inline code: the
    # final verdict line still decides. Only an unclosed fence could swallow it (CommonMark).
    assume("```" not in before and "~~~" not in before)
    kind, verdict_line, value = line
    v = read_verdict(before + "\n" + verdict_line, kind)
    assert v.value == value, v


@FAST
@given(VERDICT_LINES, st.lists(st.tuples(st.integers(0, 10_000), st.sampled_from(INVISIBLE)),
                                max_size=8), st.sampled_from(["", "Because.\n", "So:\n\n"]))
def test_invisible_characters_anywhere_never_change_the_verdict(
    line: tuple[VerdictKind, str, object], inserts: list[tuple[int, str]], prefix: str
) -> None:
    kind, verdict_line, value = line
    text = prefix + verdict_line
    for pos, ch in inserts:
        pos %= len(text) + 1
        text = text[:pos] + ch + text[pos:]
    assert read_verdict(text, kind).value == value


@FAST
@given(st.sampled_from(["GRADE", "grade", "Grade", "gRaDe"]),
       st.sampled_from([("c", "CORRECT"), ("Incorrect", "INCORRECT"), ("CoRrEcT", "CORRECT")]))
def test_grade_is_case_insensitive(keyword: str, grade: tuple[str, str]) -> None:
    assert parse_grade(f"Reason.\n{keyword}: {grade[0]}").value == grade[1]


@FAST
@given(st.floats(-100, 100, allow_nan=False).map(lambda x: round(x, 2)))
def test_rating_text_and_json_agree_on_any_number(x: float) -> None:
    text = read_verdict(f"Reason.\nRating: [[{x}]]", "rating")
    assert read_verdict(json.dumps({"reasoning": "Reason.", "score": x}), "rating").value == (
        text.value)
    assert text.value == (x if 1 <= x <= 10 else None)


@FAST
@given(st.sampled_from(KINDS), st.one_of(ANY_TEXT, PIECES.map("".join)))
def test_any_reply_parses_to_an_offered_verdict_or_an_error(kind: VerdictKind, text: str) -> None:
    v = read_verdict(text, kind)
    assert (v.value is None) is (v.error is not None)
    allowed = {"grade": {"CORRECT", "INCORRECT"}, "pass": {"PASS", "FAIL"},
               "choice": {"A", "B", "C"}}
    if kind == "rating":
        assert v.value is None or (isinstance(v.value, float) and 1 <= v.value <= 10)
    else:
        assert v.value is None or v.value in allowed[kind]


# -- the plain-reply fast path ---------------------------------------------------------------

_PROSE_TOKENS = ["The answer", " names Paris", ".", " ", "\n", "\r\n", "\t", "GRADE", "grade",
                 "Grade:", ":", "[", "]", "[[", "]]", "PASS", "FAIL", "CORRECT", "INCORRECT",
                 "`", "```", "~", "~~~", "~~~\n", "```\n", "{", "}", "*", "**", "_", "é",
                 "\u200b", "-", "#", "[[8]]", "Final verdict:", "[PASS]", "[[pass]]", "GRADE: C",
                 "downgrade:"]
_LAST_LINES = {"pass": ["[[PASS]]", "[[FAIL]]", "[[pass]]", " [[PASS]]", "**[[FAIL]]**",
                        "Verdict: [[PASS]]", "[[PASS]]."],
               "grade": ["GRADE: CORRECT", "GRADE: INCORRECT", "GRADE: C", "grade: correct",
                         "GRADE:CORRECT", "**GRADE:** CORRECT", "GRADE: CORRECT."]}


@settings(max_examples=1500, deadline=None)
@given(kind=st.sampled_from(["pass", "grade"]), data=st.data())
def test_plain_replies_read_as_the_full_parsers_read_them(kind: str, data: Any) -> None:
    from judgekit_evaluators.verdicts import _json_reply, _plain_verdict

    prose = "".join(data.draw(st.lists(st.sampled_from(_PROSE_TOKENS), max_size=12)))
    last = data.draw(st.sampled_from(_LAST_LINES[kind]))
    tail = data.draw(st.sampled_from(["", "\n", "\n\n", " \n", "\r\n"]))
    sep = data.draw(st.sampled_from(["\n", "\n\n", "\r\n"]))
    text = prose + sep + last + tail if prose else last + tail
    plain = _plain_verdict(text, kind)
    if plain is not None:
        full = parse_pass(text) if kind == "pass" else parse_grade(text)
        assert plain == full
        assert _json_reply(text) is None


def test_the_plain_path_takes_only_replies_in_the_asked_form() -> None:
    from judgekit_evaluators.verdicts import _plain_verdict

    assert _plain_verdict("Names a city.\n[[PASS]]\n", "pass") == Verdict("PASS", "Names a city.")
    assert _plain_verdict("Both say Paris.\nGRADE: CORRECT", "grade") == \
        Verdict("CORRECT", "Both say Paris.")
    for text, kind in [("Says [[FAIL]] here.\n[[PASS]]", "pass"),  # another bracket
                       ("A downgrade: no.\nGRADE: CORRECT", "grade"),  # another grade
                       ("`x`\n[[PASS]]", "pass"), ("Café.\n[[PASS]]", "pass"),
                       ("[[PASS]] first\nthen prose", "pass"), ("x\nGRADE: C", "grade"),
                       ("x\n[[8]]", "rating"), ("x\n[[A]]", "choice")]:
        assert _plain_verdict(text, kind) is None, text
    # Options (other choices, aliases, a scale) always go through the full parser.
    assert read_verdict("ok\nGRADE: CORRECT", "grade", choices=("CORRECT",)).value == "CORRECT"
