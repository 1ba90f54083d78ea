"""judgekit.viewer.pareto: the frontier against the definition of dominance, and the layout."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from judgekit.viewer.pareto import pareto_frontier, plot


def dominated(i: int, points: list[tuple[float, float]]) -> bool:
    ci, ai = points[i]
    return any(c <= ci and a >= ai and (c < ci or a > ai) for c, a in points)


values = st.floats(min_value=0, max_value=100, allow_nan=False).map(lambda v: round(v, 1))


@given(st.lists(st.tuples(values, values), max_size=12))
def test_frontier_is_the_undominated_points_in_cost_order(points: list[tuple[float, float]]
                                                          ) -> None:
    frontier = pareto_frontier(points)
    undominated = {points[i] for i in range(len(points)) if not dominated(i, points)}
    # Exact duplicates stand for one point on the frontier.
    assert {points[i] for i in frontier} == undominated
    assert len(frontier) == len(undominated)
    assert [points[i][0] for i in frontier] == sorted(points[i][0] for i in frontier)


def test_layout_places_points_goal_lines_and_frontier() -> None:
    p = plot([("a", 0.0, 0.5), ("b", 10.0, 1.0), ("c", 20.0, 0.5)], "cot_qa",
             accuracy_goals=[0.75], cost_goals=[5.0])
    a, b, c = p.points
    assert (a.x, a.y) == (p.left, (p.top + p.bottom) / 2)
    assert b.y == p.top and c.x > b.x > a.x
    assert [pt.on_frontier for pt in p.points] == [True, True, False]
    assert p.frontier == f"{a.x},{a.y} {b.x},{b.y}"
    (goal_y, _), = p.goal_accuracy
    assert goal_y == p.bottom - 0.75 * (p.bottom - p.top)
    (goal_x, label), = p.goal_cost
    assert a.x < goal_x < b.x and label == "goal $5.00/1k"


def test_labels_of_coinciding_points_do_not_overlap() -> None:
    p = plot([("a", 1.0, 0.5), ("b", 1.0, 0.5), ("c", 9.0, 0.9)], "pass rate")
    a, b, c = p.points
    assert (a.x, a.y) == (b.x, b.y) and abs(a.label_y - b.label_y) >= 13
    assert (a.label_anchor, c.label_anchor) == ("start", "end")  # c's label stays in the box
