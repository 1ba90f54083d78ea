"""The shipped suites, on their real data, against the local server (``OPENAI_BASE_URL`` set).

``suites/reviews.py``: the server answers the extraction prompt with the reference JSON of the
review it is given for gpt-4o-mini and gpt-4o and with garbage for the fine-tune; as the judge
(gpt-4o by default) it grades CORRECT exactly when the answer block equals the reference block.
All four variants run and their goals are checked.

``suites/sarcasm.py``: the judge-labelled variant asks gpt-4o-mini three times per sentence;
the server votes by the request's seed, so some sentences get a wrong majority. The expected
labels come from the server's own rule, and the classification report is recomputed with
scikit-learn.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

import pytest
from e2e_support import JUDGE_SYSTEM, Ran, answer_of, judgekit, query
from openai_server import OpenAIServer, Reply

ROOT = Path(__file__).resolve().parents[2]
FINE_TUNE = "ft:gpt-4o-mini-2024-07-18:judgekit::reviews"


def _rows(name: str) -> list[dict[str, Any]]:
    text = (ROOT / "suites" / "data" / name).read_text("utf-8")
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def _copy_suites(dest: Path) -> Path:
    """The shipped suites and data, copied so the run's store and cache stay in tmp."""
    shutil.copytree(ROOT / "suites", dest / "suites",
                    ignore=shutil.ignore_patterns("__pycache__", ".judgekit"))
    return dest


# --- reviews ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def reviews_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Ran, OpenAIServer]:
    root = _copy_suites(tmp_path_factory.mktemp("reviews"))
    references = {r["inputs"]["review"]: r["reference"] for r in _rows("reviews.jsonl")}

    def extract(body: dict[str, Any]) -> Reply:
        review = body["messages"][-1]["content"]
        if body["model"].startswith("ft:"):
            return Reply("Sure! Here's what I think about this review: it's a review.")
        return Reply(json.dumps(references[review]))

    def grade(body: dict[str, Any]) -> str:
        same = answer_of(body, "ANSWER") == answer_of(body, "REFERENCE")
        return ("The answer matches the reference field by field.\nGRADE: CORRECT" if same
                else "The answer differs from the reference.\nGRADE: INCORRECT")

    with OpenAIServer() as srv:
        srv.reply("You extract structured data from one product review.", extract)
        srv.reply(JUDGE_SYSTEM, grade)
        ran = judgekit("eval", "suites/reviews.py", cwd=root, srv=srv, timeout=240)
    return root, ran, srv


def test_reviews_runs_all_four_variants_against_the_server(
    reviews_run: tuple[Path, Ran, OpenAIServer],
) -> None:
    root, ran, srv = reviews_run
    n = len(_rows("reviews.jsonl"))
    # The rules baseline and the fine-tune miss the grader's 90% goal: exit 1, no crash.
    assert ran.returncode == 1, ran.output
    assert "Traceback" not in ran.output
    models = [e["variant"]["model"] for e in ran.doc["experiments"]]
    assert models == ["rules", "gpt-4o-mini", "gpt-4o", FINE_TUNE]
    # The table (turned: too many scores for a row per variant) has a column per variant,
    # and a goal row per goal, checked (✓/✗) for every variant.
    table = ran.stdout.splitlines()
    assert ["rules", "gpt-4o-mini", "gpt-4o", "fine-tuned"] in [line.split() for line in table]
    goal_rows = [line for line in table if line.startswith("goal ")]
    assert len(goal_rows) == 6, ran.stdout
    assert all(line.count("✓") + line.count("✗") == 4 for line in goal_rows), ran.stdout
    assert "OPENAI_API_KEY" not in ran.stdout  # nothing was skipped
    for exp in ran.doc["experiments"]:
        summary = exp["summary"]
        assert summary["n_cases"] == n and summary["n_errors"] == 0
        assert "skipped" not in summary and summary["n_skipped"] == 0
        assert summary["scores"]["cot_qa"]["n_ok"] == n
    # One extraction request per review and LLM variant, one judge request per case.
    chats = srv.requests
    per_model = Counter(r.body["model"] for r in chats if JUDGE_SYSTEM not in json.dumps(
        r.body["messages"][0]))
    assert per_model == {"gpt-4o-mini": n, "gpt-4o": n, FINE_TUNE: n}
    judged = [r for r in chats if JUDGE_SYSTEM in r.body["messages"][0]["content"]]
    assert {r.body["model"] for r in judged} == {"gpt-4o"}
    # gpt-4o-mini and gpt-4o give the same answers, so the same judge prompts: whichever
    # comes second may be answered from the cache (as may the one review the rules baseline
    # gets exactly right). Every case still has its judge call in the store.
    distinct = {json.dumps(r.body, sort_keys=True) for r in judged}
    assert len(distinct) >= 3 * n - 1 and len(judged) <= 4 * n
    assert all(r.status == 200 for r in chats)
    for exp in ran.doc["experiments"]:
        rows = query(root / "store.db", "SELECT role, score_key, COUNT(*) FROM calls"
                     " WHERE experiment_id = ? GROUP BY role, score_key", exp["id"])
        target = [("target", None, n)] if exp["variant"]["model"] != "rules" else []
        assert sorted(rows, key=str) == sorted([("judge", "cot_qa", n), *target], key=str)


def test_reviews_llm_variants_are_scored_and_their_goals_checked(
    reviews_run: tuple[Path, Ran, OpenAIServer],
) -> None:
    _, ran, _ = reviews_run
    for model in ("gpt-4o-mini", "gpt-4o"):
        exp = ran.experiment(model)
        scores = exp["summary"]["scores"]
        # The server gave the reference itself: every check and the grader agree.
        for key in ("json_schema", "fields", "json_match.product", "json_match.star_rating",
                    "json_match.specific_likes", "json_match.specific_dislikes", "cot_qa"):
            assert scores[key]["mean"] == 1.0, (model, key, scores[key])
        cost = exp["summary"]["cost_usd"]
        assert cost["target"] > 0 and cost["judge"] > 0
        goals = {g["metric"]: g for g in exp["goals"]}
        assert len(goals) == 6 and all(g["met"] is not None for g in goals.values())
        assert goals["cot_qa"]["met"] is True and goals["cot_qa"]["actual"] == 1.0
        assert goals["fields"]["met"] is True and goals["json_schema"]["met"] is True
    fine = ran.experiment(FINE_TUNE)
    scores = fine["summary"]["scores"]
    assert scores["json_schema"]["mean"] == 0.0 and scores["cot_qa"]["mean"] == 0.0
    goals = {g["metric"]: g for g in fine["goals"]}
    assert goals["cot_qa"]["met"] is False and goals["json_schema"]["met"] is False
    assert fine["summary"]["cost_usd"]["target"] > 0  # a fine-tune name is priced
    rules = ran.experiment("rules")
    goals = {g["metric"]: g for g in rules["goals"]}
    # Graded by a model the rules baseline misses the 90% bar, and holds its code floors.
    assert goals["cot_qa"]["met"] is False and goals["cot_qa"]["actual"] < 0.9
    assert goals["fields"]["met"] is True and goals["json_schema"]["met"] is True
    assert rules["summary"]["cost_usd"]["target"] == 0.0
    assert rules["summary"]["cost_usd"]["judge"] > 0


# --- sarcasm ----------------------------------------------------------------------------------


def _votes(sentence: str, label: str) -> list[str]:
    """The server's three votes for a sentence (seeds 0, 1, 2): a fixed mix by its hash."""
    other = "N" if label == "Y" else "Y"
    bucket = hashlib.sha256(sentence.encode()).digest()[0] % 4
    return {0: [other, other, label],     # a wrong majority
            1: [label, other, label],     # right, 2 of 3
            }.get(bucket, [label] * 3)    # unanimous


@pytest.fixture(scope="module")
def sarcasm_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Ran, OpenAIServer]:
    root = _copy_suites(tmp_path_factory.mktemp("sarcasm"))
    labels = {r["input"][-1]["content"]: r["ideal"] for r in _rows("portuguese_sarcasm.jsonl")}

    def vote(body: dict[str, Any]) -> str:
        sentence = body["messages"][-1]["content"]
        answer = _votes(sentence, labels[sentence])[body["seed"]]
        return f"Pensando bem, o tom da frase decide.\nAnswer: {answer}"

    with OpenAIServer() as srv:
        srv.reply("Is the following Portuguese sentence sarcastic?", vote)
        ran = judgekit("eval", "suites/sarcasm.py", cwd=root, srv=srv, timeout=240)
    return root, ran, srv


def test_sarcasm_judge_variant_asks_three_times_per_sentence(
    sarcasm_run: tuple[Path, Ran, OpenAIServer],
) -> None:
    root, ran, srv = sarcasm_run
    assert ran.returncode in (0, 1), ran.output
    assert "Traceback" not in ran.output
    rows = _rows("portuguese_sarcasm.jsonl")
    sentences = Counter(r["input"][-1]["content"] for r in rows)
    seen: dict[str, list[tuple[int, int, float]]] = defaultdict(list)
    for req in srv.requests:
        assert req.body["model"] == "gpt-4o-mini" and req.status == 200
        seen[req.messages[-1]["content"]].append(
            (req.body.get("seed"), req.body.get("n", 1), req.body.get("temperature")))
    assert set(seen) == set(sentences)
    for sentence, calls in seen.items():
        # Three distinct samples per sentence (a repeated sentence may be served from cache).
        assert {seed for seed, _, _ in calls} == {0, 1, 2}, sentence
        assert len(calls) <= 3 * sentences[sentence]
        assert all(n == 1 and t == pytest.approx(0.7) for _, n, t in calls)
    # Distinct samples, distinct cache keys: one cache entry per sentence and sample.
    ((entries,),) = query(root / "cache.db",
                          "SELECT COUNT(*) FROM responses WHERE model = 'gpt-4o-mini'")
    assert entries == 3 * len(sentences)


def test_sarcasm_majority_vote_and_classification_report(
    sarcasm_run: tuple[Path, Ran, OpenAIServer],
) -> None:
    from sklearn.metrics import accuracy_score, cohen_kappa_score, f1_score

    from judgekit.dataset import dataset

    _, ran, _ = sarcasm_run
    exp = ran.experiment("gpt-4o-mini")
    assert exp["variant_label"] == "gpt-4o-mini×3"
    summary = exp["summary"]
    assert summary["n_errors"] == 0 and summary["n_skipped"] == 0
    examples = dataset(str(ROOT / "suites/data/portuguese_sarcasm.jsonl")).examples
    by_id = {c["example_id"]: c for c in exp["cases"]}
    assert len(by_id) == len(examples) == 290
    y_true, y_pred = [], []
    for ex in examples:
        sentence = ex.inputs["input"][-1]["content"]
        votes = _votes(sentence, ex.reference)
        majority = Counter(votes).most_common(1)[0]
        out = by_id[ex.id]["outputs"]
        assert out["votes"] == votes
        assert out["label"] == majority[0]
        assert out["agreement"] == pytest.approx(majority[1] / 3)
        y_true.append(ex.reference)
        y_pred.append(out["label"])
    assert y_pred != y_true  # the scripted wrong majorities did land
    scores = summary["scores"]
    assert scores["label"]["mean"] == pytest.approx(accuracy_score(y_true, y_pred))
    assert scores["accuracy"]["mean"] == pytest.approx(accuracy_score(y_true, y_pred))
    assert scores["f1_macro"]["mean"] == pytest.approx(
        f1_score(y_true, y_pred, average="macro", labels=["Y", "N"]))
    assert scores["cohen_kappa"]["mean"] == pytest.approx(cohen_kappa_score(y_true, y_pred))
    # The goals are checked for the judge variant too.
    assert all(g["met"] is not None for g in exp["goals"])
    # The rules baseline is untouched by the model: no calls, same report as offline.
    rules = ran.experiment("rules")
    assert rules["summary"]["cost_usd"]["target"] == 0.0
    assert rules["summary"]["tokens"]["prompt"] == 0
