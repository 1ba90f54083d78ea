"""Model settings: defaults, use_settings, the judge model, [tool.judgekit] and its errors."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from judgekit.errors import ConfigError
from judgekit.models import calls
from judgekit.models.pricing import cost_usd
from judgekit.models.settings import (
    ModelSettings,
    current_settings,
    judge_model_name,
    load_project_config,
    settings_from_config,
    use_settings,
)


def test_defaults() -> None:
    s = current_settings()
    assert (s.cache, s.concurrency, s.judge_concurrency, s.max_attempts) == \
        ("read-write", 8, 8, 6)
    assert s.judge_model is None and s.cache_path is None and dict(s.prices) == {}


def test_use_settings_is_process_wide_and_restores() -> None:
    seen: list[ModelSettings] = []
    custom = ModelSettings(cache="off", concurrency=2)
    with use_settings(custom) as active:
        assert active is custom and current_settings() is custom
        # A worker thread (a sync target) sees the same settings: not a context variable.
        worker = threading.Thread(target=lambda: seen.append(current_settings()))
        worker.start()
        worker.join()
        with use_settings(ModelSettings(cache="replay")):
            assert current_settings().cache == "replay"
        assert current_settings() is custom
    assert seen == [custom]
    assert current_settings() == ModelSettings()


def test_use_settings_starts_fresh_limiters() -> None:
    with use_settings(ModelSettings(concurrency=3, judge_concurrency=2)):
        first = calls._limiter("mock", "target", current_settings())
        assert first.cap.max_concurrency == 3
        assert calls._limiter("mock", "target", current_settings()) is first
        judge = calls._limiter("mock", "judge", current_settings())
        assert judge is not first and judge.cap.max_concurrency == 2
        # One endpoint, one rate-limit budget: the roles share the adaptive limiter.
        assert judge.shared is first.shared and first.shared.max_concurrency == 5
    with use_settings(ModelSettings(concurrency=5)):
        again = calls._limiter("mock", "target", current_settings())
        assert again is not first and again.cap.max_concurrency == 5


def test_judge_model_name_order(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("JUDGEKIT_JUDGE_MODEL", raising=False)
    assert judge_model_name() == "gpt-4o"
    monkeypatch.setenv("JUDGEKIT_JUDGE_MODEL", "gpt-4o-mini")
    assert judge_model_name() == "gpt-4o-mini"
    with use_settings(ModelSettings(judge_model="openai:gpt-4.1")):
        assert judge_model_name() == "openai:gpt-4.1"
        assert judge_model_name("ft:gpt-4o-mini:acme::x") == "ft:gpt-4o-mini:acme::x"


def _project(tmp_path: Path, toml: str) -> Path:
    (tmp_path / "pyproject.toml").write_text(toml, encoding="utf-8")
    sub = tmp_path / "suites" / "deep"
    sub.mkdir(parents=True)
    return sub


def test_load_project_config_finds_the_nearest_pyproject(tmp_path: Path) -> None:
    sub = _project(tmp_path, """
[project]
name = "x"

[tool.judgekit]
judge-model = "gpt-4o-mini"
cache = "replay"
cache_path = "ci/cache.db"
judge_concurrency = 2
timeout_s = 30
store = "elsewhere.db"   # not a model setting: someone else's key, ignored here

[tool.judgekit.prices."ft:gpt-4o-mini-2024-07-18:acme::abc123"]
input = 0.5
output = 2
cached-input = 0.25
""")
    cfg = load_project_config(sub / "suite.py")
    assert cfg["judge-model"] == "gpt-4o-mini"
    assert cfg["cache_path"] == str(tmp_path / "ci" / "cache.db")  # relative to pyproject
    s = settings_from_config(cfg)
    assert s.judge_model == "gpt-4o-mini" and s.cache == "replay"
    assert s.cache_path == tmp_path / "ci" / "cache.db"
    assert (s.judge_concurrency, s.timeout_s, s.concurrency) == (2, 30.0, 8)
    ft = "ft:gpt-4o-mini-2024-07-18:acme::abc123"
    assert s.prices[ft] == {"input": 0.5, "output": 2.0, "cached_input": 0.25}
    with use_settings(s):
        assert cost_usd("openai", ft, 1_000_000, 0, cached_tokens=1_000_000) == 0.25


def test_no_pyproject_or_no_section_is_empty(tmp_path: Path) -> None:
    assert load_project_config(_project(tmp_path, "[project]\nname = 'x'\n")) == {}
    assert settings_from_config({}) == ModelSettings()


def test_overrides_win_and_none_is_ignored() -> None:
    s = settings_from_config({"cache": "off", "concurrency": 4}, cache="refresh",
                             concurrency=None, judge_model=None)
    assert (s.cache, s.concurrency) == ("refresh", 4)
    with pytest.raises(ConfigError, match="unknown model setting 'cache_mode'"):
        settings_from_config({}, cache_mode="off")


def test_bad_toml_names_the_file(tmp_path: Path) -> None:
    sub = _project(tmp_path, "[tool.judgekit\ncache = 1\n")
    with pytest.raises(ConfigError, match=r"pyproject\.toml: cannot read it as TOML"):
        load_project_config(sub)


@pytest.mark.parametrize(("cfg", "message"), [
    ({"cache": "sometimes"}, r"\[tool.judgekit\] cache: expected one of read-write, off, "
                             r"refresh, replay, got 'sometimes'"),
    ({"concurrency": 0}, r"\[tool.judgekit\] concurrency: expected a whole number"),
    ({"judge-concurrency": "4"}, r"\[tool.judgekit\] judge_concurrency: expected a whole"),
    ({"max_attempts": True}, r"max_attempts: expected a whole number"),
    ({"timeout_s": -1}, r"\[tool.judgekit\] timeout_s: expected a positive number"),
    ({"max_retry_s": float("inf")}, r"max_retry_s: expected a positive number"),
    ({"judge_model": ""}, r"judge_model: expected a model name"),
    ({"prices": {"m": {"input": 1}}}, r'\[tool.judgekit.prices."m"\] output: missing'),
    ({"prices": {"m": {"input": 1, "output": -2}}}, r'prices."m"\] output: expected a number'),
    ({"prices": {"m": {"input": 1, "output": "2"}}}, r'prices."m"\] output: expected a number'),
    ({"prices": {"m": {"input": 1, "output": 2, "cache_read": 1}}},
     r'prices."m"\] cache_read: unknown price; use input, output, cached_input'),
    ({"prices": {"m": 3}}, r'prices."m"\]: expected a table'),
    ({"prices": [1]}, r"\[tool.judgekit.prices\]: expected a table"),
])
def test_invalid_values_name_the_field(cfg: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        settings_from_config(cfg)


def test_settings_for_run_finds_the_cache_file_in_order(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from judgekit.models.settings import settings_for_run

    monkeypatch.delenv("JUDGEKIT_CACHE", raising=False)
    store = tmp_path / "runs" / "judgekit.db"
    project = tmp_path / "proj"
    project.mkdir()
    assert settings_for_run(project, store).cache_path == tmp_path / "runs" / "cache.db"
    (project / "pyproject.toml").write_text('[tool.judgekit]\ncache_path = "c/replay.db"\n'
                                            'judge_model = "gpt-4o-mini"\n')
    found = settings_for_run(project, store, judge_model=None)
    assert found.cache_path == project / "c" / "replay.db"
    assert found.judge_model == "gpt-4o-mini"  # a None override leaves the config's value
    monkeypatch.setenv("JUDGEKIT_CACHE", str(tmp_path / "env.db"))
    assert settings_for_run(project, store).cache_path == tmp_path / "env.db"
    flagged = settings_for_run(project, store, cache_file=tmp_path / "flag.db")
    assert flagged.cache_path == tmp_path / "flag.db"


def test_a_bad_override_is_named_as_an_option_not_as_the_pyproject_table() -> None:
    from judgekit.errors import ConfigError
    from judgekit.models.settings import settings_from_config

    with pytest.raises(ConfigError, match=r"^cache \(from an option or environment variable\)"):
        settings_from_config({}, cache="sometimes")


def test_a_model_string_is_resolved_once_per_settings_block(monkeypatch: pytest.MonkeyPatch,
                                                           tmp_path: Path) -> None:
    from judgekit.models.calls import model_for
    from judgekit.models.mock import MockModel
    from judgekit.models.openai import OpenAIModel

    monkeypatch.setenv("OPENAI_BASE_URL", "http://127.0.0.1:1/v1")
    monkeypatch.setenv("JUDGEKIT_JUDGE_MODEL", "gpt-4o-mini")
    # Outside a block every call resolves afresh: a changed environment is seen at once.
    first = model_for("gpt-4o")
    assert model_for("gpt-4o") is not first
    monkeypatch.setenv("OPENAI_BASE_URL", "http://127.0.0.1:2/v1")
    assert isinstance(first, OpenAIModel) and model_for("gpt-4o").endpoint.endswith(":2/v1")
    with use_settings(ModelSettings(cache_path=tmp_path / "c.db")):
        model = model_for("gpt-4o")
        assert model_for("gpt-4o") is model  # the run's calls share one model object
        default = model_for(None)
        assert default.model == "gpt-4o-mini" and model_for(None) is default
        mock = MockModel("x")
        assert model_for(mock) is mock
    with use_settings(ModelSettings(judge_model="gpt-4.1", cache_path=tmp_path / "c.db")):
        assert model_for("gpt-4o") is not model  # a new block (run) resolves again
        assert model_for(None).model == "gpt-4.1"
