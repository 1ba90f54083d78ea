"""Fixtures shared by every test: a local OpenAI-compatible server and the environment for it.

``tests/`` is on ``sys.path`` (pytest puts a rootdir conftest's directory there), so any test can
``from openai_server import OpenAIServer, Reply``.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator

import pytest
from langsmith_server import LangSmithServer
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


@pytest.fixture
def langsmith_server() -> Iterator[LangSmithServer]:
    """A started :class:`LangSmithServer` on 127.0.0.1 (``.url`` is the endpoint)."""
    with LangSmithServer() as srv:
        yield srv


def _clear_langsmith_env_cache() -> None:
    """Forget the environment the langsmith SDK has read.

    ``langsmith.utils.get_env_var`` (endpoint, key, project, ...) and ``get_tracer_project``
    are ``lru_cache``d: without this a ``Client()`` in a later test would still talk to the
    first test's server (another port). Only done when the SDK is already imported, so tests
    that check judgekit does not import it stay meaningful.
    """
    utils = sys.modules.get("langsmith.utils")
    if utils is not None:
        utils.get_env_var.cache_clear()
        utils.get_tracer_project.cache_clear()


@pytest.fixture
def langsmith_env(langsmith_server: LangSmithServer,
                  monkeypatch: pytest.MonkeyPatch) -> Iterator[LangSmithServer]:
    """Point the langsmith SDK (and judgekit) at ``langsmith_server``; returns the server.

    Removes every ``LANGCHAIN_*`` and ``LANGSMITH_*`` variable (the SDK reads both families:
    a developer's project, workspace, sampling rate or hide-inputs setting must not leak into a
    test), then sets ``LANGSMITH_ENDPOINT`` and ``LANGSMITH_API_KEY`` to the server's and turns
    automatic tracing off (``LANGSMITH_TRACING=false``).
    """
    for name in list(os.environ):
        if name.startswith(("LANGCHAIN_", "LANGSMITH_")):
            monkeypatch.delenv(name)
    monkeypatch.setenv("LANGSMITH_ENDPOINT", langsmith_server.url)
    monkeypatch.setenv("LANGSMITH_API_KEY", langsmith_server.api_key)
    monkeypatch.setenv("LANGSMITH_TRACING", "false")
    _clear_langsmith_env_cache()
    yield langsmith_server
    _clear_langsmith_env_cache()  # monkeypatch restores the variables after this
