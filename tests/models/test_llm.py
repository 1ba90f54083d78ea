"""The llm fixture's LLM class: message shapes, defaults, model choice, errors."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from judgekit.errors import ConfigError
from judgekit.models.llm import LLM
from judgekit.models.mock import MockModel
from judgekit.models.settings import ModelSettings, use_settings
from judgekit.recording import CaseRecorder


@pytest.fixture(autouse=True)
def _settings(tmp_path: Path) -> Iterator[None]:
    with use_settings(ModelSettings(cache_path=tmp_path / "cache.db")):
        yield


def test_a_string_is_one_user_message_and_system_comes_first() -> None:
    model = MockModel("ok")
    llm = LLM(model)
    assert asyncio.run(llm.chat("Hello?")).text == "ok"
    llm.chat_sync("Hello?", system="Be brief.")
    assert model.calls[0].messages == [{"role": "user", "content": "Hello?"}]
    assert model.calls[1].messages == [{"role": "system", "content": "Be brief."},
                                       {"role": "user", "content": "Hello?"}]


def test_message_lists_pass_through() -> None:
    model = MockModel("ok")
    msgs = [{"role": "user", "content": "a"}, {"role": "assistant", "content": "b"},
            {"role": "user", "content": "c"}]
    LLM(model).chat_sync(msgs)
    assert model.calls[0].messages == msgs


def test_defaults_apply_and_call_params_win() -> None:
    model = MockModel("ok")
    llm = LLM(model, temperature=0, max_tokens=50)
    llm.chat_sync("q", temperature=0.7, seed=3)
    assert model.calls[0].params == {"temperature": 0.7, "max_tokens": 50, "seed": 3}


def test_the_model_can_be_chosen_per_call() -> None:
    default, other = MockModel("default"), MockModel("other")
    llm = LLM(default)
    assert llm.chat_sync("q", model=other).text == "other"
    assert llm.chat_sync("q").text == "default"


def test_no_model_is_a_config_error_saying_what_to_do() -> None:
    with pytest.raises(ConfigError, match=re.escape(
            'parametrize "model" in the suite\'s variants, or pass model= to llm.chat')):
        LLM().chat_sync("q")
    assert LLM().chat_sync("q", model=MockModel("fine")).text == "fine"


def test_a_model_name_is_resolved_once(openai_env: object) -> None:
    llm = LLM("gpt-4o-mini")
    first = llm.resolve()
    assert first is llm.resolve() and first.model == "gpt-4o-mini"
    assert llm.resolve("gpt-4o").model == "gpt-4o"


def test_calls_are_recorded_with_the_sample_index() -> None:
    rec = CaseRecorder()
    with rec.active():
        LLM(MockModel("ok")).chat_sync("q", sample=2)
    assert rec.calls[0].request["sample"] == 2


def test_over_http_through_the_openai_provider(openai_env: object) -> None:
    rec = CaseRecorder()
    with rec.active():
        reply = LLM("gpt-4o-mini", temperature=0).chat_sync("Say OK")
    assert reply.text == "OK"
    (call,) = rec.calls
    assert call.provider == "openai" and call.prompt_tokens > 0
    assert call.cost_usd is not None and call.cost_usd > 0
