"""Sarcasm in Portuguese sentences (Y/N): a classification suite with labels and metrics.

The data is OpenAI Evals' ``portuguese-sarcasm`` set (MIT; see ``data/README.md``), read as is:
each ``{"input": [chat messages], "ideal": "Y""N"}`` row becomes ``inputs = {"input": [...]}``
with the ideal label as the reference. ``label`` pulls the Y/N label out of the target's reply
and compares it with the reference; ``classification_report`` adds precision, recall, F1,
Cohen's κ and the confusion matrix over the whole run.

The ``rules`` variant is a transparent keyword/punctuation heuristic, a baseline to beat: on
this set it scores accuracy 0.82, κ 0.57, macro F1 0.78, so it meets both goals. The second
variant labels each sentence with a model asked three times (self-consistency, majority vote;
every vote and the agreement are kept in the outputs); with no model configured it is skipped
and the rules baseline still runs. Mind the class balance: 233 of the 290 rows are sarcastic,
so always answering "Y" already scores 80% accuracy (κ 0). Read κ and macro F1, not accuracy
alone.

Run it::

    judgekit eval suites/sarcasm.py
"""

from __future__ import annotations

import os
import re
from collections import Counter
from typing import Any

from judgekit import Goals, dataset, parametrize, suite
from judgekit.models import LLM
from judgekit_evaluators import classification_report, label
from judgekit_evaluators.labels import LabelSet, extract_label

SENTENCES = dataset("data/portuguese_sarcasm.jsonl")  # resolved against this file
LABELS = ["Y", "N"]
LABEL_SET = LabelSet(LABELS)

#: Cues that a Portuguese sentence is sarcastic. Each one alone is enough for "Y".
SARCASM_CUES: dict[str, re.Pattern[str]] = {
    # Mock enthusiasm about something bad: "adoro quando...", "que maravilha", "parabéns".
    "adoro quando": re.compile(r"\b(?:eu )?(?:adoro|amo|adorei) (?:quando|que|ser|ter|esperar)\b"),
    "que bom/ótimo": re.compile(
        r"\bque (?:bom|ótimo|otimo|maravilha|legal|lindo|beleza|interessante|surpresa|sorte)\b"),
    "parabéns": re.compile(r"\bparab[ée]ns\b"),
    "obrigado por": re.compile(r"\b(?:muito )?obrigad[oa] por\b"),
    "claro que": re.compile(r"\b(?:claro que|com certeza|imagina só|é claro)\b"),
    # Mock-approving openers: "Ótimo, agora...", "Ah, claro, ...", "Perfeito!".
    "ótimo,": re.compile(r"^(?:ah,?\s*)?(?:ótimo|claro|perfeito|excelente|maravilha)\s*[,!]"),
    # Internet irony markers: "sqn" (só que não), laughter, "né?", "não é mesmo?".
    "só que não": re.compile(r"\b(?:sqn|só que não)\b"),
    "risos": re.compile(r"\b(?:k{3,}|(?:ha){2,}|rs(?:rs)+)\b"),
    "né?": re.compile(r"\b(?:né|não é mesmo)\s*\?"),
    # Typography: scare quotes, "!!!", "?!".
    "aspas": re.compile(r"[\"“«'][^\"”»']{1,30}[\"”»']"),
    "!!!": re.compile(r"!{2,}|\?!|!\?"),
    # Exaggeration: "a coisa mais inútil do mundo", "literalmente a segunda-feira da minha vida".
    "exagero": re.compile(r"\b(?:mais \w+ do (?:mundo|universo)|literalmente)\b"),
    # Put-downs addressed to someone ("tem gente que...", "nem todo mundo nasce...").
    "tem gente": re.compile(r"\b(?:tem gente|tem pessoas?|nem todo mundo)\b"),
    # Speaking *to* someone: sincere statements in this genre are impersonal.
    "você": re.compile(r"\b(?:você|vocês|vc|te|ti|contigo)\b"),
}

#: Praise words and words for a bad situation: both in one sentence is the classic sarcasm clash
#: ("Adoro perder tempo", "uma experiência super relaxante no trânsito caótico").
PRAISE = re.compile(r"\b(?:adoro|amo|ótim[oa]|excelente|maravilh\w*|favorit[oa]|preferid[oa]|"
                    r"relaxante|útil|incrível|delícia|perfeit[oa]|felicidade)\b")
TROUBLE = re.compile(r"\b(?:problemas?|perder|desorganizad[oa]|caótic[oa]|trânsito|mentiras?|"
                     r"triste|defeito|inveja|atras\w*|chat[oa]|péssim[oa]|pior|odeio|"
                     r"cansad[oa])\b")


def sentence_of(inputs: dict[str, Any]) -> str:
    """The sentence to classify: the last user message of an OpenAI-Evals chat input."""
    messages = inputs.get("input")
    if isinstance(messages, str):
        return messages
    user = [m.get("content", "") for m in messages or [] if m.get("role") == "user"]
    return str(user[-1]) if user else ""


def sarcasm_cues(sentence: str) -> list[str]:
    """The names of the :data:`SARCASM_CUES` found in ``sentence``."""
    text = sentence.lower()
    found = [name for name, pattern in SARCASM_CUES.items() if pattern.search(text)]
    if PRAISE.search(text) and TROUBLE.search(text):
        found.append("elogio + problema")
    return found


def detect_sarcasm_rules(sentence: str) -> str:
    """Return "Y" when any sarcasm cue is present, else "N".

    Example:
        >>> detect_sarcasm_rules("Adoro quando o ônibus atrasa. Que maravilha!")
        'Y'
        >>> detect_sarcasm_rules("A leitura nos permite conhecer outros mundos.")
        'N'
    """
    return "Y" if sarcasm_cues(sentence) else "N"


JUDGE_MODEL = os.environ.get("SARCASM_MODEL", "gpt-4o-mini")
SAMPLES = 3
QUESTION = ("Is the following Portuguese sentence sarcastic? Think it through in one or two "
            "sentences, then end with a line 'Answer: Y' (sarcastic) or 'Answer: N' (sincere).")


async def label_with_judge(sentence: str, llm: LLM, samples: int = SAMPLES) -> dict[str, Any]:
    """Self-consistency: ``samples`` sampled verdicts from the model, the majority wins.

    Each sample is its own call (its own cache entry: ``sample=i``), drawn at temperature 0.7
    so the votes can differ. Returns the winning label with every vote and the share of votes
    that agree with it; a vote with no Y/N in it does not count, and a tie is no label at all
    (``label`` then reports the case unscored rather than guessing).
    """
    messages = [{"role": "system", "content": QUESTION}, {"role": "user", "content": sentence}]
    replies = [await llm.chat(messages, sample=i, temperature=0.7, seed=i)
               for i in range(samples)]
    votes = [extract_label(r.text, LABEL_SET, strict=True).label for r in replies]
    counted = Counter(v for v in votes if v is not None).most_common()
    winner = counted[0][0] if counted and (len(counted) == 1 or counted[0][1] > counted[1][1]) \
        else None
    agreement = (counted[0][1] / len(votes)) if counted else 0.0
    return {"label": winner, "votes": votes, "agreement": agreement}


@suite(
    data=SENTENCES,
    evaluators=[label(labels=LABELS), classification_report(labels=LABELS)],
    # Accuracy alone is a weak bar here (always "Y" scores 0.80), so the goals also ask for
    # Cohen's κ ≥ 0.5 (moderate agreement), which no constant answer can reach (κ = 0).
    goals=Goals(accuracy=("label", 0.7), scores={"cohen_kappa": 0.5}),
)
@parametrize("model", ["rules", JUDGE_MODEL], ids=["rules", f"{JUDGE_MODEL}×{SAMPLES}"])
async def test_sarcasm(inputs: dict[str, Any], model: str, llm: LLM) -> Any:
    """Does this Portuguese sentence contain sarcasm? Answer Y or N."""
    if model == "rules":
        return detect_sarcasm_rules(sentence_of(inputs))
    return await label_with_judge(sentence_of(inputs), llm)
