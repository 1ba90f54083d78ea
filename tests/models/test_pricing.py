"""Cost per call = tokens × the genai-prices per-MTok prices; overrides; unknown is None."""

from __future__ import annotations

from decimal import Decimal

import pytest
from genai_prices import Usage, calc_price, data_snapshot

from judgekit.models.pricing import cost_usd
from judgekit.models.settings import ModelSettings, use_settings

FINE_TUNE = "ft:gpt-4o-mini-2024-07-18:acme::abc123"


def _mtok(model: str) -> tuple[Decimal, Decimal, Decimal | None]:
    """(input, output, cache read) USD per 1M tokens, as genai-prices lists them."""
    price = calc_price(Usage(input_tokens=1, output_tokens=1), model_ref=model,
                       provider_id="openai").model_price
    return price.input_mtok, price.output_mtok, price.cache_read_mtok


@pytest.mark.parametrize("model", ["gpt-4o-mini", "gpt-4o"])
def test_cost_is_tokens_times_the_listed_price(model: str) -> None:
    inp, out, _ = _mtok(model)
    expected = (1234 * inp + 567 * out) / 1_000_000
    assert cost_usd("openai", model, 1234, 567) == pytest.approx(float(expected), rel=1e-12)
    # The sanity anchor: the price is a real one, not zero.
    assert expected > 0


@pytest.mark.parametrize("model", ["gpt-4o-mini", "gpt-4o"])
def test_cached_prompt_tokens_are_priced_at_the_cache_read_rate(model: str) -> None:
    inp, out, cache_read = _mtok(model)
    assert cache_read is not None and cache_read < inp
    expected = ((1000 - 600) * inp + 600 * cache_read + 100 * out) / 1_000_000
    cost = cost_usd("openai", model, 1000, 100, cached_tokens=600)
    assert cost == pytest.approx(float(expected), rel=1e-12)
    full = cost_usd("openai", model, 1000, 100)
    assert cost is not None and full is not None and cost < full


def test_dated_snapshot_names_resolve_to_the_model() -> None:
    assert cost_usd("openai", "gpt-4o-mini-2024-07-18", 1000, 100) == \
        cost_usd("openai", "gpt-4o-mini", 1000, 100)


def test_fine_tuned_name_gets_the_fine_tune_price() -> None:
    ft_in, ft_out, _ = _mtok(FINE_TUNE)
    base_in, _, _ = _mtok("gpt-4o-mini")
    assert ft_in > base_in  # fine-tunes cost more than the base model: not a fallback
    expected = (1000 * ft_in + 100 * ft_out) / 1_000_000
    assert cost_usd("openai", FINE_TUNE, 1000, 100) == pytest.approx(float(expected))
    # Named by a LangChain ChatOpenAI (provider "langchain"), the ft: prefix still says OpenAI.
    assert cost_usd("langchain", FINE_TUNE, 1000, 100) == pytest.approx(float(expected))


def test_other_providers_are_matched_by_model_name() -> None:
    assert cost_usd("langchain", "gpt-4o-mini", 1000, 100) == \
        cost_usd("openai", "gpt-4o-mini", 1000, 100)
    assert cost_usd("anthropic", "claude-3-5-sonnet-latest", 1000, 100) is not None


@pytest.mark.parametrize(("provider", "model"), [
    ("openai", "my-local-llama"), ("mock", "mock"), ("langchain", "no-such-model-xyz"),
    ("openai", None), ("openai", ""),
])
def test_unknown_price_is_none_never_zero(provider: str, model: str | None) -> None:
    assert cost_usd(provider, model, 1000, 100) is None


def test_override_from_settings_wins() -> None:
    prices = {"my-local-llama": {"input": 1.0, "output": 2.0, "cached_input": 0.5},
              "gpt-4o": {"input": 10.0, "output": 20.0}}
    with use_settings(ModelSettings(prices=prices)):
        assert cost_usd("openai", "my-local-llama", 1000, 100, cached_tokens=200) == \
            pytest.approx((800 * 1.0 + 200 * 0.5 + 100 * 2.0) / 1e6)
        # Without cached_input, cached tokens cost the input price.
        assert cost_usd("openai", "gpt-4o", 1000, 100, cached_tokens=200) == \
            pytest.approx((1000 * 10.0 + 100 * 20.0) / 1e6)
    assert cost_usd("openai", "my-local-llama", 1000, 100) is None


def test_prices_come_from_the_bundled_snapshot() -> None:
    cost_usd("openai", "gpt-4o", 10, 10)
    # No UpdatePrices thread: the data is the offline snapshot shipped with genai-prices.
    assert data_snapshot.get_snapshot().from_auto_update is False
