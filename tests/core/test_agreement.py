"""judgekit.agreement on real human-labelled judge data (../shared/corpora) against scikit-learn
and krippendorff on the same pairs, and annotate/agreement end to end through stdin."""

from __future__ import annotations

import gzip
import json
import subprocess
import sys
from pathlib import Path

import krippendorff
import numpy as np
import pytest
from sklearn.metrics import accuracy_score, cohen_kappa_score

import judgekit
from judgekit.agreement import LabelledCase, NoLabelledPairs, compute_agreement
from judgekit.store import Store
from judgekit.types import CaseResult, Example, Score

ROOT = Path(__file__).resolve().parents[2]
CORPORA = ROOT.parent / "shared" / "corpora"
sys.path.insert(0, str(ROOT / "examples"))


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Store:
    if not CORPORA.is_dir():
        pytest.skip(f"reference corpora not found at {CORPORA}")
    from judge_agreement import llmbar_run, pandalm_run

    s = Store(tmp_path_factory.mktemp("agree") / "j.db")
    s.llmbar = llmbar_run(s, CORPORA)  # type: ignore[attr-defined]
    s.pandalm = pandalm_run(s, CORPORA)  # type: ignore[attr-defined]
    return s


def test_llmbar_accuracy_and_kappa_equal_sklearn_on_the_same_pairs(store: Store) -> None:
    with gzip.open(CORPORA / "llmbar_cot_judge_outputs.jsonl.gz", "rt") as f:
        rows = [json.loads(line) for line in f]
    report = judgekit.agreement(store.llmbar, judge="llmbar_cot", store=store,  # type: ignore[attr-defined]
                                n_resamples=20)
    assert report.human == "metadata.human_label"
    by_judge = {a.variant: a for a in report.experiments}
    assert set(by_judge) == {"GPT-4", "ChatGPT", "LLaMA2", "PaLM2", "Falcon"}
    for judge, a in by_judge.items():
        mine = [r for r in rows if r["evaluator"] == f"{judge}/CoT"]
        pairs = [(str(r["gold_label"]), r["llmbar_winner_original_order"]) for r in mine
                 if r["llmbar_winner_original_order"] is not None]
        gold, said = zip(*pairs, strict=True)
        assert a.n_pairs == len(pairs)
        assert a.n_unscored == len(mine) - len(pairs)  # apart, not disagreement
        assert a.accuracy == pytest.approx(accuracy_score(gold, said), abs=1e-12)
        assert a.kappa == pytest.approx(cohen_kappa_score(gold, said), abs=1e-12)
        assert a.accuracy_ci.low <= a.accuracy <= a.accuracy_ci.high  # type: ignore[operator]
        assert sum(map(sum, a.confusion)) == len(pairs)


def test_pandalm_alpha_equals_krippendorff_and_per_annotator_kappa_sklearn(store: Store) -> None:
    report = judgekit.agreement(store.pandalm, judge="pairwise", store=store,  # type: ignore[attr-defined]
                                n_resamples=20)
    a = next(x for x in report.experiments if x.variant == "pandalm-7b")
    import tarfile

    with tarfile.open(CORPORA / "pandalm_testset_v1.tar.gz") as tar:
        humans = json.load(tar.extractfile("testset-v1.json"))  # type: ignore[arg-type]
        panda = json.load(tar.extractfile("pandalm-7b-testset-v1.json"))  # type: ignore[arg-type]
    data = np.array([[float(r[f"annotator{i}"]) for r in humans] for i in (1, 2, 3)])
    assert a.alpha_humans == pytest.approx(
        krippendorff.alpha(reliability_data=data, level_of_measurement="nominal"), abs=1e-12)
    said = [str(p["pandalm_result"]) for p in panda]
    one = next(p for p in a.per_annotator if p.annotator == "annotator1")
    theirs = [str(r["annotator1"]) for r in humans]
    assert one.kappa == pytest.approx(cohen_kappa_score(theirs, said), abs=1e-12)
    assert one.accuracy == pytest.approx(accuracy_score(theirs, said), abs=1e-12)


def test_ordinal_uses_weighted_kappa_and_unscored_is_not_disagreement() -> None:
    cases = [LabelledCase(str(i), j, human={"h": h}) for i, (j, h) in
             enumerate([(1, 1), (2, 3), (3, 3), (5, 4), (4, 4), (2, 1)])]
    cases.append(LabelledCase("u", None, "unscored", {"h": 5}))
    a = compute_agreement(cases, ordinal=True, n_resamples=20)
    h = [1, 3, 3, 4, 4, 1]
    j = [1, 2, 3, 5, 4, 2]
    assert a.kappa == pytest.approx(cohen_kappa_score(h, j, weights="quadratic"))
    assert (a.n_pairs, a.n_unscored) == (6, 1)
    with pytest.raises(NoLabelledPairs):
        compute_agreement([LabelledCase("x", "A"), LabelledCase("y", None, "unscored",
                                                                  {"h": "A"})])


def _run(*args: str, store: Path, stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "judgekit.cli.main", *args, "--store",
                           str(store)], input=stdin, capture_output=True, text=True, timeout=60)


def test_annotate_through_stdin_then_agreement_and_bad_input(tmp_path: Path) -> None:
    path = tmp_path / "j.db"
    with Store(path) as s:
        run = s.create_run("t", None, {}, "0")
        exp = s.create_experiment(run, 0, {}, "v", "d", "v1", 3, 1, [], None)
        s.save_examples("v1", [Example(id=x, inputs={"q": x}) for x in "abc"])
        for x, verdict in zip("abc", ["CORRECT", "INCORRECT", "CORRECT"], strict=True):
            s.write_case(exp, CaseResult(example_id=x, variant={}, repetition=0,
                                         outputs=f"[b]out {x}[/b]", error=None, latency_s=0,
                                         scores=(Score(key="cot_qa", value=verdict,
                                                       comment="because"),)))
    out = _run("annotate", run, "--annotator", "ann", store=path, stdin="1\ns\nq\n")
    assert out.returncode == 0, out.stderr
    assert "[b]out a[/b]" in out.stdout and "1 CORRECT" in out.stdout  # markup shown as text
    assert "labelled 1 (human:ann)" in out.stdout
    # b is labelled CORRECT against the judge's INCORRECT: 2 of 3 agree
    again = _run("annotate", run, "--annotator", "ann", store=path, stdin="1\n1\n")
    assert "1 labelled before" in again.stdout  # resumed: a is not shown again
    ag = _run("agreement", run, "--judge", "cot_qa", "--resamples", "20", "--json", "-",
              store=path)
    assert ag.returncode == 0, ag.stderr
    doc = json.loads(ag.stdout)
    assert doc["experiments"][0]["n_pairs"] == 3
    assert doc["experiments"][0]["accuracy"] == pytest.approx(2 / 3)
    for bad in (("agreement", "nope", "--judge", "cot_qa"),
                ("agreement", run, "--judge", "missing"),
                ("agreement", run, "--judge", "cot_qa", "--human", "metadata.x")):
        r = _run(*bad, store=path)
        assert r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1, r.stderr
