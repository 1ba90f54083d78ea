"""Product review → JSON extraction: the suite to copy first.

Each review in ``data/reviews.jsonl`` (hand-written, see ``data/README.md``) is turned into
``{"product", "star_rating", "specific_likes", "specific_dislikes"}`` and graded with a
JSON-schema check, per-field checks and the chain-of-thought grader ``cot_qa``. The ``rules``
variant is an offline, deterministic baseline: no model, no key, no network. Three LLM variants
(a small model, a large one, a fine-tune) are prompted alike through the recording ``llm``
fixture. With no model configured (no ``OPENAI_API_KEY``, no ``OPENAI_BASE_URL``) they and the
grader are *skipped*, said once under the table, and ``rules`` still runs and meets its goals.

Scores: ``json_schema`` (the output is valid against ``data/review_schema.json``), one
``json_match.<field>`` per field (product by :func:`same_product`, star rating exactly, likes
and dislikes as phrase F1 by :func:`aspects_f1`) and ``fields``, the mean of the four per
review. The goals are what a team shipping this extraction would ask for: the grader says
CORRECT on ≥ 90%, ``fields`` ≥ 0.6, every output schema-valid, star rating ≥ 0.9, at most $5 per
1,000 reviews, p99 ≤ 2 s.

The ``rules`` baseline on the 79 reviews: json_schema 1.00, product 0.73, star_rating 0.96,
likes 0.49, dislikes 0.35, fields 0.64: it holds every code-checked goal. Graded by a model it
will miss the 90% bar (it reads sarcasm literally): the CI gate doing its job.

Run it::

    judgekit eval suites/reviews.py          # or: pytest suites/reviews.py
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

from judgekit import Goals, dataset, parametrize, suite
from judgekit.models import LLM
from judgekit_evaluators import cot_qa, json_match, json_schema

HERE = Path(__file__).resolve().parent
REVIEWS = dataset("data/reviews.jsonl")  # resolved against this file
SCHEMA: dict[str, Any] = json.loads((HERE / "data" / "review_schema.json").read_text("utf-8"))
FIELDS = ["product", "star_rating", "specific_likes", "specific_dislikes"]

# ---------------------------------------------------------------------------------------------
# Comparators: what counts as "the same" product and "the same" liked/disliked aspect.
# ---------------------------------------------------------------------------------------------

_ARTICLES = {"a", "an", "the"}
_STOP = _ARTICLES | {
    "and", "or", "of", "for", "to", "in", "on", "at", "with", "by", "from", "is", "are", "was",
    "it", "its", "it's", "this", "that", "these", "my", "your", "our", "i", "me", "so", "very",
    "really", "too", "just", "be", "been", "has", "have", "had", "as", "after", "than", "s",
}


def _words(text: str) -> list[str]:
    return re.findall(r"[^\W_]+", text)


def _stem(word: str) -> str:
    # Crude on purpose: "pockets"/"pocket", "fading"/"fades"/"faded" meet at "fad".
    for suffix in ("ing", "ed", "es", "s", "ly", "y", "e"):
        if len(word) > len(suffix) + 2 and word.endswith(suffix):
            return word[: -len(suffix)]
    return word


def same_product(output: Any, reference: Any) -> bool:
    """True when ``output`` names the reference product.

    The reference's naming words (brand, model, title: those with a capital letter or a digit)
    must be there, at least two thirds of them, in any case and order; generic words such as
    "headphones" may differ. A reference with no naming words ("phone case") needs two thirds of
    its words. A whole sentence does not count as a product name.
    """
    if not isinstance(output, str) or not isinstance(reference, str):
        return False
    ref = [w for w in _words(reference) if w.lower() not in _ARTICLES]
    out = {w.lower() for w in _words(output)}
    key = [w.lower() for w in ref if w.lower() != w or any(c.isdigit() for c in w)] or [
        w.lower() for w in ref]
    if not key or len(out) > 2 * len(ref) + 3:
        return False
    return sum(w in out for w in key) * 3 >= 2 * len(key)


def same_aspect(output: Any, reference: Any) -> bool:
    """True when two like/dislike phrases share enough content words (crudely stemmed).

    "battery life" matches "the battery lasts a full week"; "loud fan" does not match "fan".
    """
    if not isinstance(output, str) or not isinstance(reference, str):
        return False
    a = {_stem(w) for w in _words(output.lower()) if w not in _STOP}
    b = {_stem(w) for w in _words(reference.lower()) if w not in _STOP}
    if not a or not b:
        return False
    return len(a & b) * 2 >= min(len(a), len(b))


def aspects_f1(output: Any, reference: Any) -> float:
    """Partial credit for a list of likes (or dislikes): F1 of the phrases against the reference.

    Phrases pair one-to-one by :func:`same_aspect`; two empty lists agree (1.0), and anything
    that is not a list of strings earns 0.

    Example:
        >>> aspects_f1(["battery lasts all week", "comfy"], ["battery life", "noise cancelling"])
        0.5
    """
    if not isinstance(output, list) or not isinstance(reference, list):
        return 0.0
    got = [g for g in output if isinstance(g, str)]
    if not got and not reference:
        return 1.0
    unused, hits = list(got), 0
    for phrase in reference:
        match = next((g for g in unused if same_aspect(g, phrase)), None)
        if match is not None:
            unused.remove(match)
            hits += 1
    return 2 * hits / (len(got) + len(reference))


COMPARATORS = {"product": same_product, "specific_likes": aspects_f1,
               "specific_dislikes": aspects_f1}  # star_rating: exact (null equals null)


# ---------------------------------------------------------------------------------------------
# The rules baseline.
# ---------------------------------------------------------------------------------------------

_NUMBER = {"one": 1, "two": 2, "three": 3, "four": 4, "five": 5}
_N = r"(?<![\d.,])([1-5]|one|two|three|four|five)(?![\d.,]\d)"
_RATINGS = [  # each finds a rating stated on a five-point scale; the last one in the text wins
    re.compile(_N + r"\s*(?:/|out of)\s*(?:5|five)\b(?![.,]\d)", re.I),   # 4/5, four out of five
    re.compile(_N + r"[\s-]*stars?\b", re.I),                             # 4 stars, a 4-star ...
    re.compile(r"\brat(?:ing|ed)\s*[:=]?\s*" + _N + r"(?!\s*(?:/|out of))", re.I),  # rating: 4
    re.compile(r"(?<![★☆])([★☆]{5})(?![★☆])"),                            # ★★★★☆
    re.compile(r"(?<!⭐)((?:⭐\ufe0f?){1,5})(?!⭐)"),                       # ⭐⭐⭐⭐
]
_PRODUCT_NOUNS = frozenset({
    "headphones", "headset", "earbuds", "speaker", "charger", "router", "laptop", "tv",
    "monitor", "webcam", "camera", "cam", "smartwatch", "watch", "phone", "case", "stand",
    "hub", "cable", "keyboard", "mouse", "tablet", "printer", "e-reader", "blender", "fryer",
    "microwave", "skillet", "pan", "knife", "kettle", "toaster", "mixer", "grinder", "opener",
    "bottle", "maker", "pot", "oil", "beans", "coffee", "tea", "chips", "sauce", "cereal",
    "bar", "bars", "shoes", "sneakers", "boots", "sandals", "socks", "jacket", "jeans",
    "shirt", "sweater", "dress", "backpack", "harness", "leash", "litter", "stroller", "mat",
    "tent", "helmet", "drill", "saw", "measure", "multimeter", "set", "chair", "desk", "table",
    "bookcase", "bookshelf", "shelf", "sofa", "couch", "mattress", "pillow", "rug", "lamp",
    "iron", "vacuum", "mower", "hose", "plush", "doll", "puzzle", "game", "cream", "lotion",
    "sunscreen", "mascara", "shampoo", "lipstick", "perfume", "razor", "toothbrush", "gel",
    "serum", "app", "software", "novel", "book", "cookbook", "textbook"
})
_NOT_NAME = _STOP | {"another", "what", "got", "bought", "new", "love", "great", "best", "wow",
                     "fantastic", "also", "only", "required", "switched", "using", "oh"}
_POSITIVE = frozenset({
    "love", "loved", "loves", "great", "excellent", "amazing", "awesome", "perfect",
    "perfectly", "best", "good", "nice", "comfortable", "comfy", "easy", "easily", "sharp",
    "solid", "quiet", "fast", "quickly", "clear", "gorgeous", "beautiful", "beautifully",
    "handy", "worth", "recommend", "impressive", "incredible", "strong", "light", "generous",
    "soft", "warm", "bright", "stunning", "fresh", "tasty", "delicious", "sturdy", "durable",
    "smooth", "well", "favorite", "favourite", "cozy", "satisfied", "better"
})
_NEGATIVE = frozenset({
    "broke", "broken", "cracked", "bad", "poor", "terrible", "awful", "worst", "hate", "hates",
    "loud", "heavy", "hot", "slow", "weak", "grainy", "blurry", "wobbly", "flimsy", "cheap",
    "leak", "leaks", "leaking", "fails", "crashes", "died", "stale", "missing", "annoying",
    "complaint", "problem", "problems", "issue", "disappointed", "disappointing",
    "uncomfortable", "pricey", "expensive", "wish", "unfortunately", "returned", "returning",
    "avoid", "noisy", "sticky", "itchy", "stopped", "won't", "can't", "doesn't", "isn't",
    "aren't", "nothing", "clunky", "slippery"
})
_FILLER = {"good", "great", "love", "first", "fair", "oh", "said", "returned", "returning", "avoid",
           "recommend", "highly", "overall", "honestly", "not-so-good", "i'll", "give", "i"}
_CONTRAST = re.compile(r"\b(?:but|though|tho|however|although|except|yet)\b|[—;:]", re.I)
_ITEM_SPLIT = re.compile(r",|\band\b", re.I)


def _rating(review: str) -> int | None:
    matches = sorted((m for p in _RATINGS for m in p.finditer(review)), key=lambda m: m.start())
    found: list[int] = []
    end = -1
    for m in matches:
        if m.start() < end:  # "4 out of 5 stars" is one rating, not also "5 stars"
            continue
        end = m.end()
        token = m.group(1).lower()
        if token[0] in "★☆⭐":
            value = token.count("★") if token[0] != "⭐" else token.count("⭐")
        else:
            value = _NUMBER.get(token) or int(token)
        if 1 <= value <= 5:
            found.append(value)
    return found[-1] if found else None


def _product(review: str) -> str:
    words = review.split()
    bare = [re.sub(r"^[^\w]+|[^\w]+$", "", w) for w in words]
    for i, word in enumerate(bare):
        if word.lower() not in _PRODUCT_NOUNS:
            continue
        end = i + 1  # "coffee beans", "phone case": take the following product nouns too
        while (end < len(bare) and bare[end].lower() in _PRODUCT_NOUNS
               and words[end - 1][-1:].isalnum()):
            end += 1
        start = i
        while (start > 0 and i - start < 5 and bare[start - 1]
               and bare[start - 1].lower() not in _NOT_NAME | _POSITIVE | _NEGATIVE
               and words[start - 1][-1:] not in ",.:;!?"):
            start -= 1
        return " ".join(bare[start:end])
    # No product noun: the first run of capitalised words that does not open a sentence.
    for m in re.finditer(r"(?<=[a-z,] )([A-Z][\w'-]+(?: [A-Z0-9][\w'-]*)*)", review):
        if not m.group(1).startswith("I'"):
            return m.group(1)
    return " ".join(bare[:3]) or "unknown"


def _polarity(text: str) -> int:
    score, negated = 0, False
    for word in re.findall(r"[\w']+", text.lower()):
        if word in {"not", "no", "never", "without"}:
            negated = True
            continue
        sign = 1 if word in _POSITIVE else -1 if word in _NEGATIVE else 0
        score += -sign if negated else sign
        negated = negated and sign == 0
    return score


def _phrase(item: str, product: str) -> str:
    skip = {w.lower() for w in _words(product)} | _STOP
    words = [w for w in re.findall(r"[\w'-]+", item.lower()) if w not in skip]
    return " ".join(words[:6])


def _aspects(review: str, product: str) -> tuple[list[str], list[str]]:
    likes: list[str] = []
    dislikes: list[str] = []
    for pattern in _RATINGS:
        review = pattern.sub(" ", review)
    for sentence in re.split(r"[.!?\n]+", review):
        for segment in _CONTRAST.split(sentence):
            mood = _polarity(segment)
            for item in _ITEM_SPLIT.split(segment):
                own = _polarity(item)
                phrase = _phrase(item, product)
                side = own or mood
                if side == 0 or not set(phrase.split()) - _FILLER:
                    continue
                target = likes if side > 0 else dislikes
                if phrase not in target:
                    target.append(phrase)
    return likes, dislikes


def extract_with_rules(review: str) -> dict[str, Any]:
    """Extract the review fields with regular expressions and cue-word lists (no model).

    A baseline, imperfect on purpose: it reads sarcasm literally, knows a fixed list of
    product nouns, and returns whole clauses where a person would write short phrases.
    The result is always valid against ``data/review_schema.json``.

    Example:
        >>> extract_with_rules("Love this Acme kettle, boils fast. Handle gets hot. 4/5")
        ... # doctest: +NORMALIZE_WHITESPACE
        {'product': 'Acme kettle', 'star_rating': 4, 'specific_likes': ['boils fast'],
         'specific_dislikes': ['handle gets hot']}
    """
    product = _product(review)
    likes, dislikes = _aspects(review, product)
    return {"product": product, "star_rating": _rating(review),
            "specific_likes": likes, "specific_dislikes": dislikes}


# ---------------------------------------------------------------------------------------------
# The LLM variants: a small model, a large one and a fine-tune of the small one, all prompted the
# same way. Any OpenAI-compatible endpoint works (OPENAI_BASE_URL); the names can be changed
# with the environment variables below, e.g. to the models a local server serves. The
# fine-tune's name is a stand-in: set REVIEWS_FINE_TUNED_MODEL to yours (until then OpenAI
# answers 404 for it, and that variant's cases are errors naming the model).
# ---------------------------------------------------------------------------------------------

SMALL = os.environ.get("REVIEWS_SMALL_MODEL", "gpt-4o-mini")
LARGE = os.environ.get("REVIEWS_LARGE_MODEL", "gpt-4o")
FINE_TUNED = os.environ.get("REVIEWS_FINE_TUNED_MODEL",
                            "ft:gpt-4o-mini-2024-07-18:judgekit::reviews")

INSTRUCTIONS = """\
You extract structured data from one product review.
Reply with one JSON object and nothing else, with exactly these keys:
- "product": the product's name as the review gives it (brand and model when stated).
- "star_rating": the rating out of 5 the reviewer states (an integer 1-5), or null if none.
- "specific_likes": short phrases (2-6 words each) for each specific thing the reviewer liked.
- "specific_dislikes": short phrases for each specific thing the reviewer disliked.
Read sarcasm for what it means. Use [] when there is nothing to list."""


async def extract_with_llm(review: str, llm: LLM) -> Any:
    """Ask the variant's model for the JSON; a reply that is not JSON is returned as text,
    so the schema check fails it (a wrong answer, not a crash)."""
    reply = await llm.chat([{"role": "system", "content": INSTRUCTIONS},
                            {"role": "user", "content": review}],
                           temperature=0, response_format={"type": "json_object"})
    try:
        return reply.json()
    except ValueError:
        return reply.text


# ---------------------------------------------------------------------------------------------
# The suite.
# ---------------------------------------------------------------------------------------------


@suite(
    data=REVIEWS,
    evaluators=[
        json_schema(SCHEMA),
        # One score per field (json_match.product, json_match.star_rating, ...) ...
        json_match(keys=FIELDS, comparators=COMPARATORS, per_key=True),
        # ... and "fields": their mean per review ...
        json_match(keys=FIELDS, comparators=COMPARATORS, key="fields"),
        # ... and a GPT-4-class grader reading the review, the reference and the answer.
        cot_qa(),
    ],
    # The grader's verdict is the headline; fields (0.64 for rules today) is the code-checked
    # floor. With no model configured cot_qa is skipped and so is its goal: the offline rules
    # run still has to hold every other bar.
    goals=Goals(
        accuracy=("cot_qa", 0.9),
        scores={"fields": 0.6, "json_schema": 1.0, "json_match.star_rating": 0.9},
        cost_per_1k=5.00,
        p99_latency_s=2.0,
    ),
)
@parametrize("model", ["rules", SMALL, LARGE, FINE_TUNED],
             ids=["rules", SMALL, LARGE, "fine-tuned"])
async def test_extract(inputs: dict[str, Any], model: str, llm: LLM) -> Any:
    """Extract product, star rating, likes and dislikes from one product review."""
    if model == "rules":
        return extract_with_rules(inputs["review"])
    return await extract_with_llm(inputs["review"], llm)
