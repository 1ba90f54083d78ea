"""LangSmith sync tests: ``judgekit`` against the local LangSmith and OpenAI-compatible servers.

The e2e helpers (``e2e_support``) live in ``tests/e2e``; this puts that folder on ``sys.path``.
"""

from __future__ import annotations

import sys
from pathlib import Path

_E2E = str(Path(__file__).resolve().parents[1] / "e2e")
if _E2E not in sys.path:
    sys.path.insert(0, _E2E)
