"""Fixtures shared by every test: a local OpenAI-compatible server and the environment for it.

``tests/`` is on ``sys.path`` (pytest puts a rootdir conftest's directory there), so any test can
``from openai_server import OpenAIServer, Reply``.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from openai_server import OpenAIServer

#: Variables the openai SDK reads besides the key and base URL; a developer's values must not leak
#: into tests.
_OPENAI_EXTRA_ENV = ("OPENAI_ORG_ID", "OPENAI_PROJECT_ID")


@pytest.fixture
def openai_server() -> Iterator[OpenAIServer]:
    """A started :class:`OpenAIServer` on 127.0.0.1 (``.url`` is the ``/v1`` base URL)."""
    with OpenAIServer() as srv:
        yield srv


@pytest.fixture
def openai_env(openai_server: OpenAIServer, monkeypatch: pytest.MonkeyPatch) -> OpenAIServer:
    """Point the openai SDK (and judgekit) at ``openai_server``; returns the server.

    Sets ``OPENAI_BASE_URL`` and ``OPENAI_API_KEY=sk-test``, and removes
    ``JUDGEKIT_JUDGE_MODEL`` so the default judge model applies.
    """
    monkeypatch.setenv("OPENAI_BASE_URL", openai_server.url)
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    monkeypatch.delenv("JUDGEKIT_JUDGE_MODEL", raising=False)
    for name in _OPENAI_EXTRA_ENV:
        monkeypatch.delenv(name, raising=False)
    return openai_server


@pytest.fixture
def no_openai_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """No OpenAI key or base URL in the environment: models are not configured."""
    for name in ("OPENAI_API_KEY", "OPENAI_BASE_URL", *_OPENAI_EXTRA_ENV):
        monkeypatch.delenv(name, raising=False)
