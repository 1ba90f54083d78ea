"""How far can an LLM judge be trusted? Its agreement with people, measured on real data.

Two human-labelled judge corpora from ``../shared/corpora`` are written into a judgekit store
through the Store API, as a run would write them, and measured with :func:`judgekit.agreement`:

* LLMBar (princeton-nlp/LLMBar): 419 instruction-following pairs (Natural + four adversarial
  sets) with an expert's gold label (which output is better), judged by five LLMs with the
  CoT prompt, each pair in both orders. One experiment per judge; the two orders are
  repetitions 0 and 1 of a case; the gold label is ``metadata.human_label``; replies the
  LLMBar parser could not read are *unscored*.
* PandaLM test set (WeOpenML/PandaLM): 999 pairs, each labelled by three annotators
  (0 = tie, 1, 2: ``metadata.human_label`` holds all three), judged by GPT-3.5 and PandaLM-7B;
  GPT-3.5's "garbage" verdicts are unscored. Krippendorff's α among the three people, and with
  each judge as a fourth rater.

Run ``python examples/judge_agreement.py`` to print both tables in Markdown (the README shows
them). ``--store PATH`` keeps the store, so ``judgekit agreement RUN --judge llmbar_cot --store
PATH`` (or ``judgekit annotate``) can be tried on it.
"""

from __future__ import annotations

import argparse
import gzip
import json
import sys
import tarfile
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import judgekit
from judgekit.dataset import content_hash
from judgekit.types import CaseResult, Example, Score

CORPORA = Path(__file__).resolve().parents[1].parent / "shared" / "corpora"
LLMBAR_SETS = ("LLMBar/Natural", "LLMBar/Adversarial/Neighbor", "LLMBar/Adversarial/GPTInst",
               "LLMBar/Adversarial/GPTOut", "LLMBar/Adversarial/Manual")


def _tar_json(path: Path, member: str) -> Any:
    with tarfile.open(path) as tar:
        f = tar.extractfile(member)
        assert f is not None, member
        return json.load(f)


def _write_run(store: judgekit.Store, suite: str, examples: list[Example],
               experiments: Iterable[tuple[str, list[CaseResult]]], repeat: int) -> str:
    """One run, one experiment per judge, written as ``judgekit eval`` writes them."""
    version = content_hash([e.id for e in examples])
    run_id = store.create_run(suite, "examples/judge_agreement.py", {}, judgekit.__version__)
    store.save_examples(version, examples)
    for position, (judge, cases) in enumerate(experiments):
        exp_id = store.create_experiment(run_id, position, {"judge": judge}, judge, suite,
                                         version, len(examples), repeat, [], None)
        store.write_cases([(exp_id, c) for c in cases])
    store.finish_run(run_id, "finished")
    return run_id


def _case(example_id: str, repetition: int, key: str, verdict: str | None, reason: str,
          outputs: Any) -> CaseResult:
    score = Score(key=key, value=verdict, comment=reason,
                  status="ok" if verdict is not None else "unscored")
    return CaseResult(example_id=example_id, variant={}, repetition=repetition, outputs=outputs,
                      error=None, latency_s=0.0, scores=(score,))


def llmbar_run(store: judgekit.Store, corpora: Path = CORPORA) -> str:
    """Write LLMBar's CoT judgments (5 judges x 419 pairs x both orders) as one run."""
    tar = corpora / "llmbar_datasets.tar.gz"
    examples = []
    for name in LLMBAR_SETS:
        for idx, row in enumerate(_tar_json(tar, f"Dataset/{name}/dataset.json")):
            examples.append(Example(
                id=f"{name.removeprefix('LLMBar/')}/{idx}",
                inputs={"instruction": row["input"], "output_1": row["output_1"],
                        "output_2": row["output_2"]},
                metadata={"human_label": row["label"], "set": name}))
    by_judge: dict[str, list[CaseResult]] = {}
    with gzip.open(corpora / "llmbar_cot_judge_outputs.jsonl.gz", "rt", encoding="utf-8") as f:
        for line in f:
            r = json.loads(line)
            judge = r["evaluator"].removesuffix("/CoT")
            order = "swapped" if r["swapped"] else "original"
            by_judge.setdefault(judge, []).append(_case(
                f"{r['set'].removeprefix('LLMBar/')}/{r['idx']}", int(r["swapped"]),
                "llmbar_cot", r["llmbar_winner_original_order"], r["completion"],
                {"order": order}))
    return _write_run(store, "llmbar_cot", examples, sorted(by_judge.items()), repeat=2)


def pandalm_run(store: judgekit.Store, corpora: Path = CORPORA) -> str:
    """Write the PandaLM test set (3 annotators) with GPT-3.5's and PandaLM-7B's verdicts."""
    tar = corpora / "pandalm_testset_v1.tar.gz"
    rows = _tar_json(tar, "testset-v1.json")
    gpt = _tar_json(tar, "gpt-3.5-turbo-testset-v1.json")
    panda = _tar_json(tar, "pandalm-7b-testset-v1.json")
    examples = [Example(id=r["idx"], inputs={"instruction": r["instruction"], "input": r["input"],
                                             "response1": r["response1"],
                                             "response2": r["response2"]},
                        metadata={"human_label": {f"annotator{i}": r[f"annotator{i}"]
                                                  for i in (1, 2, 3)}})
                for r in rows]
    # 0 is a tie in the annotators' labels and PandaLM's; GPT-3.5 writes "Tie".
    gpt_label = {"1": "1", "2": "2", "Tie": "0"}
    judges = [
        ("gpt-3.5-turbo", [_case(g["idx"], 0, "pairwise", gpt_label.get(g["gpt_result"]),
                                 g["gpt_reason"], None) for g in gpt]),
        ("pandalm-7b", [_case(p["idx"], 0, "pairwise", str(p["pandalm_result"]),
                              p["pandalm_reason"], None) for p in panda]),
    ]
    return _write_run(store, "pandalm_testset", examples, judges, repeat=1)


def _ci(x: float | None, ci: Any) -> str:
    if x is None:
        return "–"
    if ci.low is None:
        return f"{x:.3f}"
    return f"{x:.3f} [{ci.low:.3f}, {ci.high:.3f}]"


def markdown(report: judgekit.AgreementReport, alpha: bool = False) -> str:
    """A Markdown table: one row per judge."""
    head = ["judge", "pairs", "accuracy [95% CI]", "Cohen's κ [95% CI]", "unscored"]
    if alpha:
        head[4:4] = ["α (3 humans)", "α (humans + judge)"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for a in report.experiments:
        cells = [a.variant or "", str(a.n_pairs), _ci(a.accuracy, a.accuracy_ci),
                 _ci(a.kappa, a.kappa_ci), str(a.n_unscored)]
        if alpha:
            cells[4:4] = [f"{a.alpha_humans:.3f}" if a.alpha_humans is not None else "–",
                          f"{a.alpha_with_judge:.3f}" if a.alpha_with_judge is not None else "–"]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpora", type=Path, default=CORPORA)
    parser.add_argument("--store", type=Path, help="keep the store here (default: a temp dir)")
    parser.add_argument("--resamples", type=int, default=1000)
    args = parser.parse_args(argv)
    if not args.corpora.is_dir():
        print(f"error: no corpora at {args.corpora}; give --corpora DIR", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory() as tmp:
        path = args.store or Path(tmp) / "judgekit.db"
        with judgekit.Store(path) as store:
            llmbar = llmbar_run(store, args.corpora)
            pandalm = pandalm_run(store, args.corpora)
            both = judgekit.agreement(llmbar, judge="llmbar_cot", store=store,
                                      n_resamples=args.resamples)
            three = judgekit.agreement(pandalm, judge="pairwise", store=store,
                                       n_resamples=args.resamples)
        print(f"LLMBar (run {llmbar}): CoT judges vs the expert gold label, "
              "both orders of each pair, human labels from metadata.human_label\n")
        print(markdown(both))
        print(f"\nPandaLM test set (run {pandalm}): judges vs the majority of 3 annotators "
              "(0 = tie, 1, 2)\n")
        print(markdown(three, alpha=True))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
