"""The verdict parsers against other projects' parsers, on the reference corpora in ../shared.

* inspect_ai's GRADE vectors (parser_and_matcher_vectors.jsonl, family ``inspect_grade``): the
  protocol is judgekit's own (last ``GRADE: X`` wins, off-menu is unscored), so every row must
  agree. Rows about partial credit are read with a menu that offers PARTIAL (alias P) when the
  row says ``partial_credit: true``, and without it otherwise.
* FastChat's MT-bench judgments (mtbench_judge_outputs.jsonl.gz): ``[[n]]`` single-answer and
  ``[[A]]``/``[[B]]``/``[[C]]`` pairwise verdicts. judgekit agrees with FastChat's stored reading
  on every row except the ones listed in ``MTBENCH_DISAGREEMENTS``, each read by hand.
* Prometheus (``[RESULT] 3``, ``Score: 3``, ``(Score 5)``), LLMBar (``Output (a) is better.``)
  and alpaca_eval (function-call dicts with ``ordered_models``) use other protocols, so their
  expectations do not apply; their replies are used only to check that none of them is
  mistaken for a judgekit verdict.
"""

from __future__ import annotations

import gzip
import json
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from judgekit_evaluators.verdicts import (
    VerdictKind,
    parse_choice,
    parse_grade,
    parse_rating,
    read_verdict,
)

PARTIAL_MENU: dict[str, Any] = {
    "choices": ("CORRECT", "INCORRECT", "PARTIAL"),
    "aliases": {"C": "CORRECT", "I": "INCORRECT", "P": "PARTIAL"},
}
INSPECT_LETTERS = {"C": "CORRECT", "I": "INCORRECT", "P": "PARTIAL"}


def _jsonl(path: Path) -> list[dict[str, Any]]:
    opener: Any = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


# --------------------------------------------------------------------------- inspect_ai GRADE


@pytest.fixture(scope="module")
def vectors(corpora: Path) -> list[dict[str, Any]]:
    return _jsonl(corpora / "parser_and_matcher_vectors.jsonl")


def test_inspect_grade_rows_all_agree(vectors: list[dict[str, Any]]) -> None:
    rows = [r for r in vectors if r["family"] == "inspect_grade"]
    by_test = Counter(r["test"] for r in rows)
    assert by_test == {
        "test_default_grade_pattern_extraction": 11,  # the regex's group(1): a letter
        "test_grade_parse_failure_is_unscored": 4,
        "test_matched_grade_resolves_to_value": 6,  # the scorer's value, per partial_credit
        "test_off_menu_verdict_is_unscored": 3,  # for partial_credit True and False
        "test_partial_verdict_is_unscored_without_partial_credit": 1,
        "test_partial_verdict_after_earlier_grade_is_unscored": 2,
    }
    checked = 0
    for r in rows:
        expected = r["expected"]
        if r["test"] == "test_default_grade_pattern_extraction":
            # inspect's pattern extracts C, P or I whatever the menu; compare through the menu
            # that offers all three ("grade: p" -> "p" -> PARTIAL).
            menus = [PARTIAL_MENU]
            expected = INSPECT_LETTERS[expected.upper()]
        elif "partial_credit" in r:
            menus = [PARTIAL_MENU if r["partial_credit"] else {}]
        else:  # parse failures and off-menu verdicts are unscored with either menu
            menus = [{}, PARTIAL_MENU]
        for menu in menus:
            v = parse_grade(r["text"], **menu)
            assert v.value == expected, (r["case_id"], menu, v)
            assert (v.error is None) is (expected is not None), (r["case_id"], v)
            assert read_verdict(r["text"], "grade", **menu) == v  # same path for judges
            checked += 1
    assert checked == 11 + 4 * 2 + 6 + 3 * 2 + 1 + 2


def test_inspect_partial_rows_with_partial_credit_on(vectors: list[dict[str, Any]]) -> None:
    # The rows where P is unscored only because partial credit is off: with PARTIAL on the
    # menu the final P is the verdict (and still never the earlier C or I).
    rows = [r for r in vectors if r["family"] == "inspect_grade"
            and r["test"].startswith("test_partial_verdict")]
    assert len(rows) == 3
    for r in rows:
        assert parse_grade(r["text"], **PARTIAL_MENU).value == "PARTIAL", r["case_id"]


# --------------------------------------------------------------------------- FastChat MT-bench

# Rows where judgekit reads a reply differently from FastChat, keyed by (source_repo, line in
# the source file): (FastChat's reading, judgekit's reading, why). None = unscored; FastChat
# stores -1 for "no rating". All are single-answer rows from instructlab/eval, whose "gpt-4"
# was granite-7b-lab (see the corpora README).
MTBENCH_DISAGREEMENTS: dict[tuple[str, int], tuple[float, float | None, str]] = {
    ("instructlab/eval", 73): (
        9, None,
        "Two ratings, both inside sentences: '...earning a rating of [[9]].' for the answer, "
        "then a made-up 'improved conversation' '...earning a rating of [[10]].' FastChat takes "
        "the first match; judgekit does not guess between conflicting ratings (unscored).",
    ),
    ("instructlab/eval", 76): (
        9, None,
        "Same shape: 'earning a rating of [[9]].', then 'By addressing these areas, the "
        "response could be further improved, earning a rating of [[10]].' Conflicting ratings "
        "in prose: unscored rather than FastChat's first match.",
    ),
    ("instructlab/eval", 97): (
        0, None,
        "FastChat is wrong: no rating at all. Its backup pattern \\[(\\d+\\.?\\d*)\\] matches "
        "'majority = array[0]' inside a ```python block and scores the answer 0 (outside the "
        "1..10 scale too).",
    ),
    ("instructlab/eval", 134): (
        0, None,
        "FastChat is wrong: no rating at all; 'array[0]' in a ```python block read as 0.",
    ),
}


def _fastchat_choice(row: dict[str, Any]) -> str | None:
    """FastChat's pairwise verdict as the judge wrote it: A, B, C (tie) or None (error).

    The corpus stores the winner as model_1/model_2, un-swapped through position_of_model_1.
    """
    winner, pos = row["fastchat_winner"], row["position_of_model_1"]
    if winner == "tie":
        return "C"
    if winner == "error":
        return None
    if winner == "model_1":
        return str(pos)
    return "B" if pos == "A" else "A"


@pytest.fixture(scope="module")
def mtbench(corpora: Path) -> list[dict[str, Any]]:
    rows = _jsonl(corpora / "mtbench_judge_outputs.jsonl.gz")
    assert len(rows) == 470
    return rows


def test_mtbench_single_ratings_agree_with_fastchat_except_documented_rows(
    mtbench: list[dict[str, Any]],
) -> None:
    counts: Counter[str] = Counter()
    disagreements = {}
    for r in mtbench:
        if r["kind"] != "single":
            continue
        v = read_verdict(r["judgment"], "rating")
        assert v == parse_rating(r["judgment"])
        fastchat = r["fastchat_score"]
        ours = -1 if v.value is None else v.value
        if ours == fastchat:
            counts["agree scored" if fastchat != -1 else "agree unscored"] += 1
        else:
            disagreements[(r["source_repo"], r["line"])] = (fastchat, v.value)
    assert counts == {"agree scored": 196, "agree unscored": 120}
    assert disagreements == {k: v[:2] for k, v in MTBENCH_DISAGREEMENTS.items()}


def test_mtbench_pairwise_choices_agree_with_fastchat(mtbench: list[dict[str, Any]]) -> None:
    counts: Counter[tuple[str, str | None]] = Counter()
    for r in mtbench:
        if r["kind"] == "single":
            continue
        v = read_verdict(r["judgment"], "choice")
        assert v == parse_choice(r["judgment"])
        assert v.value == _fastchat_choice(r), (r["kind"], r["line"], v)
        counts[(r["kind"], v.value)] += 1
    # Both orders of 75 questions; the 3 FastChat "error" rows are the judge's "$ERROR$" replies.
    assert counts == {("pair_g1", "A"): 40, ("pair_g1", "B"): 23, ("pair_g1", "C"): 11,
                      ("pair_g1", None): 1, ("pair_g2", "A"): 39, ("pair_g2", "B"): 20,
                      ("pair_g2", "C"): 14, ("pair_g2", None): 2}


@pytest.mark.parametrize(("line", "value", "why"), [
    (50, 5.0, "'[5]' alone on a line between '[The Start of Rating]' and its end: FastChat's "
              "single-bracket backup, which judgekit accepts only alone on a line"),
    (85, 8.0, "'Rating: [[8]]' on its own line beats the later '...a rating of [[9]] or [[10]]' "
              "about a hypothetical better answer (FastChat: first match, also 8)"),
    (23, 9.0, "the same [[9]] twice"),
    (115, 9.0, "'Rating: [[9]]' then 'The assistant's rating is [[9]]'"),
])
def test_mtbench_rows_where_the_rule_matters(mtbench: list[dict[str, Any]], line: int,
                                             value: float, why: str) -> None:
    row = next(r for r in mtbench if r["kind"] == "single"
               and r["source_repo"] == "instructlab/eval" and r["line"] == line)
    assert row["fastchat_score"] == value
    assert parse_rating(row["judgment"]).value == value, why


# --------------------------------------------------------------------------- other protocols


def test_prometheus_rows_use_another_protocol(vectors: list[dict[str, Any]]) -> None:
    # Prometheus ends with "[RESULT] 3" / "[RESULT] A" and its parser also takes "Score: 3",
    # "score of 1", "(Score 5)", "[Response B]" anywhere. judgekit's protocol is [[n]] / [[A]],
    # so agreement is not tested; none of these replies may read as a judgekit verdict.
    rows = [r for r in vectors if r["family"].startswith("prometheus_")]
    assert Counter(r["family"] for r in rows) == {"prometheus_absolute": 20,
                                                  "prometheus_relative": 14}
    for r in rows:
        kind: VerdictKind = "rating" if r["family"] == "prometheus_absolute" else "choice"
        v = read_verdict(r["text"], kind, **({"scale": (1, 5)} if kind == "rating" else {}))
        assert v.value is None, (r["text"], v)


def test_llmbar_replies_are_never_read_as_judgekit_verdicts(corpora: Path) -> None:
    # LLMBar's CoT judges end with "Output (a) is better." (parsed by LLMBar's own regex), a
    # protocol judgekit does not speak, so the stored winners are not compared. 4190 real
    # judge replies are still a good test of strictness: none holds a GRADE line or [[x]].
    rows = _jsonl(corpora / "llmbar_cot_judge_outputs.jsonl.gz")
    assert len(rows) == 4190
    kinds: tuple[VerdictKind, ...] = ("grade", "rating", "pass", "choice")
    scored = [(r["idx"], k) for r in rows for k in kinds
              if read_verdict(r["completion"], k).value is not None]
    assert scored == []


# alpaca_eval's CoT annotations are function-call dicts ({"concise_explanation", "ordered_models":
# [{"model": "M", "rank": 1}, ...]}) with the preference derived from the ranks: a schema
# judgekit's verdict fields do not cover, so that corpus is not used here.
