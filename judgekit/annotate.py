"""Labelling a stored run by hand: the queue of cases and the moves through it.

``judgekit annotate RUN`` shows one case at a time (its input, output and the judge's verdict
and reasoning) and stores the label chosen as a ``human`` score (``human:NAME`` with
``--annotator NAME``) the moment it is given, so quitting, or a killed terminal, loses nothing.
Cases that annotator already labelled are left out of the queue, so running the command again
carries on where it stopped. The terminal side lives in :mod:`judgekit.cli.annotate_cmd`; this
module holds what it drives, so it can be tested without one.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from judgekit.agreement import normalise_label
from judgekit.errors import ConfigError
from judgekit.human_labels import HUMAN, human_key, record_label
from judgekit.store import Store
from judgekit.types import CaseResult, Example, Score

__all__ = ["AnnotationItem", "AnnotationSession", "Move", "parse_move"]

Move = tuple[Literal["label", "skip", "back", "quit", "help"], str | None]


@dataclass(frozen=True)
class AnnotationItem:
    """One case to label, with what the annotator needs to see."""

    experiment_id: str
    variant: str
    case_id: int
    case: CaseResult
    example: Example | None
    judge: Score | None


def parse_move(text: str, labels: Sequence[str]) -> Move | None:
    """What a line typed at the prompt asks for: ``1``..``N`` or a label's text (any case)
    picks that label; ``s``/``b``/``q`` (or ``skip``/``back``/``quit``) move; ``?`` helps.

    Returns ``None`` for anything else.

    Example:
        >>> parse_move("2", ["CORRECT", "INCORRECT"])
        ('label', 'INCORRECT')
        >>> parse_move("q", ["CORRECT", "INCORRECT"])
        ('quit', None)
    """
    text = text.strip()
    if text.isdigit() and 1 <= int(text) <= len(labels):
        return ("label", labels[int(text) - 1])
    for label in labels:  # a label's own text wins over the one-letter moves
        if text.casefold() == label.casefold():
            return ("label", label)
    moves: dict[str, Literal["skip", "back", "quit", "help"]] = {
        "s": "skip", "skip": "skip", "b": "back", "back": "back", "q": "quit", "quit": "quit",
        "?": "help", "h": "help", "help": "help"}
    move = moves.get(text.casefold())
    return (move, None) if move else None


class AnnotationSession:
    """The queue of a run's unlabelled cases and a position in it.

    Args:
        store: The result store (labels are written to it at once).
        ref: A run id (or prefix), or ``RUN-N`` for one experiment.
        annotator: Whose labels these are (``None``: the plain ``human`` key).
        judge: The judge score key to show, and whose verdicts are the label choices when
            ``labels`` is not given; ``None``: the run's only score key with text verdicts.
        labels: The label choices.
        redo: Queue cases already labelled by this annotator too.

    Raises:
        StoreError: no such run or experiment.
        ConfigError: no labels to offer, an unknown or ambiguous judge key, or a bad
            annotator name.
    """

    def __init__(self, store: Store, ref: str, *, annotator: str | None = None,
                 judge: str | None = None, labels: Sequence[str] = (),
                 redo: bool = False) -> None:
        self.store = store
        self.key = human_key(annotator)
        self.annotator = annotator
        experiments = store.resolve(ref)
        self.run_id = store.get_run(ref).id
        self.items: list[AnnotationItem] = []
        self.already = 0
        all_cases: list[tuple[str, str, int, CaseResult, Example | None]] = []
        for exp in experiments:
            examples = {e.id: e for e in store.examples(exp.dataset_version)}
            refs = {(r[1], r[2]): (r[0], r[5]) for r in store.case_refs(exp.id, self.key)}
            for case in store.iter_cases(exp.id, with_calls=False):
                if case.error is not None:
                    continue  # the target raised: no output to label
                case_id, labelled = refs[(case.example_id, case.repetition)]
                if labelled and not redo:
                    self.already += 1
                    continue
                all_cases.append((exp.id, exp.variant_label, case_id, case,
                                  examples.get(case.example_id)))
        if judge is not None and judge not in (keys := store.score_keys(
                [e.id for e in experiments])):
            raise ConfigError(f"--judge {judge!r}: run {self.run_id} has no such score; its "
                              f"keys are {', '.join(sorted(keys)) or 'none'}")
        self.judge = judge if judge is not None else self._only_judge(all_cases)
        for exp_id, variant, case_id, case, example in all_cases:
            verdict = next((s for s in case.scores if s.key == self.judge), None)
            self.items.append(AnnotationItem(exp_id, variant, case_id, case, example, verdict))
        self.labels = list(labels) or self._judge_labels()
        if len(set(self.labels)) != len(self.labels) or any(not s.strip() for s in self.labels):
            raise ConfigError(f"--labels {','.join(self.labels)!r}: give distinct, "
                                 "non-empty labels separated by commas")
        self.position = 0
        self._labelled: set[int] = set()
        self.skipped = 0

    def _only_judge(self, cases: Sequence[tuple[str, str, int, CaseResult, Example | None]]
                    ) -> str | None:
        keys = sorted({s.key for c in cases for s in c[3].scores
                       if s.value is not None and s.key.split(":")[0] != HUMAN})
        if len(keys) > 1:
            raise ConfigError(f"run {self.run_id} has several verdicts ({', '.join(keys)});"
                                 " pick the judge to show with --judge KEY")
        return keys[0] if keys else None

    def _judge_labels(self) -> list[str]:
        found = {normalise_label(i.judge.value if i.judge.value is not None else i.judge.score)
                 for i in self.items if i.judge is not None and i.judge.status == "ok"}
        labels = sorted(x for x in found if x is not None)
        if not labels and self.items:
            judge = f"--judge {self.judge}" if self.judge else "the run"
            raise ConfigError(f"{judge} gives no verdicts to offer as labels; give the "
                                 "choices with --labels A,B,...")
        return labels

    @property
    def done(self) -> bool:
        """True when the position is past the last case."""
        return self.position >= len(self.items)

    @property
    def current(self) -> AnnotationItem:
        """The case at the position."""
        return self.items[self.position]

    def label(self, label: str, note: str | None = None) -> Score:
        """Store ``label`` for the current case (replacing an earlier one) and move on."""
        item = self.current
        score = record_label(self.store, item.experiment_id, item.case_id, label,
                             annotator=self.annotator, note=note)
        self._labelled.add(item.case_id)
        self.position += 1
        return score

    @property
    def labelled(self) -> int:
        """Cases labelled in this session (a case labelled again counts once)."""
        return len(self._labelled)

    def skip(self) -> None:
        """Leave the current case unlabelled (it stays in the queue of a later session)."""
        self.skipped += 1
        self.position += 1

    def back(self) -> bool:
        """Go back one case (to label it again); False when already at the first."""
        if self.position == 0:
            return False
        self.position -= 1
        return True

    def summary(self) -> str:
        """One line: labelled, skipped, left, and the next command."""
        left = len(self.items) - self.position
        parts = [f"labelled {self.labelled} ({self.key})", f"skipped {self.skipped}"]
        if self.already:
            parts.append(f"{self.already} labelled before")
        if left > 0:
            parts.append(f"{left} left: `judgekit annotate {self.run_id}` carries on")
        hint = f"`judgekit agreement {self.run_id} --judge {self.judge}`" if self.judge else ""
        return " · ".join(parts) + (f" — {hint}" if hint else "")
