"""Where LangSmith is and whether to talk to it at all: read from the environment only.

Nothing is sent unless asked: ``judgekit eval --langsmith``, ``JUDGEKIT_LANGSMITH=1`` or
``judgekit sync``. The endpoint and key come from the variables the ``langsmith`` SDK reads,
``LANGSMITH_*`` first, then the older ``LANGCHAIN_*`` names. The key lives in this object only
for the HTTP header the SDK sends; it is never written to the store, printed or put in any
payload (its ``repr`` hides it).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field

from judgekit.errors import ConfigError

__all__ = ["DEFAULT_ENDPOINT", "LangSmithConfig", "load_config", "requested_by_env"]

DEFAULT_ENDPOINT = "https://api.smith.langchain.com"
_TRUE = ("1", "true", "yes", "on")
_FALSE = ("", "0", "false", "no", "off")


def _env(environ: Mapping[str, str], name: str) -> str | None:
    """``LANGSMITH_<name>``, else ``LANGCHAIN_<name>`` (blank counts as unset), as the SDK does."""
    for prefix in ("LANGSMITH_", "LANGCHAIN_"):
        value = environ.get(prefix + name)
        if value is not None and value.strip():
            return value.strip().strip("'\"")
    return None


def requested_by_env(environ: Mapping[str, str] | None = None) -> bool:
    """True when ``JUDGEKIT_LANGSMITH`` asks every ``judgekit eval`` to send its run.

    Raises:
        ConfigError: when the variable holds something other than a yes/no value.
    """
    env = os.environ if environ is None else environ
    value = env.get("JUDGEKIT_LANGSMITH", "").strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ConfigError(f"JUDGEKIT_LANGSMITH={env['JUDGEKIT_LANGSMITH']!r} is not a yes/no value;"
                      " set it to 1 to send runs to LangSmith, or unset it")


@dataclass(frozen=True)
class LangSmithConfig:
    """Endpoint and credentials for one sync.

    Attributes:
        endpoint: The API URL (``LANGSMITH_ENDPOINT``), without a trailing slash.
        api_key: The API key; hidden from ``repr``.
        web_url: The web app's URL when set (``LANGSMITH_WEB_URL``); else the SDK infers it.
        workspace_id: ``LANGSMITH_WORKSPACE_ID`` for org-scoped keys.
    """

    endpoint: str
    api_key: str = field(repr=False)
    web_url: str | None = None
    workspace_id: str | None = None


def load_config(environ: Mapping[str, str] | None = None) -> LangSmithConfig:
    """Read the LangSmith endpoint and key from the environment.

    Raises:
        ConfigError: when no API key is set (nothing has been sent).

    Example:
        >>> load_config({"LANGSMITH_API_KEY": "k", "LANGSMITH_ENDPOINT": "http://h/"}).endpoint
        'http://h'
    """
    env = os.environ if environ is None else environ
    key = _env(env, "API_KEY")
    if not key:
        raise ConfigError("LangSmith needs an API key: set LANGSMITH_API_KEY (and "
                          "LANGSMITH_ENDPOINT for a self-hosted LangSmith); nothing was sent")
    endpoint = (_env(env, "ENDPOINT") or DEFAULT_ENDPOINT).rstrip("/")
    if not endpoint.startswith(("http://", "https://")):
        raise ConfigError(f"LANGSMITH_ENDPOINT={endpoint!r} is not an http(s) URL; "
                          "e.g. https://api.smith.langchain.com")
    return LangSmithConfig(endpoint=endpoint, api_key=key,
                           web_url=(_env(env, "WEB_URL") or None),
                           workspace_id=_env(env, "WORKSPACE_ID"))
