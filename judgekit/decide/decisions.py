"""Decisions over a comparison: the cheapest variant meeting the goals, break-even accuracy,
and cost projections.

Cost here is the *target's* cost per item at list price: what a variant costs to run in
production, where its judges do not run (the judges' cost is in the comparison table).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from judgekit.errors import ConfigError

if TYPE_CHECKING:
    from judgekit.decide.comparison import Comparison, Variant

__all__ = ["BreakEven", "BreakEvenRow", "Pick", "Projection", "ProjectionRow", "break_even",
           "pick", "projection"]


def _share(part: float | None, whole: float | None) -> float | None:
    if part is None or whole is None:
        return None
    return part / whole if whole else (0.0 if not part else None)


def percent(share: float) -> str:
    """0.0213 → ``2.1%``; 0.5 → ``50%``: two significant digits for small shares."""
    pct = share * 100
    return f"{pct:.1f}%" if pct < 10 else f"{pct:.0f}%"


@dataclass(frozen=True)
class Pick:
    """The cheapest variant meeting every goal, against the strongest (best headline score).

    Attributes:
        chosen: The pick; None when no variant meets every goal.
        strongest: The variant with the best headline accuracy.
        share_of_strongest: chosen's target cost / strongest's (None: a cost is unknown).
        meeting: Labels of every variant that meets all its goals, cheapest first.
    """

    chosen: Variant | None
    strongest: Variant | None
    share_of_strongest: float | None
    meeting: list[str]

    @property
    def sentence(self) -> str:
        """The decision in one line, e.g. "fine-tuned meets all goals at 2% of gpt-4o's cost"."""
        if self.chosen is None:
            return "no variant meets every goal"
        if self.strongest is None or self.chosen.label == self.strongest.label:
            return (f"{self.chosen.label} meets all goals"
                    + (" and is the strongest" if len(self.meeting) > 1 else
                       " (the only variant that does)"))
        if self.share_of_strongest is None:
            return (f"{self.chosen.label} meets all goals; its cost against "
                    f"{self.strongest.label}'s is unknown")
        return (f"{self.chosen.label} meets all goals at {percent(self.share_of_strongest)} of "
                f"{self.strongest.label}'s cost")

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON."""
        return {"chosen": self.chosen.label if self.chosen else None,
                "strongest": self.strongest.label if self.strongest else None,
                "share_of_strongest": self.share_of_strongest, "meeting": self.meeting,
                "sentence": self.sentence}


def _cost_key(v: Variant) -> tuple[bool, float]:
    return (v.target_per_1k is None, v.target_per_1k or 0.0)


def pick(comparison: Comparison) -> Pick:
    """The cheapest variant (target cost at list price) that meets every one of its goals.

    Raises:
        ConfigError: when no compared experiment has goals.
    """
    variants = comparison.variants
    if all(v.goals is None for v in variants):
        raise ConfigError("--pick needs goals: none of these runs' suites set Goals(...) "
                          "(e.g. Goals(accuracy=('cot_qa', 0.9), cost_per_1k=5))")
    meeting = sorted((v for v in variants if v.meets_goals), key=_cost_key)
    scored = [v for v in variants if v.accuracy is not None]
    strongest = max(scored, key=lambda v: v.accuracy or 0.0) if scored else None
    chosen = meeting[0] if meeting else None
    share = None
    if chosen is not None and strongest is not None:
        share = _share(chosen.target_per_1k, strongest.target_per_1k)
    return Pick(chosen, strongest, share, [v.label for v in meeting])


@dataclass(frozen=True)
class BreakEvenRow:
    """One variant against the break-even accuracy."""

    label: str
    accuracy: float | None
    clears: bool | None
    net_per_1k: float | None  # value of 1,000 items, less the errors' cost and the model's

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON."""
        return {"label": self.label, "accuracy": self.accuracy, "clears": self.clears,
                "net_value_per_1k": self.net_per_1k}


@dataclass(frozen=True)
class BreakEven:
    """Value ``V`` saved per correct item, ``E`` lost per error: worth it above E / (V + E)."""

    value_per_item: float
    cost_per_error: float
    accuracy_needed: float
    rows: list[BreakEvenRow]

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON."""
        return {"value_per_item": self.value_per_item, "cost_per_error": self.cost_per_error,
                "accuracy_needed": self.accuracy_needed,
                "variants": [r.to_dict() for r in self.rows]}


def break_even(comparison: Comparison, value_per_item: float, cost_per_error: float
               ) -> BreakEven:
    """The accuracy at which a variant's correct answers pay for its errors, and each
    variant's net value per 1,000 items (``V=50, E=300`` → 85.7%).

    Raises:
        ConfigError: for a negative value or cost, or both zero.
    """
    if value_per_item < 0 or cost_per_error < 0 or value_per_item + cost_per_error == 0:
        raise ConfigError("--value-per-item and --cost-per-error must be 0 or more, not both 0")
    needed = cost_per_error / (value_per_item + cost_per_error)
    rows = []
    for v in comparison.variants:
        a = v.accuracy
        if a is None:
            rows.append(BreakEvenRow(v.label, None, None, None))
            continue
        value = 1000 * (a * value_per_item - (1 - a) * cost_per_error)
        net = None if v.target_per_1k is None else value - v.target_per_1k
        rows.append(BreakEvenRow(v.label, a, a >= needed - 1e-12, net))
    return BreakEven(value_per_item, cost_per_error, needed, rows)


@dataclass(frozen=True)
class ProjectionRow:
    """One variant's cost for the projected number of items."""

    label: str
    run_cost: float | None
    training_cost: float
    total: float | None

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON."""
        return {"label": self.label, "run_cost": self.run_cost,
                "training_cost": self.training_cost, "total": self.total}


@dataclass(frozen=True)
class Projection:
    """Costs for ``items`` items at each variant's measured cost per item."""

    items: int
    rows: list[ProjectionRow]

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON."""
        return {"items": self.items, "variants": [r.to_dict() for r in self.rows]}


def projection(comparison: Comparison, items: int, training_cost: Mapping[str, float]
               ) -> Projection:
    """Each variant's target cost for ``items`` items, plus its one-off training cost.

    Raises:
        ConfigError: for a training cost naming no compared variant.
    """
    unknown = [k for k in training_cost if k not in comparison.labels]
    if unknown:
        raise ConfigError(f"--training-cost {unknown[0]}=...: no such variant; the variants "
                          f"are {', '.join(comparison.labels)}")
    rows = []
    for v in comparison.variants:
        run = None if v.target_per_1k is None else v.target_per_1k * items / 1000
        train = float(training_cost.get(v.label, 0.0))
        rows.append(ProjectionRow(v.label, run, train, None if run is None else run + train))
    return Projection(items, rows)
