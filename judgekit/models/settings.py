"""Model-layer settings: judge model, cache mode and file, concurrency, timeouts, retries, prices.

Settings are process-wide rather than a context variable: a run's worker threads and tasks
must all see the same cache and the same rate limiters, and :func:`use_settings` is entered
once per run by the runner (or by a test) before any call is made.

Project defaults come from ``[tool.judgekit]`` of the nearest ``pyproject.toml``::

    [tool.judgekit]
    judge_model = "gpt-4o-mini"        # or judge-model
    cache = "read-write"               # read-write | off | refresh | replay
    cache_path = ".judgekit/cache.db"  # relative to the pyproject.toml
    concurrency = 8
    judge_concurrency = 4
    timeout_s = 60
    max_attempts = 6
    max_retry_s = 120
    batch_poll_s = 30                  # eval --batch: seconds between polls of a batch job

    [tool.judgekit.prices."ft:gpt-4o-mini-2024-07-18:acme::abc123"]
    input = 0.30          # USD per 1M prompt tokens
    output = 1.20         # USD per 1M completion tokens
    cached_input = 0.15   # optional; defaults to input
"""

from __future__ import annotations

import contextlib
import math
import os
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any, Literal, get_args

from judgekit.errors import ConfigError

__all__ = [
    "CACHE_MODES",
    "DEFAULT_JUDGE_MODEL",
    "CacheMode",
    "ModelSettings",
    "current_settings",
    "in_settings_block",
    "judge_model_name",
    "load_project_config",
    "settings_for_run",
    "settings_from_config",
    "use_settings",
]

CacheMode = Literal["read-write", "off", "refresh", "replay"]
CACHE_MODES: tuple[str, ...] = get_args(CacheMode)
DEFAULT_JUDGE_MODEL = "gpt-4o"
PRICE_KEYS = ("input", "output", "cached_input")


@dataclass(frozen=True)
class ModelSettings:
    """How model calls are made.

    Attributes:
        judge_model: Judge model spec; ``None`` means ``$JUDGEKIT_JUDGE_MODEL``, else ``gpt-4o``.
        cache: Response-cache mode: ``read-write`` (default), ``off``, ``refresh`` (call the
            provider, overwrite the entry) or ``replay`` (a miss is an error).
        cache_path: The cache file; ``None`` means ``$JUDGEKIT_CACHE``, else ``cache.db`` next
            to the result store.
        concurrency: Most target calls in flight per endpoint (the adaptive limit's ceiling).
        judge_concurrency: Most judge calls in flight per endpoint.
        timeout_s: Seconds one attempt may take.
        max_attempts: Attempts per call, the first included.
        max_retry_s: Total seconds a call may spend on attempts and waits before giving up.
        prices: Per-model price overrides, USD per 1M tokens:
            ``{"my-model": {"input": 0.3, "output": 1.2, "cached_input": 0.15}}``.
        batch: Send OpenAI calls through the Batch API (``--batch``, see
            :mod:`judgekit.models.batch`), priced at batch rates.
        batch_poll_s: Seconds between two polls of a batch job.
    """

    judge_model: str | None = None
    cache: CacheMode = "read-write"
    cache_path: Path | None = None
    concurrency: int = 8
    judge_concurrency: int = 8
    timeout_s: float = 60.0
    max_attempts: int = 6
    max_retry_s: float = 120.0
    prices: Mapping[str, Mapping[str, float]] = field(default_factory=dict)
    batch: bool = False
    batch_poll_s: float = 30.0


_DEFAULTS = ModelSettings()
_current: ModelSettings | None = None


def current_settings() -> ModelSettings:
    """The settings in force: the innermost :func:`use_settings`, else the defaults."""
    return _current if _current is not None else _DEFAULTS


def in_settings_block() -> bool:
    """Whether a :func:`use_settings` block (a run) is in force."""
    return _current is not None


#: What :func:`use_settings` resets: the model layer registers its runtime here
#: (judgekit.models.calls), so that this module needs no import of it.
runtime_resets: list[Callable[[], None]] = []


def _reset_runtime() -> None:
    for reset in runtime_resets:
        reset()


@contextlib.contextmanager
def use_settings(settings: ModelSettings) -> Iterator[ModelSettings]:
    """Make ``settings`` current for the whole process until the block ends.

    Entering and leaving both start from fresh rate limiters and a fresh cache handle, so a
    new cache file or concurrency ceiling takes effect at once and nothing learnt about one
    run's endpoint throttling leaks into the next.
    """
    global _current
    previous = _current
    _reset_runtime()
    _current = settings
    try:
        yield settings
    finally:
        _reset_runtime()
        _current = previous


def judge_model_name(explicit: str | None = None) -> str:
    """The judge model: ``explicit``, else the settings', ``$JUDGEKIT_JUDGE_MODEL``, ``gpt-4o``."""
    return (explicit or current_settings().judge_model
            or os.environ.get("JUDGEKIT_JUDGE_MODEL") or DEFAULT_JUDGE_MODEL)


def _find_pyproject(start: Path) -> Path | None:
    here = start.resolve()
    if here.is_file():
        here = here.parent
    for folder in (here, *here.parents):
        candidate = folder / "pyproject.toml"
        if candidate.is_file():
            return candidate
    return None


def load_project_config(start: Path) -> dict[str, Any]:
    """Read ``[tool.judgekit]`` from the nearest ``pyproject.toml`` at or above ``start``.

    A relative ``cache_path`` is resolved against the directory of that ``pyproject.toml``.

    Returns:
        The section as a dict; empty when there is no ``pyproject.toml`` or no section.

    Raises:
        ConfigError: when the file is not valid TOML or the section is not a table.
    """
    path = _find_pyproject(start)
    if path is None:
        return {}
    try:
        import tomllib
    except ModuleNotFoundError:  # Python 3.10
        try:
            import tomli as tomllib
        except ModuleNotFoundError:
            raise ConfigError(f"{path}: reading [tool.judgekit] needs Python 3.11+ or "
                              "`pip install tomli`") from None
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read it as TOML ({exc})") from None
    section = data.get("tool", {}).get("judgekit", {})
    if not isinstance(section, dict):
        raise ConfigError(f"{path}: [tool.judgekit] must be a table")
    cfg = dict(section)
    for key in ("cache_path", "cache-path"):
        if isinstance(cfg.get(key), str):
            cfg[key] = str(path.parent / Path(cfg[key]).expanduser())
    return cfg


def _where(key: str) -> str:
    return f"[tool.judgekit] {key}"


def _positive_int(key: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ConfigError(f"{_where(key)}: expected a whole number of at least 1, got {value!r}")
    return value


def _positive_float(key: str, value: Any) -> float:
    ok = not isinstance(value, bool) and isinstance(value, (int, float))
    if not ok or not math.isfinite(value) or value <= 0:
        raise ConfigError(f"{_where(key)}: expected a positive number of seconds, got {value!r}")
    return float(value)


def _prices(value: Any) -> dict[str, dict[str, float]]:
    if not isinstance(value, Mapping):
        raise ConfigError(f"[tool.judgekit.prices]: expected a table of model = {{input = ..., "
                          f"output = ...}}, got {value!r}")
    out: dict[str, dict[str, float]] = {}
    for model, price in value.items():
        where = f'[tool.judgekit.prices."{model}"]'
        if not isinstance(price, Mapping):
            raise ConfigError(f"{where}: expected a table with input and output (USD per 1M "
                              f"tokens), got {price!r}")
        entry: dict[str, float] = {}
        for raw_key, amount in price.items():
            key = str(raw_key).replace("-", "_")
            if key not in PRICE_KEYS:
                raise ConfigError(f"{where} {raw_key}: unknown price; use "
                                  f"{', '.join(PRICE_KEYS)} (USD per 1M tokens)")
            number = not isinstance(amount, bool) and isinstance(amount, (int, float))
            if not number or not math.isfinite(amount) or amount < 0:
                raise ConfigError(f"{where} {raw_key}: expected a number of USD per 1M tokens "
                                  f">= 0, got {amount!r}")
            entry[key] = float(amount)
        for required in ("input", "output"):
            if required not in entry:
                raise ConfigError(f"{where} {required}: missing (USD per 1M tokens)")
        out[str(model)] = entry
    return out


def _validate(key: str, value: Any) -> Any:
    if key == "judge_model":
        if not isinstance(value, str) or not value.strip():
            raise ConfigError(f"{_where(key)}: expected a model name, got {value!r}")
        return value.strip()
    if key == "cache":
        if value not in CACHE_MODES:
            raise ConfigError(f"{_where(key)}: expected one of {', '.join(CACHE_MODES)}, "
                              f"got {value!r}")
        return value
    if key == "cache_path":
        if not isinstance(value, (str, os.PathLike)) or not str(value):
            raise ConfigError(f"{_where(key)}: expected a file path, got {value!r}")
        return Path(value).expanduser()
    if key in ("concurrency", "judge_concurrency", "max_attempts"):
        return _positive_int(key, value)
    if key in ("timeout_s", "max_retry_s", "batch_poll_s"):
        return _positive_float(key, value)
    if key == "batch":
        if not isinstance(value, bool):
            raise ConfigError(f"{_where(key)}: expected true or false, got {value!r}")
        return value
    return _prices(value)


_FIELDS = frozenset(f.name for f in fields(ModelSettings))


def settings_from_config(cfg: Mapping[str, Any], **overrides: Any) -> ModelSettings:
    """Build settings from a ``[tool.judgekit]`` table and explicit overrides.

    Keys may be written ``judge_model`` or ``judge-model``. Keys that are not model settings
    are ignored: the same table holds other judgekit options. Overrides whose value is
    ``None`` are ignored, so command-line options can be passed through as they are.

    Raises:
        ConfigError: naming the field, when a value has the wrong type or range.
    """
    values: dict[str, Any] = {}
    for raw_key, value in cfg.items():
        key = str(raw_key).replace("-", "_")
        if key in _FIELDS:
            values[key] = _validate(key, value)
    for key, value in overrides.items():
        if key not in _FIELDS:
            raise ConfigError(f"unknown model setting {key!r}; known: {', '.join(sorted(_FIELDS))}")
        if value is None:
            continue
        try:
            values[key] = _validate(key, value)
        except ConfigError as exc:
            # Not from the pyproject table: name the setting, not a file that never said it.
            text = str(exc).replace(_where(key), f"{key} (from an option or environment "
                                                 "variable)", 1)
            raise ConfigError(text) from None
    return replace(_DEFAULTS, **values)


def settings_for_run(project_dir: Path, store_path: str | Path, *,
                     cache_file: str | Path | None = None, **overrides: Any) -> ModelSettings:
    """The settings of one run (``judgekit eval`` or a pytest session).

    ``[tool.judgekit]`` of the project holding ``project_dir``, overridden by ``overrides``
    (None values ignored). The response cache is ``cache_file``, else ``$JUDGEKIT_CACHE``,
    else the project's ``cache_path``, else ``cache.db`` beside the store: one directory then
    holds everything a run keeps.

    Raises:
        ConfigError: naming the field, for a bad value in the config or the overrides.
    """
    from judgekit.models.cache import default_cache_path

    config = load_project_config(project_dir)
    explicit = cache_file or os.environ.get("JUDGEKIT_CACHE")
    if explicit:
        overrides["cache_path"] = Path(explicit)
    elif not ({"cache_path", "cache-path"} & set(config)):
        overrides["cache_path"] = default_cache_path(store_path)
    return settings_from_config(config, **overrides)
