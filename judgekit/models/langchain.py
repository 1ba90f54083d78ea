"""``LangChainModel``: any LangChain chat model as a judgekit :class:`ChatModel`.

The LangChain model's own retries stack on top of judgekit's: construct it with
``max_retries=0`` where the class has that option (``ChatOpenAI`` does), so that rate limits
are handled once, by the shared limiter.
"""

from __future__ import annotations

import email.utils
import time
from collections.abc import Mapping, Sequence
from typing import Any

from judgekit.errors import ModelCallError
from judgekit.models.base import ChatResponse, Message

__all__ = ["LangChainModel", "error_from_exception", "message_text", "usage_of"]

_RETRYABLE = frozenset({408, 409, 429, 500, 502, 503, 504, 529})
_BASE_URL_ATTRS = ("openai_api_base", "base_url", "anthropic_api_url", "endpoint", "api_base")
_MODEL_ATTRS = ("model_name", "model", "model_id", "deployment_name")


def _ls_params(chat_model: Any) -> dict[str, Any]:
    try:
        return dict(chat_model._get_ls_params())
    except Exception:  # not every model implements it; it only improves names
        return {}


def message_text(message: Any) -> str:
    """The text of a LangChain message (content blocks joined)."""
    content = getattr(message, "content", message)
    if isinstance(content, str):
        return content
    parts = []
    for block in content or ():
        if isinstance(block, str):
            parts.append(block)
        elif isinstance(block, Mapping) and block.get("type") == "text":
            parts.append(str(block.get("text", "")))
    return "".join(parts)


def usage_of(message: Any) -> tuple[int, int, int]:
    """(prompt, completion, cached prompt) tokens from an AIMessage's ``usage_metadata``."""
    usage = getattr(message, "usage_metadata", None) or {}
    details = usage.get("input_token_details") or {}
    return (int(usage.get("input_tokens") or 0), int(usage.get("output_tokens") or 0),
            int(details.get("cache_read") or 0))


def _retry_after(headers: Mapping[str, str]) -> float | None:
    ms = headers.get("retry-after-ms")
    if ms is not None:
        try:
            return float(ms) / 1000
        except ValueError:
            pass
    value = headers.get("retry-after")
    if value is None:
        return None
    try:
        return float(value)
    except ValueError:
        when = email.utils.parsedate_to_datetime(value) if value else None
        return max(0.0, when.timestamp() - time.time()) if when else None


def error_from_exception(exc: BaseException) -> ModelCallError:
    """A :class:`ModelCallError` for any provider SDK's exception, status read where present."""
    response = getattr(exc, "response", None)
    status = getattr(exc, "status_code", None) or getattr(response, "status_code", None)
    raw_headers = getattr(response, "headers", None) or {}
    headers = {str(k).lower(): str(v) for k, v in dict(raw_headers).items()}
    name = type(exc).__name__
    if isinstance(status, int):
        retryable = status in _RETRYABLE or status >= 500
    else:
        status = None
        retryable = "Timeout" in name or "Connection" in name
    error = ModelCallError(str(exc) or name, status=status, retryable=retryable,
                           retry_after=_retry_after(headers) if retryable else None)
    error.headers = headers  # type: ignore[attr-defined]  # read by the limiter for pacing
    return error


class LangChainModel:
    """Wrap a LangChain ``BaseChatModel`` instance.

    Args:
        chat_model: The LangChain chat model.
        model: The model name to report and price (default: read from the instance).
        endpoint: The rate-limit bucket and cache-key endpoint (default: its base URL, else
            ``langchain:<provider>``).
    """

    provider = "langchain"

    def __init__(self, chat_model: Any, *, model: str | None = None,
                 endpoint: str | None = None) -> None:
        self.chat_model = chat_model
        ls = _ls_params(chat_model)
        found = next((getattr(chat_model, a) for a in _MODEL_ATTRS
                      if isinstance(getattr(chat_model, a, None), str)), None)
        self.model = model or ls.get("ls_model_name") or found or type(chat_model).__name__
        self.pricing_provider = str(ls.get("ls_provider") or "langchain")
        base = next((str(getattr(chat_model, a)) for a in _BASE_URL_ATTRS
                     if getattr(chat_model, a, None)), None)
        self.endpoint = endpoint or base or f"langchain:{self.pricing_provider}"
        self.supports_structured_output = self.pricing_provider in ("openai", "azure")

    def __repr__(self) -> str:
        return f"LangChainModel({type(self.chat_model).__name__}, model={self.model!r})"

    def configured(self) -> str | None:
        """Always None: an instance exists, so LangChain was configured when it was built."""
        return None

    async def complete(self, messages: Sequence[Message], params: Mapping[str, Any], *,
                       timeout: float) -> ChatResponse:
        """One ``ainvoke`` with ``params`` bound (OpenAI names pass through)."""
        runnable = self.chat_model.bind(**params) if params else self.chat_model
        try:
            message = await runnable.ainvoke([dict(m) for m in messages])
        except Exception as exc:
            raise error_from_exception(exc) from exc
        meta = getattr(message, "response_metadata", None) or {}
        prompt, completion, cached = usage_of(message)
        headers = meta.get("headers") or {}
        return ChatResponse(
            text=message_text(message),
            finish_reason=meta.get("finish_reason") or meta.get("stop_reason"),
            prompt_tokens=prompt, completion_tokens=completion, cached_tokens=cached,
            model=meta.get("model_name") or meta.get("model") or self.model,
            headers={str(k).lower(): str(v) for k, v in dict(headers).items()})
