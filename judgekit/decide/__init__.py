"""Deciding from stored runs: compare variants with paired tests, pick the cheapest that meets
the goals, break-even accuracy, cost projections, the MPI matrix and cascade simulation.

No model is called: everything is computed from the store. numpy and scipy are imported on
first use.
"""

from __future__ import annotations

from judgekit.decide.cascade import CascadeResult, CascadeSearch, Mpi
from judgekit.decide.comparison import (
    Change,
    Comparison,
    MetricComparison,
    MetricRow,
    Variant,
    compare,
)
from judgekit.decide.decisions import BreakEven, Pick, Projection
from judgekit.decide.stats import PairedTest

__all__ = [
    "BreakEven",
    "CascadeResult",
    "CascadeSearch",
    "Change",
    "Comparison",
    "MetricComparison",
    "MetricRow",
    "Mpi",
    "PairedTest",
    "Pick",
    "Projection",
    "Variant",
    "compare",
]
