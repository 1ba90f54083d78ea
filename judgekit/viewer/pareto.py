"""The accuracy-vs-cost Pareto frontier and its plot, drawn as SVG on the server.

Server-side SVG keeps the report small and self-contained (no plotting JavaScript to inline)
and makes every point and the frontier a plain element a test can find.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

__all__ = ["Plot", "PlotPoint", "pareto_frontier", "plot"]


def pareto_frontier(points: Sequence[tuple[float, float]]) -> list[int]:
    """Indices of the points no other point beats: none is as cheap and as accurate and
    strictly better in one of the two. Points are ``(cost, accuracy)``; lower cost and higher
    accuracy are better. The indices come in order of increasing cost.

    Example:
        >>> pareto_frontier([(1.0, 0.7), (5.0, 0.9), (6.0, 0.8), (0.5, 0.7)])
        [3, 1]
    """
    order = sorted(range(len(points)), key=lambda i: (points[i][0], -points[i][1]))
    frontier: list[int] = []
    best = float("-inf")
    for i in order:
        # Sorted by cost (ties: best accuracy first), a point is on the frontier exactly when
        # it is more accurate than every cheaper one.
        if points[i][1] > best:
            frontier.append(i)
            best = points[i][1]
    return frontier


@dataclass(frozen=True)
class PlotPoint:
    """One variant placed on the plot (SVG user units)."""

    label: str
    cost: float
    accuracy: float
    x: float
    y: float
    on_frontier: bool
    label_x: float = 0.0
    label_y: float = 0.0
    label_anchor: str = "start"


@dataclass(frozen=True)
class Plot:
    """Everything the template needs to draw the scatter."""

    width: int
    height: int
    left: int
    top: int
    right: int
    bottom: int
    points: list[PlotPoint]
    frontier: str  # SVG polyline points, "x,y x,y ..."
    x_ticks: list[tuple[float, str]]
    y_ticks: list[tuple[float, str]]
    goal_accuracy: list[tuple[float, str]]  # (y, label)
    goal_cost: list[tuple[float, str]]  # (x, label)
    metric: str


def _cost_label(usd: float) -> str:
    return f"${usd:.2f}" if usd >= 0.01 or usd == 0 else f"${usd:.4f}"


def plot(variants: Sequence[tuple[str, float, float]], metric: str, *,
         accuracy_goals: Sequence[float] = (), cost_goals: Sequence[float] = (),
         width: int = 640, height: int = 360) -> Plot:
    """Lay out ``(label, cost per 1k, accuracy)`` variants, the frontier and the goal lines.

    The x axis runs from 0 to a little past the dearest point (or cost goal); the y axis is
    accuracy 0..100 %.
    """
    left, right, top, bottom = 56, width - 40, 24, height - 40
    x_max = max([v[1] for v in variants] + list(cost_goals) + [0.0])
    x_max = x_max * 1.1 if x_max > 0 else 1.0

    def sx(cost: float) -> float:
        return round(left + (right - left) * cost / x_max, 2)

    def sy(acc: float) -> float:
        return round(bottom - (bottom - top) * min(max(acc, 0.0), 1.0), 2)

    on = set(pareto_frontier([(v[1], v[2]) for v in variants]))
    points: list[PlotPoint] = []
    taken: list[tuple[float, float]] = []
    for i, (label, cost, acc) in enumerate(variants):
        x, y = sx(cost), sy(acc)
        # Right of the point, or left of it in the right half; moved down a line while it
        # would sit on an earlier label (variants of equal cost and accuracy).
        anchor = "end" if x > (left + right) / 2 else "start"
        lx, ly = (x - 9, y - 8) if anchor == "end" else (x + 9, y - 8)
        while any(abs(ly - ty) < 13 and abs(lx - tx) < 120 for tx, ty in taken):
            ly += 14
        taken.append((lx, ly))
        points.append(PlotPoint(label, cost, acc, x, y, i in on, lx, ly, anchor))
    frontier = " ".join(f"{points[i].x},{points[i].y}"
                        for i in pareto_frontier([(p.cost, p.accuracy) for p in points]))
    x_ticks = [(sx(x_max * k / 4), _cost_label(x_max * k / 4)) for k in range(5)]
    y_ticks = [(sy(k / 4), f"{k * 25}%") for k in range(5)]
    return Plot(width, height, left, top, right, bottom, points, frontier, x_ticks, y_ticks,
                [(sy(g), f"goal {g * 100:.0f}%") for g in accuracy_goals],
                [(sx(g), f"goal {_cost_label(g)}/1k") for g in cost_goals], metric)
