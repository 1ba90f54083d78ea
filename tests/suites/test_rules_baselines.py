"""The shipped example suites: their data, and the offline ``rules`` baselines.

The suite files are imported by path, the way ``judgekit eval`` loads them.
"""

from __future__ import annotations

import importlib.util
import json
import re
import sys
from collections import Counter
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from jsonschema import Draft202012Validator

SUITES = Path(__file__).resolve().parents[2] / "suites"
DATA = SUITES / "data"


def _import(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"_suite_{name}", SUITES / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def reviews() -> ModuleType:
    return _import("reviews")


@pytest.fixture(scope="module")
def sarcasm() -> ModuleType:
    return _import("sarcasm")


@pytest.fixture(scope="module")
def schema() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((DATA / "review_schema.json").read_text("utf-8"))
    return loaded


@pytest.fixture(scope="module")
def validator(schema: dict[str, Any]) -> Draft202012Validator:
    return Draft202012Validator(schema)


def _rows(name: str) -> list[dict[str, Any]]:
    with (DATA / name).open(encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]


REVIEW_ROWS = _rows("reviews.jsonl")
SARCASM_ROWS = _rows("portuguese_sarcasm.jsonl")


@pytest.mark.parametrize("name", ["reviews", "sarcasm"])
def test_suite_docstring_examples(name: str, reviews: ModuleType, sarcasm: ModuleType) -> None:
    import doctest

    module = {"reviews": reviews, "sarcasm": sarcasm}[name]
    result = doctest.testmod(module, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0 and result.failed == 0


# --- reviews.jsonl -------------------------------------------------------------------------


def _has(row: dict[str, Any], trait: str) -> bool:
    meta = row["metadata"]
    return bool(meta["kind"] == trait or trait in meta["tags"])


def test_reviews_rows_have_the_native_shape() -> None:
    assert len(REVIEW_ROWS) >= 64
    ids = [r["id"] for r in REVIEW_ROWS]
    assert len(set(ids)) == len(ids), "duplicate ids"
    for row in REVIEW_ROWS:
        assert set(row) == {"id", "inputs", "reference", "metadata"}, row["id"]
        assert re.fullmatch(r"review-\d{3}", row["id"])
        assert set(row["inputs"]) == {"review"}
        assert row["inputs"]["review"].strip() == row["inputs"]["review"] != ""
        assert set(row["metadata"]) == {"category", "kind", "tags"}


def test_review_schema_is_valid_draft_2020_12(schema: dict[str, Any]) -> None:
    Draft202012Validator.check_schema(schema)
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert schema["additionalProperties"] is False
    assert set(schema["required"]) == {"product", "star_rating", "specific_likes",
                                       "specific_dislikes"}


@pytest.mark.parametrize("bad", [
    {"product": "", "star_rating": 3, "specific_likes": [], "specific_dislikes": []},
    {"product": "x", "star_rating": 6, "specific_likes": [], "specific_dislikes": []},
    {"product": "x", "star_rating": 0, "specific_likes": [], "specific_dislikes": []},
    {"product": "x", "star_rating": 3.5, "specific_likes": [], "specific_dislikes": []},
    {"product": "x", "star_rating": "4", "specific_likes": [], "specific_dislikes": []},
    {"product": "x", "star_rating": 3, "specific_likes": [""], "specific_dislikes": []},
    {"product": "x", "star_rating": 3, "specific_likes": "good", "specific_dislikes": []},
    {"product": "x", "star_rating": 3, "specific_likes": []},
    {"product": "x", "star_rating": None, "specific_likes": [], "specific_dislikes": [],
     "summary": "extra key"},
])
def test_review_schema_rejects(validator: Draft202012Validator, bad: dict[str, Any]) -> None:
    assert not validator.is_valid(bad)


def test_every_reference_is_valid_against_the_schema(validator: Draft202012Validator) -> None:
    for row in REVIEW_ROWS:
        errors = [e.message for e in validator.iter_errors(row["reference"])]
        assert not errors, (row["id"], errors)


def test_references_follow_the_annotation_guidelines() -> None:
    for row in REVIEW_ROWS:
        ref = row["reference"]
        assert ref["product"] == ref["product"].strip()
        for phrase in ref["specific_likes"] + ref["specific_dislikes"]:
            assert phrase == phrase.strip() and not phrase.endswith("."), (row["id"], phrase)
            assert 1 <= len(phrase.split()) <= 6, (row["id"], phrase)
            assert not re.match(r"(?i)(the|a|an) ", phrase), (row["id"], phrase)
        for side in ("specific_likes", "specific_dislikes"):
            assert len(set(ref[side])) == len(ref[side]), (row["id"], "repeated phrase")


def test_reviews_cover_the_required_variety() -> None:
    texts = [r["inputs"]["review"] for r in REVIEW_ROWS]
    refs = [r["reference"] for r in REVIEW_ROWS]
    counts = {
        "sarcastic": sum(_has(r, "sarcastic") for r in REVIEW_ROWS),
        "no rating": sum(ref["star_rating"] is None for ref in refs),
        "no likes": sum(not ref["specific_likes"] for ref in refs),
        "no dislikes": sum(not ref["specific_dislikes"] for ref in refs),
        "long": sum(len(t) > 600 for t in texts),
        "short": sum(len(t) < 80 for t in texts),
        "mixed": sum(bool(ref["specific_likes"] and ref["specific_dislikes"]) for ref in refs),
        "non-English": sum(_has(r, "non_english") for r in REVIEW_ROWS),
        "emoji": sum(_has(r, "emoji") for r in REVIEW_ROWS),
        "typos": sum(_has(r, "typos") for r in REVIEW_ROWS),
        "other rating scale": sum(_has(r, "out_of_10") for r in REVIEW_ROWS),
    }
    minimum = {"sarcastic": 8, "no rating": 12, "no likes": 8, "no dislikes": 8, "long": 6,
               "short": 8, "mixed": 20, "non-English": 2, "emoji": 3, "typos": 3,
               "other rating scale": 2}
    short_of = {k: (counts[k], n) for k, n in minimum.items() if counts[k] < n}
    assert not short_of, f"not enough reviews of each kind (have, need): {short_of}"
    assert all("\n\n" in t for t in texts if len(t) > 600), "long reviews have paragraphs"
    assert len({r["metadata"]["category"] for r in REVIEW_ROWS}) >= 10
    ratings = Counter(ref["star_rating"] for ref in refs)
    assert all(ratings[n] >= 3 for n in range(1, 6)), ratings


def test_reviews_load_through_the_judgekit_dataset_loader() -> None:
    from judgekit import dataset

    ds = dataset(DATA / "reviews.jsonl")
    assert len(ds.examples) == len(REVIEW_ROWS)
    first = ds.examples[0]
    assert first.id == REVIEW_ROWS[0]["id"]
    assert first.inputs == REVIEW_ROWS[0]["inputs"]
    assert first.reference == REVIEW_ROWS[0]["reference"]


# --- extract_with_rules ------------------------------------------------------------------


@pytest.mark.parametrize(("text", "stars"), [
    ("Great kettle. 4/5", 4),
    ("Great kettle. 4 / 5.", 4),
    ("I'd give it 4 out of 5.", 4),
    ("Four out of five, would buy again.", 4),
    ("5 stars", 5),
    ("Five stars, no notes.", 5),
    ("A solid 3-star kettle.", 3),
    ("Only 1 star because zero isn't possible.", 1),
    ("4 out of 5 stars.", 4),
    ("4 stars out of 5.", 4),
    ("Rating: 3", 3),
    ("Rated 2/5.", 2),
    ("★★★★☆ Does the job.", 4),
    ("★☆☆☆☆", 1),
    ("⭐⭐⭐ fine", 3),
    ("I first gave it 5 stars, now it's down to 2 stars.", 2),  # the final rating wins
    ("Five stars if you like rebooting it daily. Actual rating: 1/5.", 1),
    ("A solid 8 out of 10.", None),  # other scales are not star ratings
    ("6/10 for this shampoo.", None),
    ("Ten out of ten.", None),
    ("4.5 stars.", None),  # half stars don't fit an integer field
    ("Rated 4.5/5", None),
    ("Loved it, would recommend to anyone.", None),
    ("Broke after 2 days and 3 weeks of waiting.", None),
    ("", None),
])
def test_rules_star_rating(reviews: ModuleType, text: str, stars: int | None) -> None:
    assert reviews.extract_with_rules(text)["star_rating"] == stars


@pytest.mark.parametrize(("text", "product"), [
    ("I love this Acme kettle, it boils fast.", "Acme kettle"),
    ("I've had the Sony WH-1000XM4 headphones for a month.", "Sony WH-1000XM4 headphones"),
    ("The Ryobi cordless drill I got wobbles.", "Ryobi cordless drill"),
    ("Phone case cracked in a day. 1/5", "Phone case"),
    ("Got it from Zorblax Industries last week, works.", "Zorblax Industries"),  # no noun: names
])
def test_rules_product(reviews: ModuleType, text: str, product: str) -> None:
    assert reviews.extract_with_rules(text)["product"] == product


def test_rules_likes_and_dislikes_from_cue_words(reviews: ModuleType) -> None:
    out = reviews.extract_with_rules(
        "This Acme blender is great for smoothies and easy to clean. "
        "But the motor is loud and the lid leaks. 3/5")
    assert out["star_rating"] == 3
    assert any("smoothies" in p for p in out["specific_likes"])
    assert any("easy" in p and "clean" in p for p in out["specific_likes"])
    assert any("motor" in p for p in out["specific_dislikes"])
    assert any("lid" in p for p in out["specific_dislikes"])


def test_rules_reads_sarcasm_literally(reviews: ModuleType) -> None:
    # A known limitation, kept on purpose: the baseline takes "fantastic" at face value, so
    # the sarcastic praise lands among the likes. The explicit rating is still read right.
    out = reviews.extract_with_rules(
        "Wow, a fantastic toaster. Perfectly burns every slice. 1 star.")
    assert out["star_rating"] == 1
    assert out["specific_likes"], "sarcasm read as praise (what LLM variants should fix)"


def test_rules_output_is_schema_valid_for_every_review(
    reviews: ModuleType, validator: Draft202012Validator,
) -> None:
    for row in REVIEW_ROWS:
        out = reviews.extract_with_rules(row["inputs"]["review"])
        errors = [e.message for e in validator.iter_errors(out)]
        assert not errors, (row["id"], errors)
        assert out == reviews.extract_with_rules(row["inputs"]["review"]), "deterministic"


@pytest.mark.parametrize("text", ["", "   ", "!!!", "🙂🙂🙂", "5/5", "and and and, but, yet;",
                                  "x" * 5000, "Great. " * 300, "Não gostei. Horrível!"])
def test_rules_output_is_schema_valid_for_odd_input(
    reviews: ModuleType, validator: Draft202012Validator, text: str,
) -> None:
    out = reviews.extract_with_rules(text)
    assert not [e.message for e in validator.iter_errors(out)], out


def test_rules_baseline_scores_stay_in_their_band(reviews: ModuleType) -> None:
    """A regression guard for the figures in the suite docs: imperfect, but not broken."""
    n = len(REVIEW_ROWS)
    product = stars = likes = dislikes = 0.0
    for row in REVIEW_ROWS:
        out, ref = reviews.extract_with_rules(row["inputs"]["review"]), row["reference"]
        product += reviews.same_product(out["product"], ref["product"])
        stars += out["star_rating"] == ref["star_rating"]
        likes += reviews.aspects_f1(out["specific_likes"], ref["specific_likes"])
        dislikes += reviews.aspects_f1(out["specific_dislikes"], ref["specific_dislikes"])
    assert stars / n >= 0.9
    assert 0.6 <= product / n < 0.95
    assert 0.3 <= likes / n < 0.8
    assert 0.2 <= dislikes / n < 0.8
    # A baseline, not a product: it clears the suite's 0.6 field goal and stays well short of
    # what an LLM variant should reach.
    assert 0.6 <= (product + stars + likes + dislikes) / (4 * n) < 0.8


# --- comparators -------------------------------------------------------------------------


@pytest.mark.parametrize(("output", "reference", "same"), [
    ("Sony WH-1000XM4 headphones", "Sony WH-1000XM4 headphones", True),
    ("sony wh-1000xm4", "Sony WH-1000XM4 headphones", True),  # generic words may differ
    ("Sony WH-1000XM4 wireless noise-cancelling headphones", "Sony WH-1000XM4 headphones", True),
    ("Victorinox Fibrox chef's knife", "Victorinox Fibrox 8-inch chef's knife", True),
    ("headphones", "Sony WH-1000XM4 headphones", False),  # the brand and model are the point
    ("Sony headphones", "Sony WH-1000XM4 headphones", False),
    ("app", "PhotoMagic app", False),
    ("phone case", "phone case", True),
    ("Phone Case", "phone case", True),
    ("case", "phone case", False),
    ("the Ember Crown", "The Ember Crown", True),
    ("I have had these Sony WH-1000XM4 headphones for about three months now and I love them",
     "Sony WH-1000XM4 headphones", False),  # a sentence is not a product name
    (None, "phone case", False),
    (["phone case"], "phone case", False),
])
def test_same_product(reviews: ModuleType, output: Any, reference: str, same: bool) -> None:
    assert reviews.same_product(output, reference) is same


@pytest.mark.parametrize(("output", "reference", "same"), [
    ("battery life", "battery life", True),
    ("the battery lasts a full week", "battery life", True),
    ("fries come out crispy", "crispy fries", True),
    ("pockets", "roomy pockets", True),
    ("loud fan", "loud fan", True),
    ("price", "battery life", False),
    ("", "battery life", False),
    (3, "battery life", False),
])
def test_same_aspect(reviews: ModuleType, output: Any, reference: str, same: bool) -> None:
    assert reviews.same_aspect(output, reference) is same


def test_aspects_f1(reviews: ModuleType) -> None:
    f1 = reviews.aspects_f1
    assert f1([], []) == 1.0
    assert f1(["battery life"], []) == 0.0
    assert f1([], ["battery life"]) == 0.0
    assert f1(["battery life", "comfy"], ["battery life", "noise cancelling"]) == 0.5
    # One predicted phrase cannot match two reference phrases.
    assert f1(["battery"], ["battery life", "battery case"]) == pytest.approx(2 / 3)
    assert f1("battery life", ["battery life"]) == 0.0
    assert f1(["battery life", 7], ["battery life"]) == 1.0


def test_reviews_suite_declaration(reviews: ModuleType) -> None:
    s = reviews.test_extract
    assert s.name == "test_extract"
    # The offline baseline first, then a small model, a large one and a fine-tune.
    assert s.variant_labels == ["rules", "gpt-4o-mini", "gpt-4o", "fine-tuned"]
    assert [v["model"] for v in s.variants] == [
        "rules", "gpt-4o-mini", "gpt-4o", "ft:gpt-4o-mini-2024-07-18:judgekit::reviews"]
    keys = [e.key for e in s.evaluators]
    assert keys[0] == "json_schema" and "fields" in keys and keys[-1] == "cot_qa"
    # The grader's verdict is the headline goal; the code-checked floors stay as they were.
    assert s.goals is not None and s.goals.accuracy == ("cot_qa", 0.9)
    assert s.goals.scores == {"fields": 0.6, "json_schema": 1.0, "json_match.star_rating": 0.9}
    assert s.goals.cost_per_1k == 5.0 and s.goals.p99_latency_s == 2.0
    assert len(s.data.examples) == len(REVIEW_ROWS)
    # The rules variant never touches the model layer: called directly it needs no llm.
    first = s.data.examples[0]
    out = _call(s, inputs=first.inputs, model="rules", llm=None)
    assert out == reviews.extract_with_rules(first.inputs["review"])


def _call(s: Any, **kwargs: Any) -> Any:
    """Call a suite's target directly (async targets are run to completion)."""
    import asyncio
    import inspect

    out = s(**kwargs)
    return asyncio.run(out) if inspect.isawaitable(out) else out


# --- the sarcasm suite -------------------------------------------------------------------


def test_sarcasm_data_is_the_unmodified_openai_evals_file() -> None:
    import hashlib

    digest = hashlib.sha256((DATA / "portuguese_sarcasm.jsonl").read_bytes()).hexdigest()
    assert digest == "087305a6cbfa26850c325785590e31e9056284a91125755e7e4d5ec8aee7864c"
    assert len(SARCASM_ROWS) == 290
    assert Counter(r["ideal"] for r in SARCASM_ROWS) == {"Y": 233, "N": 57}
    assert "MIT" in (DATA / "README.md").read_text("utf-8")


@pytest.mark.parametrize(("sentence", "label"), [
    ("Adoro quando o ônibus atrasa uma hora.", "Y"),
    ("Que maravilha, choveu de novo no meu dia de folga.", "Y"),
    ("Parabéns, você conseguiu quebrar a impressora outra vez.", "Y"),
    ("Claro que eu adoro acordar às cinco da manhã.", "Y"),
    ("Ótimo, agora a internet caiu.", "Y"),
    ("Nossa, que reunião produtiva kkkkk", "Y"),
    ("Amei o serviço, sqn", "Y"),
    ("Esse trânsito é uma delícia, né?", "Y"),
    ("Que \"ótima\" ideia!!!", "Y"),
    ("Eu amo passar horas no trânsito, é relaxante.", "Y"),
    ("A leitura nos permite conhecer outros mundos.", "N"),
    ("O respeito é fundamental para a convivência em sociedade.", "N"),
    ("Eu gosto de cozinhar para a minha família aos domingos.", "N"),
    ("", "N"),
])
def test_sarcasm_rules(sarcasm: ModuleType, sentence: str, label: str) -> None:
    assert sarcasm.detect_sarcasm_rules(sentence) == label


def test_sarcasm_rules_name_their_cues(sarcasm: ModuleType) -> None:
    assert sarcasm.sarcasm_cues("Parabéns, você acabou de quebrar tudo.") == ["parabéns", "você"]
    assert sarcasm.sarcasm_cues("A música une as pessoas.") == []


def test_sentence_of_reads_the_openai_evals_chat_input(sarcasm: ModuleType) -> None:
    row = SARCASM_ROWS[0]
    assert sarcasm.sentence_of({"input": row["input"]}) == row["input"][-1]["content"]
    assert sarcasm.sentence_of({"input": "Frase solta."}) == "Frase solta."
    assert sarcasm.sentence_of({"input": [{"role": "system", "content": "x"}]}) == ""


def test_sarcasm_rules_baseline_figures(sarcasm: ModuleType) -> None:
    """Regression guard for the documented figures; always-"Y" would score 0.803."""
    pairs = Counter((r["ideal"], sarcasm.detect_sarcasm_rules(
        sarcasm.sentence_of({"input": r["input"]}))) for r in SARCASM_ROWS)
    accuracy = (pairs["Y", "Y"] + pairs["N", "N"]) / len(SARCASM_ROWS)
    assert 0.8 <= accuracy < 0.95
    assert pairs["N", "N"] >= 45, "the heuristic must find the non-sarcastic sentences too"


def test_sarcasm_suite_declaration(sarcasm: ModuleType) -> None:
    s = sarcasm.test_sarcasm
    # The rules baseline and a model labelling each sentence three times (majority vote).
    assert s.variant_labels == ["rules", "gpt-4o-mini×3"]
    assert [v["model"] for v in s.variants] == ["rules", "gpt-4o-mini"]
    assert sarcasm.SAMPLES == 3
    assert [e.key for e in s.evaluators] == ["label", "classification_report"]
    assert s.goals is not None and s.goals.accuracy == ("label", 0.7)
    assert s.goals.scores == {"cohen_kappa": 0.5}
    first = s.data.examples[0]
    assert first.reference == "Y" and isinstance(first.inputs["input"], list)
    assert _call(s, inputs=first.inputs, model="rules", llm=None) in ("Y", "N")
