"""get_model: model specs to providers, and the errors for bad ones."""

from __future__ import annotations

import pytest

from judgekit.errors import ConfigError
from judgekit.models.langchain import LangChainModel
from judgekit.models.mock import MockModel
from judgekit.models.openai import OpenAIModel
from judgekit.models.registry import get_model


@pytest.mark.parametrize(("spec", "name"), [
    ("gpt-4o", "gpt-4o"),
    ("openai:gpt-4o-mini", "gpt-4o-mini"),
    ("  gpt-4o-mini ", "gpt-4o-mini"),
    ("ft:gpt-4o-mini-2024-07-18:acme::abc123", "ft:gpt-4o-mini-2024-07-18:acme::abc123"),
    ("openai:ft:gpt-4o-mini-2024-07-18:acme::abc123", "ft:gpt-4o-mini-2024-07-18:acme::abc123"),
    ("OpenAI:gpt-4o", "gpt-4o"),
])
def test_openai_specs(spec: str, name: str, no_openai_env: None) -> None:
    model = get_model(spec, base_url="http://127.0.0.1:9/v1")
    assert isinstance(model, OpenAIModel) and model.model == name
    assert model.endpoint.startswith("http://127.0.0.1:9/v1")


def test_chat_models_are_returned_as_they_are() -> None:
    mock = MockModel("x")
    assert get_model(mock) is mock


def test_a_langchain_instance_is_wrapped() -> None:
    from langchain_openai import ChatOpenAI

    chat = ChatOpenAI(model="gpt-4o-mini", base_url="http://127.0.0.1:9/v1", api_key="sk-test")
    model = get_model(chat)
    assert isinstance(model, LangChainModel) and model.chat_model is chat
    assert (model.model, model.endpoint) == ("gpt-4o-mini", "http://127.0.0.1:9/v1")


def test_langchain_provider_strings(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    model = get_model("langchain:openai:gpt-4o-mini", base_url="http://127.0.0.1:9/v1")
    assert isinstance(model, LangChainModel) and model.model == "gpt-4o-mini"
    assert model.pricing_provider == "openai"


def test_another_provider_prefix_goes_through_langchain(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    # "azure_openai:..." etc. would work the same way; openai's package is the one installed.
    with pytest.raises(ConfigError, match=r"pip install langchain-anthropic"):
        get_model("anthropic:claude-3-5-sonnet-latest")


@pytest.mark.parametrize(("spec", "message"), [
    ("", "names no model"),
    ("   ", "names no model"),
    ("openai:", "names no model"),
    ("langchain:openai", r"use langchain:<provider>:<model>"),
    ("nosuchprovider:model-x", "nosuchprovider"),
    (42, "cannot use 42 as a model"),
    (None, "cannot use None as a model"),
])
def test_bad_specs_are_config_errors(spec: object, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        get_model(spec)
