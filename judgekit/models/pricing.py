"""What a call cost, in USD: user overrides first, then the ``genai-prices`` database.

An unknown price is ``None``, never 0: reports show it as unknown rather than as free. Prices
come from the data snapshot bundled with ``genai-prices``; judgekit never starts its
``UpdatePrices`` background fetch, so pricing works offline and a run's costs do not depend on
what a price server said that day.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import Any

from judgekit.models.settings import current_settings

__all__ = ["cost_usd"]

# judgekit provider names that are also genai-prices provider ids. Others (langchain, mock)
# say nothing about who serves the model, so genai-prices matches on the model name alone.
_PROVIDER_IDS = {"openai": "openai", "azure": "azure", "anthropic": "anthropic",
                 "google": "google", "groq": "groq", "mistral": "mistral"}


def _override(model: str) -> Mapping[str, float] | None:
    prices = current_settings().prices
    return prices.get(model) or prices.get(model.lower())


def _from_override(price: Mapping[str, float], prompt: int, completion: int,
                   cached: int) -> float:
    cached_rate = price.get("cached_input", price["input"])
    return ((prompt - cached) * price["input"] + cached * cached_rate
            + completion * price["output"]) / 1_000_000


@functools.lru_cache(maxsize=512)
def _known(provider_id: str | None, model: str) -> bool:
    """Whether genai-prices has a price for the model (remembered: the lookup is a scan)."""
    from genai_prices import Usage, calc_price

    try:
        calc_price(Usage(input_tokens=1, output_tokens=1), model_ref=model,
                   provider_id=provider_id)
    except LookupError:
        return False
    return True


def _provider_id(provider: str, model: str) -> str | None:
    pid = _PROVIDER_IDS.get(provider.lower())
    if pid is None and model.lower().startswith("ft:"):
        pid = "openai"  # "ft:<base>:<org>::<id>" is OpenAI's fine-tune naming, whoever calls it
    return pid


def cost_usd(provider: str, model: str | None, prompt_tokens: int, completion_tokens: int,
             cached_tokens: int = 0, *, batch: bool = False) -> float | None:
    """The USD cost of one call, or ``None`` when the model's price is unknown.

    Args:
        provider: judgekit's provider name (``openai``, ``langchain``, ``mock``, ...).
        model: The model name, e.g. ``gpt-4o-mini-2024-07-18`` or
            ``ft:gpt-4o-mini-2024-07-18:acme::abc123`` (priced as that fine-tune).
        prompt_tokens: Input tokens, cached ones included.
        completion_tokens: Output tokens.
        cached_tokens: The part of ``prompt_tokens`` served from the provider's prompt cache,
            priced at the cache-read rate.
        batch: Sent through the Batch API: genai-prices' batch price where it has one (for
            a model without, the standard price). An override applies as written.
    """
    if not model:
        return None
    cached = max(0, min(cached_tokens, prompt_tokens))
    price = _override(model)
    if price is not None:
        return _from_override(price, prompt_tokens, completion_tokens, cached)
    provider_id = _provider_id(provider, model)
    if not _known(provider_id, model):
        return None
    return _db_price(provider_id, model, prompt_tokens, completion_tokens, cached, batch)


@functools.lru_cache(maxsize=4096)
def _db_price(provider_id: str | None, model: str, prompt: int, completion: int,
              cached: int, batch: bool = False) -> float:
    # Remembered: a genai-prices lookup costs more than the rest of a cached call, and calls
    # of one suite repeat the same token counts. Not assumed linear:
    # some models are priced in tiers by prompt size.
    from genai_prices import Usage, calc_price

    usage: Any = Usage(input_tokens=prompt, output_tokens=completion,
                       cache_read_tokens=cached or None)
    context: Any = {"processing": "batch"} if batch else None
    return float(calc_price(usage, model_ref=model, provider_id=provider_id,
                            price_context=context).total_price)
