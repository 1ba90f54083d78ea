"""The HTML report (``judgekit report RUN --html FILE``) and the local viewer
(``judgekit view``): comparison table, accuracy-vs-cost Pareto plot, cases with the judges'
reasoning and the model calls. Model text is data: every string is escaped."""

from __future__ import annotations

from judgekit.viewer.pareto import pareto_frontier
from judgekit.viewer.render import render_index, render_runs

__all__ = ["pareto_frontier", "render_index", "render_runs"]
